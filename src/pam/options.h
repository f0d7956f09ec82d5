// SPDX-License-Identifier: Apache-2.0
//
// pam_cgm's module arguments and its cgroup name pattern (docs/pam_cgm.md): pure functions, unit
// tested without PAM or a daemon.
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "cgmanager/result.h"

namespace cgm::pam {

/// One -s/--set-value: written with SetValue into the session's cgroup before the login enters it.
struct Value {
    std::string controller;
    std::string key;
    std::string value;
    bool operator==(const Value&) const = default;
};

struct Options {
    std::string controllers = "all";    ///< -c/--controllers: "all" or a comma list
    std::string pattern = "user/%u/";   ///< -p/--pattern
    bool index_suffix = true;           ///< off with --pattern-no-idx-suffix
    int max_index = 100;                ///< -m/--max-idx: indices 0 .. max_index-1
    int prune_depth = 2;                ///< --prune-depth: levels above the session pruned at close
    std::vector<Value> values;          ///< -s/--set-value, in order
    std::vector<std::string> delegate;  ///< --delegate: exactly these enabled for the session's children
    std::string socket;                 ///< --socket: the daemon's socket (default: the client's rule)
};

/// The module arguments as PAM passes them (the words after the module's name in its line):
/// "-c X", "-cX", "--controllers X" and "--controllers=X" alike. An unknown option, a missing or
/// malformed value is an error that names it.
Result<Options> parse_options(const std::vector<std::string>& args);

/// Who logs in, for the pattern.
struct Login {
    std::string user;   ///< %u
    uid_t uid = 0;      ///< %U
    std::string group;  ///< %g: the user's primary group
    gid_t gid = 0;      ///< %G
    pid_t pid = 0;      ///< %p: the process opening the session
    pid_t ppid = 0;     ///< %P: its parent
};

/// Where a session goes: the levels above it, and the name of its own cgroup (to which the index
/// is appended, unless the pattern asks for none).
struct Layout {
    std::vector<std::string> levels;  ///< e.g. {"user", "alice"}
    std::string last;                 ///< e.g. "" (sessions "0", "1", …) or "s" ("s0", …)
};

/// Expand `pattern` for `who` (%u %U %g %G %p %P; "\%" is a literal '%') and split it into its
/// levels. Every component must be a plain cgroup name (not empty, not "." or "..", no '\n');
/// only the last may be empty, and only where an index follows.
Result<Layout> expand_pattern(std::string_view pattern, const Login& who, bool index_suffix);

}  // namespace cgm::pam
