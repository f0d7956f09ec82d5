// SPDX-License-Identifier: Apache-2.0
//
// The wire contract's names, shared by the daemon and every client.
#pragma once

namespace cgm {

inline constexpr const char* kObjectPath = "/org/linuxcontainers/cgmanager";
inline constexpr const char* kInterface = "org.linuxcontainers.cgmanager0_0";
/// Value of the api_version property (CGManager 0.42's).
inline constexpr int kApiVersion = 10;

/// Where every historic client looks for the daemon (used when /sys/fs/cgroup is a tmpfs).
inline constexpr const char* kLegacySocketPath = "/sys/fs/cgroup/cgmanager/sock";
/// The socket where /sys/fs/cgroup is not a tmpfs (pure cgroup2 hosts).
inline constexpr const char* kRunSocketPath = "/run/cgmanager/sock";
/// Environment variable clients read for the socket path.
inline constexpr const char* kSocketEnv = "CGMANAGER_SOCKET";

/// Prefix of the D-Bus error names the daemon answers with.
inline constexpr const char* kErrorPrefix = "org.freedesktop.DBus.Error.";

}  // namespace cgm
