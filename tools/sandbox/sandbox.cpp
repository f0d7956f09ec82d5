// SPDX-License-Identifier: Apache-2.0
#include "sandbox.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <set>
#include <thread>
#include <tuple>

#include "core/cgroup_path.h"
#include "core/limits.h"
#include "core/proc_parse.h"
#include "core/sys.h"

namespace cgm::sandbox {

namespace {

constexpr const char* kCgroupRoot = "/sys/fs/cgroup";

template <typename... Args>
void complain(fmt::format_string<Args...> f, Args&&... args) {
    std::string msg = fmt::format(f, std::forward<Args>(args)...);
    std::fprintf(stderr, "cgm-sandbox: %s\n", msg.c_str());
}

bool g_verbose = false;

template <typename... Args>
void step(fmt::format_string<Args...> f, Args&&... args) {
    if (g_verbose)
        complain(f, std::forward<Args>(args)...);
}

// One host hierarchy, as the runner sees it.
struct HostHierarchy {
    bool unified = false;
    std::string label;          // "memory", "cpu,cpuacct", "name=systemd", "cgroup2"
    std::string mount_data;     // v1 mount(2) data (controller tokens only)
    std::string mount_point;    // where the host has it mounted (first mount)
    std::string own_path;       // our cgroup in it, from /proc/self/cgroup
    std::string current;        // host directory of our cgroup
    std::string dir;            // current + "/" + sandbox name
    std::set<std::string> key;  // v1: the controller set; v2: {"0::"}
    bool leaf = false;          // cgroup2 offers the sandbox controllers: its processes live in dir/.cgm_leaf
};

bool is_line_of(const HostHierarchy& h, const ProcCgroupLine& l) {
    if (h.unified)
        return l.hierarchy_id == 0 && l.controllers.empty();
    return l.hierarchy_id != 0 && std::set<std::string>(l.controllers.begin(), l.controllers.end()) == h.key;
}

struct Host {
    std::vector<HostHierarchy> hierarchies;
    std::vector<std::string> cgroup_mounts;  // every cgroup/cgroup2 mount point, mountinfo order
    bool tmpfs_at_root = false;              // /sys/fs/cgroup is a tmpfs
    std::string self_cgroup;                 // text of /proc/self/cgroup
};

std::set<std::string> to_set(const std::vector<std::string>& v) {
    return {v.begin(), v.end()};
}

bool path_under(const std::string& path, const std::string& root) {
    if (root == "/")
        return true;
    return path == root ||
           (path.size() > root.size() && path.compare(0, root.size(), root) == 0 && path[root.size()] == '/');
}

Result<Host> discover(const std::string& name) {
    Host host;
    host.self_cgroup = CGM_TRY(sys::read_file("/proc/self/cgroup", limits::kMaxProcFileBytes));
    auto lines = CGM_TRY(parse_proc_cgroup(host.self_cgroup));
    auto mounts = CGM_TRY(parse_mountinfo(CGM_TRY(sys::read_file("/proc/self/mountinfo", limits::kMaxProcFileBytes))));
    auto subsys = CGM_TRY(parse_proc_cgroups(CGM_TRY(sys::read_file("/proc/cgroups", limits::kMaxProcFileBytes))));
    std::set<std::string> kernel;
    for (const auto& s : subsys)
        kernel.insert(s.name);

    std::set<std::set<std::string>> seen;
    bool have_v2 = false;
    for (const auto& m : mounts) {
        if (m.fstype == "tmpfs" && m.mount_point == kCgroupRoot)
            host.tmpfs_at_root = true;
        if (m.fstype != "cgroup" && m.fstype != "cgroup2")
            continue;
        host.cgroup_mounts.push_back(m.mount_point);
        HostHierarchy h;
        h.unified = m.fstype == "cgroup2";
        std::vector<std::string> ctrls;
        if (!h.unified)
            for (auto& t : split(m.super_options, ','))
                if (kernel.count(t) || t.rfind("name=", 0) == 0)
                    ctrls.push_back(t);
        std::set<std::string> key = h.unified ? std::set<std::string>{"0::"} : to_set(ctrls);
        if (!h.unified && ctrls.empty())
            continue;
        if (!seen.insert(key).second)
            continue;  // another mount of a hierarchy we already have
        have_v2 = have_v2 || h.unified;
        h.key = key;
        const ProcCgroupLine* line = nullptr;
        for (const auto& l : lines)
            if (is_line_of(h, l))
                line = &l;
        h.label = h.unified ? "cgroup2" : fmt::format("{}", fmt::join(ctrls, ","));
        if (!line)
            return make_error(ErrorKind::Failed, "hierarchy {} mounted at {} has no line in /proc/self/cgroup", h.label,
                              m.mount_point);
        h.mount_data = fmt::format("{}", fmt::join(ctrls, ","));
        h.mount_point = m.mount_point;
        h.own_path = line->path;
        if (!path_under(line->path, m.root))
            return make_error(ErrorKind::Failed,
                              "our cgroup {} in {} is not visible through its mount at {} (mount root {}); refusing",
                              line->path, h.label, m.mount_point, m.root);
        std::string rel = m.root == "/" ? line->path : line->path.substr(m.root.size());
        h.current = m.mount_point + (rel == "/" ? "" : rel);
        h.dir = h.current + "/" + name;
        struct stat st {};
        if (::stat(h.current.c_str(), &st) < 0 || !S_ISDIR(st.st_mode))
            return make_error(ErrorKind::Failed, "our cgroup directory {} in {} does not exist; refusing", h.current,
                              h.label);
        struct statfs sfs {};
        constexpr long kCgroupMagic = 0x27e0eb, kCgroup2Magic = 0x63677270;
        if (::statfs(h.current.c_str(), &sfs) < 0 ||
            sfs.f_type != static_cast<decltype(sfs.f_type)>(h.unified ? kCgroup2Magic : kCgroupMagic))
            return make_error(ErrorKind::Failed, "{} is not on a {} filesystem; refusing", h.current,
                              h.unified ? "cgroup2" : "cgroup");
        host.hierarchies.push_back(std::move(h));
    }
    for (const auto& l : lines) {
        if (l.hierarchy_id == 0)
            continue;
        if (!seen.count(to_set(l.controllers)))
            return make_error(ErrorKind::Failed,
                              "this process is in hierarchy {} ({}), which is not mounted here, so it cannot be "
                              "sandboxed; refusing",
                              l.hierarchy_id, fmt::join(l.controllers, ","));
    }
    bool unified_line = std::any_of(lines.begin(), lines.end(), [](const ProcCgroupLine& l) {
        return l.hierarchy_id == 0 && l.controllers.empty();
    });
    if (!have_v2 && unified_line)
        return make_error(ErrorKind::Failed,
                          "cgroup2 is not mounted, so the unified hierarchy cannot be sandboxed (anything inside "
                          "could mount it rooted at this process's cgroup); mount cgroup2 first; refusing");
    if (host.hierarchies.empty())
        return make_error(ErrorKind::Failed, "no cgroup hierarchy is mounted");
    return host;
}

// ---------------------------------------------------------------------------------------------
// What the sandbox's commands could reach of the host: nothing but the sandbox cgroups (removed and
// checked by cleanup) and, in principle, the cgroup each sandbox was made in. So that is what is
// checked: that cgroup's directory and files keep their owners and modes. Its other children (other
// software's cgroups, other sandboxes) are out of every command's reach and come, go and change
// as they like on a busy host without failing a run.

using Snapshot = std::map<std::string, std::tuple<uid_t, gid_t, mode_t>>;

Snapshot snapshot(const Host& host) {
    Snapshot s;
    for (const auto& h : host.hierarchies) {
        struct stat st {};
        if (::lstat(h.current.c_str(), &st) == 0)
            s[h.current] = {st.st_uid, st.st_gid, st.st_mode};
        DIR* d = ::opendir(h.current.c_str());
        if (!d)
            continue;  // compared by absence
        while (struct dirent* e = ::readdir(d)) {
            if (e->d_type != DT_REG)
                continue;  // child cgroups are not the sandbox's to check
            const std::string p = h.current + "/" + e->d_name;
            if (::lstat(p.c_str(), &st) == 0)
                s[p] = {st.st_uid, st.st_gid, st.st_mode};
        }
        ::closedir(d);
    }
    return s;
}

// Whether the cgroups the sandboxes were made in kept their owners and modes. A file that
// appeared or went (cgroup v2: a controller enabled or disabled by the parent, other software's
// doing) is only noted.
bool same_tree(const Snapshot& before, const Snapshot& after) {
    bool same = true;
    for (const auto& [k, v] : before) {
        auto it = after.find(k);
        if (it == after.end())
            step("{} went away during the run (not ours)", k);
        else if (it->second != v) {
            complain("{} (the sandbox was made there) changed owner or mode during the run", k);
            same = false;
        }
    }
    for (const auto& [k, v] : after)
        if (!before.count(k))
            step("{} appeared during the run (not ours)", k);
    return same;
}

// ---------------------------------------------------------------------------------------------
// Creating and removing the sandbox cgroups (in the host's view).

Result<void> create_sandbox_cgroups(Host& host, std::vector<std::string>& made) {
    for (auto& h : host.hierarchies) {
        if (::mkdir(h.dir.c_str(), 0755) < 0) {
            if (errno == EEXIST)
                return make_error(ErrorKind::Failed, "{} already exists (left over from an earlier run?); refusing",
                                  h.dir);
            return errno_error(errno, "mkdir {}", h.dir);
        }
        made.push_back(h.dir);
        step("created {}", h.dir);
        if (!h.unified && h.key.count("cpuset")) {
            // A fresh cpuset cgroup has no cpus or mems; give it its parent's so tasks can join.
            // (cgroup.clone_children stays off: cgroups made inside start empty, as on a host.)
            for (const char* key : {"cpuset.cpus", "cpuset.mems"}) {
                auto v = CGM_TRY(sys::read_file(h.current + "/" + key, 4096));
                CGM_TRY(sys::write_file(h.dir + "/" + key, v));
            }
        }
        if (h.unified && !trim(CGM_TRY(sys::read_file(h.dir + "/cgroup.controllers", 4096))).empty()) {
            // cgroup v2 lets a cgroup that holds processes (the root aside) enable no controller
            // for its children. So that cgroups made inside can have controllers, the sandbox's
            // processes live where the daemon puts a process moved to a cgroup with children: in
            // its hidden leaf (removed with the rest by cleanup).
            std::string leaf = h.dir + "/" + std::string(kLeafName);
            if (::mkdir(leaf.c_str(), 0755) < 0)
                return errno_error(errno, "mkdir {}", leaf);
            h.leaf = true;
            step("created {}", leaf);
        }
    }
    return ok();
}

// The cgroup a sandboxed process reads for hierarchy h in /proc/self/cgroup ("/" or "/.cgm_leaf").
std::string inside_path(bool leaf) {
    return leaf ? "/" + std::string(kLeafName) : "/";
}

// The first child directory of a directory fd ("" if none).
std::string first_subdir(int dir_fd) {
    int fd = ::openat(dir_fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return "";
    DIR* d = ::fdopendir(fd);
    if (!d) {
        ::close(fd);
        return "";
    }
    std::string name;
    while (struct dirent* e = ::readdir(d))
        if (e->d_type == DT_DIR && std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) {
            name = e->d_name;
            break;
        }
    ::closedir(d);
    return name;
}

// Visit every directory below (and including) `top` through directory fds, so that no path is
// ever longer than one name: trees deeper than PATH_MAX are handled too. `visit` returns false
// to stop.
bool walk_fds(const std::string& top, const std::function<bool(int)>& visit) {
    int fd = ::open(top.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT;
    std::vector<UniqueFd> todo;
    todo.emplace_back(fd);
    while (!todo.empty()) {
        UniqueFd cur = std::move(todo.back());
        todo.pop_back();
        if (!visit(cur.get()))
            return false;
        int dup = ::openat(cur.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        DIR* d = dup < 0 ? nullptr : ::fdopendir(dup);
        if (!d) {
            if (dup >= 0)
                ::close(dup);
            continue;
        }
        while (struct dirent* e = ::readdir(d)) {
            if (e->d_type != DT_DIR || std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0)
                continue;
            int c = ::openat(cur.get(), e->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (c >= 0)
                todo.emplace_back(c);
        }
        ::closedir(d);
    }
    return true;
}

// Wait until no task is left anywhere below dir (the kernel frees them asynchronously).
bool wait_empty(const std::string& dir, std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
        bool empty = walk_fds(dir, [](int fd) {
            char c;
            int p = ::openat(fd, "cgroup.procs", O_RDONLY | O_CLOEXEC);
            if (p < 0)
                return true;
            bool none = ::read(p, &c, 1) <= 0;
            ::close(p);
            return none;
        });
        if (empty)
            return true;
        if (std::chrono::steady_clock::now() > deadline)
            return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

// rmdir a child of dir_fd, retrying while dying tasks still hold it.
bool rmdir_at(int dir_fd, const std::string& name, const std::string& what) {
    for (int attempt = 0;; ++attempt) {
        if (::unlinkat(dir_fd, name.c_str(), AT_REMOVEDIR) == 0 || errno == ENOENT)
            return true;
        if (errno != EBUSY || attempt == 200) {
            complain("cannot remove {}: {}", what, std::strerror(errno));
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

// Remove `top` and everything below it, deepest first, holding one directory fd per level (the
// fd limit is raised by run()); no path longer than one name is used.
bool remove_tree(const std::string& top) {
    struct Level {
        UniqueFd fd;
        std::string name;  // within the level above
    };
    int fd = ::open(top.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return errno == ENOENT;
    std::vector<Level> stack;
    stack.push_back({UniqueFd(fd), ""});
    while (stack.size() > 1 || !first_subdir(stack.back().fd.get()).empty()) {
        std::string child = first_subdir(stack.back().fd.get());
        if (!child.empty()) {
            int c = ::openat(stack.back().fd.get(), child.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
            if (c >= 0) {
                stack.push_back({UniqueFd(c), child});
                continue;
            }
            if (errno != ENOENT) {
                complain("cannot open {} below {} ({} levels down): {}", child, top, stack.size(),
                         std::strerror(errno));
                return false;
            }
            continue;
        }
        Level leaf = std::move(stack.back());
        stack.pop_back();
        leaf.fd.reset();
        if (!rmdir_at(stack.back().fd.get(), leaf.name,
                      fmt::format("{} below {} ({} levels down)", leaf.name, top, stack.size())))
            return false;
    }
    stack.clear();
    for (int attempt = 0;; ++attempt) {
        if (::rmdir(top.c_str()) == 0 || errno == ENOENT)
            return true;
        if (errno != EBUSY || attempt == 200) {
            complain("cannot remove {}: {}", top, std::strerror(errno));
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

bool cleanup(const std::vector<std::string>& made) {
    bool ok_all = true;
    for (auto it = made.rbegin(); it != made.rend(); ++it) {
        if (!wait_empty(*it, std::chrono::seconds(10))) {
            complain("tasks are still in {} after 10 s", *it);
            ok_all = false;
        }
        ok_all = remove_tree(*it) && ok_all;
        struct stat st {};
        if (::lstat(it->c_str(), &st) == 0) {
            complain("{} still exists after cleanup", *it);
            ok_all = false;
        } else {
            step("removed {}", *it);
        }
    }
    return ok_all;
}

// ---------------------------------------------------------------------------------------------
// Inside: the child (A) that joins the cgroups and unshares, and the init (B) of the new pid
// namespace that mounts and runs the command.

[[noreturn]] void die(const std::string& msg) {
    complain("{}", msg);
    _exit(kSandboxFailure);
}

Result<struct stat> ns_of(const char* path) {
    struct stat st {};
    if (::stat(path, &st) < 0)
        return errno_error(errno, "stat {}", path);
    return st;
}

volatile sig_atomic_t g_forward_to = 0;

void forward_signal(int sig) {
    if (g_forward_to > 0)
        ::kill(g_forward_to, sig);
}

int status_to_exit(int status) {
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return kSandboxFailure;
}

Result<void> mount_inside(const Host& host, const std::string& name) {
    if (::mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr) < 0)
        return errno_error(errno, "mount proc on /proc");
    // Hide every host view of a hierarchy (in this private namespace only), then mount fresh ones:
    // in our cgroup namespace they are rooted at the sandbox.
    for (auto it = host.cgroup_mounts.rbegin(); it != host.cgroup_mounts.rend(); ++it)
        (void)::umount2(it->c_str(), MNT_DETACH);
    if (host.tmpfs_at_root &&
        ::mount("cgroup", kCgroupRoot, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=1m") < 0)
        return errno_error(errno, "mount tmpfs on {}", kCgroupRoot);
    const std::string root_prefix = std::string(kCgroupRoot) + "/";
    for (const auto& h : host.hierarchies) {
        if (host.tmpfs_at_root && h.mount_point.rfind(root_prefix, 0) == 0)
            CGM_TRY(sys::mkdir(h.mount_point, 0755, true));  // inside our own tmpfs only
        int rc = h.unified
                     ? ::mount("cgroup2", h.mount_point.c_str(), "cgroup2", MS_NOSUID | MS_NODEV | MS_NOEXEC, nullptr)
                     : ::mount("cgroup", h.mount_point.c_str(), "cgroup", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                               h.mount_data.c_str());
        if (rc < 0)
            return errno_error(errno, "mount {} on {}", h.label, h.mount_point);
    }
    if (::mount("run", "/run", "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=64m") < 0)
        return errno_error(errno, "mount tmpfs on /run");
    // Check: every hierarchy's root is now the sandbox cgroup (our cgroup reads as "/").
    auto lines = CGM_TRY(parse_proc_cgroup(CGM_TRY(sys::read_file("/proc/self/cgroup", limits::kMaxProcFileBytes))));
    for (const auto& l : lines) {
        bool leaf = std::any_of(host.hierarchies.begin(), host.hierarchies.end(),
                                [&](const HostHierarchy& h) { return h.leaf && is_line_of(h, l); });
        if (l.path != inside_path(leaf))
            return make_error(ErrorKind::Failed,
                              "inside the sandbox {} the cgroup of hierarchy {} reads {} instead of {}", name,
                              l.hierarchy_id, l.path, inside_path(leaf));
    }
    return ok();
}

[[noreturn]] void run_init(const Host& host, const std::string& name, const Options& options, int parent_alive) {
    // B: pid 1 of the new pid namespace. Die with A; if A is already gone (its end of the pipe
    // closed before the death signal was armed), stop here.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    struct pollfd parent = {parent_alive, POLLIN, 0};
    if (::poll(&parent, 1, 0) > 0 && (parent.revents & (POLLHUP | POLLIN)))
        _exit(kSandboxFailure);
    ::close(parent_alive);
    auto mounted = mount_inside(host, name);
    if (!mounted)
        die("setting up mounts: " + mounted.error().message);
    struct stat cgns {};
    if (::stat("/proc/self/ns/cgroup", &cgns) < 0 || cgns.st_ino == kInitCgroupNsInode)
        die("not in a new cgroup namespace; refusing to run the command");
    ::setenv(kSandboxEnv, fmt::format("{}:{}", name, cgns.st_ino).c_str(), 1);
    pid_t cmd = ::fork();
    if (cmd < 0)
        die(std::string("fork: ") + std::strerror(errno));
    if (cmd == 0) {
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        std::vector<char*> argv;
        for (const auto& a : options.command)
            argv.push_back(const_cast<char*>(a.c_str()));
        argv.push_back(nullptr);
        ::execvp(argv[0], argv.data());
        complain("exec {}: {}", options.command[0], std::strerror(errno));
        _exit(127);
    }
    g_forward_to = cmd;
    struct sigaction sa {};
    sa.sa_handler = forward_signal;
    for (int sig : {SIGTERM, SIGINT, SIGHUP})
        ::sigaction(sig, &sa, nullptr);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    int result = kSandboxFailure;
    for (;;) {
        int status = 0;
        pid_t p = ::waitpid(-1, &status, 0);
        if (p < 0) {
            if (errno == EINTR)
                continue;
            break;  // no children left
        }
        if (p == cmd) {
            result = status_to_exit(status);
            break;  // exiting kills whatever the command left behind
        }
    }
    _exit(result);
}

[[noreturn]] void run_child(const Host& host, const std::string& name, const Options& options, int report_fd,
                            pid_t runner) {
    // A: join the sandbox cgroups, then unshare. Die with the runner (checked after arming it).
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != runner)
        _exit(kSandboxFailure);
    std::string self = fmt::format("{}\n", ::getpid());
    for (const auto& h : host.hierarchies) {
        auto w = sys::write_file(h.dir + "/cgroup.procs", self);
        if (!w)
            die("joining " + h.dir + ": " + w.error().message);
    }
    auto text = sys::read_file("/proc/self/cgroup", limits::kMaxProcFileBytes);
    auto lines = text ? parse_proc_cgroup(*text) : Result<std::vector<ProcCgroupLine>>(text.error());
    if (!lines)
        die("reading /proc/self/cgroup: " + lines.error().message);
    for (const auto& h : host.hierarchies) {
        std::string want = (h.own_path == "/" ? "" : h.own_path) + "/" + name;
        bool found = false;
        for (const auto& l : *lines)
            if (is_line_of(h, l) && l.path == want)
                found = true;
        if (!found)
            die(fmt::format("after joining, this process is not in {} of {}", want, h.label));
    }
    auto before = ns_of("/proc/self/ns/mnt");
    if (!before)
        die(before.error().message);
    if (::unshare(CLONE_NEWCGROUP | CLONE_NEWNS | CLONE_NEWPID) < 0)
        die(std::string("unshare(cgroup, mount, pid namespaces): ") + std::strerror(errno));
    auto after = ns_of("/proc/self/ns/mnt");
    if (!after)
        die(after.error().message);
    if (before->st_ino == after->st_ino && before->st_dev == after->st_dev)
        die("the mount namespace did not change after unshare; refusing to mount anything");
    // Into the leaf only now: the new cgroup namespace is rooted at the sandbox cgroup itself.
    for (const auto& h : host.hierarchies) {
        if (!h.leaf)
            continue;
        auto w = sys::write_file(h.dir + "/" + std::string(kLeafName) + "/cgroup.procs", self);
        if (!w)
            die("joining the leaf of " + h.dir + ": " + w.error().message);
    }
    if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) < 0)
        die(std::string("making / private: ") + std::strerror(errno));
    int alive[2];
    if (::pipe2(alive, O_CLOEXEC) < 0)
        die(std::string("pipe: ") + std::strerror(errno));
    pid_t init = ::fork();
    if (init < 0)
        die(std::string("fork: ") + std::strerror(errno));
    if (init == 0) {
        ::close(alive[1]);
        run_init(host, name, options, alive[0]);
    }
    ::close(alive[0]);  // alive[1] stays open as long as this process lives
    (void)!::write(report_fd, &init, sizeof init);
    ::close(report_fd);
    int status = 0;
    while (::waitpid(init, &status, 0) < 0 && errno == EINTR) {
    }
    _exit(status_to_exit(status));
}

}  // namespace

bool inside() {
    const char* env = std::getenv(kSandboxEnv);
    if (!env)
        return false;
    std::string_view v = env;
    auto colon = v.rfind(':');
    if (colon == std::string_view::npos)
        return false;
    struct stat st {};
    if (::stat("/proc/self/ns/cgroup", &st) < 0 || st.st_ino == kInitCgroupNsInode ||
        std::to_string(st.st_ino) != v.substr(colon + 1))
        return false;
    auto text = sys::read_file("/proc/self/cgroup", limits::kMaxProcFileBytes);
    if (!text)
        return false;
    auto lines = parse_proc_cgroup(*text);
    if (!lines)
        return false;
    for (const auto& l : *lines)
        if (l.path != "/" && !(l.hierarchy_id == 0 && l.path == inside_path(true)))
            return false;
    return true;
}

int run(const Options& options) {
    g_verbose = options.verbose;
    if (options.command.empty()) {
        complain("no command given");
        return kSandboxFailure;
    }
    if (::geteuid() != 0) {
        complain("must run as root (it creates cgroups and namespaces)");
        return kSandboxFailure;
    }
    // Cleanup holds one fd per level of the deepest tree a command may leave.
    struct rlimit rl {};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
    }
    const std::string name = fmt::format("cgmtest-{}", ::getpid());
    auto host = discover(name);
    if (!host) {
        complain("{}", host.error().message);
        return kSandboxFailure;
    }
    const Snapshot before = snapshot(*host);

    std::vector<std::string> made;
    auto created = create_sandbox_cgroups(*host, made);
    if (!created) {
        complain("{}", created.error().message);
        cleanup(made);
        return kSandboxFailure;
    }

    // Signals that would end the runner instead end the sandbox (its init), then clean up.
    ::signal(SIGCHLD, SIG_DFL);
    sigset_t block, old;
    sigemptyset(&block);
    for (int sig : {SIGTERM, SIGINT, SIGHUP, SIGCHLD})
        sigaddset(&block, sig);
    ::sigprocmask(SIG_BLOCK, &block, &old);

    int pipefd[2];
    if (::pipe2(pipefd, O_CLOEXEC) < 0) {
        complain("pipe: {}", std::strerror(errno));
        cleanup(made);
        return kSandboxFailure;
    }
    ::fflush(nullptr);
    const pid_t runner = ::getpid();
    pid_t child = ::fork();
    if (child < 0) {
        complain("fork: {}", std::strerror(errno));
        cleanup(made);
        return kSandboxFailure;
    }
    if (child == 0) {
        ::close(pipefd[0]);
        run_child(*host, name, options, pipefd[1], runner);
    }
    ::close(pipefd[1]);
    pid_t init = 0;
    if (::read(pipefd[0], &init, sizeof init) != sizeof init)
        init = 0;
    ::close(pipefd[0]);
    step("sandbox init is pid {} here", init);

    int status = 0;
    for (;;) {
        struct timespec tick = {1, 0};
        siginfo_t info;
        int sig = ::sigtimedwait(&block, &info, &tick);
        if (sig > 0 && sig != SIGCHLD) {
            // Our own child (not yet reaped, so its pid is still its own): its death takes the
            // sandbox's init, and with it every process in the sandbox.
            step("received signal {}; stopping the sandbox", sig);
            ::kill(child, SIGKILL);
        }
        pid_t p = ::waitpid(child, &status, WNOHANG);
        if (p == child)
            break;
        if (p < 0 && errno != EINTR) {
            status = kSandboxFailure << 8;
            break;
        }
    }
    ::sigprocmask(SIG_SETMASK, &old, nullptr);
    int result = status_to_exit(status);

    bool clean = cleanup(made);
    const Snapshot after = snapshot(*host);
    clean = same_tree(before, after) && clean;
    auto self_now = sys::read_file("/proc/self/cgroup", limits::kMaxProcFileBytes);
    if (!self_now || *self_now != host->self_cgroup) {
        complain("the runner's own cgroups changed during the run");
        clean = false;
    }
    if (!clean) {
        complain("the host's cgroups are not as they were before the run");
        return kSandboxFailure;
    }
    step("the cgroups the sandbox was made in are unchanged ({} entries checked)", after.size());
    return result;
}

}  // namespace cgm::sandbox
