// SPDX-License-Identifier: Apache-2.0
#include "bus/pin.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cstring>

#include "core/limits.h"
#include "core/proc_parse.h"
#include "core/proc_source.h"

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77
#endif

namespace cgm::bus {

namespace {

Result<ProcStatus> status_of(pid_t pid) {
    auto text = sys::read_file(fmt::format("/proc/{}/status", pid), limits::kMaxProcFileBytes);
    if (!text)
        return make_error(ErrorKind::NotFound, "process {} does not exist", pid);
    return parse_proc_status(*text);
}

bool has_uid(const ProcStatus& st, uid_t uid) {
    for (uid_t u : st.uid)
        if (u == uid)
            return true;
    return false;
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
    if (ProcSource::socket_pidfds_wanted()) {
        int fd = -1;
        socklen_t len = sizeof fd;
        if (::getsockopt(sock, SOL_SOCKET, SO_PEERPIDFD, &fd, &len) == 0) {
            p.pidfd.reset(fd);
            if (!ProcSource::alive(p.pidfd.get())) {
                p.drop = true;
                p.why = fmt::format("the process that connected (pid {}) exited before it was accepted", peer.pid);
            }
            return p;
        }
        const int err = errno;
        if (err == ESRCH) {  // kernels that give no pidfd for a reaped process
            p.drop = true;
            p.why = fmt::format("the process that connected (pid {}) exited before it was accepted", peer.pid);
            return p;
        }
        if (err != ENOPROTOOPT) {
            // Out of descriptors or memory, most likely: not a reason to serve the connection
            // without knowing who holds it.
            p.refusal = fmt::format("the daemon could not pin the connecting process (SO_PEERPIDFD: {}); try again",
                                    std::strerror(err));
            return p;
        }
    }
    // Kernels before 6.5: the number, checked to be still the process that connected.
    auto fd = ProcSource::open_pidfd(peer.pid);
    if (!fd) {
        if (fd.error().kind == ErrorKind::NotFound) {
            p.drop = true;
            p.why = fmt::format("the process that connected (pid {}) exited before it was accepted", peer.pid);
        } else {
            p.refusal = fmt::format("the daemon could not pin the connecting process: {}", fd.error().message);
        }
        return p;
    }
    auto st = status_of(peer.pid);
    if (!st || !ProcSource::alive(fd->get())) {
        p.drop = true;
        p.why = fmt::format("the process that connected (pid {}) exited before it was accepted", peer.pid);
        return p;
    }
    if (!has_uid(*st, peer.uid)) {
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
    auto stat = sys::read_file(fmt::format("/proc/{}/stat", pid), limits::kMaxProcFileBytes);
    auto started = stat ? parse_proc_stat_start_time(*stat) : Result<uint64_t>(stat.error());
    auto st = status_of(pid);
    if (!started || !st || !ProcSource::alive(fd->get()))
        return gone();
    if (*started > boot_tick_of(d.sent))
        return make_error(ErrorKind::AccessDenied,
                          "pid {} of the {} credential belongs to a process that started after the credential was "
                          "sent: its sender has exited and the pid was reused",
                          pid, what);
    if (check_uid && !has_uid(*st, d.cred.uid))
        return make_error(
            ErrorKind::AccessDenied,
            "pid {} of the {} credential no longer has uid {}: its sender has exited and the pid was reused", pid, what,
            d.cred.uid);
    return std::move(fd).value();
}

}  // namespace cgm::bus
