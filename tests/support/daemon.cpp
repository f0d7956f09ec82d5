// SPDX-License-Identifier: Apache-2.0
#include "support/daemon.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <gtest/gtest.h>

#include "core/sys.h"

namespace cgm::test {

namespace {

std::atomic<int> g_counter{0};

int to_status(int raw) {
    return WIFEXITED(raw) ? WEXITSTATUS(raw) : 128 + WTERMSIG(raw);
}

}  // namespace

std::unique_ptr<Daemon> Daemon::start(Config config) {
    std::unique_ptr<Daemon> d(new Daemon());
    int n = ++g_counter;
    ::mkdir("/run/cgmtest", 0755);
    d->socket_ = config.socket.empty() ? fmt::format("/run/cgmtest/sock{}", n) : config.socket;
    d->log_path_ = fmt::format("/run/cgmtest/daemon{}.log", n);
    d->notify_path_ = fmt::format("/run/cgmtest/notify{}", n);
    ::unlink(d->notify_path_.c_str());
    d->notify_fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", d->notify_path_.c_str());
    if (::bind(d->notify_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0)
        ADD_FAILURE() << "bind " << d->notify_path_ << ": " << std::strerror(errno);

    d->rundir_ = config.rundir.empty() ? fmt::format("/run/cgmtest/rundir{}", n) : config.rundir;
    // CGM_TEST_DAEMON runs the tests against another cgmanager binary (an older build, to show a
    // new test fails there).
    const char* binary = std::getenv("CGM_TEST_DAEMON");
    std::vector<std::string> argv = {binary && *binary ? binary : CGM_DAEMON_BINARY, "--debug", "--rundir", d->rundir_};
    if (!config.no_socket_arg) {
        argv.push_back("--socket");
        argv.push_back(d->socket_);
    }
    if (config.manage_unified) {
        argv.push_back("-m");
        argv.push_back("unified");
    }
    argv.insert(argv.end(), config.args.begin(), config.args.end());
    ::fflush(nullptr);
    pid_t pid = ::fork();
    if (pid == 0) {
        int log = ::open(d->log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        ::dup2(log, 2);
        int null = ::open("/dev/null", O_RDWR);
        ::dup2(null, 0);
        ::dup2(null, 1);
        ::setenv("NOTIFY_SOCKET", d->notify_path_.c_str(), 1);
        for (const auto& [k, v] : config.env)
            ::setenv(k.c_str(), v.c_str(), 1);
        std::vector<char*> args;
        for (auto& a : argv)
            args.push_back(a.data());
        args.push_back(nullptr);
        ::execv(args[0], args.data());
        _exit(127);
    }
    d->pid_ = pid;
    // Wait for READY=1 or for the daemon to exit; no sleeping, the notify socket wakes us.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (std::chrono::steady_clock::now() < deadline) {
        d->drain_notifications(100);
        for (const auto& note : d->notes_)
            if (note.find("READY=1") != std::string::npos)
                d->ready_ = true;
        if (d->ready_ && config.expect_ready)
            break;
        int raw = 0;
        if (::waitpid(pid, &raw, WNOHANG) == pid) {
            d->status_ = to_status(raw);
            d->pid_ = -1;
            break;
        }
    }
    if (config.expect_ready && !d->ready_)
        ADD_FAILURE() << "cgmanager did not become ready; its log:\n" << d->log();
    return d;
}

void Daemon::drain_notifications(int timeout_ms) {
    struct pollfd p = {notify_fd_, POLLIN, 0};
    if (::poll(&p, 1, timeout_ms) <= 0)
        return;
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(notify_fd_, buf, sizeof buf, MSG_DONTWAIT)) > 0)
        notes_.emplace_back(buf, static_cast<size_t>(n));
}

std::vector<std::string> Daemon::notifications() {
    drain_notifications(0);
    return notes_;
}

int Daemon::stop(int sig, int timeout_ms) {
    if (pid_ <= 0)
        return status_;
    ::kill(pid_, sig);
    return wait_exit(timeout_ms);
}

int Daemon::wait_exit(int timeout_ms) {
    if (pid_ <= 0)
        return status_;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
    for (;;) {
        int raw = 0;
        pid_t r = ::waitpid(pid_, &raw, WNOHANG);
        if (r == pid_) {
            status_ = to_status(raw);
            pid_ = -1;
            return status_;
        }
        if (std::chrono::steady_clock::now() > deadline)
            return -1;
        drain_notifications(10);  // doubles as the wait between checks
    }
}

Daemon::~Daemon() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        int raw;
        ::waitpid(pid_, &raw, 0);
    }
    // A sanitized daemon (the sanitized build, or CGM_TEST_DAEMON built with ThreadSanitizer)
    // reports into its log as it runs: any report fails the test that ran it.
    const std::string text = log();
    for (const char* report :
         {"WARNING: ThreadSanitizer", "ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error: "})
        if (auto at = text.find(report); at != std::string::npos)
            ADD_FAILURE() << "the daemon's sanitizer reported:\n" << text.substr(at, 6000);
    if (notify_fd_ >= 0)
        ::close(notify_fd_);
    ::unlink(notify_path_.c_str());
}

std::string Daemon::log() const {
    auto r = sys::read_file(log_path_, 16 << 20);
    return r ? *r : std::string();
}

CallResult call(const std::string& client, const std::string& address, const std::string& method,
                const std::string& sig, const std::string& args_json, const As& as) {
    RunResult r = run({"/usr/bin/python3", CGM_CLIENT_PY, client, address, method, sig, args_json}, as);
    CallResult c;
    c.raw = r.out + r.err;
    auto nl = r.out.find('\n');
    std::string first = r.out.substr(0, nl);
    std::string rest = nl == std::string::npos ? "" : r.out.substr(nl + 1);
    while (!rest.empty() && rest.back() == '\n')
        rest.pop_back();
    if (first == "OK") {
        c.ok = true;
        c.json = rest;
    } else if (first.rfind("ERR ", 0) == 0) {
        c.error_name = first.substr(4);
        c.message = rest;
    } else {
        c.error_name = "(client failed)";
        c.message = c.raw;
    }
    return c;
}

}  // namespace cgm::test
