// SPDX-License-Identifier: Apache-2.0
#include "cgproxy/proxy_service.h"

#include <unistd.h>

namespace cgm::proxy {

namespace {

client::Cred cred(const Ucred& u) {
    return client::Cred{u.pid, u.uid, u.gid};
}

std::string str(std::string_view s) {
    return std::string(s);
}

Result<Existed> existed(Result<int32_t> r) {
    if (!r)
        return std::move(r).error();
    return *r == 1 ? Existed::Yes : Existed::No;
}

}  // namespace

namespace {

// An error that says the connection itself broke (not a refusal from the host's daemon).
bool transport_error(const Error& e) {
    return e.name.rfind("System.Error.", 0) == 0 || e.name == "org.freedesktop.DBus.Error.Disconnected" ||
           e.name == "org.freedesktop.DBus.Error.NoServer";
}

}  // namespace

template <typename F>
auto ProxyService::with_host(F&& f) const -> decltype(f(std::declval<client::Client&>())) {
    // Two tries: a connection that broke since the last call (the host daemon restarted) fails at
    // once, before anything reached the host, and is replaced by a fresh one.
    for (int attempt = 0;; ++attempt) {
        client::Client* c = nullptr;
        {
            std::lock_guard lock(mu_);
            auto& slot = clients_[std::this_thread::get_id()];
            if (!slot) {
                auto made = client::Client::connect({host_socket_, timeout_});
                if (!made)
                    return make_error(ErrorKind::Failed, "the host's cgmanager is not reachable: {}",
                                      made.error().message);
                slot = std::move(made).value();
            }
            c = slot.get();
        }
        auto result = f(*c);
        if (result || !transport_error(result.error()))
            return result;
        {
            std::lock_guard lock(mu_);
            clients_.erase(std::this_thread::get_id());
        }
        if (attempt == 1)
            return result;
    }
}

Result<void> ProxyService::admit(const Caller& c) const {
    if (c.transport == Transport::Scm && !(c.proxy == c.requestor))
        return make_error(ErrorKind::AccessDenied,
                          "proxy != requestor: pid {} sent the credentials of pid {}, and proxies do not chain",
                          c.proxy.pid, c.requestor.pid);
    return ok();
}

Result<void> ProxyService::same_ns(const Caller& c, std::string_view type, std::string_view refusal) const {
    if (c.transport != Transport::Plain)
        return ok();
    if (!CGM_TRY(proc_.same_namespace(c.requestor.pid, type)))
        return Error(ErrorKind::AccessDenied, std::string(refusal));
    return ok();
}

Result<std::string> ProxyService::get_pid_cgroup(const Caller& c, std::string_view controller, int32_t pid) const {
    CGM_TRY(admit(c));
    CGM_TRY(same_ns(c, "pid", "GetPidCgroup called from a different pid namespace than the proxy's"));
    return with_host([&](client::Client& h) { return h.get_pid_cgroup_scm(str(controller), cred(c.requestor), pid); });
}

Result<std::string> ProxyService::get_pid_cgroup_abs(const Caller& c, std::string_view controller, int32_t pid) const {
    CGM_TRY(admit(c));
    CGM_TRY(same_ns(c, "pid", "GetPidCgroupAbs called from a different pid namespace than the proxy's"));
    return with_host(
        [&](client::Client& h) { return h.get_pid_cgroup_abs_scm(str(controller), cred(c.requestor), pid); });
}

Result<Existed> ProxyService::create(const Caller& c, std::string_view controller, std::string_view cgroup) const {
    CGM_TRY(admit(c));
    return existed(
        with_host([&](client::Client& h) { return h.create_scm(str(controller), str(cgroup), cred(c.requestor)); }));
}

Result<void> ProxyService::chown(const Caller& c, std::string_view controller, std::string_view cgroup, int64_t uid,
                                 int64_t gid) const {
    CGM_TRY(admit(c));
    CGM_TRY(same_ns(c, "user", "Chown called from a different user namespace than the proxy's"));
    if (uid < 0 || gid < 0 || uid >= 0xffffffffLL || gid >= 0xffffffffLL)
        return make_error(ErrorKind::InvalidArgs, "invalid owner {}:{}", uid, gid);
    // The new owner travels as a credential of the proxy itself, so the kernel maps it.
    client::Cred owner{::getpid(), static_cast<uid_t>(uid), static_cast<gid_t>(gid)};
    return with_host(
        [&](client::Client& h) { return h.chown_scm(str(controller), str(cgroup), cred(c.requestor), owner); });
}

Result<void> ProxyService::chmod(const Caller& c, std::string_view controller, std::string_view cgroup,
                                 std::string_view file, int32_t mode) const {
    CGM_TRY(admit(c));
    return with_host([&](client::Client& h) {
        return h.chmod_scm(str(controller), str(cgroup), str(file), mode, cred(c.requestor));
    });
}

Result<void> ProxyService::move_pid(const Caller& c, std::string_view controller, std::string_view cgroup,
                                    int32_t pid) const {
    CGM_TRY(admit(c));
    CGM_TRY(same_ns(c, "pid", "MovePid from a different pid namespace than the proxy's"));
    return with_host(
        [&](client::Client& h) { return h.move_pid_scm(str(controller), str(cgroup), cred(c.requestor), pid); });
}

Result<void> ProxyService::move_pid_abs(const Caller& c, std::string_view controller, std::string_view cgroup,
                                        int32_t pid) const {
    CGM_TRY(admit(c));
    CGM_TRY(same_ns(c, "pid", "MovePidAbs from a different pid namespace than the proxy's"));
    return with_host(
        [&](client::Client& h) { return h.move_pid_abs_scm(str(controller), str(cgroup), cred(c.requestor), pid); });
}

Result<std::string> ProxyService::get_value(const Caller& c, std::string_view controller, std::string_view cgroup,
                                            std::string_view key) const {
    CGM_TRY(admit(c));
    return with_host(
        [&](client::Client& h) { return h.get_value_scm(str(controller), str(cgroup), str(key), cred(c.requestor)); });
}

Result<void> ProxyService::set_value(const Caller& c, std::string_view controller, std::string_view cgroup,
                                     std::string_view key, std::string_view value) const {
    CGM_TRY(admit(c));
    return with_host([&](client::Client& h) {
        return h.set_value_scm(str(controller), str(cgroup), str(key), str(value), cred(c.requestor));
    });
}

Result<Existed> ProxyService::remove(const Caller& c, std::string_view controller, std::string_view cgroup,
                                     bool recursive) const {
    CGM_TRY(admit(c));
    return existed(with_host(
        [&](client::Client& h) { return h.remove_scm(str(controller), str(cgroup), recursive, cred(c.requestor)); }));
}

Result<std::vector<int32_t>> ProxyService::get_tasks(const Caller& c, std::string_view controller,
                                                     std::string_view cgroup) const {
    CGM_TRY(admit(c));
    return with_host(
        [&](client::Client& h) { return h.get_tasks_scm(str(controller), str(cgroup), cred(c.requestor)); });
}

Result<std::vector<int32_t>> ProxyService::get_tasks_recursive(const Caller& c, std::string_view controller,
                                                               std::string_view cgroup) const {
    CGM_TRY(admit(c));
    return with_host(
        [&](client::Client& h) { return h.get_tasks_recursive_scm(str(controller), str(cgroup), cred(c.requestor)); });
}

Result<std::vector<std::string>> ProxyService::list_children(const Caller& c, std::string_view controller,
                                                             std::string_view cgroup) const {
    CGM_TRY(admit(c));
    return with_host(
        [&](client::Client& h) { return h.list_children_scm(str(controller), str(cgroup), cred(c.requestor)); });
}

Result<void> ProxyService::remove_on_empty(const Caller& c, std::string_view controller,
                                           std::string_view cgroup) const {
    CGM_TRY(admit(c));
    return with_host(
        [&](client::Client& h) { return h.remove_on_empty_scm(str(controller), str(cgroup), cred(c.requestor)); });
}

Result<void> ProxyService::prune(const Caller& c, std::string_view controller, std::string_view cgroup) const {
    CGM_TRY(admit(c));
    return with_host([&](client::Client& h) { return h.prune_scm(str(controller), str(cgroup), cred(c.requestor)); });
}

Result<std::vector<std::string>> ProxyService::list_controllers() const {
    return with_host([&](client::Client& h) { return h.list_controllers(); });
}

Result<std::vector<KeyInfo>> ProxyService::list_keys(const Caller& c, std::string_view controller,
                                                     std::string_view cgroup) const {
    CGM_TRY(admit(c));
    auto keys = CGM_TRY(
        with_host([&](client::Client& h) { return h.list_keys_scm(str(controller), str(cgroup), cred(c.requestor)); }));
    std::vector<KeyInfo> out;
    out.reserve(keys.size());
    for (const auto& k : keys)
        out.push_back(KeyInfo{k.name, k.uid, k.gid, k.perms});
    return out;
}

}  // namespace cgm::proxy
