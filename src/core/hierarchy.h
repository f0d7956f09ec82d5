// SPDX-License-Identifier: Apache-2.0
//
// The hierarchy table: which cgroup hierarchies the daemon manages, where its private mounts of
// them are, and how a client's controller argument resolves to them (docs/dbus-api.md,
// "Controller argument").
//
// General rules:
//  - One entry per hierarchy. A v1 hierarchy is named by its controllers in mount-option order
//    ("cpu,cpuacct", "name=systemd"); the unified (v2) hierarchy by the controllers available in
//    it ("io,memory,pids"), or "unified" when it has none.
//  - A controller token addresses the hierarchy that has it: "memory"; "name=systemd" or just
//    "systemd"; "unified" or any controller available in v2. A v1 hierarchy wins where both have
//    a controller. On a pure v2 host (no v1 hierarchy managed) a v1 name addresses the unified
//    hierarchy when cgroup v2 does that controller's job ("cpuacct" where v2 has cpu, "freezer",
//    "name=systemd": v1compat::controller_alias).
//  - Entries are ordered alphabetically by the smallest of their controller names ("name="
//    stripped; "net_prio,net_cls" sorts as net_cls), which is the order of "all" and of
//    ListControllers.
//  - Planning (what to mount) is pure; mounting is in mounts.h.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "cgmanager/result.h"
#include "core/proc_parse.h"
#include "core/sys.h"

namespace cgm {

class CgroupBackend;

enum class HierarchyKind { Legacy, Unified };

/// What to mount for one hierarchy (the output of planning).
struct HierarchySpec {
    HierarchyKind kind = HierarchyKind::Legacy;
    /// v1: controller tokens in mount-option order ("cpu", "cpuacct", "name=systemd").
    /// v2: left empty by planning; filled from the mounted root's cgroup.controllers.
    std::vector<std::string> controllers;
    bool premounted = false;  ///< the host already has it mounted
    /// cgroup2 named by -m unified: managed even when it offers no controllers (otherwise such a
    /// cgroup2, systemd's hybrid layout, is left alone as 0.42 left it).
    bool requested = false;
    std::string mount_data;  ///< v1 mount(2) data: "cpu,cpuacct", "none,name=systemd"
    std::string dir_name;    ///< directory under <rundir>/fs: "memory", "systemd", "unified"
};

struct HierarchyPlanInput {
    std::vector<MountInfo> mounts;          ///< /proc/self/mountinfo
    std::vector<SubsysInfo> subsystems;     ///< /proc/cgroups
    std::vector<std::string> extra_mounts;  ///< -m: "name=X" or a kernel controller
    std::vector<std::string> skip;          ///< -M: controller tokens ("memory", "name=systemd", "unified")
};

struct HierarchyPlan {
    std::vector<HierarchySpec> specs;
    std::vector<std::string> warnings;  ///< things the daemon should log (an unknown -M entry...)
};

/// Decide which hierarchies to manage: every cgroup v1 hierarchy and the cgroup2 hierarchy that
/// the host has mounted, plus -m extras, minus -M skips. Kernel controllers that are enabled but
/// bound to no hierarchy get a new v1 hierarchy only when cgroup2 is neither mounted on the host
/// nor requested with -m unified: otherwise such controllers belong to cgroup2 and are never taken
/// away from it unless -m names them.
Result<HierarchyPlan> plan_hierarchies(const HierarchyPlanInput& in);

/// One managed hierarchy.
struct Hierarchy {
    HierarchyKind kind = HierarchyKind::Legacy;
    std::vector<std::string> controllers;  ///< see HierarchySpec; v2: available controllers
    std::string display;                   ///< ListControllers entry
    std::string dir_name;                  ///< directory under <rundir>/fs
    std::string mount_point;               ///< <rundir>/fs/<dir_name>, empty when not mounted
    bool premounted = false;
    bool agent_installed = false;  ///< our release agent runs for this v1 hierarchy
    UniqueFd root;                 ///< O_PATH fd of the hierarchy root (our cgroupns root)
    const CgroupBackend* backend = nullptr;

    bool is_unified() const { return kind == HierarchyKind::Unified; }
    bool has_controller(std::string_view c) const;
    /// Whether a controller token (one element of a controller argument) addresses this hierarchy.
    bool matches(std::string_view token) const;
    /// The /proc/<pid>/cgroup line for this hierarchy, or nullptr.
    const ProcCgroupLine* find_line(const std::vector<ProcCgroupLine>& lines) const;
};

/// Display name of a hierarchy (see the rules above).
std::string display_name(HierarchyKind kind, const std::vector<std::string>& controllers);

/// An immutable set of immutable hierarchies. Tables are shared between threads; a rescan builds
/// a new table that may share Hierarchy objects with the old one, which is why no Hierarchy is
/// ever changed once it is in a table (they are held as const).
class HierarchyTable {
public:
    HierarchyTable() = default;
    /// Takes the mounted (or, in tests, unmounted) hierarchies and orders them; a hierarchy whose
    /// display name is still empty gets it computed. `kept`: hierarchies of a table in use.
    explicit HierarchyTable(std::vector<std::shared_ptr<Hierarchy>> fresh,
                            std::vector<std::shared_ptr<const Hierarchy>> kept = {});
    explicit HierarchyTable(std::vector<std::unique_ptr<Hierarchy>> hierarchies);

    const std::vector<std::shared_ptr<const Hierarchy>>& all() const { return list_; }
    bool empty() const { return list_.empty(); }

    /// The ListControllers answer: one display name per hierarchy.
    std::vector<std::string> controller_names() const;

    /// Resolve a controller argument for a method that accepts lists and "all": comma-separated
    /// tokens, members co-mounted with an earlier one dropped. Empty, unknown or repeated tokens
    /// and "all" combined with others are errors that name the token.
    Result<std::vector<const Hierarchy*>> resolve(std::string_view arg) const;
    /// Resolve for a single-hierarchy method: every token must address the same hierarchy (so
    /// "cpu,cpuacct" works where they are co-mounted); "all" is refused.
    Result<const Hierarchy*> resolve_one(std::string_view arg) const;

    /// The hierarchy a token addresses, or nullptr.
    const Hierarchy* find(std::string_view token) const;

private:
    std::vector<std::shared_ptr<const Hierarchy>> list_;
};

/// Strip "name=" from a named-hierarchy token.
std::string_view strip_name_prefix(std::string_view token);

}  // namespace cgm
