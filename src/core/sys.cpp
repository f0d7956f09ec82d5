// SPDX-License-Identifier: Apache-2.0
#include "core/sys.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstring>

namespace cgm {

void UniqueFd::reset(int fd) {
    if (fd_ >= 0) {
        int saved = errno;
        ::close(fd_);
        errno = saved;
    }
    fd_ = fd;
}

namespace sys {

Result<UniqueFd> open(const std::string& path, int flags, mode_t mode) {
    int fd;
    do
        fd = ::open(path.c_str(), flags | O_CLOEXEC, mode);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return errno_error(errno, "open {}", path);
    return UniqueFd(fd);
}

Result<UniqueFd> openat(int dirfd, const std::string& path, int flags, mode_t mode) {
    int fd;
    do
        fd = ::openat(dirfd, path.c_str(), flags | O_CLOEXEC, mode);
    while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return errno_error(errno, "open {}", path);
    return UniqueFd(fd);
}

Result<UniqueFd> dup(int fd) {
    int nfd = ::fcntl(fd, F_DUPFD_CLOEXEC, 3);
    if (nfd < 0)
        return errno_error(errno, "dup fd {}", fd);
    return UniqueFd(nfd);
}

Result<struct stat> fstat(int fd) {
    struct stat st {};
    if (::fstatat(fd, "", &st, AT_EMPTY_PATH) < 0)
        return errno_error(errno, "stat fd {}", fd);
    return st;
}

Result<struct stat> lstatat(int dirfd, const std::string& name) {
    struct stat st {};
    if (::fstatat(dirfd, name.c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0)
        return errno_error(errno, "stat {}", name);
    return st;
}

Result<std::string> read_all(int fd, size_t limit) {
    std::string out;
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            return errno_error(errno, "read");
        }
        if (n == 0)
            break;
        if (out.size() + static_cast<size_t>(n) > limit)
            return make_error(ErrorKind::LimitsExceeded, "file is larger than {} bytes", limit);
        out.append(buf, static_cast<size_t>(n));
    }
    return out;
}

Result<std::string> read_file(const std::string& path, size_t limit) {
    auto fd = CGM_TRY(sys::open(path, O_RDONLY));
    auto r = read_all(fd.get(), limit);
    if (!r)
        return std::move(r).error().with_context(path);
    return r;
}

Result<void> write_all(int fd, std::string_view data) {
    ssize_t n;
    do
        n = ::write(fd, data.data(), data.size());
    while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno_error(errno, "write");
    if (static_cast<size_t>(n) != data.size())
        return make_error(ErrorKind::Failed, "short write ({} of {} bytes)", n, data.size());
    return ok();
}

Result<void> write_file(const std::string& path, std::string_view data) {
    auto fd = CGM_TRY(sys::open(path, O_WRONLY));
    auto r = write_all(fd.get(), data);
    if (!r)
        return std::move(r).error().with_context(path);
    return ok();
}

Result<std::vector<std::string>> list_dir(int dirfd, EntryType type) {
    // getdents64 on a fresh descriptor: what fdopendir/readdir do, without their fstat and fcntl
    // calls (this runs on every Create, Remove and ListChildren).
    UniqueFd fd(::openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC));
    if (!fd)
        return errno_error(errno, "open directory");
    alignas(struct dirent64) char buf[32768];
    std::vector<std::string> names;
    for (;;) {
        ssize_t n = ::getdents64(fd.get(), buf, sizeof buf);
        if (n < 0)
            return errno_error(errno, "read directory");
        if (n == 0)
            break;
        for (ssize_t off = 0; off < n;) {
            const auto* e = reinterpret_cast<const struct dirent64*>(buf + off);
            off += e->d_reclen;
            std::string_view name = e->d_name;
            if (name == "." || name == "..")
                continue;
            if ((type == EntryType::Directory && e->d_type != DT_DIR) ||
                (type == EntryType::Regular && e->d_type != DT_REG))
                continue;
            names.emplace_back(name);
        }
    }
    return names;
}

Result<void> mkdir(const std::string& path, mode_t mode, bool exist_ok) {
    if (::mkdir(path.c_str(), mode) < 0 && !(exist_ok && errno == EEXIST))
        return errno_error(errno, "mkdir {}", path);
    return ok();
}

Result<std::string> readlink(const std::string& path) {
    char buf[PATH_MAX];
    ssize_t n = ::readlink(path.c_str(), buf, sizeof buf);
    if (n < 0)
        return errno_error(errno, "readlink {}", path);
    return std::string(buf, static_cast<size_t>(n));
}

}  // namespace sys
}  // namespace cgm
