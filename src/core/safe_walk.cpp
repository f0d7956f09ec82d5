// SPDX-License-Identifier: Apache-2.0
#include "core/safe_walk.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <string_view>

namespace cgm {

namespace {

std::atomic<int> g_openat2_state{-1};  // -1 unknown, 0 usable, 1 disabled or missing

bool openat2_usable() {
    int s = g_openat2_state.load(std::memory_order_relaxed);
    if (s < 0) {
        const char* env = std::getenv("CGM_NO_OPENAT2");
        s = env && std::string_view(env) == "1" ? 1 : 0;
        if (s == 0) {
            // Probe once: a kernel without openat2 says ENOSYS, a seccomp filter may say EPERM.
            struct open_how how {};
            how.flags = O_PATH | O_CLOEXEC;
            how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS;
            long fd = ::syscall(SYS_openat2, AT_FDCWD, ".", &how, sizeof how);
            if (fd >= 0)
                ::close(static_cast<int>(fd));
            else if (errno == ENOSYS || errno == EPERM)
                s = 1;
        }
        g_openat2_state.store(s, std::memory_order_relaxed);
    }
    return s == 0;
}

// The id of the mount `fd` is on: statx (Linux 5.8), else /proc/self/fdinfo (3.15). A bind mount
// of a directory of the same filesystem keeps st_dev; only the mount id tells it apart.
Result<uint64_t> mount_id(int fd) {
    struct statx sx {};
    if (::statx(fd, "", AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW, STATX_MNT_ID, &sx) == 0 && (sx.stx_mask & STATX_MNT_ID))
        return static_cast<uint64_t>(sx.stx_mnt_id);
    auto info = sys::read_file("/proc/self/fdinfo/" + std::to_string(fd), 4096);
    if (!info)
        return std::move(info).error();
    std::string_view text = *info;
    size_t at = text.find("mnt_id:");
    if (at == std::string_view::npos)
        return make_error(ErrorKind::Failed, "no mnt_id in /proc/self/fdinfo/{}", fd);
    text.remove_prefix(at + 7);
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t'))
        text.remove_prefix(1);
    uint64_t id = 0;
    size_t digits = 0;
    for (; digits < text.size() && text[digits] >= '0' && text[digits] <= '9'; ++digits)
        id = id * 10 + static_cast<uint64_t>(text[digits] - '0');
    if (digits == 0)
        return make_error(ErrorKind::Failed, "unreadable mnt_id in /proc/self/fdinfo/{}", fd);
    return id;
}

Result<UniqueFd> open_fallback(int rootfd, const std::string& rel, int flags) {
    struct stat root_st {};
    if (::fstatat(rootfd, "", &root_st, AT_EMPTY_PATH) < 0)
        return errno_error(errno, "stat hierarchy root");
    const uint64_t root_mnt = CGM_TRY(mount_id(rootfd));
    if (rel == "." || rel.empty())
        return sys::openat(rootfd, ".", flags | O_NOFOLLOW);
    UniqueFd cur;
    int dirfd = rootfd;
    size_t start = 0;
    for (;;) {
        size_t slash = rel.find('/', start);
        bool last = slash == std::string::npos;
        std::string comp = rel.substr(start, last ? std::string::npos : slash - start);
        if (comp.empty() || comp == "." || comp == "..")
            return Error(ErrorKind::InvalidArgs, "path '" + rel + "' has an empty, '.' or '..' component", EINVAL);
        int f = last ? (flags | O_NOFOLLOW) : (O_PATH | O_DIRECTORY | O_NOFOLLOW);
        int fd;
        do
            fd = ::openat(dirfd, comp.c_str(), f | O_CLOEXEC);
        while (fd < 0 && errno == EINTR);
        if (fd < 0) {
            // O_PATH|O_NOFOLLOW on a symlink succeeds and returns the link itself; a non-O_PATH
            // open reports ELOOP. Report both as the same problem.
            return errno_error(errno, "open {}", rel);
        }
        UniqueFd next(fd);
        struct stat st {};
        if (::fstatat(fd, "", &st, AT_EMPTY_PATH) < 0)
            return errno_error(errno, "stat {}", rel);
        if (S_ISLNK(st.st_mode))
            return errno_error(ELOOP, "open {}", rel);
        if (st.st_dev != root_st.st_dev || CGM_TRY(mount_id(fd)) != root_mnt)
            return errno_error(EXDEV, "open {}", rel);
        if (last)
            return next;
        cur = std::move(next);
        dirfd = cur.get();
        start = slash + 1;
    }
}

// What a path that meets a symlink or a mount point on the way is: not the caller's to follow.
Result<UniqueFd> refuse_crossings(Result<UniqueFd> r, const std::string& rel) {
    if (r || (r.error().sys_errno != ELOOP && r.error().sys_errno != EXDEV))
        return r;
    const char* what = r.error().sys_errno == ELOOP ? "symlink" : "mount point";
    return Error(ErrorKind::AccessDenied,
                 fmt::format("'{}' is or lies below a {}, which is not followed", rel.empty() ? "." : rel, what),
                 r.error().sys_errno);
}

Result<UniqueFd> open_beneath_unchecked(int rootfd, const std::string& rel, int flags) {
    if (!rel.empty() && rel.front() == '/')
        return Error(ErrorKind::InvalidArgs, "path '" + rel + "' is absolute", EINVAL);
    if (openat2_usable()) {
        struct open_how how {};
        how.flags = static_cast<uint64_t>(flags | O_CLOEXEC);
        how.resolve = RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_NO_XDEV;
        const char* path = rel.empty() ? "." : rel.c_str();
        long fd;
        int attempts = 0;
        // EAGAIN: a rename raced with the lookup; retry a few times, then report it.
        do
            fd = ::syscall(SYS_openat2, rootfd, path, &how, sizeof how);
        while (fd < 0 && (errno == EINTR || (errno == EAGAIN && ++attempts < 16)));
        if (fd >= 0)
            return UniqueFd(static_cast<int>(fd));
        if (errno != ENOSYS)
            return errno_error(errno, "open {}", rel);
        g_openat2_state.store(1, std::memory_order_relaxed);
    }
    return open_fallback(rootfd, rel, flags);
}

}  // namespace

void set_openat2_disabled(bool disabled) {
    g_openat2_state.store(disabled ? 1 : 0, std::memory_order_relaxed);
}

bool openat2_disabled() {
    return !openat2_usable();
}

Result<UniqueFd> open_beneath(int rootfd, const std::string& rel, int flags) {
    return refuse_crossings(open_beneath_unchecked(rootfd, rel, flags), rel);
}

}  // namespace cgm
