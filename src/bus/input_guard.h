// SPDX-License-Identifier: Apache-2.0
#pragma once
//
// What a client may send on its connection, checked as sd-bus reads it.
//
// sd-bus reads a client socket itself and offers no hook to bound what it reads, so this file
// defines recvmsg() and readv() for the whole program (the executable's definitions come before
// libc's, so libsystemd's calls land here) and passes every call through to libc, except a read
// by sd-bus of the client socket whose InputGuard is active on this thread
// (InputGuard::Active). Such a read goes through the guard, which follows the byte stream:
//
//  - The SASL exchange, line by line. A line is handed to sd-bus only once it is complete, so
//    that an identity claim can be judged whole: "AUTH EXTERNAL <hex uid>" or its "DATA <hex
//    uid>" naming a uid other than the one the kernel gave for the socket is turned into a
//    request sd-bus rejects ("AUTH", answered "REJECTED EXTERNAL ANONYMOUS"; "CANCEL"), so the
//    client falls back to another mechanism, as with CGManager 0.42's libdbus server. The
//    identity used is always the socket's (SO_PEERCRED); the claim never counted.
//  - After BEGIN, the D-Bus messages: their fixed 16-byte headers give each message's length,
//    so the guard knows where every message ends. A header that announces more than the message
//    bound, and more file descriptors with one message than the bound, fail the read (the fds
//    are closed first), and sd-bus's processing returns that errno; failure() says why.
//  - It counts the messages read whole, so that the connection can tell a message sd-bus read
//    and then dropped as malformed (it does so silently) from one it dispatched.
//
// The guard itself is plain logic on bytes (unit-tested and fuzzed); the interposed functions
// are the only code that touches a socket.
#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

namespace cgm::bus {

struct InputRules {
    uint64_t max_message_bytes = 1 << 20;  ///< one message, and the whole authentication
    unsigned max_message_fds = 1;          ///< file descriptors sent with one message
    uid_t peer_uid = 0;                    ///< SO_PEERCRED's uid: identity claims must name it
};

class InputGuard {
public:
    explicit InputGuard(const InputRules& rules) : rules_(rules) {}

    /// Before BEGIN: bytes are SASL lines.
    bool authenticating() const { return phase_ == Phase::Auth; }
    /// Part of a message (or of the authentication) has been read, not all of it.
    bool mid_message() const { return phase_ == Phase::Auth ? auth_bytes_ > 0 : in_message_ > 0; }
    /// Messages read whole since the connection began.
    uint64_t complete_messages() const { return complete_; }
    /// Why the last failed read failed (empty if none did).
    const std::string& failure() const { return failure_; }
    /// Bytes sd-bus holds of what was read: the authentication so far, or the message being read
    /// plus the last one read whole (sd-bus lets go of it when it reads the next).
    uint64_t held_bytes() const { return phase_ == Phase::Auth ? auth_bytes_ : in_message_ + last_length_; }
    /// Lines whose identity claim was rejected (for tests and logs).
    unsigned rejected_claims() const { return rejected_claims_; }

    /// How many bytes the next read may take from the socket, when it offers `capacity` bytes of
    /// buffer. Never past the end of the message being read once its header is known; during
    /// authentication, room is kept for the part of a line held back. 0: the read must fail
    /// (failure() says why; the errno is EMSGSIZE).
    size_t room(size_t capacity);

    /// A read during authentication: `in[0..n)` came from the socket with `nfds` descriptors
    /// (already closed by the caller if this fails). Writes what sd-bus is to see to `out` (at
    /// least room() + held bytes of capacity; never more than that) and sets `*out_n`. Returns 0,
    /// or an errno to fail the read with. Returning 0 with *out_n == 0 means "nothing complete
    /// yet": the caller reports EAGAIN (the bytes are held, so the socket is drained).
    int on_auth_read(const char* in, size_t n, unsigned nfds, char* out, size_t cap, size_t* out_n);

    /// A read after authentication: `p[0..n)` with `nfds` descriptors, handed to sd-bus as they
    /// are. Returns 0, or an errno to fail the read with.
    int on_message_read(const char* p, size_t n, unsigned nfds);

    /// The guard whose socket reads on this thread go through it (at most one at a time).
    class Active {
    public:
        Active(int fd, InputGuard& guard);
        ~Active();
        Active(const Active&) = delete;
        Active& operator=(const Active&) = delete;
        static Active* current();
        int fd() const { return fd_; }
        InputGuard& guard() const { return guard_; }

    private:
        int fd_;
        InputGuard& guard_;
        Active* outer_;
    };

    /// The longest partial SASL line held back to be judged whole; a longer line is handed on as
    /// it comes (it cannot be a valid identity claim, and sd-bus rejects it).
    static constexpr size_t kMaxHeldLine = 128;

private:
    enum class Phase { Auth, Messages };
    void auth_line(const std::string& line, std::string& out);
    int fail(int err, std::string why);

    InputRules rules_;
    Phase phase_ = Phase::Auth;
    // Authentication.
    uint64_t auth_bytes_ = 0;        // read so far, the held part included
    bool first_byte_ = true;         // the NUL that opens the exchange is next
    std::string held_;               // a partial line, not yet handed on
    bool passing_long_ = false;      // inside a line too long to hold: handed on as it comes
    bool last_cr_ = false;           // (then) the last byte handed on was '\r'
    bool external_pending_ = false;  // "AUTH EXTERNAL" without a token: its DATA is the claim
    unsigned rejected_claims_ = 0;
    // Messages.
    unsigned char header_[16] = {};
    uint64_t in_message_ = 0;   // bytes of the current message read
    uint64_t length_ = 0;       // its length once its header is in (0 before)
    unsigned fds_ = 0;          // descriptors received with it
    uint64_t last_length_ = 0;  // length of the last message read whole
    uint64_t complete_ = 0;
    std::string failure_;
};

}  // namespace cgm::bus
