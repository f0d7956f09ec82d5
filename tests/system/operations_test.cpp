// SPDX-License-Identifier: Apache-2.0
//
// Every Operations verb on every kind of real hierarchy in the sandbox: a v1 controller
// (memory, freezer, cpuset), a named v1 hierarchy (name=systemd) and cgroup2 ("unified"), each
// with a success and a refusal, checking the effect on cgroupfs directly.
#include <sys/stat.h>

#include <algorithm>

#include "fixture.h"

namespace cgm::test {
namespace {

struct HierarchyCase {
    const char* token;
    const char* key;       // a file SetValue may write
    const char* value;     // what to write
    const char* readback;  // what GetValue then returns
};

// The hierarchies of this host: on a hybrid one, v1 controllers, a named v1 hierarchy and the
// cgroup2; on a pure v2 host the cgroup2 through the names of its controllers, each with a file
// of its own (v1 names on cgroup v2 are the VM tier's and the daemon tests' business).
std::vector<HierarchyCase> host_cases() {
    if (pure_v2())
        return {
            {"memory", "memory.max", "99999", "98304"},
            {"cpu", "cpu.weight", "50", "50"},
            {"pids", "pids.max", "10", "10"},
            {"unified", "cgroup.max.depth", "5", "5"},
        };
    return {
        {"memory", "memory.limit_in_bytes", "99999", "98304"},
        {"freezer", "freezer.state", "FROZEN", "FROZEN"},
        {"cpuset", "cpuset.cpus", "0", "0"},
        {"name=systemd", "cgroup.clone_children", "1", "1"},
        {"unified", "cgroup.max.depth", "5", "5"},
    };
}

void PrintTo(const HierarchyCase& c, std::ostream* os) {
    *os << c.token;
}

class PerHierarchy : public SystemTest, public ::testing::WithParamInterface<HierarchyCase> {
protected:
    const char* ctrl() const { return GetParam().token; }
    const Hierarchy& hy() { return h(ctrl()); }
    std::string at(std::string_view cg) { return path(hy(), cg); }
    // Where /proc itself shows a process moved into `cg`: on v2 in the cgroup's hidden leaf
    // (cgroup_of reports the leaf's cgroup, as the daemon does).
    void expect_raw(pid_t pid, const std::string& cg) {
        if (hy().is_unified()) {
            EXPECT_EQ(proc_cgroup2_raw(pid), (cg == "/" ? "" : cg) + "/.cgm_leaf");
        }
    }
};

std::string case_name(const ::testing::TestParamInfo<HierarchyCase>& info) {
    std::string n = info.param.token;
    std::replace(n.begin(), n.end(), '=', '_');
    return n;
}

INSTANTIATE_TEST_SUITE_P(Hierarchies, PerHierarchy, ::testing::ValuesIn(host_cases()), case_name);

// ---- Create ---------------------------------------------------------------------------------

TEST_P(PerHierarchy, CreateMakesMissingComponentsAndReportsExisted) {
    auto r = ops().create(self_caller(), ctrl(), "a/b");
    ASSERT_OK(r);
    EXPECT_EQ(wire_value(*r), -1);
    EXPECT_TRUE(exists(at("a/b")));
    auto again = ops().create(self_caller(), ctrl(), "a/b");
    ASSERT_OK(again);
    EXPECT_EQ(wire_value(*again), 1);
    auto empty = ops().create(self_caller(), ctrl(), "");
    ASSERT_OK(empty);
    EXPECT_EQ(wire_value(*empty), -1);
}

TEST_P(PerHierarchy, CreateIsRelativeToTheRequestorEvenWithALeadingSlash) {
    make_dir(at("base"));
    auto& child = spawn();
    move_to(child.pid(), hy(), "base");
    Caller c = Caller::plain(child.cred());  // uid 0, in /base
    ASSERT_OK(ops().create(c, ctrl(), "/x"));
    EXPECT_TRUE(exists(at("base/x")));
    EXPECT_FALSE(exists(at("x")));
}

// Root with another group: the kernel made the files root:root, so the group must still change.
TEST_P(PerHierarchy, CreatedCgroupFilesTakeTheGroupOfARootCreator) {
    auto& root_staff = keep(Child::as_user(0, 1000));
    ASSERT_OK(ops().create(root_staff.caller(), ctrl(), "grouped"));
    EXPECT_EQ(stat_of(at("grouped")).st_gid, 1000u);
    size_t files = 0;
    for (const auto& name : files_in(at("grouped"))) {
        EXPECT_EQ(stat_of(at("grouped/" + name)).st_uid, 0u) << name;
        EXPECT_EQ(stat_of(at("grouped/" + name)).st_gid, 1000u) << name;
        ++files;
    }
    EXPECT_GT(files, 2u);
}

// Root creating as root: the kernel's owner is already right; every file stays root:root.
TEST_P(PerHierarchy, CreatedCgroupOfRootIsRootsThroughout) {
    ASSERT_OK(ops().create(self_caller(), ctrl(), "rootowned"));
    for (const auto& name : files_in(at("rootowned"))) {
        EXPECT_EQ(stat_of(at("rootowned/" + name)).st_uid, 0u) << name;
        EXPECT_EQ(stat_of(at("rootowned/" + name)).st_gid, 0u) << name;
    }
}

TEST_P(PerHierarchy, CreatedCgroupAndAllItsFilesBelongToTheCreator) {
    make_dir(at("home"));
    ASSERT_OK(ops().chown(self_caller(), ctrl(), "home", 1000, 1000));
    auto& user = spawn_user(1000);
    ASSERT_OK(ops().create(user.caller(), ctrl(), "home/mine"));
    EXPECT_EQ(stat_of(at("home/mine")).st_uid, 1000u);
    size_t files = 0;
    for (const auto& name : files_in(at("home/mine"))) {
        EXPECT_EQ(stat_of(at("home/mine/" + name)).st_uid, 1000u) << name;
        EXPECT_EQ(stat_of(at("home/mine/" + name)).st_gid, 1000u) << name;
        ++files;
    }
    EXPECT_GT(files, 2u);
}

TEST_P(PerHierarchy, CreateUnderSomeoneElsesCgroupIsRefusedAndChangesNothing) {
    make_dir(at("rootonly"));
    auto& user = spawn_user(1000);
    EXPECT_ERROR(ops().create(user.caller(), ctrl(), "rootonly/x"), ErrorKind::AccessDenied, "uid 1000 may not");
    EXPECT_FALSE(exists(at("rootonly/x")));
}

// ---- Chown, Chmod -----------------------------------------------------------------------------

TEST_P(PerHierarchy, ChownGivesTheDirectoryAndDelegatedFilesOnly) {
    make_dir(at("zzz"));
    ASSERT_OK(ops().chown(self_caller(), ctrl(), "zzz", 1000, 1001));
    EXPECT_EQ(stat_of(at("zzz")).st_uid, 1000u);
    EXPECT_EQ(stat_of(at("zzz")).st_gid, 1001u);
    EXPECT_EQ(stat_of(at("zzz/cgroup.procs")).st_uid, 1000u);
    if (!hy().is_unified()) {
        EXPECT_EQ(stat_of(at("zzz/tasks")).st_uid, 1000u);
    }
    // The limits of the cgroup itself stay root's (docs/dbus-api.md, Chown).
    EXPECT_EQ(stat_of(at(std::string("zzz/") + GetParam().key)).st_uid, 0u);
}

TEST_P(PerHierarchy, ChownByANonRootUserIsRefused) {
    make_dir(at("zzz"));
    auto& user = spawn_user(1000);
    EXPECT_ERROR(ops().chown(user.caller(), ctrl(), "zzz", 1000, 1000), ErrorKind::AccessDenied, "not root");
    EXPECT_EQ(stat_of(at("zzz")).st_uid, 0u);
}

TEST_P(PerHierarchy, ChmodChangesTheFileOrDirectory) {
    make_dir(at("m"));
    ASSERT_OK(ops().chmod(self_caller(), ctrl(), "m", "cgroup.procs", 0640));
    EXPECT_EQ(stat_of(at("m/cgroup.procs")).st_mode & 07777, 0640u);
    ASSERT_OK(ops().chmod(self_caller(), ctrl(), "m", "", 0750));
    EXPECT_EQ(stat_of(at("m")).st_mode & 07777, 0750u);
}

TEST_P(PerHierarchy, ChmodOfSomeoneElsesFileIsRefused) {
    make_dir(at("m"));
    auto& user = spawn_user(1000);
    EXPECT_ERROR(ops().chmod(user.caller(), ctrl(), "m", "cgroup.procs", 0777), ErrorKind::AccessDenied,
                 "uid 1000 may not read and write");
    EXPECT_EQ(stat_of(at("m/cgroup.procs")).st_mode & 07777, 0644u);
}

// ---- MovePid, MovePidAbs, GetPidCgroup(Abs) --------------------------------------------------------

TEST_P(PerHierarchy, MovePidMovesAndGetPidCgroupReportsIt) {
    make_dir(at("xxx"));
    make_dir(at("xxx/b"));
    auto& victim = spawn();
    ASSERT_OK(ops().move_pid(self_caller(), ctrl(), "xxx/b", victim.pid()));
    EXPECT_EQ(cgroup_of(victim.pid(), hy()), "/xxx/b");
    expect_raw(victim.pid(), "/xxx/b");
    auto rel = ops().get_pid_cgroup(self_caller(), ctrl(), victim.pid());
    ASSERT_OK(rel);
    EXPECT_EQ(*rel, "xxx/b");  // no leading '/' (reference test 6)
    auto abs = ops().get_pid_cgroup_abs(self_caller(), ctrl(), victim.pid());
    ASSERT_OK(abs);
    EXPECT_EQ(*abs, "/xxx/b");
    auto self = ops().get_pid_cgroup(self_caller(), ctrl(), ::getpid());
    ASSERT_OK(self);
    EXPECT_EQ(*self, "/");
}

TEST_P(PerHierarchy, MovePidOfAnotherUsersProcessIsRefused) {
    make_dir(at("xxx"));
    auto& victim = spawn();  // root's
    auto& user = spawn_user(1000);
    EXPECT_ERROR(ops().move_pid(user.caller(), ctrl(), "xxx", victim.pid()), ErrorKind::AccessDenied,
                 "may not move process");
    EXPECT_EQ(cgroup_of(victim.pid(), hy()), "/");
}

TEST_P(PerHierarchy, AUserMovesItsOwnProcessIntoACgroupChownedToIt) {
    make_dir(at("zzz"));
    ASSERT_OK(ops().chown(self_caller(), ctrl(), "zzz", 1000, 1000));
    auto& user = spawn_user(1000);
    auto& mine = spawn_user(1000);
    ASSERT_OK(ops().move_pid(user.caller(), ctrl(), "zzz", mine.pid()));
    EXPECT_EQ(cgroup_of(mine.pid(), hy()), "/zzz");
    expect_raw(mine.pid(), "/zzz");
}

TEST_P(PerHierarchy, MovePidAbsEscapesToTheRoot) {
    make_dir(at("escape"));
    auto& victim = spawn();
    move_to(victim.pid(), hy(), "escape");
    // Relative MovePid cannot say "/" (reference test 19)...
    EXPECT_ERROR(ops().move_pid(self_caller(), ctrl(), "/", victim.pid()), ErrorKind::InvalidArgs, "MovePidAbs");
    // ...MovePidAbs can.
    ASSERT_OK(ops().move_pid_abs(self_caller(), ctrl(), "/", victim.pid()));
    EXPECT_EQ(cgroup_of(victim.pid(), hy()), "/");
    expect_raw(victim.pid(), "/");
}

TEST_P(PerHierarchy, GetPidCgroupOfAProcessOutsideTheRequestorIsRefused) {
    make_dir(at("a"));
    make_dir(at("ab"));
    auto& requestor = spawn();
    auto& victim = spawn();
    move_to(requestor.pid(), hy(), "a");
    move_to(victim.pid(), hy(), "ab");
    // "/a" is not above "/ab" (whole components).
    EXPECT_ERROR(ops().get_pid_cgroup(requestor.caller(), ctrl(), victim.pid()), ErrorKind::AccessDenied,
                 "not in or below");
}

// ---- GetValue, SetValue ----------------------------------------------------------------------------

TEST_P(PerHierarchy, SetValueWritesAndGetValueReadsBack) {
    ASSERT_OK(ops().create(self_caller(), ctrl(), "v"));
    ASSERT_OK(ops().set_value(self_caller(), ctrl(), "v", GetParam().key, GetParam().value));
    auto v = ops().get_value(self_caller(), ctrl(), "v", GetParam().key);
    ASSERT_OK(v);
    EXPECT_EQ(*v, GetParam().readback);
    // Trailing newlines are stripped; the file itself has one.
    EXPECT_EQ(read_text(at(std::string("v/") + GetParam().key)), std::string(GetParam().readback) + "\n");
}

TEST_P(PerHierarchy, SetValueOnAChownedCgroupsOwnLimitsIsRefused) {
    make_dir(at("zzz"));
    ASSERT_OK(ops().chown(self_caller(), ctrl(), "zzz", 1000, 1000));
    auto& user = spawn_user(1000);
    std::string before = read_text(at(std::string("zzz/") + GetParam().key));
    EXPECT_ERROR(ops().set_value(user.caller(), ctrl(), "zzz", GetParam().key, GetParam().value),
                 ErrorKind::AccessDenied, GetParam().key);
    EXPECT_EQ(read_text(at(std::string("zzz/") + GetParam().key)), before);
}

TEST_P(PerHierarchy, GetValueOfAMissingCgroupOrKeyIsNotFound) {
    EXPECT_ERROR(ops().get_value(self_caller(), ctrl(), "nonexistent", "cgroup.procs"), ErrorKind::NotFound,
                 "does not exist");
    make_dir(at("k"));
    EXPECT_ERROR(ops().get_value(self_caller(), ctrl(), "k", "no.such.key"), ErrorKind::NotFound, "no.such.key");
}

// ---- Remove ------------------------------------------------------------------------------------------

TEST_P(PerHierarchy, RemoveNonRecursiveRefusesChildrenRecursiveRemovesAll) {
    ASSERT_OK(ops().create(self_caller(), ctrl(), "xxx/bbb/ccc"));
    EXPECT_ERROR(ops().remove(self_caller(), ctrl(), "xxx", false), ErrorKind::Failed, "child cgroups");
    EXPECT_TRUE(exists(at("xxx/bbb/ccc")));
    auto r = ops().remove(self_caller(), ctrl(), "xxx", true);
    ASSERT_OK(r);
    EXPECT_EQ(wire_value(*r), 1);
    EXPECT_FALSE(exists(at("xxx")));
    auto absent = ops().remove(self_caller(), ctrl(), "xxx", true);
    ASSERT_OK(absent);
    EXPECT_EQ(wire_value(*absent), -1);
}

TEST_P(PerHierarchy, RemoveOfABusyCgroupRemovesNothing) {
    ASSERT_OK(ops().create(self_caller(), ctrl(), "busy/sub/deep"));
    auto& child = spawn();
    ASSERT_OK(ops().move_pid(self_caller(), ctrl(), "busy/sub", child.pid()));
    EXPECT_ERROR(ops().remove(self_caller(), ctrl(), "busy", true), ErrorKind::Failed, "still has tasks");
    EXPECT_TRUE(exists(at("busy/sub/deep")));
}

TEST_P(PerHierarchy, RemoveNeedsWriteAccessToTheParent) {
    make_dir(at("p"));
    make_dir(at("p/c"));
    auto& user = spawn_user(1000);
    EXPECT_ERROR(ops().remove(user.caller(), ctrl(), "p/c", false), ErrorKind::AccessDenied, "cgroup /p");
    EXPECT_TRUE(exists(at("p/c")));
}

// ---- GetTasks, GetTasksRecursive, ListChildren -------------------------------------------------------

TEST_P(PerHierarchy, GetTasksListsTheCgroupsPids) {
    make_dir(at("t"));
    auto& a = spawn();
    auto& b = spawn();
    ASSERT_OK(ops().move_pid(self_caller(), ctrl(), "t", a.pid()));
    ASSERT_OK(ops().move_pid(self_caller(), ctrl(), "t", b.pid()));
    auto tasks = ops().get_tasks(self_caller(), ctrl(), "t");
    ASSERT_OK(tasks);
    std::vector<int32_t> want = {a.pid(), b.pid()};
    std::sort(want.begin(), want.end());
    EXPECT_EQ(*tasks, want);
    EXPECT_ERROR(ops().get_tasks(self_caller(), ctrl(), "missing"), ErrorKind::NotFound, "/missing");
}

TEST_P(PerHierarchy, GetTasksRecursiveCollectsTheSubtree) {
    ASSERT_OK(ops().create(self_caller(), ctrl(), "z1/z2/z3"));
    auto& a = spawn();
    auto& b = spawn();
    auto& c = spawn();
    ASSERT_OK(ops().move_pid(self_caller(), ctrl(), "z1", a.pid()));
    ASSERT_OK(ops().move_pid(self_caller(), ctrl(), "z1/z2", b.pid()));
    ASSERT_OK(ops().move_pid(self_caller(), ctrl(), "z1/z2/z3", c.pid()));
    auto all = ops().get_tasks_recursive(self_caller(), ctrl(), "z1");
    ASSERT_OK(all);
    EXPECT_EQ(all->size(), 3u);
    auto lower = ops().get_tasks_recursive(self_caller(), ctrl(), "z1/z2");
    ASSERT_OK(lower);
    std::vector<int32_t> want = {b.pid(), c.pid()};
    std::sort(want.begin(), want.end());
    EXPECT_EQ(*lower, want);
}

TEST_P(PerHierarchy, ListChildrenNamesChildCgroupsOnly) {
    ASSERT_OK(ops().create(self_caller(), ctrl(), "ooga/one"));
    ASSERT_OK(ops().create(self_caller(), ctrl(), "ooga/two"));
    auto& child = spawn();
    ASSERT_OK(ops().move_pid(self_caller(), ctrl(), "ooga", child.pid()));  // v2: makes the hidden leaf
    auto kids = ops().list_children(self_caller(), ctrl(), "ooga");
    ASSERT_OK(kids);
    std::sort(kids->begin(), kids->end());
    EXPECT_EQ(*kids, (std::vector<std::string>{"one", "two"}));
    // A cgroup that does not exist is an error (reference test 20).
    EXPECT_ERROR(ops().list_children(self_caller(), ctrl(), "ooga2"), ErrorKind::NotFound, "/ooga2");
}

// ---- RemoveOnEmpty, Prune ----------------------------------------------------------------------------

TEST_P(PerHierarchy, RemoveOnEmptyIsRecordedForTheWatcher) {
    make_dir(at("roe"));
    ASSERT_OK(ops().remove_on_empty(self_caller(), ctrl(), "roe"));
    auto w = env().watches().entries();
    EXPECT_NE(std::find(w.begin(), w.end(), std::make_pair(hy().display, std::string("/roe"))), w.end());
    auto& user = spawn_user(1000);
    make_dir(at("roe2"));
    EXPECT_ERROR(ops().remove_on_empty(user.caller(), ctrl(), "roe2"), ErrorKind::AccessDenied, "may not write");
    w = env().watches().entries();
    EXPECT_EQ(std::find(w.begin(), w.end(), std::make_pair(hy().display, std::string("/roe2"))), w.end());
}

TEST_P(PerHierarchy, PruneRemovesWhatIsEmptyAndWatchesTheRest) {
    ASSERT_OK(ops().create(self_caller(), ctrl(), "prune0/prune1/prune2"));
    ASSERT_OK(ops().create(self_caller(), ctrl(), "prune0/busy"));
    auto& child = spawn();
    ASSERT_OK(ops().move_pid(self_caller(), ctrl(), "prune0/busy", child.pid()));
    auto& user = spawn_user(1000);
    EXPECT_ERROR(ops().prune(user.caller(), ctrl(), "prune0"), ErrorKind::AccessDenied, "cgroup /prune0");
    EXPECT_TRUE(exists(at("prune0/prune1/prune2")));
    ASSERT_OK(ops().prune(self_caller(), ctrl(), "prune0"));
    EXPECT_FALSE(exists(at("prune0/prune1")));
    EXPECT_TRUE(exists(at("prune0/busy")));
    auto w = env().watches().entries();
    EXPECT_NE(std::find(w.begin(), w.end(), std::make_pair(hy().display, std::string("/prune0/busy"))), w.end());
}

// ---- ListKeys ------------------------------------------------------------------------------------------

TEST_P(PerHierarchy, ListKeysShowsOwnersAndModes) {
    make_dir(at("listkeys1"));
    ASSERT_OK(ops().chown(self_caller(), ctrl(), "listkeys1", 100000, 100000));
    auto keys = ops().list_keys(self_caller(), ctrl(), "listkeys1");
    ASSERT_OK(keys);
    auto procs = std::find_if(keys->begin(), keys->end(), [](const KeyInfo& k) { return k.name == "cgroup.procs"; });
    ASSERT_NE(procs, keys->end());
    EXPECT_EQ(procs->uid, 100000u);  // reference test 26
    EXPECT_EQ(procs->perms, static_cast<uint32_t>(stat_of(at("listkeys1/cgroup.procs")).st_mode));
    EXPECT_TRUE(S_ISREG(procs->perms));
    // Seen from a user namespace mapping 100000 to 0, the same owner is 0; root (unmapped) is -1.
    auto& ns_root = spawn_userns_root(100000);
    move_to(ns_root.pid(), hy(), "listkeys1");
    auto seen = ops().list_keys(ns_root.caller(), ctrl(), "");
    ASSERT_OK(seen);
    auto find = [&](std::string_view name) {
        auto it = std::find_if(seen->begin(), seen->end(), [&](const KeyInfo& k) { return k.name == name; });
        EXPECT_NE(it, seen->end()) << name;
        return it == seen->end() ? KeyInfo{} : *it;
    };
    EXPECT_EQ(find("cgroup.procs").uid, 0u);
    EXPECT_EQ(find(GetParam().key).uid, 0xffffffffu);
}

}  // namespace
}  // namespace cgm::test
