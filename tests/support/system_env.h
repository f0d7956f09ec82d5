// SPDX-License-Identifier: Apache-2.0
//
// What system-tier tests stand on, inside the sandbox: the real hierarchy table mounted privately
// exactly as the daemon does it, Operations over it, helper processes with other uids or in user
// namespaces, and direct cgroupfs inspection to check side effects.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "core/credentials.h"
#include "core/empty_watch.h"
#include "core/hierarchy.h"
#include "core/operations.h"
#include "core/proc_source.h"
#include "support/process.h"

namespace cgm::test {

/// Whether this process is in a cgroup namespace other than the initial one (checked before any
/// test touches cgroups; the sandbox guarantees it).
bool in_private_cgroup_namespace();

/// Whether this process lives in the sandbox root's hidden leaf ("0::/.cgm_leaf"): the sandbox
/// puts its processes there where cgroup2 offers it controllers (docs/testing.md).
bool in_sandbox_leaf();

/// Whether `path` is on a cgroup2 filesystem.
bool is_cgroup2(const std::string& path);

/// Whether the sandbox's /sys/fs/cgroup is cgroup2 itself: a pure cgroup v2 host, where every
/// controller name, the v1 names included, means that one hierarchy.
bool pure_v2();

/// A path below a cgroup mount ("cg/file") as this host has it: on a pure v2 host a v1 key as the
/// last component becomes the v2 file that holds it (v1compat::map_key: `tasks` is `cgroup.procs`,
/// `memory.limit_in_bytes` is `memory.max`), so that a test's direct cgroupfs checks look at the
/// file the daemon serves that key from; anything else is returned as it is.
std::string host_file(std::string_view rel);

/// Skip the test on a pure v2 host, saying why it can only run on v1.
#define CGM_SKIP_ON_PURE_V2(why)                                      \
    do {                                                              \
        if (::cgm::test::pure_v2())                                   \
            GTEST_SKIP() << "cgroup v1 only (pure v2 host): " << why; \
    } while (0)

/// The cgroup of a process in the hierarchy of `controller` (a v1 controller list as it appears
/// in /proc/<pid>/cgroup; "unified" or "" for cgroup2, as is any name on a pure v2 host), "?" if it has none; as the
/// daemon reports it: on cgroup2 a process in a hidden leaf is in the leaf's cgroup.
std::string proc_cgroup(pid_t pid, std::string_view controller);

/// A process's cgroup2 path exactly as /proc/<pid>/cgroup's 0:: line shows it (a hidden leaf
/// included), "?" if it has none.
std::string proc_cgroup2_raw(pid_t pid);

/// Set when the tests cannot run here (then every system test skips with this reason).
void set_skip_reason(std::string reason);
const std::string& skip_reason();

#define CGM_SKIP_UNLESS_SANDBOXED()                     \
    do {                                                \
        if (!::cgm::test::skip_reason().empty())        \
            GTEST_SKIP() << ::cgm::test::skip_reason(); \
    } while (0)

/// The daemon's view, set up once per process: private mount namespace, hierarchies mounted
/// under a private rundir by the daemon's own code.
class SystemEnv {
public:
    static SystemEnv& get();

    const HierarchyTable& table() const { return *table_; }
    const ProcSource& proc() const { return *proc_; }
    WatchList& watches() { return watches_; }
    /// Operations with the default configuration.
    const Operations& ops() const { return *ops_; }
    /// Operations with another configuration (same table and /proc).
    Operations ops_with(OperationsConfig cfg) { return Operations(table_, *proc_, watches_, cfg); }
    /// Operations reading /proc through `proc` (a wrapper that interferes, in tests).
    Operations ops_with_proc(const ProcSource& proc) { return Operations(table_, proc, watches_, {}); }

    /// The hierarchy a token names; fails the test if missing.
    const Hierarchy& hierarchy(std::string_view token) const;
    /// The directory of a cgroup ("/a/b" or "a/b", from the hierarchy root) in our mount.
    std::string path(const Hierarchy& h, std::string_view cgroup) const;

    /// Remove every cgroup below every hierarchy root (the sandbox), deepest first.
    void remove_all_cgroups() const;

private:
    SystemEnv();
    std::shared_ptr<const HierarchyTable> table_;
    std::unique_ptr<SystemProc> proc_;
    WatchList watches_;
    std::unique_ptr<Operations> ops_;
};

/// The test process itself as a plain caller (host root).
Caller self_caller();

/// Direct cgroupfs checks (not through the code under test).
bool exists(const std::string& path);
struct stat stat_of(const std::string& path);
std::string read_text(const std::string& path);
void write_text(const std::string& path, const std::string& text);
void make_dir(const std::string& path);
/// Remove every cgroup directory below `dir`, deepest first (waits briefly for dying tasks).
void remove_cgroups_below(const std::string& dir);
/// Names of the regular files in a directory.
std::vector<std::string> files_in(const std::string& dir);
/// A process's cgroup in a hierarchy, read from /proc/<pid>/cgroup ("/a/b").
std::string cgroup_of(pid_t pid, const Hierarchy& h);
/// Move a process directly (test setup), bypassing Operations.
void move_to(pid_t pid, const Hierarchy& h, std::string_view cgroup);

/// Assert that a Result failed with a given kind and a message containing `needle`.
#define EXPECT_ERROR(expr, error_kind, needle)                                                     \
    do {                                                                                           \
        auto cgm_r_ = (expr);                                                                      \
        ASSERT_FALSE(cgm_r_.ok()) << #expr << " succeeded";                                        \
        EXPECT_EQ(::cgm::error_kind_name(cgm_r_.error().kind), ::cgm::error_kind_name(error_kind)) \
            << cgm_r_.error().message;                                                             \
        EXPECT_NE(cgm_r_.error().message.find(needle), std::string::npos)                          \
            << "message '" << cgm_r_.error().message << "' does not mention '" << (needle) << "'"; \
    } while (0)

#define ASSERT_OK(expr)                                                      \
    do {                                                                     \
        auto cgm_r_ = (expr);                                                \
        ASSERT_TRUE(cgm_r_.ok()) << #expr << ": " << cgm_r_.error().message; \
    } while (0)

}  // namespace cgm::test
