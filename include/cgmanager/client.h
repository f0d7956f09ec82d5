// SPDX-License-Identifier: Apache-2.0
//
// The cgmanager client library: a typed, synchronous client for every method of the daemon, plain
// and *Scm, used by cgm, cgproxy, the release agent and the tests. Built on sdbus-c++ proxies
// generated from dbus/org.linuxcontainers.cgmanager.xml (the daemon answers Hello).
//
// General rules:
//  - Every call returns a Result. A failure the daemon reported carries its D-Bus error name in
//    Error::name, its message in Error::message, and a kind derived from the name; a failure on
//    this side (timeout, broken connection, a malformed *Scm answer) has no name.
//  - Every call has a timeout (Options::timeout), the *Scm exchanges included.
//  - A Client is one connection; it is not thread-safe (use one per thread).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "cgmanager/result.h"

namespace cgm::client {

/// Where to connect: explicit path, else $CGMANAGER_SOCKET, else /sys/fs/cgroup/cgmanager/sock if
/// it exists, else /run/cgmanager/sock.
std::string socket_path(const std::string& explicit_path = "");

struct Options {
    std::string socket;                        ///< see socket_path()
    std::chrono::milliseconds timeout{10000};  ///< per call, *Scm exchanges included
};

/// One file of a cgroup, as ListKeys returns it.
struct Key {
    std::string name;
    uint32_t uid = 0;
    uint32_t gid = 0;
    uint32_t perms = 0;  ///< full st_mode
    bool operator==(const Key&) const = default;
};

/// Credentials sent in an *Scm exchange. The kernel checks them: a process may send only its own
/// pid/uid/gid unless it has CAP_SYS_ADMIN (pid) or CAP_SETUID/CAP_SETGID (ids) in its namespaces.
struct Cred {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    static Cred self();
};

class Client {
public:
    static Result<std::unique_ptr<Client>> connect(const Options& options = {});
    ~Client();
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    const std::string& socket() const;

    // ---- plain methods: the caller is this process --------------------------------------------
    Result<void> ping();
    Result<int32_t> api_version();
    Result<std::string> get_pid_cgroup(const std::string& controller, int32_t pid);
    Result<std::string> get_pid_cgroup_abs(const std::string& controller, int32_t pid);
    /// 1: the cgroup existed; -1: it was created.
    Result<int32_t> create(const std::string& controller, const std::string& cgroup);
    Result<void> chown(const std::string& controller, const std::string& cgroup, int32_t uid, int32_t gid);
    Result<void> chmod(const std::string& controller, const std::string& cgroup, const std::string& file, int32_t mode);
    Result<void> move_pid(const std::string& controller, const std::string& cgroup, int32_t pid);
    Result<void> move_pid_abs(const std::string& controller, const std::string& cgroup, int32_t pid);
    Result<std::string> get_value(const std::string& controller, const std::string& cgroup, const std::string& key);
    Result<void> set_value(const std::string& controller, const std::string& cgroup, const std::string& key,
                           const std::string& value);
    /// 1: removed; -1: it did not exist.
    Result<int32_t> remove(const std::string& controller, const std::string& cgroup, bool recursive);
    Result<std::vector<int32_t>> get_tasks(const std::string& controller, const std::string& cgroup);
    Result<std::vector<int32_t>> get_tasks_recursive(const std::string& controller, const std::string& cgroup);
    Result<std::vector<std::string>> list_children(const std::string& controller, const std::string& cgroup);
    Result<void> remove_on_empty(const std::string& controller, const std::string& cgroup);
    Result<void> prune(const std::string& controller, const std::string& cgroup);
    Result<std::vector<std::string>> list_controllers();
    Result<std::vector<Key>> list_keys(const std::string& controller, const std::string& cgroup);

    // ---- *Scm methods: the requestor (and victim) travel as kernel-checked credentials ----------
    // A failure result comes with the reason our daemon sends after it (the trailing ERROR
    // datagram, docs/dbus-api.md): its error name in Error::name and its message. A daemon that
    // sends no reason (CGManager 0.42) gives Error{kind Failed, name ""}. A D-Bus error before
    // the exchange keeps its name and message.
    Result<std::string> get_pid_cgroup_scm(const std::string& controller, const Cred& requestor, pid_t victim);
    Result<std::string> get_pid_cgroup_abs_scm(const std::string& controller, const Cred& requestor, pid_t victim);
    Result<int32_t> create_scm(const std::string& controller, const std::string& cgroup, const Cred& requestor);
    /// The new owner travels as the second credential: {a pid the sender may send, uid, gid}.
    Result<void> chown_scm(const std::string& controller, const std::string& cgroup, const Cred& requestor,
                           const Cred& owner);
    Result<void> chmod_scm(const std::string& controller, const std::string& cgroup, const std::string& file,
                           int32_t mode, const Cred& requestor);
    Result<void> move_pid_scm(const std::string& controller, const std::string& cgroup, const Cred& requestor,
                              pid_t victim);
    Result<void> move_pid_abs_scm(const std::string& controller, const std::string& cgroup, const Cred& requestor,
                                  pid_t victim);
    Result<std::string> get_value_scm(const std::string& controller, const std::string& cgroup, const std::string& key,
                                      const Cred& requestor);
    Result<void> set_value_scm(const std::string& controller, const std::string& cgroup, const std::string& key,
                               const std::string& value, const Cred& requestor);
    Result<int32_t> remove_scm(const std::string& controller, const std::string& cgroup, bool recursive,
                               const Cred& requestor);
    Result<std::vector<int32_t>> get_tasks_scm(const std::string& controller, const std::string& cgroup,
                                               const Cred& requestor);
    Result<std::vector<int32_t>> get_tasks_recursive_scm(const std::string& controller, const std::string& cgroup,
                                                         const Cred& requestor);
    Result<std::vector<std::string>> list_children_scm(const std::string& controller, const std::string& cgroup,
                                                       const Cred& requestor);
    Result<void> remove_on_empty_scm(const std::string& controller, const std::string& cgroup, const Cred& requestor);
    Result<void> prune_scm(const std::string& controller, const std::string& cgroup, const Cred& requestor);
    Result<std::vector<Key>> list_keys_scm(const std::string& controller, const std::string& cgroup,
                                           const Cred& requestor);

private:
    struct Impl;
    explicit Client(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace cgm::client
