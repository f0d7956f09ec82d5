// SPDX-License-Identifier: Apache-2.0
#include "core/cgroupfs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <charconv>

#include "core/fs_ids.h"
#include "core/safe_walk.h"

namespace cgm::cgfs {

namespace {

Error name_error(Error e, std::string_view name) {
    return std::move(e).with_context(fmt::format("'{}'", name));
}

}  // namespace

Result<UniqueFd> open_cgroup(int root, const CgroupPath& path) {
    auto fd = open_beneath(root, path.at_path(), O_PATH | O_DIRECTORY);
    if (!fd) {
        int err = fd.error().sys_errno;
        if (err == ENOENT || err == ENOTDIR)
            return make_error(ErrorKind::NotFound, "cgroup {} does not exist", path.absolute());
        if (err == ELOOP)
            return make_error(ErrorKind::AccessDenied, "cgroup {}: a path component is a symlink", path.absolute());
        if (err == EXDEV)
            return make_error(ErrorKind::AccessDenied, "cgroup {}: a path component is a mount point", path.absolute());
        return std::move(fd).error().with_context(fmt::format("cgroup {}", path.absolute()));
    }
    return fd;
}

Result<UniqueFd> open_entry(int dir_fd, std::string_view name) {
    auto fd = open_beneath(dir_fd, std::string(name), O_PATH);
    if (!fd)
        return name_error(std::move(fd).error(), name);
    return fd;
}

Result<bool> child_exists(int dir_fd, std::string_view name) {
    struct stat st {};
    if (::fstatat(dir_fd, std::string(name).c_str(), &st, AT_SYMLINK_NOFOLLOW) < 0) {
        if (errno == ENOENT)
            return false;
        return errno_error(errno, "stat '{}'", name);
    }
    return S_ISDIR(st.st_mode);
}

Result<FileAttrs> attrs(int fd) {
    auto st = CGM_TRY(sys::fstat(fd));
    return FileAttrs{st.st_uid, st.st_gid, st.st_mode};
}

Result<FileAttrs> attrs_at(int dir_fd, std::string_view name) {
    auto st = sys::lstatat(dir_fd, std::string(name));
    if (!st)
        return std::move(st).error();
    return FileAttrs{st->st_uid, st->st_gid, st->st_mode};
}

Result<std::string> read_file(int dir_fd, std::string_view name, size_t limit) {
    auto fd = open_beneath(dir_fd, std::string(name), O_RDONLY);
    if (!fd)
        return name_error(std::move(fd).error(), name);
    auto text = sys::read_all(fd->get(), limit);
    if (!text)
        return name_error(std::move(text).error(), name);
    return text;
}

Result<void> write_file(int dir_fd, std::string_view name, std::string_view data) {
    auto fd = open_beneath(dir_fd, std::string(name), O_WRONLY);
    if (!fd)
        return name_error(std::move(fd).error(), name);
    auto r = sys::write_all(fd->get(), data);
    if (!r)
        return name_error(std::move(r).error(), name);
    return ok();
}

Result<std::optional<UniqueFd>> open_file(int dir_fd, std::string_view name) {
    auto fd = open_beneath(dir_fd, std::string(name), O_PATH | O_NOFOLLOW);
    if (!fd) {
        if (fd.error().sys_errno == ENOENT)
            return std::optional<UniqueFd>();
        return name_error(std::move(fd).error(), name);
    }
    auto st = sys::fstat(fd->get());
    if (!st)
        return name_error(std::move(st).error(), name);
    if (!S_ISREG(st->st_mode))
        return std::optional<UniqueFd>();
    return std::optional<UniqueFd>(std::move(fd).value());
}

Result<bool> chown_file(int dir_fd, std::string_view name, uid_t uid, gid_t gid) {
    auto f = CGM_TRY(open_file(dir_fd, name));
    if (!f)
        return false;
    auto r = chown_fd(f->get(), uid, gid);
    if (!r)
        return name_error(std::move(r).error(), name);
    return true;
}

Result<void> chown_fd(int fd, uid_t uid, gid_t gid) {
    if (::fchownat(fd, "", uid, gid, AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) < 0)
        return errno_error(errno, "chown to {}:{}", uid, gid);
    return ok();
}

Result<void> chown_at(int dir_fd, std::string_view name, uid_t uid, gid_t gid) {
    if (::fchownat(dir_fd, std::string(name).c_str(), uid, gid, AT_SYMLINK_NOFOLLOW) < 0)
        return errno_error(errno, "chown '{}' to {}:{}", name, uid, gid);
    return ok();
}

Result<void> chmod_fd(int fd, mode_t mode) {
#ifdef SYS_fchmodat2
    if (::syscall(SYS_fchmodat2, fd, "", mode, AT_EMPTY_PATH) == 0)
        return ok();
    if (errno != ENOSYS && errno != EINVAL)
        return errno_error(errno, "chmod to {:o}", mode);
#endif
    // O_PATH fds cannot be fchmod()ed; go through the fd's /proc link (it names this very inode).
    std::string link = fmt::format("/proc/self/fd/{}", fd);
    if (::fchmodat(AT_FDCWD, link.c_str(), mode, 0) < 0)
        return errno_error(errno, "chmod to {:o}", mode);
    return ok();
}

Result<bool> mkdir_child(int dir_fd, std::string_view name, mode_t mode) {
    if (::mkdirat(dir_fd, std::string(name).c_str(), mode) < 0) {
        if (errno == EEXIST)
            return false;
        return errno_error(errno, "mkdir '{}'", name);
    }
    return true;
}

Result<bool> mkdir_child_as(int dir_fd, std::string_view name, mode_t mode, uid_t uid, gid_t gid) {
    sys::ScopedFsIds as(uid, gid);
    CGM_TRY(as.status());
    return mkdir_child(dir_fd, name, mode);
}

Result<void> rmdir_child(int dir_fd, std::string_view name) {
    if (::unlinkat(dir_fd, std::string(name).c_str(), AT_REMOVEDIR) < 0)
        return errno_error(errno, "rmdir '{}'", name);
    return ok();
}

Result<void> rmdir_child_if(int dir_fd, std::string_view name, const struct stat& expected) {
    auto now = sys::lstatat(dir_fd, std::string(name));
    if (!now)
        return name_error(std::move(now).error(), name);
    if (now->st_dev != expected.st_dev || now->st_ino != expected.st_ino)
        return Error(ErrorKind::Failed, fmt::format("'{}' is no longer the directory it was", name), ESTALE);
    // The name can still change between that check and this rmdir: see docs/security.md ("Names
    // that change under the daemon") for why that window gives nothing away.
    return rmdir_child(dir_fd, name);
}

Result<std::vector<std::string>> child_dirs(int dir_fd) {
    return sys::list_dir(dir_fd, sys::EntryType::Directory);
}

Result<std::vector<std::string>> files(int dir_fd) {
    return sys::list_dir(dir_fd, sys::EntryType::Regular);
}

Result<std::vector<pid_t>> parse_pids(std::string_view text) {
    std::vector<pid_t> pids;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        if (line.empty())
            continue;
        pid_t pid = 0;
        auto [ptr, ec] = std::from_chars(line.data(), line.data() + line.size(), pid);
        if (ec != std::errc() || ptr != line.data() + line.size() || pid < 0)
            return make_error(ErrorKind::Failed, "malformed pid '{}' in a tasks file", line);
        pids.push_back(pid);
    }
    return pids;
}

}  // namespace cgm::cgfs
