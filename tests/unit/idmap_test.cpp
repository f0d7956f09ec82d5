// SPDX-License-Identifier: Apache-2.0
//
// IdMap: parsing of uid_map/gid_map text (with the wrap-around guard) and id translation.
#include "core/idmap.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "unit_test_util.h"

namespace cgm {
namespace {

using test::IsError;
using test::IsOk;
using test::printable;

constexpr uint32_t kMax = 0xffffffffU;

IdMap M(std::string_view text) {
    auto r = IdMap::parse(text);
    EXPECT_TRUE(IsOk(r)) << printable(text);
    return r ? *r : IdMap();
}

TEST(IdMapTest, ParseValid) {
    struct Case {
        std::string_view text;
        std::vector<IdRange> ranges;
    };
    const Case cases[] = {
        {"", {}},
        {"\n", {}},
        {"0 0 4294967295", {{0, 0, kMax}}},
        {"0 0 4294967295\n", {{0, 0, kMax}}},
        // The kernel's own formatting of /proc/self/uid_map (%10u %10u %10u).
        {"         0          0 4294967295\n", {{0, 0, kMax}}},
        {"         0     100000      65536\n", {{0, 100000, 65536}}},
        {"0 100000 65536", {{0, 100000, 65536}}},
        {"0\t100000\t65536", {{0, 100000, 65536}}},
        {" \t0  100000 \t 65536 \t\n", {{0, 100000, 65536}}},
        {"0 1000 1\n1 100000 65535\n", {{0, 1000, 1}, {1, 100000, 65535}}},
        {"\n0 1000 1\n\n   \n1 100000 65535\n\t\n", {{0, 1000, 1}, {1, 100000, 65535}}},
        // Ranges that end exactly at 2^32 do not wrap.
        {"1 0 4294967295", {{1, 0, kMax}}},
        {"4294967295 0 1", {{kMax, 0, 1}}},
        {"0 4294967295 1", {{0, kMax, 1}}},
        {"4294967294 4294967294 2", {{kMax - 1, kMax - 1, 2}}},
        // Ranges that touch do not overlap.
        {"0 1000 10\n10 1010 5", {{0, 1000, 10}, {10, 1010, 5}}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(printable(c.text));
        auto r = IdMap::parse(c.text);
        ASSERT_TRUE(IsOk(r));
        EXPECT_EQ(r->ranges(), c.ranges);
    }
    EXPECT_EQ(M("0 0 4294967295"), IdMap::identity());
}

TEST(IdMapTest, ParseInvalid) {
    struct Case {
        std::string_view text;
        std::string_view message;
    };
    const Case cases[] = {
        {"0 0", "line 1 is malformed"},
        {"0", "line 1 is malformed"},
        {"x 0 1", "line 1 is malformed"},
        {"0 0 1 2", "line 1 is malformed"},
        {"0 0 1x", "line 1 is malformed"},
        {"0x0 0 1", "line 1 is malformed"},
        {"-1 0 1", "line 1 is malformed"},
        {"+1 0 1", "line 1 is malformed"},
        {"0 0 4294967296", "line 1 is malformed"},  // count does not fit in 32 bits
        {"4294967296 0 1", "line 1 is malformed"},
        {"0 0 1\n1 1 x\n", "line 2 is malformed: '1 1 x'"},
        {"0 1000 0", "line 1 has an empty range"},
        {"0 1000 1\n1 2000 0", "line 2 has an empty range"},
        {"2 0 4294967295", "line 1 wraps around the id space"},
        {"0 2 4294967295", "line 1 wraps around the id space"},
        {"4294967295 0 2", "line 1 wraps around the id space"},
        {"0 4294967295 2", "line 1 wraps around the id space"},
        {"4294967200 0 100000", "line 1 wraps around the id space"},
        {"0 1000 10\n5 2000 10", "line 2 overlaps an earlier range"},   // ns side
        {"0 1000 10\n100 1009 1", "line 2 overlaps an earlier range"},  // host side
        {"10 1000 10\n0 0 11", "line 2 overlaps an earlier range"},     // the earlier one inside
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(printable(c.text));
        EXPECT_TRUE(IsError(IdMap::parse(c.text), ErrorKind::Failed, c.message));
    }
}

TEST(IdMapTest, TooManyRanges) {
    std::string text;
    for (uint32_t i = 0; i < 340; ++i)
        text += fmt::format("{} {} 1\n", i, 1000 + i);
    auto r = IdMap::parse(text);
    ASSERT_TRUE(IsOk(r));
    EXPECT_EQ(r->ranges().size(), 340u);
    text += "340 1340 1\n";
    EXPECT_TRUE(IsError(IdMap::parse(text), ErrorKind::Failed, "more than 340 ranges"));
}

TEST(IdMapTest, Translation) {
    const IdMap identity = IdMap::identity();
    const IdMap userns = M("0 100000 65536");
    const IdMap multi = M("0 1000 1\n1 100000 65535\n");
    const IdMap top = M("4294967294 0 1");  // ns id just below (uid_t)-1
    struct Case {
        const IdMap* map;
        uint32_t host;
        std::optional<uint32_t> ns;  // to_ns(host)
    };
    const Case to_ns_cases[] = {
        {&identity, 0, 0},
        {&identity, 1000, 1000},
        {&identity, kMax - 1, kMax - 1},
        {&identity, kMax, std::nullopt},  // (uid_t)-1 is never mapped
        {&userns, 99999, std::nullopt},   // one below the first
        {&userns, 100000, 0},             // first
        {&userns, 100005, 5},
        {&userns, 165535, 65535},         // last
        {&userns, 165536, std::nullopt},  // one past the last
        {&userns, 0, std::nullopt},
        {&userns, 1000, std::nullopt},
        {&multi, 1000, 0},
        {&multi, 1001, std::nullopt},
        {&multi, 999, std::nullopt},
        {&multi, 100000, 1},
        {&multi, 165534, 65535},
        {&multi, 165535, std::nullopt},
        {&top, 0, kMax - 1},
        {&top, 1, std::nullopt},
    };
    for (size_t i = 0; i < std::size(to_ns_cases); ++i) {
        const auto& c = to_ns_cases[i];
        SCOPED_TRACE(fmt::format("to_ns case {}: host {}", i, c.host));
        EXPECT_EQ(c.map->to_ns(c.host), c.ns);
        EXPECT_EQ(c.map->maps_host(c.host), c.ns.has_value());
        if (c.ns) {
            EXPECT_EQ(c.map->to_host(*c.ns), c.host);  // the two directions agree
        }
    }
    struct BackCase {
        const IdMap* map;
        uint32_t ns;
        std::optional<uint32_t> host;  // to_host(ns)
    };
    const BackCase to_host_cases[] = {
        {&identity, 0, 0},        {&identity, kMax, std::nullopt}, {&userns, 0, 100000},
        {&userns, 65535, 165535}, {&userns, 65536, std::nullopt},  {&multi, 0, 1000},
        {&multi, 1, 100000},      {&multi, 65535, 165534},         {&multi, 65536, std::nullopt},
        {&top, kMax - 1, 0},      {&top, kMax, std::nullopt},      {&top, 0, std::nullopt},
    };
    for (size_t i = 0; i < std::size(to_host_cases); ++i) {
        const auto& c = to_host_cases[i];
        SCOPED_TRACE(fmt::format("to_host case {}: ns {}", i, c.ns));
        EXPECT_EQ(c.map->to_host(c.ns), c.host);
    }
    // An empty map (a userns with no map written yet) maps nothing.
    EXPECT_EQ(IdMap().to_ns(0), std::nullopt);
    EXPECT_EQ(IdMap().to_host(0), std::nullopt);
}

}  // namespace
}  // namespace cgm
