// SPDX-License-Identifier: Apache-2.0
//
// ScopedFsIds: for as long as it lives, the calling thread acts on files as another uid:gid (its
// fsuid and fsgid), with the capabilities it had before.
//
// Why: the kernel makes a new cgroup directory, and every file in it, owned by the fsuid and fsgid
// of the thread that calls mkdir. A directory made with the requestor's ids is the requestor's from
// its first instant, so nothing has to be chowned afterwards by name (which a rename in between
// could point at someone else's cgroup).
//
// Rules it keeps:
//  - Per thread. fsuid and fsgid are set with the raw setfsuid/setfsgid system calls, which change
//    only the calling thread's credentials (the daemon serves calls on several threads at once).
//  - Capabilities kept. Changing the fsuid from 0 to another id drops the file capabilities
//    (CAP_DAC_OVERRIDE, CAP_CHOWN, CAP_FOWNER, ...) from the thread's effective set; they are raised
//    again with capset(2) (to exactly the effective set the thread had), because the daemon has
//    already decided by its own rules (may_access) that the requestor may do what follows, and
//    those rules allow things plain permission bits would not.
//  - Restored on every path: the destructor sets the previous fsuid, fsgid and effective set back,
//    on the thread that made the scope (it aborts the process rather than let a thread go on with
//    another identity, which could only happen if the kernel refused root its own ids back).
//  - Nothing is changed when the ids are already the thread's.
#pragma once

#include <linux/capability.h>
#include <sys/types.h>

#include "cgmanager/result.h"

namespace cgm::sys {

class ScopedFsIds {
public:
    ScopedFsIds(uid_t uid, gid_t gid);
    ~ScopedFsIds();
    ScopedFsIds(const ScopedFsIds&) = delete;
    ScopedFsIds& operator=(const ScopedFsIds&) = delete;
    ScopedFsIds(ScopedFsIds&&) = delete;
    ScopedFsIds& operator=(ScopedFsIds&&) = delete;

    /// Whether the switch worked; when it did not, the thread's ids are already restored.
    const Result<void>& status() const { return status_; }

    /// The calling thread's fsuid and fsgid now (for tests and checks).
    static uid_t current_fsuid();
    static gid_t current_fsgid();

private:
    void restore();

    Result<void> status_;
    bool changed_ = false;
    pid_t tid_ = 0;
    uid_t old_uid_ = 0;
    gid_t old_gid_ = 0;
    __user_cap_data_struct caps_[_LINUX_CAPABILITY_U32S_3] = {};
};

}  // namespace cgm::sys
