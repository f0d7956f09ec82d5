// SPDX-License-Identifier: Apache-2.0
//
// CgroupService: the API verbs as one interface, behind which the D-Bus layer serves. The daemon
// serves Operations (the verbs on the hierarchies it mounted); cgproxy serves a service that
// forwards each call to the host's daemon as the matching *Scm call.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "cgmanager/result.h"
#include "core/credentials.h"

namespace cgm {

/// Create's and Remove's "existed" answer; on the wire 1 and -1.
enum class Existed { Yes, No };
inline int32_t wire_value(Existed e) {
    return e == Existed::Yes ? 1 : -1;
}

/// One ListKeys entry: a file of the cgroup with owner ids as the requestor's user namespace
/// sees them (0xffffffff when unmapped) and the full st_mode.
struct KeyInfo {
    std::string name;
    uint32_t uid = 0;
    uint32_t gid = 0;
    uint32_t perms = 0;
    bool operator==(const KeyInfo&) const = default;
};

class CgroupService {
public:
    virtual ~CgroupService() = default;

    virtual Result<std::string> get_pid_cgroup(const Caller& c, std::string_view controller, int32_t pid) const = 0;
    virtual Result<std::string> get_pid_cgroup_abs(const Caller& c, std::string_view controller, int32_t pid) const = 0;
    virtual Result<Existed> create(const Caller& c, std::string_view controller, std::string_view cgroup) const = 0;
    virtual Result<void> chown(const Caller& c, std::string_view controller, std::string_view cgroup, int64_t uid,
                               int64_t gid) const = 0;
    virtual Result<void> chmod(const Caller& c, std::string_view controller, std::string_view cgroup,
                               std::string_view file, int32_t mode) const = 0;
    virtual Result<void> move_pid(const Caller& c, std::string_view controller, std::string_view cgroup,
                                  int32_t pid) const = 0;
    virtual Result<void> move_pid_abs(const Caller& c, std::string_view controller, std::string_view cgroup,
                                      int32_t pid) const = 0;
    virtual Result<std::string> get_value(const Caller& c, std::string_view controller, std::string_view cgroup,
                                          std::string_view key) const = 0;
    virtual Result<void> set_value(const Caller& c, std::string_view controller, std::string_view cgroup,
                                   std::string_view key, std::string_view value) const = 0;
    virtual Result<Existed> remove(const Caller& c, std::string_view controller, std::string_view cgroup,
                                   bool recursive) const = 0;
    virtual Result<std::vector<int32_t>> get_tasks(const Caller& c, std::string_view controller,
                                                   std::string_view cgroup) const = 0;
    virtual Result<std::vector<int32_t>> get_tasks_recursive(const Caller& c, std::string_view controller,
                                                             std::string_view cgroup) const = 0;
    virtual Result<std::vector<std::string>> list_children(const Caller& c, std::string_view controller,
                                                           std::string_view cgroup) const = 0;
    virtual Result<void> remove_on_empty(const Caller& c, std::string_view controller,
                                         std::string_view cgroup) const = 0;
    virtual Result<void> prune(const Caller& c, std::string_view controller, std::string_view cgroup) const = 0;
    virtual Result<std::vector<std::string>> list_controllers() const = 0;
    virtual Result<std::vector<KeyInfo>> list_keys(const Caller& c, std::string_view controller,
                                                   std::string_view cgroup) const = 0;
};

}  // namespace cgm
