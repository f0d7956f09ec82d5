// SPDX-License-Identifier: Apache-2.0
//
// Controller arguments ("memory", "cpu,cpuacct", "all", "name=systemd", "unified") resolved
// against a table like a hybrid host's.
#include <algorithm>
#include <memory>

#include "core/hierarchy.h"
#include "fuzz.h"

namespace {

const cgm::HierarchyTable& table() {
    static const cgm::HierarchyTable t = [] {
        std::vector<std::unique_ptr<cgm::Hierarchy>> hs;
        auto add = [&hs](cgm::HierarchyKind kind, std::vector<std::string> controllers) {
            auto h = std::make_unique<cgm::Hierarchy>();
            h->kind = kind;
            h->controllers = std::move(controllers);
            hs.push_back(std::move(h));
        };
        add(cgm::HierarchyKind::Legacy, {"cpu", "cpuacct"});
        add(cgm::HierarchyKind::Legacy, {"memory"});
        add(cgm::HierarchyKind::Legacy, {"freezer"});
        add(cgm::HierarchyKind::Legacy, {"pids"});
        add(cgm::HierarchyKind::Legacy, {"name=systemd"});
        add(cgm::HierarchyKind::Unified, {"hugetlb"});
        return cgm::HierarchyTable(std::move(hs));
    }();
    return t;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    const std::string_view arg = as_text(data, size);
    auto many = table().resolve(arg);
    if (many) {
        FUZZ_CHECK(!many->empty());
        for (size_t i = 0; i < many->size(); ++i)
            for (size_t j = i + 1; j < many->size(); ++j)
                FUZZ_CHECK((*many)[i] != (*many)[j]);
    }
    if (auto one = table().resolve_one(arg)) {
        FUZZ_CHECK(many.ok());
        FUZZ_CHECK(many->size() == 1 && many->front() == *one);
    }
    for (const auto& h : table().all())
        (void)h->matches(arg);
    return 0;
}
