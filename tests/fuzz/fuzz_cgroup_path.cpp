// SPDX-License-Identifier: Apache-2.0
//
// What callers send as paths and keys: CgroupPath::parse, parse_cgroup_arg, from_kernel and
// check_key, with the path algebra the containment checks rest on. The input is a path, a NUL,
// a second path, a NUL, a key.
#include "core/cgroup_path.h"
#include "core/policy.h"
#include "fuzz.h"

using cgm::CgroupPath;

namespace {

// Any path: components that cannot climb or split.
void check_shape(const CgroupPath& p) {
    for (const auto& c : p.components()) {
        FUZZ_CHECK(!c.empty() && c != "..");
        FUZZ_CHECK(c.find('/') == std::string::npos && c.find('\0') == std::string::npos);
    }
    FUZZ_CHECK(!p.absolute().empty() && p.absolute().front() == '/');
    FUZZ_CHECK(p.is_under(CgroupPath()));
}

// A path a caller gave (and that was accepted).
void check_path(const CgroupPath& p) {
    check_shape(p);
    for (const auto& c : p.components())
        FUZZ_CHECK(c != "." && c.find('\n') == std::string::npos);
    // What it prints, it parses back to itself.
    auto again = CgroupPath::parse(p.str());
    FUZZ_CHECK(again.ok());
    FUZZ_CHECK(again->components() == p.components());
    FUZZ_CHECK(p.is_under(p));
    FUZZ_CHECK(p.is_under(p.parent()));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    std::string_view text = as_text(data, size);
    auto part = [&text]() {
        size_t nul = text.find('\0');
        std::string_view p = text.substr(0, nul);
        text.remove_prefix(nul == std::string_view::npos ? text.size() : nul + 1);
        return p;
    };
    std::string_view a = part(), b = part(), key = text;
    auto pa = CgroupPath::parse(a);
    auto pb = CgroupPath::parse(b);
    if (pa)
        check_path(*pa);
    if (auto arg = cgm::parse_cgroup_arg(a))
        check_path(arg->path);
    // The kernel's own paths (from /proc/<pid>/cgroup) are taken as they are but for "..".
    if (auto k = CgroupPath::from_kernel(a))
        check_shape(*k);
    if (pa && pb) {
        CgroupPath joined = pa->join(*pb);
        check_path(joined);
        // Joining never climbs out; containment is by whole components.
        FUZZ_CHECK(joined.is_under(*pa));
        FUZZ_CHECK(joined.depth() == pa->depth() + pb->depth());
        if (pb->is_under(*pa) && pa->is_under(*pb))
            FUZZ_CHECK(pa->components() == pb->components());
        if (pb->is_under(*pa))
            FUZZ_CHECK(pb->depth() >= pa->depth());
        if (auto rel = pb->relative_to(*pa)) {
            FUZZ_CHECK(pb->is_under(*pa));
            FUZZ_CHECK(pa->join(*rel).components() == pb->components());
        }
    }
    for (auto use : {cgm::KeyUse::Read, cgm::KeyUse::Write})
        if (cgm::check_key(key, use, false)) {
            FUZZ_CHECK(!key.empty() && key != "." && key != "..");
            FUZZ_CHECK(key.find('/') == std::string_view::npos && key.find('\n') == std::string_view::npos);
            FUZZ_CHECK(key.find('\0') == std::string_view::npos);
        }
    return 0;
}
