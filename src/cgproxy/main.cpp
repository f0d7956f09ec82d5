// SPDX-License-Identifier: Apache-2.0
//
// cgproxy: runs as root inside a container, serves the plain cgmanager API there on the usual
// socket, and forwards every call to the host's cgmanager as the matching *Scm call, so that the
// kernel translates the callers' pids and uids (docs/dbus-api.md, "cgproxy").
//
// Start-up: the host's socket directory, bind-mounted into the container at
// /sys/fs/cgroup/cgmanager, is moved aside to /sys/fs/cgroup/cgmanager.lower (a mount move, or a
// rename where it is not a mount point); the proxy then listens on /sys/fs/cgroup/cgmanager/sock
// and talks to the host through cgmanager.lower/sock.
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "bus/server.h"
#include "cgmanager/client.h"
#include "cgmanager/names.h"
#include "cgproxy/proxy_service.h"
#include "core/proc_source.h"
#include "runtime/runtime.h"

namespace {

struct Options {
    std::string socket = cgm::kLegacySocketPath;
    unsigned threads = 0;
    unsigned timeout_ms = 10000;
    bool check_master = false;
    bool daemon = false;
    bool sigstop = false;
    bool verbose = false;
    bool quiet = false;
    bool debug = false;
};

std::string dirname(const std::string& path) {
    auto slash = path.rfind('/');
    return slash == 0 ? "/" : path.substr(0, slash);
}

// Put the host's socket directory aside and return the path of the host's socket.
cgm::Result<std::string> move_host_socket_aside(const std::string& upper) {
    const std::string dir = dirname(upper);
    const std::string lower_dir = dir + ".lower";
    const std::string lower = lower_dir + upper.substr(dir.size());
    const bool upper_answers = cgm::runtime::answers(upper);
    const bool lower_answers = cgm::runtime::answers(lower);
    if (upper_answers && lower_answers)
        return cgm::make_error(cgm::ErrorKind::Failed, "a proxy is already running (both {} and {} answer)", upper,
                               lower);
    if (lower_answers)
        return lower;
    if (!upper_answers)
        return cgm::make_error(cgm::ErrorKind::NotFound,
                               "no cgmanager answers on {} or {}: bind-mount the host's {} into the container", upper,
                               lower, dir);
    if (::mkdir(lower_dir.c_str(), 0755) < 0 && errno != EEXIST)
        return cgm::errno_error(errno, "mkdir {}", lower_dir);
    if (::mount(dir.c_str(), lower_dir.c_str(), nullptr, MS_MOVE, nullptr) == 0) {
        spdlog::info("moved the mount {} to {}", dir, lower_dir);
    } else {
        // Not a mount point (the host socket was bind-mounted on its own, or an old setup): rename.
        int err = errno;
        ::unlink(lower.c_str());
        ::rmdir(lower_dir.c_str());
        if (::rename(dir.c_str(), lower_dir.c_str()) < 0)
            return cgm::errno_error(errno, "moving {} aside (mount move: {}; rename)", dir, std::strerror(err));
        spdlog::info("renamed {} to {}", dir, lower_dir);
    }
    if (::mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST)
        return cgm::errno_error(errno, "mkdir {}", dir);
    return lower;
}

int run(const Options& opt) {
    const auto level = cgm::runtime::log_level(opt.debug, opt.verbose, opt.quiet);
    cgm::runtime::setup_logging("cgproxy", level, false);
    const std::string dir = dirname(opt.socket);
    if (opt.check_master) {
        // Is a cgmanager reachable (the host's, bind-mounted)? Then run cgproxy, not cgmanager.
        bool reachable =
            cgm::runtime::answers(dir + ".lower" + opt.socket.substr(dir.size())) || cgm::runtime::answers(opt.socket);
        return reachable ? 0 : 1;
    }
    if (::geteuid() != 0) {
        spdlog::error("cgproxy must be run as root");
        return 1;
    }
    ::signal(SIGPIPE, SIG_IGN);
    cgm::runtime::raise_fd_limit();

    auto host = move_host_socket_aside(opt.socket);
    if (!host) {
        spdlog::error("{}", host.error().message);
        return 1;
    }
    const std::chrono::milliseconds timeout(opt.timeout_ms);
    {
        auto probe = cgm::client::Client::connect({*host, timeout});
        auto pinged = probe ? (*probe)->ping() : cgm::Result<void>(probe.error());
        if (!pinged) {
            spdlog::error("the host's cgmanager at {} does not answer: {}", *host, pinged.error().message);
            return 1;
        }
    }
    auto sock = cgm::runtime::listen_on(opt.socket);
    if (!sock) {
        spdlog::error("{}", sock.error().message);
        return 1;
    }
    spdlog::info("serving on {}, forwarding to {}", opt.socket, *host);
    auto proc = cgm::SystemProc::open();
    if (!proc) {
        spdlog::error("{}", proc.error().message);
        sock->remove();
        return 1;
    }
    auto service = std::make_shared<const cgm::proxy::ProxyService>(*host, timeout, *proc);

    if (opt.daemon) {
        auto d = cgm::runtime::daemonize("/run/cgproxy.pid");
        if (!d) {
            spdlog::error("{}", d.error().message);
            return 1;
        }
        cgm::runtime::setup_logging("cgproxy", level, true);
    }
    cgm::bus::ServerConfig config;
    config.threads = opt.threads;
    cgm::bus::Server server(config, std::move(sock->fd), service);
    auto served = server.run(
        [&] {
            sd_notifyf(0, "READY=1\nSTATUS=forwarding to %s", host->c_str());
            if (opt.sigstop)
                ::raise(SIGSTOP);
        },
        [&]() -> cgm::Result<std::shared_ptr<const cgm::CgroupService>> {
            return std::shared_ptr<const cgm::CgroupService>(service);
        });
    sd_notify(0, "STOPPING=1");
    sock->remove();
    if (!served) {
        spdlog::error("{}", served.error().message);
        return 1;
    }
    return 0;
}

}  // namespace

namespace {

int real_main(int argc, char** argv) {
    CLI::App app{"cgproxy: serve the cgmanager API inside a container by forwarding to the host's cgmanager"};
    Options opt;
    app.set_version_flag("--version", std::string(CGM_VERSION));
    app.add_flag("--check-master", opt.check_master,
                 "Exit 0 if a cgmanager answers here (the host's, bind-mounted), else 1; start nothing");
    app.add_option("--socket", opt.socket, "Where to serve; the host's socket is moved to <dir>.lower")
        ->default_val(cgm::kLegacySocketPath);
    app.add_option("--threads", opt.threads, "Event loops serving clients (default: one per CPU)")
        ->check(CLI::Range(1u, 256u));
    app.add_option("--timeout", opt.timeout_ms, "Milliseconds a forwarded call may take")
        ->check(CLI::Range(100u, 600000u))
        ->default_val(10000);
    app.add_flag("--daemon", opt.daemon, "Detach (double fork); the pid goes to /run/cgproxy.pid, logs to syslog");
    app.add_flag("--sigstop", opt.sigstop, "Stop with SIGSTOP once ready (for upstart's \"expect stop\")");
    app.add_flag("-v,--verbose", opt.verbose, "Log every request");
    app.add_flag("-q,--quiet", opt.quiet, "Log errors only");
    app.add_flag("--debug", opt.debug, "Log debug messages");
    CLI11_PARSE(app, argc, argv);
    return run(opt);
}

}  // namespace

int main(int argc, char** argv) {
    cgm::runtime::return_large_blocks();
    try {
        return real_main(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", "cgproxy", e.what());
        return 1;
    }
}
