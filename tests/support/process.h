// SPDX-License-Identifier: Apache-2.0
//
// Processes for tests: helpers that just wait (victims, requestors) and commands run to completion
// (real D-Bus clients), either of them as another uid, as root of a new user namespace, or as pid 1
// of a new pid namespace.
#pragma once

#include <sys/types.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/credentials.h"

namespace cgm::test {

/// Who a spawned process is.
struct As {
    uid_t uid = 0;
    gid_t gid = 0;
    /// Run in a new user namespace, as its root, with these maps written by the parent
    /// (e.g. "0 100000 65536"); uid/gid are then the host ids it becomes (the map's start).
    std::string userns_map;
    /// Exit at once and stay a zombie until destroyed (Child only).
    bool zombie = false;
    /// Run as pid 1 of a new pid namespace.
    bool pidns = false;
    /// Cgroup directories (e.g. /sys/fs/cgroup/memory/a) to join first, while still root.
    std::vector<std::string> join = {};
    /// Extra threads a Child starts (each waits like the main one), for long v1 task lists.
    int threads = 0;
    /// With userns_map: also new mount and pid namespaces owned by that user namespace, the
    /// command running as their pid 1 (a container's init).
    bool container = false;

    static As root() { return As{}; }
    static As user(uid_t uid) { return As{uid, uid, "", false, false}; }
    /// Root of a new user namespace mapped "0 <host_base> 65536".
    static As userns_root(uid_t host_base) {
        return As{host_base, host_base, "0 " + std::to_string(host_base) + " 65536", false, false};
    }
};

/// A helper process that waits until it is destroyed (SIGKILL + reap).
class Child {
public:
    using Spec = As;
    static std::unique_ptr<Child> spawn(const As& as);
    static std::unique_ptr<Child> spawn() { return spawn(As{}); }
    static std::unique_ptr<Child> as_user(uid_t uid, gid_t gid) { return spawn(As{uid, gid, "", false, false}); }
    static std::unique_ptr<Child> userns_root(uid_t host_base) { return spawn(As::userns_root(host_base)); }
    /// A child that, once it is `as`, connects to the unix socket `path` and hands the connected
    /// fd to this process (`*connection`): a connection whose peer credentials (SO_PEERCRED, the
    /// pidfd) are the child's, driven from the test process. The child stays alive (and so the
    /// connection's identity valid) until the Child is destroyed.
    static std::unique_ptr<Child> connected(const As& as, const std::string& path, int* connection);

    ~Child();
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    pid_t pid() const { return pid_; }
    /// The credential as the kernel (and the daemon) sees it.
    Ucred cred() const { return Ucred{pid_, uid_, gid_}; }
    Caller caller() const { return Caller::plain(cred()); }

private:
    Child(pid_t pid, uid_t uid, gid_t gid) : pid_(pid), uid_(uid), gid_(gid) {}
    pid_t pid_;
    uid_t uid_;
    gid_t gid_;
    int go_fd_ = -1;  // the child waits until this closes
};

struct RunResult {
    int status = -1;  ///< exit status, 128 + signal when killed, -1 when it timed out
    std::string out;
    std::string err;
};

/// Run a command to completion as `as`, capturing stdout and stderr; killed after `timeout_ms`.
RunResult run(const std::vector<std::string>& argv, const As& as = As{}, int timeout_ms = 20000,
              const std::vector<std::pair<std::string, std::string>>& env = {});

/// How many file descriptors process `pid` has open.
size_t fd_count(pid_t pid);
/// Its descriptor count once it stays the same over 100 ms (what was just closed is gone), or
/// nothing if it does not settle within `timeout_ms`.
std::optional<size_t> settled_fd_count(pid_t pid, int timeout_ms = 3000);

/// Poll `cond` (every 10 ms) until it holds or `timeout_ms` passed; its last value.
bool eventually(int timeout_ms, const std::function<bool()>& cond);

/// A KiB figure from /proc/<pid>/status (key e.g. "VmHWM:"), or -1 if it cannot be read.
long status_kib(pid_t pid, const std::string& key);

/// The resident set size of process `pid` in KiB (VmRSS), or -1 if it cannot be read.
inline long rss_kib(pid_t pid) {
    return status_kib(pid, "VmRSS:");
}

}  // namespace cgm::test
