// SPDX-License-Identifier: Apache-2.0
//
// Every limit on what a caller controls, in one place. Exceeding one gives an Error of kind
// LimitsExceeded (or InvalidArgs for malformed input) that names the limit.
#pragma once

#include <cstddef>

namespace cgm::limits {

/// Longest cgroup path argument, in bytes (MAXPATHLEN of the original).
inline constexpr size_t kMaxPathBytes = 4096;
/// Longest single path component (a directory name), in bytes (NAME_MAX).
inline constexpr size_t kMaxComponentBytes = 255;
/// Default for --max-depth: deepest cgroup (components below the hierarchy root) Create makes.
inline constexpr int kDefaultMaxDepth = 16;
/// Default for --max-cgroups-per-uid: cgroup directories a uid (but host root) may have made
/// with Create that still exist.
inline constexpr size_t kDefaultMaxCgroupsPerUid = 10000;
/// Longest controller argument ("cpu,cpuacct,memory,..."), in bytes.
inline constexpr size_t kMaxControllerArgBytes = 1024;
/// Longest key (file name) for GetValue/SetValue/Chmod, in bytes.
inline constexpr size_t kMaxKeyBytes = 255;
/// Largest value SetValue writes, in bytes.
inline constexpr size_t kMaxValueBytes = 64 * 1024;
/// Largest file GetValue reads, in bytes.
inline constexpr size_t kMaxReadBytes = 4 * 1024 * 1024;
/// Largest /proc file the core parses (status, cgroup, uid_map, mountinfo), in bytes.
inline constexpr size_t kMaxProcFileBytes = 1024 * 1024;
/// Largest tasks / cgroup.procs file read for GetTasks, in bytes (about 500,000 pids).
inline constexpr size_t kMaxTasksFileBytes = 4 * 1024 * 1024;
/// Most cgroups visited by one recursive walk (GetTasksRecursive, recursive Remove, Prune).
inline constexpr size_t kMaxWalkCgroups = 100000;
/// Deepest subtree, in levels below the target, a recursive walk descends into.
inline constexpr size_t kMaxWalkDepth = 256;

}  // namespace cgm::limits
