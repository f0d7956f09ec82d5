// SPDX-License-Identifier: Apache-2.0
//
// The service cgproxy serves inside a container: every call is forwarded to the host's daemon as
// the matching *Scm call, with the caller's credentials (and the victim pid, or the new owner)
// sent as SCM_CREDENTIALS, so that the kernel translates them into the host's namespaces
// (docs/dbus-api.md, "cgproxy"). The host's answer, error name and message included, is relayed as it is.
//
//  - Ping and api_version are answered by the proxy itself (the bus layer does that).
//  - ListControllers is forwarded as a plain call.
//  - Plain calls that name pids need the caller in the proxy's pid namespace, plain Chown in its
//    user namespace (as on the host, one level down).
//  - An *Scm call to the proxy must carry the peer's own credentials: proxies do not chain.
//  - Each event loop thread has its own connection to the host, made on first use and again after
//    it broke; a host that is away makes calls fail at once instead of freezing the proxy.
#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "cgmanager/client.h"
#include "core/proc_source.h"
#include "core/service.h"

namespace cgm::proxy {

class ProxyService final : public CgroupService {
public:
    ProxyService(std::string host_socket, std::chrono::milliseconds timeout, const ProcSource& proc)
        : host_socket_(std::move(host_socket)), timeout_(timeout), proc_(proc) {}

    Result<std::string> get_pid_cgroup(const Caller& c, std::string_view controller, int32_t pid) const override;
    Result<std::string> get_pid_cgroup_abs(const Caller& c, std::string_view controller, int32_t pid) const override;
    Result<Existed> create(const Caller& c, std::string_view controller, std::string_view cgroup) const override;
    Result<void> chown(const Caller& c, std::string_view controller, std::string_view cgroup, int64_t uid,
                       int64_t gid) const override;
    Result<void> chmod(const Caller& c, std::string_view controller, std::string_view cgroup, std::string_view file,
                       int32_t mode) const override;
    Result<void> move_pid(const Caller& c, std::string_view controller, std::string_view cgroup,
                          int32_t pid) const override;
    Result<void> move_pid_abs(const Caller& c, std::string_view controller, std::string_view cgroup,
                              int32_t pid) const override;
    Result<std::string> get_value(const Caller& c, std::string_view controller, std::string_view cgroup,
                                  std::string_view key) const override;
    Result<void> set_value(const Caller& c, std::string_view controller, std::string_view cgroup, std::string_view key,
                           std::string_view value) const override;
    Result<Existed> remove(const Caller& c, std::string_view controller, std::string_view cgroup,
                           bool recursive) const override;
    Result<std::vector<int32_t>> get_tasks(const Caller& c, std::string_view controller,
                                           std::string_view cgroup) const override;
    Result<std::vector<int32_t>> get_tasks_recursive(const Caller& c, std::string_view controller,
                                                     std::string_view cgroup) const override;
    Result<std::vector<std::string>> list_children(const Caller& c, std::string_view controller,
                                                   std::string_view cgroup) const override;
    Result<void> remove_on_empty(const Caller& c, std::string_view controller, std::string_view cgroup) const override;
    Result<void> prune(const Caller& c, std::string_view controller, std::string_view cgroup) const override;
    Result<std::vector<std::string>> list_controllers() const override;
    Result<std::vector<KeyInfo>> list_keys(const Caller& c, std::string_view controller,
                                           std::string_view cgroup) const override;

private:
    /// Run `f` with this thread's connection to the host; a connection that broke is dropped so
    /// that the next call connects anew.
    template <typename F>
    auto with_host(F&& f) const -> decltype(f(std::declval<client::Client&>()));
    Result<void> admit(const Caller& c) const;
    Result<void> same_ns(const Caller& c, std::string_view type, std::string_view refusal) const;

    std::string host_socket_;
    std::chrono::milliseconds timeout_;
    const ProcSource& proc_;
    mutable std::mutex mu_;
    mutable std::map<std::thread::id, std::unique_ptr<client::Client>> clients_;
};

}  // namespace cgm::proxy
