// SPDX-License-Identifier: Apache-2.0
#include "core/quota.h"

namespace cgm {

Result<void> CreationQuota::reserve(uid_t uid, const std::string& hierarchy, const std::string& path,
                                    const Exists& exists) {
    if (per_uid_ == 0)
        return ok();
    std::lock_guard lock(mu_);
    PerUid& u = by_uid_[uid];
    if (u.made.size() >= per_uid_) {
        // Cgroups also go without us (rmdir by their owner, the release agent, Prune): look
        // which are left, but not on every refused call.
        auto now = std::chrono::steady_clock::now();
        if (now - u.last_prune >= std::chrono::seconds(1)) {
            u.last_prune = now;
            for (auto it = u.made.begin(); it != u.made.end();)
                it = exists(it->first, it->second) ? std::next(it) : u.made.erase(it);
        }
        if (u.made.size() >= per_uid_)
            return make_error(ErrorKind::LimitsExceeded,
                              "uid {} has made {} cgroups that still exist; the limit is {} (--max-cgroups-per-uid)",
                              uid, u.made.size(), per_uid_);
    }
    u.made.emplace(hierarchy, path);
    return ok();
}

void CreationQuota::release(uid_t uid, const std::string& hierarchy, const std::string& path) {
    if (per_uid_ == 0)
        return;
    std::lock_guard lock(mu_);
    auto it = by_uid_.find(uid);
    if (it == by_uid_.end())
        return;
    it->second.made.erase(Key(hierarchy, path));
    if (it->second.made.empty())
        by_uid_.erase(it);
}

void CreationQuota::forget(const std::string& hierarchy, const std::string& path) {
    if (per_uid_ == 0)
        return;
    std::lock_guard lock(mu_);
    const Key key(hierarchy, path);
    for (auto it = by_uid_.begin(); it != by_uid_.end();) {
        it->second.made.erase(key);
        it = it->second.made.empty() ? by_uid_.erase(it) : std::next(it);
    }
}

size_t CreationQuota::count(uid_t uid) const {
    std::lock_guard lock(mu_);
    auto it = by_uid_.find(uid);
    return it == by_uid_.end() ? 0 : it->second.made.size();
}

}  // namespace cgm
