// SPDX-License-Identifier: Apache-2.0
//
// The real cgmanager binary, started by a test inside its sandbox, and real D-Bus clients
// talking to it (tests/support/client.py normalizes their answers).
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "support/process.h"

namespace cgm::test {

class Daemon {
public:
    struct Config {
        std::vector<std::string> args;                         ///< extra arguments
        std::string socket;                                    ///< --socket (empty: a fresh path under /run/cgmtest)
        bool no_socket_arg = false;                            ///< do not pass --socket (the default path rule applies)
        bool expect_ready = true;                              ///< wait for READY=1 (else: for the process to exit)
        std::string rundir;                                    ///< --rundir (empty: a fresh one under /run/cgmtest)
        std::vector<std::pair<std::string, std::string>> env;  ///< extra environment
        /// Pass -m unified: the sandbox's cgroup2 offers no controllers on these hybrid machines,
        /// and the daemon manages such a cgroup2 beside v1 hierarchies only when asked.
        bool manage_unified = true;

        static Config with_args(std::vector<std::string> a) {
            Config c;
            c.args = std::move(a);
            return c;
        }
    };

    /// Start the daemon and wait until it reports READY=1 through NOTIFY_SOCKET (or exits).
    static std::unique_ptr<Daemon> start(Config config);
    static std::unique_ptr<Daemon> start() { return start(Config{}); }
    ~Daemon();

    pid_t pid() const { return pid_; }
    bool ready() const { return ready_; }
    const std::string& socket() const { return socket_; }
    std::string address() const { return "unix:path=" + socket_; }
    /// --rundir: the hierarchies are mounted at <rundir>/fs/<name> in the daemon's mount namespace.
    const std::string& rundir() const { return rundir_; }
    /// Send a signal and wait for the exit status (128 + signal if it died of one; -1 on timeout).
    int stop(int sig = SIGTERM, int timeout_ms = 10000);
    /// The exit status of a daemon that exited by itself (waits up to timeout_ms).
    int wait_exit(int timeout_ms = 10000);
    /// Everything the daemon wrote to stderr so far.
    std::string log() const;
    /// The notifications it sent (READY=1, STATUS=..., STOPPING=1, ...).
    std::vector<std::string> notifications();

private:
    Daemon() = default;
    void drain_notifications(int timeout_ms);
    pid_t pid_ = -1;
    bool ready_ = false;
    int status_ = -1;
    std::string socket_;
    std::string rundir_;
    std::string log_path_;
    int notify_fd_ = -1;
    std::string notify_path_;
    std::vector<std::string> notes_;
};

/// A normalized answer from client.py.
struct CallResult {
    bool ok = false;
    std::string json;        ///< the reply's values as a JSON list, e.g. [-1] or [["a","b"]]
    std::string error_name;  ///< full D-Bus error name ("?" when the client does not show it)
    std::string message;
    std::string raw;  ///< everything the client printed, for failure messages
};

/// Call `method` (or "Get:api_version") with signature `sig` and JSON `args` through `client`
/// ("python", "dbus-send", "busctl", "gdbus"), running the client as `as`.
CallResult call(const std::string& client, const std::string& address, const std::string& method,
                const std::string& sig, const std::string& args_json, const As& as = As{});

/// Clients that can call every plain method and report results in full.
inline const std::vector<std::string> kFullClients = {"python", "dbus-send", "busctl"};

}  // namespace cgm::test
