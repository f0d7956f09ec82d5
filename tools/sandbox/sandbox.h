// SPDX-License-Identifier: Apache-2.0
//
// The test sandbox (docs/testing.md): run a command where every cgroup hierarchy is rooted at a fresh
// cgroup of our own, so that nothing it does can reach the host's cgroups.
//
//  1. For every mounted hierarchy, create cgmtest-<pid> under the runner's current cgroup.
//  2. Fork a child that moves itself into those cgroups, then unshares cgroup, mount and pid
//     namespaces (cgroup "/" is now the sandbox in every hierarchy). Where cgroup2 offers the
//     sandbox controllers, the child then moves into the sandbox's hidden leaf "/.cgm_leaf" (made
//     in step 1), so the sandbox cgroup can enable controllers for the cgroups made below it.
//  3. In there: "/" is made recursively private, /proc is mounted for the new pid namespace, a
//     tmpfs goes on /sys/fs/cgroup and on /run, and the hierarchies are mounted again (they
//     appear rooted at the sandbox). The command runs as a child of a tiny init (pid 1), so when
//     it exits every process it left behind is killed by the kernel.
//  4. Afterwards the runner waits until the sandbox cgroups are empty, removes them deepest first,
//     and checks that the cgroups it made them in (all of the host the command could reach
//     besides the sandbox) and their files kept their owners and modes, and that the runner is
//     still in its own cgroups. Other cgroups, which other software makes, removes and changes
//     on a busy host, are not the sandbox's to check.
//
// Refusals (nothing is created): not root; a hierarchy the process belongs to is not mounted
// where it can be sandboxed; the sandbox name already exists; unshare fails.
#pragma once

#include <string>
#include <vector>

namespace cgm::sandbox {

/// Exit status of run() when the sandbox itself failed (not the command).
inline constexpr int kSandboxFailure = 125;

/// Environment variable set inside the sandbox: "<name>:<inode of its cgroup namespace>".
inline constexpr const char* kSandboxEnv = "CGM_SANDBOX";

/// Inode of the initial cgroup namespace (PROC_CGROUP_INIT_INO).
inline constexpr unsigned long kInitCgroupNsInode = 0xEFFFFFFBUL;

struct Options {
    std::vector<std::string> command;  ///< argv of the command (execvp)
    bool verbose = false;              ///< describe each step on stderr
};

/// Run the command in a new sandbox and clean up. Returns the command's exit status (128 + signal
/// when it was killed), or kSandboxFailure when the sandbox could not be set up or cleaned up.
int run(const Options& options);

/// Whether this process runs inside a sandbox made by run(), judged from facts, not only from the
/// environment: it is in a cgroup namespace other than the initial one, that namespace is the one
/// the sandbox recorded in CGM_SANDBOX, and every line of /proc/self/cgroup reads "/".
bool inside();

}  // namespace cgm::sandbox
