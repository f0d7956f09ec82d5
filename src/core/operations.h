// SPDX-License-Identifier: Apache-2.0
//
// Operations: one transport-free function per API verb (docs/dbus-api.md sections 3
// and 4). Each takes the Caller (proxy + requestor credentials), the
// controller argument and the method's own arguments, and returns a Result.
//
// General rules:
//  - Every check happens before anything changes. Methods that act on several hierarchies
//    first plan every hierarchy (resolve, authorize), then act; Create rolls back what it made
//    when a later step fails.
//  - In a controller list, a hierarchy where the caller is merely not allowed (AccessDenied) is
//    skipped by Create, Chown, Chmod, Remove and RemoveOnEmpty, as in the original; when every
//    listed hierarchy is skipped, the call fails with the first refusal. MovePid refuses the whole
//    call instead, before it moves anything.
//  - Paths: see cgroup_path.h for what a valid path is, and each method below for what a
//    leading '/' means.
//  - Errors name the hierarchy ("memory: ...") when one is involved.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cgmanager/result.h"
#include "core/credentials.h"
#include "core/empty_watch.h"
#include "core/hierarchy.h"
#include "core/limits.h"
#include "core/proc_source.h"
#include "core/quota.h"
#include "core/service.h"

namespace cgm {

struct OperationsConfig {
    /// Deepest cgroup Create makes, counted in components below the hierarchy root (--max-depth).
    int max_depth = limits::kDefaultMaxDepth;
    /// Cgroups each uid but host root may have made with Create (--max-cgroups-per-uid); shared
    /// by the Operations of successive reloads. Null: no limit.
    std::shared_ptr<CreationQuota> quota;
    /// cgroup v2's delegation containment (--v2-containment): MovePid into a unified hierarchy also
    /// needs write access to cgroup.procs of the common ancestor of the process's cgroup and the
    /// target, as the kernel asks of a direct write (docs/security.md).
    bool v2_containment = false;
};

class Operations final : public CgroupService {
public:
    Operations(std::shared_ptr<const HierarchyTable> table, const ProcSource& proc, EmptyWatcher& watcher,
               OperationsConfig config = {})
        : table_ptr_(std::move(table)),
          table_(*table_ptr_),
          proc_(proc),
          watcher_(watcher),
          config_(std::move(config)) {}

    /// The victim's cgroup relative to the requestor's: "/" when equal, else "a/b" (no leading
    /// '/'). The victim must be at or below the requestor. Plain calls need the caller in the
    /// daemon's pid namespace.
    Result<std::string> get_pid_cgroup(const Caller& c, std::string_view controller, int32_t pid) const override;
    /// The victim's cgroup as "/a/b" (or "/") from the hierarchy root for plain calls, from the
    /// proxy's cgroup for Scm calls (the victim must be below it).
    Result<std::string> get_pid_cgroup_abs(const Caller& c, std::string_view controller, int32_t pid) const override;

    /// Create a cgroup (every missing component) below the requestor's cgroup; a leading '/' is
    /// ignored. New directories and all their files are owned by the requestor: they are made with
    /// its ids, and a name that then refers to anything not its own is refused (a rename raced the
    /// call). "" does nothing and answers Existed::No. Existed::Yes when the last component
    /// existed in any hierarchy.
    Result<Existed> create(const Caller& c, std::string_view controller, std::string_view cgroup) const override;
    /// Give a cgroup below the requestor's (directory plus the delegated files) to uid:gid.
    /// The requestor must be root in its user namespace; plain calls need the daemon's userns.
    Result<void> chown(const Caller& c, std::string_view controller, std::string_view cgroup, int64_t uid,
                       int64_t gid) const override;
    /// chmod a cgroup directory (file "") or one file of it.
    Result<void> chmod(const Caller& c, std::string_view controller, std::string_view cgroup, std::string_view file,
                       int32_t mode) const override;
    /// Move a process into a cgroup relative to the requestor's cgroup; a leading '/' is refused.
    Result<void> move_pid(const Caller& c, std::string_view controller, std::string_view cgroup,
                          int32_t pid) const override;
    /// Move a process into a cgroup relative to the hierarchy root (plain) or the proxy's cgroup (Scm).
    Result<void> move_pid_abs(const Caller& c, std::string_view controller, std::string_view cgroup,
                              int32_t pid) const override;
    /// Read a file of a cgroup, trailing newlines stripped. The cgroup is relative to the
    /// requestor's, or absolute with a leading '/', and must be at or below the proxy's cgroup.
    Result<std::string> get_value(const Caller& c, std::string_view controller, std::string_view cgroup,
                                  std::string_view key) const override;
    /// Write a file of a cgroup (a newline is appended when missing). Same paths as get_value.
    Result<void> set_value(const Caller& c, std::string_view controller, std::string_view cgroup, std::string_view key,
                           std::string_view value) const override;
    /// Remove a cgroup below the requestor's; `recursive` removes its descendants too. Each cgroup
    /// removed needs write access on the directory it is in (the kernel's rule for rmdir), and none
    /// may have tasks: otherwise the call is refused with nothing removed.
    Result<Existed> remove(const Caller& c, std::string_view controller, std::string_view cgroup,
                           bool recursive) const override;
    /// Pids in a cgroup (v1: thread ids), sorted. Same paths as get_value.
    Result<std::vector<int32_t>> get_tasks(const Caller& c, std::string_view controller,
                                           std::string_view cgroup) const override;
    /// Pids in a cgroup and all its descendants, over every listed hierarchy, sorted and unique.
    Result<std::vector<int32_t>> get_tasks_recursive(const Caller& c, std::string_view controller,
                                                     std::string_view cgroup) const override;
    /// Names of the child cgroups, in directory order. Same paths as get_value.
    Result<std::vector<std::string>> list_children(const Caller& c, std::string_view controller,
                                                   std::string_view cgroup) const override;
    /// Have a cgroup below the requestor's removed once it is empty (write access on it and on the
    /// directory it is in).
    Result<void> remove_on_empty(const Caller& c, std::string_view controller, std::string_view cgroup) const override;
    /// Mark a subtree for removal when empty and remove what is empty now, bottom-up, where the
    /// requestor may write the directory a cgroup is in (the target itself needs write access).
    Result<void> prune(const Caller& c, std::string_view controller, std::string_view cgroup) const override;
    /// One entry per hierarchy (see hierarchy.h).
    Result<std::vector<std::string>> list_controllers() const override;
    /// The regular files of a cgroup with owners and modes. Same paths as get_value.
    Result<std::vector<KeyInfo>> list_keys(const Caller& c, std::string_view controller,
                                           std::string_view cgroup) const override;

    const HierarchyTable& table() const { return table_; }
    const std::shared_ptr<const HierarchyTable>& shared_table() const { return table_ptr_; }
    const OperationsConfig& config() const { return config_; }

private:
    class Call;
    /// Have the kernel remove the cgroup once empty where it can (v1 with our release agent), else
    /// hand it to the watcher with its directory's inode.
    Result<void> mark_or_watch(const Hierarchy& h, int dir_fd, const CgroupPath& path) const;
    Result<void> move_pid_impl(const Caller& c, std::string_view controller, std::string_view cgroup, int32_t pid,
                               bool abs) const;

    std::shared_ptr<const HierarchyTable> table_ptr_;
    const HierarchyTable& table_;
    const ProcSource& proc_;
    EmptyWatcher& watcher_;
    OperationsConfig config_;
};

}  // namespace cgm
