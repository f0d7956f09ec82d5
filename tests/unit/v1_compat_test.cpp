// SPDX-License-Identifier: Apache-2.0
//
// core/v1_compat.h: which v1 keys the unified hierarchy serves from which v2 file, the value
// conversions, and the refusal of v1 keys that have no v2 equivalent. The files a conversion reads
// are given as literals.
#include <map>
#include <string>

#include <gtest/gtest.h>

#include "core/v1_compat.h"
#include "unit_test_util.h"

namespace cgm::v1compat {
namespace {

using test::IsError;
using test::IsOk;

// A cgroup's files as literals; reading a missing one fails like the kernel's ENOENT.
struct Files {
    std::map<std::string, std::string, std::less<>> content;
    ReadFile reader() const {
        return [this](std::string_view f) -> Result<std::string> {
            auto it = content.find(f);
            if (it == content.end())
                return Error(ErrorKind::NotFound, fmt::format("{} does not exist", f));
            return it->second;
        };
    }
};

KeyMap mapped(std::string_view key) {
    auto m = map_key(key);
    EXPECT_TRUE(IsOk(m)) << key;
    EXPECT_TRUE(m && m->has_value()) << key << " is not mapped";
    return m && m->has_value() ? **m : KeyMap{};
}

Result<std::string> get(std::string_view key, const Files& f) {
    auto m = mapped(key);
    if (!m.get)
        return Error(ErrorKind::Failed, "no get");
    return m.get(m, f.reader());
}

Result<std::string> set(std::string_view key, std::string_view value, const Files& f = {}) {
    auto m = mapped(key);
    if (!m.set)
        return Error(ErrorKind::Failed, "no set");
    return m.set(m, value, f.reader());
}

TEST(V1Compat, KeysAndTheirFiles) {
    struct Case {
        const char* v1;
        const char* file;
        bool writable;
    } cases[] = {
        {"memory.limit_in_bytes", "memory.max", true},
        {"memory.soft_limit_in_bytes", "memory.low", true},
        {"memory.usage_in_bytes", "memory.current", false},
        {"memory.max_usage_in_bytes", "memory.peak", false},
        {"cpu.shares", "cpu.weight", true},
        {"cpu.cfs_quota_us", "cpu.max", true},
        {"cpu.cfs_period_us", "cpu.max", true},
        {"blkio.weight", "io.weight", true},
        {"freezer.state", "cgroup.freeze", true},
        {"cpuacct.usage", "cpu.stat", false},
        {"cpuacct.stat", "cpu.stat", false},
        {"hugetlb.2MB.limit_in_bytes", "hugetlb.2MB.max", true},
        {"hugetlb.1GB.usage_in_bytes", "hugetlb.1GB.current", false},
        {"hugetlb.2MB.rsvd.limit_in_bytes", "hugetlb.2MB.rsvd.max", true},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.v1);
        auto m = mapped(c.v1);
        EXPECT_EQ(m.key, c.v1);
        EXPECT_EQ(m.file, c.file);
        EXPECT_EQ(m.chmod_file, c.file);
        EXPECT_NE(m.get, nullptr);
        EXPECT_EQ(m.set != nullptr, c.writable);
        EXPECT_FALSE(m.threads);
    }
    auto tasks = mapped("tasks");
    EXPECT_TRUE(tasks.threads);
    EXPECT_EQ(tasks.file, "cgroup.threads");      // what GetValue reads (and checks access on)
    EXPECT_EQ(tasks.chmod_file, "cgroup.procs");  // what Chmod changes: the file that authorizes a move
}

TEST(V1Compat, V2AndSharedKeysAreServedAsTheyAre) {
    for (const char* key : {"memory.max", "memory.stat", "cpu.weight", "cpu.stat", "cpuset.cpus", "cpuset.mems",
                            "pids.max", "pids.current", "io.weight", "cgroup.procs", "cgroup.freeze", "hugetlb.2MB.max",
                            "hugetlb.2MB.events", "memory.numa_stat", "cgroup.kill"}) {
        SCOPED_TRACE(key);
        auto m = map_key(key);
        ASSERT_TRUE(IsOk(m));
        EXPECT_FALSE(m->has_value());
    }
}

TEST(V1Compat, KeysWithoutAV2EquivalentAreNotSupportedWithTheReason) {
    struct Case {
        const char* key;
        const char* why;
    } cases[] = {
        {"devices.allow", "eBPF program"},
        {"devices.list", "eBPF program"},
        {"net_cls.classid", "no net_cls controller"},
        {"net_prio.ifpriomap", "no net_prio controller"},
        {"memory.memsw.limit_in_bytes", "memory.swap.max"},
        {"memory.kmem.limit_in_bytes", "kernel memory"},
        {"memory.oom_control", "memory.events"},
        {"memory.failcnt", "memory.events"},
        {"memory.swappiness", "swappiness"},
        {"memory.use_hierarchy", "always hierarchical"},
        {"freezer.self_freezing", "only freezer.state"},
        {"cpuacct.usage_percpu", "totals in cpu.stat"},
        {"blkio.throttle.read_bps_device", "io.max"},
        {"cpu.rt_runtime_us", "realtime"},
        {"notify_on_release", "RemoveOnEmpty"},
        {"cgroup.clone_children", "effective cpus"},
        {"hugetlb.2MB.failcnt", "hugetlb.<size>.events"},
        {"hugetlb.2MB.max_usage_in_bytes", "no peak"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.key);
        auto m = map_key(c.key);
        EXPECT_TRUE(IsError(m, ErrorKind::NotSupported, fmt::format("key '{}' has no cgroup v2 equivalent", c.key)));
        EXPECT_TRUE(IsError(m, ErrorKind::NotSupported, c.why));
    }
}

TEST(V1Compat, ControllerAliases) {
    EXPECT_EQ(controller_alias("cpuacct")->v2, "cpu");
    EXPECT_EQ(controller_alias("blkio")->v2, "io");
    for (const char* core : {"freezer", "devices", "net_cls", "net_prio", "perf_event", "name=systemd", "systemd"}) {
        SCOPED_TRACE(core);
        ASSERT_NE(controller_alias(core), nullptr);
        EXPECT_EQ(controller_alias(core)->v2, "");
    }
    for (const char* none : {"memory", "cpu", "pids", "io", "unified", "name=lxc", "", "all"})
        EXPECT_EQ(controller_alias(none), nullptr) << none;
}

TEST(V1Compat, MemoryLimits) {
    EXPECT_EQ(v1_unlimited(4096), "9223372036854771712");  // what a v1 kernel shows with 4 KiB pages
    EXPECT_EQ(v1_unlimited(65536), "9223372036854710272");
    EXPECT_EQ(limit_to_v1("max\n", 4096), "9223372036854771712");
    EXPECT_EQ(limit_to_v1("268435456\n", 4096), "268435456");
    EXPECT_EQ(*limit_to_v2("-1"), "max");
    EXPECT_EQ(*limit_to_v2("-1\n"), "max");
    EXPECT_EQ(*limit_to_v2("268435456"), "268435456");
    EXPECT_EQ(*limit_to_v2("256M"), "256M");
    EXPECT_TRUE(IsError(limit_to_v2(""), ErrorKind::InvalidArgs, "empty limit"));

    Files f{{{"memory.max", "max\n"}, {"memory.low", "0\n"}, {"memory.current", "4096\n"}}};
    auto unlimited = get("memory.limit_in_bytes", f);
    ASSERT_TRUE(IsOk(unlimited));
    EXPECT_EQ(std::stoull(*unlimited) % 4096, 0u);
    // v1's "no soft limit" is v2's "no protection" (0), both ways.
    EXPECT_EQ(*get("memory.soft_limit_in_bytes", f), "9223372036854771712");
    EXPECT_EQ(*set("memory.soft_limit_in_bytes", "-1"), "0");
    EXPECT_EQ(*set("memory.soft_limit_in_bytes", "64M"), "64M");
    Files low{{{"memory.low", "67108864\n"}}};
    EXPECT_EQ(*get("memory.soft_limit_in_bytes", low), "67108864");
    // hugetlb: no limit in whole huge pages, as v1 shows it.
    EXPECT_EQ(huge_page_bytes("2MB"), 2097152u);
    EXPECT_EQ(huge_page_bytes("1GB"), 1073741824u);
    EXPECT_EQ(huge_page_bytes("64KB"), 65536u);
    EXPECT_EQ(huge_page_bytes("2XB"), 0u);
    EXPECT_EQ(v1_unlimited(4096, 2097152), "9223372036852678656");
    EXPECT_EQ(v1_unlimited(4096, 0), "9223372036854771712");
    Files huge{{{"hugetlb.2MB.max", "max\n"}}};
    EXPECT_EQ(*get("hugetlb.2MB.limit_in_bytes", huge), "9223372036852678656");
    EXPECT_EQ(*get("memory.usage_in_bytes", f), "4096");
    EXPECT_EQ(*set("memory.limit_in_bytes", "-1"), "max");
    EXPECT_EQ(*set("memory.limit_in_bytes", "1073741824"), "1073741824");
}

TEST(V1Compat, CpuSharesAndWeight) {
    // The three fixed points: minimum, default and maximum map onto each other.
    EXPECT_EQ(shares_to_weight(2), 1u);
    EXPECT_EQ(shares_to_weight(1024), 100u);
    EXPECT_EQ(shares_to_weight(262144), 10000u);
    EXPECT_EQ(weight_to_shares(1), 2u);
    EXPECT_EQ(weight_to_shares(100), 1024u);
    EXPECT_EQ(weight_to_shares(10000), 262144u);
    // Clamped as the kernel clamps v1 shares.
    EXPECT_EQ(shares_to_weight(0), 1u);
    EXPECT_EQ(shares_to_weight(1u << 30), 10000u);
    // Monotonic both ways, and a weight survives the trip through shares.
    uint64_t last = 0;
    for (uint64_t s = 2; s <= 262144; s += 37) {
        uint64_t w = shares_to_weight(s);
        EXPECT_GE(w, last) << s;
        last = w;
    }
    for (uint64_t w = 1; w <= 10000; ++w)
        EXPECT_EQ(shares_to_weight(weight_to_shares(w)), w) << w;

    Files f{{{"cpu.weight", "100\n"}}};
    EXPECT_EQ(*get("cpu.shares", f), "1024");
    EXPECT_EQ(*set("cpu.shares", "512"), std::to_string(shares_to_weight(512)));
    EXPECT_TRUE(IsError(set("cpu.shares", "lots"), ErrorKind::InvalidArgs, "invalid value 'lots' for cpu.shares"));
    EXPECT_TRUE(IsError(set("cpu.shares", "-5"), ErrorKind::InvalidArgs, "not a non-negative integer"));
}

TEST(V1Compat, CfsQuotaAndPeriod) {
    Files unlimited{{{"cpu.max", "max 100000\n"}}};
    Files half{{{"cpu.max", "50000 100000\n"}}};
    EXPECT_EQ(*get("cpu.cfs_quota_us", unlimited), "-1");
    EXPECT_EQ(*get("cpu.cfs_quota_us", half), "50000");
    EXPECT_EQ(*get("cpu.cfs_period_us", half), "100000");
    // The quota is written alone (the kernel keeps the period); the period with the quota read.
    EXPECT_EQ(*set("cpu.cfs_quota_us", "25000", half), "25000");
    EXPECT_EQ(*set("cpu.cfs_quota_us", "-1", half), "max");
    EXPECT_EQ(*set("cpu.cfs_quota_us", "-2", half), "max");  // v1: any negative quota is no limit
    EXPECT_EQ(*set("cpu.cfs_period_us", "200000", half), "50000 200000");
    EXPECT_EQ(*set("cpu.cfs_period_us", "200000", unlimited), "max 200000");
    EXPECT_TRUE(IsError(set("cpu.cfs_quota_us", "lots", half), ErrorKind::InvalidArgs, "not -1 (no limit)"));
    EXPECT_TRUE(IsError(set("cpu.cfs_period_us", "x", half), ErrorKind::InvalidArgs, "cpu.cfs_period_us"));
    Files garbage{{{"cpu.max", "what\n"}}};
    EXPECT_TRUE(IsError(get("cpu.cfs_quota_us", garbage), ErrorKind::Failed, "unexpected content of cpu.max"));
    EXPECT_TRUE(IsError(get("cpu.cfs_quota_us", Files{}), ErrorKind::NotFound, "cpu.max does not exist"));
}

TEST(V1Compat, BlkioWeight) {
    EXPECT_EQ(blkio_to_io_weight(10), 1u);
    EXPECT_EQ(blkio_to_io_weight(1000), 10000u);
    EXPECT_EQ(blkio_to_io_weight(500), 4950u);
    for (uint64_t w = 10; w <= 1000; ++w)
        EXPECT_EQ(io_to_blkio_weight(blkio_to_io_weight(w)), w) << w;
    Files f{{{"io.weight", "default 4950\n8:0 200\n"}}};
    EXPECT_EQ(*get("blkio.weight", f), "500");
    EXPECT_EQ(*set("blkio.weight", "1000"), "default 10000");
    EXPECT_TRUE(IsError(set("blkio.weight", "5"), ErrorKind::InvalidArgs, "between 10 and 1000"));
    EXPECT_TRUE(IsError(set("blkio.weight", "1001"), ErrorKind::InvalidArgs, "between 10 and 1000"));
    Files garbage{{{"io.weight", "8:0 200\n"}}};
    EXPECT_TRUE(IsError(get("blkio.weight", garbage), ErrorKind::Failed, "unexpected content of io.weight"));
}

TEST(V1Compat, FreezerState) {
    auto files = [](const char* freeze, const char* frozen) {
        return Files{{{"cgroup.freeze", std::string(freeze) + "\n"},
                      {"cgroup.events", fmt::format("populated 1\nfrozen {}\n", frozen)}}};
    };
    EXPECT_EQ(*get("freezer.state", files("0", "0")), "THAWED");
    EXPECT_EQ(*get("freezer.state", files("1", "0")), "FREEZING");
    EXPECT_EQ(*get("freezer.state", files("1", "1")), "FROZEN");
    EXPECT_EQ(*get("freezer.state", files("0", "1")), "FROZEN");  // frozen by an ancestor
    EXPECT_EQ(*set("freezer.state", "FROZEN"), "1");
    EXPECT_EQ(*set("freezer.state", "THAWED\n"), "0");
    EXPECT_TRUE(IsError(set("freezer.state", "FREEZING"), ErrorKind::InvalidArgs, "takes FROZEN or THAWED"));
    EXPECT_TRUE(IsError(set("freezer.state", "frozen"), ErrorKind::InvalidArgs, "takes FROZEN or THAWED"));
}

TEST(V1Compat, CpuacctFromCpuStat) {
    const std::string stat = "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 0\n";
    Files f{{{"cpu.stat", stat}}};
    EXPECT_EQ(*get("cpuacct.usage", f), "2500000000");
    EXPECT_EQ(*cpuacct_stat(stat, 100), "user 200\nsystem 50");
    EXPECT_EQ(*cpuacct_stat("usage_usec 1\nuser_usec 19999\nsystem_usec 0\n", 100), "user 1\nsystem 0");
    EXPECT_TRUE(IsError(cpuacct_stat("usage_usec 1\n", 100), ErrorKind::Failed, "unexpected content of cpu.stat"));
}

}  // namespace
}  // namespace cgm::v1compat
