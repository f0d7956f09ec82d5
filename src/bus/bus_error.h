// SPDX-License-Identifier: Apache-2.0
//
// The one place where a core Error becomes a D-Bus error (docs/error-handling.md).
#pragma once

#include <systemd/sd-bus.h>

#include <string>
#include <string_view>

#include "cgmanager/result.h"

namespace cgm::bus {

/// "org.freedesktop.DBus.Error.<Kind>".
std::string error_name(ErrorKind kind);

/// A value as sent in a D-Bus string: bytes that are not valid UTF-8, and NULs, become '?'
/// (a cgroup file or a kernel path may hold anything); newlines and tabs stay.
std::string wire_string(std::string_view value);

/// An error message as sent: like wire_string, and every control character becomes '?' too, so a
/// message is always one line.
std::string wire_message(std::string_view message);

/// Reply to `call` with `e`: its kind's freedesktop name and its message; with `compat`, the
/// original's single InvalidArgs "invalid request" instead.
int reply_error(sd_bus_message* call, const Error& e, bool compat);

}  // namespace cgm::bus
