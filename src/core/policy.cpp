// SPDX-License-Identifier: Apache-2.0
#include "core/policy.h"

#include <sys/stat.h>

#include "core/cgroup_path.h"
#include "core/limits.h"

namespace cgm {

bool is_host_root(const Identity& r) {
    return r.cred.uid == 0;
}

bool is_root_in_userns(const Identity& r) {
    if (is_host_root(r))
        return true;
    auto ns_uid = r.uid_map.to_ns(r.cred.uid);
    return ns_uid && *ns_uid == 0;
}

bool may_access(const Identity& r, const FileAttrs& target, Access access) {
    if (is_host_root(r))
        return true;
    if (is_root_in_userns(r) && r.uid_map.maps_host(target.uid))
        return true;
    mode_t read_bit, write_bit;
    if (r.cred.uid == target.uid) {
        read_bit = S_IRUSR;
        write_bit = S_IWUSR;
    } else if (r.cred.gid == target.gid) {
        read_bit = S_IRGRP;
        write_bit = S_IWGRP;
    } else {
        read_bit = S_IROTH;
        write_bit = S_IWOTH;
    }
    bool need_read = access == Access::Read || access == Access::ReadWrite;
    bool need_write = access == Access::Write || access == Access::ReadWrite;
    if (need_read && !(target.mode & read_bit))
        return false;
    if (need_write && !(target.mode & write_bit))
        return false;
    return true;
}

bool may_move_pid(const Identity& r, pid_t victim_pid, uid_t victim_real_uid) {
    if (r.cred.pid == victim_pid)
        return true;
    if (is_host_root(r))
        return true;
    if (r.cred.uid == victim_real_uid)
        return true;
    return is_root_in_userns(r) && r.uid_map.maps_host(victim_real_uid);
}

Result<void> check_key(std::string_view key, KeyUse use, bool host_root) {
    if (key.empty())
        return make_error(ErrorKind::InvalidArgs, "empty key");
    if (key == "." || key == ".." || key == kLeafName)
        return make_error(ErrorKind::InvalidArgs, "key {} is not a file name", quoted(key));
    if (key.size() > limits::kMaxKeyBytes)
        return make_error(ErrorKind::LimitsExceeded, "key of {} bytes is longer than {} bytes", key.size(),
                          limits::kMaxKeyBytes);
    for (char c : key) {
        if (c == '/' || c == '\\')
            return make_error(ErrorKind::InvalidArgs, "key {} must be a single file name (no '{}')", quoted(key), c);
        if (c == '\0' || c == '\n')
            return make_error(ErrorKind::InvalidArgs, "key contains a {} byte", c == '\0' ? "NUL" : "newline");
    }
    if (use != KeyUse::Write)
        return ok();
    for (auto p : kProtectedKeys)
        if (key == p)
            return make_error(ErrorKind::AccessDenied, "key {} cannot be written with SetValue{}", quoted(key),
                              key == "tasks" || key == "cgroup.procs" || key == "cgroup.threads" ? " (use MovePid)"
                              : key == "notify_on_release" ? " (use RemoveOnEmpty)"
                                                           : "");
    if (!host_root)
        for (auto p : kHostRootOnlyKeys)
            if (key == p)
                return make_error(ErrorKind::AccessDenied, "key {} may only be written by host root", quoted(key));
    return ok();
}

}  // namespace cgm
