// SPDX-License-Identifier: Apache-2.0
//
// The /proc parsers: <pid>/cgroup, <pid>/status, /proc/cgroups, and the pid lists of tasks and
// cgroup.procs. The first byte picks the parser; the rest is the file.
#include "core/cgroupfs.h"
#include "core/proc_parse.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size < 1)
        return 0;
    const std::string_view text = as_text(data + 1, size - 1);
    switch (data[0] % 4) {
    case 0:
        if (auto lines = cgm::parse_proc_cgroup(text))
            for (const auto& l : *lines) {
                FUZZ_CHECK(!l.path.empty() && l.path.front() == '/');
                FUZZ_CHECK(l.hierarchy_id >= 0);
            }
        break;
    case 1:
        if (auto st = cgm::parse_proc_status(text))
            (void)st->real_uid();
        break;
    case 2: (void)cgm::parse_proc_cgroups(text); break;
    case 3:
        if (auto pids = cgm::cgfs::parse_pids(text))
            for (pid_t p : *pids)
                FUZZ_CHECK(p >= 0);
        break;
    }
    return 0;
}
