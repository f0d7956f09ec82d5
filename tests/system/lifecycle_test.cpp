// SPDX-License-Identifier: Apache-2.0
//
// Cgroups that clean themselves up: RemoveOnEmpty and Prune carried out by the daemon's Reaper on
// cgroup v1 (periodic sweep) and cgroup v2 (inotify on cgroup.events), across a daemon restart;
// the release agent run as the kernel would run it; and a pure cgroup2 run of the daemon.
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include "daemon_fixture.h"

namespace cgm::test {
namespace {

using namespace std::chrono_literals;

class LifecycleTest : public DaemonTest {
protected:
    RunResult cgm(std::vector<std::string> args, const As& as = As{}) {
        std::vector<std::string> argv = {CGM_CLI_BINARY, "--socket", daemon().socket()};
        argv.insert(argv.end(), args.begin(), args.end());
        return run(argv, as);
    }
    void ok(std::vector<std::string> args) {
        auto r = cgm(args);
        EXPECT_EQ(r.status, 0) << args[0] << ": " << r.err;
    }
    // The removal happens in the daemon's own time: wait for it, with a deadline.
    static bool gone_within(const std::string& path, std::chrono::milliseconds limit) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (exists(path)) {
            if (std::chrono::steady_clock::now() > deadline)
                return false;
            ::usleep(5000);
        }
        return true;
    }
};

// Reference test 21, v1: a cgroup goes once its last task has; the same cgroup in another
// hierarchy, not asked for, stays.
TEST_F(LifecycleTest, V1RemoveOnEmptyAfterTheLastTaskLeaves) {
    CGM_SKIP_ON_PURE_V2("needs two separate hierarchies (memory and devices are one on cgroup v2)");
    start(Daemon::Config::with_args({"--sweep-interval", "50"}));
    ok({"create", "memory,devices", "test21_cg"});
    auto sleeper = Child::spawn();
    ok({"movepid", "memory,devices", "test21_cg", std::to_string(sleeper->pid())});
    ok({"removeonempty", "memory", "test21_cg"});
    EXPECT_TRUE(exists(fs("memory", "test21_cg")));  // busy: stays
    sleeper.reset();                                 // the task exits
    EXPECT_TRUE(gone_within(fs("memory", "test21_cg"), 5s)) << daemon().log();
    EXPECT_TRUE(exists(fs("devices", "test21_cg")));
    EXPECT_EQ(cgm({"gettasks", "devices", "test21_cg"}).status, 0);
    EXPECT_NE(cgm({"gettasks", "memory", "test21_cg"}).status, 0);
}

// v2: no sweep needed, the kernel's cgroup.events change wakes the daemon.
TEST_F(LifecycleTest, V2RemoveOnEmptyFollowsCgroupEvents) {
    start(Daemon::Config::with_args({"--sweep-interval", "3600000"}));
    ok({"create", "unified", "test21_cg"});
    auto sleeper = Child::spawn();
    ok({"movepid", "unified", "test21_cg", std::to_string(sleeper->pid())});
    ok({"removeonempty", "unified", "test21_cg"});
    EXPECT_TRUE(exists(fs("unified", "test21_cg/.cgm_leaf")));
    sleeper.reset();
    EXPECT_TRUE(gone_within(fs("unified", "test21_cg"), 5s)) << daemon().log();
}

// Reference test 24, both kinds: Prune removes what is empty now and the rest bottom-up later.
TEST_F(LifecycleTest, PruneEmptiesBottomUp) {
    for (const char* h : {"freezer", "unified"}) {
        SCOPED_TRACE(h);
        start(Daemon::Config::with_args({"--sweep-interval", std::string(h) == "unified" ? "3600000" : "50"}));
        ok({"create", h, "prune1/prune2"});
        ok({"create", h, "prune1/empty"});
        auto sleeper = Child::spawn();
        ok({"movepid", h, "prune1/prune2", std::to_string(sleeper->pid())});
        ok({"prune", h, "prune1"});
        EXPECT_FALSE(exists(fs(h, "prune1/empty")));  // empty: removed at once
        EXPECT_TRUE(exists(fs(h, "prune1/prune2")));
        sleeper.reset();
        EXPECT_TRUE(gone_within(fs(h, "prune1"), 5s)) << daemon().log();
    }
}

// The watch list survives a restart of the daemon; a cgroup recreated meanwhile at the same path
// is a different cgroup and is left alone.
TEST_F(LifecycleTest, WatchesSurviveARestart) {
    const std::string rundir = "/run/cgmtest/persist";
    Daemon::Config config = Daemon::Config::with_args({"--sweep-interval", "50"});
    config.rundir = rundir;
    start(config);
    ok({"create", "memory,unified", "kept"});
    ok({"create", "memory", "replaced"});
    auto sleeper = Child::spawn();
    ok({"movepid", "memory,unified", "kept", std::to_string(sleeper->pid())});
    auto holder = Child::spawn();
    ok({"movepid", "memory", "replaced", std::to_string(holder->pid())});
    ok({"removeonempty", "memory,unified", "kept"});
    ok({"removeonempty", "memory", "replaced"});
    EXPECT_EQ(daemon().stop(), 0);
    // While no daemon runs: the task of "kept" exits; "replaced" is removed and made again.
    sleeper.reset();
    ASSERT_EQ(::rmdir(fs("memory", "replaced").c_str()), -1);  // still busy
    holder.reset();
    for (int i = 0; i < 200 && ::rmdir(fs("memory", "replaced").c_str()) < 0; ++i) {
        ::rmdir(fs("memory", "replaced/.cgm_leaf").c_str());  // cgroup v2: the hidden leaf first
        ::usleep(5000);
    }
    ASSERT_EQ(::mkdir(fs("memory", "replaced").c_str(), 0755), 0);
    start(config);
    EXPECT_TRUE(gone_within(fs("memory", "kept"), 5s)) << daemon().log();
    EXPECT_TRUE(gone_within(fs("unified", "kept"), 5s)) << daemon().log();
    EXPECT_NE(daemon().log().find("1 no longer valid"), std::string::npos) << daemon().log();
    EXPECT_TRUE(exists(fs("memory", "replaced")));
}

// The release agent, run the way the kernel runs it: by its per-hierarchy name, with the path. It
// removes that one cgroup: the kernel releases only a cgroup without children, and one that has a
// child by the time the agent runs stays (the kernel runs the agent again when the child goes).
TEST_F(LifecycleTest, ReleaseAgentRemovesTheCgroupItIsCalledFor) {
    start();
    ok({"create", "memory", "released/child"});
    ::mkdir("/run/cgmtest/agents", 0755);
    const std::string link = "/run/cgmtest/agents/cgm-release-agent.memory";
    ::unlink(link.c_str());
    ASSERT_EQ(::symlink(CGM_AGENT_BINARY, link.c_str()), 0);
    std::vector<std::pair<std::string, std::string>> env = {{"CGMANAGER_SOCKET", daemon().socket()}};
    auto busy = run({link, "/released"}, As{}, 20000, env);
    EXPECT_EQ(busy.status, 1);
    EXPECT_NE(busy.err.find("child cgroups"), std::string::npos) << busy.err;
    EXPECT_TRUE(exists(fs("memory", "released/child")));
    auto child = run({link, "/released/child"}, As{}, 20000, env);
    EXPECT_EQ(child.status, 0) << child.err;
    EXPECT_FALSE(exists(fs("memory", "released/child")));
    auto r = run({link, "/released"}, As{}, 20000, env);
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_FALSE(exists(fs("memory", "released")));
    // Already gone: nothing to do, still fine.
    EXPECT_EQ(run({link, "/released"}, As{}, 20000, env).status, 0);
    // Misuse gets a clear error, not a crash.
    auto noarg = run({link}, As{}, 20000, env);
    EXPECT_EQ(noarg.status, 2);
    EXPECT_NE(noarg.err.find("usage"), std::string::npos) << noarg.err;
    auto noname = run({CGM_AGENT_BINARY, "/x"}, As{}, 20000, env);
    EXPECT_EQ(noname.status, 2);
    EXPECT_NE(noname.err.find("cannot tell the hierarchy"), std::string::npos) << noname.err;
    auto nodaemon = run({link, "/x"}, As{}, 20000, {{"CGMANAGER_SOCKET", "/run/cgmtest/nobody"}});
    EXPECT_EQ(nodaemon.status, 1);
    EXPECT_NE(nodaemon.err.find("cannot connect"), std::string::npos) << nodaemon.err;
    // In a cgroup namespace (this sandbox) there is no release_agent to set: the daemon says it
    // relies on its own sweep.
    EXPECT_EQ(daemon().log().find("our release agent"), std::string::npos);
}

// A pure cgroup2 run: the daemon told to manage the unified hierarchy only.
TEST_F(LifecycleTest, PureCgroup2Scenarios) {
    CGM_SKIP_ON_PURE_V2("-M of the v1 names would leave nothing there: every suite here is this scenario");
    start(Daemon::Config::with_args(
        {"-M", "blkio,cpu,cpuacct,cpuset,devices,freezer,memory,pids,name=systemd", "--sweep-interval", "3600000"}));
    auto ctrls = cgm({"listcontrollers"});
    EXPECT_EQ(ctrls.out, "unified\n");
    auto t = Child::spawn();
    std::string pid = std::to_string(t->pid());
    ok({"create", "all", "v2/b"});
    EXPECT_EQ(cgm({"create", "unified", "v2/b"}).out, "Path existed\n");
    EXPECT_NE(cgm({"create", "memory", "x"}).status, 0);  // not managed in this run
    ok({"movepid", "all", "v2/b", pid});
    EXPECT_EQ(proc_cgroup2_raw(t->pid()), "/v2/b/.cgm_leaf");
    EXPECT_EQ(cgm({"getpidcgroup", "unified", pid}).out, "v2/b\n");
    EXPECT_EQ(cgm({"gettasks", "unified", "v2/b"}).out, pid + "\n");
    EXPECT_EQ(cgm({"gettasksrecursive", "all", "v2"}).out, pid + "\n");
    EXPECT_EQ(cgm({"listchildren", "unified", "v2"}).out, "b\n");  // the leaf is hidden
    ok({"chown", "all", "v2", "1000", "1000"});
    EXPECT_EQ(stat_of(fs("unified", "v2/cgroup.procs")).st_uid, 1000u);
    EXPECT_EQ(stat_of(fs("unified", "v2/cgroup.subtree_control")).st_uid, 1000u);
    auto& mine = keep(Child::as_user(1000, 1000));
    auto user_move = cgm({"movepid", "unified", "v2", std::to_string(mine.pid())}, As::user(1000));
    EXPECT_EQ(user_move.status, 0) << user_move.err;
    EXPECT_EQ(cgm({"create", "unified", "v2/c"}, As::user(1000)).status, 0);
    EXPECT_EQ(cgm({"setvalue", "unified", "v2/c", "cgroup.max.depth", "3"}, As::user(1000)).status, 0);
    EXPECT_NE(cgm({"setvalue", "unified", "v2", "cgroup.max.depth", "3"}, As::user(1000)).status, 0);
    EXPECT_NE(cgm({"remove", "unified", "v2/b"}).status, 0);  // busy
    ok({"movepidabs", "all", "/", pid});
    ok({"remove", "unified", "v2/b"});
    EXPECT_FALSE(exists(fs("unified", "v2/b")));
    ok({"prune", "unified", "v2/c"});
    EXPECT_FALSE(exists(fs("unified", "v2/c")));
}

}  // namespace
}  // namespace cgm::test
