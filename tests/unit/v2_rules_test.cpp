// SPDX-License-Identifier: Apache-2.0
//
// with_v2_rule (core/backend.h): a kernel refusal of a cgroup v2 rule is told with the rule, keyed
// by the file written and the errno; anything else comes back unchanged.
#include <cerrno>
#include <string>

#include <gtest/gtest.h>

#include "core/backend.h"

namespace cgm {
namespace {

std::string told(int err, std::string_view file) {
    return with_v2_rule(Error(ErrorKind::Failed, "write: kernel says no", err), file).message;
}

TEST(V2Rules, EachRefusalNamesItsRule) {
    struct Case {
        int err;
        const char* file;
        const char* needle;
    } cases[] = {
        {EBUSY, "cgroup.subtree_control", "only while it holds no processes itself"},
        {EBUSY, "cgroup.procs", "puts no processes into a cgroup that enables controllers"},
        {EBUSY, "cgroup.threads", "no-internal-processes"},
        {EOPNOTSUPP, "cgroup.subtree_control", "inside a threaded subtree"},
        {EOPNOTSUPP, "cgroup.procs", "takes threads (cgroup.threads)"},
        {EOPNOTSUPP, "cgroup.type", "becomes threaded only below"},
        {EINVAL, "cgroup.type", "can only be set to \"threaded\""},
        {EINVAL, "cgroup.threads", "within its process's threaded subtree"},
        {ENOENT, "cgroup.subtree_control", "only the controllers its parent enables"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(std::string(c.file) + " " + std::to_string(c.err));
        const std::string m = told(c.err, c.file);
        EXPECT_EQ(m.rfind("write: kernel says no (", 0), 0u) << m;  // the kernel's words first
        EXPECT_NE(m.find(c.needle), std::string::npos) << m;
    }
}

TEST(V2Rules, OtherErrorsAreLeftAsTheyAre) {
    EXPECT_EQ(told(EBUSY, "memory.max"), "write: kernel says no");
    EXPECT_EQ(told(EINVAL, "cgroup.subtree_control"), "write: kernel says no");
    EXPECT_EQ(told(EACCES, "cgroup.procs"), "write: kernel says no");
    EXPECT_EQ(told(0, "cgroup.type"), "write: kernel says no");
    Error e = with_v2_rule(Error(ErrorKind::NotFound, "gone", ENOENT), "cgroup.procs");
    EXPECT_EQ(e.kind, ErrorKind::NotFound);
    EXPECT_EQ(e.sys_errno, ENOENT);
}

}  // namespace
}  // namespace cgm
