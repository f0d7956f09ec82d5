// SPDX-License-Identifier: Apache-2.0
//
// One client connection: a server-mode sd_bus on an accepted fd, the peer's kernel credentials
// taken at accept, and the io and timer sources that drive it on its loop.
//
// Driving a connection: on any event, sd_bus_process() is called until it returns 0
// (at most ServerConfig::process_batch times, then the connection yields to others and comes back
// on the next iteration); then the io source is re-armed from sd_bus_get_events() and the timer
// from sd_bus_get_timeout(). This also handles libdbus clients that send BEGIN and their first
// call in one write. A connection that fails to process (the peer went away, a protocol error) is
// closed and retired: destroyed by its loop once the current dispatch is over.
//
// What the peer sends is checked as sd-bus reads it (bus/input_guard.h): the authentication,
// each message's length and file descriptors. A message sd-bus read whole but never dispatched
// was dropped as malformed, and a message left unfinished for ServerConfig::message_timeout_usec
// stalls nobody but pins memory and descriptors: both close the connection, with a log line.
#pragma once

#include <sys/types.h>

#include <deque>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "bus/input_guard.h"
#include "bus/sd_ptr.h"
#include "bus/server.h"
#include "cgmanager/result.h"
#include "core/credentials.h"
#include "core/sys.h"

namespace cgm::bus {

class ScmExchange;

class ClientConnection {
public:
    static Result<std::unique_ptr<ClientConnection>> create(Loop& loop, Accepted a);
    ~ClientConnection();
    ClientConnection(const ClientConnection&) = delete;
    ClientConnection& operator=(const ClientConnection&) = delete;

    uint64_t id() const { return id_; }
    /// SO_PEERCRED at accept, in the daemon's namespaces.
    const Ucred& peer() const { return peer_; }
    /// The peer's pidfd (SO_PEERPIDFD), or -1 where the kernel has none.
    int peer_pidfd() const { return pidfd_.get(); }
    Loop& loop() { return loop_; }
    Server& server() { return loop_.server(); }
    sd_bus* bus() { return bus_.get(); }

    /// Once the process that connected has exited, its pid may belong to someone
    /// else; calls that need the caller's identity are refused from then on.
    Result<void> check_peer_alive() const;

    /// Process what is pending and re-arm; call after sending anything outside a dispatch.
    void kick();
    /// Close the connection (logged with the reason, at debug level unless `notable`) and retire it.
    void close(std::string_view reason, bool notable = false);

    /// *Scm exchanges running for this connection (scm.h): it owns them, and ends them with itself.
    void begin_exchange(ScmExchange* x) { exchanges_.push_back(x); }
    void end_exchange(ScmExchange* x);
    size_t exchange_count() const { return exchanges_.size(); }

    /// A reply of about `bytes` was sent (queued if the peer does not read): counted, with what
    /// the peer has not finished sending, against the memory budgets (ServerConfig).
    void note_reply(size_t bytes) {
        replies_.push_back(bytes);
        reply_bytes_ += bytes;
    }

    /// Over a limit at accept (Accepted::refusal): every call gets LimitsExceeded, then it closes.
    bool refused() const { return !refusal_.empty(); }

private:
    ClientConnection(Loop& loop, uint64_t id, Ucred peer, UniqueFd pidfd, const InputRules& rules);
    static int on_io(sd_event_source* s, int fd, uint32_t revents, void* userdata);
    static int on_timer(sd_event_source* s, uint64_t usec, void* userdata);
    static int on_auth_timeout(sd_event_source* s, uint64_t usec, void* userdata);
    static int on_stall_timeout(sd_event_source* s, uint64_t usec, void* userdata);
    static int on_refused_message(sd_bus_message* m, void* userdata, sd_bus_error* error);
    static int on_incoming(sd_bus_message* m, void* userdata, sd_bus_error* error);
    void process();
    void rearm(bool more_pending);
    /// Charge or release what this connection holds beyond its free allowance; false (and the
    /// connection closed) when its uid is over budget.
    bool account_memory(uint64_t queued_replies);

    Loop& loop_;
    uint64_t id_;
    Ucred peer_;
    UniqueFd pidfd_;
    BusPtr bus_;
    SlotPtr object_slot_;
    SlotPtr shim_slot_;
    SlotPtr incoming_slot_;
    SourcePtr io_;
    SourcePtr timer_;
    SourcePtr auth_timer_;
    SourcePtr stall_timer_;  ///< armed while a message is unfinished
    std::vector<ScmExchange*> exchanges_;
    std::string refusal_;
    bool refusal_sent_ = false;
    bool closed_ = false;
    int fd_ = -1;  ///< the client's socket (the bus owns it)
    InputGuard guard_;
    uint64_t dispatched_ = 0;                ///< messages sd-bus parsed and handed to the filters
    uint64_t stalled_message_ = UINT64_MAX;  ///< the unfinished message the stall timer runs for
    std::deque<size_t> replies_;             ///< sizes of the replies sent that may still be queued, oldest first
    size_t reply_bytes_ = 0;                 ///< their sum
    size_t charged_bytes_ = 0;               ///< what is counted against the uid now
};

}  // namespace cgm::bus
