// SPDX-License-Identifier: Apache-2.0
#include "daemon/historic.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <syslog.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <vector>

#include <spdlog/spdlog.h>

#include "cgmanager/names.h"
#include "core/cgroupfs.h"
#include "core/limits.h"
#include "core/proc_parse.h"
#include "core/sys.h"
#include "runtime/runtime.h"

#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC 0x01021994
#endif
#ifndef CGROUP2_SUPER_MAGIC
#define CGROUP2_SUPER_MAGIC 0x63677270
#endif

namespace cgm {

namespace {

constexpr const char* kCgroupRoot = "/sys/fs/cgroup";
constexpr const char* kDir = "/sys/fs/cgroup/cgmanager";
// How our tmpfs is told apart in mountinfo: over a directory we made, or over one that was there.
constexpr const char* kTmpfsSource = "cgmanager";
constexpr const char* kTmpfsSourceOver = "cgmanager-over";

Result<bool> root_is_cgroup2() {
    struct statfs sfs {};
    if (::statfs(kCgroupRoot, &sfs) < 0)
        return errno_error(errno, "statfs {}", kCgroupRoot);
    if (sfs.f_type == CGROUP2_SUPER_MAGIC)
        return true;
    if (sfs.f_type == TMPFS_MAGIC)
        return false;
    return make_error(ErrorKind::NotSupported,
                      "{} is neither a cgroup2 mount (a pure v2 host) nor a tmpfs (a v1 or hybrid host); not "
                      "making the historic socket path there",
                      kCgroupRoot);
}

// The mounts at `path` in this mount namespace, innermost last.
Result<std::vector<MountInfo>> mounts_at(const std::string& path) {
    auto text = CGM_TRY(sys::read_file("/proc/self/mountinfo", limits::kMaxProcFileBytes));
    std::vector<MountInfo> out;
    for (auto& m : CGM_TRY(parse_mountinfo(text)))
        if (m.mount_point == path)
            out.push_back(std::move(m));
    return out;
}

Result<UniqueFd> open_dir(const char* path) {
    UniqueFd fd(::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW));
    if (!fd)
        return errno_error(errno, "open {}", path);
    return fd;
}

bool same_file(const std::string& a, const std::string& b) {
    struct stat sa {
    }, sb{};
    return ::stat(a.c_str(), &sa) == 0 && ::stat(b.c_str(), &sb) == 0 && sa.st_dev == sb.st_dev &&
           sa.st_ino == sb.st_ino;
}

// An empty cgroup: no processes and no children.
Result<bool> unused_cgroup(const char* dir) {
    auto fd = CGM_TRY(open_dir(dir));
    auto procs = CGM_TRY(cgfs::read_file(fd.get(), "cgroup.procs", limits::kMaxTasksFileBytes));
    if (procs.find_first_not_of(" \n") != std::string::npos)
        return false;
    return CGM_TRY(cgfs::child_dirs(fd.get())).empty();
}

}  // namespace

Result<HistoricLink> link_historic_socket(const std::string& socket_path) {
    const std::string historic = kLegacySocketPath;
    if (socket_path == historic)
        return HistoricLink::AlreadyThere;
    struct stat sock {};
    if (socket_path.empty() || socket_path.front() != '/' || ::stat(socket_path.c_str(), &sock) < 0 ||
        !S_ISSOCK(sock.st_mode))
        return make_error(ErrorKind::InvalidArgs, "the daemon's socket {} is not a socket file; nothing to link",
                          socket_path.empty() ? std::string("(unnamed)") : socket_path);
    const bool cgroup2 = CGM_TRY(root_is_cgroup2());
    if (cgm::runtime::answers(historic)) {
        if (same_file(historic, socket_path))
            return HistoricLink::AlreadyThere;
        return make_error(ErrorKind::Failed, "another daemon answers on {}; not replacing it", historic);
    }
    CGM_TRY(unlink_historic_socket());  // what a daemon that ended without unlinking left

    bool made_dir = false;
    if (::mkdir(kDir, 0755) == 0)
        made_dir = true;
    else if (errno != EEXIST)
        return errno_error(errno, "mkdir {}", kDir);
    bool mounted = false;
    auto undo = [&] {
        if (mounted)
            ::umount2(kDir, MNT_DETACH);
        if (made_dir)
            ::rmdir(kDir);
    };
    if (cgroup2) {
        // A cgroup of the root cgroup: covered only while nobody uses it.
        auto unused = unused_cgroup(kDir);
        if (!unused || !*unused) {
            undo();
            if (!unused)
                return std::move(unused).error().with_context(kDir);
            return make_error(ErrorKind::Failed,
                              "{} is a cgroup in use (it has processes or child cgroups); not "
                              "covering it with the historic socket path",
                              kDir);
        }
        if (::mount(made_dir ? kTmpfsSource : kTmpfsSourceOver, kDir, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC,
                    "mode=0755,size=16k,nr_inodes=16") < 0) {
            int e = errno;
            undo();
            return errno_error(e, "mount a tmpfs on {}", kDir);
        }
        mounted = true;
    }
    struct stat st {};
    if (::lstat(historic.c_str(), &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            undo();
            return make_error(ErrorKind::Failed, "{} exists and is not a socket; not replacing it", historic);
        }
        if (::unlink(historic.c_str()) < 0) {
            int e = errno;
            undo();
            return errno_error(e, "removing the stale socket {}", historic);
        }
    }
    UniqueFd placeholder(::open(historic.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0666));
    if (!placeholder) {
        int e = errno;
        undo();
        return errno_error(e, "create {}", historic);
    }
    placeholder.reset();
    if (::mount(socket_path.c_str(), historic.c_str(), nullptr, MS_BIND, nullptr) < 0) {
        int e = errno;
        ::unlink(historic.c_str());
        undo();
        return errno_error(e, "bind-mount {} onto {}", socket_path, historic);
    }
    if (!same_file(historic, socket_path)) {
        (void)unlink_historic_socket();
        return make_error(ErrorKind::Failed, "{} does not reach {} after the bind mount", historic, socket_path);
    }
    return HistoricLink::Linked;
}

Result<void> unlink_historic_socket(std::optional<SocketId> only_socket) {
    const std::string historic = kLegacySocketPath;
    if (only_socket) {
        struct stat now {};
        if (::stat(historic.c_str(), &now) < 0 || now.st_dev != only_socket->dev || now.st_ino != only_socket->ino)
            return ok();  // not (or no longer) our link
    }
    // The bind mount(s) on the placeholder, then the placeholder: a regular empty file, ours.
    for (const auto& m : CGM_TRY(mounts_at(historic))) {
        (void)m;
        if (::umount2(historic.c_str(), MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
            return errno_error(errno, "unmount {}", historic);
    }
    struct stat st {};
    if (::lstat(historic.c_str(), &st) == 0 && S_ISREG(st.st_mode) && st.st_size == 0)
        if (::unlink(historic.c_str()) < 0)
            return errno_error(errno, "remove {}", historic);
    // Our tmpfs, if it is empty now, and on cgroup2 the cgroup under it.
    bool ours = false, made_dir = false;
    for (const auto& m : CGM_TRY(mounts_at(kDir))) {
        ours = m.fstype == "tmpfs" && (m.source == kTmpfsSource || m.source == kTmpfsSourceOver);
        made_dir = ours && m.source == kTmpfsSource;
    }
    if (ours) {
        auto fd = CGM_TRY(open_dir(kDir));
        if (!CGM_TRY(cgfs::files(fd.get())).empty() || !CGM_TRY(cgfs::child_dirs(fd.get())).empty())
            return make_error(ErrorKind::Failed, "{} holds files that are not cgmanager's; leaving it", kDir);
        fd.reset();
        if (::umount2(kDir, MNT_DETACH) < 0)
            return errno_error(errno, "unmount {}", kDir);
        auto cgroup2 = root_is_cgroup2();
        if (made_dir && cgroup2 && *cgroup2 && CGM_TRY(unused_cgroup(kDir)) && ::rmdir(kDir) < 0 && errno != ENOENT)
            return errno_error(errno, "remove the cgroup {}", kDir);
    }
    return ok();
}

namespace {

// Close every descriptor but stdio and `keep`; close_range where the kernel has it (5.9), else
// one by one from /proc/self/fd.
void close_all_but(int keep) {
    bool done = (keep <= 3 || ::close_range(3, keep - 1, 0) == 0) && ::close_range(keep + 1, ~0U, 0) == 0;
    if (done)
        return;
    std::vector<int> open;
    if (DIR* d = ::opendir("/proc/self/fd")) {
        while (struct dirent* e = ::readdir(d)) {
            int fd = std::atoi(e->d_name);
            if (fd > 2 && fd != keep && fd != ::dirfd(d))
                open.push_back(fd);
        }
        ::closedir(d);
    }
    for (int fd : open)
        ::close(fd);
}

}  // namespace

Result<UniqueFd> unlink_historic_socket_at_exit(const std::string& socket_path, bool quiet) {
    struct stat sock {};
    if (::stat(socket_path.c_str(), &sock) < 0)
        return errno_error(errno, "stat {}", socket_path);
    const SocketId linked{sock.st_dev, sock.st_ino};
    int p[2];
    if (::pipe2(p, O_CLOEXEC) < 0)
        return errno_error(errno, "pipe2");
    UniqueFd read_end(p[0]), write_end(p[1]);
    pid_t pid = ::fork();
    if (pid < 0)
        return errno_error(errno, "fork");
    if (pid == 0) {
        ::prctl(PR_SET_NAME, "cgm-historic");
        // Nothing of the daemon's but the pipe's read end: not its listening socket (a client must
        // never wait on a socket nobody serves), not the write end (or it would wait for itself),
        // not the terminal or session it was started from.
        const int keep = read_end.get();
        ::close(write_end.get());
        close_all_but(keep);
        ::setsid();
        [[maybe_unused]] int in_root = ::chdir("/");  // not to keep a mount busy; failing is harmless
        int null = ::open("/dev/null", O_RDWR | O_CLOEXEC);
        if (null >= 0) {
            ::dup2(null, 0);
            ::dup2(null, 1);
            if (quiet)
                ::dup2(null, 2);
            ::close(null);
        }
        char c;
        for (;;) {  // until end of file: the daemon has exited
            ssize_t n = ::read(keep, &c, 1);
            if (n == 0 || (n < 0 && errno != EINTR))
                break;
        }
        auto r = unlink_historic_socket(linked);
        if (!r) {
            if (quiet)
                ::syslog(LOG_DAEMON | LOG_ERR, "unlinking the historic socket path: %s", r.error().message.c_str());
            else
                std::fprintf(stderr, "cgmanager: unlinking the historic socket path: %s\n", r.error().message.c_str());
        }
        ::_exit(r ? 0 : 1);
    }
    return write_end;
}

}  // namespace cgm
