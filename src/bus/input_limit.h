// SPDX-License-Identifier: Apache-2.0
#pragma once
//
// A bound on how much sd-bus may read of one incoming message.
//
// sd-bus reads a message whole before anyone sees it, and keeps reading as long as bytes arrive,
// up to its own bound of 128 MiB per message. To bound it lower, this file defines recvmsg() and
// readv() for the whole program (the executable's definitions come before libc's, so libsystemd's
// calls land here) and passes every call through to libc, except a read by sd-bus of the client
// socket that an InputLimit guards on this thread: that one is cut to what is left of the
// budget, and once the budget is spent it fails with EMSGSIZE, which sd_bus_process() returns.
#include <cstdint>

namespace cgm::bus {

class InputLimit {
public:
    /// While alive, reads of `fd` on this thread may add at most `limit - unfinished` bytes to
    /// `unfinished` (the caller resets it when a message is complete).
    InputLimit(int fd, uint64_t& unfinished, uint64_t limit);
    ~InputLimit();
    InputLimit(const InputLimit&) = delete;
    InputLimit& operator=(const InputLimit&) = delete;

    int fd() const { return fd_; }
    /// Bytes a read may take now (0: the budget is spent).
    uint64_t room() const { return *unfinished_ >= limit_ ? 0 : limit_ - *unfinished_; }
    void took(uint64_t n) { *unfinished_ += n; }

    /// The guard in effect on this thread, if any.
    static InputLimit* current();

private:
    int fd_;
    uint64_t* unfinished_;
    uint64_t limit_;
    InputLimit* outer_;
};

}  // namespace cgm::bus
