// SPDX-License-Identifier: Apache-2.0
#include "bus/server.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <future>

#include <spdlog/spdlog.h>
#include <systemd/sd-id128.h>

#include "bus/connection.h"
#include "bus/pin.h"

namespace cgm::bus {

// ---------------------------------------------------------------------------------------------
// Loop

Loop::Loop(Server& server, unsigned index) : server_(server), index_(index) {}

Loop::~Loop() {
    stop();
}

Result<void> Loop::start() {
    int efd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (efd < 0)
        return errno_error(errno, "eventfd");
    wakeup_fd_.reset(efd);
    std::promise<Result<void>> ready;
    auto ready_future = ready.get_future();
    thread_ = std::thread([this, &ready] {
        // The event loop is created, run and destroyed by its own thread.
        sd_event* e = nullptr;
        int r = sd_event_new(&e);
        if (r < 0) {
            ready.set_value(errno_error(-r, "sd_event_new"));
            return;
        }
        event_.reset(e);
        sd_event_source* s = nullptr;
        r = sd_event_add_io(e, &s, wakeup_fd_.get(), EPOLLIN, on_wakeup, this);
        if (r < 0) {
            ready.set_value(errno_error(-r, "sd_event_add_io"));
            return;
        }
        wakeup_source_.reset(s);
        r = sd_event_add_defer(e, &s, on_reap, this);
        if (r < 0) {
            ready.set_value(errno_error(-r, "sd_event_add_defer"));
            return;
        }
        reaper_.reset(s);
        sd_event_source_set_enabled(s, SD_EVENT_OFF);
        // sd-event makes one timerfd per clock when the first timer of that clock is added and
        // keeps it: make it now, so that adopting a connection (whose timers use that clock)
        // needs no descriptor beyond those the acceptor counted.
        r = sd_event_add_time(
            e, &s, CLOCK_MONOTONIC, 0, 0, [](sd_event_source*, uint64_t, void*) { return 0; }, nullptr);
        if (r < 0) {
            ready.set_value(errno_error(-r, "sd_event_add_time"));
            return;
        }
        clock_.reset(s);
        sd_event_source_set_enabled(s, SD_EVENT_OFF);
        ready.set_value(ok());
        r = sd_event_loop(e);
        if (r < 0)
            spdlog::error("event loop {} failed: {}", index_, std::strerror(-r));
        connections_.clear();
        retired_.clear();
        clock_.reset();
        reaper_.reset();
        wakeup_source_.reset();
        event_.reset();
    });
    return ready_future.get();
}

void Loop::hand_over(Accepted a) {
    {
        std::lock_guard lock(mu_);
        incoming_.push_back(std::move(a));
    }
    uint64_t one = 1;
    (void)!::write(wakeup_fd_.get(), &one, sizeof one);
}

void Loop::stop() {
    if (!thread_.joinable())
        return;
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    uint64_t one = 1;
    (void)!::write(wakeup_fd_.get(), &one, sizeof one);
    thread_.join();
}

int Loop::on_wakeup(sd_event_source*, int fd, uint32_t, void* userdata) {
    auto* self = static_cast<Loop*>(userdata);
    uint64_t n;
    (void)!::read(fd, &n, sizeof n);
    std::deque<Accepted> batch;
    bool stopping;
    {
        std::lock_guard lock(self->mu_);
        batch.swap(self->incoming_);
        stopping = self->stopping_;
    }
    if (stopping) {
        for (auto& a : batch)
            self->server_.release(a.peer.uid, !a.refusal.empty());
        for (auto& [ptr, conn] : self->connections_)
            self->server_.release(conn->peer().uid, conn->refused());
        self->connections_.clear();
        self->retired_.clear();
        sd_event_exit(self->event_.get(), 0);
        return 0;
    }
    for (auto& a : batch)
        self->adopt(std::move(a));
    return 0;
}

void Loop::adopt(Accepted a) {
    uid_t uid = a.peer.uid;
    uint64_t id = a.id;
    bool refused = !a.refusal.empty();
    auto conn = ClientConnection::create(*this, std::move(a));
    if (!conn) {
        // A peer that hung up at once (a probe for a running daemon) is no news.
        int err = conn.error().sys_errno;
        spdlog::log(err == ECONNRESET || err == EPIPE ? spdlog::level::debug : spdlog::level::warn,
                    "connection {} (uid {}): {}, dropping it", id, uid, conn.error().message);
        server_.release(uid, refused);
        return;
    }
    ClientConnection* raw = conn->get();
    connections_.emplace(raw, std::move(conn).value());
    raw->kick();
}

void Loop::retire(ClientConnection* c) {
    retired_.push_back(c);
    sd_event_source_set_enabled(reaper_.get(), SD_EVENT_ONESHOT);
}

int Loop::on_reap(sd_event_source*, void* userdata) {
    auto* self = static_cast<Loop*>(userdata);
    auto retired = std::move(self->retired_);
    self->retired_.clear();
    for (ClientConnection* c : retired) {
        auto it = self->connections_.find(c);
        if (it == self->connections_.end())
            continue;
        self->server_.release(c->peer().uid, c->refused());
        self->connections_.erase(it);
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Server

Server::Server(ServerConfig config, UniqueFd listen_fd, std::shared_ptr<const CgroupService> service)
    : config_(config), listen_fd_(std::move(listen_fd)), service_(std::move(service)) {
    sd_id128_t id;
    if (sd_id128_randomize(&id) < 0)
        id = SD_ID128_MAKE(5c, 9a, 41, 2e, 77, 0b, 4d, 3f, 8e, 21, 6a, c4, 90, 13, ff, 02);
    char buf[SD_ID128_STRING_MAX];
    server_id_ = sd_id128_to_string(id, buf);
}

Server::~Server() {
    for (auto& l : loops_)
        l->stop();
}

std::shared_ptr<const CgroupService> Server::service() const {
    std::lock_guard lock(service_mu_);
    return service_;
}

bool Server::admit(uid_t uid, std::string& refusal) {
    std::lock_guard lock(count_mu_);
    if (!connections_.charge(uid, 1, config_.max_connections, config_.max_connections_per_uid)) {
        if (connections_.total >= config_.max_connections)
            refusal = fmt::format("{} connections are open, the limit", connections_.total);
        else
            refusal = fmt::format("uid {} has {} connections open, the per-uid limit", uid, connections_.of(uid));
        return false;
    }
    if (!charge_fds_locked(uid, connection_fds(config_), refusal)) {
        connections_.release(uid, 1);
        return false;
    }
    return true;
}

bool Server::charge_fds(uid_t uid, size_t n, std::string& refusal) {
    std::lock_guard lock(count_mu_);
    return charge_fds_locked(uid, n, refusal);
}

bool Server::Budget::charge(uid_t uid, size_t n, size_t capacity, size_t per_uid_max) {
    if (total + n > capacity)
        return false;
    size_t mine = of(uid);
    if (!(root_exempt && uid == 0) && per_uid_max > 0 && mine + n > per_uid_max)
        return false;
    per_uid[uid] = mine + n;
    total += n;
    return true;
}

void Server::Budget::release(uid_t uid, size_t n) {
    auto it = per_uid.find(uid);
    if (it != per_uid.end()) {
        it->second -= std::min(it->second, n);
        if (it->second == 0)
            per_uid.erase(it);
    }
    total -= std::min(total, n);
}

size_t Server::Budget::of(uid_t uid) const {
    auto it = per_uid.find(uid);
    return it == per_uid.end() ? 0 : it->second;
}

bool Server::charge_fds_locked(uid_t uid, size_t n, std::string& refusal) {
    struct rlimit rl {};
    size_t limit = ::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY
                       ? static_cast<size_t>(rl.rlim_cur)
                       : size_t{1} << 20;
    size_t reserve = reserved_fds(limit);
    size_t capacity = limit > reserve ? limit - reserve : 0;
    if (fds_.charge(uid, n, capacity, config_.max_fds_per_uid))
        return true;
    if (fds_.total + n > capacity)
        refusal = fmt::format(
            "the daemon holds {} file descriptors for clients, all it may (its limit is {}, {} are kept for its own "
            "work)",
            fds_.total, limit, reserve);
    else
        refusal = fmt::format(
            "uid {} holds {} file descriptors in the daemon (connections and credential "
            "exchanges); the per-uid limit is {}",
            uid, fds_.of(uid), config_.max_fds_per_uid);
    return false;
}

void Server::release_fds(uid_t uid, size_t n) {
    std::lock_guard lock(count_mu_);
    fds_.release(uid, n);
}

bool Server::charge_bytes(uid_t uid, size_t n, std::string& refusal) {
    std::lock_guard lock(count_mu_);
    if (bytes_.charge(uid, n, config_.max_held_bytes, config_.max_held_bytes_per_uid))
        return true;
    if (bytes_.total + n > config_.max_held_bytes)
        refusal = fmt::format("the daemon holds {} KiB of messages and replies for its clients, all it may",
                              bytes_.total >> 10);
    else
        refusal = fmt::format(
            "uid {} has {} KiB of unfinished messages and unread replies in the daemon; the per-uid "
            "limit is {} KiB",
            uid, bytes_.of(uid) >> 10, config_.max_held_bytes_per_uid >> 10);
    return false;
}

void Server::release_bytes(uid_t uid, size_t n) {
    std::lock_guard lock(count_mu_);
    bytes_.release(uid, n);
}

bool Server::take_refusing() {
    std::lock_guard lock(count_mu_);
    if (refusing_ >= config_.max_refusing)
        return false;
    ++refusing_;
    return true;
}

void Server::release(uid_t uid, bool refused) {
    std::lock_guard lock(count_mu_);
    if (refused) {
        if (refusing_ > 0)
            --refusing_;
        return;
    }
    connections_.release(uid, 1);
    fds_.release(uid, connection_fds(config_));
}

bool Server::refill_spare_fds() {
    while (spare_fds_.size() < kSpareFds) {
        int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
            return false;
        spare_fds_.emplace_back(fd);
    }
    return true;
}

void Server::accept_all() {
    for (;;) {
        // Out of fds (or another resource): new clients wait in the backlog until some are freed;
        // retry shortly instead of spinning on a readable listening socket.
        if (!refill_spare_fds()) {
            spdlog::warn("accept: no descriptors to spare for pinning a client ({}); refusing new clients for 100 ms",
                         std::strerror(errno));
            pause_accepting();
            return;
        }
        int fd = ::accept4(listen_fd_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno == EAGAIN)
                return;
            spdlog::warn("accept: {}; refusing new clients for 100 ms", std::strerror(errno));
            pause_accepting();
            return;
        }
        UniqueFd conn(fd);
        struct ucred uc {};
        socklen_t len = sizeof uc;
        if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &uc, &len) < 0 || len != sizeof uc) {
            spdlog::warn("dropping a connection: SO_PEERCRED failed: {}", std::strerror(errno));
            continue;
        }
        if (uc.pid <= 0) {
            spdlog::warn("dropping a connection from uid {}: its pid is not visible in the daemon's pid namespace",
                         uc.uid);
            continue;
        }
        Accepted a;
        a.peer = Ucred{uc.pid, uc.uid, uc.gid};
        PeerPin pin = pin_peer(fd, a.peer);
        if ((pin.err == EMFILE || pin.err == ENFILE) && !spare_fds_.empty()) {
            spare_fds_.clear();  // what they are kept for; the next round takes them back or waits
            pin = pin_peer(fd, a.peer);
        }
        if (pin.drop) {
            spdlog::info("dropping a connection from uid {}: {}", uc.uid, pin.why);
            continue;
        }
        a.fd = std::move(conn);
        a.pidfd = std::move(pin.pidfd);
        a.id = next_id_++;
        // A peer that cannot be pinned now is refused like one over a limit (nothing is served
        // to a connection whose holder is unknown).
        std::string refusal = std::move(pin.refusal);
        if (!refusal.empty() || !admit(uc.uid, refusal)) {
            // Kept (a few at a time) to answer its calls with the reason; beyond that, dropped.
            bool tell = take_refusing();
            spdlog::warn("refusing a connection from pid {} uid {}: {}{}", uc.pid, uc.uid, refusal,
                         tell ? "" : " (dropped: too many refused connections are open)");
            if (!tell)
                continue;
            a.refusal = std::move(refusal);
        }
        loops_[next_loop_++ % loops_.size()]->hand_over(std::move(a));
    }
}

void Server::pause_accepting() {
    sd_event_source_set_enabled(accept_source_.get(), SD_EVENT_OFF);
    uint64_t now = 0;
    sd_event_now(event_.get(), CLOCK_MONOTONIC, &now);
    sd_event_source_set_time(accept_retry_.get(), now + 100'000);
    sd_event_source_set_enabled(accept_retry_.get(), SD_EVENT_ONESHOT);
}

int Server::on_accept_retry(sd_event_source*, uint64_t, void* userdata) {
    auto* self = static_cast<Server*>(userdata);
    sd_event_source_set_enabled(self->accept_source_.get(), SD_EVENT_ON);
    return 0;
}

int Server::on_accept(sd_event_source*, int, uint32_t, void* userdata) {
    static_cast<Server*>(userdata)->accept_all();
    return 0;
}

int Server::on_signal(sd_event_source* s, const struct signalfd_siginfo* si, void* userdata) {
    auto* self = static_cast<Server*>(userdata);
    if (si->ssi_signo == SIGHUP) {
        auto fresh = self->on_reload_();
        if (!fresh) {
            spdlog::error("reload: {}; keeping the current hierarchies", fresh.error().message);
            return 0;
        }
        std::lock_guard lock(self->service_mu_);
        self->service_ = std::move(fresh).value();
        return 0;
    }
    spdlog::info("received {}, shutting down", strsignal(static_cast<int>(si->ssi_signo)));
    return sd_event_exit(sd_event_source_get_event(s), 0);
}

Result<void> Server::run(const std::function<void()>& on_ready, const Reload& on_reload) {
    on_reload_ = on_reload;
    // Signals are taken through signalfd by this thread; block them everywhere first, so the loop
    // threads inherit the mask.
    sigset_t mask;
    sigemptyset(&mask);
    for (int sig : {SIGTERM, SIGINT, SIGHUP})
        sigaddset(&mask, sig);
    if (pthread_sigmask(SIG_BLOCK, &mask, nullptr) != 0)
        return make_error(ErrorKind::Failed, "cannot block signals");

    unsigned n = config_.threads ? config_.threads : std::max(1u, std::thread::hardware_concurrency());
    for (unsigned i = 0; i < n; ++i) {
        loops_.push_back(std::make_unique<Loop>(*this, i));
        CGM_TRY(loops_.back()->start());
    }

    sd_event* e = nullptr;
    int r = sd_event_new(&e);
    if (r < 0)
        return errno_error(-r, "sd_event_new");
    event_.reset(e);
    sd_event_source* accept_source = nullptr;
    r = sd_event_add_io(e, &accept_source, listen_fd_.get(), EPOLLIN, on_accept, this);
    if (r < 0)
        return errno_error(-r, "watching the listening socket");
    accept_source_.reset(accept_source);
    // The timer that resumes accepting after fds ran out, made now: by then there may be no fd
    // left for the timerfd sd-event needs.
    sd_event_source* retry = nullptr;
    r = sd_event_add_time(e, &retry, CLOCK_MONOTONIC, 0, 10'000, on_accept_retry, this);
    if (r < 0)
        return errno_error(-r, "adding the accept retry timer");
    accept_retry_.reset(retry);
    sd_event_source_set_enabled(retry, SD_EVENT_OFF);
    std::vector<SourcePtr> signal_sources;
    for (int sig : {SIGTERM, SIGINT, SIGHUP}) {
        sd_event_source* s = nullptr;
        r = sd_event_add_signal(e, &s, sig, on_signal, this);
        if (r < 0)
            return errno_error(-r, "watching signal {}", sig);
        signal_sources.emplace_back(s);
    }
    spdlog::info("serving with {} event loops", n);
    on_ready();
    r = sd_event_loop(e);

    // Stop accepting first, then let every loop finish the call it is in and close its clients.
    accept_retry_.reset();
    accept_source_.reset();
    listen_fd_.reset();
    for (auto& l : loops_)
        l->stop();
    loops_.clear();
    signal_sources.clear();
    event_.reset();
    if (r < 0)
        return errno_error(-r, "main event loop");
    return ok();
}

}  // namespace cgm::bus
