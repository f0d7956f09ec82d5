// SPDX-License-Identifier: Apache-2.0
#include "runtime/runtime.h"

#include <fcntl.h>
#include <malloc.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/sinks/syslog_sink.h>
#include <spdlog/sinks/systemd_sink.h>

namespace cgm::runtime {

namespace {

Result<void> fill_address(const std::string& path, struct sockaddr_un& addr) {
    addr = {};
    addr.sun_family = AF_UNIX;
    if (path.size() >= sizeof addr.sun_path)
        return make_error(ErrorKind::InvalidArgs, "socket path {} is too long", path);
    std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
    return ok();
}

}  // namespace

void setup_logging(const std::string& name, spdlog::level::level_enum level, bool daemonized) {
    std::shared_ptr<spdlog::logger> log;
    const bool journal = !daemonized && std::getenv("JOURNAL_STREAM");
    if (daemonized)
        log = std::make_shared<spdlog::logger>(
            name, std::make_shared<spdlog::sinks::syslog_sink_mt>(name, LOG_PID, LOG_DAEMON, false));
    else if (journal)  // started by systemd: log to the journal with priorities
        log = std::make_shared<spdlog::logger>(name, std::make_shared<spdlog::sinks::systemd_sink_mt>());
    else
        log = std::make_shared<spdlog::logger>(name, std::make_shared<spdlog::sinks::stderr_color_sink_mt>());
    log->set_pattern(daemonized || journal ? "%v" : name + ": %^%l%$: %v");
    log->set_level(level);
    spdlog::set_default_logger(log);
}

bool answers(const std::string& path) {
    struct sockaddr_un addr;
    if (!fill_address(path, addr))
        return false;
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    return fd && ::connect(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) == 0;
}

Result<ListeningSocket> listen_on(const std::string& path) {
    if (answers(path))
        return make_error(ErrorKind::Failed, "cgmanager is already running (a daemon answers on {})", path);
    std::string dir = path.substr(0, path.rfind('/'));
    std::string cur;
    for (size_t pos = 1; pos != std::string::npos;) {
        pos = dir.find('/', pos + 1);
        cur = dir.substr(0, pos);
        if (::mkdir(cur.c_str(), 0755) < 0 && errno != EEXIST)
            return errno_error(errno, "mkdir {}", cur);
    }
    struct stat st {};
    if (::lstat(path.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode))
            return make_error(ErrorKind::Failed, "{} exists and is not a socket; not replacing it", path);
        if (::unlink(path.c_str()) < 0)
            return errno_error(errno, "removing the stale socket {}", path);
        spdlog::info("replaced the stale socket {}", path);
    }
    struct sockaddr_un addr;
    CGM_TRY(fill_address(path, addr));
    UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!fd)
        return errno_error(errno, "socket");
    if (::bind(fd.get(), reinterpret_cast<struct sockaddr*>(&addr), sizeof addr) < 0)
        return errno_error(errno, "bind {}", path);
    // Everyone may connect: unprivileged users call directly; every call is authorized on its own.
    if (::chmod(path.c_str(), 0666) < 0)
        return errno_error(errno, "chmod {}", path);
    if (::listen(fd.get(), SOMAXCONN) < 0)
        return errno_error(errno, "listen on {}", path);
    struct stat mine {};
    if (::stat(path.c_str(), &mine) < 0)
        return errno_error(errno, "stat {}", path);
    return ListeningSocket{std::move(fd), path, mine.st_dev, mine.st_ino};
}

void ListeningSocket::remove() const {
    struct stat now {};
    if (path.empty() || ::lstat(path.c_str(), &now) < 0 || now.st_dev != dev || now.st_ino != ino)
        return;
    ::unlink(path.c_str());
}

spdlog::level::level_enum log_level(bool debug, bool verbose, bool quiet) {
    return debug     ? spdlog::level::debug
           : verbose ? spdlog::level::info
           : quiet   ? spdlog::level::err
                     : spdlog::level::warn;
}

void return_large_blocks() {
    ::mallopt(M_MMAP_THRESHOLD, 1 << 20);
}

void raise_fd_limit() {
    struct rlimit rl {};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        if (::setrlimit(RLIMIT_NOFILE, &rl) < 0)
            spdlog::warn("cannot raise RLIMIT_NOFILE: {}, ignoring", std::strerror(errno));
    }
}

Result<void> daemonize(const std::string& pidfile) {
    pid_t pid = ::fork();
    if (pid < 0)
        return errno_error(errno, "fork");
    if (pid > 0)
        _exit(0);
    ::setsid();
    pid = ::fork();
    if (pid < 0)
        return errno_error(errno, "fork");
    if (pid > 0) {
        std::string tmp = pidfile + ".tmp";
        FILE* f = std::fopen(tmp.c_str(), "we");
        if (f) {
            std::fprintf(f, "%d\n", pid);
            std::fclose(f);
            std::rename(tmp.c_str(), pidfile.c_str());
        }
        _exit(0);
    }
    if (::chdir("/") < 0)
        return errno_error(errno, "chdir /");
    int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null >= 0) {
        ::dup2(null, 0);
        ::dup2(null, 1);
        ::dup2(null, 2);
        ::close(null);
    }
    return ok();
}

}  // namespace cgm::runtime
