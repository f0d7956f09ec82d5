// SPDX-License-Identifier: Apache-2.0
#include "support/system_env.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/backend.h"
#include "core/mounts.h"
#include "core/sys.h"

namespace cgm::test {

namespace {

std::string& skip_reason_storage() {
    static std::string reason;
    return reason;
}

[[noreturn]] void fatal(const std::string& what) {
    std::fprintf(stderr, "system test environment: %s\n", what.c_str());
    std::abort();
}

void remove_below(const std::string& dir) {
    DIR* d = ::opendir(dir.c_str());
    if (!d)
        return;
    std::vector<std::string> children;
    while (struct dirent* e = ::readdir(d))
        if (e->d_type == DT_DIR && std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, ".."))
            children.push_back(dir + "/" + e->d_name);
    ::closedir(d);
    for (const auto& c : children) {
        remove_below(c);
        for (int i = 0; i < 300; ++i) {
            if (::rmdir(c.c_str()) == 0 || errno == ENOENT)
                break;
            if (errno != EBUSY)
                fatal("rmdir " + c + ": " + std::strerror(errno));
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
}

}  // namespace

void set_skip_reason(std::string reason) { skip_reason_storage() = std::move(reason); }
const std::string& skip_reason() { return skip_reason_storage(); }

SystemEnv& SystemEnv::get() {
    static SystemEnv env;
    return env;
}

SystemEnv::SystemEnv() {
    auto ns = PrivateMountNamespace::enter();
    if (!ns)
        fatal(ns.error().message);
    auto input = read_plan_input();
    if (!input)
        fatal(input.error().message);
    auto plan = plan_hierarchies(*input);
    if (!plan)
        fatal(plan.error().message);
    std::vector<std::string> warnings;
    auto table = mount_hierarchies(*ns, *plan, "/run/cgmanager-test", warnings);
    if (!table)
        fatal(table.error().message);
    table_ = std::move(table).value();
    auto proc = SystemProc::open();
    if (!proc)
        fatal(proc.error().message);
    proc_ = std::make_unique<SystemProc>(std::move(proc).value());
    auto delegate = sys::read_file("/sys/kernel/cgroup/delegate", 4096);
    set_unified_delegate_files(delegate ? *delegate : "");
    ops_ = std::make_unique<Operations>(table_, *proc_, watches_);
}

const Hierarchy& SystemEnv::hierarchy(std::string_view token) const {
    const Hierarchy* h = table_.find(token);
    if (!h)
        fatal("no hierarchy '" + std::string(token) + "' in the sandbox");
    return *h;
}

std::string SystemEnv::path(const Hierarchy& h, std::string_view cgroup) const {
    while (!cgroup.empty() && cgroup.front() == '/')
        cgroup.remove_prefix(1);
    return cgroup.empty() ? h.mount_point : h.mount_point + "/" + std::string(cgroup);
}

void SystemEnv::remove_all_cgroups() const {
    for (const auto& h : table_.all())
        remove_below(h->mount_point);
}

std::unique_ptr<Child> Child::spawn(const Spec& spec) {
    int ready[2], go[2];
    if (::pipe2(ready, O_CLOEXEC) < 0 || ::pipe2(go, O_CLOEXEC) < 0)
        fatal(std::string("pipe: ") + std::strerror(errno));
    ::fflush(nullptr);
    // A fork, or with CLONE_NEWPID a fork whose child is pid 1 of a new pid namespace.
    pid_t pid = spec.pidns ? static_cast<pid_t>(::syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, nullptr, nullptr, nullptr, nullptr))
                           : ::fork();
    if (pid < 0)
        fatal(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        ::close(ready[0]);
        ::close(go[1]);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (spec.zombie)
            _exit(0);
        char c = 0;
        if (spec.uid != 0 || spec.gid != 0 || !spec.userns_map.empty()) {
            if (::setgroups(0, nullptr) < 0 || ::setresgid(spec.gid, spec.gid, spec.gid) < 0 ||
                ::setresuid(spec.uid, spec.uid, spec.uid) < 0)
                _exit(101);
        }
        if (!spec.userns_map.empty()) {
            if (::unshare(CLONE_NEWUSER) < 0)
                _exit(102);
            c = 'u';
            if (::write(ready[1], &c, 1) != 1 || ::read(go[0], &c, 1) != 1)
                _exit(103);
            // Now mapped: become the namespace's root (the host sees the map's first host id).
            if (::setresgid(0, 0, 0) < 0 || ::setresuid(0, 0, 0) < 0)
                _exit(104);
        }
        c = 'r';
        if (::write(ready[1], &c, 1) != 1)
            _exit(105);
        while (::read(go[0], &c, 1) > 0) {
        }
        _exit(0);
    }
    ::close(ready[1]);
    ::close(go[0]);
    auto child = std::unique_ptr<Child>(new Child(pid, spec.uid, spec.gid));
    child->go_fd_ = go[1];
    char c = 0;
    if (spec.zombie) {
        siginfo_t info{};
        ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT);
        ::close(ready[0]);
        return child;
    }
    if (!spec.userns_map.empty()) {
        if (::read(ready[0], &c, 1) != 1 || c != 'u')
            fatal("userns child did not start");
        for (const char* map : {"uid_map", "gid_map"}) {
            std::string p = "/proc/" + std::to_string(pid) + "/" + map;
            auto w = sys::write_file(p, spec.userns_map + "\n");
            if (!w)
                fatal(w.error().message);
        }
        c = 'm';
        if (::write(go[1], &c, 1) != 1)
            fatal("userns child vanished");
    }
    if (::read(ready[0], &c, 1) != 1 || c != 'r')
        fatal("helper child failed to start (uid " + std::to_string(spec.uid) + ")");
    ::close(ready[0]);
    return child;
}

Child::~Child() {
    ::kill(pid_, SIGKILL);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    if (go_fd_ >= 0)
        ::close(go_fd_);
}

Caller self_caller() { return Caller::plain(Ucred{::getpid(), ::getuid(), ::getgid()}); }

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

struct stat stat_of(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) < 0)
        ADD_FAILURE() << "stat " << path << ": " << std::strerror(errno);
    return st;
}

std::string read_text(const std::string& path) {
    auto r = sys::read_file(path, 1 << 20);
    if (!r) {
        ADD_FAILURE() << r.error().message;
        return {};
    }
    return *r;
}

void write_text(const std::string& path, const std::string& text) {
    auto r = sys::write_file(path, text);
    if (!r)
        ADD_FAILURE() << path << ": " << r.error().message;
}

void make_dir(const std::string& path) {
    if (::mkdir(path.c_str(), 0755) < 0 && errno != EEXIST)
        ADD_FAILURE() << "mkdir " << path << ": " << std::strerror(errno);
}

std::vector<std::string> files_in(const std::string& dir) {
    std::vector<std::string> names;
    DIR* d = ::opendir(dir.c_str());
    if (!d) {
        ADD_FAILURE() << "opendir " << dir << ": " << std::strerror(errno);
        return names;
    }
    while (struct dirent* e = ::readdir(d))
        if (e->d_type == DT_REG)
            names.emplace_back(e->d_name);
    ::closedir(d);
    return names;
}

std::string cgroup_of(pid_t pid, const Hierarchy& h) {
    auto lines = parse_proc_cgroup(read_text("/proc/" + std::to_string(pid) + "/cgroup"));
    if (!lines) {
        ADD_FAILURE() << lines.error().message;
        return {};
    }
    const ProcCgroupLine* l = h.find_line(*lines);
    if (!l) {
        ADD_FAILURE() << "no line for " << h.display;
        return {};
    }
    return l->path;
}

void move_to(pid_t pid, const Hierarchy& h, std::string_view cgroup) {
    auto& env = SystemEnv::get();
    write_text(env.path(h, cgroup) + (h.is_unified() ? "/cgroup.procs" : "/tasks"), std::to_string(pid) + "\n");
}

}  // namespace cgm::test
