// SPDX-License-Identifier: Apache-2.0
//
// The *Scm methods: the credential exchange of docs/dbus-api.md section 5, byte-compatible with
// CGManager 0.42, driven asynchronously on the connection's loop.
//
// The exchange, step by step (client = whoever made the D-Bus call, usually a proxy):
//  1. The client makes a SOCK_DGRAM socketpair, sets SO_PASSCRED on both ends and sends the XxxScm
//     call with one end as the final 'h' argument.
//  2. The daemon dups that fd and checks it: a unix datagram socket, nothing queued on it yet, one
//     end of a socketpair (connected, to a socket without a name) made by the caller's uid. It
//     sets SO_PASSCRED and SO_PASSPIDFD (SO_TIMESTAMPNS where the kernel has no SO_PASSPIDFD),
//     writes the kick (one datagram "1") and sends the empty D-Bus reply. From here on nothing
//     travels over D-Bus.
//  3. The client sends one datagram carrying SCM_CREDENTIALS of the requestor (any payload). The
//     kernel checks and translates it: a process may only send another pid or uid with the
//     matching capability, and the daemon receives them in its own namespaces. The credential is
//     pinned to its process (bus/pin.h): a sender that exited meanwhile is refused.
//  4. For GetPidCgroup(Abs), MovePid(Abs) and Chown a second credential (the victim pid, or the new
//     owner uid:gid) is needed: the daemon writes another "1" and reads a second datagram, which
//     may arrive before its kick.
//  5. The daemon runs the operation with Caller{proxy = the connection's peer, requestor = the
//     first credential, victim pinned}, writes the result datagram(s) and closes its end. Every
//     datagram it sends goes to the same peer (checked before each send) and carries the caller's
//     credentials, never the daemon's own.
//
// Differences from 0.42: the whole exchange has a timeout (ServerConfig::scm_timeout_usec); a
// connection may have only ServerConfig::max_scm_pending exchanges at a time, each counted against
// its uid's descriptor budget; results that do not fit the socket buffer wait for it to drain
// instead of being cut short (within the timeout); a bad credential datagram, or credentials that
// never come, still get the method's failure result before the socket is closed.
#pragma once

#include <systemd/sd-bus.h>

namespace cgm::bus {

class ClientConnection;

enum class ScmMethod {
    GetPidCgroup,
    GetPidCgroupAbs,
    Create,
    Chown,
    Chmod,
    MovePid,
    MovePidAbs,
    GetValue,
    SetValue,
    Remove,
    GetTasks,
    GetTasksRecursive,
    ListChildren,
    RemoveOnEmpty,
    Prune,
    ListKeys,
};

/// Handle an XxxScm method call: validate the fd, start the exchange, reply.
int start_scm(sd_bus_message* m, ClientConnection& conn, ScmMethod method, sd_bus_error* error);

/// One exchange in progress; owned by its ClientConnection.
class ScmExchange;
void destroy_exchange(ScmExchange* x);

}  // namespace cgm::bus
