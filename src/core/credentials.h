// SPDX-License-Identifier: Apache-2.0
//
// Who is asking: kernel credentials and the caller of an operation.
//
//  p (proxy)     the SO_PEERCRED of the D-Bus connection, as the kernel translated it into the
//                daemon's namespaces;
//  r (requestor) the process the request is made for: p itself for plain calls, the first
//                SCM_CREDENTIALS of an *Scm call;
//  v (victim)    the pid to move or query, or the uid/gid to chown to (method arguments for
//                plain calls, the second SCM_CREDENTIALS of an *Scm call).
//
// Credentials are only ever taken from the kernel; ids a client claims (SASL, arguments naming
// the caller) never authorize anything.
#pragma once

#include <sys/types.h>

namespace cgm {

struct Ucred {
    pid_t pid = 0;
    uid_t uid = 0;
    gid_t gid = 0;
    bool operator==(const Ucred&) const = default;
};

/// How a request reached the daemon.
enum class Transport {
    Plain,  ///< a plain method: requestor == proxy == the connection's peer
    Scm,    ///< an *Scm method: requestor (and victim) came as SCM_CREDENTIALS through the proxy
};

/// The caller of one operation.
struct Caller {
    Ucred proxy;
    Ucred requestor;
    Transport transport = Transport::Plain;
    /// pidfds of the proxy and the requestor where known (borrowed, -1 when not): facts read from
    /// /proc/<pid> are trusted only if the process is still alive afterwards, since a pid that is
    /// free again may name another process.
    int proxy_pidfd = -1;
    int requestor_pidfd = -1;
    /// For *Scm calls, the victim the second credential named, pinned by the transport (the
    /// kernel's SCM_PIDFD): a victim of that pid is this process, not whoever has the number now.
    pid_t victim_pid = 0;
    int victim_pidfd = -1;

    static Caller plain(const Ucred& peer, int pidfd = -1) {
        return Caller{peer, peer, Transport::Plain, pidfd, pidfd, 0, -1};
    }
    static Caller scm(const Ucred& proxy, const Ucred& requestor, int proxy_pidfd = -1, int requestor_pidfd = -1) {
        return Caller{proxy, requestor, Transport::Scm, proxy_pidfd, requestor_pidfd, 0, -1};
    }
};

}  // namespace cgm
