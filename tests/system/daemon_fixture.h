// SPDX-License-Identifier: Apache-2.0
//
// Fixture for tests that run the real daemon in the sandbox and call it with real clients.
#pragma once

#include <sys/stat.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "support/daemon.h"
#include "support/raw_bus.h"
#include "support/system_env.h"

namespace cgm::test {

/// A cgroup directory (or "cgroup/file": host_file) in the sandbox's own mounts:
/// "/sys/fs/cgroup/<hierarchy>/<cgroup>", or on a pure v2 host "/sys/fs/cgroup/<cgroup>" whatever
/// the hierarchy is called.
inline std::string fs(std::string_view hierarchy, std::string_view cgroup = "") {
    std::string p = "/sys/fs/cgroup";
    if (!pure_v2())
        p += "/" + std::string(hierarchy);
    if (!cgroup.empty())
        p += "/" + host_file(cgroup);
    return p;
}

/// The hierarchies among `names` that are separate on this host: on a pure v2 host every name is
/// the one cgroup2, and the first stands for all.
inline std::vector<const char*> distinct_hierarchies(std::initializer_list<const char*> names) {
    if (pure_v2() && names.size() > 0)
        return {*names.begin()};
    return names;
}

class DaemonTest : public ::testing::Test {
protected:
    void SetUp() override { CGM_SKIP_UNLESS_SANDBOXED(); }
    void TearDown() override {
        buses_.clear();
        children_.clear();
        daemon_.reset();
        for (const char* h :
             {"memory", "freezer", "pids", "cpuset", "systemd", "unified", "devices", "blkio", "cpu", "cpuacct"})
            remove_cgroups_below(fs(h));
    }

    Daemon& start(Daemon::Config c = {}) {
        daemon_ = Daemon::start(std::move(c));
        return *daemon_;
    }
    Daemon& daemon() { return *daemon_; }

    CallResult call(const std::string& client, const std::string& method, const std::string& sig,
                    const std::string& args, const As& as = As{}) {
        return test::call(client, daemon_->address(), method, sig, args, as);
    }
    // Call through python (the client that shows every error name) and expect success.
    std::string ok(const std::string& method, const std::string& sig, const std::string& args, const As& as = As{}) {
        auto r = call("python", method, sig, args, as);
        EXPECT_TRUE(r.ok) << method << args << ": " << r.error_name << ": " << r.message << "\n" << r.raw;
        return r.json;
    }
    // Call through python and expect an error of this name whose message mentions `needle`.
    void refused(const std::string& method, const std::string& sig, const std::string& args, const std::string& name,
                 const std::string& needle, const As& as = As{}) {
        auto r = call("python", method, sig, args, as);
        EXPECT_FALSE(r.ok) << method << args << " succeeded: " << r.json;
        EXPECT_EQ(r.error_name, "org.freedesktop.DBus.Error." + name) << r.message;
        EXPECT_NE(r.message.find(needle), std::string::npos) << "'" << r.message << "' lacks '" << needle << "'";
    }
    Child& keep(std::unique_ptr<Child> c) {
        children_.push_back(std::move(c));
        return *children_.back();
    }
    // A connection made by a new process of `uid` (living in `cgroups`, if given), driven here with
    // RawBus; both live until the test ends (or the connection is taken out of buses_).
    RawBus& connect_as(uid_t uid, std::vector<std::string> cgroups = {}) {
        int fd = -1;
        keep(Child::connected(As{uid, uid, "", false, false, std::move(cgroups)}, daemon_->socket(), &fd));
        buses_.push_back(RawBus::adopt(fd));
        return *buses_.back();
    }
    // Everyone else is still served: a fresh root connection and a fresh uid-1001 one.
    void others_served() {
        EXPECT_TRUE(RawBus::connect(daemon_->socket())->call("Ping", "i", 0).ok);
        auto r = connect_as(1001).call("ListControllers", "");
        EXPECT_TRUE(r.ok) << r.describe();
    }

    std::vector<std::unique_ptr<RawBus>> buses_;

private:
    std::unique_ptr<Daemon> daemon_;
    std::vector<std::unique_ptr<Child>> children_;
};

}  // namespace cgm::test
