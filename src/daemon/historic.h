// SPDX-License-Identifier: Apache-2.0
//
// The historic socket path, /sys/fs/cgroup/cgmanager/sock, where every client of CGManager 0.42
// (libcgmanager, the original cgm, LXC 2.0, pam_cgm) has it compiled in, made to reach the
// daemon's socket on a host where the daemon listens elsewhere, above all on a pure cgroup v2 host
// where /sys/fs/cgroup is cgroupfs itself (docs/operations.md, "The historic socket path").
//
// The link, in the caller's mount namespace (the host's: call before entering the private one):
//  - /sys/fs/cgroup/cgmanager is made if missing (on cgroup2 that is an empty cgroup of the root
//    cgroup, which is never given processes) and, on cgroup2, covered by a small tmpfs whose
//    source is "cgmanager" (or "cgmanager-over" when the directory was there before: it stays);
//  - an empty file "sock" there gets the daemon's socket bind-mounted onto it, so connecting to
//    the historic path connects to the daemon, also through a bind mount of the directory into a
//    container (cgproxy's layout).
// Unlinking undoes each step that is recognizably ours, and only those.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>

#include "cgmanager/result.h"
#include "core/sys.h"

namespace cgm {

/// What link_historic_socket found or did.
enum class HistoricLink {
    AlreadyThere,  ///< the daemon's socket is the historic path itself, or is already linked there
    Linked,        ///< the historic path now reaches the socket
};

/// Make /sys/fs/cgroup/cgmanager/sock reach the listening socket at `socket_path`. Refused, with
/// nothing changed, when another daemon answers there, when /sys/fs/cgroup is neither a cgroup2
/// mount nor a tmpfs, when /sys/fs/cgroup/cgmanager is a cgroup in use (processes or children)
/// or something else that is not ours.
Result<HistoricLink> link_historic_socket(const std::string& socket_path);

/// Undo a link: the bind mount on the historic path, its placeholder file, our tmpfs and (on
/// cgroup2) the then empty cgmanager cgroup if we made it. Anything there that is not recognizably
/// ours stays. Nothing there is not an error. With `only_socket`, only while the historic path
/// still reaches that socket (device and inode), so that a daemon that went does not undo the link
/// of the one that replaced it.
struct SocketId {
    dev_t dev = 0;
    ino_t ino = 0;
};
Result<void> unlink_historic_socket(std::optional<SocketId> only_socket = std::nullopt);

/// Start a process that stays in this mount namespace and calls unlink_historic_socket() once the
/// returned descriptor (close-on-exec; keep it for the daemon's lifetime) is closed, which the
/// kernel does when the daemon exits in any way. It ignores SIGTERM, SIGINT and SIGHUP (they are
/// blocked in the caller, and the mask is inherited), so that stopping a service's processes
/// together still unlinks.
/// `socket_path` is the linked socket (its inode is remembered now); `quiet`: the daemon detaches
/// (--daemon), so the helper logs to syslog rather than to the terminal it came from.
Result<UniqueFd> unlink_historic_socket_at_exit(const std::string& socket_path, bool quiet);

}  // namespace cgm
