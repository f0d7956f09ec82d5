// SPDX-License-Identifier: Apache-2.0
//
// Pure parsers for the /proc files the daemon reads. They take the file's text and return values;
// no I/O happens here, so tests feed them literal text.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cgmanager/result.h"

namespace cgm {

/// One line of /proc/<pid>/cgroup: "hierarchy-id:controller-list:path".
struct ProcCgroupLine {
    int hierarchy_id = 0;
    std::vector<std::string> controllers;  ///< empty for the unified hierarchy ("0::/path")
    std::string path;                      ///< as the kernel prints it, e.g. "/a/b"
    bool operator==(const ProcCgroupLine&) const = default;
};
Result<std::vector<ProcCgroupLine>> parse_proc_cgroup(std::string_view text);

/// The ids of /proc/<pid>/status: real, effective, saved and filesystem uid and gid, and state.
struct ProcStatus {
    uid_t uid[4] = {0, 0, 0, 0};
    gid_t gid[4] = {0, 0, 0, 0};
    char state = '?';      ///< first letter of the State: line ('R', 'S', 'Z', ...)
    bool kthread = false;  ///< "Kthread: 1" (kernels that print it)
    pid_t tgid = 0;        ///< "Tgid:": the process a thread belongs to (itself for a process)
    uid_t real_uid() const { return uid[0]; }
    /// Whether uid is one of the real, effective, saved and filesystem uids.
    bool has_uid(uid_t u) const { return uid[0] == u || uid[1] == u || uid[2] == u || uid[3] == u; }
    gid_t real_gid() const { return gid[0]; }
};
Result<ProcStatus> parse_proc_status(std::string_view text);

/// The start time of a process, in clock ticks after boot: field 22 of /proc/<pid>/stat (the
/// command name, field 2, is in parentheses and may hold any byte, ')' and spaces included).
Result<uint64_t> parse_proc_stat_start_time(std::string_view text);

/// One line of /proc/<pid>/mountinfo (proc(5)); octal escapes in paths are decoded.
struct MountInfo {
    int mount_id = 0;
    int parent_id = 0;
    std::string root;  ///< root of the mount within its filesystem
    std::string mount_point;
    std::string mount_options;  ///< per-mount options ("rw,relatime")
    std::string fstype;
    std::string source;
    std::string super_options;  ///< per-superblock options ("rw,cpu,cpuacct")
};
Result<std::vector<MountInfo>> parse_mountinfo(std::string_view text);

/// One line of /proc/cgroups: "subsys_name hierarchy num_cgroups enabled".
struct SubsysInfo {
    std::string name;
    int hierarchy = 0;
    int num_cgroups = 0;
    bool enabled = false;
    bool operator==(const SubsysInfo&) const = default;
};
Result<std::vector<SubsysInfo>> parse_proc_cgroups(std::string_view text);

/// Split on a separator character; empty fields are kept.
std::vector<std::string> split(std::string_view s, char sep);

/// The text without the spaces, tabs and newlines around it (a view into `s`).
std::string_view trim(std::string_view s);

}  // namespace cgm
