// SPDX-License-Identifier: Apache-2.0
//
// cgm against the real daemon in the sandbox: each subcommand's exact output and exit status, as
// root and as another uid; bad arguments refused before the daemon is contacted; and the original
// test suite's scenarios (01-27 but 21 and 22) driven through cgm.
#include <sys/stat.h>

#include <algorithm>

#include "daemon_fixture.h"

namespace cgm::test {
namespace {

class CgmTest : public DaemonTest {
protected:
    RunResult cgm(std::vector<std::string> args, const As& as = As{}) {
        std::vector<std::string> argv = {CGM_CLI_BINARY, "--socket", daemon().socket()};
        argv.insert(argv.end(), args.begin(), args.end());
        return run(argv, as);
    }
    // Expect success with exactly this stdout.
    void out(std::vector<std::string> args, const std::string& expected, const As& as = As{}) {
        auto r = cgm(args, as);
        EXPECT_EQ(r.status, 0) << args[0] << ": " << r.err;
        EXPECT_EQ(r.out, expected) << args[0];
    }
    // Expect failure (exit 1), nothing on stdout, and stderr mentioning `needle`.
    void fails(std::vector<std::string> args, const std::string& needle, const As& as = As{}) {
        auto r = cgm(args, as);
        EXPECT_EQ(r.status, 1) << args[0] << " stdout: " << r.out;
        EXPECT_EQ(r.out, "");
        EXPECT_NE(r.err.find(needle), std::string::npos) << "stderr '" << r.err << "' lacks '" << needle << "'";
    }
};

TEST_F(CgmTest, EverySubcommandsOutput) {
    start();
    auto& sleeper = keep(Child::spawn());
    std::string pid = std::to_string(sleeper.pid());
    out({"ping"}, "");
    out({"ping", "extra", "args"}, "");  // ignored, as in the original
    out({"apiversion"}, "10\n");
    out({"create", "memory", "a/b"}, "");
    out({"create", "memory", "a/b"}, "Path existed\n");
    out({"movepid", "memory", "a/b", pid}, "");
    out({"getpidcgroup", "memory", pid}, "a/b\n");
    out({"getpidcgroupabs", "memory", pid}, "/a/b\n");
    out({"gettasks", "memory", "a/b"}, pid + "\n");
    out({"gettasksrecursive", "memory", "a"}, pid + "\n");
    out({"listchildren", "memory", "a"}, "b\n");
    out({"setvalue", "memory", "a/b", "memory.limit_in_bytes", "67108864"}, "");
    out({"getvalue", "memory", "a/b", "memory.limit_in_bytes"}, "67108864\n");
    out({"chown", "memory", "a", "1000", "1001"}, "");
    EXPECT_EQ(stat_of(fs("memory", "a")).st_uid, 1000u);
    out({"chmod", "memory", "a", "0750"}, "");
    EXPECT_EQ(stat_of(fs("memory", "a")).st_mode & 07777, 0750u);
    out({"chmodfile", "memory", "a", "tasks", "0640"}, "");
    EXPECT_EQ(stat_of(fs("memory", "a/tasks")).st_mode & 07777, 0640u);
    auto keys = cgm({"listkeys", "memory", "a"});
    EXPECT_EQ(keys.status, 0);
    if (pure_v2()) {  // "tasks" is cgroup.procs there
        EXPECT_NE(keys.out.find("cgroup.procs 1000 1001 100640\n"), std::string::npos) << keys.out;
    } else {
        EXPECT_NE(keys.out.find("tasks 1000 1001 100640\n"), std::string::npos) << keys.out;
        EXPECT_NE(keys.out.find("cgroup.procs 1000 1001 100644\n"), std::string::npos) << keys.out;
    }
    auto ctrls = cgm({"listcontrollers"});
    EXPECT_EQ(ctrls.status, 0);
    if (pure_v2()) {  // one hierarchy, named by its controllers
        EXPECT_NE(ctrls.out.find("memory"), std::string::npos) << ctrls.out;
        EXPECT_EQ(std::count(ctrls.out.begin(), ctrls.out.end(), '\n'), 1) << ctrls.out;
    } else {
        EXPECT_NE(ctrls.out.find("memory\n"), std::string::npos);
        EXPECT_NE(ctrls.out.find("name=systemd\n"), std::string::npos);
    }
    out({"movepidabs", "memory", "/", pid}, "");
    EXPECT_EQ(proc_cgroup(sleeper.pid(), "memory"), "/");
    out({"removeonempty", "memory", "a/b"}, "");
    out({"prune", "memory", "a"}, "");
    EXPECT_FALSE(exists(fs("memory", "a")));
    out({"create", "memory", "c/d"}, "");
    fails({"remove", "memory", "c", "0"}, "call to cgmanager_remove_sync (non-recursive) failed");
    EXPECT_TRUE(exists(fs("memory", "c/d")));
    out({"remove", "memory", "c"}, "");
    out({"remove", "memory", "c"}, "Path did not exist\n");
}

TEST_F(CgmTest, RemoveNonRecursiveOfAParentFails) {
    start();
    out({"create", "memory", "xxx/bbb"}, "");
    fails({"remove", "memory", "xxx", "0"}, "call to cgmanager_remove_sync (non-recursive) failed");
    EXPECT_TRUE(exists(fs("memory", "xxx/bbb")));
}

TEST_F(CgmTest, FailuresPrintTheDaemonsReason) {
    start();
    fails({"getvalue", "memory", "", "../x"},
          "call to cgmanager_get_value_sync failed: key '../x' must be a single file name");
    fails({"listchildren", "memory", "nope"}, "cgroup /nope does not exist");
    fails({"create", "bogus", "x"}, "unknown controller 'bogus'");
    fails({"create", "memory", "x"}, "may not read and write cgroup /", As::user(1000));
    EXPECT_FALSE(exists(fs("memory", "x")));
}

TEST_F(CgmTest, AnotherUserWithADelegatedCgroup) {
    start();
    out({"create", "memory", "zzz"}, "");
    out({"chown", "memory", "zzz", "1000", "1000"}, "");
    auto& mine = keep(Child::as_user(1000, 1000));
    As user = As::user(1000);
    out({"movepid", "memory", "zzz", std::to_string(mine.pid())}, "", user);
    out({"create", "memory", "zzz/b"}, "", user);
    out({"setvalue", "memory", "zzz/b", "memory.limit_in_bytes", "67108864"}, "", user);
    out({"getvalue", "memory", "zzz/b", "memory.limit_in_bytes"}, "67108864\n", user);
    fails({"setvalue", "memory", "zzz", "memory.limit_in_bytes", "4096"}, "may not write", user);
    fails({"chown", "memory", "zzz/b", "1001", "1001"}, "not root", user);
}

TEST_F(CgmTest, BadArgumentsAreRefusedWithoutContactingTheDaemon) {
    // No daemon at all: every refusal below must come before any connection attempt.
    auto bad = [](std::vector<std::string> args, const std::string& needle) {
        std::vector<std::string> argv = {CGM_CLI_BINARY, "--socket", "/run/cgmtest/nobody-listens"};
        argv.insert(argv.end(), args.begin(), args.end());
        auto r = run(argv);
        EXPECT_EQ(r.status, 1) << args[0];
        EXPECT_EQ(r.out, "") << args[0];
        EXPECT_EQ(r.err.find("Failed opening"), std::string::npos) << r.err;
        EXPECT_NE(r.err.find(needle), std::string::npos) << "'" << r.err << "' lacks '" << needle << "'";
    };
    bad({"create", "memory"}, "cgroup is required");
    bad({"create", "memory", "a", "extra"}, "extra");
    bad({"chown", "memory", "a", "abc", "0"}, "Bad uid or gid: 'abc'");
    bad({"chown", "memory", "a", "0", "-1"}, "Bad uid or gid: '-1'");
    bad({"chown", "memory", "a", "2147483647", "0"}, "Bad uid or gid");
    bad({"chown", "memory", "a", "99999999999", "0"}, "Bad uid or gid");
    bad({"chmod", "memory", "a", "0778"}, "Bad mode");
    bad({"chmod", "memory", "a", "17777"}, "Bad mode");
    bad({"chmodfile", "memory", "a", "tasks"}, "mode is required");
    bad({"movepid", "memory", "a", "0"}, "Bad pid: '0'");
    bad({"movepid", "memory", "a", "12x"}, "Bad pid: '12x'");
    bad({"getpidcgroup", "memory", "-5"}, "Bad pid");
    bad({"remove", "memory", "a", "yes"}, "Bad recursive flag");
    bad({"frobnicate"}, "unknown command 'frobnicate'");
    auto none = run({CGM_CLI_BINARY});
    EXPECT_EQ(none.status, 1);
    EXPECT_EQ(none.out, "");
    EXPECT_NE(none.err.find("Subcommands:"), std::string::npos);
    auto help = run({CGM_CLI_BINARY, "--help"});
    EXPECT_EQ(help.status, 0);
    EXPECT_NE(help.out.find("Subcommands:"), std::string::npos);
    auto subhelp = run({CGM_CLI_BINARY, "chown", "--help"});
    EXPECT_EQ(subhelp.status, 0);
    EXPECT_NE(subhelp.out.find("Give a cgroup to a user"), std::string::npos);
    auto version = run({CGM_CLI_BINARY, "--version"});
    EXPECT_EQ(version.status, 0);
    EXPECT_EQ(version.out, std::string(CGM_VERSION) + "\n");
    // And with a valid call, the missing daemon is reported as such.
    auto nodaemon = run({CGM_CLI_BINARY, "--socket", "/run/cgmtest/nobody-listens", "ping"});
    EXPECT_EQ(nodaemon.status, 1);
    EXPECT_NE(nodaemon.err.find("Failed opening dbus connection"), std::string::npos) << nodaemon.err;
}

TEST_F(CgmTest, SocketFromTheEnvironment) {
    start();
    auto r = run({CGM_CLI_BINARY, "apiversion"}, As{}, 20000, {{"CGMANAGER_SOCKET", daemon().socket()}});
    EXPECT_EQ(r.status, 0) << r.err;
    EXPECT_EQ(r.out, "10\n");
}

// The original test suite (tests/test*.sh of 0.42), through cgm, with uid 1000 as its second user.
TEST_F(CgmTest, OriginalScenarios) {
    start();
    As user = As::user(1000);
    auto& sleeper = keep(Child::spawn());
    std::string spid = std::to_string(sleeper.pid());
    EXPECT_EQ(cgm({"getvalue", "memory", "", "memory.usage_in_bytes"}).status, 0);       // 01
    out({"getpidcgroup", "memory", spid}, "/\n");                                        // 02
    out({"create", "memory", "xxx/b"}, "");                                              // 03
    EXPECT_EQ(cgm({"getvalue", "memory", "xxx/b", "memory.usage_in_bytes"}).status, 0);  // 04
    fails({"getvalue", "memory", "../xxx0123/b", "memory.usage_in_bytes"}, "'..'");      // 05
    out({"movepid", "memory", "xxx/b", spid}, "");                                       // 06
    EXPECT_EQ(proc_cgroup(sleeper.pid(), "memory"), "/xxx/b");
    out({"getpidcgroup", "memory", spid}, "xxx/b\n");
    out({"movepid", "memory", "xxx", spid}, "");
    fails({"movepid", "memory", "xxx/b", spid}, "may not move process", user);  // 07
    EXPECT_EQ(proc_cgroup(sleeper.pid(), "memory"), "/xxx");
    auto& mover = keep(Child::spawn());
    out({"movepid", "memory", "xxx/b", std::to_string(mover.pid())}, "");  // 08
    out({"create", "memory", "zzz"}, "");                                  // 09
    out({"chown", "memory", "zzz", "1000", "1000"}, "");
    EXPECT_EQ(stat_of(fs("memory", "zzz")).st_uid, 1000u);
    EXPECT_EQ(stat_of(fs("memory", "zzz/tasks")).st_uid, 1000u);
    EXPECT_EQ(stat_of(fs("memory", "zzz/cgroup.procs")).st_uid, 1000u);
    EXPECT_EQ(stat_of(fs("memory", "zzz/memory.limit_in_bytes")).st_uid, 0u);
    auto& usleep = keep(Child::as_user(1000, 1000));
    out({"movepid", "memory", "zzz", std::to_string(usleep.pid())}, "", user);                      // 10
    fails({"setvalue", "memory", "zzz", "memory.limit_in_bytes", "99999"}, "may not write", user);  // 11
    out({"create", "memory", "zzz/b"}, "", user);                                                   // 12
    out({"remove", "memory", "zzz/b", "1"}, "");                                                    // 13
    out({"chown", "memory", "zzz", "1000", "0"}, "");
    out({"create", "memory", "zzz/b"}, "", user);
    out({"setvalue", "memory", "zzz/b", "memory.limit_in_bytes", "99999"}, "", user);
    EXPECT_EQ(read_text(fs("memory", "zzz/b/memory.limit_in_bytes")), "98304\n");
    out({"create", "memory", "xxx/bbb"}, "");  // 14
    EXPECT_NE(cgm({"listchildren", "memory", "xxx"}).out.find("bbb\n"), std::string::npos);
    fails({"remove", "memory", "xxx", "0"}, "(non-recursive) failed");
    out({"remove", "memory", "xxx/bbb", "0"}, "");
    out({"remove", "memory", "xxx/bbb", "0"}, "Path did not exist\n");
    out({"create", "memory", "xxx/c"}, "");  // 15
    auto& t15 = keep(Child::spawn());
    out({"movepid", "memory", "xxx/c", std::to_string(t15.pid())}, "");
    out({"gettasks", "memory", "xxx/c"}, std::to_string(t15.pid()) + "\n");
    out({"create", "memory", "zzz2/b"}, "");  // 16
    out({"chown", "memory", "zzz2/b", "1000", "0"}, "");
    fails({"setvalue", "memory", "zzz2/b", "memory.limit_in_bytes", "new"}, "may not write", user);
    out({"create", "memory", "testchown"}, "");  // 17
    out({"chmodfile", "memory", "testchown", "tasks", "0775"}, "");
    EXPECT_EQ(stat_of(fs("memory", "testchown/tasks")).st_mode & 07777, 0775u);
    out({"remove", "memory", "testchown"}, "");
    out({"create", "memory", "testchown"}, "");
    fails({"chmodfile", "memory", "testchown", "tasks", "0775"}, "may not read and write", user);
    EXPECT_EQ(stat_of(fs("memory", "testchown/tasks")).st_mode & 07777, 0644u);
    out({"chown", "memory", "testchown", "1000", "0"}, "");
    out({"chmodfile", "memory", "testchown", "tasks", "0775"}, "", user);
    EXPECT_EQ(stat_of(fs("memory", "testchown/tasks")).st_mode & 07777, 0775u);
    out({"apiversion"}, "10\n");                  // 18
    out({"create", "memory", "escapetest"}, "");  // 19
    auto& t19 = keep(Child::spawn());
    out({"movepid", "memory", "escapetest", std::to_string(t19.pid())}, "");
    EXPECT_EQ(proc_cgroup(t19.pid(), "memory"), "/escapetest");
    out({"movepidabs", "memory", "/", std::to_string(t19.pid())}, "");
    EXPECT_EQ(proc_cgroup(t19.pid(), "memory"), "/");
    fails({"movepid", "memory", "/", std::to_string(usleep.pid())}, "MovePidAbs", user);
    EXPECT_EQ(cgm({"listchildren", "memory", ""}).status, 0);  // 20
    out({"remove", "memory", "ooga2"}, "Path did not exist\n");
    fails({"listchildren", "memory", "ooga2"}, "does not exist");
    out({"create", "memory", "ooga"}, "");
    out({"listchildren", "memory", "ooga"}, "");
    std::string self = read_text("/proc/self/cgroup");  // 23
    auto ctrls = cgm({"listcontrollers"});
    size_t start = 0;
    while (start < ctrls.out.size()) {
        size_t nl = ctrls.out.find('\n', start);
        std::string c = ctrls.out.substr(start, nl - start);
        start = nl + 1;
        if (pure_v2()) {
            EXPECT_NE(self.find("0::/"), std::string::npos) << c;
        } else if (c != "unified") {
            EXPECT_NE(self.find(":" + c + ":"), std::string::npos) << c;
        }
    }
    out({"create", "freezer", "prune0/prune1/prune2"}, "");  // 24
    fails({"prune", "freezer", "prune0"}, "may not write", user);
    EXPECT_TRUE(exists(fs("freezer", "prune0/prune1/prune2")));
    out({"prune", "freezer", "prune0"}, "");
    fails({"listchildren", "freezer", "prune0"}, "does not exist");
    out({"create", "freezer,memory", "z1/z2/z3"}, "");  // 25
    auto& a = keep(Child::spawn());
    auto& b = keep(Child::spawn());
    auto& c = keep(Child::spawn());
    out({"movepid", "freezer", "z1", std::to_string(a.pid())}, "");
    out({"movepid", "freezer,memory", "z1/z2", std::to_string(b.pid())}, "");
    out({"movepid", "freezer", "z1/z2/z3", std::to_string(c.pid())}, "");
    out({"movepid", "memory", "z1/z2/z3", std::to_string(a.pid())}, "");
    auto lines = [](const std::string& s) { return std::count(s.begin(), s.end(), '\n'); };
    EXPECT_EQ(lines(cgm({"gettasksrecursive", "freezer", "z1"}).out), 3);
    // On a pure v2 host freezer and memory are one hierarchy: a's second move took it from z1.
    EXPECT_EQ(lines(cgm({"gettasksrecursive", "memory", "z1"}).out), pure_v2() ? 3 : 2);
    EXPECT_EQ(lines(cgm({"gettasksrecursive", "freezer", "z1/z2/z3"}).out), pure_v2() ? 2 : 1);
    out({"create", "memory", "listkeys1"}, "");  // 26
    out({"chown", "memory", "listkeys1", "100000", "100000"}, "");
    EXPECT_NE(cgm({"listkeys", "memory", "listkeys1"}).out.find(host_file("tasks") + " 100000 100000 "),
              std::string::npos);
    out({"create", "memory", "sibling"}, "");  // 27
    out({"create", "memory", "sibling1"}, "");
    As inside = As{0, 0, "", false, false, {fs("memory", "sibling")}};
    out({"getpidcgroupabs", "memory", spid}, "/xxx\n", inside);
    fails({"getvalue", "memory", "/sibling1", "memory.limit_in_bytes"}, "outside the caller's cgroup /sibling", inside);
}

}  // namespace
}  // namespace cgm::test
