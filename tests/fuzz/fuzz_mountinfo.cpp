// SPDX-License-Identifier: Apache-2.0
//
// /proc/self/mountinfo and /proc/cgroups as the daemon reads them at start and on SIGHUP, and the
// hierarchy plan made from them. The input is the mountinfo text, a NUL, the /proc/cgroups text,
// a NUL, then -m and -M tokens separated by spaces ("+name" for -m, "-name" for -M).
#include <set>
#include <string>

#include "core/hierarchy.h"
#include "core/proc_parse.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text = as_text(data, size);
    auto part = [&text]() {
        size_t nul = text.find('\0');
        std::string_view p = text.substr(0, nul);
        text.remove_prefix(nul == std::string_view::npos ? text.size() : nul + 1);
        return p;
    };
    std::string_view mountinfo = part(), cgroups = part(), options = text;
    auto mounts = cgm::parse_mountinfo(mountinfo);
    auto subsystems = cgm::parse_proc_cgroups(cgroups);
    if (!mounts || !subsystems)
        return 0;
    cgm::HierarchyPlanInput in;
    in.mounts = std::move(mounts).value();
    in.subsystems = std::move(subsystems).value();
    for (const auto& tok : cgm::split(options, ' ')) {
        if (tok.size() > 1 && tok[0] == '+')
            in.extra_mounts.push_back(tok.substr(1));
        else if (tok.size() > 1 && tok[0] == '-')
            in.skip.push_back(tok.substr(1));
    }
    auto plan = cgm::plan_hierarchies(in);
    if (!plan)
        return 0;
    // No controller is managed twice, and every hierarchy can be named.
    std::set<std::string> seen;
    for (const auto& spec : plan->specs)
        for (const auto& c : spec.controllers)
            FUZZ_CHECK(seen.insert(c).second);
    return 0;
}
