// SPDX-License-Identifier: Apache-2.0
//
// cgroup v1 names on the unified (v2) hierarchy, so that clients written for v1 run unchanged on a
// pure cgroup v2 host (docs/dbus-api.md, "cgroup v1 names on cgroup v2"):
//  - which v1 controller names address the unified hierarchy, and which v2 controller, if any,
//    each stands for (cpuacct is v2's cpu; freezer and devices are part of v2's core);
//  - which v1 keys GetValue, SetValue and Chmod serve from which v2 file, and how the values
//    convert; a v1 key with no faithful v2 equivalent is NotSupported, naming the key and why.
// Pure: no I/O. The caller reads the files a conversion needs through a callback.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "cgmanager/result.h"

namespace cgm::v1compat {

/// A v1 controller name that cgroup v2 does not have, and the v2 controller that does its job
/// ("" when cgroup v2's core does it, or nothing does: freezer, devices, net_cls, name=systemd).
struct ControllerAlias {
    std::string_view v1;
    std::string_view v2;
};
/// The alias for a controller token ("cpuacct", "name=systemd", "systemd"), or nullptr.
const ControllerAlias* controller_alias(std::string_view token);

/// Reads one file of the cgroup (checked for read access by the caller); the text as it is.
using ReadFile = std::function<Result<std::string>(std::string_view file)>;

/// How the unified hierarchy serves one v1 key.
struct KeyMap {
    std::string key;   ///< the v1 key asked for
    std::string file;  ///< the v2 file that holds the value: GetValue reads and SetValue writes it
    /// The file Chmod changes for the v1 name (`file`, but "cgroup.procs" for "tasks").
    std::string chmod_file;
    /// "tasks": the thread ids of the cgroup (and its hidden leaf) in `file` (cgroup.threads),
    /// which the driver reads; `get` is then unused.
    bool threads = false;
    /// GetValue: the v1 text from the v2 file(s), trailing newline stripped.
    Result<std::string> (*get)(const KeyMap&, const ReadFile&) = nullptr;
    /// SetValue: the text to write to `file` for a v1 value; nullptr when the v1 key is read-only.
    Result<std::string> (*set)(const KeyMap&, std::string_view value, const ReadFile&) = nullptr;
};

/// How the unified hierarchy serves `key`: nullopt when it is not a v1 key (it is served as the
/// file of that name), a NotSupported error naming the key and the reason when the key has no v2
/// equivalent.
Result<std::optional<KeyMap>> map_key(std::string_view key);

// The value conversions, for the tests and the docs.

/// What v1 shows for "no limit" in a memory limit: the largest page counter in bytes; for a
/// hugetlb limit (`huge_page` bytes > 0), that rounded down to whole huge pages.
std::string v1_unlimited(long page_size, uint64_t huge_page = 0);
/// memory.max-like text ("max", or bytes) as v1 shows a *_limit_in_bytes.
std::string limit_to_v1(std::string_view v2, long page_size, uint64_t huge_page = 0);
/// The bytes of a hugetlb size as the kernel names it in file names ("2MB", "1GB", "64KB"), or 0.
uint64_t huge_page_bytes(std::string_view size);
/// A v1 *_limit_in_bytes value ("-1", bytes, "256M") as the v2 file takes it.
Result<std::string> limit_to_v2(std::string_view v1);

/// cpu.shares [2, 262144] to cpu.weight [1, 10000] and back, with the conversion the OCI runtimes
/// use since crun 1.23 and runc 1.3.2: a quadratic in log2(shares) that maps 2, 1024 and 262144
/// exactly onto 1, 100 and 10000. Out-of-range input is clamped as the kernel clamps it.
uint64_t shares_to_weight(uint64_t shares);
uint64_t weight_to_shares(uint64_t weight);

/// blkio.weight [10, 1000] to io.weight [1, 10000] and back (the runtimes' linear map; SetValue
/// refuses values out of range, as the v1 kernel does).
uint64_t blkio_to_io_weight(uint64_t weight);
uint64_t io_to_blkio_weight(uint64_t weight);

/// cpuacct.stat ("user N\nsystem N", clock ticks) from cpu.stat (microseconds).
Result<std::string> cpuacct_stat(std::string_view cpu_stat, long ticks_per_second);

}  // namespace cgm::v1compat
