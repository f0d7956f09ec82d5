// SPDX-License-Identifier: Apache-2.0
#include "support/raw_bus.h"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>
#include <utility>

#include "core/sys.h"

namespace cgm::test {

BusReply::BusReply(BusReply&& o) noexcept
    : ok(o.ok), error_name(std::move(o.error_name)), message(std::move(o.message)), reply_(o.reply_) {
    o.reply_ = nullptr;
}

BusReply& BusReply::operator=(BusReply&& o) noexcept {
    if (this != &o) {
        sd_bus_message_unref(reply_);
        ok = o.ok;
        error_name = std::move(o.error_name);
        message = std::move(o.message);
        reply_ = o.reply_;
        o.reply_ = nullptr;
    }
    return *this;
}

BusReply::~BusReply() {
    sd_bus_message_unref(reply_);
}

bool BusReply::read(std::string* s) {
    const char* v = nullptr;
    if (!reply_ || sd_bus_message_rewind(reply_, 1) < 0 || sd_bus_message_read(reply_, "s", &v) <= 0)
        return false;
    *s = v;
    return true;
}

bool BusReply::read(int32_t* i) {
    return reply_ && sd_bus_message_rewind(reply_, 1) >= 0 && sd_bus_message_read(reply_, "i", i) > 0;
}

bool BusReply::read(std::vector<std::string>* v) {
    char** strv = nullptr;
    if (!reply_ || sd_bus_message_rewind(reply_, 1) < 0 || sd_bus_message_read_strv(reply_, &strv) < 0)
        return false;
    v->clear();
    for (char** p = strv; p && *p; ++p) {
        v->emplace_back(*p);
        free(*p);
    }
    free(strv);
    return true;
}

bool BusReply::read(std::vector<int32_t>* v) {
    const void* data = nullptr;
    size_t size = 0;
    if (!reply_ || sd_bus_message_rewind(reply_, 1) < 0 || sd_bus_message_read_array(reply_, 'i', &data, &size) < 0)
        return false;
    v->resize(size / sizeof(int32_t));
    if (size)
        std::memcpy(v->data(), data, size);
    return true;
}

std::string BusReply::describe() const {
    return ok ? "ok" : error_name + ": " + message;
}

std::unique_ptr<RawBus> RawBus::adopt(int fd) {
    sd_bus* b = nullptr;
    if (sd_bus_new(&b) < 0)
        throw std::runtime_error("sd_bus_new");
    std::unique_ptr<RawBus> bus(new RawBus(b));
    // EXTERNAL carries our uid, which need not be the peer's (the connecting process's); the
    // daemon accepts ANONYMOUS too and never authorizes from either.
    sd_bus_set_anonymous(b, 1);
    sd_bus_negotiate_fds(b, 1);
    sd_bus_set_method_call_timeout(b, 20'000'000);
    int r = sd_bus_set_fd(b, fd, fd);
    if (r < 0) {
        ::close(fd);
        throw std::runtime_error(std::string("sd_bus_set_fd: ") + std::strerror(-r));
    }
    r = sd_bus_start(b);
    if (r < 0)
        throw std::runtime_error(std::string("sd_bus_start: ") + std::strerror(-r));
    return bus;
}

std::unique_ptr<RawBus> RawBus::connect(const std::string& path) {
    sd_bus* b = nullptr;
    if (sd_bus_new(&b) < 0)
        throw std::runtime_error("sd_bus_new");
    std::unique_ptr<RawBus> bus(new RawBus(b));
    sd_bus_negotiate_fds(b, 1);
    sd_bus_set_method_call_timeout(b, 20'000'000);
    std::string address = "unix:path=" + path;
    sd_bus_set_address(b, address.c_str());
    int r = sd_bus_start(b);
    if (r < 0)
        throw std::runtime_error("connecting to " + path + ": " + std::strerror(-r));
    return bus;
}

int RawBus::new_call(const std::string& method, const std::vector<Arg>& args, sd_bus_message** m) {
    int rc = sd_bus_message_new_method_call(bus_, m, nullptr, "/org/linuxcontainers/cgmanager",
                                            "org.linuxcontainers.cgmanager0_0", method.c_str());
    for (const auto& a : args) {
        if (rc < 0)
            break;
        if (const auto* s = std::get_if<std::string>(&a))
            rc = sd_bus_message_append_basic(*m, 's', s->c_str());
        else
            rc = sd_bus_message_append_basic(*m, 'i', &std::get<int32_t>(a));
    }
    return rc;
}

BusReply RawBus::call(const std::string& method, const std::vector<Arg>& args) {
    BusReply r;
    sd_bus_message* m = nullptr;
    int rc = new_call(method, args, &m);
    sd_bus_error err = SD_BUS_ERROR_NULL;
    if (rc >= 0)
        rc = sd_bus_call(bus_, m, 0, &err, &r.reply_);
    sd_bus_message_unref(m);
    finish(r, rc, &err);
    return r;
}

namespace {

bool send_cred(int fd, const RawBus::Cred& c) {
    return sys::send_credentials(fd, c.pid, c.uid, c.gid, MSG_NOSIGNAL) == 1;
}

// One datagram within `timeout_ms`; false on timeout.
bool receive(int fd, int timeout_ms, std::string* out) {
    struct pollfd p = {fd, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) != 1)
        return false;
    char buf[65536];
    ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0)
        return false;
    out->assign(buf, static_cast<size_t>(n));
    return true;
}

}  // namespace

RawBus::ScmOutcome RawBus::scm(const std::string& method, const std::vector<Arg>& args, Cred requestor,
                               const Cred* victim) {
    ScmOutcome out;
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0) {
        out.error_name = "(socketpair failed)";
        return out;
    }
    int one = 1;
    ::setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    ::setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    sd_bus_message* m = nullptr;
    int rc = new_call(method, args, &m);
    if (rc >= 0)
        rc = sd_bus_message_append_basic(m, 'h', &sv[1]);
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    if (rc >= 0)
        rc = sd_bus_call(bus_, m, 0, &err, &reply);
    sd_bus_message_unref(m);
    sd_bus_message_unref(reply);
    ::close(sv[1]);
    if (rc < 0) {
        out.error_name = err.name ? err.name : "(no reply: " + std::string(std::strerror(-rc)) + ")";
        out.message = err.message ? err.message : "";
        sd_bus_error_free(&err);
        ::close(sv[0]);
        return out;
    }
    sd_bus_error_free(&err);
    std::string d;
    bool sent = receive(sv[0], 5000, &d) && d == "1" && send_cred(sv[0], requestor);
    if (sent && victim)
        sent = receive(sv[0], 5000, &d) && d == "1" && send_cred(sv[0], *victim);
    if (!sent) {
        out.error_name = "(credential exchange failed)";
        ::close(sv[0]);
        return out;
    }
    // The results, then (after a failure) the ERROR datagram, which is the last; after a success,
    // quiet for 300 ms means done.
    int wait = 5000;
    while (receive(sv[0], wait, &d)) {
        out.datagrams.push_back(d);
        if (d.rfind("ERROR ", 0) == 0)
            break;
        wait = 300;
    }
    ::close(sv[0]);
    out.ok = !out.datagrams.empty();
    for (const auto& x : out.datagrams)
        if (x.rfind("ERROR ", 0) == 0) {
            auto nl = x.find('\n');
            out.ok = false;
            out.error_name = x.substr(6, nl == std::string::npos ? std::string::npos : nl - 6);
            out.message = nl == std::string::npos ? "" : x.substr(nl + 1);
        }
    if (out.datagrams.empty())
        out.error_name = "(no result)";
    return out;
}

RawBus::~RawBus() {
    sd_bus_flush_close_unref(bus_);
}

void RawBus::finish(BusReply& r, int rc, sd_bus_error* err) {
    r.ok = rc >= 0;
    if (!r.ok) {
        r.error_name = err->name ? err->name : "(no reply: " + std::string(std::strerror(-rc)) + ")";
        r.message = err->message ? err->message : "";
    }
    sd_bus_error_free(err);
}

}  // namespace cgm::test
