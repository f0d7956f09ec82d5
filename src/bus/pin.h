// SPDX-License-Identifier: Apache-2.0
#pragma once
//
// Binding the processes that talk to the daemon to pidfds: a pid number is only a name, and once
// its process has exited the number may be given to another process (pid_max is often 32768,
// and /proc/sys/kernel/ns_last_pid lets anyone with the privilege choose the next one). The
// daemon therefore never acts for a number alone:
//
//  - A connection's peer is pinned at accept, from SO_PEERPIDFD (Linux 6.5): the pidfd of the
//    very process that connected. Without it, the number from SO_PEERCRED is pinned with
//    pidfd_open and accepted only while that process still has the uid that connected.
//  - Each *Scm credential is pinned from the SCM_PIDFD that comes with it (SO_PASSPIDFD, Linux
//    6.5): the pidfd of the process the credential names, taken by the kernel when it was sent.
//    Without it, the number is pinned with pidfd_open and accepted only if that process started
//    no later than the credential was sent (the datagram's kernel timestamp) and, for the
//    requestor, still has the credential's uid.
// A pinned process that has exited (or is exiting) is refused: the daemon only ever acts for
// processes that are alive, and re-checks them through their pidfds around each /proc read.
#include <sys/types.h>
#include <time.h>

#include <string>
#include <string_view>

#include "cgmanager/result.h"
#include "core/credentials.h"
#include "core/sys.h"

namespace cgm::bus {

/// What to do with a connection just accepted.
struct PeerPin {
    UniqueFd pidfd;       ///< valid: serve it as this process
    bool drop = false;    ///< the peer is gone (or its pid names another process): close it at once
    std::string refusal;  ///< not empty: it cannot be pinned now (e.g. no descriptor was left)
    int err = 0;          ///< with a refusal: the errno behind it (EMFILE, ENFILE: out of descriptors)
    std::string why;      ///< why it is dropped, for the log
};
PeerPin pin_peer(int sock, const Ucred& peer);

/// One credential of an *Scm exchange as it arrived on the passed socket.
struct ReceivedCred {
    Ucred cred;
    UniqueFd pidfd;           ///< from SCM_PIDFD
    bool has_pidfd = false;   ///< an SCM_PIDFD came (pidfd invalid then: the kernel had none to give)
    struct timespec sent {};  ///< SCM_TIMESTAMPNS: when it was sent (CLOCK_REALTIME)
    bool has_time = false;
};

/// The process a credential names, as a pidfd, or why it is refused. `what` names the
/// credential in messages ("requestor", "victim"); `check_uid`: the credential's uid must be one
/// of the process's uids (only checked where the kernel gave no pidfd).
Result<UniqueFd> pin_credential(ReceivedCred& d, std::string_view what, bool check_uid);

}  // namespace cgm::bus
