// SPDX-License-Identifier: Apache-2.0
//
// The one place where a core Error becomes a D-Bus error (DESIGN §2.1, docs/error-handling.md).
#pragma once

#include <systemd/sd-bus.h>

#include <string>
#include <string_view>

#include "cgmanager/result.h"

namespace cgm::bus {

/// "org.freedesktop.DBus.Error.<Kind>".
std::string error_name(ErrorKind kind);

/// The message as sent: invalid UTF-8 bytes and control characters replaced, so that any text
/// (a kernel path with odd bytes included) can travel in a D-Bus string.
std::string wire_message(std::string_view message);

/// Reply to `call` with `e`: its kind's freedesktop name and its message; with `compat`, the
/// original's single InvalidArgs "invalid request" instead.
int reply_error(sd_bus_message* call, const Error& e, bool compat);

}  // namespace cgm::bus
