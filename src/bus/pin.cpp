// SPDX-License-Identifier: Apache-2.0
#include "bus/pin.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "core/proc_parse.h"
#include "core/proc_source.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace cgm::bus {

namespace {

// The status of a process by its number, from the system's /proc (NotFound when it has exited).
Result<ProcStatus> status_of(pid_t pid) {
    const ProcSource* proc = system_proc();
    return proc ? proc->status(pid) : make_error(ErrorKind::Failed, "/proc cannot be opened");
}

int64_t ns_of(const struct timespec& t) {
    return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

// The clock tick (after boot, as /proc/<pid>/stat counts) in which a CLOCK_REALTIME moment lies.
uint64_t boot_tick_of(const struct timespec& realtime) {
    struct timespec now_real {
    }, now_boot{};
    ::clock_gettime(CLOCK_REALTIME, &now_real);
    ::clock_gettime(CLOCK_BOOTTIME, &now_boot);
    int64_t age = std::max<int64_t>(0, ns_of(now_real) - ns_of(realtime));
    int64_t at = std::max<int64_t>(0, ns_of(now_boot) - age);
    long hz = ::sysconf(_SC_CLK_TCK);
    return static_cast<uint64_t>(at / (1'000'000'000 / (hz > 0 ? hz : 100)));
}

}  // namespace

PeerPin pin_peer(int sock, const Ucred& peer) {
    PeerPin p;
    auto exited = [&] {
        p.drop = true;
        p.why = fmt::format("the process that connected (pid {}) exited before it was accepted", peer.pid);
        return std::move(p);
    };
    if (ProcSource::socket_pidfds_wanted()) {
        int fd = -1;
        socklen_t len = sizeof fd;
        if (::getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) == 0) {
            p.pidfd.reset(fd);
            return ProcSource::alive(p.pidfd.get()) ? std::move(p) : exited();
        }
        const int err = errno;
        if (err == ESRCH)  // kernels that give no pidfd for a reaped process
            return exited();
        if (err != ENOPROTOOPT) {
            // Out of descriptors or memory, most likely: not a reason to serve the connection
            // without knowing who holds it.
            p.refusal = fmt::format("the daemon could not pin the connecting process (SO_PEERPIDFD: {}); try again",
                                    std::strerror(err));
            p.err = err;
            return p;
        }
    }
    // Kernels before 6.5: the number, checked to be still the process that connected.
    auto fd = ProcSource::open_pidfd(peer.pid);
    if (!fd) {
        if (fd.error().kind == ErrorKind::NotFound)
            return exited();
        p.refusal = fmt::format("the daemon could not pin the connecting process: {}", fd.error().message);
        p.err = fd.error().sys_errno;
        return p;
    }
    auto st = status_of(peer.pid);
    if (!st && st.error().kind != ErrorKind::NotFound) {
        // Not a sign that the peer is gone: /proc could not be read (out of descriptors, say).
        p.refusal = fmt::format("the daemon could not check the connecting process: {}", st.error().message);
        p.err = st.error().sys_errno;
        return p;
    }
    if (!st || !ProcSource::alive(fd->get()))
        return exited();
    if (!st->has_uid(peer.uid)) {
        p.drop = true;
        p.why = fmt::format("pid {} no longer has uid {}, which connected (its pid was reused by uid {})", peer.pid,
                            peer.uid, st->real_uid());
        return p;
    }
    p.pidfd = std::move(fd).value();
    return p;
}

Result<UniqueFd> pin_credential(ReceivedCred& d, std::string_view what, bool check_uid) {
    const pid_t pid = d.cred.pid;
    // A requestor that is gone cannot be identified (refused); a victim that is gone is not found.
    auto gone = [&] {
        return make_error(check_uid ? ErrorKind::AccessDenied : ErrorKind::NotFound,
                          "the process the {} credential names (pid {}) has exited; credentials are taken only from "
                          "processes that are alive",
                          what, pid);
    };
    if (d.has_pidfd) {
        if (!d.pidfd || !ProcSource::alive(d.pidfd.get()))
            return gone();
        return std::move(d.pidfd);
    }
    // Kernels before 6.5: pin the number, and make sure it still names the process that sent it.
    auto fd = ProcSource::open_pidfd(pid);
    if (!fd) {
        if (fd.error().kind == ErrorKind::NotFound)
            return gone();
        return std::move(fd).error();
    }
    if (!d.has_time)
        return make_error(ErrorKind::InvalidArgs, "the {} credential came without the kernel's timestamp", what);
    const ProcSource* proc = system_proc();
    auto started = proc ? proc->start_time(pid) : make_error(ErrorKind::Failed, "/proc cannot be opened");
    auto st = status_of(pid);
    // /proc that cannot be read (out of descriptors, say) says nothing about the process.
    if (!started && started.error().kind != ErrorKind::NotFound)
        return std::move(started).error();
    if (!st && st.error().kind != ErrorKind::NotFound)
        return std::move(st).error();
    if (!started || !st || !ProcSource::alive(fd->get()))
        return gone();
    if (*started > boot_tick_of(d.sent))
        return make_error(ErrorKind::AccessDenied,
                          "pid {} of the {} credential belongs to a process that started after the credential was "
                          "sent: its sender has exited and the pid was reused",
                          pid, what);
    if (check_uid && !st->has_uid(d.cred.uid))
        return make_error(
            ErrorKind::AccessDenied,
            "pid {} of the {} credential no longer has uid {}: its sender has exited and the pid was reused", pid, what,
            d.cred.uid);
    return std::move(fd).value();
}

}  // namespace cgm::bus
