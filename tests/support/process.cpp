// SPDX-License-Identifier: Apache-2.0
#include "support/process.h"

#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <initializer_list>
#include <string>
#include <thread>
#include <vector>

#include "core/backend.h"
#include "core/cgroup_path.h"
#include "core/sys.h"
#include "support/system_env.h"

namespace cgm::test {

namespace {

[[noreturn]] void fatal(const std::string& what) {
    std::fprintf(stderr, "test process helper: %s\n", what.c_str());
    std::abort();
}

struct Spawned {
    pid_t pid = -1;
    int go = -1;  // write end the child may wait on
};

// A helper child that does not exec keeps copies of every fd the test process had at the fork
// (CLOEXEC does not apply): connections the test drives would outlive their closing. Close all
// but the ones the child needs.
void close_inherited(std::initializer_list<int> keep) {
    std::vector<int> k(keep);
    std::sort(k.begin(), k.end());
    unsigned from = 3;
    for (int fd : k) {
        if (fd < 3)
            continue;
        if (static_cast<unsigned>(fd) > from)
            ::close_range(from, static_cast<unsigned>(fd) - 1, 0);
        from = static_cast<unsigned>(fd) + 1;
    }
    ::close_range(from, ~0U, 0);
}

void signal_ready(int ready_write) {
    char c = 'r';
    if (::write(ready_write, &c, 1) != 1)
        _exit(105);
    ::close(ready_write);
}

// Where a process joins the cgroup directory `dir`: on cgroup v2 (other than the root cgroup) the
// cgroup's hidden leaf, made owned like the cgroup when missing, where the daemon's MovePid puts
// processes (docs/dbus-api.md), so that the cgroup can still enable controllers for its children.
std::string join_target(const std::string& dir) {
    if (!is_cgroup2(dir) || ::access((dir + "/cgroup.type").c_str(), F_OK) < 0)
        return dir;
    auto fd = sys::open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (!fd)
        fatal(fd.error().message);
    auto leaf = unified_backend().open_pid_dir(fd->get());
    if (!leaf)
        fatal(dir + ": " + leaf.error().message);
    return dir + "/" + std::string(kLeafName);
}

// Fork (or clone into a new pid namespace), become `as` in the child, then run `body` there; the
// body calls signal_ready() once it is ready. Returns when the child is ready.
Spawned spawn_as(const As& as, const std::function<void(int go_read, int ready_write)>& body) {
    std::vector<std::string> join;
    for (const auto& dir : as.join)
        join.push_back(join_target(dir));
    int ready[2], go[2];
    if (::pipe2(ready, O_CLOEXEC) < 0 || ::pipe2(go, O_CLOEXEC) < 0)
        fatal(std::string("pipe: ") + std::strerror(errno));
    ::fflush(nullptr);
    pid_t pid =
        as.pidns ? static_cast<pid_t>(::syscall(SYS_clone, CLONE_NEWPID | SIGCHLD, nullptr, nullptr, nullptr, nullptr))
                 : ::fork();
    if (pid < 0)
        fatal(std::string("fork: ") + std::strerror(errno));
    if (pid == 0) {
        ::close(ready[0]);
        ::close(go[1]);
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (as.zombie)
            _exit(0);
        for (const auto& dir : join)
            if (!sys::write_file(dir + "/cgroup.procs", "0\n"))
                _exit(100);
        char c = 0;
        if (as.uid != 0 || as.gid != 0 || !as.userns_map.empty()) {
            if (::setgroups(0, nullptr) < 0 || ::setresgid(as.gid, as.gid, as.gid) < 0 ||
                ::setresuid(as.uid, as.uid, as.uid) < 0)
                _exit(101);
        }
        if (!as.userns_map.empty()) {
            if (::unshare(CLONE_NEWUSER) < 0)
                _exit(102);
            c = 'u';
            if (::write(ready[1], &c, 1) != 1 || ::read(go[0], &c, 1) != 1)
                _exit(103);
            // Now mapped: become the namespace's root (the host sees the map's first host id).
            if (::setresgid(0, 0, 0) < 0 || ::setresuid(0, 0, 0) < 0)
                _exit(104);
            if (as.container) {
                // Mount and pid namespaces owned by the new user namespace; the rest runs as pid 1
                // there, this process waits for it and passes its status on.
                if (::unshare(CLONE_NEWNS | CLONE_NEWPID) < 0)
                    _exit(106);
                ::fflush(nullptr);
                pid_t init = ::fork();
                if (init < 0)
                    _exit(107);
                if (init > 0) {
                    ::close(ready[1]);
                    ::close(go[0]);
                    int status = 0;
                    while (::waitpid(init, &status, 0) < 0 && errno == EINTR) {
                    }
                    _exit(WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
                }
                ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            }
        }
        body(go[0], ready[1]);
        _exit(0);
    }
    ::close(ready[1]);
    ::close(go[0]);
    char c = 0;
    if (as.zombie) {
        siginfo_t info{};
        ::waitid(P_PID, static_cast<id_t>(pid), &info, WEXITED | WNOWAIT);
        ::close(ready[0]);
        return {pid, go[1]};
    }
    if (!as.userns_map.empty()) {
        if (::read(ready[0], &c, 1) != 1 || c != 'u')
            fatal("userns child did not start");
        for (const char* map : {"uid_map", "gid_map"}) {
            std::string p = "/proc/" + std::to_string(pid) + "/" + map;
            auto w = sys::write_file(p, as.userns_map + "\n");
            if (!w)
                fatal(w.error().message);
        }
        c = 'm';
        if (::write(go[1], &c, 1) != 1)
            fatal("userns child vanished");
    }
    if (::read(ready[0], &c, 1) != 1 || c != 'r')
        fatal("helper child failed to start (uid " + std::to_string(as.uid) + ")");
    ::close(ready[0]);
    return {pid, go[1]};
}

}  // namespace

std::unique_ptr<Child> Child::spawn(const As& as) {
    Spawned s = spawn_as(as, [&as](int go_read, int ready_write) {
        close_inherited({go_read, ready_write});
        std::vector<std::thread> threads;
        for (int i = 0; i < as.threads; ++i)
            threads.emplace_back([go_read] {
                struct pollfd p = {go_read, POLLIN, 0};
                ::poll(&p, 1, -1);
            });
        signal_ready(ready_write);
        char c;
        while (::read(go_read, &c, 1) > 0) {
        }
        _exit(0);
    });
    auto child = std::unique_ptr<Child>(new Child(s.pid, as.uid, as.gid));
    child->go_fd_ = s.go;
    return child;
}

std::unique_ptr<Child> Child::connected(const As& as, const std::string& path, int* connection) {
    int sp[2];
    if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sp) < 0)
        fatal(std::string("socketpair: ") + std::strerror(errno));
    Spawned s = spawn_as(as, [&](int go_read, int ready_write) {
        close_inherited({go_read, ready_write, sp[1]});
        int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_un addr {};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
        if (fd < 0 || ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
            _exit(110);
        char byte = 'c';
        struct iovec iov = {&byte, 1};
        alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
        struct msghdr msg {};
        msg.msg_iov = &iov;
        msg.msg_iovlen = 1;
        msg.msg_control = control;
        msg.msg_controllen = sizeof control;
        struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        std::memcpy(CMSG_DATA(c), &fd, sizeof fd);
        if (::sendmsg(sp[1], &msg, 0) != 1)
            _exit(111);
        ::close(fd);
        ::close(sp[1]);
        signal_ready(ready_write);
        char ch;
        while (::read(go_read, &ch, 1) > 0) {
        }
        _exit(0);
    });
    ::close(sp[1]);
    char byte = 0;
    struct iovec iov = {&byte, 1};
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
    struct msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    *connection = -1;
    if (::recvmsg(sp[0], &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT) == 1) {
        struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
        if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            std::memcpy(connection, CMSG_DATA(c), sizeof(int));
    }
    ::close(sp[0]);
    auto child = std::unique_ptr<Child>(new Child(s.pid, as.uid, as.gid));
    child->go_fd_ = s.go;
    if (*connection < 0)
        fatal("the child did not hand over a connection to " + path);
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

RunResult run(const std::vector<std::string>& argv, const As& as, int timeout_ms,
              const std::vector<std::pair<std::string, std::string>>& env) {
    int out[2], err[2];
    if (::pipe2(out, O_CLOEXEC) < 0 || ::pipe2(err, O_CLOEXEC) < 0)
        fatal(std::string("pipe: ") + std::strerror(errno));
    Spawned s = spawn_as(as, [&](int, int ready_write) {
        signal_ready(ready_write);
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
        int null = ::open("/dev/null", O_RDONLY);
        if (null >= 0)
            ::dup2(null, 0);
        for (const auto& [k, v] : env)
            ::setenv(k.c_str(), v.c_str(), 1);
        std::vector<char*> args;
        for (const auto& a : argv)
            args.push_back(const_cast<char*>(a.c_str()));
        args.push_back(nullptr);
        ::execvp(args[0], args.data());
        std::fprintf(stderr, "exec %s: %s\n", args[0], std::strerror(errno));
        _exit(127);
    });
    ::close(out[1]);
    ::close(err[1]);
    ::close(s.go);
    RunResult r;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    struct pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
    int open_fds = 2;
    bool timed_out = false;
    while (open_fds > 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        int n = ::poll(fds, 2, static_cast<int>(left.count()));
        if (n < 0 && errno == EINTR)
            continue;
        for (int i = 0; i < 2; ++i) {
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            char buf[4096];
            ssize_t k = ::read(fds[i].fd, buf, sizeof buf);
            if (k > 0) {
                (i == 0 ? r.out : r.err).append(buf, static_cast<size_t>(k));
            } else {
                ::close(fds[i].fd);
                fds[i].fd = -1;
                --open_fds;
            }
        }
    }
    if (timed_out)
        ::kill(s.pid, SIGKILL);
    for (auto& f : fds)
        if (f.fd >= 0)
            ::close(f.fd);
    int status = 0;
    while (::waitpid(s.pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (timed_out)
        r.status = -1;
    else if (WIFEXITED(status))
        r.status = WEXITSTATUS(status);
    else
        r.status = 128 + WTERMSIG(status);
    return r;
}

size_t fd_count(pid_t pid) {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
        ++n;
    return n;
}

std::optional<size_t> settled_fd_count(pid_t pid, int timeout_ms) {
    size_t settled = 0;
    if (!eventually(timeout_ms, [&] {
            size_t before = fd_count(pid);
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            settled = fd_count(pid);
            return before == settled;
        }))
        return std::nullopt;
    return settled;
}

bool eventually(int timeout_ms, const std::function<bool()>& cond) {
    auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    while (std::chrono::steady_clock::now() < end) {
        if (cond())
            return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return cond();
}

long status_kib(pid_t pid, const std::string& wanted) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string key;
    long value = -1;
    while (in >> key) {
        if (key == wanted) {
            in >> value;
            break;
        }
    }
    return value;
}

}  // namespace cgm::test
