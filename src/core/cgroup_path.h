// SPDX-License-Identifier: Apache-2.0
//
// Cgroup paths as values.
//
// General rules:
//  - A CgroupPath is always relative: to a hierarchy root, to a caller's cgroup, to a proxy's
//    cgroup. Which base it hangs off is decided by the caller of this module (docs/dbus-api.md section 3).
//  - Every component is a legal, non-special directory name: not empty, not "." or "..", no '/',
//    NUL or newline, at most limits::kMaxComponentBytes, and not the reserved leaf name
//    ".cgm_leaf" (the hidden cgroup v2 leaf of docs/dbus-api.md, MovePid).
//  - Comparisons ("is under") are by whole components: "a" is not above "ab".
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "cgmanager/result.h"

namespace cgm {

/// Name of the hidden leaf cgroup on the unified hierarchy (docs/dbus-api.md, MovePid).
inline constexpr std::string_view kLeafName = ".cgm_leaf";

class CgroupPath {
public:
    CgroupPath() = default;

    /// Validate a relative path "a/b" ("" is the base itself). One trailing '/' is accepted;
    /// a leading '/' is not (see parse_cgroup_arg for the per-method meaning of one).
    static Result<CgroupPath> parse(std::string_view text);
    /// Parse a path as the kernel prints it in /proc/<pid>/cgroup: "/" or "/a/b". A path that
    /// climbs with ".." lies outside the reader's cgroup namespace and gives NotFound.
    static Result<CgroupPath> from_kernel(std::string_view text);
    /// Validate one component (a directory or file name).
    static Result<void> validate_component(std::string_view name);

    const std::vector<std::string>& components() const { return parts_; }
    bool empty() const { return parts_.empty(); }
    size_t depth() const { return parts_.size(); }
    /// "a/b", or "" for the base itself.
    std::string str() const;
    /// "/a/b", or "/" for the base itself.
    std::string absolute() const;
    /// "." for the base itself, else str(); for the *at() system calls.
    std::string at_path() const;
    /// The last component; empty for the base itself.
    std::string_view name() const;
    /// The path without its last component (the base itself stays the base).
    CgroupPath parent() const;
    CgroupPath join(const CgroupPath& rel) const;
    CgroupPath child(std::string_view name) const;
    /// True when this path equals `ancestor` or lies below it, by whole components.
    bool is_under(const CgroupPath& ancestor) const;
    /// This path relative to `ancestor`, or nullopt if it is not under it.
    std::optional<CgroupPath> relative_to(const CgroupPath& ancestor) const;
    /// Whether the last components equal `suffix` (for the init.scope cut).
    bool ends_with(const CgroupPath& suffix) const;
    /// The path with its last n components removed.
    CgroupPath without_suffix(size_t n) const;
    /// The deepest path both this one and `other` are under (the base when they share nothing).
    CgroupPath common_ancestor(const CgroupPath& other) const;

    bool operator==(const CgroupPath& o) const { return parts_ == o.parts_; }
    bool operator<(const CgroupPath& o) const { return parts_ < o.parts_; }

private:
    explicit CgroupPath(std::vector<std::string> parts) : parts_(std::move(parts)) {}
    std::vector<std::string> parts_;
};

/// A client's cgroup argument: whether it started with '/', and the validated rest.
struct CgroupArg {
    bool leading_slash = false;
    CgroupPath path;
};

/// Parse a cgroup argument as received from a client: at most one leading '/', then a path that
/// CgroupPath::parse accepts. Errors name the problem ("empty component", ".." ...).
Result<CgroupArg> parse_cgroup_arg(std::string_view text);

}  // namespace cgm
