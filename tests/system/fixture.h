// SPDX-License-Identifier: Apache-2.0
#pragma once

#include <memory>
#include <vector>

#include "support/system_env.h"

namespace cgm::test {

/// Base of the system tests: skips without the sandbox, and leaves no process and no cgroup
/// behind (helper processes are killed first, then every cgroup below the sandbox root goes).
class SystemTest : public ::testing::Test {
protected:
    void SetUp() override {
        CGM_SKIP_UNLESS_SANDBOXED();
        env_ = &SystemEnv::get();
    }
    void TearDown() override {
        children_.clear();
        if (env_) {
            env_->remove_all_cgroups();
            env_->watches().clear();
        }
    }

    SystemEnv& env() { return *env_; }
    const Operations& ops() { return env_->ops(); }
    const Hierarchy& h(std::string_view token) { return env_->hierarchy(token); }
    /// A cgroup, or a file of one ("cg/key": a v1 key is the v2 file that holds it on a pure v2
    /// host, host_file), in our mount of the hierarchy.
    std::string path(const Hierarchy& hy, std::string_view cg) { return env_->path(hy, host_file(cg)); }

    Child& keep(std::unique_ptr<Child> c) {
        children_.push_back(std::move(c));
        return *children_.back();
    }
    Child& spawn() { return keep(Child::spawn()); }
    Child& spawn_user(uid_t uid) { return keep(Child::as_user(uid, uid)); }
    Child& spawn_userns_root(uid_t base) { return keep(Child::userns_root(base)); }

private:
    SystemEnv* env_ = nullptr;
    std::vector<std::unique_ptr<Child>> children_;
};

}  // namespace cgm::test
