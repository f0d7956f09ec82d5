// SPDX-License-Identifier: Apache-2.0
//
// How many cgroups each uid has made with Create (docs/security.md, "Limits"): a bound on the kernel
// memory an unprivileged caller can tie up. Host root is not counted. Each cgroup directory a
// Create makes counts once, in its hierarchy; the count is of those that still exist, which is
// checked (by the caller's `exists`) only when a uid reaches its limit.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <utility>

#include "cgmanager/result.h"

namespace cgm {

class CreationQuota {
public:
    /// `per_uid` 0: no limit (nothing is counted).
    explicit CreationQuota(size_t per_uid) : per_uid_(per_uid) {}

    size_t limit() const { return per_uid_; }

    /// Whether the cgroup `path` of hierarchy `hierarchy` exists (the caller knows how to look).
    using Exists = std::function<bool(const std::string& hierarchy, const std::string& path)>;

    /// Count `path` of `hierarchy` for `uid` before it is made. At the limit, the cgroups counted
    /// for `uid` that no longer exist are dropped first (at most once a second per uid); if it is
    /// still at the limit, LimitsExceeded.
    Result<void> reserve(uid_t uid, const std::string& hierarchy, const std::string& path, const Exists& exists);
    /// Undo a reserve whose mkdir did not happen (or found the cgroup there already).
    void release(uid_t uid, const std::string& hierarchy, const std::string& path);
    /// A cgroup was removed (by Remove or Prune): whoever made it, it counts no more.
    void forget(const std::string& hierarchy, const std::string& path);
    /// How many are counted for `uid` now (tests, logs).
    size_t count(uid_t uid) const;

private:
    using Key = std::pair<std::string, std::string>;
    struct PerUid {
        std::set<Key> made;
        std::chrono::steady_clock::time_point last_prune{};
    };
    const size_t per_uid_;
    mutable std::mutex mu_;
    std::map<uid_t, PerUid> by_uid_;
};

}  // namespace cgm
