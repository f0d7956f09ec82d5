// SPDX-License-Identifier: Apache-2.0
//
// A byte-for-byte picture of cgroup trees, to check that a refused call changed nothing: every
// directory and file with its owner, group and mode, and the content of every file a call could
// write (readable and writable by its owner), but for counters that move by themselves.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace cgm::test {

struct TreeSnapshot {
    std::map<std::string, std::string> entries;  ///< path -> "d|f uid gid mode [content]"
};

/// Snapshot everything below each of `roots` (directories, e.g. /sys/fs/cgroup/memory). The
/// task lists of the roots themselves are left out: the test's own processes come and go there.
TreeSnapshot snapshot_tree(const std::vector<std::string>& roots);

/// What differs between two snapshots, one line per path; empty when they are equal.
std::string diff(const TreeSnapshot& before, const TreeSnapshot& after);

}  // namespace cgm::test
