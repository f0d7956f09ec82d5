// SPDX-License-Identifier: Apache-2.0
//
// What the cgmanager and cgproxy programs share: logging set-up, the listening socket (with the
// "already running" probe and stale-socket replacement), detaching, the fd limit.
#pragma once

#include <string>

#include <spdlog/spdlog.h>

#include "cgmanager/result.h"
#include "core/sys.h"

namespace cgm::bus {

enum class LogTarget { Stderr, Journal, Syslog };

/// The default logger for program `name`: the journal when systemd started it (JOURNAL_STREAM),
/// syslog once detached, else stderr with "name: level: " prefixes.
void setup_logging(const std::string& name, spdlog::level::level_enum level, bool daemonized);

/// Whether a daemon answers (accepts a connection) on a unix socket path.
bool answers(const std::string& path);

/// A socket this process listens on, and the identity of its file.
struct ListeningSocket {
    UniqueFd fd;
    std::string path;
    dev_t dev = 0;
    ino_t ino = 0;
    /// Remove the socket file, if the path still names the file we created (someone may have
    /// moved it, and put another there).
    void remove() const;
};

/// Listen on a unix stream socket at `path`: refuse when a daemon already answers there, replace a
/// stale socket file, create the parent directories (0755), make the socket connectable by all
/// (0666). The fd is non-blocking and close-on-exec.
Result<ListeningSocket> listen_on(const std::string& path);

/// Raise RLIMIT_NOFILE's soft limit to the hard limit; a failure is only logged.
void raise_fd_limit();

/// Double fork and detach: the calling process exits 0 once the detached one's pid is in `pidfile`;
/// the detached process has its own session, "/" as directory and /dev/null on stdin/out/err.
Result<void> daemonize(const std::string& pidfile);

}  // namespace cgm::bus
