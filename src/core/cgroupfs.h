// SPDX-License-Identifier: Apache-2.0
//
// Small file operations on cgroup directories, all relative to a directory fd and all through
// open_beneath (no symlinks, no escapes). Errors name the file.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cgmanager/result.h"
#include "core/cgroup_path.h"
#include "core/policy.h"
#include "core/sys.h"

namespace cgm::cgfs {

/// O_PATH directory fd of `path` beneath `root`. A missing cgroup gives NotFound
/// "cgroup /a/b does not exist".
Result<UniqueFd> open_cgroup(int root, const CgroupPath& path);
/// O_PATH fd of a file (or "." for the directory) inside a cgroup directory fd.
Result<UniqueFd> open_entry(int dir_fd, std::string_view name);
/// Whether a child directory exists (ENOENT -> false; other errors are returned).
Result<bool> child_exists(int dir_fd, std::string_view name);

Result<FileAttrs> attrs(int fd);
Result<FileAttrs> attrs_at(int dir_fd, std::string_view name);

/// Read a file in a cgroup directory, at most `limit` bytes.
Result<std::string> read_file(int dir_fd, std::string_view name, size_t limit);
/// Write a file in a cgroup directory with a single write(2).
Result<void> write_file(int dir_fd, std::string_view name, std::string_view data);

/// O_PATH fd of a regular file of a cgroup directory; nullopt when there is none of that name (or
/// the name is a child directory: a cgroup may have a child named like a file it lacks).
Result<std::optional<UniqueFd>> open_file(int dir_fd, std::string_view name);
/// chown a regular file of a cgroup directory by fd; false when there is no such file.
Result<bool> chown_file(int dir_fd, std::string_view name, uid_t uid, gid_t gid);

/// chown the object an fd refers to (no symlink is followed).
Result<void> chown_fd(int fd, uid_t uid, gid_t gid);
/// chown an entry of a directory (not following a symlink).
Result<void> chown_at(int dir_fd, std::string_view name, uid_t uid, gid_t gid);
/// chmod the object an (O_PATH) fd refers to.
Result<void> chmod_fd(int fd, mode_t mode);

/// mkdir one child; returns false if it already existed.
Result<bool> mkdir_child(int dir_fd, std::string_view name, mode_t mode);
/// mkdir one child as uid:gid (sys::ScopedFsIds): the kernel makes the cgroup directory and every
/// file in it theirs from the start. Returns false if it already existed.
Result<bool> mkdir_child_as(int dir_fd, std::string_view name, mode_t mode, uid_t uid, gid_t gid);
/// rmdir one child.
Result<void> rmdir_child(int dir_fd, std::string_view name);
/// rmdir one child only while the name still refers to the directory `expected` (its st_dev and
/// st_ino, from an fd held on it). A name that now refers to another directory is not removed:
/// ErrorKind::Failed with errno ESTALE. A name that is gone: ENOENT.
Result<void> rmdir_child_if(int dir_fd, std::string_view name, const struct stat& expected);

/// Names of the child directories of a cgroup directory, in readdir order.
Result<std::vector<std::string>> child_dirs(int dir_fd);
/// Names of the regular files of a cgroup directory, in readdir order.
Result<std::vector<std::string>> files(int dir_fd);

/// Parse a tasks / cgroup.procs file: one decimal pid per line.
Result<std::vector<pid_t>> parse_pids(std::string_view text);

}  // namespace cgm::cgfs
