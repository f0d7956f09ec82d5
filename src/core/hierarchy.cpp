// SPDX-License-Identifier: Apache-2.0
#include "core/hierarchy.h"

#include <algorithm>
#include <set>

#include "core/limits.h"
#include "core/v1_compat.h"

namespace cgm {

namespace {

constexpr std::string_view kNamePrefix = "name=";
constexpr std::string_view kUnifiedName = "unified";

bool is_named(std::string_view token) {
    return token.substr(0, kNamePrefix.size()) == kNamePrefix;
}

std::string join(const std::vector<std::string>& v, char sep) {
    std::string out;
    for (const auto& s : v) {
        if (!out.empty())
            out += sep;
        out += s;
    }
    return out;
}

// Does a -M entry name this controller token? "name=X" and "X" both name the named hierarchy X.
bool skip_matches(std::string_view entry, std::string_view token) {
    return entry == token || (is_named(token) && entry == token.substr(kNamePrefix.size()));
}

std::string sort_key(HierarchyKind kind, const std::vector<std::string>& controllers) {
    if (controllers.empty())
        return std::string(kind == HierarchyKind::Unified ? kUnifiedName : "");
    std::string key;
    for (const auto& c : controllers) {
        std::string k(strip_name_prefix(c));
        if (key.empty() || k < key)
            key = k;
    }
    return key;
}

void assign_dir_names(std::vector<HierarchySpec>& specs) {
    std::set<std::string> taken;
    for (auto& s : specs) {
        std::string name = s.kind == HierarchyKind::Unified ? std::string(kUnifiedName)
                                                            : std::string(strip_name_prefix(s.controllers.front()));
        std::string candidate = name;
        for (int i = 2; taken.count(candidate); ++i)
            candidate = fmt::format("{}.{}", name, i);
        taken.insert(candidate);
        s.dir_name = candidate;
    }
}

}  // namespace

std::string_view strip_name_prefix(std::string_view token) {
    return is_named(token) ? token.substr(kNamePrefix.size()) : token;
}

Result<HierarchyPlan> plan_hierarchies(const HierarchyPlanInput& in) {
    HierarchyPlan plan;
    std::set<std::string> kernel;  // every controller the kernel knows
    for (const auto& s : in.subsystems)
        kernel.insert(s.name);

    auto covered = [&](std::string_view token) {
        for (const auto& s : plan.specs)
            if (std::find(s.controllers.begin(), s.controllers.end(), token) != s.controllers.end())
                return true;
        return false;
    };
    bool have_unified = false;

    // 1. What the host has mounted.
    for (const auto& m : in.mounts) {
        if (m.fstype == "cgroup2") {
            if (!have_unified) {
                HierarchySpec spec;
                spec.kind = HierarchyKind::Unified;
                spec.premounted = true;
                plan.specs.push_back(std::move(spec));
                have_unified = true;
            }
            continue;
        }
        if (m.fstype != "cgroup")
            continue;
        std::vector<std::string> ctrls;
        for (auto& tok : split(m.super_options, ','))
            if ((is_named(tok) || kernel.count(tok)) && std::find(ctrls.begin(), ctrls.end(), tok) == ctrls.end())
                ctrls.push_back(tok);
        if (ctrls.empty())
            continue;  // not a controller mount
        if (std::any_of(ctrls.begin(), ctrls.end(), covered)) {
            // The same hierarchy mounted again, or (which the kernel does not allow) a controller
            // in two hierarchies: the first mount seen keeps it.
            if (!std::all_of(ctrls.begin(), ctrls.end(), covered))
                plan.warnings.push_back(
                    fmt::format("{} is mounted with controllers ({}) that another hierarchy has; "
                                "ignoring it",
                                m.mount_point, join(ctrls, ',')));
            continue;
        }
        HierarchySpec spec;
        spec.kind = HierarchyKind::Legacy;
        spec.premounted = true;
        spec.mount_data = join(ctrls, ',');
        if (ctrls.size() == 1 && is_named(ctrls.front()))
            spec.mount_data = "none," + spec.mount_data;
        spec.controllers = std::move(ctrls);
        plan.specs.push_back(std::move(spec));
    }

    // 2. -m extras.
    for (const auto& entry : in.extra_mounts) {
        for (auto& tok : split(entry, ',')) {
            if (tok.empty())
                continue;
            if (tok == kUnifiedName) {
                if (!have_unified) {
                    HierarchySpec spec;
                    spec.kind = HierarchyKind::Unified;
                    plan.specs.push_back(std::move(spec));
                    have_unified = true;
                }
                for (auto& s : plan.specs)
                    if (s.kind == HierarchyKind::Unified)
                        s.requested = true;
                continue;
            }
            if (is_named(tok)) {
                if (tok.size() == kNamePrefix.size())
                    return make_error(ErrorKind::InvalidArgs, "--mount: '{}' has an empty name", tok);
            } else if (!kernel.count(tok)) {
                return make_error(ErrorKind::InvalidArgs, "--mount: '{}' is neither a kernel controller nor name=X",
                                  tok);
            }
            if (covered(tok))
                continue;
            HierarchySpec spec;
            spec.kind = HierarchyKind::Legacy;
            spec.mount_data = is_named(tok) ? "none," + tok : tok;
            spec.controllers = {tok};
            plan.specs.push_back(std::move(spec));
        }
    }

    // 3. Enabled kernel controllers bound to no mounted hierarchy.
    std::vector<std::pair<int, std::vector<std::string>>> bound;  // hierarchy id -> unmounted controllers
    for (const auto& s : in.subsystems) {
        if (!s.enabled || covered(s.name))
            continue;
        if (s.hierarchy == 0) {
            if (have_unified)
                continue;  // it belongs to cgroup2; never take it away unless -m asks
            HierarchySpec spec;
            spec.kind = HierarchyKind::Legacy;
            spec.controllers = {s.name};
            spec.mount_data = s.name;
            plan.specs.push_back(std::move(spec));
            continue;
        }
        auto it = std::find_if(bound.begin(), bound.end(), [&](auto& b) { return b.first == s.hierarchy; });
        if (it == bound.end())
            bound.emplace_back(s.hierarchy, std::vector<std::string>{s.name});
        else
            it->second.push_back(s.name);
    }
    for (auto& [id, ctrls] : bound) {
        HierarchySpec spec;
        spec.kind = HierarchyKind::Legacy;
        spec.mount_data = join(ctrls, ',');
        spec.controllers = std::move(ctrls);
        plan.specs.push_back(std::move(spec));
    }

    // 4. -M skips.
    for (const auto& entry : in.skip) {
        for (auto& tok : split(entry, ',')) {
            if (tok.empty())
                continue;
            auto before = plan.specs.size();
            plan.specs.erase(std::remove_if(plan.specs.begin(), plan.specs.end(),
                                            [&](const HierarchySpec& s) {
                                                if (s.kind == HierarchyKind::Unified)
                                                    return tok == kUnifiedName;
                                                return std::any_of(s.controllers.begin(), s.controllers.end(),
                                                                   [&](auto& c) { return skip_matches(tok, c); });
                                            }),
                             plan.specs.end());
            if (plan.specs.size() == before)
                plan.warnings.push_back(fmt::format("--skip: '{}' matches no hierarchy, ignoring", tok));
        }
    }

    assign_dir_names(plan.specs);
    return plan;
}

bool Hierarchy::has_controller(std::string_view c) const {
    return std::find(controllers.begin(), controllers.end(), c) != controllers.end();
}

bool Hierarchy::matches(std::string_view token) const {
    if (token.empty())
        return false;
    if (is_unified())
        return token == kUnifiedName || has_controller(token);
    for (const auto& c : controllers)
        if (c == token || (is_named(c) && std::string_view(c).substr(kNamePrefix.size()) == token))
            return true;
    return false;
}

const ProcCgroupLine* Hierarchy::find_line(const std::vector<ProcCgroupLine>& lines) const {
    for (const auto& l : lines) {
        if (is_unified()) {
            if (l.hierarchy_id == 0 && l.controllers.empty())
                return &l;
            continue;
        }
        if (l.hierarchy_id == 0)
            continue;
        for (const auto& c : l.controllers)
            if (has_controller(c))
                return &l;
    }
    return nullptr;
}

std::string display_name(HierarchyKind kind, const std::vector<std::string>& controllers) {
    if (kind == HierarchyKind::Unified && controllers.empty())
        return std::string(kUnifiedName);
    return join(controllers, ',');
}

HierarchyTable::HierarchyTable(std::vector<std::unique_ptr<Hierarchy>> hierarchies)
    : HierarchyTable(std::vector<std::shared_ptr<Hierarchy>>(std::make_move_iterator(hierarchies.begin()),
                                                             std::make_move_iterator(hierarchies.end()))) {}

HierarchyTable::HierarchyTable(std::vector<std::shared_ptr<Hierarchy>> fresh,
                               std::vector<std::shared_ptr<const Hierarchy>> kept)
    : list_(std::move(kept)) {
    for (auto& h : fresh) {
        if (h->display.empty())
            h->display = display_name(h->kind, h->controllers);
        list_.push_back(std::move(h));
    }
    std::stable_sort(list_.begin(), list_.end(), [](const auto& a, const auto& b) {
        return sort_key(a->kind, a->controllers) < sort_key(b->kind, b->controllers);
    });
}

std::vector<std::string> HierarchyTable::controller_names() const {
    std::vector<std::string> out;
    out.reserve(list_.size());
    for (const auto& h : list_)
        out.push_back(h->display);
    return out;
}

const Hierarchy* HierarchyTable::find(std::string_view token) const {
    for (const auto& h : list_)
        if (!h->is_unified() && h->matches(token))
            return h.get();
    bool any_v1 = false;
    for (const auto& h : list_) {
        if (h->is_unified() && h->matches(token))
            return h.get();
        any_v1 = any_v1 || !h->is_unified();
    }
    // Pure v2: a v1 name addresses the unified hierarchy where its v2 controller is there, or where
    // the v2 core does its job.
    const auto* alias = any_v1 ? nullptr : v1compat::controller_alias(token);
    if (!alias)
        return nullptr;
    for (const auto& h : list_)
        if (alias->v2.empty() || h->has_controller(alias->v2))
            return h.get();
    return nullptr;
}

Result<std::vector<const Hierarchy*>> HierarchyTable::resolve(std::string_view arg) const {
    if (arg.empty())
        return make_error(ErrorKind::InvalidArgs, "empty controller name");
    if (arg.size() > limits::kMaxControllerArgBytes)
        return make_error(ErrorKind::LimitsExceeded, "controller list of {} bytes is longer than {} bytes", arg.size(),
                          limits::kMaxControllerArgBytes);
    auto tokens = split(arg, ',');
    if (tokens.size() > 1 && tokens.back().empty())
        tokens.pop_back();  // one trailing comma is tolerated, as in the original
    std::vector<const Hierarchy*> out;
    if (std::find(tokens.begin(), tokens.end(), "all") != tokens.end()) {
        if (tokens.size() > 1)
            return make_error(ErrorKind::InvalidArgs,
                              "controller list {}: 'all' cannot be combined with other controllers", quoted(arg));
        for (const auto& h : list_)
            out.push_back(h.get());
        return out;
    }
    std::set<std::string> seen;
    for (const auto& tok : tokens) {
        if (tok.empty())
            return make_error(ErrorKind::InvalidArgs, "controller list {} has an empty entry", quoted(arg));
        if (!seen.insert(tok).second)
            return make_error(ErrorKind::InvalidArgs, "controller list {} names {} twice", quoted(arg), quoted(tok));
        const Hierarchy* h = find(tok);
        if (!h)
            return make_error(ErrorKind::InvalidArgs, "unknown controller {}", quoted(tok));
        if (std::find(out.begin(), out.end(), h) == out.end())
            out.push_back(h);
    }
    return out;
}

Result<const Hierarchy*> HierarchyTable::resolve_one(std::string_view arg) const {
    if (arg == "all" || arg == "all,")
        return make_error(ErrorKind::InvalidArgs, "this method acts on one hierarchy; 'all' is not accepted");
    auto hs = CGM_TRY(resolve(arg));
    if (hs.size() != 1)
        return make_error(ErrorKind::InvalidArgs,
                          "controllers {} are not co-mounted; this method acts on one hierarchy", quoted(arg));
    return hs.front();
}

}  // namespace cgm
