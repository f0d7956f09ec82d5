// SPDX-License-Identifier: Apache-2.0
//
// The per-hierarchy-type driver. Everything that differs between cgroup v1 and the unified v2
// hierarchy lives behind this interface; Operations never asks which kind it has.
//
// All fds passed in are directory fds of cgroups, opened beneath the hierarchy root.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "cgmanager/result.h"
#include "core/cgroup_path.h"
#include "core/hierarchy.h"
#include "core/proc_parse.h"
#include "core/sys.h"
#include "core/v1_compat.h"

namespace cgm {

/// Where MovePid writes a pid, and the file whose write permission authorizes it.
struct PidTarget {
    std::string procs_file;  ///< in the directory open_pid_dir returns: "tasks", "cgroup.procs"
    std::string auth_file;   ///< the target cgroup's own file checked for write permission: what
                             ///< clients see and what Chown and Chmod change ("tasks", "cgroup.procs")
};

/// The controllers Create is to make available in the cgroup it makes (cgroup v2: a controller is
/// there only where every cgroup above enables it for its children).
struct ControllerWish {
    bool all = false;                ///< `all` or `unified`: every controller that can be enabled
    std::vector<std::string> names;  ///< named controllers: each must be made available
};

/// Why the kernel refused a write to a cgroup v2 core file, when it is one of cgroup v2's rules:
/// `e` with the rule said after it (`file` as written: "cgroup.subtree_control", "cgroup.procs",
/// "cgroup.threads", "cgroup.type"); other errors come back as they are.
Error with_v2_rule(Error e, std::string_view file);

class CgroupBackend {
public:
    virtual ~CgroupBackend() = default;

    /// The cgroup of a process in this hierarchy, from its /proc/<pid>/cgroup lines.
    Result<CgroupPath> process_cgroup(const Hierarchy& h, const std::vector<ProcCgroupLine>& lines) const;

    /// Prepare a directory Create just made (with the requestor's ids, and checked to be that
    /// directory): v2 copies the parent's enabled controllers, v1 cpuset copies cpus and mems.
    virtual Result<void> init_new_cgroup(const Hierarchy& h, int parent_fd, int new_fd) const = 0;

    /// Create, for an existing cgroup on the way to the new one (the caller's own cgroup and those
    /// below it): the controllers still to be enabled for its children to meet `wish` (v2: in
    /// its cgroup.subtree_control), or `NotSupported` naming a named controller it does not have
    /// (its parent does not enable it). v1: none.
    virtual Result<std::vector<std::string>> controllers_to_enable(int dir_fd, const ControllerWish& wish) const = 0;
    /// Enable (`on`) or disable a controller for the children of the cgroup open at dir_fd; a
    /// refusal names the kernel's rule.
    virtual Result<void> enable_controller(int dir_fd, std::string_view name, bool on) const = 0;

    /// The files Chown gives to the new owner besides the directory itself.
    virtual std::vector<std::string> delegated_files() const = 0;
    /// A file every cgroup has and Chown never gives away (v1 notify_on_release, v2 cgroup.type):
    /// owned by the requestor only in a cgroup made with the requestor's ids, not in one root made
    /// and gave it. Create checks it to tell its new directory from one a rename put there.
    virtual std::string_view undelegated_file() const = 0;
    /// Before Chown changes a cgroup and its delegated files: anything else that belongs to it
    /// (the v2 leaf, recognized by having the cgroup's owner, so it must come first). A leaf that
    /// is not ours is an error naming it, and nothing has changed.
    virtual Result<void> chown_extra(int dir_fd, uid_t uid, gid_t gid) const = 0;

    /// Where a pid goes when moved into the cgroup open at dir_fd (v2: refused when the cgroup has a
    /// leaf that is not ours, so that MovePid refuses before it moves anything).
    virtual Result<PidTarget> pid_target(int dir_fd) const = 0;
    /// The directory MovePid writes PidTarget::procs_file in: v1 the cgroup itself, v2 its hidden
    /// leaf, made (owned like the cgroup) when missing and always checked to be ours; the root
    /// cgroup itself on v2 (the kernel's rule for internal processes spares it: no leaf there).
    virtual Result<UniqueFd> open_pid_dir(int dir_fd) const = 0;

    /// Pids (v1: thread ids) in the cgroup itself, sorted and unique.
    virtual Result<std::vector<pid_t>> read_tasks(int dir_fd) const = 0;
    /// Thread ids in the cgroup itself (v2: and its hidden leaf), sorted and unique: what the v1
    /// `tasks` file shows.
    virtual Result<std::vector<pid_t>> read_threads(int dir_fd) const = 0;

    /// How GetValue, SetValue and Chmod serve `key` when it is not this hierarchy's own file
    /// (v2: a v1 key, v1compat::map_key); nullopt when it is served as the file of that name.
    virtual Result<std::optional<v1compat::KeyMap>> map_key(std::string_view key) const = 0;

    /// Whether a child directory is ours and hidden from clients (the v2 leaf).
    virtual bool is_hidden_child(std::string_view name) const = 0;

    /// Called before rmdir of the cgroup open at dir_fd (v2 removes the leaf, if it is ours).
    virtual Result<void> before_remove(int dir_fd) const = 0;

    /// A failed write of SetValue or MovePid to `file` of a cgroup, as the caller is told it (v2:
    /// with_v2_rule).
    virtual Error explain_write_error(Error e, std::string_view file) const = 0;

    /// After Chmod changed `file` ("" = the directory) of the cgroup: v2 gives the leaf's same
    /// file the same mode, so direct cgroupfs access agrees with the cgroup's (a leaf that is not
    /// ours is left alone).
    virtual Result<void> after_chmod(int dir_fd, std::string_view file, mode_t mode) const = 0;

    /// Mark the cgroup to be removed once empty where the kernel can do it for us (v1 with our
    /// release agent: notify_on_release = 1). Returns false when the daemon must watch it itself.
    virtual Result<bool> mark_remove_on_empty(const Hierarchy& h, int dir_fd) const = 0;
};

/// The drivers (stateless singletons).
const CgroupBackend& legacy_backend();
const CgroupBackend& unified_backend();

/// Configure the v2 driver's delegation file list from /sys/kernel/cgroup/delegate text
/// (docs/ARCHITECTURE.md); empty text restores the fallback list.
void set_unified_delegate_files(std::string_view delegate_text);

}  // namespace cgm
