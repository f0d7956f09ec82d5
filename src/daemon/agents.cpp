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

void install_release_agents(const std::vector<std::shared_ptr<Hierarchy>>& hierarchies, const AgentOptions& opt,
                            std::vector<std::string>& warnings) {
    struct stat st {};
    const bool have_agent = ::stat(opt.agent_binary.c_str(), &st) == 0 && S_ISREG(st.st_mode);
    const std::string dir = opt.rundir + "/agents";
    for (const auto& h : hierarchies) {
        if (h->is_unified() || h->agent_installed || !allowed(*h, opt))
            continue;
        if (!have_agent) {
            warnings.push_back(fmt::format("release agent {} not found; {} relies on the daemon's sweep",
                                           opt.agent_binary, h->display));
            continue;
        }
        auto current = cgfs::read_file(h->root.get(), "release_agent", 4096);
        if (!current)
            continue;  // not a hierarchy root of the host (a cgroup namespace): nothing to set
        // The agent finds the hierarchy in its own name: a controller token the daemon resolves.
        const std::string link = dir + "/cgm-release-agent." + h->controllers.front();
        std::string existing(trim(*current));
        if (!existing.empty() && existing != link) {
            warnings.push_back(
                fmt::format("{} already has the release agent {}; leaving it, using the sweep", h->display, existing));
            continue;
        }
        if (::mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST) {
            warnings.push_back(fmt::format("mkdir {}: {}; using the sweep", dir, std::strerror(errno)));
            continue;
        }
        ::unlink(link.c_str());
        if (::symlink(opt.agent_binary.c_str(), link.c_str()) < 0) {
            warnings.push_back(fmt::format("cannot link {}: {}; using the sweep", link, std::strerror(errno)));
            continue;
        }
        auto w = cgfs::write_file(h->root.get(), "release_agent", link + "\n");
        if (!w) {
            warnings.push_back(
                fmt::format("cannot set the release agent of {}: {}; using the sweep", h->display, w.error().message));
            continue;
        }
        h->agent_installed = true;
    }
}

}  // namespace cgm
