// SPDX-License-Identifier: Apache-2.0
//
// sys::ScopedFsIds: the calling thread acts on files as another uid:gid with its capabilities kept,
// only while the scope lives, and no other thread does. Checked on a scratch directory of the
// sandbox's /run and on a real cgroup hierarchy.
#include "core/fs_ids.h"

#include <linux/capability.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "core/cgroupfs.h"
#include "fixture.h"

namespace cgm::test {
namespace {

struct Caps {
    uint32_t effective[2];
    uint32_t permitted[2];
    bool operator==(const Caps&) const = default;
};

Caps thread_caps() {
    __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
    __user_cap_data_struct d[2] = {};
    EXPECT_EQ(::syscall(SYS_capget, &h, d), 0);
    return Caps{{d[0].effective, d[1].effective}, {d[0].permitted, d[1].permitted}};
}

// The fsuid of a thread as the kernel reports it (the 4th field of "Uid:").
uid_t fsuid_of_thread(pid_t tid) {
    std::ifstream in("/proc/self/task/" + std::to_string(tid) + "/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("Uid:", 0) == 0) {
            std::istringstream f(line.substr(4));
            uid_t real = 0, eff = 0, saved = 0, fs = 0;
            f >> real >> eff >> saved >> fs;
            return fs;
        }
    ADD_FAILURE() << "no Uid: line for thread " << tid;
    return static_cast<uid_t>(-1);
}

class FsIdsTest : public SystemTest {
protected:
    void SetUp() override {
        SystemTest::SetUp();
        if (IsSkipped())
            return;
        dir_ = "/run/cgmtest-fsids-" + std::to_string(::getpid());
        ASSERT_EQ(::mkdir(dir_.c_str(), 0755), 0);  // root's, 0755: only capabilities let 1000 in
    }
    void TearDown() override {
        for (const char* n : {"as1000", "other", "after", "same"})
            ::rmdir((dir_ + "/" + n).c_str());
        ::rmdir(dir_.c_str());
        SystemTest::TearDown();
    }
    std::string dir_;
};

TEST_F(FsIdsTest, MakesFilesAsTheIdsWithCapabilitiesKeptAndRestoresEverything) {
    const Caps before = thread_caps();
    {
        sys::ScopedFsIds as(1000, 1001);
        ASSERT_TRUE(as.status().ok()) << as.status().error().message;
        EXPECT_EQ(sys::ScopedFsIds::current_fsuid(), 1000u);
        EXPECT_EQ(sys::ScopedFsIds::current_fsgid(), 1001u);
        EXPECT_EQ(thread_caps(), before);  // the file capabilities were raised again
        // Permitted by CAP_DAC_OVERRIDE only: the directory is root's, mode 0755.
        ASSERT_EQ(::mkdir((dir_ + "/as1000").c_str(), 0755), 0) << std::strerror(errno);
    }
    EXPECT_EQ(stat_of(dir_ + "/as1000").st_uid, 1000u);
    EXPECT_EQ(stat_of(dir_ + "/as1000").st_gid, 1001u);
    EXPECT_EQ(sys::ScopedFsIds::current_fsuid(), 0u);
    EXPECT_EQ(sys::ScopedFsIds::current_fsgid(), 0u);
    EXPECT_EQ(thread_caps(), before);
    ASSERT_EQ(::mkdir((dir_ + "/after").c_str(), 0755), 0);
    EXPECT_EQ(stat_of(dir_ + "/after").st_uid, 0u);
    EXPECT_EQ(stat_of(dir_ + "/after").st_gid, 0u);
}

TEST_F(FsIdsTest, OnlyTheCallingThreadChanges) {
    std::atomic<int> phase{0};
    pid_t other_tid = 0;
    std::thread other([&] {
        other_tid = static_cast<pid_t>(::syscall(SYS_gettid));
        phase = 1;
        while (phase.load() != 2) {
        }
        EXPECT_EQ(::mkdir((dir_ + "/other").c_str(), 0755), 0);  // while the main thread is 1000
        phase = 3;
    });
    while (phase.load() != 1) {
    }
    {
        sys::ScopedFsIds as(1000, 1000);
        ASSERT_TRUE(as.status().ok()) << as.status().error().message;
        EXPECT_EQ(fsuid_of_thread(static_cast<pid_t>(::syscall(SYS_gettid))), 1000u);
        EXPECT_EQ(fsuid_of_thread(other_tid), 0u);
        phase = 2;
        while (phase.load() != 3) {
        }
    }
    other.join();
    EXPECT_EQ(stat_of(dir_ + "/other").st_uid, 0u);
}

TEST_F(FsIdsTest, TheThreadsOwnIdsChangeNothing) {
    const Caps before = thread_caps();
    sys::ScopedFsIds as(0, 0);
    EXPECT_TRUE(as.status().ok());
    EXPECT_EQ(thread_caps(), before);
    ASSERT_EQ(::mkdir((dir_ + "/same").c_str(), 0755), 0);
    EXPECT_EQ(stat_of(dir_ + "/same").st_uid, 0u);
}

// On cgroupfs the kernel gives the new cgroup and every file in it the thread's fsuid and fsgid:
// what Create and the v2 leaf rely on.
TEST_F(FsIdsTest, ACgroupMadeAsTheIdsIsTheirsThroughout) {
    std::set<const Hierarchy*> done;  // on a pure v2 host the three are one
    for (const char* token : {"memory", "name=systemd", "unified"}) {
        SCOPED_TRACE(token);
        const Hierarchy& hy = h(token);
        if (!done.insert(&hy).second)
            continue;
        auto made = cgfs::mkdir_child_as(hy.root.get(), "fsids", 0755, 1000, 1001);
        ASSERT_TRUE(made.ok()) << made.error().message;
        EXPECT_TRUE(*made);
        const std::string at = path(hy, "fsids");
        EXPECT_EQ(stat_of(at).st_uid, 1000u);
        EXPECT_EQ(stat_of(at).st_gid, 1001u);
        size_t files = 0;
        for (const auto& name : files_in(at)) {
            EXPECT_EQ(stat_of(at + "/" + name).st_uid, 1000u) << name;
            EXPECT_EQ(stat_of(at + "/" + name).st_gid, 1001u) << name;
            ++files;
        }
        EXPECT_GT(files, 2u);
        EXPECT_EQ(sys::ScopedFsIds::current_fsuid(), 0u);
        auto again = cgfs::mkdir_child_as(hy.root.get(), "fsids", 0755, 1000, 1001);
        ASSERT_TRUE(again.ok());
        EXPECT_FALSE(*again);  // it existed
    }
}

}  // namespace
}  // namespace cgm::test
