// SPDX-License-Identifier: Apache-2.0
//
// open_beneath never leaves its root: symlinks, "..", absolute paths and escapes are refused, with
// openat2 and with the O_NOFOLLOW fallback. Runs on a temporary directory; no root needed.
#include "core/safe_walk.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>

#include <gtest/gtest.h>

namespace cgm {
namespace {

class SafeWalkTest : public ::testing::TestWithParam<bool> {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/cgm-safe-walk-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        ASSERT_EQ(::mkdir((dir_ + "/root").c_str(), 0755), 0);
        ASSERT_EQ(::mkdir((dir_ + "/root/a").c_str(), 0755), 0);
        ASSERT_EQ(::mkdir((dir_ + "/root/a/b").c_str(), 0755), 0);
        ASSERT_EQ(::mkdir((dir_ + "/outside").c_str(), 0755), 0);
        int f = ::open((dir_ + "/root/a/file").c_str(), O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        ASSERT_GE(f, 0);
        ::close(f);
        ASSERT_EQ(::symlink("../../outside", (dir_ + "/root/a/escape").c_str()), 0);
        ASSERT_EQ(::symlink("b", (dir_ + "/root/a/inner").c_str()), 0);
        ASSERT_EQ(::symlink("file", (dir_ + "/root/a/filelink").c_str()), 0);
        root_ = ::open((dir_ + "/root").c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        ASSERT_GE(root_, 0);
        was_disabled_ = openat2_disabled();
        set_openat2_disabled(GetParam());
    }
    void TearDown() override {
        set_openat2_disabled(was_disabled_);
        if (root_ >= 0)
            ::close(root_);
        std::string cmd = "rm -rf '" + dir_ + "'";
        ASSERT_EQ(std::system(cmd.c_str()), 0);
    }
    int errno_of(const std::string& rel, int flags) {
        auto r = open_beneath(root_, rel, flags);
        return r ? 0 : r.error().sys_errno;
    }

    std::string dir_;
    int root_ = -1;
    bool was_disabled_ = false;
};

INSTANTIATE_TEST_SUITE_P(Modes, SafeWalkTest, ::testing::Values(false, true),
                         [](const auto& p) { return std::string(p.param ? "fallback" : "openat2"); });

TEST_P(SafeWalkTest, OpensWhatIsBeneath) {
    EXPECT_EQ(errno_of("a", O_PATH | O_DIRECTORY), 0);
    EXPECT_EQ(errno_of("a/b", O_PATH | O_DIRECTORY), 0);
    EXPECT_EQ(errno_of(".", O_PATH | O_DIRECTORY), 0);
    EXPECT_EQ(errno_of("a/file", O_RDONLY), 0);
    auto fd = open_beneath(root_, "a/file", O_RDONLY);
    ASSERT_TRUE(fd.ok());
    EXPECT_EQ(::fcntl(fd->get(), F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
}

TEST_P(SafeWalkTest, RefusesEveryWayOut) {
    EXPECT_NE(errno_of("a/escape", O_PATH | O_DIRECTORY), 0);  // symlink leading out
    EXPECT_NE(errno_of("a/escape/", O_PATH | O_DIRECTORY), 0);
    EXPECT_NE(errno_of("a/inner", O_PATH | O_DIRECTORY), 0);     // symlink that stays inside
    EXPECT_NE(errno_of("a/filelink", O_RDONLY), 0);              // final symlink
    EXPECT_NE(errno_of("../outside", O_PATH | O_DIRECTORY), 0);  // ".."
    EXPECT_NE(errno_of("a/../../outside", O_PATH | O_DIRECTORY), 0);
    EXPECT_EQ(errno_of("/etc", O_PATH | O_DIRECTORY), EINVAL);  // absolute
    EXPECT_EQ(errno_of("a/missing", O_PATH), ENOENT);
}

}  // namespace
}  // namespace cgm
