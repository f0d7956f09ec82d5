// SPDX-License-Identifier: Apache-2.0
#include "daemon/agents.h"

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>

#include "core/cgroupfs.h"
#include "core/proc_parse.h"

namespace cgm {

namespace {

bool allowed(const Hierarchy& h, const AgentOptions& opt) {
    if (!h.premounted)
        return true;
    if (!opt.set_on_premounted)
        return false;
    return std::any_of(opt.allow_premounted.begin(), opt.allow_premounted.end(),
                       [&](const std::string& c) { return c == "all" || h.matches(c); });
}

}  // namespace

void install_release_agent(Hierarchy& h, const AgentOptions& opt, std::vector<std::string>& warnings) {
    if (h.is_unified() || h.agent_installed || !allowed(h, opt))
        return;
    struct stat st {};
    if (::stat(opt.agent_binary.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
        warnings.push_back(
            fmt::format("release agent {} not found; {} relies on the daemon's sweep", opt.agent_binary, h.display));
        return;
    }
    const std::string dir = opt.rundir + "/agents";
    auto current = cgfs::read_file(h.root.get(), "release_agent", 4096);
    if (!current)
        return;  // not a hierarchy root of the host (a cgroup namespace): nothing to set
    // The agent finds the hierarchy in its own name: a controller token the daemon resolves.
    const std::string link = dir + "/cgm-release-agent." + h.controllers.front();
    std::string existing(trim(*current));
    if (!existing.empty() && existing != link) {
        warnings.push_back(
            fmt::format("{} already has the release agent {}; leaving it, using the sweep", h.display, existing));
        return;
    }
    if (::mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST) {
        warnings.push_back(fmt::format("mkdir {}: {}; using the sweep", dir, std::strerror(errno)));
        return;
    }
    ::unlink(link.c_str());
    if (::symlink(opt.agent_binary.c_str(), link.c_str()) < 0) {
        warnings.push_back(fmt::format("cannot link {}: {}; using the sweep", link, std::strerror(errno)));
        return;
    }
    auto w = cgfs::write_file(h.root.get(), "release_agent", link + "\n");
    if (!w) {
        warnings.push_back(
            fmt::format("cannot set the release agent of {}: {}; using the sweep", h.display, w.error().message));
        return;
    }
    h.agent_installed = true;
}

}  // namespace cgm
