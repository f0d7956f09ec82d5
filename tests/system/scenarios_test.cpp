// SPDX-License-Identifier: Apache-2.0
//
// Cross-cutting behaviour on the real hierarchies: the original's test scenarios that the core
// can answer without a daemon, controller lists, rollback, limits, hostile paths and keys,
// callers in user namespaces, and calls shaped like *Scm calls through a proxy.
#include <sys/mount.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "core/limits.h"
#include "core/policy.h"
#include "core/safe_walk.h"
#include "fixture.h"

namespace cgm::test {
namespace {

using Scenario = SystemTest;

// Reference test 23: every ListControllers entry names a hierarchy the process is in.
TEST_F(Scenario, ListControllersNamesEveryHierarchyOfThisProcess) {
    std::string self = read_text("/proc/self/cgroup");
    auto listed = ops().list_controllers();
    ASSERT_OK(listed);
    auto names = *listed;
    ASSERT_FALSE(names.empty());
    for (const auto& n : names) {
        const Hierarchy* hy = env().table().find(n.substr(0, n.find(',')));
        ASSERT_NE(hy, nullptr) << n;
        if (hy->is_unified()) {
            EXPECT_NE(self.find("0::/"), std::string::npos);
        } else {
            EXPECT_NE(self.find(":" + n + ":"), std::string::npos) << n << " not in\n" << self;
        }
    }
    EXPECT_TRUE(std::is_sorted(names.begin(), names.end(), [](const std::string& a, const std::string& b) {
        auto key = [](const std::string& s) { return std::string(strip_name_prefix(s)); };
        return key(a) < key(b);
    }));
}

// The original's test 05, and docs/security.md: hostile paths are refused by every method that takes a path,
// with nothing created or changed.
TEST_F(Scenario, HostilePathsAreRefusedAndChangeNothing) {
    const std::string long_component(256, 'x');
    std::string long_path;
    while (long_path.size() <= 4096)
        long_path += "abcdefgh/";
    struct Case {
        std::string path;
        ErrorKind kind;
        const char* needle;
    } cases[] = {
        {"../xxx0123/b", ErrorKind::InvalidArgs, "'..'"},
        {"a/../b", ErrorKind::InvalidArgs, "'..'"},
        {"a/./b", ErrorKind::InvalidArgs, "'.'"},
        {"a//b", ErrorKind::InvalidArgs, "empty path component"},
        {"//a", ErrorKind::InvalidArgs, "empty path component"},
        {"a\nb", ErrorKind::InvalidArgs, "newline"},
        {std::string("a\0b", 3), ErrorKind::InvalidArgs, "NUL"},
        {long_component, ErrorKind::LimitsExceeded, "255"},
        {long_path, ErrorKind::LimitsExceeded, "4096"},
        {"x/.cgm_leaf", ErrorKind::InvalidArgs, "reserved"},
    };
    ASSERT_OK(ops().create(self_caller(), "memory", "a"));
    auto& victim = spawn();
    const Caller me = self_caller();
    for (const auto& c : cases) {
        SCOPED_TRACE(quoted(c.path.substr(0, 40)));
        const std::string& p = c.path;
        EXPECT_ERROR(ops().create(me, "memory", p), c.kind, c.needle);
        EXPECT_ERROR(ops().chown(me, "memory", p, 1000, 1000), c.kind, c.needle);
        EXPECT_ERROR(ops().chmod(me, "memory", p, "tasks", 0777), c.kind, c.needle);
        EXPECT_ERROR(ops().move_pid(me, "memory", p, victim.pid()), c.kind, c.needle);
        EXPECT_ERROR(ops().move_pid_abs(me, "memory", p, victim.pid()), c.kind, c.needle);
        EXPECT_ERROR(ops().get_value(me, "memory", p, "memory.usage_in_bytes"), c.kind, c.needle);
        EXPECT_ERROR(ops().set_value(me, "memory", p, "memory.limit_in_bytes", "4096"), c.kind, c.needle);
        EXPECT_ERROR(ops().remove(me, "memory", p, true), c.kind, c.needle);
        EXPECT_ERROR(ops().get_tasks(me, "memory", p), c.kind, c.needle);
        EXPECT_ERROR(ops().get_tasks_recursive(me, "memory", p), c.kind, c.needle);
        EXPECT_ERROR(ops().list_children(me, "memory", p), c.kind, c.needle);
        EXPECT_ERROR(ops().remove_on_empty(me, "memory", p), c.kind, c.needle);
        EXPECT_ERROR(ops().prune(me, "memory", p), c.kind, c.needle);
        EXPECT_ERROR(ops().list_keys(me, "memory", p), c.kind, c.needle);
    }
    auto kids = ops().list_children(me, "memory", "");
    ASSERT_OK(kids);
    EXPECT_EQ(*kids, std::vector<std::string>{"a"});
    EXPECT_EQ(stat_of(path(h("memory"), "a")).st_uid, 0u);
    EXPECT_EQ(stat_of(path(h("memory"), "a/tasks")).st_mode & 07777, 0644u);
    EXPECT_EQ(cgroup_of(victim.pid(), h("memory")), "/");
    EXPECT_TRUE(env().watches().entries().empty());
}

// Keys are single file names; the protected files are never written.
TEST_F(Scenario, KeysMustBeFileNamesAndProtectedFilesAreNotWritable) {
    ASSERT_OK(ops().create(self_caller(), "memory", "k/inner"));
    // The 0.42 hole: "../" keys reached files outside the target cgroup.
    EXPECT_ERROR(ops().get_value(self_caller(), "memory", "k/inner", "../memory.limit_in_bytes"),
                 ErrorKind::InvalidArgs, "single file name");
    EXPECT_ERROR(ops().set_value(self_caller(), "memory", "k/inner", "../memory.limit_in_bytes", "4096"),
                 ErrorKind::InvalidArgs, "single file name");
    auto& victim = spawn();
    for (auto key : kProtectedKeys) {
        SCOPED_TRACE(key);
        EXPECT_ERROR(ops().set_value(self_caller(), "memory", "k", key, std::to_string(victim.pid())),
                     ErrorKind::AccessDenied, key);
    }
    EXPECT_EQ(read_text(path(h("memory"), "k/tasks")), "");
    if (!pure_v2()) {
        EXPECT_EQ(read_text(path(h("memory"), "k/notify_on_release")), "0\n");
    }
    // cgroup.kill (v2) only for host root.
    ASSERT_OK(ops().create(self_caller(), "unified", "killme"));
    ASSERT_OK(ops().chown(self_caller(), "unified", "killme", 1000, 1000));
    ASSERT_OK(ops().chmod(self_caller(), "unified", "killme", "cgroup.kill", 0666));
    auto& user = spawn_user(1000);
    EXPECT_ERROR(ops().set_value(user.caller(), "unified", "killme", "cgroup.kill", "1"), ErrorKind::AccessDenied,
                 "host root");
}

// Reference tests 09-13 and 16: a cgroup given with Chown lets the user add children and tasks
// but not change its own limits; a cgroup the user created is entirely the user's.
TEST_F(Scenario, DelegationToAUser) {
    const Hierarchy& mem = h("memory");
    ASSERT_OK(ops().create(self_caller(), "memory", "zzz"));
    ASSERT_OK(ops().chown(self_caller(), "memory", "zzz", 1000, 1000));
    EXPECT_EQ(stat_of(path(mem, "zzz")).st_uid, 1000u);
    EXPECT_EQ(stat_of(path(mem, "zzz/tasks")).st_uid, 1000u);
    EXPECT_EQ(stat_of(path(mem, "zzz/cgroup.procs")).st_uid, 1000u);  // test 9 (fails on 0.42)
    EXPECT_EQ(stat_of(path(mem, "zzz/memory.limit_in_bytes")).st_uid, 0u);
    auto& user = spawn_user(1000);
    auto& sleeper = spawn_user(1000);
    ASSERT_OK(ops().move_pid(user.caller(), "memory", "zzz", sleeper.pid()));  // test 10
    EXPECT_ERROR(ops().set_value(user.caller(), "memory", "zzz", "memory.limit_in_bytes", "99999"),
                 ErrorKind::AccessDenied, "memory.limit_in_bytes");                                   // test 11
    ASSERT_OK(ops().create(user.caller(), "memory", "zzz/b"));                                        // test 12
    ASSERT_OK(ops().set_value(user.caller(), "memory", "zzz/b", "memory.limit_in_bytes", "999999"));  // test 13
    EXPECT_EQ(read_text(path(mem, "zzz/b/memory.limit_in_bytes")), "999424\n");
    ASSERT_OK(ops().create(self_caller(), "memory", "zzz/c"));
    ASSERT_OK(ops().chown(self_caller(), "memory", "zzz/c", 1000, 0));
    EXPECT_ERROR(ops().set_value(user.caller(), "memory", "zzz/c", "memory.limit_in_bytes", "new"),
                 ErrorKind::AccessDenied, "may not write");  // test 16
}

// Reference test 17: chmodfile by the owner only.
TEST_F(Scenario, ChmodFileByOwnerOnly) {
    const Hierarchy& mem = h("memory");
    ASSERT_OK(ops().create(self_caller(), "memory", "testchown"));
    ASSERT_OK(ops().chmod(self_caller(), "memory", "testchown", "tasks", 0775));
    EXPECT_EQ(stat_of(path(mem, "testchown/tasks")).st_mode & 07777, 0775u);
    auto& user = spawn_user(1000);
    EXPECT_ERROR(ops().chmod(user.caller(), "memory", "testchown", "tasks", 0700), ErrorKind::AccessDenied, "tasks");
    ASSERT_OK(ops().chown(self_caller(), "memory", "testchown", 1000, 0));
    ASSERT_OK(ops().chmod(user.caller(), "memory", "testchown", "tasks", 0700));
    EXPECT_EQ(stat_of(path(mem, "testchown/tasks")).st_mode & 07777, 0700u);
    EXPECT_ERROR(ops().chmod(self_caller(), "memory", "testchown", "../tasks", 0700), ErrorKind::InvalidArgs, "'/'");
    EXPECT_ERROR(ops().chmod(self_caller(), "memory", "testchown", "tasks", 010000), ErrorKind::InvalidArgs, "mode");
    EXPECT_ERROR(ops().chmod(self_caller(), "memory", "testchown", "nosuchfile", 0700), ErrorKind::NotFound,
                 "nosuchfile");
}

// Reference test 19 (cont.): a user cannot move its task to the root with MovePidAbs when it may
// not write the root's tasks file.
TEST_F(Scenario, UserCannotEscapeToARootOwnedCgroup) {
    ASSERT_OK(ops().create(self_caller(), "memory", "escapetest"));
    ASSERT_OK(ops().chown(self_caller(), "memory", "escapetest", 1000, 1000));
    auto& user = spawn_user(1000);
    auto& mine = spawn_user(1000);
    move_to(user.pid(), h("memory"), "escapetest");
    move_to(mine.pid(), h("memory"), "escapetest");
    EXPECT_ERROR(ops().move_pid_abs(user.caller(), "memory", "/", mine.pid()), ErrorKind::AccessDenied,
                 host_file("tasks"));
    EXPECT_EQ(cgroup_of(mine.pid(), h("memory")), "/escapetest");
}

// Reference test 27: an absolute path must stay under the caller's (proxy's) cgroup.
TEST_F(Scenario, AbsolutePathsStayUnderTheCaller) {
    ASSERT_OK(ops().create(self_caller(), "memory", "sibling"));
    ASSERT_OK(ops().create(self_caller(), "memory", "sibling1"));
    ASSERT_OK(ops().create(self_caller(), "memory", "sib"));
    auto& c = spawn();
    move_to(c.pid(), h("memory"), "sib");
    EXPECT_ERROR(ops().get_value(c.caller(), "memory", "/sibling1", "memory.limit_in_bytes"), ErrorKind::AccessDenied,
                 "outside the caller's cgroup /sib");
    // "/sib" is not a parent of "/sibling" either.
    EXPECT_ERROR(ops().get_tasks(c.caller(), "memory", "/sibling"), ErrorKind::AccessDenied, "outside");
    EXPECT_ERROR(ops().list_keys(c.caller(), "memory", "/sibling"), ErrorKind::AccessDenied, "outside");
    auto own = ops().get_value(c.caller(), "memory", "/sib", "memory.limit_in_bytes");
    ASSERT_OK(own);
}

// Reference test 24: prune by a user of a root-owned tree fails; by root it removes the tree.
TEST_F(Scenario, PruneByUserAndByRoot) {
    ASSERT_OK(ops().create(self_caller(), "freezer", "prune0/prune1/prune2"));
    auto& user = spawn_user(1000);
    EXPECT_ERROR(ops().prune(user.caller(), "freezer", "prune0"), ErrorKind::AccessDenied, "prune0");
    EXPECT_TRUE(exists(path(h("freezer"), "prune0/prune1/prune2")));
    ASSERT_OK(ops().prune(self_caller(), "freezer", "prune0"));
    EXPECT_ERROR(ops().list_children(self_caller(), "freezer", "prune0"), ErrorKind::NotFound, "prune0");
}

// Reference test 25 over two hierarchies: GetTasksRecursive of a list unions the pids.
TEST_F(Scenario, GetTasksRecursiveOverAList) {
    CGM_SKIP_ON_PURE_V2("needs two separate hierarchies (on cgroup v2 every controller is in the one)");
    ASSERT_OK(ops().create(self_caller(), "freezer,memory", "z1/z2/z3"));
    auto& a = spawn();
    auto& b = spawn();
    auto& c = spawn();
    ASSERT_OK(ops().move_pid(self_caller(), "freezer", "z1", a.pid()));
    ASSERT_OK(ops().move_pid(self_caller(), "freezer,memory", "z1/z2", b.pid()));
    ASSERT_OK(ops().move_pid(self_caller(), "memory", "z1/z2/z3", c.pid()));
    auto fr = ops().get_tasks_recursive(self_caller(), "freezer", "z1");
    ASSERT_OK(fr);
    EXPECT_EQ(fr->size(), 2u);
    auto mem = ops().get_tasks_recursive(self_caller(), "memory", "z1");
    ASSERT_OK(mem);
    EXPECT_EQ(mem->size(), 2u);
    auto both = ops().get_tasks_recursive(self_caller(), "freezer,memory", "z1");
    ASSERT_OK(both);
    EXPECT_EQ(both->size(), 3u);
    // A cgroup missing in one listed hierarchy is skipped there.
    ASSERT_OK(ops().create(self_caller(), "memory", "only_mem"));
    auto skip = ops().get_tasks_recursive(self_caller(), "freezer,memory", "only_mem");
    ASSERT_OK(skip);
    EXPECT_TRUE(skip->empty());
    EXPECT_ERROR(ops().get_tasks_recursive(self_caller(), "freezer", "only_mem"), ErrorKind::NotFound, "only_mem");
}

// ---- Controller arguments ------------------------------------------------------------------------------

TEST_F(Scenario, ControllerListsAndAll) {
    CGM_SKIP_ON_PURE_V2("needs two separate hierarchies (on cgroup v2 every controller is in the one)");
    auto r = ops().create(self_caller(), "memory,freezer", "pair");
    ASSERT_OK(r);
    EXPECT_TRUE(exists(path(h("memory"), "pair")));
    EXPECT_TRUE(exists(path(h("freezer"), "pair")));
    EXPECT_FALSE(exists(path(h("pids"), "pair")));
    ASSERT_OK(ops().create(self_caller(), "all", "everywhere"));
    for (const auto& hy : env().table().all())
        EXPECT_TRUE(exists(path(*hy, "everywhere"))) << hy->display;
    // Existed is 1 when the cgroup existed in any listed hierarchy.
    auto again = ops().create(self_caller(), "pids,memory", "pair");
    ASSERT_OK(again);
    EXPECT_EQ(wire_value(*again), 1);
    EXPECT_ERROR(ops().create(self_caller(), "memory,bogus", "nope"), ErrorKind::InvalidArgs,
                 "unknown controller 'bogus'");
    EXPECT_ERROR(ops().create(self_caller(), "memory,memory", "nope"), ErrorKind::InvalidArgs, "twice");
    EXPECT_ERROR(ops().create(self_caller(), "all,memory", "nope"), ErrorKind::InvalidArgs, "'all'");
    EXPECT_ERROR(ops().create(self_caller(), "", "nope"), ErrorKind::InvalidArgs, "empty controller");
    EXPECT_FALSE(exists(path(h("memory"), "nope")));
    // Single-hierarchy methods refuse lists and "all".
    EXPECT_ERROR(ops().get_value(self_caller(), "memory,freezer", "pair", "tasks"), ErrorKind::InvalidArgs,
                 "one hierarchy");
    EXPECT_ERROR(ops().get_value(self_caller(), "all", "pair", "tasks"), ErrorKind::InvalidArgs, "'all'");
    // The named hierarchy answers to both spellings.
    ASSERT_OK(ops().create(self_caller(), "systemd", "named"));
    auto kids = ops().list_children(self_caller(), "name=systemd", "");
    ASSERT_OK(kids);
    EXPECT_NE(std::find(kids->begin(), kids->end(), "named"), kids->end());
    // Remove over a list: existed is -1 only when absent everywhere.
    auto rm = ops().remove(self_caller(), "memory,freezer,pids", "pair", true);
    ASSERT_OK(rm);
    EXPECT_EQ(wire_value(*rm), 1);
    auto rm2 = ops().remove(self_caller(), "memory,freezer,pids", "pair", true);
    ASSERT_OK(rm2);
    EXPECT_EQ(wire_value(*rm2), -1);
}

TEST_F(Scenario, AFailedMultiHierarchyCreateLeavesNothingBehind) {
    CGM_SKIP_ON_PURE_V2("needs two separate hierarchies (on cgroup v2 every controller is in the one)");
    // "freezer.state" is a file at the freezer root, so the path cannot be made there; memory
    // (listed first) made it already and must be rolled back.
    EXPECT_ERROR(ops().create(self_caller(), "memory,freezer", "freezer.state/x"), ErrorKind::InvalidArgs,
                 "not a cgroup");
    EXPECT_FALSE(exists(path(h("memory"), "freezer.state")));
}

TEST_F(Scenario, ListsSkipHierarchiesWhereTheCallerIsOnlyNotAllowed) {
    CGM_SKIP_ON_PURE_V2("needs two separate hierarchies (on cgroup v2 every controller is in the one)");
    ASSERT_OK(ops().create(self_caller(), "memory,freezer", "mixed"));
    ASSERT_OK(ops().chown(self_caller(), "memory", "mixed", 1000, 1000));
    auto& user = spawn_user(1000);
    ASSERT_OK(ops().create(user.caller(), "memory,freezer", "mixed/child"));
    EXPECT_TRUE(exists(path(h("memory"), "mixed/child")));
    EXPECT_FALSE(exists(path(h("freezer"), "mixed/child")));
    // When every listed hierarchy refuses, the call fails.
    EXPECT_ERROR(ops().create(user.caller(), "freezer,pids", "mixed/child"), ErrorKind::AccessDenied, "uid 1000");
}

TEST_F(Scenario, CreateRespectsTheDepthLimit) {
    auto shallow = env().ops_with(OperationsConfig{3, nullptr});
    ASSERT_OK(shallow.create(self_caller(), "memory", "d1/d2/d3"));
    EXPECT_ERROR(shallow.create(self_caller(), "memory", "d1/d2/d3/d4"), ErrorKind::LimitsExceeded, "limit is 3");
    EXPECT_FALSE(exists(path(h("memory"), "d1/d2/d3/d4")));
    // The requestor's own depth counts too.
    auto& c = spawn();
    move_to(c.pid(), h("memory"), "d1/d2");
    EXPECT_ERROR(shallow.create(c.caller(), "memory", "e1/e2"), ErrorKind::LimitsExceeded, "4 levels");
    EXPECT_FALSE(exists(path(h("memory"), "d1/d2/e1")));
}

TEST_F(Scenario, CreateCountsTheCgroupsEachUidMade) {
    auto quota = std::make_shared<CreationQuota>(3);
    auto limited = env().ops_with(OperationsConfig{16, quota});
    ASSERT_OK(limited.create(self_caller(), "memory", "q"));
    ASSERT_OK(limited.chown(self_caller(), "memory", "q", 1000, 1000));
    auto& user = spawn_user(1000);
    move_to(user.pid(), h("memory"), "q");
    // Two directories for "a/b", one for "c": three.
    ASSERT_OK(limited.create(user.caller(), "memory", "a/b"));
    ASSERT_OK(limited.create(user.caller(), "memory", "c"));
    EXPECT_EQ(quota->count(1000), 3u);
    EXPECT_ERROR(limited.create(user.caller(), "memory", "d"), ErrorKind::LimitsExceeded, "limit is 3");
    EXPECT_FALSE(exists(path(h("memory"), "q/d")));
    // Of "e/f" nothing is left half made.
    ASSERT_OK(limited.remove(user.caller(), "memory", "c", false));
    EXPECT_ERROR(limited.create(user.caller(), "memory", "e/f"), ErrorKind::LimitsExceeded, "limit is 3");
    EXPECT_FALSE(exists(path(h("memory"), "q/e")));
    EXPECT_EQ(quota->count(1000), 2u);
    // Removed with Remove: counted no more at once; an existing cgroup costs nothing.
    ASSERT_OK(limited.create(user.caller(), "memory", "c"));
    ASSERT_OK(limited.create(user.caller(), "memory", "a/b"));
    // Removed behind the daemon's back: found out when the limit is reached (looked at no more
    // than once a second; the last look was at the refusal above).
    ASSERT_EQ(::rmdir(path(h("memory"), "q/c").c_str()), 0);
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    ASSERT_OK(limited.create(user.caller(), "memory", "g"));
    EXPECT_EQ(quota->count(1000), 3u);
    // Host root is not counted.
    for (const char* name : {"r1", "r2", "r3", "r4"})
        ASSERT_OK(limited.create(self_caller(), "memory", name));
    // Another uid has a count of its own.
    ASSERT_OK(limited.create(self_caller(), "memory", "q2"));
    ASSERT_OK(limited.chown(self_caller(), "memory", "q2", 1001, 1001));
    auto& other = spawn_user(1001);
    move_to(other.pid(), h("memory"), "q2");
    ASSERT_OK(limited.create(other.caller(), "memory", "x"));
}

// ---- Victims ----------------------------------------------------------------------------------------

TEST_F(Scenario, BadVictimsAreRefused) {
    ASSERT_OK(ops().create(self_caller(), "memory", "v"));
    EXPECT_ERROR(ops().move_pid(self_caller(), "memory", "v", 0), ErrorKind::InvalidArgs, "invalid pid 0");
    EXPECT_ERROR(ops().move_pid(self_caller(), "memory", "v", -1), ErrorKind::InvalidArgs, "invalid pid -1");
    EXPECT_ERROR(ops().move_pid(self_caller(), "memory", "v", 999999), ErrorKind::NotFound, "999999");
    auto zombie = Child::spawn(Child::Spec{0, 0, "", true});
    EXPECT_ERROR(ops().move_pid(self_caller(), "memory", "v", zombie->pid()), ErrorKind::NotFound, "exited");
    EXPECT_EQ(read_text(path(h("memory"), "v/tasks")), "");
    EXPECT_ERROR(ops().get_pid_cgroup(self_caller(), "memory", 999999), ErrorKind::NotFound, "999999");
    EXPECT_ERROR(ops().move_pid(self_caller(), "memory", "nonexistent", ::getpid()), ErrorKind::NotFound,
                 "nonexistent");
    EXPECT_ERROR(ops().chown(self_caller(), "memory", "v", -5, 0), ErrorKind::InvalidArgs, "uid -5");
}

// Plain calls that name pids need the caller in the daemon's pid namespace.
TEST_F(Scenario, PidCallsFromAnotherPidNamespaceNeedAProxy) {
    ASSERT_OK(ops().create(self_caller(), "memory", "ns"));
    auto& inner = keep(Child::spawn(Child::Spec{0, 0, "", false, true}));
    auto& victim = spawn();
    EXPECT_ERROR(ops().get_pid_cgroup(inner.caller(), "memory", victim.pid()), ErrorKind::AccessDenied,
                 "different pid namespace");
    EXPECT_ERROR(ops().get_pid_cgroup_abs(inner.caller(), "memory", victim.pid()), ErrorKind::AccessDenied,
                 "different pid namespace");
    EXPECT_ERROR(ops().move_pid(inner.caller(), "memory", "ns", victim.pid()), ErrorKind::AccessDenied,
                 "requires a proxy");
    EXPECT_ERROR(ops().move_pid_abs(inner.caller(), "memory", "/ns", victim.pid()), ErrorKind::AccessDenied,
                 "requires a proxy");
    EXPECT_EQ(cgroup_of(victim.pid(), h("memory")), "/");
    // Calls that name no pid work from there (they are relative to the caller's cgroup).
    ASSERT_OK(ops().create(inner.caller(), "memory", "ns/from_inside"));
}

// Containment compares whole components: a requestor in /a cannot reach a process in /ab.
TEST_F(Scenario, MovePidContainmentUsesWholeComponents) {
    const Hierarchy& mem = h("memory");
    ASSERT_OK(ops().create(self_caller(), "memory", "a/target"));
    ASSERT_OK(ops().create(self_caller(), "memory", "ab"));
    ASSERT_OK(ops().chown(self_caller(), "memory", "a", 1000, 1000));
    ASSERT_OK(ops().chown(self_caller(), "memory", "a/target", 1000, 1000));
    auto& user = spawn_user(1000);
    auto& mine = spawn_user(1000);
    move_to(user.pid(), mem, "a");
    move_to(mine.pid(), mem, "ab");
    EXPECT_ERROR(ops().move_pid(user.caller(), "memory", "target", mine.pid()), ErrorKind::AccessDenied,
                 "not in or below cgroup /a");
    EXPECT_EQ(cgroup_of(mine.pid(), mem), "/ab");
    EXPECT_ERROR(ops().get_tasks_recursive(user.caller(), "memory", "/ab"), ErrorKind::AccessDenied,
                 "outside the caller's cgroup /a");
}

// ---- User namespaces ------------------------------------------------------------------------------

// The original's nstest scenario: container root (host uid 100000) creates and enters a
// child of a cgroup given to it, but nothing it was not given.
TEST_F(Scenario, RootInAUserNamespaceManagesWhatIsMappedToIt) {
    const Hierarchy& fr = h("freezer");
    ASSERT_OK(ops().create(self_caller(), "freezer", "unstest"));
    ASSERT_OK(ops().chown(self_caller(), "freezer", "unstest", 100000, 100000));
    auto& ns = spawn_userns_root(100000);
    move_to(ns.pid(), fr, "unstest");
    ASSERT_OK(ops().create(ns.caller(), "freezer", "newchild"));
    EXPECT_EQ(stat_of(path(fr, "unstest/newchild")).st_uid, 100000u);
    ASSERT_OK(ops().move_pid(ns.caller(), "freezer", "newchild", ns.pid()));
    EXPECT_EQ(cgroup_of(ns.pid(), fr), "/unstest/newchild");
    // A file owned by a uid mapped in its namespace counts as its own (may_access rule 3).
    ASSERT_OK(ops().chown(self_caller(), "freezer", "unstest/newchild", 100005, 100005));
    ASSERT_OK(ops().create(ns.caller(), "freezer", "deeper"));
    // Plain Chown needs the daemon's user namespace.
    EXPECT_ERROR(ops().chown(ns.caller(), "freezer", "deeper", 100001, 100001), ErrorKind::AccessDenied,
                 "different user namespace");
    // Not mapped to it: refused.
    auto& other = spawn_userns_root(200000);
    ASSERT_OK(ops().create(self_caller(), "freezer", "rootowned"));
    move_to(other.pid(), fr, "rootowned");
    EXPECT_ERROR(ops().create(other.caller(), "freezer", "x"), ErrorKind::AccessDenied, "uid 200000 may not");
    EXPECT_FALSE(exists(path(fr, "rootowned/x")));
    // Container root may move processes of uids mapped to it, not root's.
    auto& victim = spawn();
    move_to(victim.pid(), fr, "unstest/newchild");
    EXPECT_ERROR(ops().move_pid(ns.caller(), "freezer", "", victim.pid()), ErrorKind::AccessDenied,
                 "may not move process");
}

// ---- Calls made through a proxy (the *Scm shape) -------------------------------------------------------

TEST_F(Scenario, ScmCallsAreConfinedToTheProxysCgroup) {
    const Hierarchy& mem = h("memory");
    ASSERT_OK(ops().create(self_caller(), "memory", "container/inner"));
    ASSERT_OK(ops().create(self_caller(), "memory", "outside"));
    auto& proxy = spawn();
    auto& requestor = spawn();
    move_to(proxy.pid(), mem, "container");
    move_to(requestor.pid(), mem, "container/inner");
    Caller via = Caller::scm(proxy.cred(), requestor.cred());
    // "Absolute" means from the proxy's cgroup.
    auto abs = ops().get_pid_cgroup_abs(via, "memory", requestor.pid());
    ASSERT_OK(abs);
    EXPECT_EQ(*abs, "/inner");
    ASSERT_OK(ops().move_pid_abs(via, "memory", "/", requestor.pid()));
    EXPECT_EQ(cgroup_of(requestor.pid(), mem), "/container");
    // Reads may not leave the proxy's cgroup.
    EXPECT_ERROR(ops().get_value(via, "memory", "/outside", "memory.limit_in_bytes"), ErrorKind::AccessDenied,
                 "outside the proxy's cgroup /container");
    // A victim outside the proxy's cgroup cannot be moved or looked up.
    auto& stranger = spawn();
    move_to(stranger.pid(), mem, "outside");
    EXPECT_ERROR(ops().move_pid_abs(via, "memory", "/", stranger.pid()), ErrorKind::AccessDenied, "not in or below");
    EXPECT_ERROR(ops().get_pid_cgroup_abs(via, "memory", stranger.pid()), ErrorKind::AccessDenied, "not in or below");
    EXPECT_EQ(cgroup_of(stranger.pid(), mem), "/outside");
}

// A proxy started by systemd sits in init.scope; it acts for the cgroup above.
TEST_F(Scenario, ProxyInInitScopeActsForItsParent) {
    const Hierarchy& mem = h("memory");
    ASSERT_OK(ops().create(self_caller(), "memory", "ct/init.scope"));
    ASSERT_OK(ops().create(self_caller(), "memory", "ct/payload"));
    auto& proxy = spawn();
    auto& requestor = spawn();
    move_to(proxy.pid(), mem, "ct/init.scope");
    move_to(requestor.pid(), mem, "ct/payload");
    Caller via = Caller::scm(proxy.cred(), requestor.cred());
    auto abs = ops().get_pid_cgroup_abs(via, "memory", requestor.pid());
    ASSERT_OK(abs);
    EXPECT_EQ(*abs, "/payload");
    // Read-type absolute paths are from the hierarchy root, confined to the (cut) proxy cgroup.
    ASSERT_OK(ops().get_value(via, "memory", "/ct/payload", "memory.limit_in_bytes"));
    ASSERT_OK(ops().get_value(via, "memory", "", "memory.limit_in_bytes"));
    EXPECT_ERROR(ops().get_value(via, "memory", "/", "memory.limit_in_bytes"), ErrorKind::AccessDenied,
                 "outside the proxy's cgroup /ct");
}

}  // namespace
}  // namespace cgm::test

namespace cgm::test {
namespace {

// ---- Findings of the first review, each pinned by a test ---------------------------------------------

TEST_F(Scenario, CreateGivesANewCpusetCgroupItsParentsCpusAndMems) {
    CGM_SKIP_ON_PURE_V2("a v1 cpuset starts empty; a v2 one uses its parent's effective cpus and mems");
    const Hierarchy& cs = h("cpuset");
    ASSERT_OK(ops().create(self_caller(), "cpuset", "cs/inner"));
    std::string cpus = read_text(path(cs, "cpuset.cpus"));
    ASSERT_NE(cpus, "\n");
    EXPECT_EQ(read_text(path(cs, "cs/inner/cpuset.cpus")), cpus);
    EXPECT_EQ(read_text(path(cs, "cs/inner/cpuset.mems")), read_text(path(cs, "cpuset.mems")));
    // Without that copy a new cpuset cgroup is empty here (the sandbox leaves clone_children off).
    ASSERT_EQ(::mkdir(path(cs, "raw").c_str(), 0755), 0);
    EXPECT_EQ(read_text(path(cs, "raw/cpuset.cpus")), "\n");
    auto& c = spawn();
    ASSERT_OK(ops().move_pid(self_caller(), "cpuset", "cs/inner", c.pid()));
}

// On cgroup v2 the right to move processes in is the cgroup's own cgroup.procs, also once the
// hidden leaf exists; a Chmod that takes it away is obeyed.
TEST_F(Scenario, UnifiedMoveRightFollowsTheCgroupsOwnProcsFile) {
    ASSERT_OK(ops().create(self_caller(), "unified", "shared"));
    ASSERT_OK(ops().chmod(self_caller(), "unified", "shared", "cgroup.procs", 0666));
    auto& user = spawn_user(1000);
    auto& mine = spawn_user(1000);
    ASSERT_OK(ops().move_pid_abs(user.caller(), "unified", "/shared", mine.pid()));  // makes the leaf
    ASSERT_OK(ops().chmod(self_caller(), "unified", "shared", "cgroup.procs", 0644));
    EXPECT_EQ(stat_of(path(h("unified"), "shared/.cgm_leaf/cgroup.procs")).st_mode & 07777, 0644u);
    ASSERT_OK(ops().move_pid_abs(self_caller(), "unified", "/", mine.pid()));
    EXPECT_ERROR(ops().move_pid_abs(user.caller(), "unified", "/shared", mine.pid()), ErrorKind::AccessDenied,
                 "cgroup.procs");
    EXPECT_EQ(cgroup_of(mine.pid(), h("unified")), "/");
    // Moved to the sandbox's root, which is not the host's: its hidden leaf.
    EXPECT_EQ(proc_cgroup2_raw(mine.pid()), "/.cgm_leaf");
}

TEST_F(Scenario, RemoveOverAListDoesNotClaimAbsenceWhereItWasRefused) {
    ASSERT_OK(ops().create(self_caller(), "freezer", "mix"));
    auto& user = spawn_user(1000);
    // Refused in freezer (root-owned parent), absent in memory.
    EXPECT_ERROR(ops().remove(user.caller(), "freezer,memory", "mix", true), ErrorKind::AccessDenied, "uid 1000");
    EXPECT_TRUE(exists(path(h("freezer"), "mix")));
}

TEST_F(Scenario, TheHiddenLeafIsNoKey) {
    ASSERT_OK(ops().create(self_caller(), "unified", "l"));
    auto& c = spawn();
    ASSERT_OK(ops().move_pid(self_caller(), "unified", "l", c.pid()));
    EXPECT_ERROR(ops().get_value(self_caller(), "unified", "l", ".cgm_leaf"), ErrorKind::InvalidArgs,
                 "not a file name");
    EXPECT_ERROR(ops().chmod(self_caller(), "unified", "l", ".cgm_leaf", 0777), ErrorKind::InvalidArgs,
                 "not a file name");
    EXPECT_EQ(stat_of(path(h("unified"), "l/.cgm_leaf")).st_mode & 07777, 0755u);
}

TEST_F(Scenario, RemoveOnEmptyOfTheRootWatchesNothing) {
    ASSERT_OK(ops().remove_on_empty(self_caller(), "memory", ""));
    EXPECT_TRUE(env().watches().entries().empty());
}

TEST_F(Scenario, PruneOverAListPassesOverHierarchiesWithoutTheCgroup) {
    CGM_SKIP_ON_PURE_V2("needs two separate hierarchies (on cgroup v2 every controller is in the one)");
    ASSERT_OK(ops().prune(self_caller(), "memory,freezer", "nowhere"));
    EXPECT_ERROR(ops().prune(self_caller(), "memory", "nowhere"), ErrorKind::NotFound, "/nowhere");
    ASSERT_OK(ops().create(self_caller(), "memory", "onlyhere/a/b"));
    ASSERT_OK(ops().prune(self_caller(), "memory,freezer", "onlyhere"));
    EXPECT_FALSE(exists(path(h("memory"), "onlyhere")));
    // Only what survives is watched: nothing here.
    EXPECT_TRUE(env().watches().entries().empty());
}

TEST_F(Scenario, WalksRefuseSubtreesDeeperThanTheLimit) {
    const Hierarchy& fr = h("freezer");
    std::string rel = "deep";
    make_dir(path(fr, rel));
    for (size_t i = 0; i <= limits::kMaxWalkDepth; ++i) {
        rel += "/d";
        make_dir(path(fr, rel));
    }
    EXPECT_ERROR(ops().get_tasks_recursive(self_caller(), "freezer", "deep"), ErrorKind::LimitsExceeded, "deeper than");
    EXPECT_ERROR(ops().remove(self_caller(), "freezer", "deep", true), ErrorKind::LimitsExceeded, "deeper than");
    EXPECT_TRUE(exists(path(fr, rel)));
}

// Facts read from /proc are not trusted for a process that has exited (its pid may be reused).
TEST_F(Scenario, AnExitedRequestorIsNotTrusted) {
    auto child = Child::spawn();
    Ucred cred = child->cred();
    auto pidfd = ProcSource::open_pidfd(cred.pid);
    ASSERT_TRUE(pidfd.ok()) << pidfd.error().message;
    child.reset();  // killed and reaped: the pidfd now reports it gone
    EXPECT_FALSE(ProcSource::alive(pidfd->get()));
    EXPECT_ERROR(ops().create(Caller::plain(cred, pidfd->get()), "memory", "x"), ErrorKind::NotFound, "");
    EXPECT_FALSE(exists(path(h("memory"), "x")));
}

// The victim of a move dies after it was pinned, while its /proc facts are being read, and its pid
// goes to a new process at once (ns_last_pid, as root of the sandbox's pid namespace): the
// newcomer is not moved (the pidfd shows the victim gone; without that check it would be).
TEST_F(Scenario, AVictimWhosePidIsReusedBeforeTheWriteIsNotMoved) {
    ASSERT_OK(ops().create(self_caller(), "memory", "dest"));
    auto victim = Child::spawn();
    const pid_t v = victim->pid();
    std::unique_ptr<Child> impostor;
    // /proc as usual, except that reading the victim's status replaces it by an impostor first.
    struct ReusingProc final : ProcSource {
        const ProcSource& real;
        pid_t victim;
        std::unique_ptr<Child>* child;
        std::unique_ptr<Child>* impostor;
        ReusingProc(const ProcSource& r, pid_t v, std::unique_ptr<Child>* c, std::unique_ptr<Child>* i)
            : real(r), victim(v), child(c), impostor(i) {}
        Result<std::string> read(pid_t pid, std::string_view file) const override {
            if (pid == victim && file == "status" && *child) {
                auto r = real.read(pid, file);
                child->reset();
                write_text("/proc/sys/kernel/ns_last_pid", std::to_string(victim - 1));
                *impostor = Child::spawn();
                return r;
            }
            return real.read(pid, file);
        }
        Result<NsId> ns_id(pid_t pid, std::string_view type) const override { return real.ns_id(pid, type); }
    } proc(env().proc(), v, &victim, &impostor);
    auto reusing = env().ops_with_proc(proc);
    auto r = reusing.move_pid(self_caller(), "memory", "dest", v);
    ASSERT_TRUE(impostor);
    if (impostor->pid() != v)
        GTEST_SKIP() << "pid " << v << " went to another process first";
    EXPECT_ERROR(r, ErrorKind::NotFound, std::to_string(v));
    EXPECT_EQ(read_text(path(h("memory"), "dest/tasks")), "");
    EXPECT_NE(cgroup_of(v, h("memory")), "/dest");
}

TEST_F(Scenario, OpenAt2FallbackIsInEffectWhenAskedFor) {
    const char* env = std::getenv("CGM_NO_OPENAT2");
    EXPECT_EQ(openat2_disabled(), env != nullptr && std::string_view(env) == "1");
}

// A bind mount planted inside a cgroup directory is never crossed (RESOLVE_NO_XDEV, or the device
// check of the fallback).
TEST_F(Scenario, MountsInsideAHierarchyAreNotCrossed) {
    const Hierarchy& mem = h("memory");
    ASSERT_OK(ops().create(self_caller(), "memory", "outside/secret"));
    ASSERT_OK(ops().create(self_caller(), "memory", "mine/door"));
    ASSERT_OK(ops().chown(self_caller(), "memory", "mine", 1000, 1000));
    // Someone binds a tmpfs over a directory under "mine" (this process's private mount namespace).
    ASSERT_EQ(::mount("tmpfs", path(mem, "mine/door").c_str(), "tmpfs", 0, "size=64k"), 0);
    auto& user = spawn_user(1000);
    move_to(user.pid(), mem, "mine");
    auto r = ops().create(user.caller(), "memory", "door/x");
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.error().message.find("mount point"), std::string::npos) << r.error().message;
    ::umount2(path(mem, "mine/door").c_str(), MNT_DETACH);
}

// The original's refusal scenarios as uid 1000 and as root of a user namespace (mapped to 100000), each
// followed by a check that nothing changed.
TEST_F(Scenario, RefusalsForOtherUsersChangeNothing) {
    const Hierarchy& mem = h("memory");
    ASSERT_OK(ops().create(self_caller(), "memory", "xxx/b"));
    ASSERT_OK(ops().create(self_caller(), "memory", "zzz/b"));
    ASSERT_OK(ops().chown(self_caller(), "memory", "zzz/b", 1000, 0));
    ASSERT_OK(ops().create(self_caller(), "memory", "testchown"));
    ASSERT_OK(ops().create(self_caller(), "freezer", "prune0/prune1"));
    ASSERT_OK(ops().create(self_caller(), "memory", "sibling"));
    ASSERT_OK(ops().create(self_caller(), "memory", "sibling1"));
    ASSERT_OK(ops().create(self_caller(), "memory", "private"));
    ASSERT_OK(ops().chmod(self_caller(), "memory", "private", "", 0700));
    auto& roots = spawn();
    std::string limit_before = read_text(path(mem, "zzz/b/memory.limit_in_bytes"));

    for (bool userns : {false, true}) {
        SCOPED_TRACE(userns ? "root of a user namespace" : "uid 1000");
        auto& who = userns ? spawn_userns_root(100000) : spawn_user(1000);
        move_to(who.pid(), mem, "sibling");
        auto& own = userns ? who : spawn_user(1000);
        Caller c = who.caller();
        // 05: '..'
        EXPECT_ERROR(ops().get_value(c, "memory", "../xxx0123/b", "memory.usage_in_bytes"), ErrorKind::InvalidArgs,
                     "'..'");
        // 07: another user's process
        EXPECT_ERROR(ops().move_pid(c, "memory", "", roots.pid()), ErrorKind::AccessDenied, "may not move process");
        EXPECT_EQ(cgroup_of(roots.pid(), mem), "/");
        // 11/16: limits of a cgroup given to someone else, or of one owned by root
        EXPECT_ERROR(ops().set_value(c, "memory", "/zzz/b", "memory.limit_in_bytes", "4096"), ErrorKind::AccessDenied,
                     "outside");
        EXPECT_EQ(read_text(path(mem, "zzz/b/memory.limit_in_bytes")), limit_before);
        // 17: chmod of root's file
        EXPECT_ERROR(ops().chmod(c, "memory", "", "tasks", 0777), ErrorKind::AccessDenied, "tasks");
        EXPECT_EQ(stat_of(path(mem, "sibling/tasks")).st_mode & 07777, 0644u);
        // 19: MovePid to "/" is not relative
        EXPECT_ERROR(ops().move_pid(c, "memory", "/", own.pid()), ErrorKind::InvalidArgs, "MovePidAbs");
        // 19: MovePidAbs to the root needs write access to the root's tasks
        EXPECT_ERROR(ops().move_pid_abs(c, "memory", "/", own.pid()), ErrorKind::AccessDenied, host_file("tasks"));
        EXPECT_EQ(cgroup_of(own.pid(), mem), userns ? "/sibling" : "/");
        // 20: a missing cgroup
        EXPECT_ERROR(ops().list_children(c, "memory", "ooga2"), ErrorKind::NotFound, "ooga2");
        // 24: prune of root's tree (relative to its cgroup /sibling: absent) and of its own cgroup
        EXPECT_ERROR(ops().prune(c, "memory", ""), ErrorKind::AccessDenied, "/sibling");
        EXPECT_TRUE(exists(path(mem, "sibling")));
        // 27: a sibling by absolute path
        EXPECT_ERROR(ops().get_value(c, "memory", "/sibling1", "memory.limit_in_bytes"), ErrorKind::AccessDenied,
                     "outside the caller's cgroup /sibling");
        // Reading a directory that is not readable to the caller
        move_to(who.pid(), mem, "/");
        EXPECT_ERROR(ops().list_children(c, "memory", "private"), ErrorKind::AccessDenied, "may not read");
        EXPECT_ERROR(ops().create(c, "memory", "private/x"), ErrorKind::AccessDenied, "may not");
        EXPECT_FALSE(exists(path(mem, "private/x")));
    }
}

// A proxy whose requestor sits outside the proxy's cgroup reaches nothing outside it.
TEST_F(Scenario, ScmRequestorOutsideTheProxysCgroup) {
    const Hierarchy& mem = h("memory");
    ASSERT_OK(ops().create(self_caller(), "memory", "ct"));
    ASSERT_OK(ops().create(self_caller(), "memory", "elsewhere/child"));
    auto& proxy = spawn();
    auto& requestor = spawn();
    move_to(proxy.pid(), mem, "ct");
    move_to(requestor.pid(), mem, "elsewhere");
    Caller via = Caller::scm(proxy.cred(), requestor.cred());
    EXPECT_ERROR(ops().get_value(via, "memory", "child", "memory.limit_in_bytes"), ErrorKind::AccessDenied,
                 "outside the proxy's cgroup /ct");
    EXPECT_ERROR(ops().list_children(via, "memory", ""), ErrorKind::AccessDenied, "outside the proxy's cgroup /ct");
    EXPECT_ERROR(ops().move_pid_abs(via, "memory", "/", requestor.pid()), ErrorKind::AccessDenied, "not in or below");
    EXPECT_EQ(cgroup_of(requestor.pid(), mem), "/elsewhere");
}

}  // namespace
}  // namespace cgm::test
