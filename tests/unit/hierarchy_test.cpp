// SPDX-License-Identifier: Apache-2.0
//
// Hierarchy planning (docs/dbus-api.md, "Controller argument") from literal mountinfo and /proc/cgroups text,
// and the HierarchyTable's naming, ordering and controller-argument resolution.
#include "core/hierarchy.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "unit_test_util.h"

namespace cgm {
namespace {

using test::IsError;
using test::IsOk;

using Strings = std::vector<std::string>;

// ---------------------------------------------------------------------------------------------
// Planning

// The build machine: one v1 hierarchy per controller, name=systemd and cgroup2; net_cls,
// perf_event, net_prio and hugetlb are bound to no v1 hierarchy (so they belong to cgroup2).
constexpr std::string_view kHybridMountinfo =
    "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw\n"
    "24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334492k,nr_inodes=3083623,mode=755\n"
    "25 24 0:23 / /dev/shm rw,relatime - tmpfs tmpfs rw,size=24684092k\n"
    "26 24 0:24 / /dev/pts rw,relatime - devpts devpts rw,mode=600,ptmxmode=000\n"
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct\n"
    "34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset\n"
    "35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
    "36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices\n"
    "37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer\n"
    "38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio\n"
    "39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

constexpr std::string_view kHybridCgroups =
    "#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
    "cpuset\t3\t1\t1\n"
    "cpu\t1\t1\t1\n"
    "cpuacct\t2\t1\t1\n"
    "blkio\t7\t1\t1\n"
    "memory\t4\t23\t1\n"
    "devices\t5\t1\t1\n"
    "freezer\t6\t1\t1\n"
    "net_cls\t0\t1\t1\n"
    "perf_event\t0\t1\t1\n"
    "net_prio\t0\t1\t1\n"
    "hugetlb\t0\t1\t1\n"
    "pids\t8\t1\t1\n";

// A systemd hybrid host with co-mounted "cpu,cpuacct" and "net_cls,net_prio" (Ubuntu 18.04), plus
// a bind mount of a sub-cgroup of cpu,cpuacct for a container (the same hierarchy again).
constexpr std::string_view kComountedMountinfo =
    "24 29 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n"
    "25 24 0:23 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
    "26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 "
    "rw,nsdelegate\n"
    "27 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup "
    "rw,xattr,name=systemd\n"
    "30 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup "
    "rw,cpu,cpuacct\n"
    "31 25 0:29 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup "
    "rw,net_cls,net_prio\n"
    "32 25 0:30 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,memory\n"
    "33 25 0:31 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,pids\n"
    "34 25 0:32 / /sys/fs/cgroup/rdma rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,rdma\n"
    "200 30 0:28 /lxc/c1 /var/lib/lxc/c1/rootfs/sys/fs/cgroup/cpu,cpuacct rw,relatime master:14 - cgroup "
    "cgroup rw,cpu,cpuacct\n";

constexpr std::string_view kComountedCgroups =
    "#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
    "cpuset\t0\t1\t1\n"
    "cpu\t4\t100\t1\n"
    "cpuacct\t4\t100\t1\n"
    "blkio\t0\t1\t1\n"
    "memory\t7\t120\t1\n"
    "devices\t0\t1\t1\n"
    "freezer\t0\t1\t1\n"
    "net_cls\t5\t1\t1\n"
    "perf_event\t0\t1\t1\n"
    "net_prio\t5\t1\t1\n"
    "hugetlb\t0\t1\t1\n"
    "pids\t8\t110\t1\n"
    "rdma\t9\t1\t1\n";

// A pure cgroup2 host (Fedora style): every controller is bound to hierarchy 0.
constexpr std::string_view kPureV2Mountinfo =
    "23 1 253:0 / / rw,relatime shared:1 - ext4 /dev/mapper/root rw,seclabel\n"
    "24 23 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw,seclabel\n"
    "35 24 0:30 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 "
    "rw,seclabel,nsdelegate,memory_recursiveprot\n";

constexpr std::string_view kPureV2Cgroups =
    "#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
    "cpuset\t0\t88\t1\n"
    "cpu\t0\t88\t1\n"
    "cpuacct\t0\t88\t1\n"
    "blkio\t0\t88\t1\n"
    "memory\t0\t88\t1\n"
    "devices\t0\t88\t1\n"
    "freezer\t0\t88\t1\n"
    "net_cls\t0\t88\t1\n"
    "perf_event\t0\t88\t1\n"
    "net_prio\t0\t88\t1\n"
    "hugetlb\t0\t88\t1\n"
    "pids\t0\t88\t1\n"
    "rdma\t0\t88\t1\n"
    "misc\t0\t88\t1\n";

// A legacy host without cgroup2 (CentOS 7 style) where only some controllers are mounted:
// devices, freezer and hugetlb are enabled but unbound, net_cls,net_prio are bound to a hierarchy
// that is not mounted here, perf_event is disabled.
constexpr std::string_view kLegacyMountinfo =
    "18 62 0:17 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw\n"
    "21 18 0:18 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:7 - tmpfs tmpfs ro,mode=755\n"
    "22 21 0:19 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:8 - cgroup cgroup "
    "rw,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd\n"
    "24 21 0:21 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup "
    "rw,cpuset,clone_children\n"
    "25 21 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup "
    "rw,cpuacct,cpu\n"
    "26 21 0:23 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,memory\n"
    "27 21 0:24 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,blkio\n";

constexpr std::string_view kLegacyCgroups =
    "#subsys_name\thierarchy\tnum_cgroups\tenabled\n"
    "cpuset\t4\t1\t1\n"
    "cpu\t5\t1\t1\n"
    "cpuacct\t5\t1\t1\n"
    "memory\t6\t1\t1\n"
    "devices\t0\t1\t1\n"
    "freezer\t0\t1\t1\n"
    "net_cls\t9\t1\t1\n"
    "blkio\t7\t1\t1\n"
    "perf_event\t0\t1\t0\n"
    "hugetlb\t0\t1\t1\n"
    "net_prio\t9\t1\t1\n";

HierarchyPlanInput input(std::string_view mountinfo, std::string_view cgroups, Strings extra = {}, Strings skip = {}) {
    HierarchyPlanInput in;
    auto m = parse_mountinfo(mountinfo);
    EXPECT_TRUE(IsOk(m));
    auto s = parse_proc_cgroups(cgroups);
    EXPECT_TRUE(IsOk(s));
    if (m)
        in.mounts = *m;
    if (s)
        in.subsystems = *s;
    in.extra_mounts = std::move(extra);
    in.skip = std::move(skip);
    return in;
}

// One line per spec: "kind|controllers|premounted|mount data|dir name".
Strings describe(const HierarchyPlan& plan) {
    Strings out;
    for (const auto& s : plan.specs) {
        std::string ctrls;
        for (const auto& c : s.controllers)
            ctrls += (ctrls.empty() ? "" : ",") + c;
        out.push_back(fmt::format("{}|{}|{}|{}|{}", s.kind == HierarchyKind::Unified ? "v2" : "v1", ctrls,
                                  s.premounted ? "pre" : "new", s.mount_data, s.dir_name));
    }
    return out;
}

Strings plan_of(const HierarchyPlanInput& in, Strings* warnings = nullptr) {
    auto r = plan_hierarchies(in);
    EXPECT_TRUE(IsOk(r));
    if (!r)
        return {};
    if (warnings)
        *warnings = r->warnings;
    else
        EXPECT_EQ(r->warnings, Strings{});
    return describe(*r);
}

const Strings kHybridPlan = {
    "v1|cpu|pre|cpu|cpu",
    "v1|cpuacct|pre|cpuacct|cpuacct",
    "v1|cpuset|pre|cpuset|cpuset",
    "v1|memory|pre|memory|memory",
    "v1|devices|pre|devices|devices",
    "v1|freezer|pre|freezer|freezer",
    "v1|blkio|pre|blkio|blkio",
    "v1|pids|pre|pids|pids",
    "v1|name=systemd|pre|none,name=systemd|systemd",
    "v2||pre||unified",
};

// cgroup2 is managed without controllers only when -m unified asks (systemd's hybrid layout
// mounts one for process tracking; 0.42 left it alone): planning marks which one was asked for.
TEST(PlanHierarchiesTest, UnifiedIsRequestedOnlyByMinusM) {
    auto requested = [](const HierarchyPlanInput& in) {
        auto r = plan_hierarchies(in);
        EXPECT_TRUE(IsOk(r));
        Strings out;
        if (r)
            for (const auto& s : r->specs)
                if (s.kind == HierarchyKind::Unified)
                    out.push_back(std::string(s.premounted ? "pre" : "new") + (s.requested ? "|requested" : ""));
        return out;
    };
    EXPECT_EQ(requested(input(kHybridMountinfo, kHybridCgroups)), Strings{"pre"});
    EXPECT_EQ(requested(input(kHybridMountinfo, kHybridCgroups, {"unified"})), Strings{"pre|requested"});
    EXPECT_EQ(requested(input(kLegacyMountinfo, kLegacyCgroups, {"unified"})), Strings{"new|requested"});
    EXPECT_EQ(requested(input(kLegacyMountinfo, kLegacyCgroups, {"memory"})), Strings{});
}

TEST(PlanHierarchiesTest, HybridHost) {
    // net_cls, perf_event, net_prio and hugetlb are unbound, but cgroup2 is mounted: not taken.
    EXPECT_EQ(plan_of(input(kHybridMountinfo, kHybridCgroups)), kHybridPlan);
}

const Strings kComountedPlan = {
    "v2||pre||unified",
    "v1|name=systemd|pre|none,name=systemd|systemd",
    "v1|cpu,cpuacct|pre|cpu,cpuacct|cpu",  // the container's bind mount is not a second entry
    "v1|net_cls,net_prio|pre|net_cls,net_prio|net_cls",
    "v1|memory|pre|memory|memory",
    "v1|pids|pre|pids|pids",
    "v1|rdma|pre|rdma|rdma",
};

const Strings kLegacyPremounted = {
    "v1|name=systemd|pre|none,name=systemd|systemd",
    "v1|cpuset|pre|cpuset|cpuset",
    "v1|cpuacct,cpu|pre|cpuacct,cpu|cpuacct",  // mount-option order kept
    "v1|memory|pre|memory|memory",
    "v1|blkio|pre|blkio|blkio",
};

TEST(PlanHierarchiesTest, ComountedHost) {
    EXPECT_EQ(plan_of(input(kComountedMountinfo, kComountedCgroups)), kComountedPlan);
}

TEST(PlanHierarchiesTest, PureV2Host) {
    // Only the unified hierarchy: unbound controllers must not get v1 hierarchies.
    EXPECT_EQ(plan_of(input(kPureV2Mountinfo, kPureV2Cgroups)), Strings{"v2||pre||unified"});
}

TEST(PlanHierarchiesTest, LegacyHostWithUnmountedControllers) {
    // Unbound enabled controllers each get a new v1 hierarchy; controllers bound to a hierarchy
    // that is not mounted here get one together; the disabled perf_event gets nothing.
    Strings expected = kLegacyPremounted;
    expected.insert(expected.end(), {
                                        "v1|devices|new|devices|devices",
                                        "v1|freezer|new|freezer|freezer",
                                        "v1|hugetlb|new|hugetlb|hugetlb",
                                        "v1|net_cls,net_prio|new|net_cls,net_prio|net_cls",
                                    });
    EXPECT_EQ(plan_of(input(kLegacyMountinfo, kLegacyCgroups)), expected);
}

TEST(PlanHierarchiesTest, NoCgroupsAtAll) {
    EXPECT_EQ(plan_of(input("", "")), Strings{});
    // cgroup mounts with no known controller (e.g. only "rw,xattr") are ignored.
    EXPECT_EQ(plan_of(input("40 31 0:37 / /x rw - cgroup cgroup rw,xattr\n", "")), Strings{});
}

TEST(PlanHierarchiesTest, ExtraMounts) {
    Strings plan = kHybridPlan;
    // name=foo: a new named hierarchy.
    plan.push_back("v1|name=foo|new|none,name=foo|foo");
    EXPECT_EQ(plan_of(input(kHybridMountinfo, kHybridCgroups, {"name=foo"})), plan);
    // An already mounted controller or named hierarchy, or the unified one: nothing new.
    EXPECT_EQ(plan_of(input(kHybridMountinfo, kHybridCgroups, {"memory"})), kHybridPlan);
    EXPECT_EQ(plan_of(input(kHybridMountinfo, kHybridCgroups, {"name=systemd"})), kHybridPlan);
    EXPECT_EQ(plan_of(input(kHybridMountinfo, kHybridCgroups, {"unified"})), kHybridPlan);
    EXPECT_EQ(plan_of(input(kHybridMountinfo, kHybridCgroups, {"memory,cpu", "pids"})), kHybridPlan);
    // A controller that belongs to cgroup2 is taken for v1 only when -m names it.
    plan = kHybridPlan;
    plan.push_back("v1|net_cls|new|net_cls|net_cls");
    plan.push_back("v1|hugetlb|new|hugetlb|hugetlb");
    EXPECT_EQ(plan_of(input(kHybridMountinfo, kHybridCgroups, {"net_cls,hugetlb"})), plan);
    // Trailing or doubled commas inside one -m entry are ignored.
    plan = kHybridPlan;
    plan.push_back("v1|net_cls|new|net_cls|net_cls");
    EXPECT_EQ(plan_of(input(kHybridMountinfo, kHybridCgroups, {"net_cls,"})), plan);
    // On a legacy host, -m unified adds a (not premounted) unified hierarchy; the premounted v1
    // hierarchies stay as they are.
    auto with_unified = plan_of(input(kLegacyMountinfo, kLegacyCgroups, {"unified"}));
    ASSERT_GT(with_unified.size(), kLegacyPremounted.size());
    EXPECT_EQ(Strings(with_unified.begin(), with_unified.begin() + 5), kLegacyPremounted);
    EXPECT_EQ(with_unified[5], "v2||new||unified");
}

TEST(PlanHierarchiesTest, ExtraMountErrors) {
    struct Case {
        std::string_view entry;
        std::string_view message;
    };
    const Case cases[] = {
        {"bogus", "'bogus' is neither a kernel controller nor name=X"},
        {"memory,bogus", "'bogus'"},
        {"name=", "'name=' has an empty name"},
        {"Memory", "'Memory'"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.entry);
        auto r = plan_hierarchies(input(kHybridMountinfo, kHybridCgroups, {std::string(c.entry)}));
        EXPECT_TRUE(IsError(r, ErrorKind::InvalidArgs, c.message));
    }
}

TEST(PlanHierarchiesTest, Skips) {
    auto without = [](std::string_view removed) {
        Strings plan = kHybridPlan;
        std::erase_if(plan, [&](const std::string& s) { return s.starts_with(removed); });
        EXPECT_EQ(plan.size(), kHybridPlan.size() - 1) << removed;
        return plan;
    };
    struct Case {
        std::string_view skip;
        Strings plan;
    };
    const Case cases[] = {
        {"memory", without("v1|memory|")},
        {"systemd", without("v1|name=systemd|")},
        {"name=systemd", without("v1|name=systemd|")},
        {"unified", without("v2|")},
        {"cpuacct", without("v1|cpuacct|")},
        {"memory,", without("v1|memory|")},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.skip);
        EXPECT_EQ(plan_of(input(kHybridMountinfo, kHybridCgroups, {}, {std::string(c.skip)})), c.plan);
    }
    // Several at once; a -M for a co-mounted member skips the whole hierarchy.
    EXPECT_EQ(plan_of(input(kComountedMountinfo, kComountedCgroups, {}, {"cpuacct", "net_prio,pids", "unified"})),
              (Strings{
                  "v1|name=systemd|pre|none,name=systemd|systemd",
                  "v1|memory|pre|memory|memory",
                  "v1|rdma|pre|rdma|rdma",
              }));
    // -m and -M of the same thing: the skip wins.
    EXPECT_EQ(plan_of(input(kHybridMountinfo, kHybridCgroups, {"name=foo"}, {"foo"})), kHybridPlan);
}

TEST(PlanHierarchiesTest, SkipWarnings) {
    struct Case {
        Strings skip;
        Strings warnings;
    };
    const Case cases[] = {
        {{"nonexistent"}, {"--skip: 'nonexistent' matches no hierarchy, ignoring"}},
        {{"net_cls"}, {"--skip: 'net_cls' matches no hierarchy, ignoring"}},  // not managed on this host
        {{"memory", "memory"}, {"--skip: 'memory' matches no hierarchy, ignoring"}},
        {{"a,b"}, {"--skip: 'a' matches no hierarchy, ignoring", "--skip: 'b' matches no hierarchy, ignoring"}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.skip.front());
        Strings warnings;
        plan_of(input(kHybridMountinfo, kHybridCgroups, {}, c.skip), &warnings);
        EXPECT_EQ(warnings, c.warnings);
    }
}

// A controller that mountinfo shows in two hierarchies (the kernel does not allow it) is managed
// once, in the first; a hierarchy mounted twice (or with an option repeated) counts once.
TEST(PlanHierarchiesTest, OverlappingAndRepeatedMounts) {
    constexpr std::string_view mountinfo =
        "30 25 0:26 / /sys/fs/cgroup/cpuacct rw - cgroup cgroup rw,cpuacct\n"
        "31 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n"
        "32 25 0:28 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory,memory\n"
        "33 25 0:28 / /mnt/memory rw - cgroup cgroup rw,memory\n";
    constexpr std::string_view cgroups = "cpu\t3\t1\t1\ncpuacct\t3\t1\t1\nmemory\t4\t1\t1\n";
    Strings warnings;
    EXPECT_EQ(plan_of(input(mountinfo, cgroups), &warnings),
              (Strings{"v1|cpuacct|pre|cpuacct|cpuacct", "v1|memory|pre|memory|memory", "v1|cpu|new|cpu|cpu"}));
    EXPECT_EQ(warnings, (Strings{"/sys/fs/cgroup/cpu,cpuacct is mounted with controllers (cpu,cpuacct) that another "
                                 "hierarchy has; ignoring it"}));
}

TEST(PlanHierarchiesTest, DirNamesAreUnique) {
    // A named hierarchy called like a controller (or like "unified") gets a suffixed directory.
    Strings expected = kHybridPlan;
    expected.push_back("v1|name=memory|new|none,name=memory|memory.2");
    expected.push_back("v1|name=unified|new|none,name=unified|unified.2");
    EXPECT_EQ(plan_of(input(kHybridMountinfo, kHybridCgroups, {"name=memory", "name=unified"})), expected);
}

// ---------------------------------------------------------------------------------------------
// HierarchyTable

std::unique_ptr<Hierarchy> v1(Strings controllers) {
    auto h = std::make_unique<Hierarchy>();
    h->kind = HierarchyKind::Legacy;
    h->controllers = std::move(controllers);
    return h;
}

std::unique_ptr<Hierarchy> v2(Strings controllers = {}) {
    auto h = std::make_unique<Hierarchy>();
    h->kind = HierarchyKind::Unified;
    h->controllers = std::move(controllers);
    return h;
}

// Built in a scrambled order on purpose: the table sorts.
HierarchyTable hybrid_table() {
    std::vector<std::unique_ptr<Hierarchy>> hs;
    hs.push_back(v1({"name=systemd"}));
    hs.push_back(v1({"pids"}));
    hs.push_back(v2({"hugetlb", "io"}));
    hs.push_back(v1({"net_cls", "net_prio"}));
    hs.push_back(v1({"memory"}));
    hs.push_back(v1({"cpu", "cpuacct"}));
    hs.push_back(v1({"blkio"}));
    return HierarchyTable(std::move(hs));
}

// The display names of a list of hierarchies.
Strings names(const std::vector<const Hierarchy*>& hs) {
    Strings out;
    for (const auto* h : hs)
        out.push_back(h ? h->display : "<null>");
    return out;
}

TEST(HierarchyTableTest, ControllerNamesAndOrder) {
    HierarchyTable t = hybrid_table();
    EXPECT_FALSE(t.empty());
    EXPECT_EQ(t.controller_names(),
              (Strings{"blkio", "cpu,cpuacct", "hugetlb,io", "memory", "net_cls,net_prio", "pids", "name=systemd"}));
    ASSERT_EQ(t.all().size(), 7u);
    EXPECT_TRUE(t.all()[2]->is_unified());
    EXPECT_FALSE(t.all()[1]->is_unified());
}

TEST(HierarchyTableTest, DisplayNames) {
    struct Case {
        std::string_view name;
        std::unique_ptr<Hierarchy> (*make)();
        std::string_view display;
    };
    const Case cases[] = {
        {"v2 without controllers", [] { return v2(); }, "unified"},
        {"v2 with controllers",
         [] {
             return v2({"io", "memory", "pids"});
         },
         "io,memory,pids"},
        {"named", [] { return v1({"name=systemd"}); }, "name=systemd"},
        {"co-mounted, mount order kept",
         [] {
             return v1({"cpuacct", "cpu"});
         },
         "cpuacct,cpu"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        std::vector<std::unique_ptr<Hierarchy>> hs;
        hs.push_back(c.make());
        HierarchyTable t(std::move(hs));
        EXPECT_EQ(t.controller_names(), Strings{std::string(c.display)});
    }
}

TEST(HierarchyTableTest, SortIgnoresNamePrefixAndPlacesUnified) {
    std::vector<std::unique_ptr<Hierarchy>> hs;
    hs.push_back(v2());
    hs.push_back(v1({"name=systemd"}));
    hs.push_back(v1({"name=aaa"}));
    hs.push_back(v1({"memory"}));
    hs.push_back(v1({"net_prio", "net_cls"}));  // sorted by its alphabetically first member
    hs.push_back(v1({"cpuset"}));
    HierarchyTable t(std::move(hs));
    EXPECT_EQ(t.controller_names(),
              (Strings{"name=aaa", "cpuset", "memory", "net_prio,net_cls", "name=systemd", "unified"}));
}

TEST(HierarchyTableTest, Resolve) {
    HierarchyTable t = hybrid_table();
    struct Case {
        std::string_view arg;
        Strings hierarchies;
    };
    const Case cases[] = {
        {"memory", {"memory"}},
        {"memory,", {"memory"}},  // one trailing comma is tolerated
        {"cpu", {"cpu,cpuacct"}},
        {"cpuacct", {"cpu,cpuacct"}},
        {"cpu,cpuacct", {"cpu,cpuacct"}},  // co-mounted members collapse
        {"cpuacct,cpu", {"cpu,cpuacct"}},
        {"systemd", {"name=systemd"}},
        {"name=systemd", {"name=systemd"}},
        {"systemd,name=systemd", {"name=systemd"}},
        {"unified", {"hugetlb,io"}},
        {"io", {"hugetlb,io"}},  // a v2 controller
        {"hugetlb", {"hugetlb,io"}},
        {"memory,cpu", {"memory", "cpu,cpuacct"}},  // given order kept
        {"pids,io,blkio", {"pids", "hugetlb,io", "blkio"}},
        {"all", {"blkio", "cpu,cpuacct", "hugetlb,io", "memory", "net_cls,net_prio", "pids", "name=systemd"}},
        {"all,", {"blkio", "cpu,cpuacct", "hugetlb,io", "memory", "net_cls,net_prio", "pids", "name=systemd"}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.arg);
        auto r = t.resolve(c.arg);
        ASSERT_TRUE(IsOk(r));
        EXPECT_EQ(names(*r), c.hierarchies);
    }
    EXPECT_EQ(*t.resolve("systemd"), *t.resolve("name=systemd"));
    EXPECT_EQ(t.find("systemd"), t.find("name=systemd"));
    EXPECT_EQ(t.find("bogus"), nullptr);
}

TEST(HierarchyTableTest, ResolveErrors) {
    HierarchyTable t = hybrid_table();
    const std::string too_long(1025, 'm');
    struct Case {
        std::string_view arg;
        ErrorKind kind;
        std::string_view message;
    };
    const Case cases[] = {
        {"", ErrorKind::InvalidArgs, "empty controller name"},
        {",", ErrorKind::InvalidArgs, "has an empty entry"},
        {",memory", ErrorKind::InvalidArgs, "has an empty entry"},
        {"memory,,cpu", ErrorKind::InvalidArgs, "controller list 'memory,,cpu' has an empty entry"},
        {"memory,,", ErrorKind::InvalidArgs, "has an empty entry"},
        {"memory,memory", ErrorKind::InvalidArgs, "names 'memory' twice"},
        {"all,memory", ErrorKind::InvalidArgs, "'all' cannot be combined"},
        {"memory,all", ErrorKind::InvalidArgs, "'all' cannot be combined"},
        {"all,all", ErrorKind::InvalidArgs, "'all' cannot be combined"},
        {"bogus", ErrorKind::InvalidArgs, "unknown controller 'bogus'"},
        {"memory,bogus", ErrorKind::InvalidArgs, "unknown controller 'bogus'"},
        {"name=bogus", ErrorKind::InvalidArgs, "unknown controller 'name=bogus'"},
        {"name=memory", ErrorKind::InvalidArgs, "unknown controller"},  // memory is not a named hierarchy
        {"name=", ErrorKind::InvalidArgs, "unknown controller"},
        {"Memory", ErrorKind::InvalidArgs, "unknown controller"},
        {" memory", ErrorKind::InvalidArgs, "unknown controller"},
        {"cpuset", ErrorKind::InvalidArgs, "unknown controller 'cpuset'"},  // not managed here
        {too_long, ErrorKind::LimitsExceeded, "longer than 1024 bytes"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.arg.substr(0, 40));
        EXPECT_TRUE(IsError(t.resolve(c.arg), c.kind, c.message));
    }
}

TEST(HierarchyTableTest, V1WinsOverV2) {
    std::vector<std::unique_ptr<Hierarchy>> hs;
    hs.push_back(v2({"cpu", "io", "memory"}));
    hs.push_back(v1({"memory"}));
    HierarchyTable t(std::move(hs));
    struct Case {
        std::string_view token;
        std::string_view display;
    };
    const Case cases[] = {
        {"memory", "memory"},
        {"io", "cpu,io,memory"},
        {"cpu", "cpu,io,memory"},
        {"unified", "cpu,io,memory"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.token);
        const Hierarchy* h = t.find(c.token);
        ASSERT_NE(h, nullptr);
        EXPECT_EQ(h->display, c.display);
        auto r = t.resolve_one(c.token);
        ASSERT_TRUE(IsOk(r));
        EXPECT_EQ(*r, h);
    }
    // Both hierarchies, each once.
    EXPECT_EQ(names(t.resolve("memory,io").value()), (Strings{"memory", "cpu,io,memory"}));
    EXPECT_EQ(names(t.resolve("io,cpu,unified").value()), Strings{"cpu,io,memory"});
}

TEST(HierarchyTableTest, ResolveOne) {
    HierarchyTable t = hybrid_table();
    struct Case {
        std::string_view arg;
        std::string_view display;  // empty: an error is expected
        std::string_view message;
    };
    const Case cases[] = {
        {"memory", "memory", ""},
        {"memory,", "memory", ""},
        {"cpu,cpuacct", "cpu,cpuacct", ""},
        {"cpuacct,cpu,", "cpu,cpuacct", ""},
        {"net_prio", "net_cls,net_prio", ""},
        {"systemd", "name=systemd", ""},
        {"name=systemd", "name=systemd", ""},
        {"unified", "hugetlb,io", ""},
        {"io", "hugetlb,io", ""},
        {"memory,cpu", "", "not co-mounted"},
        {"cpu,io", "", "not co-mounted"},
        {"all", "", "'all' is not accepted"},
        {"all,memory", "", "'all' cannot be combined"},
        {"", "", "empty controller name"},
        {"bogus", "", "unknown controller 'bogus'"},
        {"memory,memory", "", "twice"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.arg);
        auto r = t.resolve_one(c.arg);
        if (c.display.empty()) {
            EXPECT_TRUE(IsError(r, ErrorKind::InvalidArgs, c.message));
        } else {
            ASSERT_TRUE(IsOk(r));
            EXPECT_EQ((*r)->display, c.display);
        }
    }
}

TEST(HierarchyTableTest, ResolveOneRefusesAllOnASingleHierarchyHost) {
    // On a pure v2 host "all" is exactly one hierarchy; single-hierarchy methods still refuse it,
    // with or without a trailing comma ("all" is not a controller there).
    std::vector<std::unique_ptr<Hierarchy>> hs;
    hs.push_back(v2({"cpu", "io", "memory", "pids"}));
    HierarchyTable t(std::move(hs));
    EXPECT_EQ(names(t.resolve("all").value()), Strings{"cpu,io,memory,pids"});
    EXPECT_TRUE(IsError(t.resolve_one("all"), ErrorKind::InvalidArgs, "'all'"));
    EXPECT_TRUE(IsError(t.resolve_one("all,"), ErrorKind::InvalidArgs, "'all'"));
    auto one = t.resolve_one("memory");
    ASSERT_TRUE(IsOk(one));
    EXPECT_EQ((*one)->display, "cpu,io,memory,pids");
}

TEST(HierarchyTableTest, V1NamesAddressTheUnifiedHierarchyOnPureV2) {
    std::vector<std::unique_ptr<Hierarchy>> hs;
    hs.push_back(v2({"cpu", "io", "memory", "pids"}));
    HierarchyTable t(std::move(hs));
    for (std::string_view arg : {"cpuacct", "cpu,cpuacct", "cpu,cpuacct,memory", "freezer", "devices", "blkio",
                                 "name=systemd", "systemd", "net_cls,net_prio", "perf_event"}) {
        SCOPED_TRACE(arg);
        auto one = t.resolve_one(arg);
        ASSERT_TRUE(IsOk(one));
        EXPECT_EQ((*one)->display, "cpu,io,memory,pids");
    }
    EXPECT_EQ(names(t.resolve("freezer,devices,memory,name=systemd").value()), Strings{"cpu,io,memory,pids"});
    EXPECT_TRUE(IsError(t.resolve("name=lxc"), ErrorKind::InvalidArgs, "unknown controller 'name=lxc'"));
    EXPECT_TRUE(IsError(t.resolve("hugetlb"), ErrorKind::InvalidArgs, "unknown controller 'hugetlb'"));
    // A repeated name is still refused, even when two names mean one hierarchy.
    EXPECT_TRUE(IsError(t.resolve("freezer,freezer"), ErrorKind::InvalidArgs, "twice"));
}

TEST(HierarchyTableTest, V1NamesStayV1BesideV1Hierarchies) {
    // Where v1 hierarchies are managed, a v1 name is a v1 hierarchy or unknown, as before.
    HierarchyTable t = hybrid_table();
    EXPECT_EQ(t.find("freezer"), nullptr);
    EXPECT_EQ(t.find("devices"), nullptr);
    EXPECT_EQ(t.find("blkio")->display, "blkio");
    EXPECT_EQ(t.find("cpuacct")->display, "cpu,cpuacct");
    EXPECT_EQ(t.find("name=systemd")->display, "name=systemd");
    EXPECT_TRUE(IsError(t.resolve("freezer"), ErrorKind::InvalidArgs, "unknown controller 'freezer'"));
    // And where only the v2 hierarchy lacks a controller a v1 name would stand for.
    std::vector<std::unique_ptr<Hierarchy>> hs;
    hs.push_back(v2({"io", "memory"}));
    HierarchyTable no_cpu(std::move(hs));
    EXPECT_EQ(no_cpu.find("cpuacct"), nullptr);
    EXPECT_EQ(no_cpu.find("blkio")->display, "io,memory");
}

TEST(HierarchyTableTest, EmptyTable) {
    HierarchyTable t;
    EXPECT_TRUE(t.empty());
    EXPECT_EQ(t.controller_names(), Strings{});
    auto all = t.resolve("all");
    ASSERT_TRUE(IsOk(all));  // "all" with nothing managed does nothing
    EXPECT_TRUE(all->empty());
    EXPECT_TRUE(IsError(t.resolve("memory"), ErrorKind::InvalidArgs, "unknown controller"));
    EXPECT_TRUE(IsError(t.resolve_one("all"), ErrorKind::InvalidArgs, "'all'"));
}

TEST(HierarchyTest, Matches) {
    auto systemd = v1({"name=systemd"});
    auto cpu = v1({"cpu", "cpuacct"});
    auto unified = v2({"io", "memory"});
    auto bare = v2();
    struct Case {
        const Hierarchy* h;
        std::string_view token;
        bool matches;
    };
    const Case cases[] = {
        {systemd.get(), "systemd", true},
        {systemd.get(), "name=systemd", true},
        {systemd.get(), "name=name=systemd", false},
        {systemd.get(), "system", false},
        {systemd.get(), "", false},
        {cpu.get(), "cpu", true},
        {cpu.get(), "cpuacct", true},
        {cpu.get(), "cpu,cpuacct", false},  // one token, not a list
        {cpu.get(), "name=cpu", false},
        {cpu.get(), "unified", false},
        {unified.get(), "unified", true},
        {unified.get(), "io", true},
        {unified.get(), "memory", true},
        {unified.get(), "cpu", false},
        {unified.get(), "", false},
        {bare.get(), "unified", true},
        {bare.get(), "memory", false},
        // A v1 name is not one of the unified hierarchy's own (the table maps it: below).
        {unified.get(), "freezer", false},
        {unified.get(), "name=systemd", false},
    };
    for (size_t i = 0; i < std::size(cases); ++i) {
        const auto& c = cases[i];
        SCOPED_TRACE(fmt::format("case {}: token '{}'", i, c.token));
        EXPECT_EQ(c.h->matches(c.token), c.matches);
    }
    EXPECT_TRUE(cpu->has_controller("cpuacct"));
    EXPECT_FALSE(cpu->has_controller("cpu,cpuacct"));
    EXPECT_FALSE(systemd->has_controller("systemd"));
    EXPECT_EQ(strip_name_prefix("name=systemd"), "systemd");
    EXPECT_EQ(strip_name_prefix("memory"), "memory");
    EXPECT_EQ(strip_name_prefix("name="), "");
}

TEST(HierarchyTest, FindLine) {
    constexpr std::string_view kLines =
        "12:pids:/user.slice/user-1000.slice/user@1000.service\n"
        "10:net_cls,net_prio:/\n"
        "9:memory:/user.slice/user-1000.slice/user@1000.service\n"
        "7:cpu,cpuacct:/user.slice\n"
        "1:name=systemd:/user.slice/user-1000.slice/session-2.scope\n"
        "0::/user.slice/user-1000.slice/session-2.scope\n";
    auto lines = parse_proc_cgroup(kLines);
    ASSERT_TRUE(IsOk(lines));
    struct Case {
        std::unique_ptr<Hierarchy> h;
        int id;  // -1: no line
        std::string_view path;
    };
    Case cases[] = {
        {v1({"memory"}), 9, "/user.slice/user-1000.slice/user@1000.service"},
        {v1({"cpu", "cpuacct"}), 7, "/user.slice"},
        {v1({"cpuacct"}), 7, "/user.slice"},
        {v1({"net_prio", "net_cls"}), 10, "/"},
        {v1({"name=systemd"}), 1, "/user.slice/user-1000.slice/session-2.scope"},
        {v2(), 0, "/user.slice/user-1000.slice/session-2.scope"},
        {v2({"io", "memory"}), 0, "/user.slice/user-1000.slice/session-2.scope"},  // v2 never takes a v1 line
        {v1({"cpuset"}), -1, ""},
        {v1({"name=elogind"}), -1, ""},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.h->controllers.empty() ? std::string("unified") : c.h->controllers.front());
        const ProcCgroupLine* l = c.h->find_line(*lines);
        if (c.id < 0) {
            EXPECT_EQ(l, nullptr);
            continue;
        }
        ASSERT_NE(l, nullptr);
        EXPECT_EQ(l->hierarchy_id, c.id);
        EXPECT_EQ(l->path, c.path);
    }
    // A v1-only host has no "0::" line: the unified hierarchy finds nothing; a pure v2 host has
    // only that line: v1 hierarchies find nothing.
    auto v1_only = parse_proc_cgroup("4:memory:/a\n1:name=systemd:/b\n").value();
    EXPECT_EQ(v2()->find_line(v1_only), nullptr);
    EXPECT_NE(v1({"memory"})->find_line(v1_only), nullptr);
    auto v2_only = parse_proc_cgroup("0::/a\n").value();
    EXPECT_EQ(v1({"memory"})->find_line(v2_only), nullptr);
    ASSERT_NE(v2()->find_line(v2_only), nullptr);
    EXPECT_EQ(v2()->find_line(v2_only)->path, "/a");
}

}  // namespace
}  // namespace cgm
