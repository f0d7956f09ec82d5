// SPDX-License-Identifier: Apache-2.0
#include "core/idmap.h"

#include <charconv>

namespace cgm {

namespace {

constexpr uint64_t kIdSpace = uint64_t{1} << 32;
// The kernel accepts at most 340 ranges per map.
constexpr size_t kMaxRanges = 340;

bool parse_u32(std::string_view& s, uint32_t& out) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
        s.remove_prefix(1);
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (ec != std::errc() || ptr == s.data())
        return false;
    s.remove_prefix(static_cast<size_t>(ptr - s.data()));
    return true;
}

}  // namespace

Result<IdMap> IdMap::parse(std::string_view text) {
    std::vector<IdRange> ranges;
    size_t lineno = 0;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        ++lineno;
        if (line.find_first_not_of(" \t") == std::string_view::npos)
            continue;
        IdRange r;
        std::string_view rest = line;
        if (!parse_u32(rest, r.ns_first) || !parse_u32(rest, r.host_first) || !parse_u32(rest, r.count) ||
            rest.find_first_not_of(" \t") != std::string_view::npos)
            return make_error(ErrorKind::Failed, "id map line {} is malformed: '{}'", lineno, line);
        if (r.count == 0)
            return make_error(ErrorKind::Failed, "id map line {} has an empty range", lineno);
        if (uint64_t{r.ns_first} + r.count > kIdSpace || uint64_t{r.host_first} + r.count > kIdSpace)
            return make_error(ErrorKind::Failed, "id map line {} wraps around the id space", lineno);
        if (ranges.size() == kMaxRanges)
            return make_error(ErrorKind::Failed, "id map has more than {} ranges", kMaxRanges);
        // The kernel never writes overlapping ranges (on either side); a map that has them is not
        // one it wrote, and would map an id two ways.
        auto overlaps = [](uint32_t a, uint32_t b, uint32_t n, uint32_t m) {
            return uint64_t{a} < uint64_t{b} + m && uint64_t{b} < uint64_t{a} + n;
        };
        for (const auto& o : ranges)
            if (overlaps(r.ns_first, o.ns_first, r.count, o.count) ||
                overlaps(r.host_first, o.host_first, r.count, o.count))
                return make_error(ErrorKind::Failed, "id map line {} overlaps an earlier range", lineno);
        ranges.push_back(r);
    }
    return IdMap(std::move(ranges));
}

IdMap IdMap::identity() {
    return IdMap({IdRange{0, 0, 0xffffffffU}});
}

std::optional<uint32_t> IdMap::to_ns(uint32_t host_id) const {
    for (const auto& r : ranges_)
        if (host_id >= r.host_first && uint64_t{host_id} < uint64_t{r.host_first} + r.count)
            return r.ns_first + (host_id - r.host_first);
    return std::nullopt;
}

std::optional<uint32_t> IdMap::to_host(uint32_t ns_id) const {
    for (const auto& r : ranges_)
        if (ns_id >= r.ns_first && uint64_t{ns_id} < uint64_t{r.ns_first} + r.count)
            return r.host_first + (ns_id - r.ns_first);
    return std::nullopt;
}

}  // namespace cgm
