// SPDX-License-Identifier: Apache-2.0
//
// The peer-to-peer D-Bus server (docs/ARCHITECTURE.md).
//
//  - The main thread owns the listening socket and the signal handling; it accepts, takes the
//    peer's SO_PEERCRED, pins the peer (bus/pin.h), applies the connection limits and hands each
//    new fd round-robin to one of N event loops.
//  - Each Loop is a thread with its own sd-event. It owns its connections: one ClientConnection
//    per peer, each driven by its own io and timer sources (never sd_bus_attach_event). A bus is
//    only ever touched by its loop's thread.
//  - Shared state is small: the current CgroupService (swapped on SIGHUP), the configuration,
//    the connection counters and the budgets (descriptors and memory held per uid and in all).
#pragma once

#include <sys/types.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "bus/sd_ptr.h"
#include "cgmanager/result.h"
#include "core/credentials.h"
#include "core/service.h"
#include "core/sys.h"

namespace cgm::bus {

class ClientConnection;
class Server;

struct ServerConfig {
    unsigned threads = 0;                       ///< event loops; 0 = one per CPU
    bool compat_errors = false;                 ///< answer every failure with InvalidArgs "invalid request"
    size_t max_connections = 4096;              ///< open client connections, in total
    size_t max_connections_per_uid = 1024;      ///< open client connections of one uid
    uint64_t auth_timeout_usec = 5'000'000;     ///< time a new connection has to authenticate
    uint64_t max_queued_writes = 1024;          ///< replies queued for a peer that does not read them
    uint64_t max_message_bytes = 1 << 20;       ///< bytes of one incoming message (and of the auth exchange)
    unsigned process_batch = 32;                ///< messages handled per connection before others get a turn
    uint64_t scm_timeout_usec = 5'000'000;      ///< time an *Scm credential exchange may take
    size_t max_scm_pending = 64;                ///< *Scm exchanges in progress on one connection
    size_t max_refusing = 64;                   ///< over-limit connections kept to tell them why
    unsigned max_message_fds = 1;               ///< file descriptors sent with one message
    uint64_t message_timeout_usec = 5'000'000;  ///< time a message may stay half sent
    size_t max_fds_per_uid = 4096;              ///< descriptors the daemon holds for one uid (not host root)
    /// Memory the daemon holds for clients: the message being read, the last one read, and the
    /// replies not yet written. Each connection has this much free; beyond it, bytes count
    /// against its uid (not host root) and against all clients together.
    size_t free_bytes_per_connection = 64 << 10;
    size_t max_held_bytes_per_uid = 64 << 20;
    size_t max_held_bytes = 512 << 20;
};

/// What a client's connection and each of its *Scm exchanges are counted as against the
/// descriptor budgets: the socket and the peer's pidfd, plus the descriptors one message may
/// bring; the duplicate of the passed socket, a pidfd per credential and one in passing.
inline size_t connection_fds(const ServerConfig& c) {
    return 2 + c.max_message_fds;
}
constexpr size_t kExchangeFds = 4;

/// A freshly accepted connection on its way to a loop.
struct Accepted {
    UniqueFd fd;
    Ucred peer;
    UniqueFd pidfd;  ///< the peer, pinned (SO_PEERPIDFD, or pidfd_open checked on older kernels)
    uint64_t id = 0;
    /// Not empty: the connection is over a limit; every call on it is answered LimitsExceeded
    /// with this reason, then it is closed (it does not count towards the limits).
    std::string refusal;
};

class Loop {
public:
    Loop(Server& server, unsigned index);
    ~Loop();
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;

    Result<void> start();
    /// Thread-safe: queue a connection for this loop.
    void hand_over(Accepted a);
    /// Thread-safe: close every connection and end the thread.
    void stop();

    Server& server() { return server_; }
    sd_event* event() { return event_.get(); }
    /// Loop thread: a connection ended; it is destroyed once the current dispatch returns.
    void retire(ClientConnection* c);

private:
    static int on_wakeup(sd_event_source* s, int fd, uint32_t revents, void* userdata);
    static int on_reap(sd_event_source* s, void* userdata);
    void adopt(Accepted a);

    Server& server_;
    unsigned index_;
    EventPtr event_;
    UniqueFd wakeup_fd_;
    SourcePtr wakeup_source_;
    SourcePtr reaper_;
    SourcePtr clock_;  ///< a disabled timer that makes the loop's monotonic timerfd at start
    std::thread thread_;
    std::mutex mu_;
    std::deque<Accepted> incoming_;
    bool stopping_ = false;
    std::unordered_map<ClientConnection*, std::unique_ptr<ClientConnection>> connections_;
    std::vector<ClientConnection*> retired_;
};

class Server {
public:
    Server(ServerConfig config, UniqueFd listen_fd, std::shared_ptr<const CgroupService> service);
    ~Server();
    Server(const Server&) = delete;
    Server& operator=(const Server&) = delete;

    /// Serve until SIGTERM or SIGINT. `on_ready` runs once the loops accept; `on_reload` runs on
    /// SIGHUP and returns the service to use from then on (or an error, keeping the old one).
    /// The three signals are blocked here for the loop threads; a program that starts threads
    /// earlier must block them itself first.
    using Reload = std::function<Result<std::shared_ptr<const CgroupService>>()>;
    Result<void> run(const std::function<void()>& on_ready, const Reload& on_reload);

    /// The service of the moment (a snapshot; a reload does not disturb calls in flight).
    std::shared_ptr<const CgroupService> service() const;
    const ServerConfig& config() const { return config_; }
    const std::string& server_id() const { return server_id_; }

    /// Connection accounting, called by the acceptor and by loops when a connection ends.
    /// A refused connection (admit false) may still be kept, briefly, to tell the client why:
    /// take_refusing() says whether there is room for one more.
    bool admit(uid_t uid, std::string& refusal);
    bool take_refusing();
    /// A connection ended: an admitted one (refused false) or one kept to be refused.
    void release(uid_t uid, bool refused = false);

    /// Descriptors held for clients (docs/security.md, "Limits"): `n` more for `uid`, unless that
    /// goes over its budget (ServerConfig::max_fds_per_uid; host root has none) or over what the
    /// process may open less a reserve for the daemon's own work; then false and why.
    bool charge_fds(uid_t uid, size_t n, std::string& refusal);
    void release_fds(uid_t uid, size_t n);
    /// Bytes held for clients beyond their free allowance (ServerConfig::max_held_bytes*), the same way.
    bool charge_bytes(uid_t uid, size_t n, std::string& refusal);
    void release_bytes(uid_t uid, size_t n);
    /// Descriptors kept free for the daemon's own use (files it opens during calls, accepting).
    /// (A sixteenth of the limit, at least 256 or half of a smaller limit.)
    static size_t reserved_fds(size_t limit) { return std::max(limit / 16, std::min<size_t>(256, limit / 2)); }

private:
    static int on_accept(sd_event_source* s, int fd, uint32_t revents, void* userdata);
    static int on_signal(sd_event_source* s, const struct signalfd_siginfo* si, void* userdata);
    static int on_accept_retry(sd_event_source* s, uint64_t usec, void* userdata);
    void accept_all();
    void pause_accepting();
    /// Take the spare descriptors back (open /dev/null until there are kSpareFds); false with
    /// errno when the process is out of them.
    bool refill_spare_fds();

    ServerConfig config_;
    UniqueFd listen_fd_;
    std::string server_id_;
    mutable std::mutex service_mu_;
    std::shared_ptr<const CgroupService> service_;
    std::vector<std::unique_ptr<Loop>> loops_;
    std::atomic<uint64_t> next_id_{1};
    size_t next_loop_ = 0;

    mutable std::mutex count_mu_;
    size_t refusing_ = 0;
    /// Something counted per uid and in total (guarded by count_mu_).
    struct Budget {
        bool root_exempt = true;  ///< host root has no per-uid bound
        size_t total = 0;
        std::map<uid_t, size_t> per_uid;
        /// Add n for uid, unless the total would pass `capacity` or the uid `per_uid_max` (0: none).
        bool charge(uid_t uid, size_t n, size_t capacity, size_t per_uid_max);
        void release(uid_t uid, size_t n);
        size_t of(uid_t uid) const;
    };
    Budget connections_{false, 0, {}};
    Budget fds_;
    Budget bytes_;
    bool charge_fds_locked(uid_t uid, size_t n, std::string& refusal);

    /// Descriptors held back so that a connection just accepted can always be pinned (its pidfd,
    /// and a /proc file on kernels before 6.5): let go when pinning runs out of descriptors, taken
    /// again before the next accept. Without them the last free descriptor would go to accept()
    /// and the client would be refused instead of waiting in the backlog.
    static constexpr size_t kSpareFds = 2;
    std::vector<UniqueFd> spare_fds_;

    EventPtr event_;
    SourcePtr accept_source_;
    SourcePtr accept_retry_;
    Reload on_reload_;
};

}  // namespace cgm::bus
