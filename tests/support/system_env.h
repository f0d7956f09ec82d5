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
