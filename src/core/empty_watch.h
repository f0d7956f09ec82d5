// SPDX-License-Identifier: Apache-2.0
//
// RemoveOnEmpty requests that the kernel cannot carry out for us (docs/operations.md, "Cgroups that remove
// themselves"): every cgroup v2 request, and v1 requests on hierarchies whose release agent is not ours. Operations
// hands them to an EmptyWatcher; the daemon's watcher removes each cgroup once it is empty.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "cgmanager/result.h"
#include "core/cgroup_path.h"
#include "core/hierarchy.h"

namespace cgm {

class EmptyWatcher {
public:
    virtual ~EmptyWatcher() = default;
    /// Remember that `cgroup` (hierarchy-absolute) of `h` is to be removed once it is empty.
    /// `id` is the directory's inode: a watcher removes the cgroup only while the path still names
    /// that directory, never a later one created at the same path.
    virtual Result<void> watch(const Hierarchy& h, const CgroupPath& cgroup, uint64_t id) = 0;
};

/// The set of requested watches, kept in memory (thread-safe). It records requests; acting on
/// them is up to whoever drains it.
class WatchList final : public EmptyWatcher {
public:
    Result<void> watch(const Hierarchy& h, const CgroupPath& cgroup, uint64_t id) override {
        std::lock_guard lock(mu_);
        entries_[{h.display, cgroup.absolute()}] = id;
        return ok();
    }
    /// (hierarchy display name, absolute cgroup path) pairs, sorted.
    std::vector<std::pair<std::string, std::string>> entries() const {
        std::lock_guard lock(mu_);
        std::vector<std::pair<std::string, std::string>> out;
        for (const auto& [key, id] : entries_)
            out.push_back(key);
        return out;
    }
    void clear() {
        std::lock_guard lock(mu_);
        entries_.clear();
    }

private:
    mutable std::mutex mu_;
    std::map<std::pair<std::string, std::string>, uint64_t> entries_;
};

}  // namespace cgm
