// SPDX-License-Identifier: Apache-2.0
//
// The cgroup v1 ("legacy") and unified (v2) drivers.
#include "core/backend.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <mutex>
#include <optional>

#include "core/cgroupfs.h"
#include "core/limits.h"
#include "core/proc_parse.h"
#include "core/safe_walk.h"

namespace cgm {

namespace {

Result<std::vector<pid_t>> read_pid_file(int dir_fd, std::string_view name) {
    auto text = CGM_TRY(cgfs::read_file(dir_fd, name, limits::kMaxTasksFileBytes));
    return cgfs::parse_pids(text);
}

void sort_unique(std::vector<pid_t>& v) {
    std::sort(v.begin(), v.end());
    v.erase(std::unique(v.begin(), v.end()), v.end());
}

// The space-separated words of a cgroup v2 list file (cgroup.controllers, cgroup.subtree_control).
Result<std::vector<std::string>> read_words(int dir_fd, std::string_view name) {
    auto text = CGM_TRY(cgfs::read_file(dir_fd, name, limits::kMaxReadBytes));
    std::vector<std::string> out;
    for (auto& w : split(trim(text), ' '))
        if (!w.empty())
            out.push_back(std::move(w));
    return out;
}

bool contains(const std::vector<std::string>& v, std::string_view s) {
    return std::find(v.begin(), v.end(), s) != v.end();
}

// ---------------------------------------------------------------------------------------------
// cgroup v1

class LegacyBackend final : public CgroupBackend {
public:
    Result<void> init_new_cgroup(const Hierarchy& h, int parent_fd, int new_fd) const override {
        if (!h.has_controller("cpuset"))
            return ok();
        // A new cpuset cgroup starts with no cpus and no mems unless the parent has
        // cgroup.clone_children set; tasks cannot join it then. Copy the parent's sets instead of
        // setting clone_children on a hierarchy root that is not ours.
        for (std::string_view key : {"cpuset.cpus", "cpuset.mems"}) {
            auto mine = CGM_TRY(cgfs::read_file(new_fd, key, limits::kMaxReadBytes));
            if (!trim(mine).empty())
                continue;
            auto parents = CGM_TRY(cgfs::read_file(parent_fd, key, limits::kMaxReadBytes));
            if (trim(parents).empty())
                continue;
            CGM_TRY(cgfs::write_file(new_fd, key, parents));
        }
        return ok();
    }

    Result<std::vector<std::string>> controllers_to_enable(int, const ControllerWish&) const override {
        return std::vector<std::string>();
    }

    Result<void> enable_controller(int, std::string_view, bool) const override { return ok(); }

    std::vector<std::string> delegated_files() const override { return {"tasks", "cgroup.procs"}; }

    std::string_view undelegated_file() const override { return "notify_on_release"; }

    Result<void> chown_extra(int, uid_t, gid_t) const override { return ok(); }

    Result<PidTarget> pid_target(int) const override { return PidTarget{"tasks", "tasks"}; }

    Result<UniqueFd> open_pid_dir(int dir_fd) const override { return sys::dup(dir_fd); }

    Result<std::vector<pid_t>> read_tasks(int dir_fd) const override {
        auto pids = CGM_TRY(read_pid_file(dir_fd, "tasks"));
        sort_unique(pids);
        return pids;
    }

    Result<std::vector<pid_t>> read_threads(int dir_fd) const override { return read_tasks(dir_fd); }

    Result<std::optional<v1compat::KeyMap>> map_key(std::string_view) const override {
        return std::optional<v1compat::KeyMap>();
    }

    bool is_hidden_child(std::string_view) const override { return false; }

    Result<void> before_remove(int) const override { return ok(); }

    Error explain_write_error(Error e, std::string_view) const override { return e; }

    Result<void> after_chmod(int, std::string_view, mode_t) const override { return ok(); }

    Result<bool> mark_remove_on_empty(const Hierarchy& h, int dir_fd) const override {
        if (!h.agent_installed)
            return false;
        CGM_TRY(cgfs::write_file(dir_fd, "notify_on_release", "1\n"));
        return true;
    }
};

// ---------------------------------------------------------------------------------------------
// cgroup v2: processes live in a hidden leaf child ".cgm_leaf" of the cgroup they were moved to,
// so that every cgroup we manage can also enable controllers for its children (docs/dbus-api.md, MovePid).

const std::vector<std::string> kFallbackDelegate = {"cgroup.procs", "cgroup.threads", "cgroup.subtree_control"};

std::mutex g_delegate_mutex;
std::vector<std::string> g_delegate = kFallbackDelegate;

class UnifiedBackend final : public CgroupBackend {
public:
    Result<void> init_new_cgroup(const Hierarchy&, int parent_fd, int new_fd) const override {
        std::string request;
        for (const auto& c : CGM_TRY(read_words(parent_fd, "cgroup.subtree_control"))) {
            if (!request.empty())
                request += ' ';
            request += "+" + c;
        }
        if (request.empty())
            return ok();
        auto w = cgfs::write_file(new_fd, "cgroup.subtree_control", request);
        if (!w)
            return with_v2_rule(std::move(w).error(), "cgroup.subtree_control");
        return ok();
    }

    Result<std::vector<std::string>> controllers_to_enable(int dir_fd, const ControllerWish& wish) const override {
        auto available = CGM_TRY(read_words(dir_fd, "cgroup.controllers"));
        auto enabled = CGM_TRY(read_words(dir_fd, "cgroup.subtree_control"));
        std::vector<std::string> out;
        const auto& wanted = wish.all ? available : wish.names;
        for (const auto& c : wanted) {
            if (contains(enabled, c) || contains(out, c))
                continue;
            if (!contains(available, c)) {
                if (CGM_TRY(is_root(dir_fd)))
                    return make_error(ErrorKind::NotSupported,
                                      "the kernel offers no {} controller on cgroup2 here (it is bound to a v1 "
                                      "hierarchy, disabled at boot, or not built)",
                                      c);
                return make_error(
                    ErrorKind::NotSupported,
                    "controller {} is not available here (its cgroup.controllers: {}): cgroup v2 offers "
                    "a cgroup only the controllers its parent enables for its children",
                    c, available.empty() ? std::string("none") : fmt::format("{}", fmt::join(available, " ")));
            }
            out.push_back(c);
        }
        // Not in a cgroup that holds processes (the root cgroup aside): the kernel refuses domain
        // controllers there, and takes threaded ones only by making the cgroup a threaded root,
        // whose domain children can then enable nothing.
        if (!out.empty() && !CGM_TRY(is_root(dir_fd))) {
            auto procs = CGM_TRY(cgfs::read_file(dir_fd, "cgroup.procs", limits::kMaxTasksFileBytes));
            if (!trim(procs).empty()) {
                if (wish.all)
                    return std::vector<std::string>();  // nothing can be enabled here
                return with_v2_rule(
                    Error(ErrorKind::Failed,
                          fmt::format("cannot enable {} for its children: it holds processes", fmt::join(out, ", ")),
                          EBUSY),
                    "cgroup.subtree_control");
            }
        }
        return out;
    }

    Result<void> enable_controller(int dir_fd, std::string_view name, bool on) const override {
        auto w = cgfs::write_file(dir_fd, "cgroup.subtree_control", fmt::format("{}{}", on ? '+' : '-', name));
        if (!w)
            return with_v2_rule(std::move(w).error(), "cgroup.subtree_control")
                .with_context(fmt::format("{} {} for its children", on ? "enabling" : "disabling", name));
        return ok();
    }

    std::vector<std::string> delegated_files() const override {
        std::lock_guard lock(g_delegate_mutex);
        return g_delegate;
    }

    std::string_view undelegated_file() const override { return "cgroup.type"; }

    Result<void> chown_extra(int dir_fd, uid_t uid, gid_t gid) const override {
        auto leaf = CGM_TRY(open_leaf(dir_fd));
        if (!leaf)
            return ok();
        CGM_TRY(cgfs::chown_fd(leaf->get(), uid, gid));
        return chown_files(leaf->get(), uid, gid);
    }

    Result<PidTarget> pid_target(int dir_fd) const override {
        // A leaf that is not ours refuses the move here, while MovePid is still checking, before it
        // moves the process in any hierarchy.
        if (!CGM_TRY(is_root(dir_fd)))
            CGM_TRY(open_leaf(dir_fd));
        return PidTarget{"cgroup.procs", "cgroup.procs"};
    }

    Result<UniqueFd> open_pid_dir(int dir_fd) const override {
        // The root cgroup holds processes beside children that enable controllers: no leaf there.
        if (CGM_TRY(is_root(dir_fd)))
            return sys::dup(dir_fd);
        auto leaf = CGM_TRY(open_leaf(dir_fd));
        if (leaf)
            return std::move(*leaf);
        // Made with the ids of the cgroup's owner, so that it is theirs from the start, then
        // opened through the cgroup's fd and checked like any leaf found there.
        auto dir = CGM_TRY(cgfs::attrs(dir_fd));
        bool made = CGM_TRY(cgfs::mkdir_child_as(dir_fd, kLeafName, 0755, dir.uid, dir.gid));
        leaf = CGM_TRY(open_leaf(dir_fd));
        if (!leaf)
            return make_error(ErrorKind::Failed, "the hidden leaf {} vanished as it was made", kLeafName);
        if (made)
            CGM_TRY(copy_modes(dir_fd, dir, leaf->get()));
        return std::move(*leaf);
    }

    Result<std::vector<pid_t>> read_tasks(int dir_fd) const override { return read_members(dir_fd, "cgroup.procs"); }

    Result<std::vector<pid_t>> read_threads(int dir_fd) const override {
        return read_members(dir_fd, "cgroup.threads");
    }

    Result<std::optional<v1compat::KeyMap>> map_key(std::string_view key) const override {
        return v1compat::map_key(key);
    }

    bool is_hidden_child(std::string_view name) const override { return name == kLeafName; }

    Result<void> before_remove(int dir_fd) const override {
        auto leaf = CGM_TRY(open_leaf(dir_fd));
        if (!leaf)
            return ok();
        return cgfs::rmdir_child_if(dir_fd, kLeafName, CGM_TRY(sys::fstat(leaf->get())));
    }

    Error explain_write_error(Error e, std::string_view file) const override {
        return with_v2_rule(std::move(e), file);
    }

    Result<void> after_chmod(int dir_fd, std::string_view file, mode_t mode) const override {
        auto leaf = open_leaf(dir_fd);
        if (!leaf)
            return is_foreign(leaf.error()) ? ok() : Result<void>(std::move(leaf).error());  // not ours: left alone
        if (!*leaf)
            return ok();
        const int leaf_fd = (*leaf)->get();
        if (file.empty())
            return cgfs::chmod_fd(leaf_fd, mode);
        auto f = CGM_TRY(cgfs::open_file(leaf_fd, file));
        if (!f)
            return ok();  // a file the leaf does not have
        return cgfs::chmod_fd(f->get(), mode);
    }

    Result<bool> mark_remove_on_empty(const Hierarchy&, int) const override { return false; }

private:
    // The ids in `file` (cgroup.procs, cgroup.threads) of the cgroup and of its leaf.
    static Result<std::vector<pid_t>> read_members(int dir_fd, std::string_view file) {
        auto ids = CGM_TRY(read_pid_file(dir_fd, file));
        if (auto leaf = CGM_TRY(open_leaf(dir_fd))) {
            auto more = CGM_TRY(read_pid_file(leaf->get(), file));
            ids.insert(ids.end(), more.begin(), more.end());
        }
        sort_unique(ids);
        return ids;
    }

    // The root cgroup (of the system, not of a cgroup namespace) is the one without cgroup.type.
    static Result<bool> is_root(int dir_fd) { return !CGM_TRY(cgfs::open_file(dir_fd, "cgroup.type")); }

    Result<void> chown_files(int dir_fd, uid_t uid, gid_t gid) const {
        for (const auto& name : delegated_files())
            CGM_TRY(cgfs::chown_file(dir_fd, name, uid, gid));
        return ok();
    }

    // The hidden leaf of the cgroup open at dir_fd, opened through that fd, if there is one. It is
    // ours only if it is a directory owned exactly like the cgroup (uid and gid): the daemon makes
    // it so, and Chown keeps it so. Anything else of that name (a directory someone else made
    // there or put there) is refused by name, EPERM, and never written, chowned or moved into.
    static Result<std::optional<UniqueFd>> open_leaf(int dir_fd) {
        auto fd = open_beneath(dir_fd, std::string(kLeafName), O_PATH | O_NOFOLLOW);
        if (!fd) {
            if (fd.error().sys_errno == ENOENT)
                return std::optional<UniqueFd>();
            return std::move(fd).error().with_context(std::string(kLeafName));
        }
        auto leaf = CGM_TRY(sys::fstat(fd->get()));
        auto dir = CGM_TRY(sys::fstat(dir_fd));
        if (!S_ISDIR(leaf.st_mode) || leaf.st_uid != dir.st_uid || leaf.st_gid != dir.st_gid)
            return Error(ErrorKind::Failed,
                         fmt::format("the hidden leaf {} is not cgmanager's: it is owned by {}:{}, its cgroup by {}:{} "
                                     "(it was replaced, or the cgroup was chowned without cgmanager); it is left alone",
                                     kLeafName, leaf.st_uid, leaf.st_gid, dir.st_uid, dir.st_gid),
                         EPERM);
        return std::optional<UniqueFd>(std::move(fd).value());
    }

    static bool is_foreign(const Error& e) { return e.kind == ErrorKind::Failed && e.sys_errno == EPERM; }

    // A leaf just made: it takes the cgroup's mode, and each of its files the owner and mode of the
    // cgroup's file of the same name (the kernel gave them all the cgroup's owner).
    static Result<void> copy_modes(int dir_fd, const FileAttrs& dir, int leaf_fd) {
        CGM_TRY(cgfs::chmod_fd(leaf_fd, dir.mode & 07777));
        for (const auto& name : CGM_TRY(cgfs::files(leaf_fd))) {
            auto theirs = cgfs::attrs_at(dir_fd, name);
            if (!theirs)
                continue;  // a file only the leaf has
            auto f = CGM_TRY(cgfs::open_file(leaf_fd, name));
            if (!f)
                continue;
            auto mine = CGM_TRY(cgfs::attrs(f->get()));
            if (mine.uid != theirs->uid || mine.gid != theirs->gid)
                CGM_TRY(cgfs::chown_fd(f->get(), theirs->uid, theirs->gid));
            if ((mine.mode & 07777) != (theirs->mode & 07777))
                CGM_TRY(cgfs::chmod_fd(f->get(), theirs->mode & 07777));
        }
        return ok();
    }
};

}  // namespace

Result<CgroupPath> CgroupBackend::process_cgroup(const Hierarchy& h, const std::vector<ProcCgroupLine>& lines) const {
    const ProcCgroupLine* line = h.find_line(lines);
    if (!line)
        return make_error(ErrorKind::NotFound, "the process has no cgroup in hierarchy {}", h.display);
    auto path = CGM_TRY(CgroupPath::from_kernel(line->path));
    if (h.is_unified() && path.name() == kLeafName)
        path = path.parent();
    return path;
}

Error with_v2_rule(Error e, std::string_view file) {
    const bool subtree = file == "cgroup.subtree_control";
    const bool procs = file == "cgroup.procs" || file == "cgroup.threads";
    const bool type = file == "cgroup.type";
    std::string_view rule;
    switch (e.sys_errno) {
    case EBUSY:
        if (subtree)
            rule =
                "cgroup v2 lets a cgroup enable controllers for its children only while it holds no processes "
                "itself, and disable one only while no child enables it further (the no-internal-processes "
                "rule: move its processes into a child cgroup first)";
        else if (procs)
            rule =
                "cgroup v2 puts no processes into a cgroup that enables controllers for its children (the "
                "no-internal-processes rule)";
        break;
    case EOPNOTSUPP:
        if (subtree)
            rule =
                "cgroup v2 enables no domain controller inside a threaded subtree, and nothing in a cgroup "
                "whose parent holds processes and enables threaded controllers (an invalid domain)";
        else if (procs)
            rule = "a threaded cgroup takes threads (cgroup.threads), not whole processes";
        else if (type)
            rule =
                "a cgroup becomes threaded only below a valid domain or threaded cgroup, and only while it "
                "enables no domain controller";
        break;
    case EINVAL:
        if (type)
            rule = "cgroup.type can only be set to \"threaded\"";
        else if (file == "cgroup.threads")
            rule = "a thread can move only within its process's threaded subtree";
        break;
    case ENOENT:
        if (subtree)
            rule = "a cgroup can enable only the controllers its parent enables for it (its cgroup.controllers)";
        break;
    default: break;
    }
    if (!rule.empty())
        e.message = fmt::format("{} ({})", e.message, rule);
    return e;
}

const CgroupBackend& legacy_backend() {
    static const LegacyBackend b;
    return b;
}

const CgroupBackend& unified_backend() {
    static const UnifiedBackend b;
    return b;
}

void set_unified_delegate_files(std::string_view delegate_text) {
    std::vector<std::string> files;
    for (auto& line : split(delegate_text, '\n'))
        if (!trim(line).empty())
            files.emplace_back(trim(line));
    std::lock_guard lock(g_delegate_mutex);
    g_delegate = files.empty() ? kFallbackDelegate : files;
}

}  // namespace cgm
