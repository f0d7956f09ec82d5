// SPDX-License-Identifier: Apache-2.0
//
// CGManager 0.42's pam_cgm against our daemon (issue 13, item 0): distributions that keep the old
// module must not crash logins. Its close_session asks GetTasksRecursive of a list for a session
// the daemon's remove-on-empty may already have removed, and 0.42's module crashes the login
// program when that call fails; its recursive Remove races the same removal. The module's exact
// open/close call sequence is replayed login after login, over python3-dbus (the library the
// original was built on, tests/support/pam_cgm_042.py) and over the client library, and each call
// it cannot survive must succeed; and the two daemon rules it relies on are tested directly.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "cgmanager/client.h"
#include "core/proc_parse.h"
#include "daemon_fixture.h"
#include "support/raw_bus.h"

namespace cgm::test {
namespace {

using PamSequenceTest = DaemonTest;

// The controller lists a pam_cgm admin would give: two separate hierarchies where the host has
// them (on pure v2 both names are the one cgroup2).
std::string two_controllers() {
    return pure_v2() ? "memory,pids" : "freezer,memory";
}

// No cgroup `top` is left in any hierarchy of `list`.
void nothing_left(const std::string& list, const std::string& top) {
    for (const char* h : distinct_hierarchies({"freezer", "memory"})) {
        if (list != "all" && list.find(h) == std::string::npos && !pure_v2())
            continue;
        const std::string dir = fs(h, top);
        EXPECT_TRUE(eventually(3000, [&] { return !std::filesystem::exists(dir); })) << dir << " was left behind";
    }
}

// The 0.42 module's open and close, through the client library, in this (forked) process; the
// first call that module could not survive is reported on stderr and is the exit status 1.
int replay_over_the_client_library(const std::string& socket, const std::string& wanted, int rounds) {
    auto die = [](const std::string& what, const Error& e) {
        std::fprintf(stderr, "FAIL %s: %s\n", what.c_str(), e.message.c_str());
        return 1;
    };
    const auto self = static_cast<int32_t>(::getpid());
    // As 0.42: move to the root in each controller of `list`; those where that worked, as a list.
    auto escape = [self](client::Client& cg, const std::string& list) {
        std::string kept;
        for (const auto& one : split(list, ','))
            if (cg.move_pid_abs(one, "/", self))
                kept += (kept.empty() ? "" : ",") + one;
        return kept;
    };
    for (int n = 0; n < rounds; ++n) {
        std::string ctrl;
        std::string session;
        {
            auto c = client::Client::connect({socket});
            if (!c)
                return die("connect", c.error());
            auto& cg = **c;
            if (auto v = cg.api_version(); !v)
                return die("api_version", v.error());
            std::string listed = wanted;
            if (wanted == "all") {
                auto l = cg.list_controllers();
                if (!l)
                    return die("ListControllers", l.error());
                listed.clear();
                for (const auto& e : *l)
                    listed += (listed.empty() ? "" : ",") + e;
            }
            ctrl = escape(cg, listed);  // only the controllers where that worked are used
            auto made = cg.create(ctrl, "user");
            if (!made)
                return die("Create user", made.error());
            if (auto r = cg.move_pid(ctrl, "user", self); !r)
                return die("MovePid user", r.error());
            if (*made != 1)
                (void)cg.remove_on_empty(ctrl, "");
            for (int idx = 0; idx < 100 && session.empty(); ++idx) {
                const std::string name = "bob" + std::to_string(idx);
                auto r = cg.create(ctrl, name);
                if (!r)
                    return die("Create " + name, r.error());
                if (*r == 1)
                    continue;
                (void)cg.chown(ctrl, name, 1000, 1000);
                if (auto m = cg.move_pid(ctrl, name, self); !m)
                    return die("MovePid " + name, m.error());
                (void)cg.remove_on_empty(ctrl, "");
                session = "user/" + name;
            }
        }
        if (pid_t shell = ::fork(); shell == 0) {
            ::_exit(0);
        } else {
            ::waitpid(shell, nullptr, 0);
        }
        auto c = client::Client::connect({socket});
        if (!c)
            return die("connect", c.error());
        auto& cg = **c;
        const std::string kept = escape(cg, ctrl);
        auto has_tasks = [&](const std::string& path) -> int {
            auto t = cg.get_tasks_recursive(kept, path);
            if (!t) {
                die("GetTasksRecursive " + path, t.error());
                return -1;
            }
            return t->empty() ? 0 : 1;
        };
        int busy = has_tasks(session);
        if (busy < 0)
            return 1;
        if (busy == 0)
            (void)cg.remove(kept, session, true);  // a failure is a warning in 0.42
        auto children = cg.list_children(kept.substr(0, kept.find(',')), "user");
        for (const auto& child : children ? *children : std::vector<std::string>{}) {
            if ((busy = has_tasks("user/" + child)) < 0)
                return 1;
            if (busy == 0)
                (void)cg.remove(kept, "user/" + child, true);
        }
        if ((busy = has_tasks("user")) < 0)
            return 1;
        if (busy == 0)
            (void)cg.remove(kept, "user", true);
    }
    return 0;
}

TEST_F(PamSequenceTest, The042ModulesLoginsOverPythonDbusAllSucceedAndLeaveNothing) {
    start();
    for (const std::string& list : {std::string("all"), two_controllers()}) {
        SCOPED_TRACE(list);
        auto r = run({"/usr/bin/python3", CGM_TESTS_DIR "/support/pam_cgm_042.py", daemon().socket(), list,
                      "user/alice/", "1000", "1000", "25"},
                     As{}, 120000);
        EXPECT_EQ(r.status, 0) << r.out << r.err;
        EXPECT_NE(r.out.find("round 24 session user/alice/"), std::string::npos) << r.out << r.err;
        EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
        nothing_left(list, "user");
    }
    others_served();
}

TEST_F(PamSequenceTest, The042ModulesLoginsOverTheClientLibraryAllSucceedAndLeaveNothing) {
    start();
    for (const std::string& list : {std::string("all"), two_controllers()}) {
        SCOPED_TRACE(list);
        int err[2];
        ASSERT_EQ(::pipe(err), 0);
        pid_t pid = ::fork();
        ASSERT_GE(pid, 0);
        if (pid == 0) {
            ::dup2(err[1], 2);
            ::_exit(replay_over_the_client_library(daemon().socket(), list, 25));
        }
        ::close(err[1]);
        std::string said;
        char buf[512];
        for (ssize_t n; (n = ::read(err[0], buf, sizeof buf)) > 0;)
            said.append(buf, static_cast<size_t>(n));
        ::close(err[0]);
        int status = 0;
        ASSERT_EQ(::waitpid(pid, &status, 0), pid);
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "status " << status << ": " << said;
        nothing_left(list, "user");
    }
}

// The rule itself: a list skips each hierarchy where the cgroup is missing, even all of them (an
// empty answer); one controller names the hierarchy meant, and missing there is an error.
TEST_F(PamSequenceTest, GetTasksRecursiveOfAListSkipsHierarchiesWhereTheCgroupIsMissing) {
    start();
    const std::string two = two_controllers();
    EXPECT_EQ(ok("GetTasksRecursive", "ss", R"([")" + two + R"(","gone/0"])"), "[[]]");
    EXPECT_EQ(ok("GetTasksRecursive", "ss", R"(["all","gone/0"])"), "[[]]");
    refused("GetTasksRecursive", "ss", R"(["memory","gone/0"])", "FileNotFound", "/gone/0");
    // Where it exists in one of the two only, that one answers.
    ok("Create", "ss", R"(["memory","half"])");
    auto& c = keep(Child::spawn(As{0, 0, "", false, false, {fs("memory", "half")}}));
    EXPECT_EQ(ok("GetTasksRecursive", "ss", R"([")" + two + R"(","half"])"), "[[" + std::to_string(c.pid()) + "]]");
}

// A recursive Remove racing other removals of the same subtree (the daemon's own remove-on-empty,
// the release agent, another client): a cgroup that vanishes under it is what it wanted, not an
// error. Another thread removes the tree bottom-up directly on cgroupfs meanwhile.
TEST_F(PamSequenceTest, ARecursiveRemoveRacingOtherRemovalsSucceeds) {
    start();
    auto bus = RawBus::connect(daemon().socket());
    const char* h = "memory";
    int races = 0;
    for (int round = 0; round < 30; ++round) {
        const std::string top = "race" + std::to_string(round);
        for (int a = 0; a < 12; ++a)
            for (int b = 0; b < 3; ++b) {
                const std::string cg = top + "/a" + std::to_string(a) + "/b" + std::to_string(b);
                ASSERT_TRUE(bus->call("Create", "ss", h, cg.c_str()).ok) << cg;
            }
        std::atomic<bool> go{false};
        std::atomic<int> removed_by_other{0};
        std::thread other([&] {
            while (!go)
                std::this_thread::yield();
            for (int a = 11; a >= 0; --a) {
                const std::string mid = fs(h, top + "/a" + std::to_string(a));
                for (int b = 0; b < 3; ++b)
                    if (::rmdir((mid + "/b" + std::to_string(b)).c_str()) == 0)
                        ++removed_by_other;
                if (::rmdir(mid.c_str()) == 0)
                    ++removed_by_other;
            }
        });
        go = true;
        auto r = bus->call("Remove", "ssi", h, top.c_str(), 1);
        other.join();
        EXPECT_TRUE(r.ok) << "round " << round << ": " << r.describe();
        EXPECT_FALSE(std::filesystem::exists(fs(h, top))) << top;
        if (removed_by_other > 0 && removed_by_other < 48)
            ++races;  // both removed some: the two really raced
    }
    std::printf("recursive Remove raced another remover in %d of 30 rounds\n", races);
    others_served();
}

}  // namespace
}  // namespace cgm::test
