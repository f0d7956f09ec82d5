// SPDX-License-Identifier: Apache-2.0
//
// User and group id maps of a user namespace (/proc/<pid>/uid_map, gid_map), as pure values.
// "host" ids are ids as the daemon sees them; "ns" ids as the namespace sees them.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "cgmanager/result.h"

namespace cgm {

struct IdRange {
    uint32_t ns_first = 0;
    uint32_t host_first = 0;
    uint32_t count = 0;
    bool operator==(const IdRange&) const = default;
};

class IdMap {
public:
    IdMap() = default;
    explicit IdMap(std::vector<IdRange> ranges) : ranges_(std::move(ranges)) {}

    /// Parse the text of a uid_map/gid_map file: lines "ns_first host_first count". A range with
    /// count 0, or whose first + count does not fit in 32 bits (it would wrap), is an error.
    static Result<IdMap> parse(std::string_view text);
    /// The map of the initial user namespace: every id maps to itself.
    static IdMap identity();

    /// The id a host id has inside the namespace, if it is mapped there.
    std::optional<uint32_t> to_ns(uint32_t host_id) const;
    /// The host id of a namespace id, if it is mapped.
    std::optional<uint32_t> to_host(uint32_t ns_id) const;
    bool maps_host(uint32_t host_id) const { return to_ns(host_id).has_value(); }

    const std::vector<IdRange>& ranges() const { return ranges_; }
    bool operator==(const IdMap&) const = default;

private:
    std::vector<IdRange> ranges_;
};

}  // namespace cgm
