// SPDX-License-Identifier: Apache-2.0
//
// The D-Bus wire by hand, for tests that must send what no library would: SASL lines of our
// choosing, messages marshalled byte by byte (a signature nested too deep, a header naming
// descriptors that are not sent, a string that is not UTF-8), messages sent in pieces with
// descriptors attached. Little-endian, method calls to the cgmanager object only.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cgm::test::wire {

/// Write all of `bytes` to a connected socket (blocking). False on error.
bool send_all(int fd, const std::string& bytes);
/// Send `bytes` in one sendmsg with descriptors `fds` attached (SCM_RIGHTS). Returns what sendmsg
/// returned (-1 and errno on failure).
ssize_t send_fds(int fd, const std::string& bytes, const std::vector<int>& fds);
/// The same with `count` copies of descriptor `passed`.
ssize_t send_with_fds(int fd, const std::string& bytes, int passed, int count);
/// Receive one byte and up to `max` descriptors sent with it (close-on-exec); none on failure.
std::vector<int> recv_fds(int fd, size_t max);
/// Read until `until` has been seen or `timeout_ms` passed or the peer closed; returns what came.
std::string read_until(int fd, const std::string& until, int timeout_ms);
/// Whether the peer closed the connection (EOF or a reset) within `timeout_ms`; data that comes
/// first is read and dropped.
bool closed_within(int fd, int timeout_ms);

/// The SASL exchange a libdbus client of uid `uid` makes ("AUTH EXTERNAL <hex uid>",
/// NEGOTIATE_UNIX_FD, BEGIN); true when the server answered OK and AGREE_UNIX_FD.
bool authenticate(int fd, uid_t uid);
/// A Ping and its answer (serial 1000): the connection is past its authentication.
bool ping(int fd);
/// Hex of the decimal form of a uid, as EXTERNAL claims carry it ("1000" -> "31303030").
std::string hex_uid(uid_t uid);

/// A method call to /org/linuxcontainers/cgmanager, interface org.linuxcontainers.cgmanager0_0.
struct Call {
    uint32_t serial = 1;
    std::string member;
    std::string signature;             ///< what the SIGNATURE header field says
    std::string body;                  ///< marshalled already (Body below)
    std::optional<uint32_t> unix_fds;  ///< a UNIX_FDS header field, if any
};
std::string marshal(const Call& c);

/// Body marshalling, little-endian, offsets from the start of the body (8-aligned in a message).
class Body {
public:
    Body& str(const std::string& s);
    Body& i32(int32_t v);
    Body& fd_index(uint32_t v);
    const std::string& bytes() const { return b_; }

private:
    void align(size_t n);
    std::string b_;
};

/// Read one whole message; empty on timeout or close.
std::string read_message(int fd, int timeout_ms);
/// The message type byte of a marshalled message (2 method return, 3 error), or 0.
int message_type(const std::string& m);

}  // namespace cgm::test::wire
