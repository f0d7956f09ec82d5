// SPDX-License-Identifier: Apache-2.0
//
// cgmanager: the per-host cgroup manager daemon.
//
// What it does so far: enters a private mount namespace, mounts the hierarchies it manages under
// <rundir>/fs, logs the table, tells systemd it is ready and waits for SIGTERM/SIGINT. The D-Bus
// server is the next piece (issue 3).
#include <signal.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "core/limits.h"
#include "core/mounts.h"
#include "core/proc_parse.h"

namespace {

struct Options {
    std::vector<std::string> mount;
    std::vector<std::string> skip;
    int max_depth = cgm::limits::kDefaultMaxDepth;
    std::string rundir = "/run/cgmanager";
    bool verbose = false;
    bool quiet = false;
    bool debug = false;
};

int run(const Options& opt) {
    auto log = spdlog::stderr_color_mt("cgmanager");
    spdlog::set_default_logger(log);
    spdlog::set_pattern("cgmanager: %^%l%$: %v");
    spdlog::set_level(opt.debug ? spdlog::level::debug
                      : opt.verbose ? spdlog::level::info
                      : opt.quiet ? spdlog::level::err
                                  : spdlog::level::warn);

    if (::geteuid() != 0) {
        spdlog::error("must run as root");
        return 1;
    }
    auto input = cgm::read_plan_input();
    if (!input) {
        spdlog::error("reading the host's cgroup setup: {}", input.error().message);
        return 1;
    }
    input->extra_mounts = opt.mount;
    input->skip = opt.skip;
    auto plan = cgm::plan_hierarchies(*input);
    if (!plan) {
        spdlog::error("{}", plan.error().message);
        return 1;
    }
    for (const auto& w : plan->warnings)
        spdlog::warn("{}", w);

    auto ns = cgm::PrivateMountNamespace::enter();
    if (!ns) {
        spdlog::error("entering a private mount namespace: {}", ns.error().message);
        return 1;
    }
    std::vector<std::string> warnings;
    auto table = cgm::mount_hierarchies(*ns, *plan, opt.rundir, warnings);
    for (const auto& w : warnings)
        spdlog::warn("{}", w);
    if (!table) {
        spdlog::error("mounting the hierarchies: {}", table.error().message);
        return 1;
    }
    for (const auto& h : table->all())
        spdlog::info("managing {} ({}, {}) at {}", h->display, h->is_unified() ? "cgroup2" : "cgroup v1",
                     h->premounted ? "premounted" : "mounted by us", h->mount_point);

    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, nullptr);
    sd_notifyf(0, "READY=1\nSTATUS=managing %zu hierarchies (no D-Bus server yet)", table->all().size());
    int sig = 0;
    sigwait(&set, &sig);
    sd_notify(0, "STOPPING=1");
    spdlog::info("received {}, exiting", strsignal(sig));
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    CLI::App app{"cgmanager: manage cgroups for unprivileged users and containers"};
    Options opt;
    app.set_version_flag("--version", std::string(CGM_VERSION));
    app.add_option("-m,--mount", opt.mount, "Extra hierarchies to mount (name=X or a kernel controller)")
        ->delimiter(',');
    app.add_option("-M,--skip", opt.skip, "Controllers not to manage (e.g. memory, name=systemd, unified)")
        ->delimiter(',');
    app.add_option("--max-depth", opt.max_depth, "Deepest cgroup (levels below the root) Create makes")
        ->check(CLI::Range(1, 1000));
    app.add_option("--rundir", opt.rundir, "Runtime directory (hierarchies are mounted under <rundir>/fs)");
    app.add_flag("-v,--verbose", opt.verbose, "Log informational messages");
    app.add_flag("-q,--quiet", opt.quiet, "Log errors only");
    app.add_flag("--debug", opt.debug, "Log debug messages");
    CLI11_PARSE(app, argc, argv);
    return run(opt);
}
