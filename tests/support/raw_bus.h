// SPDX-License-Identifier: Apache-2.0
//
// A raw sd-bus client for tests: no Hello, any signature and any argument values, and the exact
// error name and message of every failure. It can drive a connection made by another process
// (Child::connected), so that the daemon sees that process as the caller.
#pragma once

#include <systemd/sd-bus.h>

#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

namespace cgm::test {

/// One method reply, or the error in its place.
class BusReply {
public:
    BusReply() = default;
    BusReply(BusReply&& o) noexcept;
    BusReply& operator=(BusReply&& o) noexcept;
    BusReply(const BusReply&) = delete;
    BusReply& operator=(const BusReply&) = delete;
    ~BusReply();

    bool ok = false;
    std::string error_name;  ///< full D-Bus name, e.g. org.freedesktop.DBus.Error.InvalidArgs
    std::string message;

    /// The reply's single value, read by type; false when the reply is not of that shape.
    bool read(std::string* s);
    bool read(int32_t* i);
    bool read(std::vector<std::string>* v);
    bool read(std::vector<int32_t>* v);
    /// "ok", or "<error name>: <message>", for failure messages.
    std::string describe() const;

private:
    friend class RawBus;
    sd_bus_message* reply_ = nullptr;
};

class RawBus {
public:
    /// Start a client on an already connected socket (takes the fd).
    static std::unique_ptr<RawBus> adopt(int fd);
    /// Connect to a unix socket path.
    static std::unique_ptr<RawBus> connect(const std::string& path);
    ~RawBus();
    RawBus(const RawBus&) = delete;
    RawBus& operator=(const RawBus&) = delete;

    /// Call a method of org.linuxcontainers.cgmanager0_0 with an sd-bus signature and arguments
    /// as sd_bus_call_method takes them.
    template <typename... A>
    BusReply call(const char* method, const char* signature, A... args) {
        BusReply r;
        sd_bus_error err = SD_BUS_ERROR_NULL;
        int rc = sd_bus_call_method(bus_, nullptr, "/org/linuxcontainers/cgmanager", "org.linuxcontainers.cgmanager0_0",
                                    method, &err, &r.reply_, signature, args...);
        finish(r, rc, &err);
        return r;
    }
    /// The same with arguments known only at run time: strings ('s') and int32s ('i').
    using Arg = std::variant<std::string, int32_t>;
    BusReply call(const std::string& method, const std::vector<Arg>& args);
    /// An *Scm call (docs/dbus-api.md section 5): `args` are the method's arguments before the fd; then the
    /// credential exchange, sending `requestor` and, for the methods that take one, `victim`
    /// ({pid, uid, gid}: pid for the pid methods, uid/gid for ChownScm). A failure is either the
    /// D-Bus error of the call or the name and message of the daemon's trailing ERROR datagram;
    /// `datagrams` holds every result datagram.
    struct Cred {
        pid_t pid;
        uid_t uid;
        gid_t gid;
    };
    struct ScmOutcome {
        bool ok = false;
        std::string error_name;
        std::string message;
        std::vector<std::string> datagrams;
        std::string describe() const { return ok ? "ok" : error_name + ": " + message; }
    };
    ScmOutcome scm(const std::string& method, const std::vector<Arg>& args, Cred requestor,
                   const Cred* victim = nullptr);
    sd_bus* bus() { return bus_; }

private:
    explicit RawBus(sd_bus* b) : bus_(b) {}
    int new_call(const std::string& method, const std::vector<Arg>& args, sd_bus_message** m);
    static void finish(BusReply& r, int rc, sd_bus_error* err);
    sd_bus* bus_;
};

}  // namespace cgm::test
