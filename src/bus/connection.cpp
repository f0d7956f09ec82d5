// SPDX-License-Identifier: Apache-2.0
#include "bus/connection.h"

#include <poll.h>
#include <sys/epoll.h>

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>
#include <systemd/sd-id128.h>

#include "bus/bus_error.h"
#include "bus/methods.h"
#include "bus/scm.h"

namespace cgm::bus {

ClientConnection::ClientConnection(Loop& loop, uint64_t id, Ucred peer, UniqueFd pidfd, const InputRules& rules)
    : loop_(loop), id_(id), peer_(peer), pidfd_(std::move(pidfd)), guard_(rules) {}

ClientConnection::~ClientConnection() {
    for (ScmExchange* x : exchanges_)
        destroy_exchange(x);
    if (charged_bytes_ > 0)
        loop_.server().release_bytes(peer_.uid, charged_bytes_);
    // Sources first (they point at us), then the object slots, then the bus (closes the fd).
    auth_timer_.reset();
    stall_timer_.reset();
    timer_.reset();
    io_.reset();
    incoming_slot_.reset();
    object_slot_.reset();
    shim_slot_.reset();
    bus_.reset();
}

Result<std::unique_ptr<ClientConnection>> ClientConnection::create(Loop& loop, Accepted a) {
    const ServerConfig& config = loop.server().config();
    InputRules rules{config.max_message_bytes, config.max_message_fds, a.peer.uid};
    std::unique_ptr<ClientConnection> c(new ClientConnection(loop, a.id, a.peer, std::move(a.pidfd), rules));
    c->refusal_ = std::move(a.refusal);
    sd_bus* b = nullptr;
    int r = sd_bus_new(&b);
    if (r < 0)
        return errno_error(-r, "sd_bus_new");
    c->bus_.reset(b);
    int fd = a.fd.get();
    r = sd_bus_set_fd(b, fd, fd);
    if (r < 0)
        return errno_error(-r, "sd_bus_set_fd");
    a.fd.release();  // the bus owns it now
    c->fd_ = fd;
    sd_id128_t server_id;
    r = sd_id128_from_string(loop.server().server_id().c_str(), &server_id);
    if (r < 0)
        return errno_error(-r, "server id");
    if ((r = sd_bus_set_server(b, 1, server_id)) < 0 || (r = sd_bus_set_anonymous(b, 1)) < 0 ||
        (r = sd_bus_negotiate_fds(b, 1)) < 0)
        return errno_error(-r, "configuring the bus");
    sd_bus_slot* obj = nullptr;
    sd_bus_slot* shim = nullptr;
    if (c->refused()) {
        // No object at all: a filter answers whatever comes (Hello included) with the reason.
        r = sd_bus_add_filter(b, &obj, on_refused_message, c.get());
        if (r < 0)
            return errno_error(-r, "installing the refusal filter");
    } else {
        r = add_vtables(b, c.get(), &obj, &shim);
        if (r < 0)
            return errno_error(-r, "registering the cgmanager object");
    }
    c->object_slot_.reset(obj);
    c->shim_slot_.reset(shim);
    sd_bus_slot* incoming = nullptr;
    r = sd_bus_add_filter(b, &incoming, on_incoming, c.get());
    if (r < 0)
        return errno_error(-r, "installing the input filter");
    c->incoming_slot_.reset(incoming);
    {
        InputGuard::Active active(fd, c->guard_);  // sd_bus_start already reads what has come
        r = sd_bus_start(b);
    }
    if (r < 0)
        return errno_error(-r, "sd_bus_start");

    sd_event* e = loop.event();
    sd_event_source* s = nullptr;
    r = sd_event_add_io(e, &s, fd, EPOLLIN, on_io, c.get());
    if (r < 0)
        return errno_error(-r, "watching the connection");
    c->io_.reset(s);
    r = sd_event_add_time(e, &s, CLOCK_MONOTONIC, 0, 0, on_timer, c.get());
    if (r < 0)
        return errno_error(-r, "adding the connection timer");
    c->timer_.reset(s);
    sd_event_source_set_enabled(s, SD_EVENT_OFF);
    uint64_t now = 0;
    sd_event_now(e, CLOCK_MONOTONIC, &now);
    r = sd_event_add_time(e, &s, CLOCK_MONOTONIC, now + config.auth_timeout_usec, 10'000, on_auth_timeout, c.get());
    if (r < 0)
        return errno_error(-r, "adding the authentication timer");
    c->auth_timer_.reset(s);
    r = sd_event_add_time(e, &s, CLOCK_MONOTONIC, 0, 10'000, on_stall_timeout, c.get());
    if (r < 0)
        return errno_error(-r, "adding the message timer");
    c->stall_timer_.reset(s);
    sd_event_source_set_enabled(s, SD_EVENT_OFF);
    spdlog::debug("connection {} from pid {} uid {} gid {}", c->id_, c->peer_.pid, c->peer_.uid, c->peer_.gid);
    return c;
}

Result<void> ClientConnection::check_peer_alive() const {
    if (!pidfd_)
        return ok();
    struct pollfd p = {pidfd_.get(), POLLIN, 0};
    if (::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP)))
        return make_error(ErrorKind::AccessDenied,
                          "the process that opened this connection (pid {}) has exited, so the caller cannot be "
                          "identified; connect from the process that makes the calls",
                          peer_.pid);
    return ok();
}

void ClientConnection::kick() {
    process();
}

void ClientConnection::end_exchange(ScmExchange* x) {
    auto it = std::find(exchanges_.begin(), exchanges_.end(), x);
    if (it != exchanges_.end())
        exchanges_.erase(it);
    destroy_exchange(x);
}

void ClientConnection::close(std::string_view reason, bool notable) {
    if (closed_)
        return;
    closed_ = true;
    spdlog::log(notable ? spdlog::level::warn : spdlog::level::debug, "connection {} (pid {} uid {}) closed: {}", id_,
                peer_.pid, peer_.uid, reason);
    sd_event_source_set_enabled(io_.get(), SD_EVENT_OFF);
    sd_event_source_set_enabled(timer_.get(), SD_EVENT_OFF);
    sd_event_source_set_enabled(auth_timer_.get(), SD_EVENT_OFF);
    sd_event_source_set_enabled(stall_timer_.get(), SD_EVENT_OFF);
    loop_.retire(this);
}

void ClientConnection::process() {
    if (closed_)
        return;
    const ServerConfig& config = loop_.server().config();
    InputGuard::Active active(fd_, guard_);  // sd-bus's reads of our socket go through the guard
    for (unsigned i = 0; i < config.process_batch; ++i) {
        int r = sd_bus_process(bus_.get(), nullptr);
        if (r < 0) {
            const int err = -r;
            if (!guard_.failure().empty() && (err == EMSGSIZE || err == ETOOMANYREFS || err == EBADMSG || err == EIO))
                close(guard_.failure(), true);
            else if (err == ECONNRESET || err == ENOTCONN || err == EPIPE)
                close("peer disconnected");
            else if (err == ENOBUFS)
                close("the peer announced a message longer than sd-bus's bound of 128 MiB", true);
            else if (err == EBADMSG)
                close("the peer sent a malformed message", true);
            else
                close(std::strerror(err));
            return;
        }
        if (closed_)
            return;  // a handler closed it
        if (r == 0) {
            // Every message read whole went to the filters, unless sd-bus dropped it as invalid
            // (a bad signature, a header naming descriptors that never came, ...), which it does
            // silently; the client would wait for an answer until its own timeout.
            if (guard_.complete_messages() > dispatched_) {
                close(fmt::format("the peer sent a message that is not valid D-Bus ({} read, {} valid); it was "
                                  "dropped and the connection is closed",
                                  guard_.complete_messages(), dispatched_),
                      true);
                return;
            }
            rearm(false);
            return;
        }
    }
    rearm(true);
}

bool ClientConnection::account_memory(uint64_t queued) {
    while (replies_.size() > queued) {  // written: the oldest go first
        reply_bytes_ -= replies_.front();
        replies_.pop_front();
    }
    const ServerConfig& config = loop_.server().config();
    const uint64_t held = guard_.held_bytes() + reply_bytes_;
    const size_t excess = held > config.free_bytes_per_connection ? held - config.free_bytes_per_connection : 0;
    if (excess > charged_bytes_) {
        std::string why;
        if (!loop_.server().charge_bytes(peer_.uid, excess - charged_bytes_, why)) {
            close(why, true);
            return false;
        }
    } else if (excess < charged_bytes_) {
        loop_.server().release_bytes(peer_.uid, charged_bytes_ - excess);
    }
    charged_bytes_ = excess;
    return true;
}

void ClientConnection::rearm(bool more_pending) {
    uint64_t queued = 0;
    if (sd_bus_get_n_queued_write(bus_.get(), &queued) >= 0 && queued > loop_.server().config().max_queued_writes) {
        close(fmt::format("{} replies queued: the peer does not read them", queued));
        return;
    }
    if (!account_memory(queued))
        return;
    if (refusal_sent_ && queued == 0) {
        close("refused: " + refusal_);  // the reason is on its way; nothing more is served here
        return;
    }
    int events = sd_bus_get_events(bus_.get());
    if (events < 0) {
        close(std::strerror(-events));
        return;
    }
    sd_event_source_set_io_events(io_.get(), static_cast<uint32_t>(events));
    // A message left half sent holds its bytes (and any descriptors) here: it has a deadline,
    // counted from when the daemon first saw part of it.
    if (guard_.authenticating() || !guard_.mid_message()) {
        sd_event_source_set_enabled(stall_timer_.get(), SD_EVENT_OFF);
        stalled_message_ = UINT64_MAX;
    } else if (stalled_message_ != guard_.complete_messages()) {
        stalled_message_ = guard_.complete_messages();
        uint64_t now = 0;
        sd_event_now(loop_.event(), CLOCK_MONOTONIC, &now);
        sd_event_source_set_time(stall_timer_.get(), now + loop_.server().config().message_timeout_usec);
        sd_event_source_set_enabled(stall_timer_.get(), SD_EVENT_ONESHOT);
    }
    uint64_t until = UINT64_MAX;
    if (more_pending)
        until = 0;  // yield to the other connections, then continue right away
    else if (sd_bus_get_timeout(bus_.get(), &until) < 0)
        until = UINT64_MAX;
    if (until == UINT64_MAX) {
        sd_event_source_set_enabled(timer_.get(), SD_EVENT_OFF);
    } else {
        sd_event_source_set_time(timer_.get(), until);
        sd_event_source_set_enabled(timer_.get(), SD_EVENT_ONESHOT);
    }
}

int ClientConnection::on_io(sd_event_source*, int, uint32_t, void* userdata) {
    static_cast<ClientConnection*>(userdata)->process();
    return 0;
}

int ClientConnection::on_timer(sd_event_source*, uint64_t, void* userdata) {
    static_cast<ClientConnection*>(userdata)->process();
    return 0;
}

int ClientConnection::on_auth_timeout(sd_event_source*, uint64_t, void* userdata) {
    auto* self = static_cast<ClientConnection*>(userdata);
    if (self->refused())
        self->close("refused: " + self->refusal_);  // a refused client gets no more time than this
    else if (sd_bus_is_ready(self->bus_.get()) <= 0)
        self->close("did not authenticate in time");
    return 0;
}

int ClientConnection::on_stall_timeout(sd_event_source*, uint64_t, void* userdata) {
    auto* self = static_cast<ClientConnection*>(userdata);
    self->close(
        fmt::format("a message was left unfinished for {} ms", self->server().config().message_timeout_usec / 1000),
        true);
    return 0;
}

int ClientConnection::on_refused_message(sd_bus_message* m, void* userdata, sd_bus_error*) {
    auto* self = static_cast<ClientConnection*>(userdata);
    uint8_t type = 0;
    if (sd_bus_message_get_type(m, &type) < 0 || type != SD_BUS_MESSAGE_METHOD_CALL)
        return 1;
    self->refusal_sent_ = true;
    return reply_error(m, make_error(ErrorKind::LimitsExceeded, "connection refused: {}", self->refusal_),
                       self->server().config().compat_errors);
}

int ClientConnection::on_incoming(sd_bus_message*, void* userdata, sd_bus_error*) {
    // sd-bus runs the newest filter first: this one sees every message, refused connections' too.
    ++static_cast<ClientConnection*>(userdata)->dispatched_;
    return 0;  // on to the next filter and the objects
}

}  // namespace cgm::bus
