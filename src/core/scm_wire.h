// SPDX-License-Identifier: Apache-2.0
//
// The result datagrams of the *Scm exchanges (docs/dbus-api.md, "Results" and "Failure detail"):
// what the daemon sends and what the client library reads, in one place. Pure functions, no I/O:
// a datagram is a std::string. Integers are native-endian, as 0.42 sent them. The task lists'
// pids travel as credentials of one-byte 'p' datagrams, which only the socket code can make, so
// only their count is here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cgmanager/result.h"

namespace cgm::scm_wire {

/// How a method's result travels.
enum class Shape {
    Status,   ///< '1' done, '0' failed
    Existed,  ///< '2' existed, '1' did not, '0' failed
    Text,     ///< the string and one NUL; a zero-length datagram on failure
    Pids,     ///< an int32 count (then one credential datagram per pid); -1 on failure
    Names,    ///< an int32 count; if > 0 a uint32 length and one blob of NUL-terminated names
    Keys,     ///< as Names, the blob four lines per key: name, uid, gid, mode (signed decimal)
};

/// One ListKeys entry as it travels.
struct Key {
    std::string name;
    uint32_t uid = 0;
    uint32_t gid = 0;
    uint32_t mode = 0;
    bool operator==(const Key&) const = default;
};

// ---- Encoding (the daemon) ---------------------------------------------------------------------

std::string status_ok();
std::string existed(bool existed_before);
std::string text(std::string_view value);
std::string count(int32_t n);
std::string length(uint32_t n);
std::string names_blob(const std::vector<std::string>& names);
std::string keys_blob(const std::vector<Key>& keys);
/// The datagrams of a list result (Names, Keys): the count, then, if any, the length and the blob.
std::vector<std::string> list(size_t count, const std::string& blob);
/// The failure datagram of a shape.
std::string failure(Shape shape);
/// The datagram after a failure that names the error and gives its (one-line) message; the daemon
/// leaves it out with --compat-errors.
std::string error_datagram(std::string_view error_name, std::string_view message);

// ---- Decoding (the client) ---------------------------------------------------------------------
// Each gives the value, nothing where the datagram is the shape's failure result (the reason
// follows in an error datagram, or not at all), or an error naming what is malformed.

Result<bool> read_status(std::string_view datagram);                     ///< true: done; false: failed
Result<std::optional<int32_t>> read_existed(std::string_view datagram);  ///< 1 existed, -1 did not
Result<std::optional<std::string>> read_text(std::string_view datagram);
Result<std::optional<int32_t>> read_count(std::string_view datagram);
Result<uint32_t> read_length(std::string_view datagram);
/// The blob of a list result, checked against the count and length that came before it.
Result<std::vector<std::string>> read_names(std::string_view blob, int32_t count);
Result<std::vector<Key>> read_keys(std::string_view blob, int32_t count);

struct ErrorDetail {
    std::string name;  ///< e.g. org.freedesktop.DBus.Error.AccessDenied
    std::string message;
};
/// An error datagram, or nothing when the datagram is not one.
std::optional<ErrorDetail> read_error(std::string_view datagram);

}  // namespace cgm::scm_wire
