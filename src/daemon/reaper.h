// SPDX-License-Identifier: Apache-2.0
//
// The Reaper removes the cgroups RemoveOnEmpty and Prune asked to go once empty, where the kernel
// cannot do it for us (docs/operations.md, "Cgroups that remove themselves"): every cgroup v2 request, and v1 requests
// on hierarchies whose release agent is not ours (premounted hierarchies, cgroup namespaces).
//
//  - It runs in a thread of its own; Operations hands it requests (EmptyWatcher::watch).
//  - cgroup v2: one shared inotify instance watches each cgroup's cgroup.events; a change makes
//    the Reaper try that cgroup (and then its watched ancestors) at once.
//  - Every watched cgroup, v1 and v2, is also tried at each sweep (--sweep-interval): v1 has no
//    event to wait for, and a v2 parent whose last child went gets no event either.
//  - Trying means: remove the hidden v2 leaf, then rmdir; a busy cgroup simply stays watched.
//    Deeper cgroups go first, so a chain empties bottom-up.
//  - A watch is bound to the directory's inode: a cgroup removed by someone else ends the watch,
//    and a new cgroup later made at the same path is never touched.
//  - The watch list is kept in <rundir>/watches (rewritten atomically on every change), so a
//    restarted daemon goes on where the last one stopped.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "cgmanager/result.h"
#include "core/empty_watch.h"
#include "core/hierarchy.h"
#include "core/sys.h"

namespace cgm {

class Reaper final : public EmptyWatcher {
public:
    Reaper(std::string state_file, std::chrono::milliseconds sweep_interval);
    ~Reaper() override;
    Reaper(const Reaper&) = delete;
    Reaper& operator=(const Reaper&) = delete;

    /// The hierarchies of the moment (set before start(), and again after a rescan).
    void set_table(std::shared_ptr<const HierarchyTable> table);
    /// Load the saved watch list (entries whose cgroup is gone or replaced are dropped) and start.
    Result<void> start();
    /// Stop the thread (the watch list stays saved).
    void stop();

    Result<void> watch(const Hierarchy& h, const CgroupPath& cgroup, uint64_t id) override;

    /// Number of cgroups watched now.
    size_t size() const;

private:
    struct Entry {
        std::shared_ptr<const Hierarchy> h;
        CgroupPath path;
        uint64_t id = 0;
        int wd = -1;  // inotify watch on cgroup.events (v2)
    };
    using Key = std::pair<std::string, std::string>;  // hierarchy dir name, absolute path

    void run();
    void wake();
    // Try to remove one cgroup: true when it is gone (removed, vanished or replaced).
    bool try_remove(Entry& e);
    // Try the given cgroups (and, after each removal, its watched ancestors); returns how many went.
    size_t try_entries(std::vector<Key> keys);
    void drop(const Key& key);
    void add_inotify(Entry& e, int dir_fd);
    void save();
    std::shared_ptr<const Hierarchy> hierarchy_named(const std::string& dir_name) const;

    const std::string state_file_;
    const std::chrono::milliseconds interval_;
    mutable std::mutex mu_;
    std::shared_ptr<const HierarchyTable> table_;
    std::map<Key, Entry> entries_;
    std::map<int, Key> by_wd_;
    std::vector<Key> pending_;  // new watches to try at once
    UniqueFd inotify_;
    UniqueFd wakeup_;
    std::thread thread_;
    std::atomic<bool> stopping_{false};
};

}  // namespace cgm
