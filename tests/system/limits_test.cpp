// SPDX-License-Identifier: Apache-2.0
//
// Limits (issue 8): each one reached by one caller, who gets LimitsExceeded naming the limit,
// while everyone else is served as before.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "daemon_fixture.h"
#include "support/raw_bus.h"

namespace cgm::test {
namespace {

const std::string kLimits = "org.freedesktop.DBus.Error.LimitsExceeded";

class LimitsTest : public DaemonTest {};

TEST_F(LimitsTest, ConnectionsPerUid) {
    start(Daemon::Config::with_args({"--max-connections-per-uid", "3"}));
    for (int i = 0; i < 3; ++i)
        ASSERT_TRUE(connect_as(1000).call("Ping", "i", 0).ok);
    // The fourth is answered, once, with the reason, and then closed.
    RawBus& fourth = connect_as(1000);
    auto r = fourth.call("Ping", "i", 0);
    EXPECT_EQ(r.error_name, kLimits) << r.describe();
    EXPECT_NE(r.message.find("uid 1000 has 3 connections open, the per-uid limit"), std::string::npos) << r.message;
    EXPECT_FALSE(fourth.call("Ping", "i", 0).ok);
    // libdbus (python) sees the same.
    refused("Ping", "i", "[0]", "LimitsExceeded", "per-uid limit", As::user(1000));
    others_served();
    // One of the three goes: there is room again (once the daemon has seen it go).
    buses_.erase(buses_.begin());
    bool served = false;
    std::string last;
    for (int i = 0; i < 50 && !served; ++i) {
        auto again = connect_as(1000).call("Ping", "i", 0);
        served = again.ok;
        last = again.describe();
        if (!served)
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_TRUE(served) << last << "\n" << daemon().log();
    EXPECT_NE(daemon().log().find("refusing a connection from pid"), std::string::npos);
}

TEST_F(LimitsTest, ConnectionsInTotal) {
    start(Daemon::Config::with_args({"--max-connections", "4"}));
    ASSERT_TRUE(connect_as(0).call("Ping", "i", 0).ok);
    ASSERT_TRUE(connect_as(1000).call("Ping", "i", 0).ok);
    ASSERT_TRUE(connect_as(1000).call("Ping", "i", 0).ok);
    ASSERT_TRUE(connect_as(1002).call("Ping", "i", 0).ok);
    auto r = connect_as(1001).call("ListControllers", "");
    EXPECT_EQ(r.error_name, kLimits) << r.describe();
    EXPECT_NE(r.message.find("4 connections are open, the limit"), std::string::npos) << r.message;
    // Those already connected go on.
    for (size_t i = 0; i < 4; ++i)
        EXPECT_TRUE(buses_[i]->call("ListControllers", "").ok) << i;
}

TEST_F(LimitsTest, PendingScmExchangesPerConnection) {
    start(Daemon::Config::with_args({"--max-scm-pending", "2"}));
    ASSERT_TRUE(RawBus::connect(daemon().socket())->call("Create", "ss", "memory", "pending").ok);
    RawBus& greedy = connect_as(0);
    // Two exchanges started and left waiting for credentials.
    std::vector<int> kept;
    for (int i = 0; i < 3; ++i) {
        int sv[2];
        ASSERT_EQ(::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv), 0);
        kept.push_back(sv[0]);
        auto r = greedy.call("MovePidScm", "ssh", "memory", "pending", sv[1]);
        ::close(sv[1]);
        if (i < 2) {
            EXPECT_TRUE(r.ok) << i << ": " << r.describe();
        } else {
            EXPECT_EQ(r.error_name, kLimits) << r.describe();
            EXPECT_NE(r.message.find("already has 2 credential exchanges in progress"), std::string::npos) << r.message;
        }
    }
    // Another connection's exchange goes through.
    RawBus& other = connect_as(0);
    auto r = other.scm("GetValueScm", {std::string("memory"), std::string("pending"), std::string("cgroup.procs")},
                       RawBus::Cred{::getpid(), 0, 0});
    EXPECT_TRUE(r.ok) << r.describe();
    for (int fd : kept)
        ::close(fd);
    others_served();
}

TEST_F(LimitsTest, CgroupsEachUidMayCreate) {
    start(Daemon::Config::with_args({"--max-cgroups-per-uid", "2"}));
    auto root = RawBus::connect(daemon().socket());
    ASSERT_TRUE(root->call("Create", "ss", "memory", "home").ok);
    ASSERT_TRUE(root->call("Chown", "ssii", "memory", "home", 1000, 1000).ok);
    RawBus& user = connect_as(1000, {fs("memory", "home")});
    ASSERT_TRUE(user.call("Create", "ss", "memory", "a").ok);
    ASSERT_TRUE(user.call("Create", "ss", "memory", "b").ok);
    auto r = user.call("Create", "ss", "memory", "c");
    EXPECT_EQ(r.error_name, kLimits) << r.describe();
    EXPECT_NE(r.message.find("uid 1000 has made 2 cgroups that still exist; the limit is 2"), std::string::npos)
        << r.message;
    EXPECT_FALSE(exists(fs("memory", "home/c")));
    // The user's other calls, root's creates and other users are unaffected.
    EXPECT_TRUE(user.call("ListChildren", "ss", "memory", "").ok);
    EXPECT_TRUE(root->call("Create", "ss", "memory", "home/byroot").ok);
    others_served();
    // Removing one makes room.
    ASSERT_TRUE(user.call("Remove", "ssi", "memory", "a", 0).ok);
    EXPECT_TRUE(user.call("Create", "ss", "memory", "c").ok);
}

TEST_F(LimitsTest, DepthValueAndArgumentSizes) {
    start(Daemon::Config::with_args({"--max-depth", "3"}));
    auto root = RawBus::connect(daemon().socket());
    ASSERT_TRUE(root->call("Create", "ss", "memory", "d1/d2/d3").ok);
    auto r = root->call("Create", "ss", "memory", "d1/d2/d3/d4");
    EXPECT_EQ(r.error_name, kLimits) << r.describe();
    EXPECT_NE(r.message.find("the limit is 3"), std::string::npos) << r.message;
    EXPECT_FALSE(exists(fs("memory", "d1/d2/d3/d4")));
    std::string big(64 * 1024 + 1, '1');
    r = root->call("SetValue", "ssss", "memory", "d1", "memory.soft_limit_in_bytes", big.c_str());
    EXPECT_EQ(r.error_name, kLimits) << r.describe();
    EXPECT_NE(r.message.find("65537 bytes"), std::string::npos) << r.message;
    others_served();
}

// Message size. Up to 1 MiB, an oversized argument is refused by name (LimitsExceeded) once the
// message is read, and its memory goes back (sd-bus lets go of a connection's last message when it
// reads the next one). A message announced longer than 1 MiB closes the connection as soon as its
// header is in, long before sd-bus's own bound of 128 MiB: the daemon's peak RSS shows it never
// held such a message.
TEST_F(LimitsTest, MessageSize) {
    start();
    auto root = RawBus::connect(daemon().socket());
    ASSERT_TRUE(root->call("Create", "ss", "memory", "big").ok);
    ASSERT_TRUE(root->call("Chown", "ssii", "memory", "big", 1000, 1000).ok);
    RawBus& user = connect_as(1000);
    const long rss0 = rss_kib(daemon().pid());
    for (int i = 0; i < 3; ++i) {
        const std::string large(900 << 10, 'x');
        auto r = user.call("SetValue", "ssss", "memory", "big", "memory.soft_limit_in_bytes", large.c_str());
        EXPECT_EQ(r.error_name, kLimits) << r.describe();
        EXPECT_NE(r.message.find("longer than 65536 bytes"), std::string::npos) << r.message;
        r = user.call("Create", "ss", "memory", large.c_str());
        EXPECT_EQ(r.error_name, kLimits) << r.describe();
        r = user.call("GetValue", "sss", "memory", "big", large.c_str());
        EXPECT_EQ(r.error_name, kLimits) << r.describe();
    }
    EXPECT_TRUE(user.call("Ping", "i", 0).ok);
    const long rss1 = rss_kib(daemon().pid());
    std::printf("RSS %ld -> %ld KiB after 9 messages of 900 KiB\n", rss0, rss1);
#ifndef CGM_SANITIZED  // ASan's quarantine keeps freed blocks resident
    EXPECT_LT(rss1 - rss0, 4 * 1024) << "the daemon kept the messages' memory";
#endif

    const long peak0 = status_kib(daemon().pid(), "VmHWM:");
    for (const size_t mib : {8u, 32u, 100u}) {
        const std::string huge(mib << 20, 'x');
        RawBus& sender = connect_as(1000);
        auto r = sender.call("SetValue", "ssss", "memory", "big", "memory.soft_limit_in_bytes", huge.c_str());
        EXPECT_FALSE(r.ok);
        EXPECT_NE(r.error_name, kLimits) << "a message of " << mib << " MiB was read whole: " << r.describe();
    }
    const long peak1 = status_kib(daemon().pid(), "VmHWM:");
    std::printf("peak RSS %ld -> %ld KiB after messages of 8, 32 and 100 MiB\n", peak0, peak1);
#ifndef CGM_SANITIZED
    EXPECT_LT(peak1 - peak0, 16 * 1024) << "the daemon held most of a message of many MiB";
#endif
    EXPECT_NE(daemon().log().find("the peer announced a message of 8388"), std::string::npos) << daemon().log();
    EXPECT_NE(daemon().log().find("bytes; the limit is 1048576"), std::string::npos);
    EXPECT_TRUE(user.call("GetValue", "sss", "memory", "big", "memory.soft_limit_in_bytes").ok);
    for (const auto& e : std::filesystem::directory_iterator(fs("memory", "big")))
        EXPECT_FALSE(e.is_directory()) << e.path() << " was made";
    others_served();
}

}  // namespace
}  // namespace cgm::test
