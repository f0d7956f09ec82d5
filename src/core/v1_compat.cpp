// SPDX-License-Identifier: Apache-2.0
#include "core/v1_compat.h"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <cmath>

#include "core/proc_parse.h"

namespace cgm::v1compat {

namespace {

constexpr ControllerAlias kAliases[] = {
    {"cpuacct", "cpu"}, {"blkio", "io"},  {"freezer", ""},    {"devices", ""},
    {"net_cls", ""},    {"net_prio", ""}, {"perf_event", ""}, {"name=systemd", ""},
};

template <typename T>
std::optional<T> parse_number(std::string_view s) {
    T v{};
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || end != s.data() + s.size())
        return std::nullopt;
    return v;
}

Error bad_value(const KeyMap& m, std::string_view value, std::string_view why) {
    return Error(ErrorKind::InvalidArgs, fmt::format("invalid value {} for {}: {}", quoted(value), m.key, why));
}

Error bad_content(std::string_view file, std::string_view text) {
    return Error(ErrorKind::Failed, fmt::format("unexpected content of {}: {}", file, quoted(trim(text))));
}

// The value after `name` on the "name value" line of a flat-keyed file (cgroup.events, cpu.stat).
std::optional<std::string_view> field(std::string_view text, std::string_view name) {
    while (!text.empty()) {
        auto nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (line.size() > name.size() && line.substr(0, name.size()) == name && line[name.size()] == ' ')
            return trim(line.substr(name.size() + 1));
    }
    return std::nullopt;
}

Result<uint64_t> field_number(std::string_view file, std::string_view text, std::string_view name) {
    auto f = field(text, name);
    auto n = f ? parse_number<uint64_t>(*f) : std::nullopt;
    if (!n)
        return bad_content(file, text);
    return *n;
}

Result<uint64_t> read_number(const ReadFile& read, std::string_view file) {
    auto text = CGM_TRY(read(file));
    auto n = parse_number<uint64_t>(trim(text));
    if (!n)
        return bad_content(file, text);
    return *n;
}

Result<uint64_t> value_number(const KeyMap& m, std::string_view value) {
    auto n = parse_number<uint64_t>(trim(value));
    if (!n)
        return bad_value(m, value, "not a non-negative integer");
    return *n;
}

// cpu.max: "<quota|max> <period>".
struct CpuMax {
    std::string quota;
    std::string period;
};
Result<CpuMax> read_cpu_max(const ReadFile& read) {
    auto text = CGM_TRY(read("cpu.max"));
    auto words = split(trim(text), ' ');
    if (words.size() != 2 || (words[0] != "max" && !parse_number<uint64_t>(words[0])) ||
        !parse_number<uint64_t>(words[1]))
        return bad_content("cpu.max", text);
    return CpuMax{words[0], words[1]};
}

long page_size() {
    long p = sysconf(_SC_PAGESIZE);
    return p > 0 ? p : 4096;
}

// --- the conversions, one per v1 key ------------------------------------------------------------

Result<std::string> get_as_is(const KeyMap& m, const ReadFile& read) {
    return std::string(trim(CGM_TRY(read(m.file))));
}

Result<std::string> get_limit(const KeyMap& m, const ReadFile& read) {
    return limit_to_v1(CGM_TRY(read(m.file)), page_size());
}
Result<std::string> set_limit(const KeyMap&, std::string_view value, const ReadFile&) {
    return limit_to_v2(value);
}

// hugetlb.<size>.limit_in_bytes: v1 shows "no limit" in whole huge pages.
Result<std::string> get_huge_limit(const KeyMap& m, const ReadFile& read) {
    auto size = std::string_view(m.key).substr(8);  // after "hugetlb."
    return limit_to_v1(CGM_TRY(read(m.file)), page_size(), huge_page_bytes(size.substr(0, size.find('.'))));
}

// memory.soft_limit_in_bytes as memory.low: v1's "no soft limit" (-1, its default) is v2's "no
// protection" (0, its default), not memory.low=max, which would protect the cgroup from reclaim.
Result<std::string> get_soft_limit(const KeyMap& m, const ReadFile& read) {
    auto text = CGM_TRY(read(m.file));
    auto v = trim(text);
    if (v == "0" || v == "max")
        return v1_unlimited(page_size());
    return std::string(v);
}
Result<std::string> set_soft_limit(const KeyMap&, std::string_view value, const ReadFile&) {
    auto v = CGM_TRY(limit_to_v2(value));
    return v == "max" ? std::string("0") : v;
}

Result<std::string> get_shares(const KeyMap& m, const ReadFile& read) {
    return std::to_string(weight_to_shares(CGM_TRY(read_number(read, m.file))));
}
Result<std::string> set_shares(const KeyMap& m, std::string_view value, const ReadFile&) {
    return std::to_string(shares_to_weight(CGM_TRY(value_number(m, value))));
}

Result<std::string> get_quota(const KeyMap&, const ReadFile& read) {
    auto cur = CGM_TRY(read_cpu_max(read));
    return cur.quota == "max" ? std::string("-1") : cur.quota;
}
// The quota alone: the kernel keeps the period (so a concurrent period write is not undone).
Result<std::string> set_quota(const KeyMap& m, std::string_view value, const ReadFile&) {
    auto n = parse_number<int64_t>(trim(value));
    if (!n)
        return bad_value(m, value, "not -1 (no limit) or a number of microseconds");
    return *n < 0 ? std::string("max") : std::to_string(*n);  // v1: any negative quota is no limit
}

Result<std::string> get_period(const KeyMap&, const ReadFile& read) {
    return CGM_TRY(read_cpu_max(read)).period;
}
Result<std::string> set_period(const KeyMap& m, std::string_view value, const ReadFile& read) {
    auto n = CGM_TRY(value_number(m, value));
    auto cur = CGM_TRY(read_cpu_max(read));
    return fmt::format("{} {}", cur.quota, n);
}

Result<std::string> get_blkio_weight(const KeyMap& m, const ReadFile& read) {
    auto text = CGM_TRY(read(m.file));
    auto f = field(text, "default");
    auto n = f ? parse_number<uint64_t>(*f) : std::nullopt;
    if (!n)
        return bad_content(m.file, text);
    return std::to_string(io_to_blkio_weight(*n));
}
Result<std::string> set_blkio_weight(const KeyMap& m, std::string_view value, const ReadFile&) {
    auto n = CGM_TRY(value_number(m, value));
    if (n < 10 || n > 1000)
        return bad_value(m, value, "blkio.weight is between 10 and 1000");
    return fmt::format("default {}", blkio_to_io_weight(n));
}

Result<std::string> get_freezer_state(const KeyMap&, const ReadFile& read) {
    auto events = CGM_TRY(read("cgroup.events"));
    if (CGM_TRY(field_number("cgroup.events", events, "frozen")) == 1)
        return std::string("FROZEN");
    return std::string(CGM_TRY(read_number(read, "cgroup.freeze")) == 1 ? "FREEZING" : "THAWED");
}
Result<std::string> set_freezer_state(const KeyMap& m, std::string_view value, const ReadFile&) {
    auto v = trim(value);
    if (v == "FROZEN")
        return std::string("1");
    if (v == "THAWED")
        return std::string("0");
    return bad_value(m, value, "freezer.state takes FROZEN or THAWED");
}

Result<std::string> get_cpuacct_usage(const KeyMap& m, const ReadFile& read) {
    auto text = CGM_TRY(read(m.file));
    return std::to_string(CGM_TRY(field_number(m.file, text, "usage_usec")) * 1000);
}
Result<std::string> get_cpuacct_stat(const KeyMap& m, const ReadFile& read) {
    long hz = sysconf(_SC_CLK_TCK);
    return cpuacct_stat(CGM_TRY(read(m.file)), hz > 0 ? hz : 100);
}

struct Mapped {
    std::string_view v1;
    std::string_view file;
    Result<std::string> (*get)(const KeyMap&, const ReadFile&);
    Result<std::string> (*set)(const KeyMap&, std::string_view, const ReadFile&);
};

constexpr Mapped kMapped[] = {
    {"memory.limit_in_bytes", "memory.max", get_limit, set_limit},
    {"memory.soft_limit_in_bytes", "memory.low", get_soft_limit, set_soft_limit},
    {"memory.usage_in_bytes", "memory.current", get_as_is, nullptr},
    {"memory.max_usage_in_bytes", "memory.peak", get_as_is, nullptr},
    {"cpu.shares", "cpu.weight", get_shares, set_shares},
    {"cpu.cfs_quota_us", "cpu.max", get_quota, set_quota},
    {"cpu.cfs_period_us", "cpu.max", get_period, set_period},
    {"blkio.weight", "io.weight", get_blkio_weight, set_blkio_weight},
    {"freezer.state", "cgroup.freeze", get_freezer_state, set_freezer_state},
    {"cpuacct.usage", "cpu.stat", get_cpuacct_usage, nullptr},
    {"cpuacct.stat", "cpu.stat", get_cpuacct_stat, nullptr},
};

// v1 keys, or families of them (a prefix ending in '.'), with no faithful v2 equivalent.
struct Unsupported {
    std::string_view key;
    std::string_view why;
};
constexpr Unsupported kUnsupported[] = {
    {"devices.", "the devices controller on cgroup v2 is an eBPF program attached to the cgroup, not a file"},
    {"net_cls.", "cgroup v2 has no net_cls controller; match traffic by cgroup path instead (nftables, eBPF)"},
    {"net_prio.", "cgroup v2 has no net_prio controller; match traffic by cgroup path instead (nftables, eBPF)"},
    {"memory.memsw.", "cgroup v2 limits swap on its own (memory.swap.max), not memory and swap together"},
    {"memory.kmem.", "cgroup v2 charges kernel memory to memory.max and has no separate limit for it"},
    {"memory.oom_control", "cgroup v2 counts OOM kills in memory.events and groups them with memory.oom.group"},
    {"memory.failcnt", "cgroup v2 counts hits of the limit in memory.events (\"max\")"},
    {"memory.swappiness", "cgroup v2 has no per-cgroup swappiness"},
    {"memory.use_hierarchy", "cgroup v2 is always hierarchical"},
    {"memory.move_charge_at_immigrate", "cgroup v2 never moves charges with a process"},
    {"memory.force_empty", "cgroup v2 reclaims with memory.reclaim, which takes an amount"},
    {"memory.pressure_level", "cgroup v2 reports pressure in memory.pressure (PSI)"},
    {"freezer.", "of the freezer's files only freezer.state has a cgroup v2 equivalent (cgroup.freeze)"},
    {"cpuacct.", "cgroup v2 reports CPU time only as totals in cpu.stat (cpuacct.usage, cpuacct.stat)"},
    {"blkio.", "the cgroup v2 io controller has other files and formats (io.max, io.stat, io.weight)"},
    {"cpu.rt_runtime_us", "cgroup v2 has no realtime CPU bandwidth control"},
    {"cpu.rt_period_us", "cgroup v2 has no realtime CPU bandwidth control"},
    {"notify_on_release", "cgroup v2 has no release agent; use RemoveOnEmpty"},
    {"release_agent", "cgroup v2 has no release agent; use RemoveOnEmpty"},
    {"cgroup.clone_children", "a cgroup v2 cpuset uses its parent's effective cpus and mems until it sets its own"},
};

Error unsupported(std::string_view key, std::string_view why) {
    return Error(ErrorKind::NotSupported, fmt::format("key {} has no cgroup v2 equivalent: {}", quoted(key), why));
}

}  // namespace

const ControllerAlias* controller_alias(std::string_view token) {
    if (token == "systemd")
        token = "name=systemd";
    for (const auto& a : kAliases)
        if (a.v1 == token)
            return &a;
    return nullptr;
}

Result<std::optional<KeyMap>> map_key(std::string_view key) {
    if (key == "tasks") {
        KeyMap m;
        m.key = key;
        m.file = "cgroup.threads";
        m.chmod_file = "cgroup.procs";  // the file that authorizes a move
        m.threads = true;
        return std::optional<KeyMap>(std::move(m));
    }
    for (const auto& e : kMapped) {
        if (e.v1 != key)
            continue;
        return std::optional<KeyMap>(
            KeyMap{std::string(key), std::string(e.file), std::string(e.file), false, e.get, e.set});
    }
    // hugetlb.<size>[.rsvd].{limit,usage}_in_bytes: v2 names the same counters .max and .current.
    if (key.starts_with("hugetlb.")) {
        constexpr std::string_view kLimit = ".limit_in_bytes", kUsage = ".usage_in_bytes";
        if (key.ends_with(kLimit) && key.size() > 8 + kLimit.size()) {
            auto file = fmt::format("{}.max", key.substr(0, key.size() - kLimit.size()));
            return std::optional<KeyMap>(KeyMap{std::string(key), file, file, false, get_huge_limit, set_limit});
        }
        if (key.ends_with(".max_usage_in_bytes"))
            return unsupported(key, "cgroup v2 keeps no peak of hugetlb usage");
        if (key.ends_with(kUsage) && key.size() > 8 + kUsage.size()) {
            auto file = fmt::format("{}.current", key.substr(0, key.size() - kUsage.size()));
            return std::optional<KeyMap>(KeyMap{std::string(key), file, file, false, get_as_is, nullptr});
        }
        if (key.ends_with(".failcnt"))
            return unsupported(key, "cgroup v2 counts hits of the limit in hugetlb.<size>.events (\"max\")");
        return std::optional<KeyMap>();
    }
    for (const auto& u : kUnsupported)
        if (u.key.back() == '.' ? key.starts_with(u.key) : key == u.key)
            return unsupported(key, u.why);
    return std::optional<KeyMap>();
}

std::string v1_unlimited(long page_size, uint64_t huge_page) {
    uint64_t pages = LONG_MAX / page_size;
    const uint64_t per_huge = huge_page / static_cast<uint64_t>(page_size);
    if (per_huge > 1)
        pages = pages / per_huge * per_huge;
    return std::to_string(pages * static_cast<uint64_t>(page_size));
}

std::string limit_to_v1(std::string_view v2, long page_size, uint64_t huge_page) {
    auto v = trim(v2);
    if (v == "max")
        return v1_unlimited(page_size, huge_page);
    return std::string(v);
}

uint64_t huge_page_bytes(std::string_view size) {
    constexpr std::pair<std::string_view, uint64_t> kUnits[] = {
        {"KB", 1ULL << 10}, {"MB", 1ULL << 20}, {"GB", 1ULL << 30}};
    for (const auto& [unit, bytes] : kUnits)
        if (size.ends_with(unit))
            if (auto n = parse_number<uint64_t>(size.substr(0, size.size() - unit.size())); n && *n < (1ULL << 20))
                return *n * bytes;
    return 0;
}

Result<std::string> limit_to_v2(std::string_view v1) {
    auto v = trim(v1);
    if (v.empty())
        return Error(ErrorKind::InvalidArgs, "empty limit: give -1 (no limit) or a number of bytes");
    if (v == "-1")
        return std::string("max");
    return std::string(v);  // bytes, with or without a K/M/G suffix: both kernels parse them alike
}

uint64_t shares_to_weight(uint64_t shares) {
    if (shares <= 2)
        return 1;
    if (shares >= 262144)
        return 10000;
    const double l = std::log2(static_cast<double>(shares));
    const double exponent = (l * l + 125 * l) / 612.0 - 7.0 / 34.0;
    // The small slack keeps the exact points (1024 -> 100) from rounding up on a last-bit error.
    auto w = static_cast<uint64_t>(std::ceil(std::pow(10.0, exponent) - 1e-9));
    return std::clamp<uint64_t>(w, 1, 10000);
}

uint64_t weight_to_shares(uint64_t weight) {
    weight = std::clamp<uint64_t>(weight, 1, 10000);
    // The inverse of the quadratic above: l^2 + 125 l - 612 (log10(w) + 7/34) = 0.
    const double y = std::log10(static_cast<double>(weight)) + 7.0 / 34.0;
    const double l = (-125.0 + std::sqrt(125.0 * 125.0 + 4.0 * 612.0 * y)) / 2.0;
    // The largest shares that still convert to this weight (shares_to_weight rounds up), so that a
    // weight read back and written again stays what it was.
    auto s = static_cast<uint64_t>(std::floor(std::exp2(l) + 1e-6));
    return std::clamp<uint64_t>(s, 2, 262144);
}

uint64_t blkio_to_io_weight(uint64_t weight) {
    weight = std::clamp<uint64_t>(weight, 10, 1000);
    return 1 + (weight - 10) * 9999 / 990;
}

uint64_t io_to_blkio_weight(uint64_t weight) {
    weight = std::clamp<uint64_t>(weight, 1, 10000);
    return 10 + ((weight - 1) * 990 + 9999 / 2) / 9999;
}

Result<std::string> cpuacct_stat(std::string_view cpu_stat, long ticks_per_second) {
    auto user = CGM_TRY(field_number("cpu.stat", cpu_stat, "user_usec"));
    auto system = CGM_TRY(field_number("cpu.stat", cpu_stat, "system_usec"));
    auto ticks = [&](uint64_t usec) {
        return usec / 1000000 * ticks_per_second + usec % 1000000 * ticks_per_second / 1000000;
    };
    return fmt::format("user {}\nsystem {}", ticks(user), ticks(system));
}

}  // namespace cgm::v1compat
