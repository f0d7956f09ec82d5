// SPDX-License-Identifier: Apache-2.0
//
// Faults (issue 8): the daemon killed with SIGKILL under load and restarted, a proxy that outlives
// it, fd exhaustion, and Scm clients killed in every phase of the exchange.
#include <signal.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "daemon_fixture.h"
#include "support/raw_bus.h"

namespace cgm::test {
namespace {

using Clock = std::chrono::steady_clock;

class FaultsTest : public DaemonTest {};

// Four clients loop over Create (of memory and freezer at once), SetValue, GetValue and Remove,
// reconnecting whenever their connection breaks; the daemon is killed with SIGKILL in the middle
// and started again on the same socket. No call may hang; every client must be served again; and
// what a killed Create left is what docs/security.md says: empty cgroups of the caller's, which a
// retried Create completes and Remove removes.
TEST_F(FaultsTest, SigkillUnderLoadAndRestart) {
    const std::string sock = "/run/cgmtest/faults.sock";
    start(Daemon::Config{{}, sock, false, true, "/run/cgmtest/faults-rundir", {}});
    std::atomic<bool> stop{false};
    std::atomic<bool> restarted{false};
    struct Tally {
        uint64_t ok = 0, failed = 0, ok_after_restart = 0;
        double slowest_s = 0;
    };
    std::vector<Tally> tally(4);
    std::vector<std::thread> clients;
    for (int t = 0; t < 4; ++t)
        clients.emplace_back([&, t] {
            std::unique_ptr<RawBus> bus;
            uint64_t i = 0;
            while (!stop) {
                if (!bus) {
                    try {
                        bus = RawBus::connect(sock);
                    } catch (const std::exception&) {
                        std::this_thread::sleep_for(std::chrono::milliseconds(10));
                        continue;
                    }
                }
                const std::string cg = "t" + std::to_string(t) + "_" + std::to_string(i++);
                auto t0 = Clock::now();
                bool good =
                    bus->call("Create", "ss", "memory,freezer", cg.c_str()).ok &&
                    bus->call("SetValue", "ssss", "memory", cg.c_str(), "memory.soft_limit_in_bytes", "1048576").ok &&
                    bus->call("GetValue", "sss", "memory", cg.c_str(), "memory.soft_limit_in_bytes").ok &&
                    bus->call("Remove", "ssi", "memory,freezer", cg.c_str(), 0).ok;
                double took = std::chrono::duration<double>(Clock::now() - t0).count();
                tally[t].slowest_s = std::max(tally[t].slowest_s, took);
                if (good) {
                    ++tally[t].ok;
                    if (restarted)
                        ++tally[t].ok_after_restart;
                } else {
                    ++tally[t].failed;
                    bus.reset();  // a broken connection: connect again
                }
            }
        });
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    EXPECT_EQ(daemon().stop(SIGKILL), 128 + SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    start(Daemon::Config{{}, sock, false, true, "/run/cgmtest/faults-rundir", {}});
    restarted = true;
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    stop = true;
    for (auto& c : clients)
        c.join();
    for (int t = 0; t < 4; ++t) {
        EXPECT_GT(tally[t].ok_after_restart, 0u) << "client " << t << " was not served again";
        EXPECT_LT(tally[t].slowest_s, 5.0) << "client " << t << " waited " << tally[t].slowest_s << " s for a call";
    }
    uint64_t failed = 0;
    for (const auto& x : tally)
        failed += x.failed;
    EXPECT_GT(failed, 0u) << "the kill went unnoticed";

    // What is left: only cgroups of a Create or Remove the kill interrupted, empty, root's.
    auto root = RawBus::connect(sock);
    for (const char* h : {"memory", "freezer"}) {
        for (const auto& e : std::filesystem::directory_iterator(fs(h))) {
            if (!e.is_directory())
                continue;
            std::string name = e.path().filename();
            if (name.rfind('t', 0) != 0)
                continue;
            SCOPED_TRACE(std::string(h) + "/" + name);
            EXPECT_EQ(read_text(e.path().string() + "/cgroup.procs"), "");
            struct stat st {};
            ASSERT_EQ(::stat(e.path().c_str(), &st), 0);
            EXPECT_EQ(st.st_uid, 0u);
            // A retry completes it in both hierarchies, and Remove takes it away.
            EXPECT_TRUE(root->call("Create", "ss", "memory,freezer", name.c_str()).ok);
            EXPECT_TRUE(exists(fs("memory", name)) && exists(fs("freezer", name)));
            EXPECT_TRUE(root->call("Remove", "ssi", "memory,freezer", name.c_str(), 0).ok);
            EXPECT_FALSE(exists(fs("memory", name)) || exists(fs("freezer", name)));
        }
    }
}

// A proxy started before the daemon is killed serves again once a new daemon is up, by itself.
TEST_F(FaultsTest, ProxyReconnectsAfterTheDaemonIsKilled) {
    ::mkdir("/run/cgmtest", 0755);
    ::mkdir("/run/cgmtest/khost", 0755);
    ::mkdir("/run/cgmtest/kp", 0755);
    ASSERT_EQ(::mount("/run/cgmtest/khost", "/run/cgmtest/kp", nullptr, MS_BIND, nullptr), 0);
    start(Daemon::Config{{}, "/run/cgmtest/khost/sock", false, true, "", {}});
    auto proxy = run({"/bin/sh", "-c",
                      std::string(CGM_PROXY_BINARY) +
                          " --socket /run/cgmtest/kp/sock >/dev/null 2>/run/cgmtest/kproxy.log & echo $!"});
    pid_t ppid = std::stoi(proxy.out);
    auto cgm = [&](std::vector<std::string> args) {
        std::vector<std::string> argv = {CGM_CLI_BINARY, "--socket", "/run/cgmtest/kp/sock"};
        argv.insert(argv.end(), args.begin(), args.end());
        return run(argv);
    };
    ASSERT_TRUE(eventually(8000, [&] { return exists("/run/cgmtest/kp.lower/sock") && cgm({"ping"}).status == 0; }))
        << read_text("/run/cgmtest/kproxy.log");
    EXPECT_EQ(cgm({"create", "memory", "before"}).status, 0);
    EXPECT_EQ(daemon().stop(SIGKILL), 128 + SIGKILL);
    auto t0 = Clock::now();
    auto down = cgm({"create", "memory", "during"});
    EXPECT_NE(down.status, 0);
    EXPECT_LT(Clock::now() - t0, std::chrono::seconds(3));
    start(Daemon::Config{{}, "/run/cgmtest/khost/sock", false, true, "", {}});
    auto after = cgm({"create", "memory", "after"});
    EXPECT_EQ(after.status, 0) << after.err << read_text("/run/cgmtest/kproxy.log");
    EXPECT_TRUE(exists(fs("memory", "after")));
    ::kill(ppid, SIGTERM);
    EXPECT_TRUE(eventually(5000, [&] { return ::kill(ppid, 0) != 0; }));
    ::umount2("/run/cgmtest/kp", MNT_DETACH);
}

// Out of fds: the daemon stops accepting (with a log line), keeps serving the connections it has,
// and takes the waiting clients in once fds are free again.
TEST_F(FaultsTest, FdExhaustionPausesAcceptingAndRecovers) {
    start();
    const pid_t d = daemon().pid();
    ASSERT_TRUE(RawBus::connect(daemon().socket())->call("Ping", "i", 0).ok);
    auto counted = settled_fd_count(d);  // that connection's fds are back
    ASSERT_TRUE(counted);
    const size_t settled = *counted;
    struct rlimit old {};
    ASSERT_EQ(::prlimit(d, RLIMIT_NOFILE, nullptr, &old), 0);
    // Room for a few more connections (each takes the socket and the peer's pidfd).
    struct rlimit low = {static_cast<rlim_t>(settled) + 6, old.rlim_max};
    ASSERT_EQ(::prlimit(d, RLIMIT_NOFILE, &low, nullptr), 0);
    // Connect, each call in a thread of its own, until one is left waiting in the backlog.
    struct Attempt {
        std::unique_ptr<RawBus> bus;
        std::atomic<int> result{-1};
        std::thread thread;
        ~Attempt() {
            if (thread.joinable())
                thread.join();
        }
    };
    std::vector<std::unique_ptr<Attempt>> held;
    std::unique_ptr<Attempt> late;
    for (int i = 0; i < 8 && !late; ++i) {
        auto a = std::make_unique<Attempt>();
        a->bus = RawBus::connect(daemon().socket());
        Attempt* p = a.get();
        a->thread = std::thread([p] { p->result = p->bus->call("Ping", "i", 0).ok ? 1 : 0; });
        if (eventually(1000, [p] { return p->result.load() != -1; })) {
            a->thread.join();
            EXPECT_EQ(a->result.load(), 1) << i;
            held.push_back(std::move(a));
        } else {
            late = std::move(a);
        }
    }
    EXPECT_FALSE(held.empty());
    ASSERT_TRUE(late) << "every connection was taken in; the limit did not bite";
    EXPECT_TRUE(eventually(3000, [&] { return daemon().log().find("Too many open files") != std::string::npos; }))
        << daemon().log();
    // Those already connected are served meanwhile.
    if (!held.empty()) {
        EXPECT_TRUE(held.front()->bus->call("ListControllers", "").ok);
    }
    // They go: the waiting client gets in.
    held.clear();
    EXPECT_TRUE(eventually(5000, [&] { return late->result.load() == 1; }));
    late.reset();
    ASSERT_EQ(::prlimit(d, RLIMIT_NOFILE, &old, nullptr), 0);
    EXPECT_TRUE(RawBus::connect(daemon().socket())->call("Ping", "i", 0).ok);
}

// An Scm client killed at each step of the exchange: the daemon lets go of it (its fds come
// back), changes nothing, and serves everyone else meanwhile.
TEST_F(FaultsTest, ScmClientKilledInEveryPhase) {
    start();
    auto root = RawBus::connect(daemon().socket());
    ASSERT_TRUE(root->call("Create", "ss", "memory", "scmkill").ok);
    const pid_t d = daemon().pid();
    // Warm every loop first (each makes its timer fds on first use), so that the count below is
    // of what stays.
    for (int i = 0; i < 4; ++i) {
        auto warm = RawBus::connect(daemon().socket());
        auto r = warm->scm("GetValueScm", {std::string("memory"), std::string("scmkill"), std::string("tasks")},
                           RawBus::Cred{::getpid(), 0, 0});
        ASSERT_TRUE(r.ok) << r.describe();
    }
    auto counted = settled_fd_count(d);  // the warm-up connections closed
    ASSERT_TRUE(counted);
    const size_t baseline = *counted;
    // Phases: 0 after the call, before reading the kick; 1 after the kick; 2 after the requestor's
    // credentials; 3 after the second kick (the victim's credentials never sent).
    for (int phase = 0; phase < 4; ++phase) {
        SCOPED_TRACE("phase " + std::to_string(phase));
        int ready[2];
        ASSERT_EQ(::pipe2(ready, O_CLOEXEC), 0);
        const std::string sock = daemon().socket();
        pid_t pid = ::fork();
        if (pid == 0) {
            auto bus = RawBus::connect(sock);
            int sv[2];
            ::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv);
            int one = 1;
            ::setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
            if (!bus->call("MovePidScm", "ssh", "memory", "scmkill", sv[1]).ok)
                _exit(3);
            char b;
            if (phase >= 1 && ::read(sv[0], &b, 1) != 1)
                _exit(4);
            if (phase >= 2 && ::write(sv[0], "p", 1) != 1)  // our own credentials, attached by the kernel
                _exit(5);
            if (phase >= 3 && ::read(sv[0], &b, 1) != 1)
                _exit(6);
            (void)!::write(ready[1], "r", 1);
            ::pause();
            _exit(0);
        }
        ::close(ready[1]);
        char b = 0;
        ASSERT_EQ(::read(ready[0], &b, 1), 1) << "the client did not reach its phase";
        ::close(ready[0]);
        // Meanwhile, others are served.
        EXPECT_TRUE(root->call("GetTasks", "ss", "memory", "scmkill").ok);
        ::kill(pid, SIGKILL);
        ::waitpid(pid, nullptr, 0);
        EXPECT_TRUE(eventually(3000, [&] { return fd_count(d) <= baseline; }))
            << fd_count(d) << " fds, " << baseline << " before";
        EXPECT_EQ(read_text(fs("memory", "scmkill/tasks")), "");
        EXPECT_TRUE(root->call("Ping", "i", 0).ok);
    }
    EXPECT_EQ(daemon().stop(), 0);
}

}  // namespace
}  // namespace cgm::test
