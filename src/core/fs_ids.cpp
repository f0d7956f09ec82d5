// SPDX-License-Identifier: Apache-2.0
#include "core/fs_ids.h"

#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>

namespace cgm::sys {

namespace {

// The 32-bit-id forms where the architecture has both (i386, arm); x86_64 has only these.
#ifdef SYS_setfsuid32
constexpr long kSetFsUid = SYS_setfsuid32;
constexpr long kSetFsGid = SYS_setfsgid32;
#else
constexpr long kSetFsUid = SYS_setfsuid;
constexpr long kSetFsGid = SYS_setfsgid;
#endif

// setfsuid/setfsgid return the previous id whether they succeed or not; an invalid id (-1)
// changes nothing, which is how the current one is read.
uid_t set_fsuid(uid_t id) {
    return static_cast<uid_t>(::syscall(kSetFsUid, id));
}
gid_t set_fsgid(gid_t id) {
    return static_cast<gid_t>(::syscall(kSetFsGid, id));
}

bool cap_get(__user_cap_data_struct* data) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};  // pid 0: the calling thread
    return ::syscall(SYS_capget, &header, data) == 0;
}
bool cap_set(__user_cap_data_struct* data) {
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    return ::syscall(SYS_capset, &header, data) == 0;
}

}  // namespace

uid_t ScopedFsIds::current_fsuid() {
    return set_fsuid(static_cast<uid_t>(-1));
}

gid_t ScopedFsIds::current_fsgid() {
    return set_fsgid(static_cast<gid_t>(-1));
}

ScopedFsIds::ScopedFsIds(uid_t uid, gid_t gid) {
    old_uid_ = current_fsuid();
    old_gid_ = current_fsgid();
    if (old_uid_ == uid && old_gid_ == gid)
        return;
    if (!cap_get(caps_)) {
        status_ = errno_error(errno, "capget");
        return;
    }
    tid_ = static_cast<pid_t>(::syscall(SYS_gettid));
    changed_ = true;  // from here on, the destructor puts everything back
    set_fsgid(gid);
    set_fsuid(uid);
    if (current_fsgid() != gid || current_fsuid() != uid) {
        status_ = make_error(ErrorKind::Failed, "cannot act as {}:{} (setfsuid/setfsgid refused)", uid, gid);
        restore();
        return;
    }
    // The fsuid change dropped the file capabilities from the effective set: raise them again.
    if (!cap_set(caps_)) {
        status_ = errno_error(errno, "capset after setfsuid {}", uid);
        restore();
    }
}

ScopedFsIds::~ScopedFsIds() {
    restore();
}

void ScopedFsIds::restore() {
    if (!changed_)
        return;
    changed_ = false;
    const bool same_thread = static_cast<pid_t>(::syscall(SYS_gettid)) == tid_;
    if (same_thread) {
        set_fsuid(old_uid_);
        set_fsgid(old_gid_);
    }
    // Back to fsuid 0 the kernel raised the file capabilities already; set the saved effective set
    // exactly, whatever it was.
    if (!same_thread || current_fsuid() != old_uid_ || current_fsgid() != old_gid_ || !cap_set(caps_)) {
        std::fputs("cgmanager: cannot restore the thread's filesystem ids; aborting\n", stderr);
        std::abort();
    }
}

}  // namespace cgm::sys
