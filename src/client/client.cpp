// SPDX-License-Identifier: Apache-2.0
#include "cgmanager/client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <functional>

#include <sdbus-c++/sdbus-c++.h>

#include "cgmanager/cgmanager-proxy.h"
#include "cgmanager/names.h"
#include "core/scm_wire.h"
#include "core/sys.h"

namespace cgm::client {

namespace {

class CgmProxy final : public sdbus::ProxyInterfaces<org::linuxcontainers::cgmanager0_0_proxy> {
public:
    explicit CgmProxy(sdbus::IConnection& conn) : ProxyInterfaces(conn, "org.linuxcontainers.cgmanager", kObjectPath) {
        registerProxy();
    }
    ~CgmProxy() { unregisterProxy(); }
};

bool is_socket(const std::string& path) {
    struct stat st {};
    return ::stat(path.c_str(), &st) == 0 && S_ISSOCK(st.st_mode);
}

// A failure the daemon reported over D-Bus.
Error from_bus_error(const sdbus::Error& e) {
    Error err(kind_for_error_name(e.getName()), e.getMessage());
    err.name = e.getName();
    return err;
}

// Run one proxy call, turning exceptions into Errors.
template <typename F>
auto guarded(F&& f) -> Result<decltype(f())> {
    try {
        if constexpr (std::is_void_v<decltype(f())>) {
            f();
            return ok();
        } else {
            return f();
        }
    } catch (const sdbus::Error& e) {
        return from_bus_error(e);
    } catch (const std::exception& e) {
        return make_error(ErrorKind::Failed, "{}", e.what());
    }
}

// ---------------------------------------------------------------------------------------------
// The client side of an *Scm exchange (docs/dbus-api.md section 5): a datagram socketpair whose far end goes to
// the daemon; kicks and results arrive on the near end, credentials go out of it.

using Clock = std::chrono::steady_clock;

class ScmSocket {
public:
    static Result<ScmSocket> create() {
        int sv[2];
        if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
            return errno_error(errno, "socketpair");
        ScmSocket s(sv[0], sv[1]);
        int one = 1;
        for (int fd : sv)
            if (::setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0)
                return errno_error(errno, "setting SO_PASSCRED");
        return s;
    }
    ScmSocket(ScmSocket&& o) noexcept : near_(o.near_), far_(o.far_) { o.near_ = o.far_ = -1; }
    ~ScmSocket() {
        if (near_ >= 0)
            ::close(near_);
        if (far_ >= 0)
            ::close(far_);
    }
    int far_end() const { return far_; }

    /// Wait for one datagram; its bytes (and the pid of its credentials, if asked).
    Result<std::string> receive(Clock::time_point deadline, pid_t* cred_pid = nullptr) {
        for (;;) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
            if (left <= 0)
                return make_error(ErrorKind::Timeout, "the daemon did not answer on the credential socket in time");
            struct pollfd p = {near_, POLLIN, 0};
            int n = ::poll(&p, 1, static_cast<int>(left));
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0)
                continue;
            // Size the datagram first: values and lists can be large, and must arrive whole.
            ssize_t size = ::recv(near_, nullptr, 0, MSG_PEEK | MSG_TRUNC | MSG_DONTWAIT);
            if (size < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    continue;
                return errno_error(errno, "reading the credential socket");
            }
            std::string buf(static_cast<size_t>(size) + 1, '\0');
            alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(struct ucred))];
            struct iovec iov = {buf.data(), buf.size()};
            struct msghdr msg {};
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control;
            msg.msg_controllen = sizeof control;
            ssize_t got = ::recvmsg(near_, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
            if (got < 0) {
                if (errno == EAGAIN || errno == EINTR)
                    continue;
                return errno_error(errno, "reading the credential socket");
            }
            if (msg.msg_flags & MSG_TRUNC)
                return make_error(ErrorKind::Failed, "a datagram from the daemon was cut short");
            buf.resize(static_cast<size_t>(got));
            if (cred_pid) {
                *cred_pid = 0;
                for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c))
                    if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
                        c->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
                        struct ucred uc;
                        std::memcpy(&uc, CMSG_DATA(c), sizeof uc);
                        *cred_pid = uc.pid;
                    }
            }
            return buf;
        }
    }

    /// Wait for the daemon's kick (one byte '1').
    Result<void> kick(Clock::time_point deadline) {
        auto k = CGM_TRY(receive(deadline));
        if (k != "1")
            return make_error(ErrorKind::Failed, "unexpected {}-byte datagram instead of the daemon's kick", k.size());
        return ok();
    }

    /// Send one credential (the kernel checks it, and translates it for the daemon).
    Result<void> send_cred(const Cred& c) {
        if (sys::send_credentials(near_, c.pid, c.uid, c.gid, MSG_NOSIGNAL) < 0)
            return errno_error(errno, "sending credentials {}:{}:{}", c.pid, c.uid, c.gid);
        return ok();
    }

    /// After a failure result the daemon sends the reason in one more datagram
    /// ("ERROR <name>\n<message>"); daemons that do not, leave the socket silent.
    Error failure(Clock::time_point deadline) {
        auto soon = std::min(deadline, Clock::now() + std::chrono::milliseconds(500));
        auto detail = receive(soon);
        if (auto d = detail ? scm_wire::read_error(*detail) : std::nullopt) {
            Error e(kind_for_error_name(d->name), d->message);
            e.name = d->name;
            return e;
        }
        return make_error(ErrorKind::Failed, "the daemon refused the request");
    }

private:
    ScmSocket(int near, int far) : near_(near), far_(far) {}
    int near_;
    int far_;
};

// Connect to the daemon's socket and hang up, to learn whether a bus connection can work.
Result<void> probe_socket(const std::string& path) {
    const std::string what = fmt::format("cannot connect to cgmanager at {}", path);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path)
        return Error(ErrorKind::InvalidArgs, what + ": the path is too long for a unix socket");
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return Error::from_errno(errno, what);
    const int r = ::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr);
    const int err = errno;
    ::close(fd);
    if (r < 0)
        return Error::from_errno(err, what);
    return ok();
}

}  // namespace

Cred Cred::self() {
    return Cred{::getpid(), ::getuid(), ::getgid()};
}

std::string socket_path(const std::string& explicit_path) {
    if (!explicit_path.empty())
        return explicit_path;
    if (const char* env = std::getenv(kSocketEnv); env && *env)
        return env;
    if (is_socket(kLegacySocketPath))
        return kLegacySocketPath;
    return kRunSocketPath;
}

struct Client::Impl {
    std::string socket;
    std::chrono::milliseconds timeout{};
    std::unique_ptr<sdbus::IConnection> conn;
    std::unique_ptr<CgmProxy> proxy;
    bool fds_ready = false;

    // An *Scm call: send it with the far end, then run the exchange on the near end.
    template <typename Exchange>
    auto scm(const std::function<void(const sdbus::UnixFd&)>& call, Exchange&& exchange)
        -> decltype(exchange(std::declval<ScmSocket&>(), Clock::time_point())) {
        auto deadline = Clock::now() + timeout;
        // The original clients make one round trip first, so that fd passing is known to work.
        if (!fds_ready) {
            CGM_TRY(guarded([&] { proxy->Ping(0); }));
            fds_ready = true;
        }
        auto sock = CGM_TRY(ScmSocket::create());
        CGM_TRY(guarded([&] { call(sdbus::UnixFd(sock.far_end())); }));
        return exchange(sock, deadline);
    }
};

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;

const std::string& Client::socket() const {
    return impl_->socket;
}

Result<std::unique_ptr<Client>> Client::connect(const Options& options) {
    auto impl = std::make_unique<Impl>();
    impl->socket = socket_path(options.socket);
    impl->timeout = options.timeout;
    // sdbus-c++ 1.2.0 leaks its half-made bus when the connect fails (as it does for a stale
    // socket, over and over in a proxy whose host daemon is down), so a plain connect finds the
    // failures first: no socket there, something else at the path, nobody listening.
    if (auto probe = probe_socket(impl->socket); !probe)
        return std::move(probe).error();
    try {
        impl->conn = sdbus::createSessionBusConnectionWithAddress("unix:path=" + impl->socket);
        impl->conn->setMethodCallTimeout(std::chrono::duration_cast<std::chrono::microseconds>(options.timeout));
        impl->proxy = std::make_unique<CgmProxy>(*impl->conn);
    } catch (const sdbus::Error& e) {
        Error err = from_bus_error(e);
        err.message = fmt::format("cannot connect to cgmanager at {}: {}", impl->socket, e.getMessage());
        return err;
    }
    return std::unique_ptr<Client>(new Client(std::move(impl)));
}

// ---- plain methods ------------------------------------------------------------------------------

Result<void> Client::ping() {
    return guarded([&] { impl_->proxy->Ping(0); });
}
Result<int32_t> Client::api_version() {
    return guarded([&] { return impl_->proxy->api_version(); });
}
Result<std::string> Client::get_pid_cgroup(const std::string& c, int32_t pid) {
    return guarded([&] { return impl_->proxy->GetPidCgroup(c, pid); });
}
Result<std::string> Client::get_pid_cgroup_abs(const std::string& c, int32_t pid) {
    return guarded([&] { return impl_->proxy->GetPidCgroupAbs(c, pid); });
}
Result<int32_t> Client::create(const std::string& c, const std::string& cg) {
    return guarded([&] { return impl_->proxy->Create(c, cg); });
}
Result<void> Client::chown(const std::string& c, const std::string& cg, int32_t uid, int32_t gid) {
    return guarded([&] { impl_->proxy->Chown(c, cg, uid, gid); });
}
Result<void> Client::chmod(const std::string& c, const std::string& cg, const std::string& file, int32_t mode) {
    return guarded([&] { impl_->proxy->Chmod(c, cg, file, mode); });
}
Result<void> Client::move_pid(const std::string& c, const std::string& cg, int32_t pid) {
    return guarded([&] { impl_->proxy->MovePid(c, cg, pid); });
}
Result<void> Client::move_pid_abs(const std::string& c, const std::string& cg, int32_t pid) {
    return guarded([&] { impl_->proxy->MovePidAbs(c, cg, pid); });
}
Result<std::string> Client::get_value(const std::string& c, const std::string& cg, const std::string& key) {
    return guarded([&] { return impl_->proxy->GetValue(c, cg, key); });
}
Result<void> Client::set_value(const std::string& c, const std::string& cg, const std::string& key,
                               const std::string& value) {
    return guarded([&] { impl_->proxy->SetValue(c, cg, key, value); });
}
Result<int32_t> Client::remove(const std::string& c, const std::string& cg, bool recursive) {
    return guarded([&] { return impl_->proxy->Remove(c, cg, recursive ? 1 : 0); });
}
Result<std::vector<int32_t>> Client::get_tasks(const std::string& c, const std::string& cg) {
    return guarded([&] { return impl_->proxy->GetTasks(c, cg); });
}
Result<std::vector<int32_t>> Client::get_tasks_recursive(const std::string& c, const std::string& cg) {
    return guarded([&] { return impl_->proxy->GetTasksRecursive(c, cg); });
}
Result<std::vector<std::string>> Client::list_children(const std::string& c, const std::string& cg) {
    return guarded([&] { return impl_->proxy->ListChildren(c, cg); });
}
Result<void> Client::remove_on_empty(const std::string& c, const std::string& cg) {
    return guarded([&] { impl_->proxy->RemoveOnEmpty(c, cg); });
}
Result<void> Client::prune(const std::string& c, const std::string& cg) {
    return guarded([&] { impl_->proxy->Prune(c, cg); });
}
Result<std::vector<std::string>> Client::list_controllers() {
    return guarded([&] { return impl_->proxy->ListControllers(); });
}
Result<std::vector<Key>> Client::list_keys(const std::string& c, const std::string& cg) {
    return guarded([&] {
        std::vector<Key> keys;
        for (const auto& k : impl_->proxy->ListKeys(c, cg))
            keys.push_back(Key{k.get<0>(), k.get<1>(), k.get<2>(), k.get<3>()});
        return keys;
    });
}

// ---- *Scm methods -----------------------------------------------------------------------------------

namespace {

// Result shapes (docs/dbus-api.md, "Results"; core/scm_wire.h), read after the credentials went
// out. A failure result is followed by the reason (ScmSocket::failure).
Result<void> status_result(ScmSocket& s, Clock::time_point deadline) {
    if (CGM_TRY(scm_wire::read_status(CGM_TRY(s.receive(deadline)))))
        return ok();
    return s.failure(deadline);
}

Result<int32_t> existed_result(ScmSocket& s, Clock::time_point deadline) {
    if (auto e = CGM_TRY(scm_wire::read_existed(CGM_TRY(s.receive(deadline)))))
        return *e;
    return s.failure(deadline);
}

Result<std::string> string_result(ScmSocket& s, Clock::time_point deadline) {
    if (auto t = CGM_TRY(scm_wire::read_text(CGM_TRY(s.receive(deadline)))))
        return std::move(*t);
    return s.failure(deadline);
}

Result<int32_t> count_result(ScmSocket& s, Clock::time_point deadline) {
    if (auto n = CGM_TRY(scm_wire::read_count(CGM_TRY(s.receive(deadline)))))
        return *n;
    return s.failure(deadline);
}

Result<std::vector<int32_t>> pids_result(ScmSocket& s, Clock::time_point deadline) {
    int32_t n = CGM_TRY(count_result(s, deadline));
    std::vector<int32_t> pids;
    for (int32_t i = 0; i < n; ++i) {
        pid_t pid = 0;
        CGM_TRY(s.receive(deadline, &pid));
        pids.push_back(pid);  // translated by the kernel into our pid namespace
    }
    return pids;
}

// count, then length, then one blob.
Result<std::string> blob_result(ScmSocket& s, Clock::time_point deadline, int32_t& count) {
    count = CGM_TRY(count_result(s, deadline));
    if (count == 0)
        return std::string();
    const uint32_t want = CGM_TRY(scm_wire::read_length(CGM_TRY(s.receive(deadline))));
    auto blob = CGM_TRY(s.receive(deadline));
    if (blob.size() != want)
        return make_error(ErrorKind::Failed, "the daemon announced {} bytes and sent {}", want, blob.size());
    return blob;
}

Result<std::vector<std::string>> names_result(ScmSocket& s, Clock::time_point deadline) {
    int32_t count = 0;
    auto blob = CGM_TRY(blob_result(s, deadline, count));
    return scm_wire::read_names(blob, count);
}

Result<std::vector<Key>> keys_result(ScmSocket& s, Clock::time_point deadline) {
    int32_t count = 0;
    auto blob = CGM_TRY(blob_result(s, deadline, count));
    std::vector<Key> keys;
    for (auto& k : CGM_TRY(scm_wire::read_keys(blob, count)))
        keys.push_back(Key{std::move(k.name), k.uid, k.gid, k.mode});
    return keys;
}

// The credential part of an exchange: the requestor, and for some methods a second credential.
Result<void> send_creds(ScmSocket& s, Clock::time_point deadline, const Cred& requestor,
                        const std::optional<Cred>& second) {
    CGM_TRY(s.kick(deadline));
    CGM_TRY(s.send_cred(requestor));
    if (second) {
        CGM_TRY(s.kick(deadline));
        CGM_TRY(s.send_cred(*second));
    }
    return ok();
}

Cred victim_cred(pid_t pid) {
    return Cred{pid, 0, 0};
}

}  // namespace

Result<std::string> Client::get_pid_cgroup_scm(const std::string& c, const Cred& r, pid_t victim) {
    return impl_->scm([&](const sdbus::UnixFd& fd) { impl_->proxy->GetPidCgroupScm(c, fd); },
                      [&](ScmSocket& s, Clock::time_point d) -> Result<std::string> {
                          CGM_TRY(send_creds(s, d, r, victim_cred(victim)));
                          return string_result(s, d);
                      });
}

Result<std::string> Client::get_pid_cgroup_abs_scm(const std::string& c, const Cred& r, pid_t victim) {
    return impl_->scm([&](const sdbus::UnixFd& fd) { impl_->proxy->GetPidCgroupAbsScm(c, fd); },
                      [&](ScmSocket& s, Clock::time_point d) -> Result<std::string> {
                          CGM_TRY(send_creds(s, d, r, victim_cred(victim)));
                          return string_result(s, d);
                      });
}

Result<int32_t> Client::create_scm(const std::string& c, const std::string& cg, const Cred& r) {
    return impl_->scm([&](const sdbus::UnixFd& fd) { impl_->proxy->CreateScm(c, cg, fd); },
                      [&](ScmSocket& s, Clock::time_point d) -> Result<int32_t> {
                          CGM_TRY(send_creds(s, d, r, std::nullopt));
                          return existed_result(s, d);
                      });
}

Result<void> Client::chown_scm(const std::string& c, const std::string& cg, const Cred& r, const Cred& owner) {
    return impl_->scm([&](const sdbus::UnixFd& fd) { impl_->proxy->ChownScm(c, cg, fd); },
                      [&](ScmSocket& s, Clock::time_point d) -> Result<void> {
                          CGM_TRY(send_creds(s, d, r, owner));
                          return status_result(s, d);
                      });
}

Result<void> Client::chmod_scm(const std::string& c, const std::string& cg, const std::string& file, int32_t mode,
                               const Cred& r) {
    return impl_->scm([&](const sdbus::UnixFd& fd) { impl_->proxy->ChmodScm(c, cg, file, mode, fd); },
                      [&](ScmSocket& s, Clock::time_point d) -> Result<void> {
                          CGM_TRY(send_creds(s, d, r, std::nullopt));
                          return status_result(s, d);
                      });
}

Result<void> Client::move_pid_scm(const std::string& c, const std::string& cg, const Cred& r, pid_t victim) {
    return impl_->scm([&](const sdbus::UnixFd& fd) { impl_->proxy->MovePidScm(c, cg, fd); },
                      [&](ScmSocket& s, Clock::time_point d) -> Result<void> {
                          CGM_TRY(send_creds(s, d, r, victim_cred(victim)));
                          return status_result(s, d);
                      });
}

Result<void> Client::move_pid_abs_scm(const std::string& c, const std::string& cg, const Cred& r, pid_t victim) {
    return impl_->scm([&](const sdbus::UnixFd& fd) { impl_->proxy->MovePidAbsScm(c, cg, fd); },
                      [&](ScmSocket& s, Clock::time_point d) -> Result<void> {
                          CGM_TRY(send_creds(s, d, r, victim_cred(victim)));
                          return status_result(s, d);
                      });
}

Result<std::string> Client::get_value_scm(const std::string& c, const std::string& cg, const std::string& key,
                                          const Cred& r) {
    return impl_->scm([&](const sdbus::UnixFd& fd) { impl_->proxy->GetValueScm(c, cg, key, fd); },
                      [&](ScmSocket& s, Clock::time_point d) -> Result<std::string> {
                          CGM_TRY(send_creds(s, d, r, std::nullopt));
                          return string_result(s, d);
                      });
}

Result<void> Client::set_value_scm(const std::string& c, const std::string& cg, const std::string& key,
                                   const std::string& value, const Cred& r) {
    return impl_->scm([&](const sdbus::UnixFd& fd) { impl_->proxy->SetValueScm(c, cg, key, value, fd); },
                      [&](ScmSocket& s, Clock::time_point d) -> Result<void> {
                          CGM_TRY(send_creds(s, d, r, std::nullopt));
                          return status_result(s, d);
                      });
}

Result<int32_t> Client::remove_scm(const std::string& c, const std::string& cg, bool recursive, const Cred& r) {
    return impl_->scm([&](const sdbus::UnixFd& fd) { impl_->proxy->RemoveScm(c, cg, recursive ? 1 : 0, fd); },
                      [&](ScmSocket& s, Clock::time_point d) -> Result<int32_t> {
                          CGM_TRY(send_creds(s, d, r, std::nullopt));
                          return existed_result(s, d);
                      });
}

Result<std::vector<int32_t>> Client::get_tasks_scm(const std::string& c, const std::string& cg, const Cred& r) {
    return impl_->scm([&](const sdbus::UnixFd& fd) { impl_->proxy->GetTasksScm(c, cg, fd); },
                      [&](ScmSocket& s, Clock::time_point d) -> Result<std::vector<int32_t>> {
                          CGM_TRY(send_creds(s, d, r, std::nullopt));
                          return pids_result(s, d);
                      });
}

Result<std::vector<int32_t>> Client::get_tasks_recursive_scm(const std::string& c, const std::string& cg,
                                                             const Cred& r) {
    return impl_->scm([&](const sdbus::UnixFd& fd) { impl_->proxy->GetTasksRecursiveScm(c, cg, fd); },
                      [&](ScmSocket& s, Clock::time_point d) -> Result<std::vector<int32_t>> {
                          CGM_TRY(send_creds(s, d, r, std::nullopt));
                          return pids_result(s, d);
                      });
}

Result<std::vector<std::string>> Client::list_children_scm(const std::string& c, const std::string& cg, const Cred& r) {
    return impl_->scm([&](const sdbus::UnixFd& fd) { impl_->proxy->ListChildrenScm(c, cg, fd); },
                      [&](ScmSocket& s, Clock::time_point d) -> Result<std::vector<std::string>> {
                          CGM_TRY(send_creds(s, d, r, std::nullopt));
                          return names_result(s, d);
                      });
}

Result<void> Client::remove_on_empty_scm(const std::string& c, const std::string& cg, const Cred& r) {
    return impl_->scm([&](const sdbus::UnixFd& fd) { impl_->proxy->RemoveOnEmptyScm(c, cg, fd); },
                      [&](ScmSocket& s, Clock::time_point d) -> Result<void> {
                          CGM_TRY(send_creds(s, d, r, std::nullopt));
                          return status_result(s, d);
                      });
}

Result<void> Client::prune_scm(const std::string& c, const std::string& cg, const Cred& r) {
    return impl_->scm([&](const sdbus::UnixFd& fd) { impl_->proxy->PruneScm(c, cg, fd); },
                      [&](ScmSocket& s, Clock::time_point d) -> Result<void> {
                          CGM_TRY(send_creds(s, d, r, std::nullopt));
                          return status_result(s, d);
                      });
}

Result<std::vector<Key>> Client::list_keys_scm(const std::string& c, const std::string& cg, const Cred& r) {
    return impl_->scm([&](const sdbus::UnixFd& fd) { impl_->proxy->ListKeysScm(c, cg, fd); },
                      [&](ScmSocket& s, Clock::time_point d) -> Result<std::vector<Key>> {
                          CGM_TRY(send_creds(s, d, r, std::nullopt));
                          return keys_result(s, d);
                      });
}

}  // namespace cgm::client
