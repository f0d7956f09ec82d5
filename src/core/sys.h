// SPDX-License-Identifier: Apache-2.0
//
// Thin wrappers over the system calls the core uses.
//
// General rules:
//  - Every wrapper returns Result<T>; its Error names the call and the object it acted on.
//  - Every file descriptor is opened close-on-exec and owned by a UniqueFd.
//  - EINTR is retried inside the wrappers.
#pragma once

#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "cgmanager/result.h"

namespace cgm {

/// Owns one file descriptor; closes it on destruction.
class UniqueFd {
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(UniqueFd&& o) noexcept : fd_(o.release()) {}
    UniqueFd& operator=(UniqueFd&& o) noexcept {
        if (this != &o)
            reset(o.release());
        return *this;
    }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd() { reset(); }

    int get() const { return fd_; }
    bool valid() const { return fd_ >= 0; }
    explicit operator bool() const { return valid(); }
    int release() {
        int fd = fd_;
        fd_ = -1;
        return fd;
    }
    void reset(int fd = -1);

private:
    int fd_ = -1;
};

namespace sys {

/// open(2) with O_CLOEXEC added.
Result<UniqueFd> open(const std::string& path, int flags, mode_t mode = 0);
/// openat(2) with O_CLOEXEC added; `what` names the object in errors.
Result<UniqueFd> openat(int dirfd, const std::string& path, int flags, mode_t mode = 0);
/// fcntl(F_DUPFD_CLOEXEC).
Result<UniqueFd> dup(int fd);

/// Send one datagram of `payload` carrying SCM_CREDENTIALS {pid, uid, gid}. The kernel checks what
/// the sender may claim. Returns what sendmsg(2) does. Inline, so that the installed client
/// library, which has nothing else of the core but its error convention, shares it.
inline ssize_t send_with_credentials(int fd, std::string_view payload, pid_t pid, uid_t uid, gid_t gid, int flags) {
    struct ucred uc = {pid, uid, gid};
    alignas(struct cmsghdr) char control[CMSG_SPACE(sizeof uc)] = {};
    struct iovec iov = {const_cast<char*>(payload.data()), payload.size()};
    struct msghdr msg {};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    struct cmsghdr* cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_CREDENTIALS;
    cm->cmsg_len = CMSG_LEN(sizeof uc);
    std::memcpy(CMSG_DATA(cm), &uc, sizeof uc);
    return ::sendmsg(fd, &msg, flags);
}

/// A credential of the *Scm protocol (docs/dbus-api.md): one byte ('p') with SCM_CREDENTIALS.
inline ssize_t send_credentials(int fd, pid_t pid, uid_t uid, gid_t gid, int flags) {
    return send_with_credentials(fd, "p", pid, uid, gid, flags);
}

/// fstat of an fd (works on O_PATH fds).
Result<struct stat> fstat(int fd);
/// fstatat without following a final symlink.
Result<struct stat> lstatat(int dirfd, const std::string& name);

/// Read the whole content of an open file, from its current offset, at most `limit` bytes;
/// more is an error of kind LimitsExceeded.
Result<std::string> read_all(int fd, size_t limit);
/// Read a whole file by path (for /proc and /sys files).
Result<std::string> read_file(const std::string& path, size_t limit);
/// write(2) the whole buffer in one call, as cgroup files expect; a short write is an error.
Result<void> write_all(int fd, std::string_view data);
/// Write a whole file by path, opened O_WRONLY (no O_CREAT, no O_TRUNC).
Result<void> write_file(const std::string& path, std::string_view data);

/// Which entries list_dir returns, by d_type.
enum class EntryType { Any, Directory, Regular };
/// The names of the entries of a directory fd (which may be O_PATH; it is reopened, not moved),
/// in readdir order; "." and ".." are left out.
Result<std::vector<std::string>> list_dir(int dirfd, EntryType type);

/// mkdir(2) of one path; EEXIST is not an error when `exist_ok`.
Result<void> mkdir(const std::string& path, mode_t mode, bool exist_ok);

/// The readlink(2) of a path.
Result<std::string> readlink(const std::string& path);

}  // namespace sys
}  // namespace cgm
