// SPDX-License-Identifier: Apache-2.0
//
// The input guard (bus/input_guard.h) over any byte stream, cut into reads of any sizes, with
// descriptors now and then: it never hands sd-bus more than came, never grows a read, never
// reaches past a message it has framed, counts messages only upwards, and explains every failure.
// Input: byte 0 seeds the read sizes, byte 1 the descriptors; the rest is what the peer sends.
#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "bus/input_guard.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 2)
        return 0;
    unsigned seed = data[0], fd_seed = data[1];
    std::string stream(reinterpret_cast<const char*>(data + 2), size - 2);
    cgm::bus::InputGuard g({4096, 1, 1000});
    size_t at = 0, handed = 0, fed = 0;
    uint64_t complete = 0;
    while (at < stream.size()) {
        const size_t cap = 128 + seed % 300;
        size_t room = g.room(cap);
        FUZZ_CHECK(room <= cap);
        if (room == 0) {
            FUZZ_CHECK(!g.failure().empty());
            return 0;
        }
        seed = seed * 1103515245u + 12345u;
        size_t n = std::min({room, stream.size() - at, size_t{1} + static_cast<size_t>((seed >> 8) % 64)});
        fd_seed = fd_seed * 69069u + 1u;
        unsigned fds = (fd_seed >> 24) % 17 == 0 ? 1 + (fd_seed % 3) : 0;
        int err;
        if (g.authenticating()) {
            std::vector<char> out(cap);
            size_t got = 0;
            err = g.on_auth_read(stream.data() + at, n, fds, out.data(), out.size(), &got);
            FUZZ_CHECK(got <= out.size());
            handed += got;
        } else {
            err = g.on_message_read(stream.data() + at, n, fds);
            if (err == 0)
                handed += n;
        }
        fed += n;
        FUZZ_CHECK(handed <= fed);  // rewrites only shrink; held bytes come later or never
        if (err != 0) {
            FUZZ_CHECK(err == EIO || err == EMSGSIZE || err == ETOOMANYREFS || err == EBADMSG);
            FUZZ_CHECK(!g.failure().empty());
            return 0;
        }
        FUZZ_CHECK(g.complete_messages() >= complete);
        complete = g.complete_messages();
        at += n;
    }
    return 0;
}
