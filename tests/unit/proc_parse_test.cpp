// SPDX-License-Identifier: Apache-2.0
//
// Parsers of /proc/<pid>/cgroup, /proc/<pid>/status, /proc/<pid>/mountinfo and /proc/cgroups, fed
// with literal text copied from real machines. Malformed input must give an Error.
#include "core/proc_parse.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>
#include <vector>

#include "unit_test_util.h"

namespace cgm {
namespace {

using namespace std::string_view_literals;
using test::IsError;
using test::IsOk;
using test::printable;

using Strings = std::vector<std::string>;

// ---------------------------------------------------------------------------------------------
// /proc/<pid>/cgroup

// A hybrid host (one v1 hierarchy per controller, name=systemd, and cgroup2), as on the build machine.
constexpr std::string_view kHybridCgroup =
    "9:name=systemd:/\n"
    "8:pids:/\n"
    "7:blkio:/\n"
    "6:freezer:/\n"
    "5:devices:/\n"
    "4:memory:/process_api/f2407b4e4c2d9ae9d89f2c3e384d7a8e\n"
    "3:cpuset:/\n"
    "2:cpuacct:/\n"
    "1:cpu:/\n"
    "0::/\n";

// A systemd hybrid host with co-mounted controllers (Ubuntu 18.04 style) and a path holding ':'.
constexpr std::string_view kComountedCgroup =
    "12:pids:/user.slice/user-1000.slice/user@1000.service\n"
    "11:hugetlb:/\n"
    "10:net_cls,net_prio:/\n"
    "9:memory:/user.slice/user-1000.slice/user@1000.service\n"
    "8:rdma:/\n"
    "7:cpu,cpuacct:/user.slice\n"
    "4:devices:/user.slice\n"
    "1:name=systemd:/user.slice/user-1000.slice/user@1000.service/app.slice/run-u1:2.scope\n"
    "0::/user.slice/user-1000.slice/user@1000.service/app.slice/run-u1:2.scope\n";

TEST(ProcCgroupTest, Hybrid) {
    auto r = parse_proc_cgroup(kHybridCgroup);
    ASSERT_TRUE(IsOk(r));
    const std::vector<ProcCgroupLine> expected = {
        {9, {"name=systemd"}, "/"}, {8, {"pids"}, "/"},
        {7, {"blkio"}, "/"},        {6, {"freezer"}, "/"},
        {5, {"devices"}, "/"},      {4, {"memory"}, "/process_api/f2407b4e4c2d9ae9d89f2c3e384d7a8e"},
        {3, {"cpuset"}, "/"},       {2, {"cpuacct"}, "/"},
        {1, {"cpu"}, "/"},          {0, {}, "/"},
    };
    EXPECT_EQ(*r, expected);
}

TEST(ProcCgroupTest, ComountedAndColonInPath) {
    auto r = parse_proc_cgroup(kComountedCgroup);
    ASSERT_TRUE(IsOk(r));
    ASSERT_EQ(r->size(), 9u);
    EXPECT_EQ((*r)[2], (ProcCgroupLine{10, {"net_cls", "net_prio"}, "/"}));
    EXPECT_EQ((*r)[5], (ProcCgroupLine{7, {"cpu", "cpuacct"}, "/user.slice"}));
    EXPECT_EQ((*r)[7].hierarchy_id, 1);
    EXPECT_EQ((*r)[7].controllers, Strings{"name=systemd"});
    EXPECT_EQ((*r)[7].path, "/user.slice/user-1000.slice/user@1000.service/app.slice/run-u1:2.scope");
    EXPECT_EQ((*r)[8].hierarchy_id, 0);
    EXPECT_TRUE((*r)[8].controllers.empty());
    EXPECT_EQ((*r)[8].path, "/user.slice/user-1000.slice/user@1000.service/app.slice/run-u1:2.scope");
}

TEST(ProcCgroupTest, Variants) {
    struct Case {
        std::string_view text;
        std::vector<ProcCgroupLine> lines;
    };
    const Case cases[] = {
        {"", {}},
        {"\n\n", {}},
        {"0::/", {{0, {}, "/"}}},  // pure cgroup2, no trailing newline
        {"0::/init.scope\n", {{0, {}, "/init.scope"}}},
        {"0::/a:b:c\n", {{0, {}, "/a:b:c"}}},  // only the first two ':' separate
        {"3:cpu,cpuacct:/x\n", {{3, {"cpu", "cpuacct"}, "/x"}}},
        {"1:name=systemd:/a b\n", {{1, {"name=systemd"}, "/a b"}}},
        {"0::/\n\n1:cpu:/\n", {{0, {}, "/"}, {1, {"cpu"}, "/"}}},  // blank lines skipped
        {"0::/..\n", {{0, {}, "/.."}}},                            // outside our cgroupns: kept as printed
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(printable(c.text));
        auto r = parse_proc_cgroup(c.text);
        ASSERT_TRUE(IsOk(r));
        EXPECT_EQ(*r, c.lines);
    }
}

TEST(ProcCgroupTest, Malformed) {
    struct Case {
        std::string_view text;
        std::string_view message;
    };
    const Case cases[] = {
        {"garbage", "line 1 is malformed: 'garbage'"},
        {"1:cpu", "line 1 is malformed"},
        {":cpu:/", "line 1 is malformed"},
        {"x:cpu:/", "line 1 is malformed"},
        {"1x:cpu:/", "line 1 is malformed"},
        {"-1:cpu:/", "line 1 is malformed"},
        {"99999999999:cpu:/", "line 1 is malformed"},
        {"1:cpu:", "line 1 has no absolute path"},
        {"1:cpu:relative", "line 1 has no absolute path"},
        {"0::/\n1:cpu", "line 2 is malformed"},
        {"0::/\n\n1:cpu:x\n", "line 3 has no absolute path"},
        {"\0:\0:/"sv, "line 1 is malformed"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(printable(c.text));
        EXPECT_TRUE(IsError(parse_proc_cgroup(c.text), ErrorKind::Failed, c.message));
    }
}

// ---------------------------------------------------------------------------------------------
// /proc/<pid>/status

// `cat /proc/self/status` on the build machine (kernel 6.18), run as root.
constexpr std::string_view kStatusRoot =
    "Name:\tcat\n"
    "Umask:\t0022\n"
    "State:\tR (running)\n"
    "Tgid:\t4399\n"
    "Ngid:\t0\n"
    "Pid:\t4399\n"
    "PPid:\t4396\n"
    "TracerPid:\t0\n"
    "Uid:\t0\t0\t0\t0\n"
    "Gid:\t0\t0\t0\t0\n"
    "FDSize:\t256\n"
    "Groups:\t \n"
    "NStgid:\t4399\n"
    "NSpid:\t4399\n"
    "NSpgid:\t4396\n"
    "NSsid:\t3934\n"
    "Kthread:\t0\n"
    "VmPeak:\t    3060 kB\n"
    "VmSize:\t    3060 kB\n"
    "VmRSS:\t    1696 kB\n"
    "Threads:\t1\n"
    "SigQ:\t0/96365\n"
    "CapEff:\t000001fffeffffff\n"
    "NoNewPrivs:\t0\n"
    "Seccomp:\t0\n"
    "Cpus_allowed:\t3\n"
    "Cpus_allowed_list:\t0-1\n"
    "Mems_allowed_list:\t0\n"
    "voluntary_ctxt_switches:\t0\n"
    "nonvoluntary_ctxt_switches:\t0\n";

// A setuid-ish process of a user in a user namespace, every id different (older kernel: no Kthread).
constexpr std::string_view kStatusUser =
    "Name:\tsleep\n"
    "Umask:\t0002\n"
    "State:\tS (sleeping)\n"
    "Tgid:\t12345\n"
    "Ngid:\t0\n"
    "Pid:\t12345\n"
    "PPid:\t1200\n"
    "TracerPid:\t0\n"
    "Uid:\t100000\t100001\t100002\t100003\n"
    "Gid:\t100010\t100011\t100012\t4294967294\n"
    "FDSize:\t64\n"
    "Groups:\t4 24 27 30 46 100 118 1000 \n"
    "NStgid:\t12345\t7\n"
    "NSpid:\t12345\t7\n"
    "VmPeak:\t    5484 kB\n"
    "Threads:\t1\n";

// A kernel thread.
constexpr std::string_view kStatusKthread =
    "Name:\tkthreadd\n"
    "Umask:\t0000\n"
    "State:\tS (sleeping)\n"
    "Tgid:\t2\n"
    "Ngid:\t0\n"
    "Pid:\t2\n"
    "PPid:\t0\n"
    "TracerPid:\t0\n"
    "Uid:\t0\t0\t0\t0\n"
    "Gid:\t0\t0\t0\t0\n"
    "FDSize:\t64\n"
    "Groups:\t \n"
    "NStgid:\t2\n"
    "NSpid:\t2\n"
    "NSpgid:\t0\n"
    "NSsid:\t0\n"
    "Kthread:\t1\n"
    "Threads:\t1\n";

TEST(ProcStatusTest, Real) {
    struct Case {
        std::string_view name;
        std::string_view text;
        uid_t uid[4];
        gid_t gid[4];
        char state;
        bool kthread;
    };
    const Case cases[] = {
        {"root", kStatusRoot, {0, 0, 0, 0}, {0, 0, 0, 0}, 'R', false},
        {"user", kStatusUser, {100000, 100001, 100002, 100003}, {100010, 100011, 100012, 4294967294U}, 'S', false},
        {"kthread", kStatusKthread, {0, 0, 0, 0}, {0, 0, 0, 0}, 'S', true},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        auto r = parse_proc_status(c.text);
        ASSERT_TRUE(IsOk(r));
        for (int i = 0; i < 4; ++i) {
            EXPECT_EQ(r->uid[i], c.uid[i]) << "uid field " << i;
            EXPECT_EQ(r->gid[i], c.gid[i]) << "gid field " << i;
        }
        EXPECT_EQ(r->real_uid(), c.uid[0]);
        EXPECT_EQ(r->real_gid(), c.gid[0]);
        EXPECT_EQ(r->state, c.state);
        EXPECT_EQ(r->kthread, c.kthread);
    }
}

TEST(ProcStatusTest, Variants) {
    struct Case {
        std::string_view text;
        char state;
        bool kthread;
        uid_t ruid;
    };
    const Case cases[] = {
        {"Uid:\t1 2 3 4\nGid:\t5 6 7 8", '?', false, 1},  // no State:, no final newline
        {"State:\tZ (zombie)\nUid:\t1\t1\t1\t1\nGid:\t1\t1\t1\t1\n", 'Z', false, 1},
        {"State:\tD (disk sleep)\nUid: 7 7 7 7\nGid: 7 7 7 7\n", 'D', false, 7},
        {"State:\n\nUid:\t1\t1\t1\t1\nGid:\t1\t1\t1\t1\n", '?', false, 1},
        {"Kthread:\t1\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n", '?', true, 0},
        {"Kthread:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n", '?', false, 0},
        {"no colon here\nUid:\t2\t2\t2\t2\nGid:\t2\t2\t2\t2\n", '?', false, 2},  // lines without ':' skipped
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(printable(c.text));
        auto r = parse_proc_status(c.text);
        ASSERT_TRUE(IsOk(r));
        EXPECT_EQ(r->state, c.state);
        EXPECT_EQ(r->kthread, c.kthread);
        EXPECT_EQ(r->real_uid(), c.ruid);
    }
}

TEST(ProcStatusTest, Malformed) {
    struct Case {
        std::string_view text;
        std::string_view message;
    };
    const Case cases[] = {
        {"", "no Uid: or Gid: line"},
        {"Name:\tcat\nState:\tR (running)\n", "no Uid: or Gid: line"},
        {"Uid:\t0\t0\t0\t0\n", "no Uid: or Gid: line"},
        {"Gid:\t0\t0\t0\t0\n", "no Uid: or Gid: line"},
        {"Uid:\t0\t0\t0\nGid:\t0\t0\t0\t0\n", "status line 'Uid:\t0\t0\t0' is malformed"},
        {"Uid:\t0\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n", "is malformed"},
        {"Uid:\t0\t0\t0\t0\nGid:\ta\t0\t0\t0\n", "is malformed"},
        {"Uid:\t-1\t0\t0\t0\nGid:\t0\t0\t0\t0\n", "is malformed"},
        {"Uid:\t4294967296\t0\t0\t0\nGid:\t0\t0\t0\t0\n", "is malformed"},
        {"Uid:\t1x\t0\t0\t0\nGid:\t0\t0\t0\t0\n", "is malformed"},
        {"Uid:\nGid:\t0\t0\t0\t0\n", "is malformed"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(printable(c.text));
        EXPECT_TRUE(IsError(parse_proc_status(c.text), ErrorKind::Failed, c.message));
    }
}

TEST(ProcStatusTest, TgidNamesTheProcessOfAThread) {
    auto r = parse_proc_status("Tgid:\t76\nPid:\t77\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n");
    ASSERT_TRUE(IsOk(r));
    EXPECT_EQ(r->tgid, 76);
    EXPECT_TRUE(IsError(parse_proc_status("Tgid:\tx\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\n"), ErrorKind::Failed,
                        "is malformed"));
}

// ---------------------------------------------------------------------------------------------
// /proc/<pid>/stat: the start time

TEST(ProcStatTest, StartTimeIsField22WhateverTheName) {
    // Field 22 (start time) is 98765 in each; the command names hold spaces and parentheses.
    const char* tail = " S 1 2 3 0 -1 4194560 100 0 0 0 5 6 0 0 20 0 1 0 98765 1000 200 18446744073709551615\n";
    for (std::string name : {"(cat)", "(a b)", "(x) S 1 2)", "((()"}) {
        SCOPED_TRACE(name);
        auto r = parse_proc_stat_start_time("42 " + name + tail);
        ASSERT_TRUE(IsOk(r));
        EXPECT_EQ(*r, 98765u);
    }
    EXPECT_TRUE(IsError(parse_proc_stat_start_time("42 cat S 1"), ErrorKind::Failed, "no command name"));
    EXPECT_TRUE(IsError(parse_proc_stat_start_time("42 (cat) S 1 2 3"), ErrorKind::Failed, "no start time"));
    EXPECT_TRUE(IsError(parse_proc_stat_start_time(std::string("42 (cat)") + " S 1 2 3 0 -1 4 1 0 0 0 5 6 0 0 20 0 1 0 "
                                                                             "x9 1"),
                        ErrorKind::Failed, "no start time"));
}

// ---------------------------------------------------------------------------------------------
// /proc/<pid>/mountinfo

// From the build machine: a tmpfs at /sys/fs/cgroup with one v1 hierarchy per controller,
// name=systemd, and cgroup2 at /sys/fs/cgroup/unified.
constexpr std::string_view kMountinfoHybrid =
    "22 27 0:21 / /proc rw,relatime - proc proc rw\n"
    "23 27 0:22 / /sys rw,relatime - sysfs sysfs rw\n"
    "24 27 0:6 / /dev rw,relatime - devtmpfs devtmpfs rw,size=12334492k,nr_inodes=3083623,mode=755\n"
    "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard,resv_strict,resuid=65534,resgid=65534\n"
    "31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755\n"
    "32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n"
    "40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd\n"
    "41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n";

// Ubuntu 18.04 style: optional fields, co-mounted controllers, a mount point with escaped spaces.
constexpr std::string_view kMountinfoSystemd =
    "25 24 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755\n"
    "26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 "
    "rw,nsdelegate\n"
    "27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup "
    "rw,xattr,name=systemd\n"
    "30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup "
    "rw,cpu,cpuacct\n"
    "120 30 0:27 /lxc/c1 /var/lib/lxc/c\\0401/rootfs/sys/fs/cgroup rw,relatime shared:5 master:1 - cgroup "
    "cgroup rw,cpu,cpuacct\n"
    "121 24 0:50 / /mnt/tab\\011and\\012newline\\134back rw,relatime master:7 unbindable - tmpfs my\\040tmp "
    "rw\n";

TEST(MountinfoTest, Hybrid) {
    auto r = parse_mountinfo(kMountinfoHybrid);
    ASSERT_TRUE(IsOk(r));
    ASSERT_EQ(r->size(), 8u);
    const MountInfo& root = (*r)[3];
    EXPECT_EQ(root.mount_id, 27);
    EXPECT_EQ(root.parent_id, 1);
    EXPECT_EQ(root.root, "/");
    EXPECT_EQ(root.mount_point, "/");
    EXPECT_EQ(root.mount_options, "rw,relatime");
    EXPECT_EQ(root.fstype, "ext4");
    EXPECT_EQ(root.source, "/dev/vda");
    EXPECT_EQ(root.super_options, "rw,discard,resv_strict,resuid=65534,resgid=65534");

    struct Expect {
        size_t index;
        int id, parent;
        std::string_view mount_point, fstype, source, super_options;
    };
    const Expect expected[] = {
        {0, 22, 27, "/proc", "proc", "proc", "rw"},
        {4, 31, 23, "/sys/fs/cgroup", "tmpfs", "tmpfs", "rw,mode=755"},
        {5, 32, 31, "/sys/fs/cgroup/cpu", "cgroup", "cgroup", "rw,cpu"},
        {6, 40, 31, "/sys/fs/cgroup/systemd", "cgroup", "cgroup", "rw,name=systemd"},
        {7, 41, 31, "/sys/fs/cgroup/unified", "cgroup2", "cgroup2", "rw"},
    };
    for (const auto& e : expected) {
        SCOPED_TRACE(e.mount_point);
        const MountInfo& m = (*r)[e.index];
        EXPECT_EQ(m.mount_id, e.id);
        EXPECT_EQ(m.parent_id, e.parent);
        EXPECT_EQ(m.root, "/");
        EXPECT_EQ(m.mount_point, e.mount_point);
        EXPECT_EQ(m.mount_options, "rw,relatime");
        EXPECT_EQ(m.fstype, e.fstype);
        EXPECT_EQ(m.source, e.source);
        EXPECT_EQ(m.super_options, e.super_options);
    }
}

TEST(MountinfoTest, OptionalFieldsAndEscapes) {
    auto r = parse_mountinfo(kMountinfoSystemd);
    ASSERT_TRUE(IsOk(r));
    ASSERT_EQ(r->size(), 6u);
    EXPECT_EQ((*r)[0].fstype, "tmpfs");
    EXPECT_EQ((*r)[0].mount_options, "ro,nosuid,nodev,noexec");
    EXPECT_EQ((*r)[1].fstype, "cgroup2");
    EXPECT_EQ((*r)[1].super_options, "rw,nsdelegate");
    EXPECT_EQ((*r)[2].super_options, "rw,xattr,name=systemd");
    EXPECT_EQ((*r)[3].mount_point, "/sys/fs/cgroup/cpu,cpuacct");
    EXPECT_EQ((*r)[3].super_options, "rw,cpu,cpuacct");

    const MountInfo& lxc = (*r)[4];  // "shared:5 master:1"
    EXPECT_EQ(lxc.mount_id, 120);
    EXPECT_EQ(lxc.parent_id, 30);
    EXPECT_EQ(lxc.root, "/lxc/c1");
    EXPECT_EQ(lxc.mount_point, "/var/lib/lxc/c 1/rootfs/sys/fs/cgroup");
    EXPECT_EQ(lxc.mount_options, "rw,relatime");
    EXPECT_EQ(lxc.fstype, "cgroup");
    EXPECT_EQ(lxc.source, "cgroup");
    EXPECT_EQ(lxc.super_options, "rw,cpu,cpuacct");

    const MountInfo& esc = (*r)[5];  // "master:7 unbindable", \011 \012 \134 \040
    EXPECT_EQ(esc.mount_point, "/mnt/tab\tand\nnewline\\back");
    EXPECT_EQ(esc.fstype, "tmpfs");
    EXPECT_EQ(esc.source, "my tmp");
    EXPECT_EQ(esc.super_options, "rw");
}

TEST(MountinfoTest, EscapeEdges) {
    struct Case {
        std::string_view mount_point_field;
        std::string_view decoded;
    };
    const Case cases[] = {
        {"/a\\040", "/a "},                                                        // escape at the very end
        {"\\040", " "},         {"/a\\040\\040b", "/a  b"}, {"/a\\04", "/a\\04"},  // too short: kept as is
        {"/a\\", "/a\\"},       {"/a\\400", "/a\\400"},                            // not an octal byte: kept as is
        {"/a\\089", "/a\\089"}, {"/a\\x20", "/a\\x20"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.mount_point_field);
        std::string line = fmt::format("1 0 0:1 / {} rw - tmpfs tmpfs rw\n", c.mount_point_field);
        auto r = parse_mountinfo(line);
        ASSERT_TRUE(IsOk(r));
        ASSERT_EQ(r->size(), 1u);
        EXPECT_EQ((*r)[0].mount_point, c.decoded);
    }
}

TEST(MountinfoTest, Malformed) {
    const std::string_view cases[] = {
        "garbage",
        "1 0 0:1 / /mnt rw tmpfs tmpfs rw",                  // no separator
        "1 0 0:1 / /mnt rw -",                               // nothing after the separator
        "1 0 0:1 / /mnt rw - tmpfs",                         // no source
        "x 0 0:1 / /mnt rw - tmpfs tmpfs rw",                // mount id not a number
        "1 y 0:1 / /mnt rw - tmpfs tmpfs rw",                // parent id not a number
        "1 0 0:1 / /mnt - tmpfs tmpfs rw",                   // no mount options: '-' too early
        "22 27 0:21 / /proc rw,relatime - proc proc rw\n1",  // a good line, then a bad one
        "\0\0\0\0\0\0\0\0\0\0"sv,
    };
    for (auto text : cases) {
        SCOPED_TRACE(printable(text));
        EXPECT_TRUE(IsError(parse_mountinfo(text), ErrorKind::Failed, "mountinfo line"));
    }
    EXPECT_TRUE(IsError(parse_mountinfo("22 27 0:21 / /proc rw,relatime - proc proc rw\nbad\n"), ErrorKind::Failed,
                        "mountinfo line 2 is malformed"));
    auto empty = parse_mountinfo("");
    ASSERT_TRUE(IsOk(empty));
    EXPECT_TRUE(empty->empty());
}

// ---------------------------------------------------------------------------------------------
// /proc/cgroups

// From the build machine (tab separated, with the '#' header).
constexpr std::string_view kProcCgroups =
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

TEST(ProcCgroupsTest, Real) {
    auto r = parse_proc_cgroups(kProcCgroups);
    ASSERT_TRUE(IsOk(r));
    const std::vector<SubsysInfo> expected = {
        {"cpuset", 3, 1, true},     {"cpu", 1, 1, true},      {"cpuacct", 2, 1, true}, {"blkio", 7, 1, true},
        {"memory", 4, 23, true},    {"devices", 5, 1, true},  {"freezer", 6, 1, true}, {"net_cls", 0, 1, true},
        {"perf_event", 0, 1, true}, {"net_prio", 0, 1, true}, {"hugetlb", 0, 1, true}, {"pids", 8, 1, true},
    };
    EXPECT_EQ(*r, expected);
}

TEST(ProcCgroupsTest, Variants) {
    struct Case {
        std::string_view text;
        std::vector<SubsysInfo> subsystems;
    };
    const Case cases[] = {
        {"", {}},
        {"#subsys_name\thierarchy\tnum_cgroups\tenabled\n", {}},
        {"memory 0 120 0", {{"memory", 0, 120, false}}},  // disabled (cgroup_disable=memory)
        {"cpu  1   4\t1\n\nio 0 1 1\n", {{"cpu", 1, 4, true}, {"io", 0, 1, true}}},
        {"# a comment\nrdma\t0\t1\t1\n", {{"rdma", 0, 1, true}}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(printable(c.text));
        auto r = parse_proc_cgroups(c.text);
        ASSERT_TRUE(IsOk(r));
        EXPECT_EQ(*r, c.subsystems);
    }
}

TEST(ProcCgroupsTest, Malformed) {
    struct Case {
        std::string_view text;
        std::string_view message;
    };
    const Case cases[] = {
        {"cpu 1 1", "line 1 is malformed"},
        {"cpu 1 1 1 1", "line 1 is malformed"},
        {"cpu x 1 1", "line 1 is malformed"},
        {"cpu 1 x 1", "line 1 is malformed"},
        {"cpu 1 1 yes", "line 1 is malformed"},
        {"#header\ncpu\t1\t1\t1\nmemory\t4\n", "line 3 is malformed"},
        {"\0"sv, "line 1 is malformed"},
        {"cpu\t1\t1\t1\nmemory\t4\t1\t1\ncpu\t2\t1\t1\n", "line 3 names cpu again"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(printable(c.text));
        EXPECT_TRUE(IsError(parse_proc_cgroups(c.text), ErrorKind::Failed, c.message));
    }
}

// ---------------------------------------------------------------------------------------------
// split

TEST(SplitTest, KeepsEmptyFields) {
    struct Case {
        std::string_view text;
        Strings fields;
    };
    const Case cases[] = {
        {"", {""}},        {"a", {"a"}},      {"a,b", {"a", "b"}},
        {"a,", {"a", ""}}, {",a", {"", "a"}}, {"a,,b", {"a", "", "b"}},
        {",", {"", ""}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(printable(c.text));
        EXPECT_EQ(split(c.text, ','), c.fields);
    }
}

}  // namespace
}  // namespace cgm
