// SPDX-License-Identifier: Apache-2.0
//
// cgmanager: the per-host cgroup manager daemon.
//
// Start-up, in this order (docs/operations.md):
//  1. the listening socket, in the host's mount namespace (so clients and bind mounts see it), or
//     the one systemd passed (socket activation); refuse when a daemon already answers;
//  2. a private mount namespace with the hierarchies mounted under <rundir>/fs;
//  3. (--daemon) detach; serve with one event loop per CPU; READY=1 to systemd; (--sigstop) stop.
// SIGTERM/SIGINT: stop accepting, finish the calls in flight, remove the socket (unless it was
// passed in), exit 0. SIGHUP: rescan the hierarchies.
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>

#include <spdlog/spdlog.h>
#include <CLI/CLI.hpp>

#include "bus/server.h"
#include "cgmanager/names.h"
#include "core/backend.h"
#include "core/limits.h"
#include "core/mounts.h"
#include "core/operations.h"
#include "daemon/agents.h"
#include "daemon/historic.h"
#include "daemon/reaper.h"
#include "runtime/runtime.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif

namespace {

struct Options {
    std::vector<std::string> mount;
    std::vector<std::string> skip;
    int max_depth = cgm::limits::kDefaultMaxDepth;
    std::string socket;
    std::string rundir = "/run/cgmanager";
    unsigned threads = 0;
    bool compat_errors = false;
    bool daemon = false;
    bool sigstop = false;
    bool historic_socket = false;
    bool v2_containment = false;
    bool link_historic = false;
    bool unlink_historic = false;
    bool verbose = false;
    bool quiet = false;
    bool debug = false;
    unsigned scm_timeout_ms = 5000;
    unsigned auth_timeout_ms = 5000;
    unsigned message_timeout_ms = 5000;
    size_t max_fds_per_uid = 4096;
    size_t max_connections = 4096;
    size_t max_connections_per_uid = 1024;
    size_t max_scm_pending = 64;
    size_t max_cgroups_per_uid = cgm::limits::kDefaultMaxCgroupsPerUid;
    unsigned sweep_interval_ms = 5000;
    std::vector<std::string> allow_autoremove_premounted;
    bool autoremove_set_release_agent = false;
    std::string release_agent = CGM_RELEASE_AGENT;
};

// Where the socket goes when --socket is not given (docs/dbus-api.md, "Socket").
std::string default_socket_path() {
    struct statfs sfs {};
    if (::statfs("/sys/fs/cgroup", &sfs) == 0 && sfs.f_type == TMPFS_MAGIC)
        return cgm::kLegacySocketPath;
    return cgm::kRunSocketPath;
}

// The path a listening unix socket is bound to ("" for an unnamed one).
std::string socket_path_of(int fd) {
    struct sockaddr_un addr {};
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<struct sockaddr*>(&addr), &len) < 0 || len <= sizeof(sa_family_t) ||
        addr.sun_path[0] == '\0')
        return "";
    return std::string(addr.sun_path, strnlen(addr.sun_path, len - sizeof(sa_family_t)));
}

// --link-historic-socket, --unlink-historic-socket: do that and exit, for an init system whose
// service sandbox would keep the daemon's own mounts from the host (docs/operations.md).
int run_historic(const Options& opt) {
    cgm::runtime::setup_logging("cgmanager", cgm::runtime::log_level(opt.debug, true, opt.quiet), false);
    if (::geteuid() != 0) {
        spdlog::error("must run as root");
        return 1;
    }
    if (opt.unlink_historic) {
        auto r = cgm::unlink_historic_socket();
        if (!r) {
            spdlog::error("--unlink-historic-socket: {}", r.error().message);
            return 1;
        }
        return 0;
    }
    const std::string path = opt.socket.empty() ? cgm::kRunSocketPath : opt.socket;
    auto link = cgm::link_historic_socket(path);
    if (!link) {
        spdlog::error("--link-historic-socket: {}", link.error().message);
        return 1;
    }
    spdlog::info("{} reaches {}{}", cgm::kLegacySocketPath, path,
                 *link == cgm::HistoricLink::AlreadyThere ? " (it did already)" : "");
    return 0;
}

int run(const Options& opt) {
    const auto level = cgm::runtime::log_level(opt.debug, opt.verbose, opt.quiet);
    cgm::runtime::setup_logging("cgmanager", level, false);
    if (::geteuid() != 0) {
        spdlog::error("must run as root");
        return 1;
    }
    ::signal(SIGPIPE, SIG_IGN);
    // SIGTERM, SIGINT and SIGHUP are taken by the server's signalfd: block them before any thread
    // starts, so that none of them gets one delivered instead.
    sigset_t handled;
    sigemptyset(&handled);
    for (int sig : {SIGTERM, SIGINT, SIGHUP})
        sigaddset(&handled, sig);
    ::sigprocmask(SIG_BLOCK, &handled, nullptr);
    cgm::runtime::raise_fd_limit();

    // 1. The socket, in the host's mount namespace.
    cgm::UniqueFd listen_fd;
    cgm::runtime::ListeningSocket ours;  // the socket file we made (none when systemd passed one)
    int n = sd_listen_fds(1);
    if (n < 0) {
        spdlog::error("socket activation: {}", std::strerror(-n));
        return 1;
    }
    if (n > 1) {
        spdlog::error("socket activation passed {} sockets; cgmanager listens on exactly one", n);
        return 1;
    }
    if (n == 1) {
        if (sd_is_socket_unix(SD_LISTEN_FDS_START, SOCK_STREAM, 1, nullptr, 0) <= 0) {
            spdlog::error("socket activation passed an fd that is not a listening unix stream socket");
            return 1;
        }
        listen_fd.reset(SD_LISTEN_FDS_START);
        ::fcntl(listen_fd.get(), F_SETFL, ::fcntl(listen_fd.get(), F_GETFL) | O_NONBLOCK);
        ::fcntl(listen_fd.get(), F_SETFD, FD_CLOEXEC);
        spdlog::info("using the socket passed by systemd");
    } else {
        auto sock = cgm::runtime::listen_on(opt.socket.empty() ? default_socket_path() : opt.socket);
        if (!sock) {
            spdlog::error("{}", sock.error().message);
            return 1;
        }
        listen_fd = std::move(sock->fd);
        ours = std::move(sock).value();
        spdlog::info("listening on {}", ours.path);
    }
    auto remove_socket = [&] { ours.remove(); };

    // 1b. The historic path, in the same mount namespace as the socket. Our own socket goes with
    //     us, and so does the link (a helper unlinks once we have exited); a socket systemd passed
    //     outlives us, and so does its link.
    cgm::UniqueFd historic_guard;
    if (opt.historic_socket) {
        const std::string path = ours.path.empty() ? socket_path_of(listen_fd.get()) : ours.path;
        auto link = cgm::link_historic_socket(path);
        if (!link) {
            spdlog::error("--historic-socket: {}", link.error().message);
            remove_socket();
            return 1;
        }
        if (*link == cgm::HistoricLink::Linked) {
            spdlog::info("{} reaches {}", cgm::kLegacySocketPath, path);
            if (!ours.path.empty()) {
                auto guard = cgm::unlink_historic_socket_at_exit(path, opt.daemon);
                if (!guard) {
                    spdlog::error("--historic-socket: {}", guard.error().message);
                    (void)cgm::unlink_historic_socket();
                    remove_socket();
                    return 1;
                }
                historic_guard = std::move(guard).value();
            }
        }
    }

    // 2. The hierarchies, in a private mount namespace.
    auto input = cgm::read_plan_input();
    if (!input) {
        spdlog::error("reading the host's cgroup setup: {}", input.error().message);
        remove_socket();
        return 1;
    }
    input->extra_mounts = opt.mount;
    input->skip = opt.skip;
    auto plan = cgm::plan_hierarchies(*input);
    if (!plan) {
        spdlog::error("{}", plan.error().message);
        remove_socket();
        return 1;
    }
    for (const auto& w : plan->warnings)
        spdlog::warn("{}", w);
    auto ns = cgm::PrivateMountNamespace::enter();
    if (!ns) {
        spdlog::error("entering a private mount namespace: {}", ns.error().message);
        remove_socket();
        return 1;
    }
    std::vector<std::string> warnings;
    const cgm::AgentOptions agents{opt.release_agent, opt.rundir, opt.allow_autoremove_premounted,
                                   opt.autoremove_set_release_agent};
    auto table = cgm::mount_hierarchies(*ns, *plan, opt.rundir, warnings,
                                        [&](cgm::Hierarchy& h) { cgm::install_release_agent(h, agents, warnings); });
    for (const auto& w : warnings)
        spdlog::warn("{}", w);
    if (!table) {
        spdlog::error("mounting the hierarchies: {}", table.error().message);
        remove_socket();
        return 1;
    }
    for (const auto& h : table->all())
        spdlog::info("managing {} ({}, {}{}) at {}", h->display, h->is_unified() ? "cgroup2" : "cgroup v1",
                     h->premounted ? "premounted" : "mounted by us", h->agent_installed ? ", our release agent" : "",
                     h->mount_point);
    auto delegate = cgm::sys::read_file("/sys/kernel/cgroup/delegate", 4096);
    cgm::set_unified_delegate_files(delegate ? *delegate : "");

    auto proc = cgm::SystemProc::open();
    if (!proc) {
        spdlog::error("{}", proc.error().message);
        remove_socket();
        return 1;
    }
    auto shared_table = std::make_shared<const cgm::HierarchyTable>(std::move(table).value());
    cgm::Reaper reaper(opt.rundir + "/watches", std::chrono::milliseconds(opt.sweep_interval_ms));
    reaper.set_table(shared_table);
    cgm::OperationsConfig ops_config{opt.max_depth, std::make_shared<cgm::CreationQuota>(opt.max_cgroups_per_uid),
                                     opt.v2_containment};
    auto ops = std::make_shared<const cgm::Operations>(shared_table, *proc, reaper, ops_config);

    // 3. Serve.
    if (opt.daemon) {
        auto d = cgm::runtime::daemonize(opt.rundir + ".pid");
        if (!d) {
            spdlog::error("{}", d.error().message);
            return 1;
        }
        cgm::runtime::setup_logging("cgmanager", level, true);
    }
    if (auto started = reaper.start(); !started) {
        spdlog::error("starting the remove-on-empty watcher: {}", started.error().message);
        return 1;
    }
    cgm::bus::ServerConfig config;
    config.threads = opt.threads;
    config.compat_errors = opt.compat_errors;
    config.scm_timeout_usec = uint64_t{opt.scm_timeout_ms} * 1000;
    config.auth_timeout_usec = uint64_t{opt.auth_timeout_ms} * 1000;
    config.message_timeout_usec = uint64_t{opt.message_timeout_ms} * 1000;
    config.max_fds_per_uid = opt.max_fds_per_uid;
    config.max_connections = opt.max_connections;
    config.max_connections_per_uid = opt.max_connections_per_uid;
    config.max_scm_pending = opt.max_scm_pending;
    cgm::bus::Server server(config, std::move(listen_fd), ops);
    // The Operations of the moment (the server holds it as a CgroupService).
    std::shared_ptr<const cgm::Operations> current = ops;
    auto on_ready = [&] {
        sd_notifyf(0, "READY=1\nSTATUS=managing %zu hierarchies", current->table().all().size());
        if (opt.sigstop)
            ::raise(SIGSTOP);
    };
    auto on_reload = [&]() -> cgm::Result<std::shared_ptr<const cgm::CgroupService>> {
        sd_notify(0, "RELOADING=1");
        auto host_view = cgm::read_plan_input("/proc/1/mountinfo");
        auto in = host_view ? std::move(host_view).value() : CGM_TRY(cgm::read_plan_input());
        in.extra_mounts = opt.mount;
        in.skip = opt.skip;
        auto p = CGM_TRY(cgm::plan_hierarchies(in));
        std::vector<std::string> w;
        // Only new hierarchies get an agent: those of the table in use are shared with it and
        // read by the serving threads, so they never change (core/hierarchy.h).
        auto t = cgm::mount_new_hierarchies(*ns, p, current->table(), opt.rundir, w,
                                            [&](cgm::Hierarchy& h) { cgm::install_release_agent(h, agents, w); });
        for (const auto& msg : w)
            spdlog::warn("{}", msg);
        sd_notify(0, "READY=1");
        if (!t)
            return std::move(t).error();
        spdlog::info("rescanned: managing {} hierarchies", t->all().size());
        auto fresh = std::make_shared<const cgm::HierarchyTable>(std::move(t).value());
        reaper.set_table(fresh);
        current = std::make_shared<const cgm::Operations>(fresh, *proc, reaper, ops_config);
        return std::shared_ptr<const cgm::CgroupService>(current);
    };
    auto served = server.run(on_ready, on_reload);
    sd_notify(0, "STOPPING=1");
    reaper.stop();
    remove_socket();
    if (!served) {
        spdlog::error("{}", served.error().message);
        return 1;
    }
    return 0;
}

}  // namespace

namespace {

int real_main(int argc, char** argv) {
    CLI::App app{"cgmanager: manage cgroups for unprivileged users and containers over D-Bus"};
    Options opt;
    app.set_version_flag("--version", std::string(CGM_VERSION));
    app.add_option("-m,--mount", opt.mount,
                   "Extra hierarchies to mount: name=X, a kernel controller, or unified (which also manages a "
                   "cgroup2 that offers no controllers)")
        ->delimiter(',');
    app.add_option("-M,--skip", opt.skip,
                   "Hierarchies not to manage, by any controller (memory, name=systemd, unified)")
        ->delimiter(',');
    app.add_option("--max-depth", opt.max_depth, "Deepest cgroup (levels below the root) Create makes")
        ->check(CLI::Range(1, 1000))
        ->default_val(cgm::limits::kDefaultMaxDepth);
    app.add_option("--socket", opt.socket,
                   "Listen on this path (default: /sys/fs/cgroup/cgmanager/sock where /sys/fs/cgroup is a tmpfs, "
                   "else /run/cgmanager/sock)");
    app.add_option("--rundir", opt.rundir, "Runtime directory; hierarchies are mounted under <rundir>/fs")
        ->default_val("/run/cgmanager");
    app.add_option("--threads", opt.threads, "Event loops serving clients (default: one per CPU)")
        ->check(CLI::Range(1u, 256u));
    app.add_flag("--v2-containment", opt.v2_containment,
                 "On cgroup2, MovePid also needs write access to cgroup.procs of the common ancestor of the "
                 "process's cgroup and the target, as the kernel asks of a direct write");
    app.add_flag("--compat-errors", opt.compat_errors,
                 "Answer every failure with InvalidArgs \"invalid request\", as CGManager 0.42 did");
    app.add_option("--scm-timeout", opt.scm_timeout_ms, "Milliseconds an *Scm credential exchange may take")
        ->check(CLI::Range(10u, 600000u))
        ->default_val(5000);
    app.add_option("--auth-timeout", opt.auth_timeout_ms, "Milliseconds a new connection has to authenticate")
        ->check(CLI::Range(10u, 600000u))
        ->default_val(5000);
    app.add_option("--message-timeout", opt.message_timeout_ms,
                   "Milliseconds a client may take to finish sending a message it began")
        ->check(CLI::Range(10u, 600000u))
        ->default_val(5000);
    app.add_option("--max-connections", opt.max_connections, "Client connections open at once")
        ->check(CLI::Range(size_t{1}, size_t{1000000}))
        ->default_val(4096);
    app.add_option("--max-connections-per-uid", opt.max_connections_per_uid, "Client connections one uid may open")
        ->check(CLI::Range(size_t{1}, size_t{1000000}))
        ->default_val(1024);
    app.add_option("--max-cgroups-per-uid", opt.max_cgroups_per_uid,
                   "Cgroups each uid but root may have made with Create (0: no limit)")
        ->check(CLI::Range(size_t{0}, size_t{100000000}))
        ->default_val(cgm::limits::kDefaultMaxCgroupsPerUid);
    app.add_option("--max-scm-pending", opt.max_scm_pending, "*Scm credential exchanges one connection may have open")
        ->check(CLI::Range(size_t{1}, size_t{100000}))
        ->default_val(64);
    app.add_option("--max-fds-per-uid", opt.max_fds_per_uid,
                   "File descriptors the daemon holds for one uid's connections and credential exchanges (root: "
                   "no limit; 0: none)")
        ->check(CLI::Range(size_t{0}, size_t{10000000}))
        ->default_val(4096);
    app.add_option("--sweep-interval", opt.sweep_interval_ms,
                   "Milliseconds between two tries of the cgroups waiting to be removed once empty")
        ->check(CLI::Range(10u, 3600000u))
        ->default_val(5000);
    app.add_option("--allow-autoremove-premounted", opt.allow_autoremove_premounted,
                   "Premounted v1 hierarchies (controllers, or all) that may get our release agent")
        ->delimiter(',');
    app.add_flag("--autoremove-premounted-set-release-agent", opt.autoremove_set_release_agent,
                 "Install our release agent on the allowed premounted hierarchies whose release_agent is empty");
    app.add_option("--release-agent", opt.release_agent, "The cgm-release-agent executable")
        ->default_val(CGM_RELEASE_AGENT);
    auto* historic = app.add_flag("--historic-socket", opt.historic_socket,
                                  "Make /sys/fs/cgroup/cgmanager/sock (where 0.42's clients look) reach the socket "
                                  "while the daemon runs, also where /sys/fs/cgroup is cgroup2");
    auto* link = app.add_flag("--link-historic-socket", opt.link_historic,
                              "Only make /sys/fs/cgroup/cgmanager/sock reach --socket (default /run/cgmanager/sock), "
                              "then exit");
    auto* unlink =
        app.add_flag("--unlink-historic-socket", opt.unlink_historic, "Only undo --link-historic-socket, then exit");
    link->excludes(historic)->excludes(unlink);
    unlink->excludes(historic);
    app.add_flag("--daemon", opt.daemon, "Detach (double fork); the pid goes to <rundir>.pid, logs to syslog");
    app.add_flag("--sigstop", opt.sigstop, "Stop with SIGSTOP once ready (for upstart's \"expect stop\")");
    app.add_flag("-v,--verbose", opt.verbose, "Log every request");
    app.add_flag("-q,--quiet", opt.quiet, "Log errors only");
    app.add_flag("--debug", opt.debug, "Log debug messages");
    CLI11_PARSE(app, argc, argv);
    if (opt.link_historic || opt.unlink_historic)
        return run_historic(opt);
    return run(opt);
}

}  // namespace

int main(int argc, char** argv) {
    cgm::runtime::return_large_blocks();
    try {
        return real_main(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", "cgmanager", e.what());
        return 1;
    }
}
