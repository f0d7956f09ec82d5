// SPDX-License-Identifier: Apache-2.0
#include "support/raw_wire.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <functional>
#include <vector>

namespace cgm::test::wire {

namespace {

using Clock = std::chrono::steady_clock;

int ms_left(Clock::time_point deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left > 0 ? static_cast<int>(left) : 0;
}

class Writer {
public:
    void align(size_t n) {
        while (b.size() % n != 0)
            b.push_back('\0');
    }
    void u8(uint8_t v) { b.push_back(static_cast<char>(v)); }
    void u32(uint32_t v) {
        align(4);
        for (int i = 0; i < 4; ++i)
            b.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
    void str(const std::string& s) {
        u32(static_cast<uint32_t>(s.size()));
        b += s;
        b.push_back('\0');
    }
    void sig(const std::string& s) {
        u8(static_cast<uint8_t>(s.size()));
        b += s;
        b.push_back('\0');
    }
    void patch32(size_t at, uint32_t v) {
        for (int i = 0; i < 4; ++i)
            b[at + static_cast<size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
    }
    std::string b;
};

uint32_t le32(const std::string& s, size_t at) {
    uint32_t v = 0;
    for (int i = 3; i >= 0; --i)
        v = v << 8 | static_cast<unsigned char>(s[at + static_cast<size_t>(i)]);
    return v;
}

}  // namespace

bool send_all(int fd, const std::string& bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = ::send(fd, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return false;
        done += static_cast<size_t>(n);
    }
    return true;
}

ssize_t send_fds(int fd, const std::string& bytes, const std::vector<int>& fds) {
    std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));
    struct iovec iov = {const_cast<char*>(bytes.data()), bytes.size()};
    struct msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * fds.size());
    return ::sendmsg(fd, &msg, MSG_NOSIGNAL);
}

ssize_t send_with_fds(int fd, const std::string& bytes, int passed, int count) {
    return send_fds(fd, bytes, std::vector<int>(static_cast<size_t>(count), passed));
}

std::vector<int> recv_fds(int fd, size_t max) {
    char byte = 0;
    struct iovec iov = {&byte, 1};
    std::vector<char> control(CMSG_SPACE(sizeof(int) * max));
    struct msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    std::vector<int> fds;
    if (::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC) != 1)
        return fds;
    struct cmsghdr* c = CMSG_FIRSTHDR(&msg);
    if (c && c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
        fds.resize((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        std::memcpy(fds.data(), CMSG_DATA(c), sizeof(int) * fds.size());
    }
    return fds;
}

std::string read_until(int fd, const std::string& until, int timeout_ms) {
    std::string got;
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    while (got.find(until) == std::string::npos) {
        struct pollfd p = {fd, POLLIN, 0};
        if (::poll(&p, 1, ms_left(deadline)) <= 0)
            break;
        char buf[4096];
        ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            break;
        got.append(buf, static_cast<size_t>(n));
    }
    return got;
}

bool closed_within(int fd, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        int r = ::poll(&p, 1, ms_left(deadline));
        if (r <= 0)
            return false;
        char buf[4096];
        ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE)))
            return true;
    }
}

std::string hex_uid(uid_t uid) {
    static const char* digits = "0123456789abcdef";
    std::string out;
    for (char c : std::to_string(uid)) {
        out.push_back(digits[(static_cast<unsigned char>(c) >> 4) & 0xf]);
        out.push_back(digits[static_cast<unsigned char>(c) & 0xf]);
    }
    return out;
}

bool authenticate(int fd, uid_t uid) {
    std::string hello = std::string(1, '\0') + "AUTH EXTERNAL " + hex_uid(uid) + "\r\nNEGOTIATE_UNIX_FD\r\n";
    if (!send_all(fd, hello))
        return false;
    std::string answer = read_until(fd, "AGREE_UNIX_FD\r\n", 3000);
    if (answer.rfind("OK ", 0) != 0 || answer.find("AGREE_UNIX_FD\r\n") == std::string::npos)
        return false;
    return send_all(fd, "BEGIN\r\n");
}

bool ping(int fd) {
    if (!send_all(fd, marshal({1000, "Ping", "i", Body().i32(0).bytes(), std::nullopt})))
        return false;
    return message_type(read_message(fd, 3000)) == 2;
}

std::string marshal(const Call& c) {
    Writer w;
    w.u8('l');
    w.u8(1);  // method call
    w.u8(0);
    w.u8(1);
    w.u32(static_cast<uint32_t>(c.body.size()));
    w.u32(c.serial);
    const size_t len_at = w.b.size();
    w.u32(0);
    w.align(8);
    const size_t start = w.b.size();
    auto field = [&](uint8_t code, const char* type, const std::function<void()>& value) {
        w.align(8);
        w.u8(code);
        w.sig(type);
        value();
    };
    field(1, "o", [&] { w.str("/org/linuxcontainers/cgmanager"); });
    field(2, "s", [&] { w.str("org.linuxcontainers.cgmanager0_0"); });
    field(3, "s", [&] { w.str(c.member); });
    if (!c.signature.empty())
        field(8, "g", [&] { w.sig(c.signature); });
    if (c.unix_fds)
        field(9, "u", [&] { w.u32(*c.unix_fds); });
    w.patch32(len_at, static_cast<uint32_t>(w.b.size() - start));
    w.align(8);
    return w.b + c.body;
}

void Body::align(size_t n) {
    while (b_.size() % n != 0)
        b_.push_back('\0');
}

Body& Body::str(const std::string& s) {
    i32(static_cast<int32_t>(s.size()));
    b_ += s;
    b_.push_back('\0');
    return *this;
}

Body& Body::i32(int32_t v) {
    align(4);
    auto u = static_cast<uint32_t>(v);
    for (int i = 0; i < 4; ++i)
        b_.push_back(static_cast<char>((u >> (8 * i)) & 0xff));
    return *this;
}

Body& Body::fd_index(uint32_t v) {
    return i32(static_cast<int32_t>(v));
}

std::string read_message(int fd, int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(timeout_ms);
    std::string got;
    size_t need = 16;
    while (got.size() < need) {
        struct pollfd p = {fd, POLLIN, 0};
        if (::poll(&p, 1, ms_left(deadline)) <= 0)
            return {};
        char buf[4096];
        ssize_t n = ::recv(fd, buf, std::min(sizeof buf, need - got.size()), MSG_DONTWAIT);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0)
            return {};
        got.append(buf, static_cast<size_t>(n));
        if (got.size() >= 16 && need == 16)
            need = 16 + ((le32(got, 12) + 7) & ~7U) + le32(got, 4);
    }
    return got;
}

int message_type(const std::string& m) {
    return m.size() >= 2 ? static_cast<unsigned char>(m[1]) : 0;
}

}  // namespace cgm::test::wire
