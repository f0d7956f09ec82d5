// SPDX-License-Identifier: Apache-2.0
//
// Our release agent on cgroup v1 hierarchies (docs/operations.md, "Cgroups that remove themselves").
//
// The kernel runs a hierarchy's release_agent when a cgroup with notify_on_release empties; it
// passes only the cgroup's path, so each hierarchy gets its own link
// <rundir>/agents/cgm-release-agent.<controller> (its first controller: memory, cpu, name=systemd)
// to the agent binary, which finds the hierarchy in its own name. The agent is installed on the hierarchies the daemon
// mounted itself, and on premounted ones named by --allow-autoremove-premounted when
// --autoremove-premounted-set-release-agent is given and their release_agent is empty. Everywhere else (a release agent
// of someone else's, a cgroup namespace where the file does not exist) the daemon's Reaper does the removals.
#pragma once

#include <string>
#include <vector>

#include "core/hierarchy.h"

namespace cgm {

struct AgentOptions {
    std::string agent_binary;                   ///< the cgm-release-agent executable
    std::string rundir;                         ///< links go to <rundir>/agents
    std::vector<std::string> allow_premounted;  ///< controllers, or "all"
    bool set_on_premounted = false;
};

/// Install the agent on `h` where allowed and possible, and mark it agent_installed; for a
/// hierarchy not yet in a table (mounts.h, PrepareHierarchy). Problems are warnings: the Reaper
/// covers every hierarchy without our agent.
void install_release_agent(Hierarchy& h, const AgentOptions& opt, std::vector<std::string>& warnings);

}  // namespace cgm
