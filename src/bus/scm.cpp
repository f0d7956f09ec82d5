// SPDX-License-Identifier: Apache-2.0
#include "bus/scm.h"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <string>

#include <spdlog/spdlog.h>

#include "bus/bus_error.h"
#include "bus/connection.h"
#include "core/proc_source.h"
#include "core/service.h"

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

std::string int32_bytes(int32_t v) {
    return std::string(reinterpret_cast<const char*>(&v), sizeof v);
}
std::string uint32_bytes(uint32_t v) {
    return std::string(reinterpret_cast<const char*>(&v), sizeof v);
}

}  // namespace

// One exchange on one passed socket. Owned by its connection; destroys itself when done.
class ScmExchange {
public:
    ScmExchange(ClientConnection& conn, ScmMethod method, ScmArgs args, UniqueFd fd)
        : conn_(conn), method_(method), args_(std::move(args)), fd_(std::move(fd)) {}

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
        if (::send(fd_.get(), "1", 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1)
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

    // Read every datagram that is there; each must carry SCM_CREDENTIALS first.
    void readable(uint32_t revents) {
        for (;;) {
            char payload[64];
            alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof(struct ucred)) + CMSG_SPACE(16 * sizeof(int))];
            struct iovec iov = {payload, sizeof payload};
            struct msghdr msg {};
            msg.msg_iov = &iov;
            msg.msg_iovlen = 1;
            msg.msg_control = control;
            msg.msg_controllen = sizeof control;
            ssize_t n = ::recvmsg(fd_.get(), &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN) {
                    if (revents & (EPOLLHUP | EPOLLERR)) {
                        log_failure(make_error(ErrorKind::Failed,
                                               "the client closed the socket before sending its credentials"));
                        finish();
                    }
                    return;
                }
                log_failure(errno_error(errno, "reading credentials"));
                finish();
                return;
            }
            const struct ucred* cred = nullptr;
            bool first = true;
            for (struct cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
                if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
                    // Nobody asked for fds: close whatever was passed.
                    size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                    for (size_t k = 0; k < count; ++k) {
                        int passed;
                        std::memcpy(&passed, CMSG_DATA(c) + k * sizeof(int), sizeof(int));
                        ::close(passed);
                    }
                } else if (first && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS &&
                           c->cmsg_len == CMSG_LEN(sizeof(struct ucred))) {
                    cred = reinterpret_cast<const struct ucred*>(CMSG_DATA(c));
                }
                first = false;
            }
            if (n == 0 && !cred) {
                log_failure(
                    make_error(ErrorKind::Failed, "the client closed the socket before sending its credentials"));
                finish();
                return;
            }
            if (got_ == (needs_victim(method_) ? 2 : 1))
                continue;  // extra datagrams are ignored
            if (!cred || (msg.msg_flags & MSG_CTRUNC) || cred->pid <= 0) {
                fail(
                    make_error(ErrorKind::InvalidArgs, "a datagram on the passed socket carried no valid credentials"));
                return;
            }
            Ucred u{cred->pid, cred->uid, cred->gid};
            if (got_++ == 0) {
                requestor_ = u;
                // Pin the requestor: /proc facts about it are trusted only while it lives.
                auto pidfd = ProcSource::open_pidfd(u.pid);
                if (!pidfd) {
                    fail(std::move(pidfd).error());
                    return;
                }
                requestor_pidfd_ = std::move(pidfd).value();
                if (needs_victim(method_) && ::send(fd_.get(), "1", 1, MSG_DONTWAIT | MSG_NOSIGNAL) != 1) {
                    log_failure(errno_error(errno, "writing the second kick"));
                    finish();
                    return;
                }
            } else {
                victim_ = u;
            }
            if (got_ == (needs_victim(method_) ? 2 : 1)) {
                run();
                return;
            }
        }
    }

    // All credentials are in: run the operation and queue the result.
    void run() {
        auto ops = conn_.server().service();
        Caller caller = Caller::scm(conn_.peer(), requestor_, conn_.peer_pidfd(), requestor_pidfd_.get());
        const ScmArgs& a = args_;
        auto status = [&](Result<void> r) {
            if (!r)
                return fail(std::move(r).error());
            queue("1");
            log_ok();
            flush();
        };
        auto text = [&](Result<std::string> r) {
            if (!r)
                return fail(std::move(r).error());
            queue(*r + std::string(1, '\0'));
            log_ok();
            flush();
        };
        auto existed = [&](Result<Existed> r) {
            if (!r)
                return fail(std::move(r).error());
            queue(*r == Existed::Yes ? "2" : "1");
            log_ok();
            flush();
        };
        auto pids = [&](Result<std::vector<int32_t>> r) {
            if (!r)
                return fail(std::move(r).error());
            queue(int32_bytes(static_cast<int32_t>(r->size())));
            for (int32_t p : *r)
                outbox_.push_back({"p", p});
            log_ok();
            flush();
        };
        auto names = [&](Result<std::vector<std::string>> r) {
            if (!r)
                return fail(std::move(r).error());
            std::string blob;
            for (const auto& n : *r)
                blob += n + std::string(1, '\0');
            send_list(r->size(), blob);
        };
        auto keys = [&](Result<std::vector<KeyInfo>> r) {
            if (!r)
                return fail(std::move(r).error());
            std::string blob;
            for (const auto& k : *r)
                blob += fmt::format("{}\n{}\n{}\n{}\n", k.name, static_cast<int32_t>(k.uid),
                                    static_cast<int32_t>(k.gid), static_cast<int32_t>(k.perms));
            send_list(r->size(), blob);
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
        queue(int32_bytes(static_cast<int32_t>(count)));
        if (count > 0) {
            queue(uint32_bytes(static_cast<uint32_t>(blob.size())));
            queue(blob);
        }
        log_ok();
        flush();
    }

    // The method's failure result (reference §5.4), then close.
    void fail(const Error& e) {
        log_failure(e);
        outbox_.clear();
        switch (method_) {
        case ScmMethod::GetPidCgroup:
        case ScmMethod::GetPidCgroupAbs:
        case ScmMethod::GetValue: queue(std::string()); break;  // a zero-length datagram
        case ScmMethod::GetTasks:
        case ScmMethod::GetTasksRecursive:
        case ScmMethod::ListChildren:
        case ScmMethod::ListKeys: queue(int32_bytes(-1)); break;
        default: queue("0"); break;
        }
        // The reason, for clients that read on (ours do; the original's stop at the result and
        // never see it). Not with --compat-errors, which hides reasons from clients.
        if (!conn_.server().config().compat_errors)
            queue(fmt::format("ERROR {}\n{}", error_name(e.kind), wire_message(e.message)));
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
                n = send_pid(d.cred_pid);
                if (n < 0 && errno == ESRCH && first_sent_pid_ > 0)
                    n = send_pid(first_sent_pid_);  // the task exited meanwhile: keep the count right
                else if (n >= 0 && first_sent_pid_ == 0)
                    first_sent_pid_ = d.cred_pid;
            } else {
                if (d.bytes.size() > 65536) {
                    // A long value or list goes as one datagram: make room for it (root may exceed
                    // the default buffer size).
                    int want = static_cast<int>(std::min<size_t>(d.bytes.size() * 2 + 4096, 64u << 20));
                    (void)::setsockopt(fd_.get(), SOL_SOCKET, SO_SNDBUFFORCE, &want, sizeof want);
                }
                n = ::send(fd_.get(), d.bytes.data(), d.bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
            }
            if (n < 0) {
                if (errno == EINTR)
                    continue;
                if (errno == EAGAIN && !timed_out_) {
                    sd_event_source_set_io_events(io_.get(), EPOLLOUT);
                    return;
                }
                spdlog::info("pid {} uid {}: {}: writing the result: {}", conn_.peer().pid, conn_.peer().uid,
                             method_name(method_), std::strerror(errno));
                finish();
                return;
            }
            outbox_.pop_front();
        }
        finish();
    }

    ssize_t send_pid(pid_t pid) { return sys::send_credentials(fd_.get(), pid, 0, 0, MSG_DONTWAIT | MSG_NOSIGNAL); }

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
    int r;
    switch (method) {
    case ScmMethod::GetPidCgroup:
    case ScmMethod::GetPidCgroupAbs: r = sd_bus_message_read(m, "sh", &controller, &fd); break;
    case ScmMethod::Chmod: r = sd_bus_message_read(m, "sssih", &controller, &cgroup, &key, &a.number, &fd); break;
    case ScmMethod::GetValue: r = sd_bus_message_read(m, "sssh", &controller, &cgroup, &key, &fd); break;
    case ScmMethod::SetValue: r = sd_bus_message_read(m, "ssssh", &controller, &cgroup, &key, &value, &fd); break;
    case ScmMethod::Remove: r = sd_bus_message_read(m, "ssih", &controller, &cgroup, &a.number, &fd); break;
    default: r = sd_bus_message_read(m, "ssh", &controller, &cgroup, &fd); break;
    }
    if (r < 0)
        return r;
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
    if (conn.exchange_count() >= conn.server().config().max_scm_pending)
        return refuse(make_error(ErrorKind::LimitsExceeded,
                                 "this connection already has {} credential exchanges in progress",
                                 conn.exchange_count()));
    auto x = std::make_unique<ScmExchange>(conn, method, std::move(a), std::move(sock));
    auto started = x->start();
    if (!started)
        return refuse(started.error());
    conn.begin_exchange(x.release());
    return sd_bus_reply_method_return(m, nullptr);
}

}  // namespace cgm::bus
