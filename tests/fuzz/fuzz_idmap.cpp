// SPDX-License-Identifier: Apache-2.0
//
// uid_map / gid_map text, and the mapping both ways.
#include "core/idmap.h"
#include "fuzz.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    auto map = cgm::IdMap::parse(as_text(data, size));
    if (!map)
        return 0;
    // Every id a range maps comes back to itself the other way (probed at the range ends).
    for (const auto& r : map->ranges()) {
        for (uint64_t off : {uint64_t{0}, uint64_t{r.count} - 1}) {
            uint32_t ns = static_cast<uint32_t>(r.ns_first + off);
            auto host = map->to_host(ns);
            FUZZ_CHECK(host.has_value());
            auto back = map->to_ns(*host);
            FUZZ_CHECK(back.has_value());
            FUZZ_CHECK(*back == ns);
        }
    }
    return 0;
}
