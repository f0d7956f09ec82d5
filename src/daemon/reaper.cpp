// SPDX-License-Identifier: Apache-2.0
#include "daemon/reaper.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

#include <spdlog/spdlog.h>

#include "core/backend.h"
#include "core/cgroupfs.h"
#include "core/limits.h"

namespace cgm {

Reaper::Reaper(std::string state_file, std::chrono::milliseconds sweep_interval)
    : state_file_(std::move(state_file)), interval_(sweep_interval) {}

Reaper::~Reaper() {
    stop();
}

void Reaper::set_table(std::shared_ptr<const HierarchyTable> table) {
    std::lock_guard lock(mu_);
    table_ = std::move(table);
}

std::shared_ptr<const Hierarchy> Reaper::hierarchy_named(const std::string& dir_name) const {
    if (!table_)
        return nullptr;
    for (const auto& h : table_->all())
        if (h->dir_name == dir_name)
            return h;
    return nullptr;
}

size_t Reaper::size() const {
    std::lock_guard lock(mu_);
    return entries_.size();
}

Result<void> Reaper::start() {
    int in = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (in < 0)
        return errno_error(errno, "inotify_init1");
    inotify_.reset(in);
    int ev = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (ev < 0)
        return errno_error(errno, "eventfd");
    wakeup_.reset(ev);

    // The previous daemon's watches, each still bound to the same directory.
    size_t loaded = 0, dropped = 0;
    if (auto text = sys::read_file(state_file_, 64 << 20)) {
        std::lock_guard lock(mu_);
        size_t start = 0;
        while (start < text->size()) {
            size_t nl = text->find('\n', start);
            std::string line = text->substr(start, nl == std::string::npos ? std::string::npos : nl - start);
            start = nl == std::string::npos ? text->size() : nl + 1;
            size_t t1 = line.find('\t');
            size_t t2 = t1 == std::string::npos ? t1 : line.find('\t', t1 + 1);
            if (t2 == std::string::npos)
                continue;
            auto h = hierarchy_named(line.substr(0, t1));
            auto arg = parse_cgroup_arg(line.substr(t2 + 1));
            uint64_t id = std::strtoull(line.substr(t1 + 1, t2 - t1 - 1).c_str(), nullptr, 10);
            if (!h || !arg || arg->path.empty()) {
                ++dropped;
                continue;
            }
            auto fd = cgfs::open_cgroup(h->root.get(), arg->path);
            auto st = fd ? sys::fstat(fd->get()) : Result<struct stat>(fd.error());
            if (!st || st->st_ino != id) {
                ++dropped;
                continue;
            }
            Key key{h->dir_name, arg->path.absolute()};
            Entry e{h, arg->path, id, -1};
            add_inotify(e, fd->get());
            if (e.wd >= 0)
                by_wd_[e.wd] = key;
            entries_[key] = std::move(e);
            pending_.push_back(key);
            ++loaded;
        }
    }
    if (loaded || dropped)
        spdlog::info("remove-on-empty: {} watches taken over from the last run, {} no longer valid", loaded, dropped);
    {
        std::lock_guard lock(mu_);
        save();
    }
    thread_ = std::thread([this] { run(); });
    wake();
    return ok();
}

void Reaper::stop() {
    if (!thread_.joinable())
        return;
    stopping_ = true;
    wake();
    thread_.join();
}

void Reaper::wake() {
    if (!wakeup_)
        return;
    uint64_t one = 1;
    (void)!::write(wakeup_.get(), &one, sizeof one);
}

void Reaper::add_inotify(Entry& e, int dir_fd) {
    if (!e.h->is_unified() || !inotify_)
        return;
    std::string events = fmt::format("/proc/self/fd/{}/cgroup.events", dir_fd);
    e.wd = ::inotify_add_watch(inotify_.get(), events.c_str(), IN_MODIFY);
    if (e.wd < 0)
        spdlog::debug("remove-on-empty: cannot watch {}: {}; relying on the sweep", e.path.absolute(),
                      std::strerror(errno));
}

Result<void> Reaper::watch(const Hierarchy& h, const CgroupPath& cgroup, uint64_t id) {
    std::lock_guard lock(mu_);
    auto shared = hierarchy_named(h.dir_name);
    if (!shared)
        return make_error(ErrorKind::Failed, "hierarchy {} is not managed", h.display);
    Key key{h.dir_name, cgroup.absolute()};
    auto it = entries_.find(key);
    if (it != entries_.end() && it->second.id == id)
        return ok();
    if (it != entries_.end())
        drop(key);
    Entry e{shared, cgroup, id, -1};
    auto fd = cgfs::open_cgroup(shared->root.get(), cgroup);
    if (fd)
        add_inotify(e, fd->get());
    if (e.wd >= 0)
        by_wd_[e.wd] = key;
    entries_[key] = std::move(e);
    pending_.push_back(key);
    save();
    wake();
    return ok();
}

void Reaper::drop(const Key& key) {
    auto it = entries_.find(key);
    if (it == entries_.end())
        return;
    if (it->second.wd >= 0) {
        by_wd_.erase(it->second.wd);
        ::inotify_rm_watch(inotify_.get(), it->second.wd);
    }
    entries_.erase(it);
}

bool Reaper::try_remove(Entry& e) {
    const int root = e.h->root.get();
    auto fd = cgfs::open_cgroup(root, e.path);
    if (!fd)
        return fd.error().kind == ErrorKind::NotFound;  // removed by someone else: the watch ends
    auto st = sys::fstat(fd->get());
    if (!st)
        return false;
    if (st->st_ino != e.id)
        return true;  // another cgroup now has this path: never ours to remove
    if (!e.h->backend->before_remove(fd->get()))
        return false;  // the v2 leaf still has processes (or is not ours: then it stays watched)
    auto parent = cgfs::open_cgroup(root, e.path.parent());
    if (!parent)
        return false;
    // Only while the name still refers to the watched directory: renamed away since the open above,
    // it is no longer at this path, and the watch ends as for a cgroup replaced.
    auto gone = cgfs::rmdir_child_if(parent->get(), e.path.name(), *st);
    if (!gone)
        return gone.error().sys_errno == ESTALE || gone.error().sys_errno == ENOENT;  // else busy: stays watched
    spdlog::info("remove-on-empty: removed {} in {}", e.path.absolute(), e.h->display);
    return true;
}

size_t Reaper::try_entries(std::vector<Key> keys) {
    size_t removed = 0;
    for (;;) {
        std::lock_guard lock(mu_);
        // Deepest first, so that a parent follows its children in the same pass.
        std::sort(keys.begin(), keys.end(), [](const Key& a, const Key& b) {
            auto depth = [](const std::string& p) { return std::count(p.begin(), p.end(), '/'); };
            return depth(a.second) > depth(b.second);
        });
        keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
        size_t pass = 0;
        for (const auto& key : keys) {
            auto it = entries_.find(key);
            if (it == entries_.end())
                continue;
            if (try_remove(it->second)) {
                drop(key);
                ++pass;
            }
        }
        if (pass)
            save();
        removed += pass;
        if (pass == 0 || entries_.empty())
            break;
        // A removal may have emptied a watched parent: go over what is left once more.
        keys.clear();
        for (const auto& [k, e] : entries_)
            keys.push_back(k);
    }
    return removed;
}

void Reaper::save() {
    std::string text;
    for (const auto& [key, e] : entries_)
        text += fmt::format("{}\t{}\t{}\n", key.first, e.id, key.second);
    std::string tmp = state_file_ + ".tmp";
    FILE* f = std::fopen(tmp.c_str(), "we");
    if (!f) {
        spdlog::warn("remove-on-empty: cannot save the watch list to {}: {}, ignoring", tmp, std::strerror(errno));
        return;
    }
    bool written = std::fwrite(text.data(), 1, text.size(), f) == text.size();
    written = std::fclose(f) == 0 && written;
    if (!written || std::rename(tmp.c_str(), state_file_.c_str()) < 0)
        spdlog::warn("remove-on-empty: cannot save the watch list to {}: {}, ignoring", state_file_,
                     std::strerror(errno));
}

void Reaper::run() {
    auto next_sweep = std::chrono::steady_clock::now() + interval_;
    while (!stopping_) {
        auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(next_sweep - std::chrono::steady_clock::now());
        struct pollfd fds[2] = {{wakeup_.get(), POLLIN, 0}, {inotify_.get(), POLLIN, 0}};
        int n = ::poll(fds, 2, static_cast<int>(std::max<int64_t>(0, left.count())));
        if (stopping_)
            break;
        std::vector<Key> todo;
        if (n > 0 && (fds[0].revents & POLLIN)) {
            uint64_t v;
            (void)!::read(wakeup_.get(), &v, sizeof v);
            std::lock_guard lock(mu_);
            todo.swap(pending_);
        }
        if (n > 0 && (fds[1].revents & POLLIN)) {
            alignas(struct inotify_event) char buf[4096];
            ssize_t got;
            while ((got = ::read(inotify_.get(), buf, sizeof buf)) > 0) {
                std::lock_guard lock(mu_);
                for (char* p = buf; p < buf + got;) {
                    auto* ev = reinterpret_cast<struct inotify_event*>(p);
                    auto it = by_wd_.find(ev->wd);
                    if (it != by_wd_.end())
                        todo.push_back(it->second);
                    p += sizeof(struct inotify_event) + ev->len;
                }
            }
        }
        if (std::chrono::steady_clock::now() >= next_sweep) {
            std::lock_guard lock(mu_);
            for (const auto& [k, e] : entries_)
                todo.push_back(k);
            next_sweep = std::chrono::steady_clock::now() + interval_;
        }
        if (!todo.empty())
            try_entries(std::move(todo));
    }
}

}  // namespace cgm
