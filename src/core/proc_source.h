// SPDX-License-Identifier: Apache-2.0
//
// Where process facts come from: /proc/<pid>/{cgroup,status,uid_map,gid_map,ns/*}. Operations
// read them through this interface, so the source can be swapped (a pidfd-pinned reader, a
// test double) without touching the verbs.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "cgmanager/result.h"
#include "core/policy.h"
#include "core/proc_parse.h"
#include "core/sys.h"

namespace cgm {

/// Identity of a namespace: device and inode of its /proc/<pid>/ns/<type> file.
struct NsId {
    dev_t dev = 0;
    ino_t ino = 0;
    bool operator==(const NsId&) const = default;
};

class ProcSource {
public:
    virtual ~ProcSource() = default;
    /// The text of /proc/<pid>/<file>. A missing process gives NotFound naming the pid.
    virtual Result<std::string> read(pid_t pid, std::string_view file) const = 0;
    /// The identity of /proc/<pid>/ns/<type>; pid 0 means the daemon itself.
    virtual Result<NsId> ns_id(pid_t pid, std::string_view type) const = 0;

    Result<std::vector<ProcCgroupLine>> cgroups(pid_t pid) const;
    Result<ProcStatus> status(pid_t pid) const;
    /// When the process started, in clock ticks after boot (/proc/<pid>/stat).
    Result<uint64_t> start_time(pid_t pid) const;
    Result<IdMap> uid_map(pid_t pid) const;
    Result<IdMap> gid_map(pid_t pid) const;
    /// Whether pid lives in the same namespace of `type` ("pid", "user") as the daemon.
    Result<bool> same_namespace(pid_t pid, std::string_view type) const;

    /// A pidfd for pid (pidfd_open); an invalid fd where the kernel has none; NotFound when the
    /// process does not exist; InvalidArgs naming the process when pid is one of its threads.
    static Result<UniqueFd> open_pidfd(pid_t pid);
    /// Whether to ask the kernel for pidfds of socket peers and senders (SO_PEERPIDFD,
    /// SO_PASSPIDFD: Linux 6.5). CGM_NO_PIDFD_SOCKOPTS=1 in the environment says no, so that the
    /// checks older kernels get can be tested on newer ones.
    static bool socket_pidfds_wanted();
    /// Whether the process a pidfd refers to is still running (true for an invalid fd).
    static bool alive(int pidfd);
};

/// The real /proc, read through one directory fd opened at construction.
class SystemProc final : public ProcSource {
public:
    static Result<SystemProc> open(const std::string& proc_root = "/proc");
    Result<std::string> read(pid_t pid, std::string_view file) const override;
    Result<NsId> ns_id(pid_t pid, std::string_view type) const override;

private:
    explicit SystemProc(UniqueFd fd) : proc_(std::move(fd)) {}
    UniqueFd proc_;
};

/// The system's /proc, opened once, for code that has no ProcSource of its own (null if /proc
/// cannot be opened).
const ProcSource* system_proc();

}  // namespace cgm
