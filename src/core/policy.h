// SPDX-License-Identifier: Apache-2.0
//
// The authorization policy (docs/dbus-api.md section 2, docs/security.md), as pure functions over plain
// data. Nothing here reads a file: the caller passes the requestor's ids and maps and the
// target's owner and mode.
#pragma once

#include <sys/types.h>

#include <string_view>

#include "cgmanager/result.h"
#include "core/credentials.h"
#include "core/idmap.h"

namespace cgm {

/// The requestor as the policy sees it: kernel credential plus the id maps of its user namespace.
struct Identity {
    Ucred cred;
    IdMap uid_map = IdMap::identity();
    IdMap gid_map = IdMap::identity();
};

/// Owner and mode of a file or directory (from stat).
struct FileAttrs {
    uid_t uid = 0;
    gid_t gid = 0;
    mode_t mode = 0;
};

enum class Access { Read, Write, ReadWrite };

/// Host root: uid 0 as the daemon sees it (the host's root, or root of a container without its
/// own user namespace).
bool is_host_root(const Identity& r);

/// Root in its own user namespace: host root, or a uid that maps to 0 in the requestor's userns.
bool is_root_in_userns(const Identity& r);

/// may_access of the original: host root may do anything; root in a user namespace may do
/// anything to a file whose owner is mapped in that namespace; everyone else gets the owner,
/// group (primary gid only) or other mode bits, chosen by the first class that matches.
bool may_access(const Identity& r, const FileAttrs& target, Access access);

/// may_move_pid of the original: the requestor moves itself, or is host root, or owns the victim
/// (the victim's real uid), or is root in a user namespace in which the victim's uid is mapped.
bool may_move_pid(const Identity& r, pid_t victim_pid, uid_t victim_real_uid);

/// What a key (a cgroup file name) is used for.
enum class KeyUse { Read, Write, Chmod };

/// A key must be one file name: not empty, not "." or "..", not the hidden leaf ".cgm_leaf", no
/// '/', '\\', NUL or newline, at most limits::kMaxKeyBytes. For writes, the protected files
/// (kProtectedKeys) are refused to everyone, and cgroup.kill to everyone but host root. Errors name
/// the key and the rule.
Result<void> check_key(std::string_view key, KeyUse use, bool host_root);

/// The files SetValue never writes: dedicated methods exist for them, or (cgroup.event_control)
/// the kernel would read file descriptor numbers from the daemon's own fd table.
inline constexpr std::string_view kProtectedKeys[] = {"tasks",         "cgroup.procs",      "cgroup.threads",
                                                      "release_agent", "notify_on_release", "cgroup.event_control"};
/// The files SetValue writes only for host root.
inline constexpr std::string_view kHostRootOnlyKeys[] = {"cgroup.kill"};

}  // namespace cgm
