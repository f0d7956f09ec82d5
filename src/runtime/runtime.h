// SPDX-License-Identifier: Apache-2.0
//
// What the cgmanager and cgproxy programs share: logging set-up, the listening socket (with the
// "already running" probe and stale-socket replacement), detaching, the fd limit, the allocator.
#pragma once

#include <string>

#include <spdlog/spdlog.h>

#include "cgmanager/result.h"
#include "core/sys.h"

namespace cgm::runtime {

/// The level the -q/-v/--debug flags ask for (--debug wins, then -v, then -q; else warnings).
spdlog::level::level_enum log_level(bool debug, bool verbose, bool quiet);

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

/// Fix glibc's mmap threshold at 1 MiB, so that blocks that large (a client's message of many
/// MiB, a long task list) are mapped and go back to the kernel when freed. glibc's default raises
/// the threshold to the largest block freed, after which such blocks stay in the heap for good.
void return_large_blocks();

/// Double fork and detach: the calling process exits 0 once the detached one's pid is in `pidfile`;
/// the detached process has its own session, "/" as directory and /dev/null on stdin/out/err.
Result<void> daemonize(const std::string& pidfile);

}  // namespace cgm::runtime
