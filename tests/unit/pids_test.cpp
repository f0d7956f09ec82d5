// SPDX-License-Identifier: Apache-2.0
//
// cgfs::parse_pids: the text of a tasks / cgroup.procs file.
#include "core/cgroupfs.h"

#include <gtest/gtest.h>

#include <string_view>
#include <vector>

#include "unit_test_util.h"

namespace cgm {
namespace {

using namespace std::string_view_literals;
using test::IsError;
using test::IsOk;
using test::printable;

TEST(ParsePidsTest, Valid) {
    struct Case {
        std::string_view text;
        std::vector<pid_t> pids;
    };
    const Case cases[] = {
        {"", {}},
        {"\n", {}},
        {"1\n", {1}},
        {"1", {1}},  // no trailing newline
        {"1\n2\n3\n", {1, 2, 3}},
        {"1\n2\n3", {1, 2, 3}},
        {"4399\n\n4396\n\n", {4399, 4396}},  // blank lines skipped
        {"0\n", {0}},
        {"2147483647\n", {2147483647}},
        {"30\n10\n20\n", {30, 10, 20}},  // file order kept
        {"7\n7\n", {7, 7}},              // duplicates (threads of a tasks file) kept
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(printable(c.text));
        auto r = cgfs::parse_pids(c.text);
        ASSERT_TRUE(IsOk(r));
        EXPECT_EQ(*r, c.pids);
    }
}

TEST(ParsePidsTest, Malformed) {
    struct Case {
        std::string_view text;
        std::string_view message;
    };
    const Case cases[] = {
        {"abc", "malformed pid 'abc'"},
        {"1\nabc\n", "malformed pid 'abc'"},
        {"12a\n", "malformed pid '12a'"},
        {"1 2\n", "malformed pid '1 2'"},
        {" 1\n", "malformed pid"},
        {"1 \n", "malformed pid"},
        {"1\r\n", "malformed pid"},
        {"-1\n", "malformed pid '-1'"},
        {"+1\n", "malformed pid"},
        {"2147483648\n", "malformed pid '2147483648'"},  // does not fit in pid_t
        {"99999999999999999999\n", "malformed pid"},
        {"0x10\n", "malformed pid"},
        {"1\0"sv, "malformed pid"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(printable(c.text));
        EXPECT_TRUE(IsError(cgfs::parse_pids(c.text), ErrorKind::Failed, c.message));
    }
}

}  // namespace
}  // namespace cgm
