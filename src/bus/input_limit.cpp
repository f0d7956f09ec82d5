// SPDX-License-Identifier: Apache-2.0
#include "bus/input_limit.h"

#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>

namespace cgm::bus {

namespace {

thread_local InputLimit* t_current = nullptr;

using RecvmsgFn = ssize_t (*)(int, struct msghdr*, int);
using ReadvFn = ssize_t (*)(int, const struct iovec*, int);

template <typename Fn>
Fn next_definition(const char* name) {
    return reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
}

// Cut an iovec array to `room` bytes in total, into `out`; returns how many entries it has.
int clamp(const struct iovec* in, int n, uint64_t room, std::array<struct iovec, 16>& out) {
    int k = 0;
    for (int i = 0; i < n && k < static_cast<int>(out.size()) && room > 0; ++i) {
        out[k] = in[i];
        if (out[k].iov_len > room)
            out[k].iov_len = room;
        room -= out[k].iov_len;
        ++k;
    }
    return k;
}

}  // namespace

InputLimit::InputLimit(int fd, uint64_t& unfinished, uint64_t limit)
    : fd_(fd), unfinished_(&unfinished), limit_(limit), outer_(t_current) {
    t_current = this;
}

InputLimit::~InputLimit() {
    t_current = outer_;
}

InputLimit* InputLimit::current() {
    return t_current;
}

}  // namespace cgm::bus

using cgm::bus::InputLimit;

extern "C" ssize_t recvmsg(int fd, struct msghdr* msg, int flags) {
    static const cgm::bus::RecvmsgFn libc = cgm::bus::next_definition<cgm::bus::RecvmsgFn>("recvmsg");
    InputLimit* g = InputLimit::current();
    if (g == nullptr || g->fd() != fd || (flags & MSG_PEEK) != 0 || msg == nullptr)
        return libc ? libc(fd, msg, flags) : ::syscall(SYS_recvmsg, fd, msg, flags);
    if (g->room() == 0) {
        errno = EMSGSIZE;
        return -1;
    }
    std::array<struct iovec, 16> iov{};
    struct msghdr cut = *msg;
    cut.msg_iov = iov.data();
    cut.msg_iovlen =
        static_cast<size_t>(cgm::bus::clamp(msg->msg_iov, static_cast<int>(msg->msg_iovlen), g->room(), iov));
    ssize_t n = libc ? libc(fd, &cut, flags) : ::syscall(SYS_recvmsg, fd, &cut, flags);
    if (n > 0)
        g->took(static_cast<uint64_t>(n));
    msg->msg_controllen = cut.msg_controllen;
    msg->msg_flags = cut.msg_flags;
    msg->msg_namelen = cut.msg_namelen;
    return n;
}

extern "C" ssize_t readv(int fd, const struct iovec* iov, int iovcnt) {
    static const cgm::bus::ReadvFn libc = cgm::bus::next_definition<cgm::bus::ReadvFn>("readv");
    InputLimit* g = InputLimit::current();
    if (g == nullptr || g->fd() != fd || iov == nullptr)
        return libc ? libc(fd, iov, iovcnt) : ::syscall(SYS_readv, fd, iov, iovcnt);
    if (g->room() == 0) {
        errno = EMSGSIZE;
        return -1;
    }
    std::array<struct iovec, 16> cut{};
    const int k = cgm::bus::clamp(iov, iovcnt, g->room(), cut);
    ssize_t n = libc ? libc(fd, cut.data(), k) : ::syscall(SYS_readv, fd, cut.data(), k);
    if (n > 0)
        g->took(static_cast<uint64_t>(n));
    return n;
}
