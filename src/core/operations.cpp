// SPDX-License-Identifier: Apache-2.0
#include "core/operations.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <functional>
#include <map>
#include <optional>

#include "core/backend.h"
#include "core/cgroupfs.h"
#include "core/policy.h"
#include "core/safe_walk.h"

namespace cgm {

namespace {

// The proxy's cgroup (docs/dbus-api.md section 2): a proxy started by systemd sits in .../init.scope or
// .../system.slice/cgproxy.service and acts for the cgroup above.
CgroupPath cut_proxy_suffix(const CgroupPath& p) {
    static const CgroupPath init_scope = CgroupPath::parse("init.scope").value();
    static const CgroupPath cgproxy = CgroupPath::parse("system.slice/cgproxy.service").value();
    if (p.ends_with(init_scope))
        return p.without_suffix(1);
    if (p.ends_with(cgproxy))
        return p.without_suffix(2);
    return p;
}

Error in_hierarchy(const Hierarchy& h, Error e) {
    return std::move(e).with_context(h.display);
}

template <typename T>
Result<T> in_hierarchy(const Hierarchy& h, Result<T> r) {
    if (!r)
        return in_hierarchy(h, std::move(r).error());
    return r;
}

std::string_view access_verb(Access a) {
    switch (a) {
    case Access::Read: return "read";
    case Access::Write: return "write";
    case Access::ReadWrite: return "read and write";
    }
    return "access";
}

// The requestor needs `access` to the object an fd refers to; `what` names it in the refusal.
Result<void> require_access(const Identity& r, int fd, Access access, std::string_view what) {
    auto a = CGM_TRY(cgfs::attrs(fd));
    if (!may_access(r, a, access))
        return make_error(ErrorKind::AccessDenied, "uid {} may not {} {} (owned by {}:{}, mode {:04o})", r.cred.uid,
                          access_verb(access), what, a.uid, a.gid, a.mode & 07777);
    return ok();
}

Result<pid_t> victim_pid(int32_t pid) {
    if (pid <= 0)
        return make_error(ErrorKind::InvalidArgs, "invalid pid {}", pid);
    return static_cast<pid_t>(pid);
}

// A uid or gid: 0 to 4294967294 ((uid_t)-1 means "unchanged" to chown(2), never an owner).
Result<uid_t> id_arg(int64_t id, std::string_view what) {
    if (id < 0 || id >= 0xffffffffLL)
        return make_error(ErrorKind::InvalidArgs, "invalid {} {}", what, id);
    return static_cast<uid_t>(id);
}

std::string strip_trailing_newlines(std::string s) {
    while (!s.empty() && s.back() == '\n')
        s.pop_back();
    return s;
}

// Open one child cgroup directory. Errors keep their errno (callers test ENOENT) and say plainly
// what was in the way.
Result<UniqueFd> open_child_dir(int dir_fd, const std::string& name, const CgroupPath& at = CgroupPath()) {
    auto fd = open_beneath(dir_fd, name, O_PATH | O_DIRECTORY);
    if (fd)
        return fd;
    int err = fd.error().sys_errno;
    std::string where = at.empty() ? quoted(name) : at.absolute();
    switch (err) {
    case ENOTDIR: return Error(ErrorKind::InvalidArgs, where + " exists and is not a cgroup", err);
    case ELOOP: return Error(ErrorKind::AccessDenied, where + " is a symlink", err);
    case EXDEV: return Error(ErrorKind::AccessDenied, where + " is a mount point", err);
    default: return std::move(fd).error();
    }
}

// A cgroup and the directory it is in, both opened (removing a cgroup is judged on the directory
// it is in). NotFound when either does not exist.
struct InParent {
    UniqueFd parent;
    UniqueFd dir;
};
Result<InParent> open_in_parent(const Hierarchy& h, const CgroupPath& path) {
    auto parent = CGM_TRY(cgfs::open_cgroup(h.root.get(), path.parent()));
    auto fd = open_child_dir(parent.get(), std::string(path.name()), path);
    if (!fd) {
        if (fd.error().sys_errno == ENOENT)
            return make_error(ErrorKind::NotFound, "cgroup {} does not exist", path.absolute());
        return std::move(fd).error().with_context(path.absolute());
    }
    return InParent{std::move(parent), std::move(fd).value()};
}

// Open a cgroup's file for reading or writing; errors say which file.
Result<UniqueFd> open_key(int dir_fd, std::string_view key, int flags, const std::string& what) {
    auto fd = open_beneath(dir_fd, std::string(key), flags | O_NOFOLLOW);
    if (fd)
        return fd;
    switch (fd.error().sys_errno) {
    case ENOENT: return make_error(ErrorKind::NotFound, "{} does not exist", what);
    case EISDIR: return make_error(ErrorKind::InvalidArgs, "{} is a directory", what);
    case EACCES:
        return make_error(ErrorKind::AccessDenied, "{} cannot be {}", what,
                          (flags & O_ACCMODE) == O_RDONLY ? "read" : "written");
    default: return std::move(fd).error().with_context(what);
    }
}

// The file a GetValue or SetValue of `key` opens, for messages: "file 'memory.max' (for
// 'memory.limit_in_bytes') of cgroup /ct1" where the unified hierarchy serves a v1 key.
std::string key_what(std::string_view key, std::string_view file, const CgroupPath& cgroup) {
    if (file == key)
        return fmt::format("file {} of cgroup {}", quoted(key), cgroup.absolute());
    return fmt::format("file {} (for {}) of cgroup {}", quoted(file), quoted(key), cgroup.absolute());
}

// Open a file of a cgroup for GetValue or SetValue, checked for the requestor's access on the same
// open file description that is then read or written.
Result<UniqueFd> open_checked(const Identity& r, int dir_fd, std::string_view file, bool write,
                              const std::string& what) {
    auto fd = CGM_TRY(open_key(dir_fd, file, write ? O_WRONLY : O_RDONLY, what));
    CGM_TRY(require_access(r, fd.get(), write ? Access::Write : Access::Read, what));
    return fd;
}

Result<std::string> read_checked(const Identity& r, int dir_fd, std::string_view key, std::string_view file,
                                 const CgroupPath& cgroup) {
    const std::string what = key_what(key, file, cgroup);
    auto fd = CGM_TRY(open_checked(r, dir_fd, file, false, what));
    auto text = sys::read_all(fd.get(), limits::kMaxReadBytes);
    if (!text)
        return std::move(text).error().with_context(what);
    return std::move(text).value();
}

std::string join_ids(const std::vector<pid_t>& ids) {
    std::string out;
    for (pid_t id : ids) {
        if (!out.empty())
            out += '\n';
        out += std::to_string(id);
    }
    return out;
}

// What a walk reads of a cgroup that was removed meanwhile (by the daemon's own remove-on-empty,
// the release agent or another client): reading its directory fails ENOENT, its files ENOENT or
// (v1) ENODEV, and for the walk it then has no children and no tasks. A recursive Remove or
// GetTasksRecursive that meets such a cgroup goes on: it is gone, which a removal wanted anyway.
template <class T>
Result<std::vector<T>> none_if_gone(Result<std::vector<T>> r) {
    if (!r && (r.error().sys_errno == ENOENT || r.error().sys_errno == ENODEV))
        return std::vector<T>{};
    return r;
}

// Visit a cgroup and every descendant (hidden leaves excluded), parents first. Children that
// cannot be opened are skipped when `skip_unopenable`, else they are an error. At most
// limits::kMaxWalkCgroups cgroups and limits::kMaxWalkDepth levels are visited.
Result<void> visit_tree(const CgroupBackend& be, int dir_fd, const CgroupPath& at, size_t& budget, bool skip_unopenable,
                        const std::function<Result<void>(int, const CgroupPath&)>& visit, size_t depth = 0) {
    if (budget == 0)
        return make_error(ErrorKind::LimitsExceeded, "more than {} cgroups below the target", limits::kMaxWalkCgroups);
    if (depth > limits::kMaxWalkDepth)
        return make_error(ErrorKind::LimitsExceeded, "the subtree is deeper than {} levels at {}",
                          limits::kMaxWalkDepth, at.absolute());
    --budget;
    CGM_TRY(visit(dir_fd, at));
    for (const auto& name : CGM_TRY(none_if_gone(cgfs::child_dirs(dir_fd)))) {
        if (be.is_hidden_child(name))
            continue;
        auto child = open_child_dir(dir_fd, name);
        if (!child) {
            if (skip_unopenable || child.error().sys_errno == ENOENT)
                continue;
            return std::move(child).error().with_context(at.child(name).absolute());
        }
        CGM_TRY(visit_tree(be, child->get(), at.child(name), budget, skip_unopenable, visit, depth + 1));
    }
    return ok();
}

// A Create whose new directory is no longer under its name when it is opened again.
Error renamed_while_created(const CgroupPath& at, std::string_view what) {
    return make_error(ErrorKind::Failed,
                      "the new cgroup {} was renamed or replaced while it was being created ({}); nothing there was "
                      "changed",
                      at.absolute(), what);
}

// The refusal of the kernel's rule for removing a cgroup: write access on the directory it is in.
Error may_not_remove(const Identity& r, const CgroupPath& victim, const CgroupPath& parent, const FileAttrs& a) {
    return make_error(ErrorKind::AccessDenied,
                      "uid {} may not remove cgroup {}: it may not write cgroup {} (owned by {}:{}, mode {:04o})",
                      r.cred.uid, victim.absolute(), parent.absolute(), a.uid, a.gid, a.mode & 07777);
}

Error renamed_away(const CgroupPath& at) {
    return make_error(ErrorKind::Failed,
                      "cgroup {} was renamed or replaced during the removal; it and what is above it were left alone",
                      at.absolute());
}

bool same_dir(const struct stat& a, const struct stat& b) {
    return a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

// rmdir the cgroup `at`, open as dir_fd under parent_fd: first what the backend needs gone (the v2
// leaf), then the directory, only while its name still refers to dir_fd's directory.
Result<void> remove_dir(const CgroupBackend& be, int parent_fd, int dir_fd, const CgroupPath& at) {
    auto st = CGM_TRY(sys::fstat(dir_fd));
    auto r = be.before_remove(dir_fd);
    if (r)
        r = cgfs::rmdir_child_if(parent_fd, at.name(), st);
    if (r || r.error().sys_errno == ENOENT)
        return ok();  // ENOENT: no longer under that name (removed by someone else meanwhile)
    switch (r.error().sys_errno) {
    case EBUSY: return make_error(ErrorKind::Failed, "cgroup {} is busy", at.absolute());
    case ESTALE: return renamed_away(at);
    default: return std::move(r).error().with_context(at.absolute());
    }
}

// A cgroup a recursive Remove is to remove, with everything below it, as planned: each directory
// is known by its inode, and only that directory is removed under its name.
struct Doomed {
    std::string name;
    CgroupPath at;
    struct stat st {};
    std::vector<Doomed> children;
};

// Plan the removal of the cgroup `at` (open as dir_fd) and everything below it, checking every
// rule first: the requestor may write each directory it would remove a child cgroup from (the
// kernel's rule for rmdir; the first refusal is the error), and no cgroup has tasks (the first one
// found goes to `busy`, reported once the whole tree is known to be the requestor's to remove). At
// most limits::kMaxWalkCgroups cgroups and limits::kMaxWalkDepth levels.
Result<Doomed> plan_removal(const CgroupBackend& be, const Identity& r, int dir_fd, const CgroupPath& at,
                            std::optional<Error>& busy, size_t& budget, size_t depth = 0) {
    if (budget == 0)
        return make_error(ErrorKind::LimitsExceeded, "more than {} cgroups below the target", limits::kMaxWalkCgroups);
    if (depth > limits::kMaxWalkDepth)
        return make_error(ErrorKind::LimitsExceeded, "the subtree is deeper than {} levels at {}",
                          limits::kMaxWalkDepth, at.absolute());
    --budget;
    Doomed d{std::string(at.name()), at, CGM_TRY(sys::fstat(dir_fd)), {}};
    if (!busy && !CGM_TRY(none_if_gone(be.read_tasks(dir_fd))).empty())
        busy = make_error(ErrorKind::Failed, "cgroup {} still has tasks", at.absolute());
    const FileAttrs attrs{d.st.st_uid, d.st.st_gid, d.st.st_mode};
    for (const auto& name : CGM_TRY(none_if_gone(cgfs::child_dirs(dir_fd)))) {
        if (be.is_hidden_child(name))
            continue;
        if (!may_access(r, attrs, Access::Write))
            return may_not_remove(r, at.child(name), at, attrs);
        auto child = open_child_dir(dir_fd, name);
        if (!child) {
            if (child.error().sys_errno == ENOENT)
                continue;
            return std::move(child).error().with_context(at.child(name).absolute());
        }
        d.children.push_back(CGM_TRY(plan_removal(be, r, child->get(), at.child(name), busy, budget, depth + 1)));
    }
    return d;
}

// Carry out a planned removal, children first. Each directory is reopened by name under its
// parent's fd and must still be the planned one; `removed` is told of each rmdir that worked.
Result<void> remove_planned(const CgroupBackend& be, int parent_fd, const Doomed& d,
                            const std::function<void(const CgroupPath&)>& removed) {
    auto fd = open_child_dir(parent_fd, d.name);
    if (!fd) {
        if (fd.error().sys_errno == ENOENT)
            return ok();  // removed by someone else meanwhile
        return std::move(fd).error().with_context(d.at.absolute());
    }
    if (!same_dir(CGM_TRY(sys::fstat(fd->get())), d.st))
        return renamed_away(d.at);
    for (const auto& child : d.children)
        CGM_TRY(remove_planned(be, fd->get(), child, removed));
    CGM_TRY(remove_dir(be, parent_fd, fd->get(), d.at));
    removed(d.at);
    return ok();
}

// What Prune does with each cgroup below its target: `mark` one that stays (busy), `removed` one
// it removed.
struct PruneHooks {
    std::function<void(int dir_fd, const CgroupPath& at)> mark;
    std::function<void(const CgroupPath& at)> removed;
};

// Prune the cgroup `at` (open as dir_fd, under parent_fd) and everything below it, children
// first: what is empty is removed, what is busy is marked to go once empty, but only where the
// requestor may write the directory it is in (`removable`, the kernel's rule for rmdir); elsewhere
// it is left as it is. Children are opened through their parent's fd, and a cgroup is removed under
// its name only while that name still refers to it. Returns whether it is gone.
Result<bool> prune_tree(const CgroupBackend& be, const Identity& r, int parent_fd, int dir_fd, const CgroupPath& at,
                        bool removable, const PruneHooks& hooks, size_t& budget, size_t depth = 0) {
    if (budget == 0)
        return make_error(ErrorKind::LimitsExceeded, "more than {} cgroups below the target", limits::kMaxWalkCgroups);
    --budget;
    if (depth > limits::kMaxWalkDepth)
        return false;
    auto attrs = cgfs::attrs(dir_fd);
    auto children = cgfs::child_dirs(dir_fd);
    if (attrs && children) {
        const bool writable = may_access(r, *attrs, Access::Write);
        for (const auto& name : *children) {
            if (be.is_hidden_child(name))
                continue;
            auto child = open_child_dir(dir_fd, name);
            if (child)
                CGM_TRY(prune_tree(be, r, dir_fd, child->get(), at.child(name), writable, hooks, budget, depth + 1));
        }
    }
    if (!removable)
        return false;
    if (remove_dir(be, parent_fd, dir_fd, at)) {
        hooks.removed(at);
        return true;
    }
    hooks.mark(dir_fd, at);
    // It may have emptied meanwhile, before it was marked: try once more.
    if (remove_dir(be, parent_fd, dir_fd, at)) {
        hooks.removed(at);
        return true;
    }
    return false;
}

// Run `plan` for each hierarchy; a hierarchy where the caller is only not allowed (AccessDenied)
// is skipped. Fails when a plan fails otherwise, or when every hierarchy was skipped.
template <typename P>
Result<std::vector<P>> plan_each(const std::vector<const Hierarchy*>& hs,
                                 const std::function<Result<P>(const Hierarchy&)>& plan,
                                 std::optional<Error>* first_denial = nullptr) {
    std::vector<P> planned;
    std::optional<Error> denied;
    for (const Hierarchy* h : hs) {
        auto p = plan(*h);
        if (!p) {
            Error e = in_hierarchy(*h, std::move(p).error());
            if (e.kind != ErrorKind::AccessDenied)
                return e;
            if (!denied)
                denied = std::move(e);
            continue;
        }
        planned.push_back(std::move(p).value());
    }
    if (planned.empty() && denied)
        return std::move(*denied);
    if (first_denial)
        *first_denial = std::move(denied);
    return planned;
}

}  // namespace

// -------------------------------------------------------------------------------------------------
// Per-call state: what has been read about the caller, read at most once per call.

class Operations::Call {
public:
    Call(const Operations& ops, const Caller& caller) : ops_(ops), caller_(caller) {}

    const Caller& caller() const { return caller_; }
    bool plain() const { return caller_.transport == Transport::Plain; }

    /// The requestor's credential with its user namespace's id maps (loaded once; host root
    /// needs none).
    Result<const Identity*> identity() {
        if (!identity_) {
            Identity id;
            id.cred = caller_.requestor;
            if (id.cred.pid <= 0)
                return make_error(ErrorKind::InvalidArgs, "invalid requestor pid {}", id.cred.pid);
            if (id.cred.uid != 0) {
                id.uid_map = CGM_TRY(ops_.proc_.uid_map(id.cred.pid));
                id.gid_map = CGM_TRY(ops_.proc_.gid_map(id.cred.pid));
                CGM_TRY(still_alive(id.cred.pid));
            }
            identity_ = std::move(id);
        }
        return &*identity_;
    }

    /// Plain calls of some methods need the caller in the daemon's own namespace of `type`.
    Result<void> require_same_ns(std::string_view type, std::string_view refusal) {
        if (!plain())
            return ok();
        bool same = CGM_TRY(ops_.proc_.same_namespace(caller_.requestor.pid, type));
        CGM_TRY(still_alive(caller_.requestor.pid));
        if (!same)
            return Error(ErrorKind::AccessDenied, std::string(refusal));
        return ok();
    }

    /// The pidfd of a process this call knows (the requestor, the proxy, a victim), or -1.
    int pidfd_of(pid_t pid) const {
        if (pid == caller_.requestor.pid && caller_.requestor_pidfd >= 0)
            return caller_.requestor_pidfd;
        if (pid == caller_.proxy.pid && caller_.proxy_pidfd >= 0)
            return caller_.proxy_pidfd;
        if (pid == victim_pid_)
            return victim_pidfd_.get();
        return -1;
    }

    /// Facts read from /proc/<pid> describe the process only if it is still alive afterwards
    /// (checked through its pidfd where there is one).
    Result<void> still_alive(pid_t pid) const {
        if (!ProcSource::alive(pidfd_of(pid)))
            return make_error(ErrorKind::NotFound, "process {} exited during the call", pid);
        return ok();
    }

    /// Pin a victim by pidfd before anything is read about it (the transport's pin for the
    /// victim an *Scm credential named).
    Result<void> pin_victim(pid_t pid) {
        if (caller_.victim_pidfd >= 0 && caller_.victim_pid == pid)
            victim_pidfd_ = CGM_TRY(sys::dup(caller_.victim_pidfd));
        else
            victim_pidfd_ = CGM_TRY(ProcSource::open_pidfd(pid));
        victim_pid_ = pid;
        return ok();
    }

    /// The cgroup of any process in hierarchy h.
    Result<CgroupPath> cgroup_of(pid_t pid, const Hierarchy& h) {
        auto it = lines_.find(pid);
        if (it == lines_.end()) {
            auto lines = CGM_TRY(ops_.proc_.cgroups(pid));
            CGM_TRY(still_alive(pid));
            it = lines_.emplace(pid, std::move(lines)).first;
        }
        auto r = h.backend->process_cgroup(h, it->second);
        if (!r)
            return std::move(r).error().with_context(fmt::format("process {}", pid));
        return r;
    }

    Result<CgroupPath> requestor_cgroup(const Hierarchy& h) { return cgroup_of(caller_.requestor.pid, h); }
    /// The proxy's cgroup with the init.scope / cgproxy.service cut.
    Result<CgroupPath> proxy_cgroup(const Hierarchy& h) {
        return cut_proxy_suffix(CGM_TRY(cgroup_of(caller_.proxy.pid, h)));
    }

    /// Target of the read-type methods (GetValue family): relative to the requestor's cgroup, or
    /// from the hierarchy root with a leading '/'; it must lie at or below the proxy's cgroup.
    Result<CgroupPath> read_target(const Hierarchy& h, const CgroupArg& arg) {
        CgroupPath target = arg.leading_slash ? arg.path : CGM_TRY(requestor_cgroup(h)).join(arg.path);
        auto limit = CGM_TRY(proxy_cgroup(h));
        if (!target.is_under(limit))
            return make_error(ErrorKind::AccessDenied, "cgroup {} is outside the {} cgroup {}", target.absolute(),
                              plain() ? "caller's" : "proxy's", limit.absolute());
        return target;
    }

private:
    const Operations& ops_;
    const Caller& caller_;
    std::optional<Identity> identity_;
    std::map<pid_t, std::vector<ProcCgroupLine>> lines_;
    pid_t victim_pid_ = 0;
    UniqueFd victim_pidfd_;
};

// -------------------------------------------------------------------------------------------------

Result<std::string> Operations::get_pid_cgroup(const Caller& c, std::string_view controller, int32_t pid) const {
    Call call(*this, c);
    CGM_TRY(call.require_same_ns(
        "pid", "GetPidCgroup called from a different pid namespace; use GetPidCgroupScm through a proxy"));
    const Hierarchy* h = CGM_TRY(table_.resolve_one(controller));
    pid_t v = CGM_TRY(victim_pid(pid));
    CGM_TRY(call.pin_victim(v));
    auto base = CGM_TRY(in_hierarchy(*h, call.requestor_cgroup(*h)));
    auto vcg = CGM_TRY(in_hierarchy(*h, call.cgroup_of(v, *h)));
    auto rel = vcg.relative_to(base);
    if (!rel)
        return in_hierarchy(
            *h, make_error(ErrorKind::AccessDenied, "process {} is not in or below the requestor's cgroup {}", v,
                           base.absolute()));
    return rel->empty() ? std::string("/") : rel->str();
}

Result<std::string> Operations::get_pid_cgroup_abs(const Caller& c, std::string_view controller, int32_t pid) const {
    Call call(*this, c);
    CGM_TRY(call.require_same_ns(
        "pid", "GetPidCgroupAbs called from a different pid namespace; use GetPidCgroupAbsScm through a proxy"));
    const Hierarchy* h = CGM_TRY(table_.resolve_one(controller));
    pid_t v = CGM_TRY(victim_pid(pid));
    CGM_TRY(call.pin_victim(v));
    CgroupPath base = call.plain() ? CgroupPath() : CGM_TRY(in_hierarchy(*h, call.proxy_cgroup(*h)));
    auto vcg = CGM_TRY(in_hierarchy(*h, call.cgroup_of(v, *h)));
    auto rel = vcg.relative_to(base);
    if (!rel)
        return in_hierarchy(*h, make_error(ErrorKind::AccessDenied,
                                           "process {} is not in or below the proxy's cgroup {}", v, base.absolute()));
    return rel->absolute();
}

namespace {

// What Create's controller argument asks of hierarchy h: the controllers it names that h has (a
// v1 name stands for its v2 controller: cpuacct for cpu, none for freezer), or every one for `all`
// and for `unified` (the hierarchy's own name).
ControllerWish controller_wish(const HierarchyTable& table, const Hierarchy& h, std::string_view arg) {
    ControllerWish wish;
    for (const auto& tok : split(arg, ',')) {
        if (tok == "all") {
            wish.all = true;
        } else if (!tok.empty() && table.find(tok) == &h) {
            const auto* alias = h.is_unified() ? v1compat::controller_alias(tok) : nullptr;
            std::string_view name = alias && !h.has_controller(tok) ? alias->v2 : std::string_view(tok);
            if (alias && name.empty())
                continue;  // done by cgroup v2's core: nothing to enable
            if (h.has_controller(name)) {
                if (std::find(wish.names.begin(), wish.names.end(), name) == wish.names.end())
                    wish.names.emplace_back(name);
            } else {
                wish.all = true;  // the hierarchy's name, not one of its controllers
            }
        }
    }
    return wish;
}

// cgroup v2's delegation containment: a process moves between two cgroups only for a writer of
// cgroup.procs of their common ancestor (what the kernel asks of a direct write).
Result<void> check_containment(const Identity& r, const Hierarchy& h, pid_t v, const CgroupPath& from,
                               const CgroupPath& to) {
    const CgroupPath common = from.common_ancestor(to);
    auto dir = CGM_TRY(cgfs::open_cgroup(h.root.get(), common));
    auto procs = cgfs::open_entry(dir.get(), "cgroup.procs");
    if (!procs)
        return std::move(procs).error().with_context("cgroup " + common.absolute());
    auto allowed = require_access(r, procs->get(), Access::Write,
                                  fmt::format("file 'cgroup.procs' of cgroup {}", common.absolute()));
    if (!allowed)
        return std::move(allowed).error().with_context(
            fmt::format("moving process {} from {} to {} needs write access to cgroup.procs of {}, their common "
                        "ancestor (cgroup v2's delegation containment, --v2-containment)",
                        v, from.absolute(), to.absolute(), common.absolute()));
    return ok();
}

}  // namespace

Result<Existed> Operations::create(const Caller& c, std::string_view controller, std::string_view cgroup) const {
    Call call(*this, c);
    auto hs = CGM_TRY(table_.resolve(controller));
    auto arg = CGM_TRY(parse_cgroup_arg(cgroup));  // a leading '/' means nothing here (docs/dbus-api.md section 3)
    if (arg.path.empty())
        return Existed::No;
    const Identity& r = *CGM_TRY(call.identity());

    // Plan: where each hierarchy's new path hangs off, and the depth limit.
    struct Planned {
        const Hierarchy* h;
        CgroupPath base;
    };
    std::vector<Planned> planned;
    for (const Hierarchy* h : hs) {
        auto base = CGM_TRY(in_hierarchy(*h, call.requestor_cgroup(*h)));
        size_t depth = base.depth() + arg.path.depth();
        if (depth > static_cast<size_t>(config_.max_depth))
            return in_hierarchy(
                *h, make_error(ErrorKind::LimitsExceeded, "cgroup {} would be {} levels deep; the limit is {}",
                               base.join(arg.path).absolute(), depth, config_.max_depth));
        planned.push_back({h, std::move(base)});
    }

    // Act, remembering every directory made so that a failure can undo them all.
    struct Made {
        UniqueFd parent;
        std::string name;
        std::string hierarchy;  // for the quota
        std::string path;
        std::optional<struct stat> st;  // the directory made, once it was checked to be ours
    };
    std::vector<Made> made;
    // Controllers this call enabled for the children of an existing cgroup on the way (cgroup v2),
    // disabled again by the undo.
    struct Enabled {
        const Hierarchy* h;
        UniqueFd dir;
        std::string controller;
    };
    std::vector<Enabled> enabled;
    CreationQuota* quota =
        config_.quota && config_.quota->limit() > 0 && r.cred.uid != 0 ? config_.quota.get() : nullptr;
    // Undo: each directory goes only while its name still refers to the directory made. One that
    // was never confirmed ours, or was renamed meanwhile, stays where it is (it is the requestor's).
    auto rollback = [&made, &enabled, quota, &r](size_t from, size_t enabled_from) {
        while (made.size() > from) {
            const Made& m = made.back();
            if (m.st)
                (void)cgfs::rmdir_child_if(m.parent.get(), m.name, *m.st);
            if (quota)
                quota->release(r.cred.uid, m.hierarchy, m.path);
            made.pop_back();
        }
        while (enabled.size() > enabled_from) {
            const Enabled& e = enabled.back();
            (void)e.h->backend->enable_controller(e.dir.get(), e.controller, false);
            enabled.pop_back();
        }
    };
    auto still_there = [this](const std::string& hierarchy, const std::string& path) {
        for (const auto& h : table_.all()) {
            if (h->display != hierarchy)
                continue;
            auto p = CgroupPath::parse(std::string_view(path).substr(1));
            return p && cgfs::open_cgroup(h->root.get(), *p).ok();
        }
        return false;
    };

    // cgroup v2: the controllers asked for are enabled for the children of every existing cgroup
    // on the way, from the requestor's own cgroup down (new cgroups below take their parent's).
    // Named ones must be enabled or the call fails; with `all` or `unified`, what can be.
    auto enable_in = [&](const Hierarchy& h, const ControllerWish& wish, int dir_fd,
                         const CgroupPath& path) -> Result<void> {
        auto todo = h.backend->controllers_to_enable(dir_fd, wish);
        if (!todo)
            return std::move(todo).error().with_context("cgroup " + path.absolute());
        if (todo->empty())
            return ok();
        const std::string what = fmt::format("file 'cgroup.subtree_control' of cgroup {}", path.absolute());
        auto file = cgfs::open_entry(dir_fd, "cgroup.subtree_control");
        if (!file)
            return std::move(file).error().with_context("cgroup " + path.absolute());
        auto may = require_access(r, file->get(), Access::Write, what);
        if (!may)
            return wish.all ? ok() : Result<void>(std::move(may).error());
        for (const auto& ctrl : *todo) {
            auto undo_fd = CGM_TRY(sys::dup(dir_fd));  // before the write: the undo must not fail
            auto on = h.backend->enable_controller(dir_fd, ctrl, true);
            if (!on) {
                if (wish.all)
                    continue;  // what can be enabled
                return std::move(on).error().with_context("cgroup " + path.absolute());
            }
            enabled.push_back({&h, std::move(undo_fd), ctrl});
        }
        return ok();
    };

    auto create_in = [&](const Hierarchy& h, const CgroupPath& base) -> Result<bool> {
        const ControllerWish wish = controller_wish(table_, h, controller);
        auto cur = CGM_TRY(cgfs::open_cgroup(h.root.get(), base));
        CgroupPath at = base;
        bool existed = false;
        bool fresh = false;  // cur was made by this call
        for (const auto& comp : arg.path.components()) {
            CgroupPath parent_path = at;
            if (!fresh)
                CGM_TRY(enable_in(h, wish, cur.get(), parent_path));
            at = at.child(comp);
            auto child = open_child_dir(cur.get(), comp, at);
            if (!child && child.error().sys_errno != ENOENT)
                return std::move(child).error();
            if (child) {
                CGM_TRY(require_access(r, child->get(), Access::Read, "cgroup " + at.absolute()));
                existed = true;
                cur = std::move(child).value();
                continue;
            }
            CGM_TRY(require_access(r, cur.get(), Access::ReadWrite, "cgroup " + parent_path.absolute()));
            auto parent = CGM_TRY(sys::dup(cur.get()));  // before the mkdir: the undo must not fail
            if (quota)
                CGM_TRY(quota->reserve(r.cred.uid, h.display, at.absolute(), still_there));
            // Made with the requestor's ids: the kernel gives the directory and every file in it
            // to them from the start (the creator owns all of it), so nothing is ever chowned by
            // name afterwards.
            auto mk = cgfs::mkdir_child_as(cur.get(), comp, 0755, r.cred.uid, r.cred.gid);
            if (quota && (!mk || !*mk))
                quota->release(r.cred.uid, h.display, at.absolute());
            if (!mk)
                return std::move(mk).error().with_context(at.absolute());
            if (*mk)
                made.push_back({std::move(parent), comp, h.display, at.absolute(), std::nullopt});
            auto opened = open_child_dir(cur.get(), comp, at);
            if (!opened && *mk && opened.error().sys_errno == ENOENT)
                return renamed_while_created(at, "it is gone");
            auto fd = CGM_TRY(std::move(opened));
            if (!*mk) {  // someone made it meanwhile
                CGM_TRY(require_access(r, fd.get(), Access::Read, "cgroup " + at.absolute()));
                existed = true;
                cur = std::move(fd);
                continue;
            }
            // What the name refers to now must be the directory just made: it and its files are
            // the requestor's (uid and gid), including a file Chown never gives away, which in a
            // cgroup root made and delegated is still root's. Anything else was put there by a
            // rename in between and is left untouched. (A cgroup the requestor made itself, swapped
            // in, is the requestor's throughout: what follows could be done by the requestor.)
            auto st = CGM_TRY(sys::fstat(fd.get()));
            if (st.st_uid != r.cred.uid || st.st_gid != r.cred.gid)
                return renamed_while_created(at, fmt::format("what has its name is owned by {}:{}, not by the "
                                                             "requestor {}:{}",
                                                             st.st_uid, st.st_gid, r.cred.uid, r.cred.gid));
            // (Host root as root:root: every root-owned cgroup passes; nothing to tell apart.)
            const bool as_root = r.cred.uid == 0 && r.cred.gid == 0;
            const std::string_view probe = h.backend->undelegated_file();
            auto pa = as_root ? Result<FileAttrs>(FileAttrs{}) : cgfs::attrs_at(fd.get(), probe);
            if (!as_root && (!pa || pa->uid != r.cred.uid || pa->gid != r.cred.gid))
                return renamed_while_created(
                    at,
                    pa ? fmt::format("its {} is owned by {}:{}: it was not made by this call", probe, pa->uid, pa->gid)
                       : fmt::format("it has no {}: it was not made by this call", probe));
            made.back().st = st;
            existed = false;
            fresh = true;
            auto init = h.backend->init_new_cgroup(h, cur.get(), fd.get());
            if (!init)
                return std::move(init).error().with_context("setting up " + at.absolute());
            cur = std::move(fd);
        }
        return existed;
    };

    bool any_existed = false;
    size_t done = 0;
    std::optional<Error> denied;
    for (const auto& p : planned) {
        const size_t mark = made.size();
        const size_t enabled_mark = enabled.size();
        auto res = create_in(*p.h, p.base);
        if (!res) {
            Error e = in_hierarchy(*p.h, std::move(res).error());
            if (e.kind == ErrorKind::AccessDenied) {
                rollback(mark, enabled_mark);  // this hierarchy is skipped: nothing of it stays half made
                if (!denied)
                    denied = std::move(e);
                continue;
            }
            rollback(0, 0);
            return e;
        }
        any_existed = any_existed || *res;
        ++done;
    }
    if (done == 0 && denied)
        return std::move(*denied);
    return any_existed ? Existed::Yes : Existed::No;
}

Result<void> Operations::chown(const Caller& c, std::string_view controller, std::string_view cgroup, int64_t uid,
                               int64_t gid) const {
    Call call(*this, c);
    CGM_TRY(call.require_same_ns("user", "Chown called from a different user namespace; use ChownScm through a proxy"));
    auto hs = CGM_TRY(table_.resolve(controller));
    auto arg = CGM_TRY(parse_cgroup_arg(cgroup));
    uid_t new_uid = CGM_TRY(id_arg(uid, "uid"));
    gid_t new_gid = CGM_TRY(id_arg(gid, "gid"));
    const Identity& r = *CGM_TRY(call.identity());
    if (!is_root_in_userns(r))
        return make_error(ErrorKind::AccessDenied, "Chown requested by uid {}, which is not root in its user namespace",
                          r.cred.uid);
    // The new owner must exist in the requestor's user namespace (the kernel already ensures it
    // for credentials it passed; this keeps the rule for every path into the core).
    if (!r.uid_map.maps_host(new_uid) || !r.gid_map.maps_host(new_gid))
        return make_error(ErrorKind::InvalidArgs, "{}:{} is not mapped in the requestor's user namespace", new_uid,
                          new_gid);

    struct Planned {
        const Hierarchy* h;
        UniqueFd fd;
    };
    auto planned = CGM_TRY(plan_each<Planned>(hs, [&](const Hierarchy& h) -> Result<Planned> {
        auto target = CGM_TRY(call.requestor_cgroup(h)).join(arg.path);
        auto fd = CGM_TRY(cgfs::open_cgroup(h.root.get(), target));
        CGM_TRY(require_access(r, fd.get(), Access::ReadWrite, "cgroup " + target.absolute()));
        return Planned{&h, std::move(fd)};
    }));
    for (auto& p : planned) {
        auto act = [&]() -> Result<void> {
            // The leaf first: it is recognized by having the cgroup's present owner.
            CGM_TRY(p.h->backend->chown_extra(p.fd.get(), new_uid, new_gid));
            CGM_TRY(cgfs::chown_fd(p.fd.get(), new_uid, new_gid));
            // Each delegated file by fd, and only a regular file: a child cgroup named like a file
            // the cgroup lacks is not given away.
            for (const auto& name : p.h->backend->delegated_files())
                CGM_TRY(cgfs::chown_file(p.fd.get(), name, new_uid, new_gid));
            return ok();
        };
        CGM_TRY(in_hierarchy(*p.h, act()));
    }
    return ok();
}

Result<void> Operations::chmod(const Caller& c, std::string_view controller, std::string_view cgroup,
                               std::string_view file, int32_t mode) const {
    Call call(*this, c);
    auto hs = CGM_TRY(table_.resolve(controller));
    auto arg = CGM_TRY(parse_cgroup_arg(cgroup));
    if (!file.empty())
        CGM_TRY(check_key(file, KeyUse::Chmod, false));
    if (mode < 0 || mode > 07777)
        return make_error(ErrorKind::InvalidArgs, "invalid mode {:o}: must be between 0 and 07777", mode);
    const Identity& r = *CGM_TRY(call.identity());

    struct Planned {
        const Hierarchy* h;
        UniqueFd dir;
        UniqueFd target;   // the directory again, or the file
        std::string file;  // the file changed in this hierarchy ("" = the directory)
    };
    auto planned = CGM_TRY(plan_each<Planned>(hs, [&](const Hierarchy& h) -> Result<Planned> {
        // A v1 file name on the unified hierarchy changes the file that serves it ("tasks":
        // cgroup.procs).
        std::string name(file);
        if (!file.empty())
            if (auto map = CGM_TRY(h.backend->map_key(file)))
                name = map->chmod_file;
        auto path = CGM_TRY(call.requestor_cgroup(h)).join(arg.path);
        auto dir = CGM_TRY(cgfs::open_cgroup(h.root.get(), path));
        std::string what = "cgroup " + path.absolute();
        auto target = cgfs::open_entry(dir.get(), name.empty() ? std::string_view(".") : std::string_view(name));
        if (!target && target.error().sys_errno == ENOENT)
            return make_error(ErrorKind::NotFound, "cgroup {} has no file {}", path.absolute(), quoted(name));
        auto fd = CGM_TRY(std::move(target));
        if (!file.empty())
            what = key_what(file, name, path);
        CGM_TRY(require_access(r, fd.get(), Access::ReadWrite, what));
        return Planned{&h, std::move(dir), std::move(fd), std::move(name)};
    }));
    for (auto& p : planned) {
        auto act = [&]() -> Result<void> {
            CGM_TRY(cgfs::chmod_fd(p.target.get(), static_cast<mode_t>(mode)));
            return p.h->backend->after_chmod(p.dir.get(), p.file, static_cast<mode_t>(mode));
        };
        CGM_TRY(in_hierarchy(*p.h, act()));
    }
    return ok();
}

Result<void> Operations::move_pid(const Caller& c, std::string_view controller, std::string_view cgroup,
                                  int32_t pid) const {
    return move_pid_impl(c, controller, cgroup, pid, false);
}

Result<void> Operations::move_pid_abs(const Caller& c, std::string_view controller, std::string_view cgroup,
                                      int32_t pid) const {
    return move_pid_impl(c, controller, cgroup, pid, true);
}

Result<void> Operations::move_pid_impl(const Caller& c, std::string_view controller, std::string_view cgroup,
                                       int32_t pid, bool abs) const {
    Call call(*this, c);
    CGM_TRY(call.require_same_ns("pid",
                                 abs ? "MovePidAbs from a different pid namespace requires a proxy (use MovePidAbsScm)"
                                     : "MovePid from a different pid namespace requires a proxy (use MovePidScm)"));
    auto hs = CGM_TRY(table_.resolve(controller));
    auto arg = CGM_TRY(parse_cgroup_arg(cgroup));
    if (!abs && arg.leading_slash)
        return make_error(ErrorKind::InvalidArgs,
                          "MovePid takes a cgroup relative to the caller's; {} starts with '/' (use MovePidAbs)",
                          quoted(cgroup));
    pid_t v = CGM_TRY(victim_pid(pid));
    CGM_TRY(call.pin_victim(v));
    auto status = CGM_TRY(proc_.status(v));
    CGM_TRY(call.still_alive(v));
    if (status.state == 'Z' || status.state == 'X')
        return make_error(ErrorKind::NotFound, "process {} has exited", v);
    if (status.kthread)
        return make_error(ErrorKind::InvalidArgs, "process {} is a kernel thread", v);
    const Identity& r = *CGM_TRY(call.identity());
    if (!may_move_pid(r, v, status.real_uid()))
        return make_error(ErrorKind::AccessDenied, "uid {} may not move process {} (owned by uid {})", r.cred.uid, v,
                          status.real_uid());

    struct Planned {
        const Hierarchy* h;
        UniqueFd fd;
        PidTarget target;
        CgroupPath path;
    };
    std::vector<Planned> planned;
    for (const Hierarchy* hp : hs) {
        const Hierarchy& h = *hp;
        auto plan = [&]() -> Result<Planned> {
            CgroupPath base;
            if (!abs)
                base = cut_proxy_suffix(CGM_TRY(call.requestor_cgroup(h)));
            else if (!call.plain())
                base = CGM_TRY(call.proxy_cgroup(h));
            auto vcg = CGM_TRY(call.cgroup_of(v, h));
            if (!vcg.is_under(base))
                return make_error(ErrorKind::AccessDenied, "process {} is not in or below cgroup {}", v,
                                  base.absolute());
            auto path = base.join(arg.path);
            auto fd = CGM_TRY(cgfs::open_cgroup(h.root.get(), path));
            CGM_TRY(require_access(r, fd.get(), Access::Read, "cgroup " + path.absolute()));
            auto target = CGM_TRY(h.backend->pid_target(fd.get()));
            auto file = cgfs::open_entry(fd.get(), target.auth_file);
            if (!file)
                return std::move(file).error().with_context("cgroup " + path.absolute());
            CGM_TRY(require_access(r, file->get(), Access::Write,
                                   fmt::format("file {} of cgroup {}", quoted(target.auth_file), path.absolute())));
            if (config_.v2_containment && h.is_unified())
                CGM_TRY(check_containment(r, h, v, vcg, path));
            return Planned{&h, std::move(fd), std::move(target), std::move(path)};
        };
        planned.push_back(CGM_TRY(in_hierarchy(h, plan())));
    }

    // Act: every hierarchy is tried; failures are reported together. The victim must still be the
    // process that was checked: while its pidfd shows it alive, its pid cannot name another.
    std::optional<Error> failure;
    std::vector<std::string> failed;
    const std::string line = fmt::format("{}\n", v);
    for (auto& p : planned) {
        auto act = [&]() -> Result<void> {
            // v2: the leaf, made if missing, opened through the cgroup's fd and checked to be ours;
            // the pid is written through that fd.
            auto dir = p.h->backend->open_pid_dir(p.fd.get());
            if (!dir)
                return std::move(dir).error().with_context("cgroup " + p.path.absolute());
            CGM_TRY(call.still_alive(v));
            auto w = cgfs::write_file(dir->get(), p.target.procs_file, line);
            if (!w && w.error().sys_errno == ENODEV)  // the kernel's answer in a cgroup removed meanwhile
                return make_error(ErrorKind::NotFound, "cgroup {} was removed while pid {} was being moved into it",
                                  p.path.absolute(), v);
            if (!w)
                return p.h->backend->explain_write_error(std::move(w).error(), p.target.procs_file)
                    .with_context(fmt::format("moving {} to {}", v, p.path.absolute()));
            return ok();
        };
        auto res = act();
        if (!res) {
            failed.push_back(p.h->display);
            if (!failure)
                failure = in_hierarchy(*p.h, std::move(res).error());
        }
    }
    if (failure) {
        if (failed.size() < planned.size())
            failure->message +=
                fmt::format(" (moved in {} of {} hierarchies)", planned.size() - failed.size(), planned.size());
        return std::move(*failure);
    }
    return ok();
}

Result<std::string> Operations::get_value(const Caller& c, std::string_view controller, std::string_view cgroup,
                                          std::string_view key) const {
    Call call(*this, c);
    const Hierarchy* h = CGM_TRY(table_.resolve_one(controller));
    CGM_TRY(check_key(key, KeyUse::Read, false));
    auto arg = CGM_TRY(parse_cgroup_arg(cgroup));
    const Identity& r = *CGM_TRY(call.identity());
    auto run = [&]() -> Result<std::string> {
        auto map = CGM_TRY(h->backend->map_key(key));
        auto target = CGM_TRY(call.read_target(*h, arg));
        auto dir = CGM_TRY(cgfs::open_cgroup(h->root.get(), target));
        CGM_TRY(require_access(r, dir.get(), Access::Read, "cgroup " + target.absolute()));
        if (!map)  // one open: the permission check and the read are on the same file
            return strip_trailing_newlines(CGM_TRY(read_checked(r, dir.get(), key, key, target)));
        if (map->threads) {
            CGM_TRY(open_checked(r, dir.get(), map->file, false, key_what(key, map->file, target)));
            auto ids = h->backend->read_threads(dir.get());
            if (!ids)
                return std::move(ids).error().with_context("cgroup " + target.absolute());
            return join_ids(*ids);
        }
        // Errors name the file read (read_checked) or the content that made no sense.
        return map->get(*map, [&](std::string_view file) { return read_checked(r, dir.get(), key, file, target); });
    };
    return in_hierarchy(*h, run());
}

Result<void> Operations::set_value(const Caller& c, std::string_view controller, std::string_view cgroup,
                                   std::string_view key, std::string_view value) const {
    Call call(*this, c);
    const Hierarchy* h = CGM_TRY(table_.resolve_one(controller));
    CGM_TRY(check_key(key, KeyUse::Read, false));  // syntax first, before anything is looked up
    if (value.size() > limits::kMaxValueBytes)
        return make_error(ErrorKind::LimitsExceeded, "value of {} bytes is longer than {} bytes", value.size(),
                          limits::kMaxValueBytes);
    auto arg = CGM_TRY(parse_cgroup_arg(cgroup));
    const Identity& r = *CGM_TRY(call.identity());
    CGM_TRY(check_key(key, KeyUse::Write, is_host_root(r)));
    auto run = [&]() -> Result<void> {
        auto map = CGM_TRY(h->backend->map_key(key));
        auto target = CGM_TRY(call.read_target(*h, arg));
        auto dir = CGM_TRY(cgfs::open_cgroup(h->root.get(), target));
        CGM_TRY(require_access(r, dir.get(), Access::Read, "cgroup " + target.absolute()));
        const std::string file = map ? map->file : std::string(key);
        const std::string what = key_what(key, file, target);
        if (map && !map->set)
            return make_error(ErrorKind::AccessDenied, "{} cannot be written ({} is read-only)", what, quoted(key));
        // Open first: a value is converted (which may read the file's current value) only for a
        // file the requestor may write.
        auto fd = CGM_TRY(open_checked(r, dir.get(), file, true, what));
        std::string data(value);
        if (map)
            data = CGM_TRY(
                map->set(*map, value, [&](std::string_view f) { return read_checked(r, dir.get(), key, f, target); }));
        if (!data.empty() && data.back() != '\n')
            data += '\n';
        auto w = sys::write_all(fd.get(), data);
        if (!w)
            return h->backend->explain_write_error(std::move(w).error(), file).with_context(what);
        return ok();
    };
    return in_hierarchy(*h, run());
}

Result<Existed> Operations::remove(const Caller& c, std::string_view controller, std::string_view cgroup,
                                   bool recursive) const {
    Call call(*this, c);
    auto hs = CGM_TRY(table_.resolve(controller));
    auto arg = CGM_TRY(parse_cgroup_arg(cgroup));  // a leading '/' means nothing here (docs/dbus-api.md section 3)
    if (arg.path.empty())
        return make_error(ErrorKind::InvalidArgs,
                          "Remove needs a cgroup below the caller's own; {} names the caller's own cgroup",
                          quoted(cgroup));
    const Identity& r = *CGM_TRY(call.identity());

    struct Planned {
        const Hierarchy* h;
        UniqueFd parent;  // invalid when the cgroup does not exist in this hierarchy
        CgroupPath path;
        UniqueFd target;  // the cgroup itself, when it exists
        Doomed plan;      // what goes below it (recursive): each directory by its inode
    };
    std::optional<Error> denied;
    auto planned = CGM_TRY(plan_each<Planned>(
        hs,
        [&](const Hierarchy& h) -> Result<Planned> {
            auto path = CGM_TRY(call.requestor_cgroup(h)).join(arg.path);
            auto opened = open_in_parent(h, path);
            if (!opened && (opened.error().kind == ErrorKind::NotFound || opened.error().sys_errno == ENOTDIR))
                return Planned{&h, UniqueFd(), path, UniqueFd(), {}};  // not there (or not a cgroup)
            auto [pfd, target] = CGM_TRY(std::move(opened));
            // The kernel's rule for rmdir: write access on the directory a cgroup is in, for the
            // target and, recursive, for every cgroup below it.
            auto parent_attrs = CGM_TRY(cgfs::attrs(pfd.get()));
            if (!may_access(r, parent_attrs, Access::Write))
                return may_not_remove(r, path, path.parent(), parent_attrs);
            // Refuse now, with nothing removed, what the kernel would refuse halfway.
            Doomed plan;
            if (recursive) {
                size_t budget = limits::kMaxWalkCgroups;
                std::optional<Error> busy;
                plan = CGM_TRY(plan_removal(*h.backend, r, target.get(), path, busy, budget));
                if (busy)
                    return std::move(*busy);
            } else {
                if (!CGM_TRY(none_if_gone(h.backend->read_tasks(target.get()))).empty())
                    return make_error(ErrorKind::Failed, "cgroup {} still has tasks", path.absolute());
                for (const auto& child : CGM_TRY(none_if_gone(cgfs::child_dirs(target.get()))))
                    if (!h.backend->is_hidden_child(child))
                        return make_error(ErrorKind::Failed, "cgroup {} has child cgroups; use a recursive remove",
                                          path.absolute());
            }
            return Planned{&h, std::move(pfd), path, std::move(target), std::move(plan)};
        },
        &denied));
    // Where the cgroup exists in no hierarchy but one refused the caller, it may well exist there:
    // answering "did not exist" would be wrong.
    bool exists_somewhere =
        std::any_of(planned.begin(), planned.end(), [](const Planned& p) { return p.parent.valid(); });
    if (!exists_somewhere && denied)
        return std::move(*denied);

    bool existed = false;
    for (auto& p : planned) {
        if (!p.parent)
            continue;
        auto forget = [&](const CgroupPath& at) {
            if (config_.quota)
                config_.quota->forget(p.h->display, at.absolute());
        };
        auto act = [&]() -> Result<void> {
            for (const auto& child : p.plan.children)  // none when not recursive (checked above)
                CGM_TRY(remove_planned(*p.h->backend, p.target.get(), child, forget));
            CGM_TRY(remove_dir(*p.h->backend, p.parent.get(), p.target.get(), p.path));
            forget(p.path);
            return ok();
        };
        CGM_TRY(in_hierarchy(*p.h, act()));
        existed = true;
    }
    return existed ? Existed::Yes : Existed::No;
}

Result<std::vector<int32_t>> Operations::get_tasks(const Caller& c, std::string_view controller,
                                                   std::string_view cgroup) const {
    Call call(*this, c);
    const Hierarchy* h = CGM_TRY(table_.resolve_one(controller));
    auto arg = CGM_TRY(parse_cgroup_arg(cgroup));
    const Identity& r = *CGM_TRY(call.identity());
    auto run = [&]() -> Result<std::vector<int32_t>> {
        auto target = CGM_TRY(call.read_target(*h, arg));
        auto dir = CGM_TRY(cgfs::open_cgroup(h->root.get(), target));
        CGM_TRY(require_access(r, dir.get(), Access::Read, "cgroup " + target.absolute()));
        auto pids = CGM_TRY(h->backend->read_tasks(dir.get()));
        return std::vector<int32_t>(pids.begin(), pids.end());
    };
    return in_hierarchy(*h, run());
}

Result<std::vector<int32_t>> Operations::get_tasks_recursive(const Caller& c, std::string_view controller,
                                                             std::string_view cgroup) const {
    Call call(*this, c);
    auto hs = CGM_TRY(table_.resolve(controller));
    auto arg = CGM_TRY(parse_cgroup_arg(cgroup));
    const Identity& r = *CGM_TRY(call.identity());
    // A list ("all" or "a,b") skips each hierarchy where the cgroup is missing or unreadable and
    // may so skip them all (0.42's rule: pam_cgm asks this of a session it has just removed). A
    // single controller names the one hierarchy the caller means: missing there is an error.
    const bool list = controller == "all" || controller.find(',') != std::string_view::npos;
    std::vector<int32_t> all;
    std::optional<Error> skipped;
    size_t done = 0;
    for (const Hierarchy* h : hs) {
        auto target = CGM_TRY(in_hierarchy(*h, call.read_target(*h, arg)));
        auto collect = [&]() -> Result<void> {
            auto dir = CGM_TRY(cgfs::open_cgroup(h->root.get(), target));
            CGM_TRY(require_access(r, dir.get(), Access::Read, "cgroup " + target.absolute()));
            size_t budget = limits::kMaxWalkCgroups;
            return visit_tree(*h->backend, dir.get(), target, budget, true,
                              [&](int fd, const CgroupPath&) -> Result<void> {
                                  auto pids = h->backend->read_tasks(fd);
                                  if (pids)
                                      all.insert(all.end(), pids->begin(), pids->end());
                                  return ok();
                              });
        };
        auto res = collect();
        if (!res) {
            // A hierarchy where the cgroup is missing or unreadable is skipped (as 0.42 did).
            Error e = in_hierarchy(*h, std::move(res).error());
            if (e.kind != ErrorKind::NotFound && e.kind != ErrorKind::AccessDenied)
                return e;
            if (!skipped)
                skipped = std::move(e);
            continue;
        }
        ++done;
    }
    if (done == 0 && skipped && !list)
        return std::move(*skipped);
    std::sort(all.begin(), all.end());
    all.erase(std::unique(all.begin(), all.end()), all.end());
    return all;
}

Result<std::vector<std::string>> Operations::list_children(const Caller& c, std::string_view controller,
                                                           std::string_view cgroup) const {
    Call call(*this, c);
    const Hierarchy* h = CGM_TRY(table_.resolve_one(controller));
    auto arg = CGM_TRY(parse_cgroup_arg(cgroup));
    const Identity& r = *CGM_TRY(call.identity());
    auto run = [&]() -> Result<std::vector<std::string>> {
        auto target = CGM_TRY(call.read_target(*h, arg));
        auto dir = CGM_TRY(cgfs::open_cgroup(h->root.get(), target));
        CGM_TRY(require_access(r, dir.get(), Access::Read, "cgroup " + target.absolute()));
        auto names = CGM_TRY(cgfs::child_dirs(dir.get()));
        names.erase(std::remove_if(names.begin(), names.end(),
                                   [&](const std::string& n) { return h->backend->is_hidden_child(n); }),
                    names.end());
        return names;
    };
    return in_hierarchy(*h, run());
}

Result<void> Operations::remove_on_empty(const Caller& c, std::string_view controller, std::string_view cgroup) const {
    Call call(*this, c);
    auto hs = CGM_TRY(table_.resolve(controller));
    auto arg = CGM_TRY(parse_cgroup_arg(cgroup));
    const Identity& r = *CGM_TRY(call.identity());
    struct Planned {
        const Hierarchy* h;
        UniqueFd fd;
        CgroupPath path;
    };
    auto planned = CGM_TRY(plan_each<Planned>(hs, [&](const Hierarchy& h) -> Result<Planned> {
        auto path = CGM_TRY(call.requestor_cgroup(h)).join(arg.path);
        if (path.empty()) {  // a hierarchy root is never removed: nothing to watch
            auto fd = CGM_TRY(cgfs::open_cgroup(h.root.get(), path));
            CGM_TRY(require_access(r, fd.get(), Access::Write, "cgroup " + path.absolute()));
            return Planned{&h, std::move(fd), std::move(path)};
        }
        // Write access on the cgroup (as 0.42), and on the directory it is in: what it asks for is
        // an rmdir, which the kernel's rule allows only to those who may write there.
        auto [parent, fd] = CGM_TRY(open_in_parent(h, path));
        CGM_TRY(require_access(r, fd.get(), Access::Write, "cgroup " + path.absolute()));
        auto parent_attrs = CGM_TRY(cgfs::attrs(parent.get()));
        if (!may_access(r, parent_attrs, Access::Write))
            return may_not_remove(r, path, path.parent(), parent_attrs);
        return Planned{&h, std::move(fd), std::move(path)};
    }));
    for (auto& p : planned) {
        if (p.path.empty())
            continue;  // a hierarchy root is never removed: nothing to watch
        CGM_TRY(in_hierarchy(*p.h, mark_or_watch(*p.h, p.fd.get(), p.path)));
    }
    return ok();
}

Result<void> Operations::mark_or_watch(const Hierarchy& h, int dir_fd, const CgroupPath& path) const {
    if (CGM_TRY(h.backend->mark_remove_on_empty(h, dir_fd)))
        return ok();  // the kernel's release agent will do it
    auto st = CGM_TRY(sys::fstat(dir_fd));
    return watcher_.watch(h, path, st.st_ino);
}

Result<void> Operations::prune(const Caller& c, std::string_view controller, std::string_view cgroup) const {
    Call call(*this, c);
    auto hs = CGM_TRY(table_.resolve(controller));
    auto arg = CGM_TRY(parse_cgroup_arg(cgroup));
    const Identity& r = *CGM_TRY(call.identity());
    std::optional<Error> first;
    size_t done = 0;
    for (const Hierarchy* h : hs) {
        auto run = [&]() -> Result<void> {
            auto path = CGM_TRY(call.requestor_cgroup(*h)).join(arg.path);
            // Bottom-up: remove what is empty now; what is still busy (tasks, or a child that
            // stays) is marked to go when it empties. Only what survives is watched. The call
            // needs write access on the target (as 0.42); each cgroup it removes or marks, write
            // access on the directory that cgroup is in (the kernel's rule for rmdir).
            PruneHooks hooks{[&](int dir_fd, const CgroupPath& at) { (void)mark_or_watch(*h, dir_fd, at); },
                             [&](const CgroupPath& at) {
                                 if (config_.quota)
                                     config_.quota->forget(h->display, at.absolute());
                             }};
            size_t budget = limits::kMaxWalkCgroups;
            if (path.empty()) {  // the root itself stays: its children are pruned
                auto root = CGM_TRY(cgfs::open_cgroup(h->root.get(), path));
                CGM_TRY(require_access(r, root.get(), Access::Write, "cgroup " + path.absolute()));
                const bool writable = may_access(r, CGM_TRY(cgfs::attrs(root.get())), Access::Write);
                for (const auto& name : CGM_TRY(cgfs::child_dirs(root.get()))) {
                    if (h->backend->is_hidden_child(name))
                        continue;
                    auto child = open_child_dir(root.get(), name);
                    if (child)
                        CGM_TRY(prune_tree(*h->backend, r, root.get(), child->get(), path.child(name), writable, hooks,
                                           budget));
                }
                return ok();
            }
            auto [parent, fd] = CGM_TRY(open_in_parent(*h, path));
            CGM_TRY(require_access(r, fd.get(), Access::Write, "cgroup " + path.absolute()));
            const bool removable = may_access(r, CGM_TRY(cgfs::attrs(parent.get())), Access::Write);
            CGM_TRY(prune_tree(*h->backend, r, parent.get(), fd.get(), path, removable, hooks, budget));
            return ok();
        };
        auto res = run();
        if (!res) {
            Error e = in_hierarchy(*h, std::move(res).error());
            // In a list, a hierarchy without the cgroup is passed over (as 0.42 did).
            if (hs.size() > 1 && e.kind == ErrorKind::NotFound) {
                ++done;
                continue;
            }
            if (!first)
                first = std::move(e);
            continue;
        }
        ++done;
    }
    if (done == 0 && first)
        return std::move(*first);
    return ok();
}

Result<std::vector<std::string>> Operations::list_controllers() const {
    return table_.controller_names();
}

Result<std::vector<KeyInfo>> Operations::list_keys(const Caller& c, std::string_view controller,
                                                   std::string_view cgroup) const {
    Call call(*this, c);
    const Hierarchy* h = CGM_TRY(table_.resolve_one(controller));
    auto arg = CGM_TRY(parse_cgroup_arg(cgroup));
    const Identity& r = *CGM_TRY(call.identity());
    auto run = [&]() -> Result<std::vector<KeyInfo>> {
        auto target = CGM_TRY(call.read_target(*h, arg));
        auto dir = CGM_TRY(cgfs::open_cgroup(h->root.get(), target));
        CGM_TRY(require_access(r, dir.get(), Access::Read, "cgroup " + target.absolute()));
        // Owners are shown as the requestor's user namespace sees them; without readable maps,
        // untranslated (docs/dbus-api.md, ListKeys).
        auto uid_map = proc_.uid_map(r.cred.pid);
        auto gid_map = proc_.gid_map(r.cred.pid);
        auto translate = [](const Result<IdMap>& map, uint32_t id) -> uint32_t {
            if (!map)
                return id;
            return map->to_ns(id).value_or(0xffffffffU);
        };
        std::vector<KeyInfo> keys;
        for (const auto& name : CGM_TRY(cgfs::files(dir.get()))) {
            KeyInfo k;
            k.name = name;
            auto st = sys::lstatat(dir.get(), name);
            if (st) {
                k.uid = translate(uid_map, st->st_uid);
                k.gid = translate(gid_map, st->st_gid);
                k.perms = st->st_mode;
            } else {
                k.uid = k.gid = 0xffffffffU;
            }
            keys.push_back(std::move(k));
        }
        return keys;
    };
    return in_hierarchy(*h, run());
}

}  // namespace cgm
