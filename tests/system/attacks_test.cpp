// SPDX-License-Identifier: Apache-2.0
//
// Attacks on the daemon by someone with a uid (issue 11), each made as the attacker would make
// it, against the real daemon: stale credentials whose pid went to a root process, a connection
// the daemon could not pin, the *Scm reply socket used as a deputy, descriptors and half-sent
// messages that pin the daemon's resources, malformed messages, identity claims. Pid reuse is
// made deterministic with /proc/sys/kernel/ns_last_pid in the sandbox's pid namespace, and the
// daemon is held with SIGSTOP where the attack needs a window.
//
// Each test fails against the daemon before the fixes (CGM_TEST_DAEMON=<old cgmanager> runs them
// against another binary).
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "core/sys.h"
#include "daemon_fixture.h"
#include "support/raw_bus.h"
#include "support/raw_wire.h"

namespace cgm::test {
namespace {

using Clock = std::chrono::steady_clock;
const std::string kErr = "org.freedesktop.DBus.Error.";

// ---- helpers ---------------------------------------------------------------------------------

char state_of(pid_t pid) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close = text.rfind(')');
    return close == std::string::npos || close + 2 >= text.size() ? '?' : text[close + 2];
}

// Stop the daemon (every thread) and wait until it is stopped; and back.
void stop_daemon(pid_t d) {
    ASSERT_EQ(::kill(d, SIGSTOP), 0);
    ASSERT_TRUE(eventually(3000, [&] { return state_of(d) == 'T'; }));
}
void continue_daemon(pid_t d) {
    ASSERT_EQ(::kill(d, SIGCONT), 0);
}

// A new root process whose pid is `want` (free now): the next pid of this pid namespace is set
// through ns_last_pid, then a process is made; retried if another fork took the number first.
std::unique_ptr<Child> spawn_at_pid(pid_t want, const As& as = As{}) {
    for (int attempt = 0; attempt < 50; ++attempt) {
        {
            std::ofstream last("/proc/sys/kernel/ns_last_pid");
            last << want - 1;
        }
        auto c = Child::spawn(as);
        if (c->pid() == want)
            return c;
    }
    ADD_FAILURE() << "could not make a process with pid " << want;
    return nullptr;
}

// In a helper child: hand descriptors over, or die.
void send_fds(int sock, const std::vector<int>& fds) {
    if (wire::send_fds(sock, "f", fds) != 1)
        _exit(120);
}

void become(uid_t uid) {
    if (::setgroups(0, nullptr) < 0 || ::setresgid(uid, uid, uid) < 0 || ::setresuid(uid, uid, uid) < 0)
        _exit(121);
}

// A helper process of `uid`: it makes what `make` returns (descriptors), hands them over, then
// waits for one byte on its command pipe, runs `then` and exits. The test reaps it with finish().
struct Helper {
    pid_t pid = -1;
    int command = -1;
    std::vector<int> fds;
    void go() {
        char c = 'g';
        (void)!::write(command, &c, 1);
    }
    // Wait for it to exit and reap it (its pid is free again afterwards).
    void finish() {
        if (pid <= 0)
            return;
        int status;
        while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
        }
        pid = -1;
        ::close(command);
    }
    ~Helper() {
        if (pid > 0) {
            ::kill(pid, SIGKILL);
            finish();
        }
        for (int fd : fds)
            ::close(fd);
    }
};

std::unique_ptr<Helper> helper(uid_t uid, const std::function<std::vector<int>()>& make,
                               const std::function<void(const std::vector<int>&)>& then) {
    int sp[2], cmd[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0 || ::pipe2(cmd, O_CLOEXEC) < 0)
        return nullptr;
    ::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
        ::close(sp[0]);
        ::close(cmd[1]);
        become(uid);
        auto fds = make();
        send_fds(sp[1], fds);
        char c;
        if (::read(cmd[0], &c, 1) == 1)
            then(fds);
        _exit(0);
    }
    ::close(sp[1]);
    ::close(cmd[0]);
    auto h = std::make_unique<Helper>();
    h->pid = pid;
    h->command = cmd[1];
    h->fds = wire::recv_fds(sp[0], 8);
    ::close(sp[0]);
    return h;
}

// Unix datagram socketpairs made by processes of `uid` (the daemon answers only pairs made by the
// caller), SO_PASSCRED on both ends as every client sets it: {near, far} each.
std::vector<std::pair<int, int>> pairs_made_by(uid_t uid, size_t n) {
    std::vector<std::pair<int, int>> out;
    while (out.size() < n) {
        size_t batch = std::min<size_t>(n - out.size(), 100);
        int sp[2];
        if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp) < 0)
            break;
        ::fflush(nullptr);
        pid_t pid = ::fork();
        if (pid == 0) {
            ::close(sp[0]);
            become(uid);
            for (size_t i = 0; i < batch; ++i) {
                int p[2];
                if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, p) < 0)
                    _exit(122);
                int one = 1;
                ::setsockopt(p[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
                ::setsockopt(p[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
                send_fds(sp[1], {p[0], p[1]});
                ::close(p[0]);
                ::close(p[1]);
            }
            _exit(0);
        }
        ::close(sp[1]);
        for (size_t i = 0; i < batch; ++i) {
            auto fds = wire::recv_fds(sp[0], 2);
            if (fds.size() != 2)
                break;
            out.emplace_back(fds[0], fds[1]);
        }
        ::close(sp[0]);
        int status;
        ::waitpid(pid, &status, 0);
    }
    return out;
}

struct Outcome {
    bool ok = false;
    std::string error_name;
    std::string message;
};

// An *Scm method call with `far` as its socket: the D-Bus part only.
Outcome scm_call(RawBus& bus, const char* method, const std::vector<std::string>& strings, int far) {
    Outcome o;
    sd_bus_message* m = nullptr;
    int rc = sd_bus_message_new_method_call(bus.bus(), &m, nullptr, "/org/linuxcontainers/cgmanager",
                                            "org.linuxcontainers.cgmanager0_0", method);
    for (const auto& s : strings)
        if (rc >= 0)
            rc = sd_bus_message_append_basic(m, 's', s.c_str());
    if (rc >= 0)
        rc = sd_bus_message_append_basic(m, 'h', &far);
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    if (rc >= 0)
        rc = sd_bus_call(bus.bus(), m, 5'000'000, &err, &reply);
    o.ok = rc >= 0;
    if (!o.ok) {
        o.error_name = err.name ? err.name : std::string("(no reply: ") + std::strerror(-rc) + ")";
        o.message = err.message ? err.message : "";
    }
    sd_bus_error_free(&err);
    sd_bus_message_unref(reply);
    sd_bus_message_unref(m);
    return o;
}

// One datagram from `fd` within `ms`, with the credentials it carried (pid 0 when none).
struct Received {
    bool got = false;
    std::string bytes;
    struct ucred cred {};
};
Received receive(int fd, int ms) {
    Received r;
    struct pollfd p = {fd, POLLIN, 0};
    if (::poll(&p, 1, ms) <= 0)
        return r;
    char buf[65536];
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(struct ucred)) + 64];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    ssize_t n = ::recvmsg(fd, &msg, MSG_DONTWAIT);
    if (n < 0)
        return r;
    r.got = true;
    r.bytes.assign(buf, static_cast<size_t>(n));
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS)
            std::memcpy(&r.cred, CMSG_DATA(c), sizeof r.cred);
    return r;
}

// Every datagram until `ms` of quiet, as text for failure messages.
std::string drain(int fd, int ms) {
    std::string all;
    for (Received r = receive(fd, ms); r.got; r = receive(fd, ms))
        all += "[" + r.bytes + "]";
    return all;
}

// A unix datagram socket bound at `path`, as a root service's would be: SO_PASSCRED, so it learns
// who sends to it; mode 0666, so that anyone may send.
int root_listener(const std::string& path) {
    ::unlink(path.c_str());
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    int one = 1;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 ||
        ::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0 || ::chmod(path.c_str(), 0666) < 0)
        ADD_FAILURE() << "root listener " << path << ": " << std::strerror(errno);
    return fd;
}

bool connect_to(int fd, const std::string& path) {
    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    return ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

uint64_t boot_tick() {
    struct timespec t {};
    ::clock_gettime(CLOCK_BOOTTIME, &t);
    long hz = ::sysconf(_SC_CLK_TCK);
    return (static_cast<uint64_t>(t.tv_sec) * 1'000'000'000 + static_cast<uint64_t>(t.tv_nsec)) /
           (1'000'000'000 / static_cast<uint64_t>(hz));
}

class AttackTest : public DaemonTest {
protected:
    // A raw socket connected by a process of `uid` (which stays alive), not yet authenticated.
    int raw_as(uid_t uid) {
        int fd = -1;
        keep(Child::connected(As::user(uid), daemon().socket(), &fd));
        raw_.push_back(fd);
        return fd;
    }
    // /own in memory, owned by uid 1000: where the attacker would put its victims.
    void make_own() {
        auto root = RawBus::connect(daemon().socket());
        ASSERT_TRUE(root->call("Create", "ss", "memory", "own").ok);
        ASSERT_TRUE(root->call("Chown", "ssii", "memory", "own", 1000, 1000).ok);
    }
    void TearDown() override {
        for (int fd : raw_)
            ::close(fd);
        DaemonTest::TearDown();
    }
    std::vector<int> raw_;
};

// ---- 1. credentials whose sender exited -------------------------------------------------------

// A uid-1000 helper queues its credentials on the passed socket and exits; its pid goes to a root
// process; uid 1000 makes the call. The daemon must not take the root process for the requestor
// (who "moves itself").
TEST_F(AttackTest, CredentialsQueuedByAnExitedProcessDoNotMoveTheProcessThatGotItsPid) {
    start();
    make_own();
    RawBus& attacker = connect_as(1000);
    auto h = helper(
        1000,
        [] {
            int p[2];
            ::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, p);
            int one = 1;
            ::setsockopt(p[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
            ::setsockopt(p[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
            for (int i = 0; i < 2; ++i)
                sys::send_credentials(p[0], ::getpid(), 1000, 1000, 0);
            return std::vector<int>{p[0], p[1]};
        },
        [](const std::vector<int>&) {});
    ASSERT_TRUE(h && h->fds.size() == 2);
    const pid_t stale = h->pid;
    h->go();
    h->finish();
    auto root = spawn_at_pid(stale);
    ASSERT_TRUE(root);
    auto o = scm_call(attacker, "MovePidScm", {"memory", "own"}, h->fds[1]);
    std::string results = o.ok ? drain(h->fds[0], 2000) : "";
    EXPECT_EQ(proc_cgroup(root->pid(), "memory"), "/") << "root's process was moved: " << results;
    EXPECT_FALSE(o.ok) << results;
    EXPECT_EQ(o.error_name, kErr + "AccessDenied") << o.message;
    EXPECT_NE(o.message.find("2 datagrams waited on the passed socket before the daemon asked"), std::string::npos)
        << o.message;
    others_served();
}

// The same credentials sent after the kick, by a helper that exits at once; the daemon reads them
// only after the pid went to a root process (held with SIGSTOP meanwhile). With the kernel's pidfds
// the credential names the dead helper; without (`fallback`), the root process started after the
// credential was sent, and has another uid.
void stale_credential_after_the_kick(Daemon& d, RawBus& attacker, const std::string& expected) {
    auto h = helper(
        1000,
        [] {
            int p[2];
            ::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, p);
            int one = 1;
            ::setsockopt(p[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
            ::setsockopt(p[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
            return std::vector<int>{p[0], p[1]};
        },
        [](const std::vector<int>& fds) {
            for (int i = 0; i < 2; ++i)
                sys::send_credentials(fds[0], ::getpid(), 1000, 1000, 0);
        });
    ASSERT_TRUE(h && h->fds.size() == 2);
    const int near = h->fds[0];
    auto o = scm_call(attacker, "MovePidScm", {"memory", "own"}, h->fds[1]);
    ASSERT_TRUE(o.ok) << o.error_name << ": " << o.message;
    ASSERT_EQ(receive(near, 3000).bytes, "1");
    stop_daemon(d.pid());
    const pid_t stale = h->pid;
    h->go();
    h->finish();
    const uint64_t sent = boot_tick();
    EXPECT_TRUE(eventually(1000, [&] { return boot_tick() >= sent + 2; }));  // a later clock tick
    auto root = spawn_at_pid(stale);
    continue_daemon(d.pid());
    ASSERT_TRUE(root);
    Received result = receive(near, 3000);
    std::string rest = drain(near, 300);
    EXPECT_EQ(proc_cgroup(root->pid(), "memory"), "/") << "root's process was moved";
    EXPECT_EQ(result.bytes, "0") << rest;
    EXPECT_NE(rest.find("ERROR org.freedesktop.DBus.Error."), std::string::npos) << rest;
    EXPECT_NE(rest.find(expected), std::string::npos) << rest;
}

TEST_F(AttackTest, ACredentialWhoseSenderExitedIsRefusedWithPidfds) {
    // SO_PASSPIDFD is Linux 6.5; older kernels take the path of the test below.
    int probe = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), one = 1;
    const bool pidfds = ::setsockopt(probe, SOL_SOCKET, 76 /* SO_PASSPIDFD */, &one, sizeof one) == 0;
    ::close(probe);
    if (!pidfds)
        GTEST_SKIP() << "this kernel has no SO_PASSPIDFD";
    start();
    make_own();
    stale_credential_after_the_kick(daemon(), connect_as(1000), "the process the requestor credential names (pid ");
    others_served();
}

TEST_F(AttackTest, ACredentialWhoseSenderExitedIsRefusedWithoutPidfds) {
    Daemon::Config c;
    c.env = {{"CGM_NO_PIDFD_SOCKOPTS", "1"}};
    start(c);
    make_own();
    stale_credential_after_the_kick(daemon(), connect_as(1000), "started after the credential was sent");
    others_served();
}

// ---- 2. a connection the daemon could not pin -----------------------------------------------------

// With the daemon at its fd limit, accept() gets the last descriptor and SO_PEERPIDFD (or
// pidfd_open, before 6.5) would fail with EMFILE. The connection must not be served as if pidfds
// did not exist: its opener exits, the pid goes to a root process, and a MovePid of "itself" on
// the inherited connection would move it. The daemon keeps descriptors spare for exactly this:
// the connection is pinned all the same, and accepting pauses until there are spares again.
TEST_F(AttackTest, AConnectionAcceptedAtTheFdLimitIsStillPinned) {
    start(Daemon::Config::with_args({"--threads", "1"}));
    make_own();
    const pid_t d = daemon().pid();
    ASSERT_TRUE(RawBus::connect(daemon().socket())->call("Ping", "i", 0).ok);
    ASSERT_TRUE(settled_fd_count(d));
    // The limit is a bound on descriptor numbers: room for exactly one more, the lowest free one.
    std::vector<int> open_fds;
    for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(d) + "/fd"))
        open_fds.push_back(std::stoi(e.path().filename()));
    std::sort(open_fds.begin(), open_fds.end());
    int lowest_free = 0;
    for (int n : open_fds)
        if (n == lowest_free)
            ++lowest_free;
    struct rlimit old {};
    ASSERT_EQ(::prlimit(d, RLIMIT_NOFILE, nullptr, &old), 0);
    struct rlimit low = {static_cast<rlim_t>(lowest_free) + 1, old.rlim_max};
    ASSERT_EQ(::prlimit(d, RLIMIT_NOFILE, &low, nullptr), 0);
    int fd = -1;
    auto opener = Child::connected(As::user(1000), daemon().socket(), &fd);
    const pid_t p = opener->pid();
    // Accepted and pinned with the spares; taking them back then fails, so accepting pauses.
    EXPECT_TRUE(eventually(3000, [&] { return daemon().log().find("no descriptors to spare") != std::string::npos; }))
        << daemon().log();
    ASSERT_EQ(::prlimit(d, RLIMIT_NOFILE, &old, nullptr), 0);
    opener.reset();  // exits, and is reaped: its pid is free
    auto root = spawn_at_pid(p);
    ASSERT_TRUE(root);
    auto bus = RawBus::adopt(fd);
    auto r = bus->call("MovePid", "ssi", "memory", "own", root->pid());
    EXPECT_EQ(proc_cgroup(root->pid(), "memory"), "/") << "root's process was moved";
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.error_name, kErr + "AccessDenied") << r.message;
    EXPECT_NE(r.message.find(fmt::format("the process that opened this connection (pid {}) has exited", p)),
              std::string::npos)
        << r.message;
    EXPECT_EQ(daemon().log().find("refusing a connection from pid " + std::to_string(p)), std::string::npos)
        << daemon().log();
    others_served();
}

// A connection whose opener (uid 1000) connected while the daemon was stopped and exited before it
// was accepted, its pid given to a root process meanwhile; then the daemon runs again, and the
// connection asks to move "itself" (the root process) into uid 1000's cgroup. It must not be
// moved, and the daemon says why in its log (`reason` names the pid).
void moved_by_an_orphaned_connection(Daemon& d, const std::function<std::string(pid_t)>& reason,
                                     bool either_reason = false) {
    stop_daemon(d.pid());
    int fd = -1;
    auto opener = Child::connected(As::user(1000), d.socket(), &fd);
    const pid_t p = opener->pid();
    opener.reset();
    auto root = spawn_at_pid(p);
    auto bus = RawBus::adopt(fd);  // before the daemon runs again: it may drop the connection at once
    continue_daemon(d.pid());
    ASSERT_TRUE(root);
    auto r = bus->call("MovePid", "ssi", "memory", "own", root->pid());
    EXPECT_EQ(proc_cgroup(root->pid(), "memory"), "/") << "root's process was moved";
    EXPECT_FALSE(r.ok);
    const std::string otherwise = fmt::format("pid {} no longer has uid 1000, which connected", p);
    EXPECT_TRUE(eventually(2000,
                           [&] {
                               const std::string log = d.log();
                               return log.find(reason(p)) != std::string::npos ||
                                      (either_reason && log.find(otherwise) != std::string::npos);
                           }))
        << r.describe() << "\n"
        << d.log();
}

// A process that connects and exits before the daemon accepts is not served: its pid may be
// anyone's by then. (Without the kernel's pidfds, the daemon finds the pid with another uid.)
TEST_F(AttackTest, APeerThatExitedBeforeItWasAcceptedIsDropped) {
    start();
    make_own();
    moved_by_an_orphaned_connection(
        daemon(),
        [](pid_t p) { return fmt::format("the process that connected (pid {}) exited before it was accepted", p); },
        true);
    others_served();
}

// The same without the kernel's peer pidfds (kernels before 6.5): the pid is pinned at accept and
// must still have the uid that connected; here it belongs to a root process by then.
TEST_F(AttackTest, APeerWhosePidWentToAnotherUidBeforeItWasAcceptedIsDroppedWithoutPidfds) {
    Daemon::Config c;
    c.env = {{"CGM_NO_PIDFD_SOCKOPTS", "1"}};
    start(c);
    make_own();
    moved_by_an_orphaned_connection(daemon(), [](pid_t p) {
        return fmt::format("pid {} no longer has uid 1000, which connected (its pid was reused by uid 0)", p);
    });
    // A connection whose opener is still there is served as ever.
    EXPECT_TRUE(connect_as(1000).call("Ping", "i", 0).ok);
    others_served();
}

// ---- 3. the reply socket as a deputy --------------------------------------------------------------

// The passed socket must be one end of a socketpair the caller made: not one connected to a root
// service's socket, not an unconnected one, not a pair someone else made.
TEST_F(AttackTest, ThePassedSocketMustBeASocketpairTheCallerMade) {
    start();
    RawBus& attacker = connect_as(1000);
    const std::string service = "/run/cgmtest/root-service";
    int listener = root_listener(service);
    auto h = helper(
        1000,
        [&] {
            int s = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            int u = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            if (!connect_to(s, service))
                _exit(123);
            return std::vector<int>{s, u};
        },
        [](const std::vector<int>&) {});
    ASSERT_TRUE(h && h->fds.size() == 2);
    auto o = scm_call(attacker, "CreateScm", {"memory", "x"}, h->fds[0]);
    EXPECT_EQ(o.error_name, kErr + "InvalidArgs") << o.message;
    EXPECT_NE(o.message.find("the passed socket is connected to '" + service + "'"), std::string::npos) << o.message;
    Received leaked = receive(listener, 500);
    EXPECT_FALSE(leaked.got) << "the root service got '" << leaked.bytes << "' from uid " << leaked.cred.uid;

    o = scm_call(attacker, "CreateScm", {"memory", "x"}, h->fds[1]);
    EXPECT_EQ(o.error_name, kErr + "InvalidArgs") << o.message;
    EXPECT_NE(o.message.find("the passed socket is not connected"), std::string::npos) << o.message;

    int mine[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, mine), 0);  // made by root
    o = scm_call(attacker, "CreateScm", {"memory", "x"}, mine[1]);
    EXPECT_EQ(o.error_name, kErr + "AccessDenied") << o.message;
    EXPECT_NE(o.message.find("made by uid 0, not by the caller (uid 1000)"), std::string::npos) << o.message;
    ::close(mine[0]);
    ::close(mine[1]);
    EXPECT_FALSE(exists(fs("memory", "x")));
    ::close(listener);
    ::unlink(service.c_str());
}

// The attacker keeps its end's queue full so that the result waits, then re-connects the shared
// socket to a root service: the service must get nothing (before: the result, a cgroup name the
// attacker chose, "MAINPID=4242", from the daemon's pid as uid 0).
TEST_F(AttackTest, ASocketReconnectedDuringTheExchangeGetsNothingMore) {
    start();
    make_own();
    {
        auto root = RawBus::connect(daemon().socket());
        ASSERT_TRUE(root->call("Create", "ss", "memory", "own/MAINPID=4242").ok);
        ASSERT_TRUE(root->call("Chown", "ssii", "memory", "own/MAINPID=4242", 1000, 1000).ok);
    }
    Child& requestor = keep(Child::spawn(As{1000, 1000, "", false, false, {fs("memory", "own")}}));
    Child& victim = keep(Child::spawn(As{1000, 1000, "", false, false, {fs("memory", "own/MAINPID=4242")}}));
    RawBus& attacker = connect_as(1000);
    const std::string service = "/run/cgmtest/root-service";
    int listener = root_listener(service);
    auto pair = pairs_made_by(1000, 1);
    ASSERT_EQ(pair.size(), 1u);
    const int near = pair[0].first, far = pair[0].second;
    auto o = scm_call(attacker, "GetPidCgroupScm", {"memory"}, far);
    ASSERT_TRUE(o.ok) << o.message;
    ASSERT_EQ(receive(near, 3000).bytes, "1");
    ASSERT_EQ(sys::send_credentials(near, requestor.pid(), 1000, 1000, 0), 1);
    ASSERT_EQ(receive(near, 3000).bytes, "1");
    // Fill the near end's queue from the far end (the attacker holds it too).
    size_t filled = 0;
    while (::send(far, "x", 1, MSG_DONTWAIT) == 1)
        ++filled;
    ASSERT_GT(filled, 0u);
    ASSERT_EQ(sys::send_credentials(near, victim.pid(), 0, 0, 0), 1);
    // Once the daemon has taken the victim's credential it has the result and cannot send it.
    EXPECT_TRUE(eventually(3000, [&] {
        int pending = -1;
        return ::ioctl(far, FIONREAD, &pending) == 0 && pending == 0;
    }));
    ASSERT_TRUE(connect_to(far, service)) << std::strerror(errno);
    drain(near, 100);  // the filler goes: the daemon's socket wakes up writable
    Received leaked = receive(listener, 1000);
    EXPECT_FALSE(leaked.got) << "the root service got '" << leaked.bytes << "' from pid " << leaked.cred.pid << " uid "
                             << leaked.cred.uid;
    EXPECT_TRUE(eventually(2000, [&] { return daemon().log().find("was re-connected to") != std::string::npos; }))
        << daemon().log();
    ::close(listener);
    ::unlink(service.c_str());
    for (int fd : {near, far})
        ::close(fd);
    others_served();
}

// What the daemon sends on the passed socket carries the caller's credentials, not its own:
// whoever reads it sees it come from the caller.
TEST_F(AttackTest, DatagramsOnThePassedSocketCarryTheCallersCredentials) {
    start();
    make_own();
    int fd = -1;
    Child& caller = keep(Child::connected(As::user(1000), daemon().socket(), &fd));
    buses_.push_back(RawBus::adopt(fd));
    auto pair = pairs_made_by(1000, 1);
    ASSERT_EQ(pair.size(), 1u);
    const int near = pair[0].first, far = pair[0].second;
    Child& requestor = keep(Child::spawn(As{1000, 1000, "", false, false, {fs("memory", "own")}}));
    auto o = scm_call(*buses_.back(), "GetTasksScm", {"memory", ""}, far);
    ASSERT_TRUE(o.ok) << o.message;
    Received kick = receive(near, 3000);
    ASSERT_EQ(kick.bytes, "1");
    EXPECT_EQ(kick.cred.uid, 1000u);
    EXPECT_EQ(kick.cred.pid, caller.pid());
    ASSERT_EQ(sys::send_credentials(near, requestor.pid(), 1000, 1000, 0), 1);
    Received count = receive(near, 3000);
    ASSERT_EQ(count.bytes.size(), 4u);
    EXPECT_EQ(count.cred.uid, 1000u);
    EXPECT_EQ(count.cred.pid, caller.pid());
    Received task = receive(near, 3000);  // the requestor itself: its pid, the caller's uid
    EXPECT_EQ(task.cred.pid, requestor.pid());
    EXPECT_EQ(task.cred.uid, 1000u);
    ::close(near);
    ::close(far);
}

// ---- 4. descriptors and half-sent messages ------------------------------------------------------

// Paced one-byte writes of one unfinished message, each with 253 descriptors: the daemon takes
// one descriptor per message at most and closes the connection that sends more.
TEST_F(AttackTest, DescriptorsSentWithOneMessageAreBounded) {
    start();
    const pid_t d = daemon().pid();
    ASSERT_TRUE(RawBus::connect(daemon().socket())->call("Ping", "i", 0).ok);
    const auto counted = settled_fd_count(d);
    ASSERT_TRUE(counted);
    const size_t before = *counted;
    int fd = raw_as(1000);
    ASSERT_TRUE(wire::authenticate(fd, 1000));
    ASSERT_TRUE(wire::ping(fd));  // the daemon is past the authentication
    const std::string msg = wire::marshal({1, "Ping", "i", wire::Body().i32(0).bytes(), std::nullopt});
    int null = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    size_t sent = 0;
    for (size_t i = 0; i + 1 < msg.size() && i < 40; ++i) {
        if (wire::send_with_fds(fd, msg.substr(i, 1), null, 253) != 1)
            break;
        ++sent;
    }
    ::close(null);
    size_t held = 0;
    eventually(2000, [&] {
        held = fd_count(d);
        return held <= before + 2;
    });
    EXPECT_LE(held, before + 2) << "the daemon holds " << held - before << " more descriptors after " << sent
                                << " writes of 253";
    EXPECT_TRUE(wire::closed_within(fd, 2000));
    EXPECT_NE(daemon().log().find("the peer sent 253 file descriptors with one message; the limit is 1"),
              std::string::npos)
        << daemon().log();
    others_served();
}

// A message begun and never finished: the connection is closed after --message-timeout.
TEST_F(AttackTest, AMessageLeftUnfinishedClosesTheConnection) {
    start(Daemon::Config::with_args({"--message-timeout", "300"}));
    int fd = raw_as(1000);
    ASSERT_TRUE(wire::authenticate(fd, 1000));
    const std::string msg = wire::marshal({1, "Ping", "i", wire::Body().i32(0).bytes(), std::nullopt});
    ASSERT_TRUE(wire::send_all(fd, msg.substr(0, 20)));
    auto t0 = Clock::now();
    EXPECT_TRUE(wire::closed_within(fd, 5000));
    EXPECT_GE(Clock::now() - t0, std::chrono::milliseconds(250));
    EXPECT_NE(daemon().log().find("a message was left unfinished for 300 ms"), std::string::npos) << daemon().log();
    // A connection that sends its messages whole is not affected, however long it stays idle.
    RawBus& idle = connect_as(1000);
    ASSERT_TRUE(idle.call("Ping", "i", 0).ok);
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // longer than the timeout, on purpose
    EXPECT_TRUE(idle.call("Ping", "i", 0).ok);
}

// Many connections of one uid, each with most of a message of 900 KiB sent and the rest held back:
// beyond the per-uid budget (64 MiB) the daemon closes them instead of holding more (before: every
// connection could keep up to a whole message, 1,024 of them per uid: 160 here, 125 MiB).
TEST_F(AttackTest, UnfinishedMessagesOfOneUidAreBoundedInMemory) {
    // Only the memory budget may close them here: under the sanitizers sending 160 messages takes
    // longer than the default --message-timeout (5 s), which would close the first ones as well.
    start(Daemon::Config::with_args({"--message-timeout", "120000"}));
    const pid_t d = daemon().pid();
    ASSERT_TRUE(RawBus::connect(daemon().socket())->call("Ping", "i", 0).ok);
    const long rss0 = rss_kib(d);
    const size_t kConnections = 160;
    const std::string big(900 << 10, 'v');
    const std::string msg = wire::marshal({1, "Ping", "s", wire::Body().str(big).bytes(), std::nullopt});
    std::vector<int> fds;
    for (size_t i = 0; i < kConnections; ++i) {
        int fd = raw_as(1000);
        ASSERT_TRUE(wire::authenticate(fd, 1000));
        ASSERT_TRUE(wire::ping(fd));
        if (wire::send_all(fd, msg.substr(0, 800 << 10)))
            fds.push_back(fd);
    }
    auto closed = [&] {  // the connections the daemon closed (some already while they were sending)
        size_t n = kConnections - fds.size();
        for (int fd : fds) {
            struct pollfd p = {fd, POLLIN, 0};
            if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLIN)))
                ++n;
        }
        return n;
    };
    // 64 MiB / (800 KiB - the 64 KiB each connection has free): 89 may hold theirs.
    EXPECT_TRUE(eventually(3000, [&] { return closed() >= kConnections - 90; })) << closed() << " closed";
    const long rss1 = rss_kib(d);
    std::printf("%zu connections sent 800 KiB of a message; %zu closed; daemon RSS %ld -> %ld KiB\n", fds.size(),
                closed(), rss0, rss1);
    EXPECT_LE(closed(), kConnections - 85);
    EXPECT_NE(daemon().log().find("uid 1000 has "), std::string::npos) << daemon().log();
    EXPECT_NE(
        daemon().log().find("unfinished messages and unread replies in the daemon; the per-uid limit is 65536 KiB"),
        std::string::npos);
#ifndef CGM_SANITIZED
    EXPECT_LT(rss1 - rss0, 96 * 1024) << "the daemon holds more than the per-uid budget";
#endif
    others_served();
}

// ---- 5. credential exchanges holding descriptors ---------------------------------------------------

// One uid opens connections and credential exchanges that never send credentials, until refused;
// another uid is still served and the daemon holds no more than the per-uid budget for the first
// (before: 1,024 connections x 64 exchanges, enough to take every descriptor the daemon has).
TEST_F(AttackTest, OneUidsPendingExchangesCannotTakeEveryDescriptor) {
    start(Daemon::Config::with_args({"--scm-timeout", "60000"}));
    const pid_t d = daemon().pid();
    ASSERT_TRUE(RawBus::connect(daemon().socket())->call("Ping", "i", 0).ok);
    struct rlimit old {};
    ASSERT_EQ(::prlimit(d, RLIMIT_NOFILE, nullptr, &old), 0);
    struct rlimit low = {8192, old.rlim_max};  // as many as a unit might give it
    ASSERT_EQ(::prlimit(d, RLIMIT_NOFILE, &low, nullptr), 0);
    const auto counted = settled_fd_count(d);
    ASSERT_TRUE(counted);
    const size_t before = *counted;
    std::vector<std::pair<int, int>> pairs;
    size_t accepted = 0, next = 0;
    std::string refusal;
    for (int c = 0; c < 132 && refusal.empty(); ++c) {
        RawBus& bus = connect_as(1000);
        for (int k = 0; k < 64 && refusal.empty(); ++k) {
            if (next == pairs.size()) {
                auto more = pairs_made_by(1000, 64);
                ASSERT_EQ(more.size(), 64u);
                pairs.insert(pairs.end(), more.begin(), more.end());
            }
            auto o = scm_call(bus, "CreateScm", {"memory", "x"}, pairs[next++].second);
            if (o.ok)
                ++accepted;
            else
                refusal = o.error_name + ": " + o.message;
        }
    }
    const size_t held = fd_count(d);
    std::printf("%zu exchanges accepted; daemon fds %zu -> %zu; refusal: %s\n", accepted, before, held,
                refusal.c_str());
    EXPECT_NE(refusal.find("LimitsExceeded: uid 1000 holds"), std::string::npos) << refusal;
    EXPECT_NE(refusal.find("the per-uid limit is 4096"), std::string::npos) << refusal;
    EXPECT_LE(held, before + 4096);
    // Everyone else: a plain call and an exchange of their own.
    others_served();
    RawBus& other = connect_as(1001);
    auto mine = pairs_made_by(1001, 1);
    ASSERT_EQ(mine.size(), 1u);
    auto o = scm_call(other, "CreateScm", {"memory", "y"}, mine[0].second);
    EXPECT_TRUE(o.ok) << o.error_name << ": " << o.message;
    for (auto& [a, b] : pairs) {
        ::close(a);
        ::close(b);
    }
    ::close(mine[0].first);
    ::close(mine[0].second);
    buses_.clear();
    ::prlimit(d, RLIMIT_NOFILE, &old, nullptr);
}

// ---- the rest ---------------------------------------------------------------------------------------

// Messages sd-bus cannot parse (it drops them silently) close the connection, with a log line,
// instead of leaving the client waiting for an answer that never comes.
TEST_F(AttackTest, MalformedMessagesCloseTheConnection) {
    start();
    struct Case {
        const char* what;
        wire::Call call;
    };
    const std::string deep = std::string(41, '(') + "i" + std::string(41, ')');
    const Case cases[] = {
        {"a signature nested 41 deep", {1, "Ping", deep, wire::Body().i32(0).bytes(), std::nullopt}},
        {"a header naming a descriptor that was not sent", {1, "Ping", "i", wire::Body().i32(0).bytes(), 1u}},
    };
    size_t closes = 0;
    for (const auto& c : cases) {
        int fd = raw_as(1000);
        ASSERT_TRUE(wire::authenticate(fd, 1000));
        ASSERT_TRUE(wire::send_all(fd, wire::marshal(c.call)));
        EXPECT_TRUE(wire::closed_within(fd, 3000)) << c.what << ": the connection stayed open";
        ++closes;
        std::string needle = "is not valid D-Bus";
        size_t found = 0;
        for (size_t at = daemon().log().find(needle); at != std::string::npos; at = daemon().log().find(needle, at + 1))
            ++found;
        EXPECT_EQ(found, closes) << c.what << "\n" << daemon().log();
    }
    others_served();
}

// A string that is not UTF-8 is refused naming the argument.
TEST_F(AttackTest, AStringThatIsNotUtf8IsRefusedByName) {
    start();
    int fd = raw_as(1000);
    ASSERT_TRUE(wire::authenticate(fd, 1000));
    ASSERT_TRUE(wire::send_all(
        fd, wire::marshal({1, "Create", "ss", wire::Body().str("memory").str("bad\xff\xfe").bytes(), std::nullopt})));
    std::string reply = wire::read_message(fd, 3000);
    EXPECT_EQ(wire::message_type(reply), 3) << reply;
    EXPECT_NE(reply.find("org.freedesktop.DBus.Error.InvalidArgs"), std::string::npos) << reply;
    EXPECT_NE(reply.find("argument 2 (cgroup) of Create is not a valid string"), std::string::npos) << reply;
    EXPECT_FALSE(exists(fs("memory", "bad")));
}

// SASL EXTERNAL naming uid 0 from uid 1000 is rejected (the client may try another mechanism);
// the claim of its own uid is accepted. The identity used is always the socket's.
TEST_F(AttackTest, AnExternalClaimOfAnotherUidIsRejected) {
    start();
    int fd = raw_as(1000);
    ASSERT_TRUE(wire::send_all(fd, std::string(1, '\0') + "AUTH EXTERNAL " + wire::hex_uid(0) + "\r\n"));
    std::string answer = wire::read_until(fd, "\r\n", 3000);
    EXPECT_EQ(answer, "REJECTED EXTERNAL ANONYMOUS\r\n");
    ASSERT_TRUE(wire::send_all(fd, "AUTH EXTERNAL " + wire::hex_uid(1000) + "\r\n"));
    answer = wire::read_until(fd, "\r\n", 3000);
    EXPECT_EQ(answer.rfind("OK ", 0), 0u) << answer;
    // libdbus from a user namespace claims its own uid 0, is rejected, and falls back.
    auto r = call("python", "Ping", "i", "[0]", As::userns_root(100000));
    EXPECT_TRUE(r.ok) << r.error_name << ": " << r.message << "\n" << r.raw;
}

// A thread id where a process is meant: the error names the process.
TEST_F(AttackTest, MovePidOfAThreadNamesItsProcess) {
    start();
    make_own();
    Child& p = keep(Child::spawn(As{0, 0, "", false, false, {}, 1}));
    pid_t tid = 0;
    EXPECT_TRUE(eventually(2000, [&] {
        for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(p.pid()) + "/task"))
            if (std::stoi(e.path().filename()) != p.pid())
                tid = std::stoi(e.path().filename());
        return tid != 0;
    }));
    auto root = RawBus::connect(daemon().socket());
    auto r = root->call("MovePid", "ssi", "memory", "own", tid);
    EXPECT_EQ(r.error_name, kErr + "InvalidArgs") << r.message;
    EXPECT_NE(r.message.find(fmt::format("pid {} is a thread of process {}, not a process", tid, p.pid())),
              std::string::npos)
        << r.message;
}

}  // namespace
}  // namespace cgm::test
