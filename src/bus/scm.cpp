// SPDX-License-Identifier: Apache-2.0
#include "bus/scm.h"

#include <fcntl.h>
#include <stddef.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <string>

#include <spdlog/spdlog.h>

#include "bus/bus_error.h"
#include "bus/connection.h"
#include "bus/methods.h"
#include "bus/pin.h"
#include "core/proc_source.h"
#include "core/scm_wire.h"
#include "core/service.h"

#ifndef SO_PASSPIDFD
#define SO_PASSPIDFD 76
#endif
#ifndef SCM_PIDFD
#define SCM_PIDFD 0x04
#endif

namespace cgm::bus {

namespace {

const char* method_name(ScmMethod m) {
    switch (m) {
    case ScmMethod::GetPidCgroup: return "GetPidCgroupScm";
    case ScmMethod::GetPidCgroupAbs: return "GetPidCgroupAbsScm";
    case ScmMethod::Create: return "CreateScm";
    case ScmMethod::Chown: return "ChownScm";
    case ScmMethod::Chmod: return "ChmodScm";
    case ScmMethod::MovePid: return "MovePidScm";
    case ScmMethod::MovePidAbs: return "MovePidAbsScm";
    case ScmMethod::GetValue: return "GetValueScm";
    case ScmMethod::SetValue: return "SetValueScm";
    case ScmMethod::Remove: return "RemoveScm";
    case ScmMethod::GetTasks: return "GetTasksScm";
    case ScmMethod::GetTasksRecursive: return "GetTasksRecursiveScm";
    case ScmMethod::ListChildren: return "ListChildrenScm";
    case ScmMethod::RemoveOnEmpty: return "RemoveOnEmptyScm";
    case ScmMethod::Prune: return "PruneScm";
    case ScmMethod::ListKeys: return "ListKeysScm";
    }
    return "?";
}

// Methods whose second credential names a victim pid or the new owner.
bool needs_victim(ScmMethod m) {
    return m == ScmMethod::GetPidCgroup || m == ScmMethod::GetPidCgroupAbs || m == ScmMethod::MovePid ||
           m == ScmMethod::MovePidAbs || m == ScmMethod::Chown;
}

struct ScmArgs {
    std::string controller;
    std::string cgroup;
    std::string key;     // GetValue/SetValue key, Chmod file
    std::string value;   // SetValue
    int32_t number = 0;  // Chmod mode, Remove recursive
};

// How each method's result travels (core/scm_wire.h). No default: a new method must say.
scm_wire::Shape shape_of(ScmMethod m) {
    switch (m) {
    case ScmMethod::GetPidCgroup:
    case ScmMethod::GetPidCgroupAbs:
    case ScmMethod::GetValue: return scm_wire::Shape::Text;
    case ScmMethod::Create:
    case ScmMethod::Remove: return scm_wire::Shape::Existed;
    case ScmMethod::Chown:
    case ScmMethod::Chmod:
    case ScmMethod::MovePid:
    case ScmMethod::MovePidAbs:
    case ScmMethod::SetValue:
    case ScmMethod::RemoveOnEmpty:
    case ScmMethod::Prune: return scm_wire::Shape::Status;
    case ScmMethod::GetTasks:
    case ScmMethod::GetTasksRecursive: return scm_wire::Shape::Pids;
    case ScmMethod::ListChildren: return scm_wire::Shape::Names;
    case ScmMethod::ListKeys: return scm_wire::Shape::Keys;
    }
    return scm_wire::Shape::Status;
}

// Room for what a credential datagram may carry: the credential, the sender's pidfd (with
// SO_PASSPIDFD) or its timestamp (without), and a little for descriptors someone sent anyway.
constexpr size_t kControlBytes = CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(sizeof(int)) +
                                 CMSG_SPACE(sizeof(struct timespec)) + CMSG_SPACE(2 * sizeof(int));

// One datagram read from the passed socket: its payload size and what came with it. Every
// descriptor that came is owned (pidfd) or closed (SCM_RIGHTS) here.
struct Incoming {
    ssize_t n = -1;
    int err = 0;
    std::string source;  // the sender's address (name_of)
    ReceivedCred cred;
    bool has_cred = false;
    bool had_rights = false;
    bool truncated = false;
};

// A unix socket address for messages and comparisons: "" when it has no name (a socketpair end
// that never sent with SO_PASSCRED), else its path or "@abstract" name.
std::string name_of(const struct sockaddr_un& addr, socklen_t len) {
    if (len <= offsetof(struct sockaddr_un, sun_path))
        return std::string();
    size_t n = std::min<size_t>(len - offsetof(struct sockaddr_un, sun_path), sizeof addr.sun_path);
    if (addr.sun_path[0] == '\0')
        return "@" + std::string(addr.sun_path + 1, n - 1);
    return std::string(addr.sun_path, strnlen(addr.sun_path, n));
}

Incoming read_datagram(int fd) {
    Incoming d;
    char payload[64];
    alignas(struct cmsghdr) char control[kControlBytes];
    struct iovec iov = {payload, sizeof payload};
    struct sockaddr_un from {};
    struct msghdr msg {};
    msg.msg_name = &from;
    msg.msg_namelen = sizeof from;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    do
        d.n = ::recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    while (d.n < 0 && errno == EINTR);
    if (d.n < 0) {
        d.err = errno;
        return d;
    }
    d.truncated = (msg.msg_flags & MSG_CTRUNC) != 0;
    d.source = name_of(from, msg.msg_namelen);
    for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET)
            continue;
        if (c->cmsg_type == SCM_RIGHTS) {
            size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
            for (size_t k = 0; k < count; ++k) {
                int passed;
                std::memcpy(&passed, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
                ::close(passed);
            }
            d.had_rights = true;
        } else if (c->cmsg_type == SCM_CREDENTIALS && c->cmsg_len == CMSG_LEN(sizeof(struct ucred)) && !d.has_cred) {
            struct ucred uc;
            std::memcpy(&uc, CMSG_DATA(c), sizeof uc);
            d.cred.cred = Ucred{uc.pid, uc.uid, uc.gid};
            d.has_cred = true;
        } else if (c->cmsg_type == SCM_PIDFD && c->cmsg_len == CMSG_LEN(sizeof(int))) {
            int pidfd;
            std::memcpy(&pidfd, CMSG_DATA(c), sizeof pidfd);
            d.cred.has_pidfd = true;
            d.cred.pidfd.reset(pidfd >= 0 ? pidfd : -1);  // negative: the sender was reaped
        } else if (c->cmsg_type == SO_TIMESTAMPNS && c->cmsg_len == CMSG_LEN(sizeof(struct timespec))) {
            std::memcpy(&d.cred.sent, CMSG_DATA(c), sizeof d.cred.sent);
            d.cred.has_time = true;
        }
    }
    return d;
}

// The name of the socket a unix socket is connected to (name_of); errno on failure.
Result<std::string> peer_name(int fd) {
    struct sockaddr_un addr {};
    socklen_t len = sizeof addr;
    if (::getpeername(fd, reinterpret_cast<struct sockaddr*>(&addr), &len) < 0)
        return errno_error(errno, "getpeername");
    return name_of(addr, len);
}

// Credentials count only when sent after the kick that asks for them: whatever waits on the socket
// already was queued before the call (by a process that may have exited since).
Result<void> refuse_early_datagrams(int fd) {
    size_t early = 0;
    for (;;) {
        Incoming d = read_datagram(fd);
        if (d.n < 0) {
            if (d.err == EAGAIN)
                break;
            return errno_error(d.err, "reading the passed socket");
        }
        ++early;
    }
    if (early > 0)
        return make_error(
            ErrorKind::AccessDenied,
            "{} datagram{} waited on the passed socket before the daemon asked for credentials; send each "
            "credential after the '1' that asks for it",
            early, early == 1 ? "" : "s");
    return ok();
}

// The passed socket must be one end of a socketpair made by the caller (or by host root): the
// daemon answers only the other end, never a socket bound to a name (a service's).
Result<void> check_pair(int fd, const Ucred& caller) {
    auto name = peer_name(fd);
    if (!name) {
        if (name.error().sys_errno == ENOTCONN)
            return make_error(ErrorKind::InvalidArgs,
                              "the passed socket is not connected: pass one end of a socketpair(AF_UNIX, SOCK_DGRAM)");
        return std::move(name).error().with_context("inspecting the passed socket");
    }
    if (!name->empty())
        return make_error(ErrorKind::InvalidArgs,
                          "the passed socket is connected to {}: pass one end of a socketpair (the daemon answers only "
                          "its other end)",
                          quoted(*name));
    struct ucred maker {};
    socklen_t len = sizeof maker;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &maker, &len) < 0)
        return errno_error(errno, "inspecting the passed socket");
    if (caller.uid != 0 && maker.uid != caller.uid)
        return make_error(ErrorKind::AccessDenied,
                          "the passed socket pair was made by uid {}, not by the caller (uid {})", maker.uid,
                          caller.uid);
    return ok();
}

}  // namespace

// One exchange on one passed socket. Owned by its connection; destroys itself when done.
class ScmExchange {
public:
    ScmExchange(ClientConnection& conn, ScmMethod method, ScmArgs args, UniqueFd fd, bool pidfds)
        : conn_(conn), method_(method), args_(std::move(args)), fd_(std::move(fd)), pidfds_(pidfds) {}
    ~ScmExchange() { conn_.server().release_fds(conn_.peer().uid, kExchangeFds); }
    ScmExchange(const ScmExchange&) = delete;
    ScmExchange& operator=(const ScmExchange&) = delete;

    Result<void> start() {
        sd_event* e = conn_.loop().event();
        sd_event_source* s = nullptr;
        int r = sd_event_add_io(e, &s, fd_.get(), EPOLLIN, on_io, this);
        if (r < 0)
            return errno_error(-r, "watching the passed socket");
        io_.reset(s);
        uint64_t now = 0;
        sd_event_now(e, CLOCK_MONOTONIC, &now);
        r = sd_event_add_time(e, &s, CLOCK_MONOTONIC, now + conn_.server().config().scm_timeout_usec, 10'000,
                              on_timeout, this);
        if (r < 0)
            return errno_error(-r, "adding the exchange timer");
        timer_.reset(s);
        if (send_datagram("1", 0) != 1)
            return errno_error(errno, "Failed to start write on scm fd");
        return ok();
    }

private:
    static int on_io(sd_event_source*, int, uint32_t revents, void* userdata) {
        auto* self = static_cast<ScmExchange*>(userdata);
        if (self->writing_)
            self->flush();
        else
            self->readable(revents);
        return 0;  // `self` may be gone now
    }

    static int on_timeout(sd_event_source*, uint64_t, void* userdata) {
        auto* self = static_cast<ScmExchange*>(userdata);
        Error e = make_error(ErrorKind::Timeout, "the exchange did not complete within {} ms",
                             self->conn_.server().config().scm_timeout_usec / 1000);
        if (self->writing_) {
            // The peer does not read its results: give up on it.
            self->log_failure(e);
            self->finish();
        } else {
            // The credentials never came: the failure result (best effort), then close.
            self->timed_out_ = true;
            self->fail(e);
        }
        return 0;
    }

    // Read every datagram that is there; each must carry one credential and nothing else.
    void readable(uint32_t revents) {
        const int wanted = needs_victim(method_) ? 2 : 1;
        for (;;) {
            Incoming d = read_datagram(fd_.get());
            if (d.n < 0) {
                if (d.err == EAGAIN) {
                    if (revents & (EPOLLHUP | EPOLLERR)) {
                        log_failure(make_error(ErrorKind::Failed,
                                               "the client closed the socket before sending its credentials"));
                        finish();
                    }
                    return;
                }
                log_failure(errno_error(d.err, "reading credentials"));
                finish();
                return;
            }
            if (d.n == 0 && !d.has_cred) {
                log_failure(
                    make_error(ErrorKind::Failed, "the client closed the socket before sending its credentials"));
                finish();
                return;
            }
            if (!heard_) {
                expected_peer_ = d.source;  // only the peer can send to a connected socket
                heard_ = true;
            }
            if (got_ == wanted)
                continue;  // extra datagrams are ignored
            if (!d.has_cred || d.had_rights || d.truncated || d.cred.cred.pid <= 0 ||
                (pidfds_ ? !d.cred.has_pidfd : !d.cred.has_time)) {
                fail(make_error(ErrorKind::InvalidArgs,
                                "a datagram on the passed socket carried no valid credentials (one SCM_CREDENTIALS "
                                "and nothing else)"));
                return;
            }
            // Bind the credential to the process it names, as the kernel saw it when it was sent.
            const bool first = got_ == 0;
            auto pinned = pin_credential(d.cred, first ? "requestor" : needs_victim_pid() ? "victim" : "second", first);
            if (!pinned) {
                if (first)
                    requestor_ = d.cred.cred;  // for the log line
                fail(std::move(pinned).error());
                return;
            }
            ++got_;
            if (first) {
                requestor_ = d.cred.cred;
                requestor_pidfd_ = std::move(pinned).value();
                if (wanted == 2 && send_datagram("1", 0) != 1) {
                    log_failure(errno_error(errno, "writing the second kick"));
                    finish();
                    return;
                }
            } else {
                victim_ = d.cred.cred;
                victim_pidfd_ = std::move(pinned).value();
            }
            if (got_ == wanted) {
                run();
                return;
            }
        }
    }

    bool needs_victim_pid() const { return method_ != ScmMethod::Chown; }

    // All credentials are in: run the operation and queue the result.
    void run() {
        auto ops = conn_.server().service();
        Caller caller = Caller::scm(conn_.peer(), requestor_, conn_.peer_pidfd(), requestor_pidfd_.get());
        if (victim_pidfd_ && needs_victim_pid()) {
            caller.victim_pid = victim_.pid;
            caller.victim_pidfd = victim_pidfd_.get();
        }
        const ScmArgs& a = args_;
        auto status = [&](Result<void> r) {
            if (!r)
                return fail(std::move(r).error());
            queue(scm_wire::status_ok());
            log_ok();
            flush();
        };
        auto text = [&](Result<std::string> r) {
            if (!r)
                return fail(std::move(r).error());
            queue(scm_wire::text(*r));
            log_ok();
            flush();
        };
        auto existed = [&](Result<Existed> r) {
            if (!r)
                return fail(std::move(r).error());
            queue(scm_wire::existed(*r == Existed::Yes));
            log_ok();
            flush();
        };
        auto pids = [&](Result<std::vector<int32_t>> r) {
            if (!r)
                return fail(std::move(r).error());
            queue(scm_wire::count(static_cast<int32_t>(r->size())));
            for (int32_t p : *r)
                outbox_.push_back({"p", p});
            log_ok();
            flush();
        };
        auto names = [&](Result<std::vector<std::string>> r) {
            if (!r)
                return fail(std::move(r).error());
            send_list(r->size(), scm_wire::names_blob(*r));
        };
        auto keys = [&](Result<std::vector<KeyInfo>> r) {
            if (!r)
                return fail(std::move(r).error());
            std::vector<scm_wire::Key> wire;
            for (const auto& k : *r)
                wire.push_back({k.name, k.uid, k.gid, k.perms});
            send_list(r->size(), scm_wire::keys_blob(wire));
        };
        switch (method_) {
        case ScmMethod::GetPidCgroup: return text(ops->get_pid_cgroup(caller, a.controller, victim_.pid));
        case ScmMethod::GetPidCgroupAbs: return text(ops->get_pid_cgroup_abs(caller, a.controller, victim_.pid));
        case ScmMethod::Create: return existed(ops->create(caller, a.controller, a.cgroup));
        case ScmMethod::Chown: return status(ops->chown(caller, a.controller, a.cgroup, victim_.uid, victim_.gid));
        case ScmMethod::Chmod: return status(ops->chmod(caller, a.controller, a.cgroup, a.key, a.number));
        case ScmMethod::MovePid: return status(ops->move_pid(caller, a.controller, a.cgroup, victim_.pid));
        case ScmMethod::MovePidAbs: return status(ops->move_pid_abs(caller, a.controller, a.cgroup, victim_.pid));
        case ScmMethod::GetValue: return text(ops->get_value(caller, a.controller, a.cgroup, a.key));
        case ScmMethod::SetValue: return status(ops->set_value(caller, a.controller, a.cgroup, a.key, a.value));
        case ScmMethod::Remove: return existed(ops->remove(caller, a.controller, a.cgroup, a.number != 0));
        case ScmMethod::GetTasks: return pids(ops->get_tasks(caller, a.controller, a.cgroup));
        case ScmMethod::GetTasksRecursive: return pids(ops->get_tasks_recursive(caller, a.controller, a.cgroup));
        case ScmMethod::ListChildren: return names(ops->list_children(caller, a.controller, a.cgroup));
        case ScmMethod::RemoveOnEmpty: return status(ops->remove_on_empty(caller, a.controller, a.cgroup));
        case ScmMethod::Prune: return status(ops->prune(caller, a.controller, a.cgroup));
        case ScmMethod::ListKeys: return keys(ops->list_keys(caller, a.controller, a.cgroup));
        }
    }

    void send_list(size_t count, const std::string& blob) {
        for (auto& d : scm_wire::list(count, blob))
            queue(std::move(d));
        log_ok();
        flush();
    }

    // The method's failure result (docs/dbus-api.md, "Results"), then close.
    void fail(const Error& e) {
        log_failure(e);
        outbox_.clear();
        queue(scm_wire::failure(shape_of(method_)));
        // The reason, for clients that read on (ours do; the original's stop at the result and
        // never see it). Not with --compat-errors, which hides reasons from clients.
        if (!conn_.server().config().compat_errors)
            queue(scm_wire::error_datagram(error_name(e.kind), wire_message(e.message)));
        flush();
    }

    void queue(std::string bytes) { outbox_.push_back({std::move(bytes), 0}); }

    // Send what is queued; wait for the socket to drain when it is full.
    void flush() {
        writing_ = true;
        while (!outbox_.empty()) {
            auto& d = outbox_.front();
            ssize_t n;
            if (d.cred_pid > 0) {
                n = send_datagram("p", d.cred_pid);
                if (n < 0 && errno == ESRCH && first_sent_pid_ > 0)
                    n = send_datagram("p", first_sent_pid_);  // the task exited meanwhile: keep the count right
                else if (n >= 0 && first_sent_pid_ == 0)
                    first_sent_pid_ = d.cred_pid;
            } else {
                if (d.bytes.size() > 65536) {
                    // A long value or list goes as one datagram: make room for it (root may exceed
                    // the default buffer size).
                    int want = static_cast<int>(std::min<size_t>(d.bytes.size() * 2 + 4096, 64u << 20));
                    (void)::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof want);
                }
                n = send_datagram(d.bytes, 0);
            }
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN && !timed_out_) {
                    sd_event_source_set_io_events(io_.get(), EPOLLOUT);
                    return;
                }
                spdlog::info("pid {} uid {}: {}: writing the result: {}", conn_.peer().pid, conn_.peer().uid,
                             method_name(method_), send_error_.empty() ? std::strerror(errno) : send_error_);
                finish();
                return;
            }
            outbox_.pop_front();
        }
        finish();
    }

    // Every datagram the daemon sends goes to the other end of the pair it was given (checked
    // again before each send: the caller shares the socket and could re-connect it; that end has
    // no name until it sends with SO_PASSCRED, then the one its first credential came from) and carries
    // the caller's credentials, not the daemon's: whoever reads it learns it comes from the
    // caller, as if the caller had sent it. `pid` > 0 names a task instead (task lists).
    ssize_t send_datagram(std::string_view bytes, pid_t pid) {
        send_error_.clear();
        auto name = peer_name(fd_.get());
        if (!name || *name != expected_peer_) {
            send_error_ =
                name ? fmt::format("the passed socket was re-connected to {}; nothing more is sent", quoted(*name))
                     : "the passed socket is no longer connected";
            errno = ENOTCONN;
            return -1;
        }
        if (auto alive = conn_.check_peer_alive(); !alive) {
            send_error_ = alive.error().message;
            errno = ESRCH;
            return -1;
        }
        const Ucred& me = conn_.peer();
        return sys::send_with_credentials(fd_.get(), bytes, pid > 0 ? pid : me.pid, me.uid, me.gid,
                                          MSG_DONTWAIT | MSG_NOSIGNAL);
    }

    void log_ok() {
        if (spdlog::should_log(spdlog::level::info))
            spdlog::info("pid {} uid {} for pid {} uid {}: {}({}) ok", conn_.peer().pid, conn_.peer().uid,
                         requestor_.pid, requestor_.uid, method_name(method_), describe());
    }

    void log_failure(const Error& e) {
        if (spdlog::should_log(spdlog::level::info))
            spdlog::info("pid {} uid {} for pid {} uid {}: {}({}) failed: {}", conn_.peer().pid, conn_.peer().uid,
                         requestor_.pid, requestor_.uid, method_name(method_), describe(), e.message);
    }

    std::string describe() const {
        std::string d = quoted(args_.controller);
        if (method_ != ScmMethod::GetPidCgroup && method_ != ScmMethod::GetPidCgroupAbs)
            d += ", " + quoted(args_.cgroup);
        return d;
    }

    void finish();

    struct Datagram {
        std::string bytes;
        pid_t cred_pid = 0;  // > 0: a task-list entry, sent with SCM_CREDENTIALS of this pid
    };

    ClientConnection& conn_;
    ScmMethod method_;
    ScmArgs args_;
    UniqueFd fd_;
    SourcePtr io_;
    SourcePtr timer_;
    int got_ = 0;
    Ucred requestor_;
    UniqueFd requestor_pidfd_;
    Ucred victim_;
    UniqueFd victim_pidfd_;
    bool pidfds_;  // the kernel pins each credential (SCM_PIDFD); else numbers plus timestamps
    std::string send_error_;
    std::string expected_peer_;  // what getpeername must say before each send
    bool heard_ = false;         // a datagram came (expected_peer_ is its source)
    bool writing_ = false;
    bool timed_out_ = false;  // after the timeout, results are sent once, without waiting
    std::deque<Datagram> outbox_;
    pid_t first_sent_pid_ = 0;
};

void ScmExchange::finish() {
    conn_.end_exchange(this);
}

void destroy_exchange(ScmExchange* x) {
    delete x;
}

int start_scm(sd_bus_message* m, ClientConnection& conn, ScmMethod method, sd_bus_error*) {
    const bool compat = conn.server().config().compat_errors;
    ScmArgs a;
    const char *controller = "", *cgroup = "", *key = "", *value = "";
    int fd = -1;
    int r = -EINVAL;
    const char* sig = "ssh";
    switch (method) {
    case ScmMethod::GetPidCgroup:
    case ScmMethod::GetPidCgroupAbs: r = sd_bus_message_read(m, sig = "sh", &controller, &fd); break;
    case ScmMethod::Chmod: r = sd_bus_message_read(m, sig = "sssih", &controller, &cgroup, &key, &a.number, &fd); break;
    case ScmMethod::GetValue: r = sd_bus_message_read(m, sig = "sssh", &controller, &cgroup, &key, &fd); break;
    case ScmMethod::SetValue: r = sd_bus_message_read(m, sig = "ssssh", &controller, &cgroup, &key, &value, &fd); break;
    case ScmMethod::Remove: r = sd_bus_message_read(m, sig = "ssih", &controller, &cgroup, &a.number, &fd); break;
    case ScmMethod::Create:
    case ScmMethod::Chown:
    case ScmMethod::MovePid:
    case ScmMethod::MovePidAbs:
    case ScmMethod::GetTasks:
    case ScmMethod::GetTasksRecursive:
    case ScmMethod::ListChildren:
    case ScmMethod::RemoveOnEmpty:
    case ScmMethod::Prune:
    case ScmMethod::ListKeys: r = sd_bus_message_read(m, sig, &controller, &cgroup, &fd); break;
    }  // no default: a new method must say what it reads
    if (r < 0)
        return reply_unreadable_arguments(m, conn, sig, r);
    a.controller = controller;
    a.cgroup = cgroup;
    a.key = key;
    a.value = value;

    auto refuse = [&](const Error& e) {
        spdlog::info("pid {} uid {}: {}({}) refused: {}", conn.peer().pid, conn.peer().uid, method_name(method),
                     quoted(controller), e.message);
        return reply_error(m, e, compat);
    };
    if (auto alive = conn.check_peer_alive(); !alive)
        return refuse(alive.error());
    if (conn.exchange_count() >= conn.server().config().max_scm_pending)
        return refuse(make_error(ErrorKind::LimitsExceeded,
                                 "this connection already has {} credential exchanges in progress",
                                 conn.exchange_count()));
    if (std::string why; !conn.server().charge_fds(conn.peer().uid, kExchangeFds, why))
        return refuse(Error(ErrorKind::LimitsExceeded, why));
    std::unique_ptr<ClientConnection, void (*)(ClientConnection*)> charge(
        &conn, [](ClientConnection* c) { c->server().release_fds(c->peer().uid, kExchangeFds); });
    // The fd belongs to the message: keep a duplicate of our own.
    int dup = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (dup < 0)
        return refuse(errno_error(errno, "duplicating the passed fd"));
    UniqueFd sock(dup);
    int type = 0, domain = 0;
    socklen_t len = sizeof type;
    if (::getsockopt(dup, SOL_SOCKET, SO_TYPE, &type, &len) < 0) {
        if (errno == ENOTSOCK)
            return refuse(make_error(ErrorKind::InvalidArgs, "the passed fd is not a socket"));
        return refuse(errno_error(errno, "inspecting the passed fd"));
    }
    len = sizeof domain;
    if (::getsockopt(dup, SOL_SOCKET, SO_DOMAIN, &domain, &len) < 0 || domain != AF_UNIX || type != SOCK_DGRAM)
        return refuse(make_error(ErrorKind::InvalidArgs, "the passed fd must be a unix datagram socket"));
    int one = 1;
    if (::setsockopt(dup, SOL_SOCKET, SO_PASSCRED, &one, sizeof one) < 0)
        return refuse(errno_error(errno, "Failed to set passcred"));
    // Each credential bound to its sender: by the kernel's pidfd where it gives one, else by the
    // time it was sent (checked against the start time of the process with that pid).
    bool pidfds = ProcSource::socket_pidfds_wanted();
    if (pidfds && ::setsockopt(dup, SOL_SOCKET, SO_PASSPIDFD, &one, sizeof one) < 0) {
        if (errno != ENOPROTOOPT)
            return refuse(errno_error(errno, "setting SO_PASSPIDFD on the passed socket"));
        pidfds = false;
    }
    if (!pidfds && ::setsockopt(dup, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) < 0)
        return refuse(errno_error(errno, "setting SO_TIMESTAMPNS on the passed socket"));
    // With the options set, every datagram is pinned or stamped when it is sent: what came before
    // is refused, what comes from now on is judged.
    if (auto fresh = refuse_early_datagrams(dup); !fresh)
        return refuse(fresh.error());
    if (auto paired = check_pair(dup, conn.peer()); !paired)
        return refuse(paired.error());
    auto x = std::make_unique<ScmExchange>(conn, method, std::move(a), std::move(sock), pidfds);
    (void)charge.release();  // the exchange gives the descriptors back when it ends
    auto started = x->start();
    if (!started)
        return refuse(started.error());
    conn.begin_exchange(x.release());
    return sd_bus_reply_method_return(m, nullptr);
}

}  // namespace cgm::bus
