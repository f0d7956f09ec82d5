// SPDX-License-Identifier: Apache-2.0
#include "core/mounts.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "core/backend.h"
#include "core/limits.h"

namespace cgm {

namespace {

// The calling thread's mount namespace (unshare affects only the calling thread).
Result<NsId> mount_ns_id() {
    struct stat st {};
    if (::stat("/proc/thread-self/ns/mnt", &st) < 0)
        return errno_error(errno, "stat /proc/thread-self/ns/mnt");
    return NsId{st.st_dev, st.st_ino};
}

Result<void> mkdir_p(const std::string& path, mode_t mode) {
    std::string cur;
    for (auto& part : split(path, '/')) {
        if (part.empty())
            continue;
        cur += "/" + part;
        CGM_TRY(sys::mkdir(cur, mode, true));
    }
    return ok();
}

// Open the root of a mounted hierarchy and fill in what only the mount can tell.
Result<std::shared_ptr<Hierarchy>> open_hierarchy(const HierarchySpec& spec, const std::string& mount_point) {
    auto h = std::make_shared<Hierarchy>();
    h->kind = spec.kind;
    h->controllers = spec.controllers;
    h->dir_name = spec.dir_name;
    h->mount_point = mount_point;
    h->premounted = spec.premounted;
    h->root = CGM_TRY(sys::open(mount_point, O_PATH | O_DIRECTORY));
    if (spec.kind == HierarchyKind::Unified) {
        h->backend = &unified_backend();
        auto text = CGM_TRY(sys::read_file(mount_point + "/cgroup.controllers", limits::kMaxProcFileBytes));
        for (auto& c : split(text, ' ')) {
            while (!c.empty() && (c.back() == '\n' || c.back() == ' '))
                c.pop_back();
            if (!c.empty())
                h->controllers.push_back(c);
        }
    } else {
        h->backend = &legacy_backend();
    }
    h->display = display_name(h->kind, h->controllers);
    return h;
}

}  // namespace

Result<PrivateMountNamespace> PrivateMountNamespace::enter() {
    auto before = CGM_TRY(mount_ns_id());
    if (::unshare(CLONE_NEWNS) < 0)
        return errno_error(errno, "unshare(CLONE_NEWNS)");
    auto after = CGM_TRY(mount_ns_id());
    if (before == after)
        return make_error(ErrorKind::Failed,
                          "unshare(CLONE_NEWNS) returned success but the mount namespace did not change");
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0)
        return errno_error(errno, "make / recursively private");
    return PrivateMountNamespace();
}

Result<HierarchyPlanInput> read_plan_input(const std::string& mountinfo_path) {
    HierarchyPlanInput in;
    auto mountinfo = CGM_TRY(sys::read_file(mountinfo_path, limits::kMaxProcFileBytes));
    in.mounts = CGM_TRY(parse_mountinfo(mountinfo));
    auto cgroups = CGM_TRY(sys::read_file("/proc/cgroups", limits::kMaxProcFileBytes));
    in.subsystems = CGM_TRY(parse_proc_cgroups(cgroups));
    return in;
}

namespace {

// Mount one planned hierarchy at fs/<dir_name>; nullptr (with a warning) when a hierarchy the
// host does not have cannot be mounted.
// `with_v1`: v1 hierarchies are managed too (a hybrid host), where a cgroup2 without controllers
// is left alone unless -m unified asks for it.
Result<std::shared_ptr<Hierarchy>> mount_one(const HierarchySpec& spec, const std::string& fs, bool with_v1,
                                             std::vector<std::string>& warnings) {
    const std::string mp = fs + "/" + spec.dir_name;
    CGM_TRY(sys::mkdir(mp, 0755, false));
    int rc;
    if (spec.kind == HierarchyKind::Unified)
        rc = ::mount("cgroup2", mp.c_str(), "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr);
    else
        rc = ::mount("cgroup", mp.c_str(), "cgroup", MS_NOSUID | MS_NODEV | MS_NOEXEC, spec.mount_data.c_str());
    if (rc < 0) {
        int err = errno;
        std::string what = spec.kind == HierarchyKind::Unified ? "cgroup2" : "cgroup " + spec.mount_data;
        ::rmdir(mp.c_str());
        if (spec.premounted)
            return errno_error(err, "mount {} on {}", what, mp);
        warnings.push_back(fmt::format("cannot mount {} on {}: {}; not managing it", what, mp, std::strerror(err)));
        return std::shared_ptr<Hierarchy>();
    }
    auto h = CGM_TRY(open_hierarchy(spec, mp));
    if (h->is_unified() && h->controllers.empty() && with_v1 && !spec.requested) {
        // systemd's hybrid layout: a cgroup2 for process tracking only. 0.42 did not manage it,
        // and listing it would put a hierarchy without tasks files into "all". (Where cgroup2 is
        // all there is, it is managed with or without controllers.)
        h.reset();
        ::umount2(mp.c_str(), MNT_DETACH);
        ::rmdir(mp.c_str());
        warnings.push_back(
            "cgroup2 offers no controllers here and v1 hierarchies are managed; not managing it (-m unified would)");
        return std::shared_ptr<Hierarchy>();
    }
    // Co-mounted controllers get a link each, so fs/<controller> exists for every controller.
    for (size_t i = 1; i < spec.controllers.size(); ++i) {
        std::string alias = fs + "/" + std::string(strip_name_prefix(spec.controllers[i]));
        if (::symlink(spec.dir_name.c_str(), alias.c_str()) < 0 && errno != EEXIST)
            warnings.push_back(fmt::format("cannot link {}: {}, ignoring", alias, std::strerror(errno)));
    }
    return h;
}

bool plans_v1(const HierarchyPlan& plan) {
    return std::any_of(plan.specs.begin(), plan.specs.end(),
                       [](const HierarchySpec& s) { return s.kind == HierarchyKind::Legacy; });
}

bool same_hierarchy(const Hierarchy& h, const HierarchySpec& spec) {
    if (h.kind != spec.kind)
        return false;
    if (h.is_unified())
        return true;
    std::vector<std::string> a = h.controllers, b = spec.controllers;
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    return a == b;
}

}  // namespace

Result<HierarchyTable> mount_hierarchies(const PrivateMountNamespace&, const HierarchyPlan& plan,
                                         const std::string& rundir, std::vector<std::string>& warnings,
                                         const PrepareHierarchy& prepare) {
    const std::string fs = rundir + "/fs";
    CGM_TRY(mkdir_p(fs, 0755));
    if (::mount("cgmfs", fs.c_str(), "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=1m") < 0)
        return errno_error(errno, "mount tmpfs on {}", fs);
    std::vector<std::shared_ptr<Hierarchy>> list;
    const bool with_v1 = plans_v1(plan);
    for (const auto& spec : plan.specs)
        if (auto h = CGM_TRY(mount_one(spec, fs, with_v1, warnings)))
            list.push_back(std::move(h));
    if (prepare)
        for (const auto& h : list)
            prepare(*h);
    return HierarchyTable(std::move(list));
}

Result<HierarchyTable> mount_new_hierarchies(const PrivateMountNamespace&, const HierarchyPlan& plan,
                                             const HierarchyTable& current, const std::string& rundir,
                                             std::vector<std::string>& warnings, const PrepareHierarchy& prepare) {
    const std::string fs = rundir + "/fs";
    std::vector<std::shared_ptr<const Hierarchy>> kept;
    std::vector<std::shared_ptr<Hierarchy>> list;
    for (const auto& h : current.all()) {
        if (!h->is_unified()) {
            kept.push_back(h);
            continue;
        }
        // The controllers available in cgroup2 may have changed: describe it afresh.
        HierarchySpec spec;
        spec.kind = HierarchyKind::Unified;
        spec.premounted = h->premounted;
        spec.dir_name = h->dir_name;
        list.push_back(CGM_TRY(open_hierarchy(spec, h->mount_point)));
    }
    const bool with_v1 =
        plans_v1(plan) || std::any_of(list.begin(), list.end(), [](const auto& h) { return !h->is_unified(); });
    for (auto spec : plan.specs) {
        bool known = std::any_of(current.all().begin(), current.all().end(),
                                 [&](const auto& h) { return same_hierarchy(*h, spec); });
        if (known)
            continue;
        std::string base = spec.dir_name;
        struct stat st {};
        for (int i = 2; ::lstat((fs + "/" + spec.dir_name).c_str(), &st) == 0; ++i)
            spec.dir_name = fmt::format("{}.{}", base, i);
        spec.premounted = false;  // found later: a failure to mount it is not fatal
        if (auto h = CGM_TRY(mount_one(spec, fs, with_v1, warnings)))
            list.push_back(std::move(h));
    }
    if (prepare)
        for (const auto& h : list)
            prepare(*h);
    return HierarchyTable(std::move(list), std::move(kept));
}

}  // namespace cgm
