// SPDX-License-Identifier: Apache-2.0
//
// The daemon's private mount namespace and its mounts of the hierarchies. This file holds the
// only mount(2) and unshare(CLONE_NEWNS) calls of the daemon.
//
// Safety rule: nothing is ever mounted in the host's mount namespace. mount_hierarchies() takes a
// PrivateMountNamespace, which can only be obtained by entering a new mount namespace and
// checking that the namespace really changed.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cgmanager/result.h"
#include "core/hierarchy.h"
#include "core/proc_source.h"

namespace cgm {

class PrivateMountNamespace {
public:
    /// unshare(CLONE_NEWNS), make "/" recursively private, and verify that the calling thread's
    /// mount namespace now differs from before. Any failure is an error; nothing is mounted before
    /// this succeeds. Call it before starting threads: threads started earlier stay in the old
    /// namespace.
    static Result<PrivateMountNamespace> enter();

private:
    PrivateMountNamespace() = default;
};

/// Read a mountinfo file (by default our own) and /proc/cgroups into a planning input (the -m/-M
/// lists empty). A rescan reads /proc/1/mountinfo: the daemon's own mount namespace is private,
/// so mounts made on the host after start-up only show in the host's (init's) view.
Result<HierarchyPlanInput> read_plan_input(const std::string& mountinfo = "/proc/self/mountinfo");

/// Called for each hierarchy mount_hierarchies() or mount_new_hierarchies() mounts or opens, before
/// it goes into the table (where it can no longer change): the daemon installs its release agent.
using PrepareHierarchy = std::function<void(Hierarchy&)>;

/// Mount tmpfs on <rundir>/fs and every planned hierarchy on <rundir>/fs/<dir>, open their root
/// fds, and build the table. A hierarchy the host already has that fails to mount is an error;
/// a new one (from -m or an unbound controller) is dropped with a warning.
Result<HierarchyTable> mount_hierarchies(const PrivateMountNamespace& ns, const HierarchyPlan& plan,
                                         const std::string& rundir, std::vector<std::string>& warnings,
                                         const PrepareHierarchy& prepare = {});

/// For a rescan (SIGHUP): a table with every hierarchy of `current` plus those of `plan` that are
/// not mounted yet (mounted now, next to the others). The unified hierarchy's available
/// controllers are read again (into a new Hierarchy: the current one stays as it is).
Result<HierarchyTable> mount_new_hierarchies(const PrivateMountNamespace& ns, const HierarchyPlan& plan,
                                             const HierarchyTable& current, const std::string& rundir,
                                             std::vector<std::string>& warnings, const PrepareHierarchy& prepare = {});

}  // namespace cgm
