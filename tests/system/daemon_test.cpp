// SPDX-License-Identifier: Apache-2.0
//
// The real cgmanager binary in the sandbox, driven by real D-Bus clients: python3-dbus and
// dbus-send --peer (libdbus, no Hello), busctl --address and gdbus (they send Hello first).
// Side effects are checked on cgroupfs through the sandbox's /sys/fs/cgroup.
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>

#include "cgmanager/client.h"
#include "daemon_fixture.h"

namespace cgm::test {
namespace {

// ---- every plain method through python3-dbus, dbus-send and busctl -----------------------------

class EveryClient : public DaemonTest, public ::testing::WithParamInterface<std::string> {
protected:
    CallResult c(const std::string& method, const std::string& sig, const std::string& args) {
        return call(GetParam(), method, sig, args);
    }
};

INSTANTIATE_TEST_SUITE_P(Clients, EveryClient, ::testing::ValuesIn(kFullClients),
                         [](const auto& p) { return std::string(p.param == "dbus-send" ? "dbus_send" : p.param); });

#define EXPECT_REPLY(result, expected)                                               \
    do {                                                                             \
        auto r_ = (result);                                                          \
        EXPECT_TRUE(r_.ok) << r_.error_name << ": " << r_.message << "\n" << r_.raw; \
        EXPECT_EQ(r_.json, expected);                                                \
    } while (0)

TEST_P(EveryClient, PingAndApiVersion) {
    start();
    EXPECT_REPLY(c("Ping", "i", "[0]"), "[]");
    EXPECT_REPLY(c("Get:api_version", "", "[]"), "[10]");
}

TEST_P(EveryClient, CreateChownChmodRemove) {
    start();
    EXPECT_REPLY(c("Create", "ss", R"(["memory","a/b"])"), "[-1]");
    EXPECT_TRUE(exists(fs("memory", "a/b")));
    EXPECT_REPLY(c("Create", "ss", R"(["memory","a/b"])"), "[1]");
    EXPECT_REPLY(c("Chown", "ssii", R"(["memory","a",1000,1001])"), "[]");
    EXPECT_EQ(stat_of(fs("memory", "a")).st_uid, 1000u);
    EXPECT_EQ(stat_of(fs("memory", "a/tasks")).st_gid, 1001u);
    EXPECT_REPLY(c("Chmod", "sssi", R"(["memory","a","tasks",416])"), "[]");  // 0640
    EXPECT_EQ(stat_of(fs("memory", "a/tasks")).st_mode & 07777, 0640u);
    EXPECT_REPLY(c("Remove", "ssi", R"(["memory","a",1])"), "[1]");
    EXPECT_FALSE(exists(fs("memory", "a")));
    EXPECT_REPLY(c("Remove", "ssi", R"(["memory","a",1])"), "[-1]");
}

TEST_P(EveryClient, MovePidAndAskWhereItIs) {
    start();
    auto& sleeper = keep(Child::spawn());
    std::string pid = std::to_string(sleeper.pid());
    EXPECT_REPLY(c("Create", "ss", R"(["memory","xxx/b"])"), "[-1]");
    EXPECT_REPLY(c("MovePid", "ssi", R"(["memory","xxx/b",)" + pid + "]"), "[]");
    EXPECT_EQ(proc_cgroup(sleeper.pid(), "memory"), "/xxx/b");
    EXPECT_REPLY(c("GetPidCgroup", "si", R"(["memory",)" + pid + "]"), R"(["xxx/b"])");
    EXPECT_REPLY(c("GetPidCgroupAbs", "si", R"(["memory",)" + pid + "]"), R"(["/xxx/b"])");
    EXPECT_REPLY(c("GetTasks", "ss", R"(["memory","xxx/b"])"), "[[" + pid + "]]");
    EXPECT_REPLY(c("GetTasksRecursive", "ss", R"(["memory","xxx"])"), "[[" + pid + "]]");
    EXPECT_REPLY(c("MovePidAbs", "ssi", R"(["memory","/",)" + pid + "]"), "[]");
    EXPECT_EQ(proc_cgroup(sleeper.pid(), "memory"), "/");
}

TEST_P(EveryClient, ValuesChildrenKeysControllers) {
    start();
    EXPECT_REPLY(c("Create", "ss", R"(["memory","v/one"])"), "[-1]");
    // (A limit below what the child cgroup's own kernel objects take would be refused with EBUSY.)
    EXPECT_REPLY(c("SetValue", "ssss", R"(["memory","v","memory.limit_in_bytes","67108864"])"), "[]");
    EXPECT_EQ(read_text(fs("memory", "v/memory.limit_in_bytes")), "67108864\n");
    EXPECT_REPLY(c("GetValue", "sss", R"(["memory","v","memory.limit_in_bytes"])"), R"(["67108864"])");
    // A value of many lines keeps them (only its trailing newlines go).
    auto stat = c("GetValue", "sss", R"(["memory","v","memory.stat"])");
    ASSERT_TRUE(stat.ok) << stat.raw;
    EXPECT_NE(stat.json.find(pure_v2() ? "\\nfile " : "\\ntotal_cache "), std::string::npos) << stat.json;
    EXPECT_REPLY(c("ListChildren", "ss", R"(["memory","v"])"), R"([["one"]])");
    EXPECT_REPLY(c("Chown", "ssii", R"(["memory","v",100000,100000])"), "[]");
    auto keys = c("ListKeys", "ss", R"(["memory","v"])");
    ASSERT_TRUE(keys.ok) << keys.message;
    struct stat st = stat_of(fs("memory", "v/cgroup.procs"));
    EXPECT_NE(keys.json.find(R"(["cgroup.procs",100000,100000,)" + std::to_string(st.st_mode) + "]"), std::string::npos)
        << keys.json;
    auto ctrls = c("ListControllers", "", "[]");
    ASSERT_TRUE(ctrls.ok) << ctrls.message;
    if (pure_v2()) {  // one hierarchy, named by its controllers
        EXPECT_NE(ctrls.json.find("memory"), std::string::npos) << ctrls.json;
    } else {
        for (const char* name : {"\"memory\"", "\"name=systemd\"", "\"freezer\"", "\"unified\""})
            EXPECT_NE(ctrls.json.find(name), std::string::npos) << ctrls.json;
    }
    EXPECT_REPLY(c("RemoveOnEmpty", "ss", R"(["memory","v/one"])"), "[]");
    EXPECT_REPLY(c("Prune", "ss", R"(["memory","v"])"), "[]");
    EXPECT_FALSE(exists(fs("memory", "v")));
}

TEST_P(EveryClient, ErrorsCarryTheirNameAndReason) {
    start();
    auto r = c("GetValue", "sss", R"(["memory","","../memory.limit_in_bytes"])");
    EXPECT_FALSE(r.ok);
    if (r.error_name != "?") {
        EXPECT_EQ(r.error_name, "org.freedesktop.DBus.Error.InvalidArgs");
    }
    EXPECT_NE(r.message.find("single file name"), std::string::npos) << r.message;
    auto missing = c("ListChildren", "ss", R"(["memory","nonexistent"])");
    EXPECT_FALSE(missing.ok);
    if (missing.error_name != "?") {
        EXPECT_EQ(missing.error_name, "org.freedesktop.DBus.Error.FileNotFound");
    }
    EXPECT_NE(missing.message.find("/nonexistent does not exist"), std::string::npos) << missing.message;
}

// gdbus, which sends Hello first, through a representative set of methods.
TEST_F(DaemonTest, GdbusCalls) {
    start();
    EXPECT_REPLY(call("gdbus", "Ping", "i", "[0]"), "[]");
    EXPECT_REPLY(call("gdbus", "Create", "ss", R"(["memory","g"])"), "[-1]");
    EXPECT_REPLY(call("gdbus", "ListChildren", "ss", R"(["memory",""])"), R"([["g"]])");
    if (pure_v2()) {
        EXPECT_REPLY(call("gdbus", "GetValue", "sss", R"(["memory","g","cgroup.max.depth"])"), R"(["max"])");
    } else {
        EXPECT_REPLY(call("gdbus", "GetValue", "sss", R"(["memory","g","notify_on_release"])"), R"(["0"])");
    }
    EXPECT_REPLY(call("gdbus", "Get:api_version", "", "[]"), "[10]");
    auto err = call("gdbus", "Create", "ss", R"(["bogus","g"])");
    EXPECT_FALSE(err.ok);
    EXPECT_EQ(err.error_name, "org.freedesktop.DBus.Error.InvalidArgs");
    EXPECT_NE(err.message.find("unknown controller 'bogus'"), std::string::npos) << err.message;
}

TEST_F(DaemonTest, IntrospectionEqualsTheInterfaceXml) {
    start();
    auto r = run({"/usr/bin/python3", CGM_TESTS_DIR "/support/introspect_check.py", CGM_DBUS_XML, daemon().address()});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("matches the XML (34 methods)"), std::string::npos) << r.out;
}

TEST_F(DaemonTest, CompatErrorsAnswerInvalidRequest) {
    start(Daemon::Config::with_args({"--compat-errors"}));
    refused("ListChildren", "ss", R"(["memory","nonexistent"])", "InvalidArgs", "invalid request");
    refused("Create", "ss", R"(["bogus","x"])", "InvalidArgs", "invalid request");
}

// ---- the original's scenarios, as root, uid 1000 and container root ---------------

TEST_F(DaemonTest, Scenarios01To08) {
    start();
    auto& sleeper = keep(Child::spawn());
    std::string pid = std::to_string(sleeper.pid());
    ok("GetValue", "sss", R"(["memory","","memory.usage_in_bytes"])");                                          // 01
    EXPECT_EQ(ok("GetPidCgroup", "si", R"(["memory",)" + pid + "]"), R"(["/"])");                               // 02
    ok("Create", "ss", R"(["memory","xxx/b"])");                                                                // 03
    ok("GetValue", "sss", R"(["memory","xxx/b","memory.usage_in_bytes"])");                                     // 04
    refused("GetValue", "sss", R"(["memory","../xxx0123/b","memory.usage_in_bytes"])", "InvalidArgs", "'..'");  // 05
    ok("MovePid", "ssi", R"(["memory","xxx/b",)" + pid + "]");                                                  // 06
    EXPECT_EQ(proc_cgroup(sleeper.pid(), "memory"), "/xxx/b");
    EXPECT_EQ(ok("GetPidCgroup", "si", R"(["memory",)" + pid + "]"), R"(["xxx/b"])");
    ok("MovePid", "ssi", R"(["memory","xxx",)" + pid + "]");
    EXPECT_EQ(proc_cgroup(sleeper.pid(), "memory"), "/xxx");
    refused("MovePid", "ssi", R"(["memory","xxx/b",)" + pid + "]", "AccessDenied", "may not move process",
            As::user(1000));  // 07
    EXPECT_EQ(proc_cgroup(sleeper.pid(), "memory"), "/xxx");
    ok("MovePid", "ssi", R"(["memory","xxx/b","@self"])");  // 08
}

TEST_F(DaemonTest, Scenarios09To13DelegationToAUser) {
    start();
    ok("Create", "ss", R"(["memory","zzz"])");
    ok("Chown", "ssii", R"(["memory","zzz",1000,1000])");  // 09
    EXPECT_EQ(stat_of(fs("memory", "zzz")).st_uid, 1000u);
    EXPECT_EQ(stat_of(fs("memory", "zzz/tasks")).st_uid, 1000u);
    EXPECT_EQ(stat_of(fs("memory", "zzz/cgroup.procs")).st_uid, 1000u);
    EXPECT_EQ(stat_of(fs("memory", "zzz/memory.limit_in_bytes")).st_uid, 0u);
    auto& mine = keep(Child::as_user(1000, 1000));
    ok("MovePid", "ssi", R"(["memory","zzz",)" + std::to_string(mine.pid()) + "]", As::user(1000));  // 10
    EXPECT_EQ(proc_cgroup(mine.pid(), "memory"), "/zzz");
    refused("SetValue", "ssss", R"(["memory","zzz","memory.limit_in_bytes","99999"])", "AccessDenied",
            "memory.limit_in_bytes", As::user(1000));             // 11
    ok("Create", "ss", R"(["memory","zzz/b"])", As::user(1000));  // 12
    ok("Remove", "ssi", R"(["memory","zzz/b",1])");               // 13
    ok("Chown", "ssii", R"(["memory","zzz",1000,0])");
    ok("Create", "ss", R"(["memory","zzz/b"])", As::user(1000));
    ok("SetValue", "ssss", R"(["memory","zzz/b","memory.limit_in_bytes","99999"])", As::user(1000));
    EXPECT_EQ(read_text(fs("memory", "zzz/b/memory.limit_in_bytes")), "98304\n");
}

TEST_F(DaemonTest, Scenarios14To20) {
    start();
    ok("Create", "ss", R"(["memory","xxx/bbb"])");  // 14
    EXPECT_NE(ok("ListChildren", "ss", R"(["memory","xxx"])").find("bbb"), std::string::npos);
    refused("Remove", "ssi", R"(["memory","xxx",0])", "Failed", "child cgroups");
    EXPECT_TRUE(exists(fs("memory", "xxx/bbb")));
    EXPECT_EQ(ok("Remove", "ssi", R"(["memory","xxx",1])"), "[1]");
    ok("Create", "ss", R"(["memory","xxx/b"])");
    EXPECT_EQ(ok("Remove", "ssi", R"(["memory","xxx/bbb",0])"), "[-1]");
    auto& sleeper = keep(Child::spawn());  // 15
    ok("Create", "ss", R"(["memory","xxx/c"])");
    ok("MovePid", "ssi", R"(["memory","xxx/c",)" + std::to_string(sleeper.pid()) + "]");
    EXPECT_EQ(ok("GetTasks", "ss", R"(["memory","xxx/c"])"), "[[" + std::to_string(sleeper.pid()) + "]]");
    ok("Create", "ss", R"(["memory","zzz/b"])");  // 16
    ok("Chown", "ssii", R"(["memory","zzz/b",1000,0])");
    refused("SetValue", "ssss", R"(["memory","zzz/b","memory.limit_in_bytes","new"])", "AccessDenied", "may not write",
            As::user(1000));
    ok("Create", "ss", R"(["memory","testchown"])");               // 17
    ok("Chmod", "sssi", R"(["memory","testchown","tasks",509])");  // 0775
    EXPECT_EQ(stat_of(fs("memory", "testchown/tasks")).st_mode & 07777, 0775u);
    refused("Chmod", "sssi", R"(["memory","testchown","tasks",448])", "AccessDenied", "tasks", As::user(1000));
    ok("Chown", "ssii", R"(["memory","testchown",1000,0])");
    ok("Chmod", "sssi", R"(["memory","testchown","tasks",448])", As::user(1000));
    EXPECT_EQ(stat_of(fs("memory", "testchown/tasks")).st_mode & 07777, 0700u);
    EXPECT_EQ(ok("Get:api_version", "", "[]"), "[10]");  // 18
    ok("Create", "ss", R"(["memory","escapetest"])");    // 19
    auto& mover = keep(Child::spawn());
    ok("MovePid", "ssi", R"(["memory","escapetest",)" + std::to_string(mover.pid()) + "]");
    EXPECT_EQ(proc_cgroup(mover.pid(), "memory"), "/escapetest");
    ok("MovePidAbs", "ssi", R"(["memory","/",)" + std::to_string(mover.pid()) + "]");
    EXPECT_EQ(proc_cgroup(mover.pid(), "memory"), "/");
    auto& users = keep(Child::as_user(1000, 1000));
    refused("MovePid", "ssi", R"(["memory","/",)" + std::to_string(users.pid()) + "]", "InvalidArgs", "MovePidAbs",
            As::user(1000));
    ok("ListChildren", "ss", R"(["memory",""])");  // 20
    ok("Remove", "ssi", R"(["memory","ooga2",1])");
    refused("ListChildren", "ss", R"(["memory","ooga2"])", "FileNotFound", "ooga2");
    ok("Create", "ss", R"(["memory","ooga"])");
    EXPECT_EQ(ok("ListChildren", "ss", R"(["memory","ooga"])"), "[[]]");
}

TEST_F(DaemonTest, Scenarios23To27) {
    start();
    auto ctrls = ok("ListControllers", "", "[]");  // 23
    std::string self = read_text("/proc/self/cgroup");
    if (pure_v2()) {
        // One hierarchy, named by its controllers; this process is on its 0:: line.
        for (const char* c : {"memory", "cpu", "io", "pids"})
            EXPECT_NE(ctrls.find(c), std::string::npos) << ctrls;
        EXPECT_EQ(std::count(ctrls.begin(), ctrls.end(), '"'), 2) << ctrls;
        EXPECT_NE(self.find("0::/"), std::string::npos) << self;
    } else {
        for (const char* v1 : {"memory", "freezer", "name=systemd", "cpuset", "pids"}) {
            EXPECT_NE(ctrls.find(std::string("\"") + v1 + "\""), std::string::npos);
            EXPECT_NE(self.find(std::string(":") + v1 + ":"), std::string::npos);
        }
    }
    ok("Create", "ss", R"(["freezer","prune0/prune1/prune2"])");  // 24
    refused("Prune", "ss", R"(["freezer","prune0"])", "AccessDenied", "prune0", As::user(1000));
    EXPECT_TRUE(exists(fs("freezer", "prune0/prune1/prune2")));
    ok("Prune", "ss", R"(["freezer","prune0"])");
    refused("ListChildren", "ss", R"(["freezer","prune0"])", "FileNotFound", "prune0");
    ok("Create", "ss", R"(["freezer","z1/z2/z3"])");  // 25
    ok("Create", "ss", R"(["memory","z1/z2/z3"])");
    auto& a = keep(Child::spawn());
    auto& b = keep(Child::spawn());
    auto& c = keep(Child::spawn());
    for (auto [ctrl, cg, pid] : {std::tuple{"freezer", "z1", a.pid()},
                                 {"freezer", "z1/z2", b.pid()},
                                 {"freezer", "z1/z2/z3", c.pid()},
                                 {"memory", "z1/z2", a.pid()},
                                 {"memory", "z1/z2/z3", b.pid()}})
        ok("MovePid", "ssi", fmt::format(R"(["{}","{}",{}])", ctrl, cg, pid));
    auto count = [](const std::string& json) { return std::count(json.begin(), json.end(), ',') + 1; };
    EXPECT_EQ(count(ok("GetTasksRecursive", "ss", R"(["freezer","z1"])")), 3);
    // On a pure v2 host freezer and memory are one hierarchy: the memory moves moved a and b again.
    EXPECT_EQ(count(ok("GetTasksRecursive", "ss", R"(["memory","z1"])")), pure_v2() ? 3 : 2);
    EXPECT_EQ(count(ok("GetTasksRecursive", "ss", R"(["freezer","z1/z2/z3"])")), pure_v2() ? 2 : 1);
    ok("Create", "ss", R"(["memory","listkeys1"])");  // 26
    ok("Chown", "ssii", R"(["memory","listkeys1",100000,100000])");
    EXPECT_NE(ok("ListKeys", "ss", R"(["memory","listkeys1"])").find("[\"" + host_file("tasks") + "\",100000,"),
              std::string::npos);
    ok("Create", "ss", R"(["memory","sibling"])");  // 27
    ok("Create", "ss", R"(["memory","sibling1"])");
    refused("GetValue", "sss", R"(["memory","/sibling1","memory.limit_in_bytes"])", "AccessDenied",
            "outside the caller's cgroup /sibling", As{0, 0, "", false, false, {fs("memory", "sibling")}});
}

// Container root (a user namespace mapping 0 to host 100000) over plain calls: it manages what is
// mapped to it, and is refused the rest.
TEST_F(DaemonTest, RootOfAUserNamespace) {
    start();
    ok("Create", "ss", R"(["freezer","ct"])");
    ok("Chown", "ssii", R"(["freezer","ct",100000,100000])");
    As ct = As::userns_root(100000);
    ct.join = {fs("freezer", "ct")};
    ok("Create", "ss", R"(["freezer","nested"])", ct);
    EXPECT_EQ(stat_of(fs("freezer", "ct/nested")).st_uid, 100000u);
    ok("MovePid", "ssi", R"(["freezer","nested","@self"])", ct);
    // Keys show owners as the namespace sees them: 100000 is its 0, host root is unmapped.
    std::string keys = ok("ListKeys", "ss", R"(["freezer","nested"])", ct);
    EXPECT_NE(keys.find("[\"" + host_file("tasks") + "\",0,0,"), std::string::npos) << keys;
    refused("Chown", "ssii", R"(["freezer","nested",0,0])", "AccessDenied", "different user namespace", ct);
    As outsider = As::userns_root(200000);
    outsider.join = {fs("freezer", "ct")};
    refused("Create", "ss", R"(["freezer","x"])", "AccessDenied", "uid 200000 may not", outsider);
    EXPECT_FALSE(exists(fs("freezer", "ct/x")));
}

TEST_F(DaemonTest, PidMethodsFromAnotherPidNamespaceNeedAProxy) {
    start();
    auto& victim = keep(Child::spawn());
    As inner;
    inner.pidns = true;
    refused("GetPidCgroup", "si", R"(["memory",)" + std::to_string(victim.pid()) + "]", "AccessDenied",
            "different pid namespace", inner);
    refused("MovePid", "ssi", R"(["memory","",)" + std::to_string(victim.pid()) + "]", "AccessDenied",
            "requires a proxy", inner);
    ok("Create", "ss", R"(["memory","from_pidns"])", inner);
}

// ---- connections: libdbus pipelining, concurrency, misbehaving peers -------------------------------

TEST_F(DaemonTest, FreshLibdbusConnectionsAreAnsweredAtOnce) {
    start();
    auto r = run({"/usr/bin/python3", "-c", R"(
import sys, time, dbus
worst = 0
for i in range(100):
    t = time.monotonic()
    c = dbus.connection.Connection(sys.argv[1])
    c.call_blocking(None, '/org/linuxcontainers/cgmanager', 'org.linuxcontainers.cgmanager0_0', 'GetValue', 'sss',
                    ['memory', '', 'memory.usage_in_bytes'], timeout=5)
    c.close()
    worst = max(worst, time.monotonic() - t)
print('worst %.3f' % worst)
sys.exit(0 if worst < 1.0 else 1)
)",
                  daemon().address()});
    EXPECT_EQ(r.status, 0) << r.out << r.err;
}

TEST_F(DaemonTest, EightConcurrentClientsMakeMixedCallsWithoutError) {
    start();
    auto r = run({"/usr/bin/python3", CGM_TESTS_DIR "/support/concurrent_clients.py", daemon().address(), "8", "1000"},
                 As{}, 120000);
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("8000 calls, 0 errors"), std::string::npos) << r.out << r.err;
}

TEST_F(DaemonTest, SilentAndNonReadingClientsDoNotDelayOthers) {
    start(Daemon::Config::with_args({"--auth-timeout", "300"}));
    auto r = run({"/usr/bin/python3", CGM_TESTS_DIR "/support/misbehaving_clients.py", daemon().socket()}, As{}, 60000);
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(daemon().log().find("did not authenticate in time"), std::string::npos);
    EXPECT_NE(daemon().log().find("does not read them"), std::string::npos);
    EXPECT_NE(daemon().log().find("bytes; the limit is 1048576"), std::string::npos) << daemon().log();
    EXPECT_NE(daemon().log().find("the peer announced a message of 2"), std::string::npos);  // 200 MiB and more
}

TEST_F(DaemonTest, CallsFromAProcessThatInheritedTheConnectionAreRefused) {
    start();
    auto r = run({"/usr/bin/python3", "-c", R"(
import os, sys, dbus
c = dbus.connection.Connection(sys.argv[1])
def call(m, sig, args):
    return c.call_blocking(None, '/org/linuxcontainers/cgmanager', 'org.linuxcontainers.cgmanager0_0', m, sig, args,
                           timeout=5)
call('Ping', 'i', [0])
r, w = os.pipe()
if os.fork() == 0:
    os.close(w)
    os.read(r, 1)               # wait until the connecting process has exited
    call('Ping', 'i', [0])      # needs no identity: still fine
    try:
        call('ListChildren', 'ss', ['memory', ''])
        print('not refused', flush=True)  # (os._exit flushes nothing)
        os._exit(1)
    except dbus.DBusException as e:
        print(e.get_dbus_name(), e.get_dbus_message(), flush=True)
        os._exit(0 if 'has exited' in e.get_dbus_message() else 1)
os._exit(0)
)",
                  daemon().address()});
    // The parent exits at once; the child's verdict is in the output, and it exits after.
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    // The child holds stdout open until it finishes, so its line is there.
    EXPECT_NE(r.out.find("org.freedesktop.DBus.Error.AccessDenied"), std::string::npos) << r.out << r.err;
}

// ---- lifecycle ------------------------------------------------------------------------------------

TEST_F(DaemonTest, SecondDaemonOnTheSameSocketRefusesToStart) {
    Daemon& first = start();
    auto second = Daemon::start({{}, first.socket(), false, false, "", {}});
    EXPECT_EQ(second->wait_exit(), 1);
    EXPECT_NE(second->log().find("already running"), std::string::npos) << second->log();
    EXPECT_REPLY(call("python", "Ping", "i", "[0]"), "[]");
}

TEST_F(DaemonTest, StaleSocketIsReplacedAndSigtermRemovesIt) {
    ::mkdir("/run/cgmtest", 0755);
    std::string path = "/run/cgmtest/stale.sock";
    {
        UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        struct sockaddr_un addr {};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
        ::unlink(path.c_str());
        ASSERT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    }  // closed without listening: a stale socket file stays
    ASSERT_TRUE(exists(path));
    Daemon& d = start({{}, path, false, true, "", {}});
    EXPECT_REPLY(call("python", "Ping", "i", "[0]"), "[]");
    EXPECT_EQ(stat_of(path).st_mode & 0777, 0666u);
    EXPECT_EQ(d.stop(SIGTERM), 0);
    EXPECT_FALSE(exists(path));
    auto notes = d.notifications();
    EXPECT_NE(std::find(notes.begin(), notes.end(), "STOPPING=1"), notes.end());
}

// No daemon there: the client library names the path and the cause, and (checked by LeakSanitizer
// in the sanitized run) a failed connect leaks nothing, even repeated as a proxy would repeat it.
TEST(ClientConnect, FailuresNameThePathAndTheCause) {
    char dir[] = "/tmp/cgm-connect-XXXXXX";
    ASSERT_NE(::mkdtemp(dir), nullptr);
    const std::string missing = std::string(dir) + "/missing.sock";
    const std::string stale = std::string(dir) + "/stale.sock";
    const std::string file = std::string(dir) + "/file";
    {
        UniqueFd s(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        struct sockaddr_un addr {};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", stale.c_str());
        ASSERT_EQ(::bind(s.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
    }  // bound, never listened on: what a killed daemon leaves
    std::ofstream(file) << "not a socket";
    auto attempt = [](const std::string& path) {
        auto c = client::Client::connect(client::Options{path, std::chrono::milliseconds(1000)});
        EXPECT_FALSE(c.ok()) << path;
        return c ? Error() : c.error();
    };
    Error e = attempt(missing);
    EXPECT_EQ(e.kind, ErrorKind::NotFound);
    EXPECT_EQ(e.message, "cannot connect to cgmanager at " + missing + ": No such file or directory");
    for (int i = 0; i < 100; ++i) {
        e = attempt(stale);
        ASSERT_EQ(e.message, "cannot connect to cgmanager at " + stale + ": Connection refused");
    }
    e = attempt(file);
    EXPECT_EQ(e.message, "cannot connect to cgmanager at " + file + ": Connection refused");
    e = attempt(std::string(dir) + "/" + std::string(120, 'x'));
    EXPECT_EQ(e.kind, ErrorKind::InvalidArgs);
    EXPECT_NE(e.message.find("too long for a unix socket"), std::string::npos) << e.message;
    for (const auto& p : {stale, file})
        ::unlink(p.c_str());
    ::rmdir(dir);
}

TEST_F(DaemonTest, DefaultSocketIsTheHistoricPathOnATmpfs) {
    CGM_SKIP_ON_PURE_V2("/sys/fs/cgroup is the cgroup2 itself there (its historic socket: tools/vm/v2-smoke)");
    Daemon& d = start({{}, "/sys/fs/cgroup/cgmanager/sock", true, true, "", {}});
    EXPECT_TRUE(exists("/sys/fs/cgroup/cgmanager/sock"));
    EXPECT_EQ(stat_of("/sys/fs/cgroup/cgmanager").st_mode & 0777, 0755u);
    EXPECT_REPLY(call("dbus-send", "Ping", "i", "[0]"), "[]");
    EXPECT_EQ(d.stop(SIGINT), 0);
    EXPECT_FALSE(exists("/sys/fs/cgroup/cgmanager/sock"));
}

TEST_F(DaemonTest, SocketActivation) {
    ::mkdir("/run/cgmtest", 0755);
    std::string path = "/run/cgmtest/activated.sock";
    ::unlink(path.c_str());
    // systemd-socket-activate listens, and execs cgmanager with the socket on the first connection.
    auto activator = run({"/bin/sh", "-c",
                          "systemd-socket-activate -l " + path +
                              " " CGM_DAEMON_BINARY
                              " --rundir /run/cgmtest/act-rundir --verbose >/run/cgmtest/act.log 2>&1 & echo $!"});
    pid_t pid = std::stoi(activator.out);
    // Wait for the listening socket to appear, then call through it: that starts the daemon.
    for (int i = 0; i < 1000 && !exists(path); ++i)
        ::usleep(5000);
    ASSERT_TRUE(exists(path));
    EXPECT_REPLY(test::call("python", "unix:path=" + path, "Ping", "i", "[0]"), "[]");
    auto ctrls = test::call("busctl", "unix:path=" + path, "ListControllers", "", "[]");
    EXPECT_TRUE(ctrls.ok) << ctrls.raw;
    EXPECT_NE(ctrls.json.find(pure_v2() ? "memory" : "\"memory\""), std::string::npos) << ctrls.json;
    ::kill(pid, SIGTERM);
    int raw = 0;
    ::waitpid(pid, &raw, 0);
    EXPECT_TRUE(WIFEXITED(raw) && WEXITSTATUS(raw) == 0) << read_text("/run/cgmtest/act.log");
    EXPECT_NE(read_text("/run/cgmtest/act.log").find("using the socket passed by systemd"), std::string::npos);
    EXPECT_TRUE(exists(path));  // it was not ours to remove
    ::unlink(path.c_str());
}

// On a hybrid host a cgroup2 that offers no controllers (the sandbox's, on these machines) is not
// managed unless -m unified asks, as with 0.42: "all" then means the v1 hierarchies (LXC 2.0
// chmods "tasks" in all of them) and every ListControllers entry names a controller of
// /proc/self/cgroup (the original's test 23).
TEST_F(DaemonTest, AControllerlessCgroup2BesideV1IsManagedOnlyWhenAsked) {
    if (!read_text(fs("unified") + "/cgroup.controllers").empty())
        GTEST_SKIP() << "the sandbox's cgroup2 offers controllers here: "
                     << read_text(fs("unified") + "/cgroup.controllers");
    Daemon::Config config;
    config.manage_unified = false;
    Daemon& d = start(config);
    auto ctrls = ok("ListControllers", "", "[]");
    EXPECT_EQ(ctrls.find("\"unified\""), std::string::npos) << ctrls;
    EXPECT_NE(d.log().find("cgroup2 offers no controllers here and v1 hierarchies are managed; not managing it"),
              std::string::npos)
        << d.log();
    const std::string self = read_text("/proc/self/cgroup");
    size_t names = 0;
    for (size_t at = ctrls.find('"'); at != std::string::npos; at = ctrls.find('"', at + 1)) {
        const size_t end = ctrls.find('"', at + 1);
        ASSERT_NE(end, std::string::npos) << ctrls;
        const std::string name = ctrls.substr(at + 1, end - at - 1);
        EXPECT_NE(self.find(":" + name + ":"), std::string::npos) << name << " is not in\n" << self;
        ++names;
        at = end;
    }
    EXPECT_GE(names, 5u) << ctrls;
    refused("Create", "ss", R"(["unified","x"])", "InvalidArgs", "unknown controller 'unified'");
    ok("Create", "ss", R"(["all","lxc/c2"])");
    ok("Chmod", "sssi", R"(["all","lxc/c2","tasks",436])");  // 0664, as LXC 2.0 does
    for (const char* h : {"memory", "freezer", "systemd"})
        EXPECT_EQ(stat_of(fs(h, "lxc/c2/tasks")).st_mode & 0777, 0664u) << h;
    EXPECT_FALSE(exists(fs("unified", "lxc")));
    ok("Remove", "ssi", R"(["all","lxc",1])");
    EXPECT_FALSE(exists(fs("memory", "lxc")));
    // Asked for, it is managed (and "all" then includes it).
    start();
    EXPECT_NE(ok("ListControllers", "", "[]").find("\"unified\""), std::string::npos);
}

// The unified hierarchy serves v1 keys (docs/dbus-api.md, "cgroup v1 names on cgroup v2"), here
// beside the v1 hierarchies of this hybrid host: LXC 2.0's Chmod of "tasks" in "all" changes
// cgroup.procs in cgroup2, GetValue of "tasks" there lists thread ids, a v1 key without an
// equivalent is NotSupported, and the v1 hierarchies keep their own files. (The VM tier checks
// the conversions with real memory, cpu, io, hugetlb and the freezer: tools/vm/v2-smoke.)
TEST_F(DaemonTest, TheUnifiedHierarchyServesV1Keys) {
    CGM_SKIP_ON_PURE_V2("needs v1 hierarchies beside the cgroup2 (on pure v2: tools/vm/v2-smoke)");
    start();  // with -m unified: the sandbox's cgroup2 is managed, controllers or not
    ASSERT_NE(ok("ListControllers", "", "[]").find("unified"), std::string::npos);
    ok("Create", "ss", R"(["all","lxc/c1"])");
    ASSERT_TRUE(exists(fs("unified", "lxc/c1")));
    ok("Chmod", "sssi", R"(["all","lxc/c1","tasks",436])");  // 0664, as LXC 2.0 does
    for (const char* h : {"memory", "freezer", "systemd"})
        EXPECT_EQ(stat_of(fs(h, "lxc/c1/tasks")).st_mode & 0777, 0664u) << h;
    EXPECT_EQ(stat_of(fs("unified", "lxc/c1/cgroup.procs")).st_mode & 0777, 0664u);
    auto member = Child::spawn();  // one thread: its thread id is its pid
    const std::string pid = std::to_string(member->pid());
    ok("MovePid", "ssi", "[\"all\",\"lxc/c1\"," + pid + "]");
    EXPECT_EQ(ok("GetValue", "sss", R"(["unified","lxc/c1","tasks"])"), "[\"" + pid + "\"]");  // from the leaf
    EXPECT_EQ(ok("GetValue", "sss", R"(["freezer","lxc/c1","tasks"])"), "[\"" + pid + "\"]");  // v1's own file
    refused("GetValue", "sss", R"(["unified","lxc/c1","devices.list"])", "NotSupported",
            "key 'devices.list' has no cgroup v2 equivalent: the devices controller on cgroup v2 is an eBPF program");
    refused("SetValue", "ssss", R"(["unified","lxc/c1","memory.limit_in_bytes","1M"])", "FileNotFound",
            "file 'memory.max' (for 'memory.limit_in_bytes') of cgroup /lxc/c1 does not exist");
    refused("SetValue", "ssss", R"(["unified","lxc/c1","tasks","1"])", "AccessDenied", "use MovePid");
    // The v1 hierarchies keep their own files.
    ok("SetValue", "ssss", R"(["memory","lxc/c1","memory.limit_in_bytes","67108864"])");
    EXPECT_EQ(read_text(fs("memory", "lxc/c1/memory.limit_in_bytes")), "67108864\n");
    refused("GetValue", "sss", R"(["memory","lxc/c1","memory.max"])", "FileNotFound", "does not exist");
    member.reset();
    ok("Remove", "ssi", R"(["all","lxc",1])");
}

// --historic-socket on a host whose /sys/fs/cgroup is a tmpfs (the sandbox's, as on v1 and hybrid
// hosts) and a socket elsewhere: the historic path reaches the daemon while it runs, also for a
// client that only knows that path, and is gone once it exits, however it exits. (On pure v2,
// where the path is covered by a tmpfs over a cgroup: tools/vm/v2-smoke.)
TEST_F(DaemonTest, TheHistoricSocketPathReachesTheDaemonWhileItRuns) {
    CGM_SKIP_ON_PURE_V2("/sys/fs/cgroup is the cgroup2 itself there (its historic socket: tools/vm/v2-smoke)");
    const std::string historic = "/sys/fs/cgroup/cgmanager/sock";
    ASSERT_FALSE(exists(historic));
    for (int sig : {SIGTERM, SIGKILL}) {
        SCOPED_TRACE(sig);
        Daemon& d = start(Daemon::Config::with_args({"--historic-socket"}));
        ASSERT_NE(d.socket(), historic);
        struct stat st {};
        ASSERT_EQ(::stat(historic.c_str(), &st), 0);
        EXPECT_TRUE(S_ISSOCK(st.st_mode));
        EXPECT_EQ(st.st_ino, stat_of(d.socket()).st_ino);
        auto r = test::call("python", "unix:path=" + historic, "Ping", "i", "[0]", As{});
        EXPECT_TRUE(r.ok) << r.message;
        auto cgm = run({CGM_CLI_BINARY, "ping"}, As::user(1000));
        EXPECT_EQ(cgm.status, 0) << cgm.err;  // cgm's default: the historic path, where it exists
        // A second daemon asking for the path while this one answers there is refused.
        Daemon::Config again = Daemon::Config::with_args({"--historic-socket"});
        again.expect_ready = false;
        auto second = Daemon::start(again);
        EXPECT_EQ(second->wait_exit(), 1);
        EXPECT_NE(second->log().find("another daemon answers on " + historic), std::string::npos) << second->log();
        EXPECT_TRUE(exists(historic));
        d.stop(sig);
        EXPECT_TRUE(eventually(5000, [&] { return !exists(historic); })) << d.log();
    }
    // Where the daemon listens on the historic path itself, there is nothing to link.
    Daemon::Config c = Daemon::Config::with_args({"--historic-socket"});
    c.socket = historic;
    Daemon& d = start(c);
    EXPECT_TRUE(S_ISSOCK(stat_of(historic).st_mode));
    d.stop();
    EXPECT_FALSE(exists(historic));
}

// cgroup v2's delegation containment (docs/security.md, "Moving between delegated cgroups"): uid
// 1000 owns /ct8 and /ct9 separately. By default it may move its process from one to the other
// (0.42's rule, as on v1); with --v2-containment only within what it owns below a common ancestor
// whose cgroup.procs it may write, as the kernel rules for a direct write. v1 hierarchies keep
// 0.42's rule either way.
TEST_F(DaemonTest, V2ContainmentIsTheKernelsRuleWhenAsked) {
    for (bool enforced : {false, true}) {
        SCOPED_TRACE(enforced ? "--v2-containment" : "default");
        start(enforced ? Daemon::Config::with_args({"--v2-containment"}) : Daemon::Config{});
        for (const char* ct : {"ct8", "ct9"}) {
            ok("Create", "ss", fmt::format(R"(["unified,memory","{}"])", ct));
            ok("Chown", "ssii", fmt::format(R"(["unified,memory","{}",1000,1000])", ct));
        }
        auto mine = Child::as_user(1000, 1000);
        const int32_t pid = mine->pid();
        ok("MovePidAbs", "ssi", fmt::format(R"(["unified,memory","/ct8",{}])", pid));
        RawBus& bus = connect_as(1000);
        auto to_ct9 = bus.call("MovePidAbs", "ssi", "unified", "/ct9", pid);
        if (!enforced) {
            EXPECT_TRUE(to_ct9.ok) << to_ct9.describe();
            EXPECT_EQ(proc_cgroup2_raw(pid), "/ct9/.cgm_leaf");
        } else {
            EXPECT_EQ(to_ct9.error_name, "org.freedesktop.DBus.Error.AccessDenied");
            EXPECT_NE(to_ct9.message.find(fmt::format(
                          "moving process {} from /ct8 to /ct9 needs write access to cgroup.procs of /, their "
                          "common ancestor (cgroup v2's delegation containment, --v2-containment): uid 1000 may "
                          "not write file 'cgroup.procs' of cgroup /",
                          pid)),
                      std::string::npos)
                << to_ct9.message;
            EXPECT_EQ(proc_cgroup2_raw(pid), "/ct8/.cgm_leaf");  // nothing moved
            // Within its own ct8, and on v1 between ct8 and ct9, it still may.
            auto made = bus.call("Create", "ss", "unified", "ct8/a");
            ASSERT_TRUE(made.ok) << made.describe();
            auto within = bus.call("MovePidAbs", "ssi", "unified", "/ct8/a", pid);
            EXPECT_TRUE(within.ok) << within.describe();
            EXPECT_EQ(proc_cgroup2_raw(pid), "/ct8/a/.cgm_leaf");
        }
        if (!pure_v2()) {  // (there memory is the cgroup2)
            auto v1 = bus.call("MovePidAbs", "ssi", "memory", "/ct9", pid);
            EXPECT_TRUE(v1.ok) << v1.describe();
            EXPECT_EQ(proc_cgroup(pid, "memory"), "/ct9");
        }
        mine.reset();
        buses_.clear();
        ok("Remove", "ssi", R"(["unified,memory","ct8",1])");
        ok("Remove", "ssi", R"(["unified,memory","ct9",1])");
    }
}

TEST_F(DaemonTest, SighupFindsHierarchiesMountedSinceStart) {
    CGM_SKIP_ON_PURE_V2("mounts a named v1 hierarchy");
    // A named hierarchy is known to the daemon only from the mounts (it is not in /proc/cgroups).
    // Hide name=systemd from this (sandbox) mount namespace, start, mount it back, SIGHUP.
    ASSERT_EQ(::umount2(fs("systemd").c_str(), MNT_DETACH), 0);
    Daemon& d = start();
    EXPECT_EQ(ok("ListControllers", "", "[]").find("\"name=systemd\""), std::string::npos);
    refused("Create", "ss", R"(["name=systemd","f"])", "InvalidArgs", "unknown controller 'name=systemd'");
    ASSERT_EQ(::mount("cgroup", fs("systemd").c_str(), "cgroup", 0, "none,name=systemd"), 0);
    ::kill(d.pid(), SIGHUP);
    // The reload happens asynchronously: poll (bounded) until the daemon answers with it.
    bool seen = false;
    for (int i = 0; i < 200 && !seen; ++i) {
        seen = ok("ListControllers", "", "[]").find("\"name=systemd\"") != std::string::npos;
        if (!seen)
            ::usleep(10000);
    }
    EXPECT_TRUE(seen) << d.log();
    ok("Create", "ss", R"(["name=systemd","f"])");
    EXPECT_TRUE(exists(fs("systemd", "f")));
}

TEST_F(DaemonTest, DaemonModeDetachesAndWritesItsPid) {
    ::mkdir("/run/cgmtest", 0755);
    std::string sock = "/run/cgmtest/detached.sock";
    auto r = run({CGM_DAEMON_BINARY, "--daemon", "--socket", sock, "--rundir", "/run/cgmtest/detached"});
    EXPECT_EQ(r.status, 0) << r.err;  // the parent returns once the daemon is on its own
    std::string pidfile = "/run/cgmtest/detached.pid";
    pid_t pid = 0;
    for (int i = 0; i < 500 && pid == 0; ++i) {  // written by the intermediate process
        if (exists(pidfile))
            pid = std::atoi(read_text(pidfile).c_str());
        else
            ::usleep(10000);
    }
    ASSERT_GT(pid, 1);
    EXPECT_REPLY(test::call("python", "unix:path=" + sock, "Ping", "i", "[0]"), "[]");
    EXPECT_NE(::getsid(pid), ::getsid(0));  // a session of its own, not ours
    ASSERT_EQ(::kill(pid, SIGTERM), 0);
    for (int i = 0; i < 500 && ::kill(pid, 0) == 0; ++i)
        ::usleep(10000);
    EXPECT_NE(::kill(pid, 0), 0);
    EXPECT_FALSE(exists(sock));
}

TEST_F(DaemonTest, SigstopStopsOnceReady) {
    Daemon& d = start(Daemon::Config::with_args({"--sigstop"}));
    int raw = 0;
    ASSERT_EQ(::waitpid(d.pid(), &raw, WUNTRACED), d.pid());
    EXPECT_TRUE(WIFSTOPPED(raw));
    ::kill(d.pid(), SIGCONT);
    EXPECT_REPLY(call("python", "Ping", "i", "[0]"), "[]");
}

TEST_F(DaemonTest, CommandLine) {
    auto help = run({CGM_DAEMON_BINARY, "--help"});
    EXPECT_EQ(help.status, 0);
    EXPECT_NE(help.out.find("--compat-errors"), std::string::npos);
    auto version = run({CGM_DAEMON_BINARY, "--version"});
    EXPECT_EQ(version.status, 0);
    EXPECT_NE(version.out.find(CGM_VERSION), std::string::npos);
    auto bad = run({CGM_DAEMON_BINARY, "--no-such-option"});
    EXPECT_NE(bad.status, 0);
    auto depth = run({CGM_DAEMON_BINARY, "--max-depth", "zero"});
    EXPECT_NE(depth.status, 0);
    auto user = run({CGM_DAEMON_BINARY, "--socket", "/run/cgmtest/user.sock"}, As::user(1000));
    EXPECT_EQ(user.status, 1);
    EXPECT_NE(user.err.find("must run as root"), std::string::npos) << user.err;
}

}  // namespace
}  // namespace cgm::test
