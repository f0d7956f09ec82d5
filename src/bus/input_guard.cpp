// SPDX-License-Identifier: Apache-2.0
#include "bus/input_guard.h"

#include <dlfcn.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string_view>

#include <fmt/format.h>

namespace cgm::bus {

namespace {

thread_local InputGuard::Active* t_active = nullptr;

int hex_value(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

// Whether `hex` is a well-formed identity claim (hex of a decimal uid) naming a uid other than
// `uid`. A malformed token is not a claim: sd-bus rejects it by itself.
bool claims_other_uid(std::string_view hex, uid_t uid) {
    if (hex.empty() || hex.size() % 2 != 0 || hex.size() > 20)
        return false;
    uint64_t value = 0;
    for (size_t i = 0; i < hex.size(); i += 2) {
        int hi = hex_value(hex[i]), lo = hex_value(hex[i + 1]);
        if (hi < 0 || lo < 0)
            return false;
        char digit = static_cast<char>(hi << 4 | lo);
        if (digit < '0' || digit > '9')
            return false;
        value = value * 10 + static_cast<uint64_t>(digit - '0');
    }
    return value <= UINT32_MAX && value != uid;
}

bool begins(std::string_view line, std::string_view word) {
    return line.substr(0, word.size()) == word && (line.size() == word.size() || line[word.size()] == ' ');
}

uint32_t u32(const unsigned char* p, bool little) {
    return little ? (uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 | uint32_t{p[3]} << 24)
                  : (uint32_t{p[3]} | uint32_t{p[2]} << 8 | uint32_t{p[1]} << 16 | uint32_t{p[0]} << 24);
}

}  // namespace

int InputGuard::fail(int err, std::string why) {
    failure_ = std::move(why);
    return err;
}

size_t InputGuard::room(size_t capacity) {
    if (phase_ == Phase::Messages) {
        uint64_t left = length_ > 0 ? length_ - in_message_ : rules_.max_message_bytes - in_message_;
        return static_cast<size_t>(std::min<uint64_t>(capacity, left));
    }
    if (auth_bytes_ >= rules_.max_message_bytes) {
        fail(EMSGSIZE, fmt::format("the peer sent more than {} bytes without finishing the authentication",
                                   rules_.max_message_bytes));
        return 0;
    }
    if (capacity <= held_.size()) {
        fail(EMSGSIZE, fmt::format("a read of {} bytes cannot hold the {} bytes of a partial authentication line",
                                   capacity, held_.size()));
        return 0;
    }
    return static_cast<size_t>(std::min<uint64_t>(capacity - held_.size(), rules_.max_message_bytes - auth_bytes_));
}

void InputGuard::auth_line(const std::string& line, std::string& out) {
    std::string_view l(line);
    std::string_view sent = l;
    if (l == "BEGIN") {
        phase_ = Phase::Messages;
    } else if (begins(l, "AUTH")) {
        external_pending_ = l == "AUTH EXTERNAL";
        if (begins(l, "AUTH EXTERNAL") && l.size() > 14 && claims_other_uid(l.substr(14), rules_.peer_uid)) {
            sent = "AUTH";  // sd-bus answers "REJECTED EXTERNAL ANONYMOUS"
            ++rejected_claims_;
        }
    } else if (begins(l, "DATA")) {
        if (external_pending_ && l.size() > 5 && claims_other_uid(l.substr(5), rules_.peer_uid)) {
            sent = "CANCEL";  // sd-bus answers "REJECTED" and forgets the mechanism
            ++rejected_claims_;
        }
        external_pending_ = false;
    } else if (l == "CANCEL" || begins(l, "ERROR")) {
        external_pending_ = false;
    }
    out.append(sent);
    out.append("\r\n");
}

int InputGuard::on_auth_read(const char* in, size_t n, unsigned nfds, char* out, size_t cap, size_t* out_n) {
    *out_n = 0;
    if (nfds > 0)
        return fail(EIO, "the peer sent file descriptors before it finished authenticating");
    auth_bytes_ += n;
    std::string emit;
    std::string line = std::move(held_);
    held_.clear();
    size_t i = 0;
    for (; i < n && phase_ == Phase::Auth; ++i) {
        char c = in[i];
        if (first_byte_) {
            first_byte_ = false;
            emit.push_back(c);  // the opening NUL (sd-bus refuses anything else)
            continue;
        }
        if (passing_long_) {
            emit.push_back(c);
            if (c == '\n' && last_cr_)
                passing_long_ = false;
            last_cr_ = c == '\r';
            continue;
        }
        line.push_back(c);
        if (line.size() >= 2 && line[line.size() - 2] == '\r' && c == '\n') {
            line.resize(line.size() - 2);
            auth_line(line, emit);
            line.clear();
        } else if (line.size() >= kMaxHeldLine) {
            emit.append(line);
            passing_long_ = true;
            last_cr_ = c == '\r';
            line.clear();
        }
    }
    held_ = std::move(line);
    // Whatever follows BEGIN in this read is the start of the first messages.
    const char* rest = in + i;
    size_t rest_n = n - i;
    if (rest_n > 0) {
        auth_bytes_ -= rest_n;
        if (int err = on_message_read(rest, rest_n, 0); err != 0)
            return err;
    }
    if (emit.size() + rest_n > cap)
        return fail(EMSGSIZE, "internal: an authentication read grew");  // rewrites only shrink lines
    std::copy(emit.begin(), emit.end(), out);
    std::copy(rest, rest + rest_n, out + emit.size());
    *out_n = emit.size() + rest_n;
    return 0;
}

int InputGuard::on_message_read(const char* p, size_t n, unsigned nfds) {
    if (nfds > 0) {
        fds_ += nfds;
        if (fds_ > rules_.max_message_fds)
            return fail(ETOOMANYREFS, fmt::format("the peer sent {} file descriptors with one message; the limit is {}",
                                                  fds_, rules_.max_message_fds));
    }
    while (n > 0) {
        size_t take;
        if (in_message_ < sizeof header_) {
            take = std::min<size_t>(sizeof header_ - in_message_, n);
            std::memcpy(header_ + in_message_, p, take);
            in_message_ += take;
            if (in_message_ == sizeof header_) {
                const bool little = header_[0] == 'l';
                if (!little && header_[0] != 'B')
                    return fail(EBADMSG,
                                fmt::format("the peer sent a message that does not start with an endianness mark "
                                            "(byte 0x{:02x})",
                                            header_[0]));
                const uint64_t body = u32(header_ + 4, little);
                const uint64_t fields = u32(header_ + 12, little);
                length_ = sizeof header_ + ((fields + 7) & ~uint64_t{7}) + body;
                if (length_ > rules_.max_message_bytes)
                    return fail(EMSGSIZE, fmt::format("the peer announced a message of {} bytes; the limit is {}",
                                                      length_, rules_.max_message_bytes));
            }
        } else {
            take = static_cast<size_t>(std::min<uint64_t>(length_ - in_message_, n));
            in_message_ += take;
        }
        p += take;
        n -= take;
        if (length_ > 0 && in_message_ == length_) {
            ++complete_;
            last_length_ = length_;
            in_message_ = 0;
            length_ = 0;
            fds_ = 0;
        }
    }
    return 0;
}

InputGuard::Active::Active(int fd, InputGuard& guard) : fd_(fd), guard_(guard), outer_(t_active) {
    t_active = this;
}

InputGuard::Active::~Active() {
    t_active = outer_;
}

InputGuard::Active* InputGuard::Active::current() {
    return t_active;
}

}  // namespace cgm::bus

// -------------------------------------------------------------------------------------------------
// The program's own recvmsg() and readv(): every call goes through to libc's, except sd-bus's
// reads of the client socket whose guard is active on this thread. (In this file, with the guard,
// so that every program that uses a guard links them.)

namespace {

using cgm::bus::InputGuard;
using RecvmsgFn = ssize_t (*)(int, struct msghdr*, int);
using ReadvFn = ssize_t (*)(int, const struct iovec*, int);

template <typename Fn>
Fn next_definition(const char* name) {
    return reinterpret_cast<Fn>(::dlsym(RTLD_NEXT, name));
}

ssize_t libc_recvmsg(int fd, struct msghdr* msg, int flags) {
    static const RecvmsgFn libc = next_definition<RecvmsgFn>("recvmsg");
    return libc ? libc(fd, msg, flags) : ::syscall(SYS_recvmsg, fd, msg, flags);
}

ssize_t libc_readv(int fd, const struct iovec* iov, int iovcnt) {
    static const ReadvFn libc = next_definition<ReadvFn>("readv");
    return libc ? libc(fd, iov, iovcnt) : ::syscall(SYS_readv, fd, iov, iovcnt);
}

// The descriptors a read received (SCM_RIGHTS), counted, or closed.
unsigned count_fds(struct msghdr* m) {
    unsigned n = 0;
    if (m == nullptr || m->msg_control == nullptr)
        return 0;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS)
            n += static_cast<unsigned>((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    return n;
}

void close_fds(struct msghdr* m) {
    if (m == nullptr || m->msg_control == nullptr)
        return;
    for (struct cmsghdr* c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; ++i) {
            int fd;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            ::close(fd);
        }
    }
    m->msg_controllen = 0;
}

// One guarded read into `dest` (the caller's first buffer). `read(iov)` does the system call into
// the buffer it is given and returns what recvmsg/readv would; `control` is the caller's msghdr
// (for received descriptors), or null for readv.
template <typename Read>
ssize_t guarded(InputGuard& g, const struct iovec& dest, struct msghdr* control, Read&& read) {
    size_t room = g.room(dest.iov_len);
    if (room == 0) {
        errno = EMSGSIZE;
        return -1;
    }
    if (!g.authenticating()) {
        struct iovec cut = {dest.iov_base, room};
        ssize_t n = read(cut);
        if (n <= 0)
            return n;
        if (int err =
                g.on_message_read(static_cast<const char*>(dest.iov_base), static_cast<size_t>(n), count_fds(control));
            err != 0) {
            close_fds(control);
            errno = err;
            return -1;
        }
        return n;
    }
    // Authentication: read into a buffer of our own and hand on only whole lines.
    char buf[4096];
    struct iovec mine = {buf, std::min(room, sizeof buf)};
    ssize_t n = read(mine);
    if (n <= 0)
        return n;  // an error, or the end (a partial line held back goes with the connection)
    size_t out = 0;
    int err = g.on_auth_read(buf, static_cast<size_t>(n), count_fds(control), static_cast<char*>(dest.iov_base),
                             dest.iov_len, &out);
    if (err != 0) {
        close_fds(control);
        errno = err;
        return -1;
    }
    if (out == 0) {
        errno = EAGAIN;  // only part of a line so far: it is held, and the socket is drained
        return -1;
    }
    return static_cast<ssize_t>(out);
}

}  // namespace

extern "C" ssize_t recvmsg(int fd, struct msghdr* msg, int flags) {
    InputGuard::Active* a = InputGuard::Active::current();
    if (a == nullptr || a->fd() != fd || (flags & MSG_PEEK) != 0 || msg == nullptr || msg->msg_iovlen < 1)
        return libc_recvmsg(fd, msg, flags);
    const struct iovec dest = msg->msg_iov[0];
    return guarded(a->guard(), dest, msg, [&](struct iovec& iov) {
        struct msghdr m = *msg;
        m.msg_iov = &iov;
        m.msg_iovlen = 1;
        ssize_t n = libc_recvmsg(fd, &m, flags);
        msg->msg_controllen = m.msg_controllen;
        msg->msg_flags = m.msg_flags;
        msg->msg_namelen = m.msg_namelen;
        return n;
    });
}

extern "C" ssize_t readv(int fd, const struct iovec* iov, int iovcnt) {
    InputGuard::Active* a = InputGuard::Active::current();
    if (a == nullptr || a->fd() != fd || iov == nullptr || iovcnt < 1)
        return libc_readv(fd, iov, iovcnt);
    return guarded(a->guard(), iov[0], nullptr, [&](struct iovec& one) { return libc_readv(fd, &one, 1); });
}
