// SPDX-License-Identifier: Apache-2.0
//
// CgroupPath and parse_cgroup_arg: validation of client paths (component-wise checks, docs/dbus-api.md section 3),
// kernel paths, and the component-wise path algebra.
#include "core/cgroup_path.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "core/limits.h"
#include "unit_test_util.h"

namespace cgm {

// For gtest messages (found by argument-dependent lookup, so it lives in cgm).
static void PrintTo(const CgroupPath& p, std::ostream* os) {
    *os << "'" << p.str() << "'";
}

namespace {

using namespace std::string_view_literals;
using test::IsError;
using test::IsOk;
using test::printable;

// A path of exactly `total` bytes made of components of at most 255 bytes, none empty.
std::string long_path(size_t total, char fill = 'c') {
    std::string out;
    size_t left = total;
    while (left > 0) {
        if (!out.empty()) {
            out += '/';
            --left;
        }
        size_t n = std::min(limits::kMaxComponentBytes, left);
        if (left - n == 1)
            --n;  // never leave a single byte for the next round: it would be a lone '/'
        out.append(n, fill);
        left -= n;
    }
    return out;
}

CgroupPath P(std::string_view text) {
    auto r = CgroupPath::parse(text);
    EXPECT_TRUE(IsOk(r)) << printable(text);
    return r ? *r : CgroupPath();
}

TEST(CgroupPathTest, LongPathHelperBuildsValidPaths) {
    std::string p = long_path(limits::kMaxPathBytes);
    EXPECT_EQ(p.size(), limits::kMaxPathBytes);
    EXPECT_EQ(p.find("//"), std::string::npos);
    EXPECT_NE(p.front(), '/');
    EXPECT_NE(p.back(), '/');
}

TEST(CgroupPathTest, CommonAncestor) {
    auto p = [](std::string_view s) { return CgroupPath::parse(s).value(); };
    EXPECT_EQ(p("ct8").common_ancestor(p("ct9")), CgroupPath());
    EXPECT_EQ(p("ct8/a").common_ancestor(p("ct8/b/c")), p("ct8"));
    EXPECT_EQ(p("ct8").common_ancestor(p("ct8/a")), p("ct8"));
    EXPECT_EQ(p("ct8/a").common_ancestor(p("ct8")), p("ct8"));
    EXPECT_EQ(p("ab").common_ancestor(p("abc")), CgroupPath());  // whole components
    EXPECT_EQ(p("x/y").common_ancestor(p("x/y")), p("x/y"));
    EXPECT_EQ(CgroupPath().common_ancestor(p("x")), CgroupPath());
}

TEST(CgroupPathTest, ParseValid) {
    const std::string c255(255, 'x');
    const std::string a_c255 = "a/" + c255;
    const std::string max_path = long_path(limits::kMaxPathBytes);
    struct Case {
        std::string_view text;
        std::vector<std::string> parts;
    };
    const Case cases[] = {
        {"", {}},
        {"a", {"a"}},
        {"a/b", {"a", "b"}},
        {"a/b/c", {"a", "b", "c"}},
        {"a/", {"a"}},  // one trailing slash is accepted
        {"a/b/", {"a", "b"}},
        {"a..b", {"a..b"}},  // only whole components ".." are special
        {"..a", {"..a"}},
        {"a..", {"a.."}},
        {"...", {"..."}},
        {".hidden", {".hidden"}},
        {"cgm_leaf", {"cgm_leaf"}},
        {".cgm_leaf2/x", {".cgm_leaf2", "x"}},
        {"x/.cgm_leafy", {"x", ".cgm_leafy"}},
        {"a b/c:d", {"a b", "c:d"}},
        {"user.slice/user-1000.slice", {"user.slice", "user-1000.slice"}},
        {c255, {c255}},
        {a_c255, {"a", c255}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(printable(c.text));
        auto r = CgroupPath::parse(c.text);
        ASSERT_TRUE(IsOk(r));
        EXPECT_EQ(r->components(), c.parts);
        EXPECT_EQ(r->depth(), c.parts.size());
        EXPECT_EQ(r->empty(), c.parts.empty());
    }
    // Exactly kMaxPathBytes is accepted.
    auto r = CgroupPath::parse(max_path);
    ASSERT_TRUE(IsOk(r));
    EXPECT_EQ(r->str(), max_path);
}

TEST(CgroupPathTest, ParseInvalid) {
    const std::string c256(256, 'x');
    const std::string too_long = long_path(limits::kMaxPathBytes + 1);
    struct Case {
        std::string_view text;
        ErrorKind kind;
        std::string_view message;
    };
    const Case cases[] = {
        {"..", ErrorKind::InvalidArgs, "'..' is not allowed"},
        {".", ErrorKind::InvalidArgs, "'.' is not allowed"},
        {"a/../b", ErrorKind::InvalidArgs, "'..' is not allowed"},
        {"a/..", ErrorKind::InvalidArgs, "'..' is not allowed"},
        {"../x", ErrorKind::InvalidArgs, "'..' is not allowed"},
        {"a/./b", ErrorKind::InvalidArgs, "'.' is not allowed"},
        {"a//b", ErrorKind::InvalidArgs, "empty path component"},
        {"a/b//", ErrorKind::InvalidArgs, "empty path component"},
        {"/", ErrorKind::InvalidArgs, "must be relative"},
        {"/a", ErrorKind::InvalidArgs, "must be relative"},
        {"//a", ErrorKind::InvalidArgs, "must be relative"},
        {"a\0b"sv, ErrorKind::InvalidArgs, "NUL byte"},
        {"a/b\0"sv, ErrorKind::InvalidArgs, "NUL byte"},
        {"a\nb", ErrorKind::InvalidArgs, "newline"},
        {"a/\n", ErrorKind::InvalidArgs, "newline"},
        {".cgm_leaf", ErrorKind::InvalidArgs, "reserved"},
        {"a/.cgm_leaf", ErrorKind::InvalidArgs, "'.cgm_leaf' is a reserved name"},
        {"a/.cgm_leaf/b", ErrorKind::InvalidArgs, "reserved"},
        {c256, ErrorKind::LimitsExceeded, "path component of 256 bytes is longer than 255 bytes"},
        {too_long, ErrorKind::LimitsExceeded, "cgroup path of 4097 bytes is longer than 4096 bytes"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(printable(c.text));
        EXPECT_TRUE(IsError(CgroupPath::parse(c.text), c.kind, c.message));
    }
    // A component error names the whole path and the problem.
    EXPECT_TRUE(IsError(CgroupPath::parse("a/../b"), ErrorKind::InvalidArgs, "invalid cgroup path 'a/../b'"));
    // Control characters are escaped in messages.
    auto r = CgroupPath::parse("x\ny");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message.find('\n'), std::string::npos) << r.error().message;
    EXPECT_NE(r.error().message.find("\\x0a"), std::string::npos) << r.error().message;
}

TEST(CgroupPathTest, ValidateComponent) {
    EXPECT_TRUE(IsOk(CgroupPath::validate_component("memory")));
    EXPECT_TRUE(IsOk(CgroupPath::validate_component("a..b")));
    EXPECT_TRUE(IsOk(CgroupPath::validate_component(std::string(255, 'x'))));
    EXPECT_TRUE(IsError(CgroupPath::validate_component(""), ErrorKind::InvalidArgs, "empty path component"));
    EXPECT_TRUE(IsError(CgroupPath::validate_component("a/b"), ErrorKind::InvalidArgs, "contains '/'"));
    EXPECT_TRUE(IsError(CgroupPath::validate_component(".."), ErrorKind::InvalidArgs, "'..'"));
    EXPECT_TRUE(IsError(CgroupPath::validate_component(kLeafName), ErrorKind::InvalidArgs, "reserved"));
    EXPECT_TRUE(IsError(CgroupPath::validate_component(std::string(256, 'x')), ErrorKind::LimitsExceeded, "256"));
}

TEST(CgroupPathTest, ParseCgroupArg) {
    const std::string max_rel = long_path(limits::kMaxPathBytes);
    const std::string almost_max_rel = long_path(limits::kMaxPathBytes - 1);
    const std::string slash_max = "/" + almost_max_rel;  // 4096 bytes in all
    struct Case {
        std::string_view text;
        bool leading_slash;
        std::string_view str;
    };
    const Case cases[] = {
        {"", false, ""},         {"/", true, ""},           {"a", false, "a"},
        {"/a", true, "a"},       {"a/b/", false, "a/b"},    {"/a/b/", true, "a/b"},
        {"/a..b", true, "a..b"}, {max_rel, false, max_rel}, {slash_max, true, almost_max_rel},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(printable(c.text));
        auto r = parse_cgroup_arg(c.text);
        ASSERT_TRUE(IsOk(r));
        EXPECT_EQ(r->leading_slash, c.leading_slash);
        EXPECT_EQ(r->path.str(), c.str);
    }
}

TEST(CgroupPathTest, ParseCgroupArgInvalid) {
    const std::string too_long = long_path(limits::kMaxPathBytes + 1);
    struct Case {
        std::string_view text;
        ErrorKind kind;
        std::string_view message;
    };
    const Case cases[] = {
        {"//", ErrorKind::InvalidArgs, "empty path component"},
        {"//a", ErrorKind::InvalidArgs, "empty path component"},
        {"/a//b", ErrorKind::InvalidArgs, "empty path component"},
        {"a//b", ErrorKind::InvalidArgs, "empty path component"},
        {"/a/b//", ErrorKind::InvalidArgs, "empty path component"},
        {"/..", ErrorKind::InvalidArgs, "'..' is not allowed"},
        {"..", ErrorKind::InvalidArgs, "'..' is not allowed"},
        {"/a/../b", ErrorKind::InvalidArgs, "'..' is not allowed"},
        {"/.", ErrorKind::InvalidArgs, "'.' is not allowed"},
        {"/a\0"sv, ErrorKind::InvalidArgs, "NUL byte"},
        {"/a\n", ErrorKind::InvalidArgs, "newline"},
        {"/.cgm_leaf", ErrorKind::InvalidArgs, "reserved"},
        {too_long, ErrorKind::LimitsExceeded, "longer than 4096 bytes"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(printable(c.text));
        EXPECT_TRUE(IsError(parse_cgroup_arg(c.text), c.kind, c.message));
    }
    EXPECT_TRUE(IsError(parse_cgroup_arg("//a"), ErrorKind::InvalidArgs, "'//a'"));  // names the argument
}

TEST(CgroupPathTest, FromKernel) {
    struct Case {
        std::string_view text;
        std::vector<std::string> parts;
    };
    const Case cases[] = {
        {"/", {}},
        {"/a", {"a"}},
        {"/a/b", {"a", "b"}},
        {"/a/b/", {"a", "b"}},
        {"/user.slice/user-1000.slice/session-1.scope", {"user.slice", "user-1000.slice", "session-1.scope"}},
        {"/process_api/f2407b4e4c2d9ae9d89f2c3e384d7a8e", {"process_api", "f2407b4e4c2d9ae9d89f2c3e384d7a8e"}},
        {"/a:b/c d", {"a:b", "c d"}},
        {"/..a/a..", {"..a", "a.."}},
        {"/lxc/c1/.cgm_leaf", {"lxc", "c1", ".cgm_leaf"}},  // the kernel shows our leaf; it is kept
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(printable(c.text));
        auto r = CgroupPath::from_kernel(c.text);
        ASSERT_TRUE(IsOk(r));
        EXPECT_EQ(r->components(), c.parts);
    }
}

TEST(CgroupPathTest, FromKernelInvalid) {
    struct Case {
        std::string_view text;
        ErrorKind kind;
        std::string_view message;
    };
    const Case cases[] = {
        {"/..", ErrorKind::NotFound, "outside the daemon's cgroup namespace"},
        {"/../x", ErrorKind::NotFound, "outside the daemon's cgroup namespace"},
        {"/../../user.slice", ErrorKind::NotFound, "'/../../user.slice'"},
        {"/a/../b", ErrorKind::NotFound, "outside"},
        {"", ErrorKind::Failed, "unexpected cgroup path"},
        {"a/b", ErrorKind::Failed, "unexpected cgroup path 'a/b'"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(printable(c.text));
        EXPECT_TRUE(IsError(CgroupPath::from_kernel(c.text), c.kind, c.message));
    }
}

TEST(CgroupPathTest, Forms) {
    struct Case {
        std::string_view text;
        std::string_view str, absolute, at_path, name, parent;
    };
    const Case cases[] = {
        {"", "", "/", ".", "", ""},
        {"a", "a", "/a", "a", "a", ""},
        {"a/b", "a/b", "/a/b", "a/b", "b", "a"},
        {"a/b/c/", "a/b/c", "/a/b/c", "a/b/c", "c", "a/b"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(printable(c.text));
        CgroupPath p = P(c.text);
        EXPECT_EQ(p.str(), c.str);
        EXPECT_EQ(p.absolute(), c.absolute);
        EXPECT_EQ(p.at_path(), c.at_path);
        EXPECT_EQ(p.name(), c.name);
        EXPECT_EQ(p.parent().str(), c.parent);
    }
    EXPECT_EQ(CgroupPath().str(), "");
    EXPECT_TRUE(CgroupPath().empty());
    EXPECT_EQ(CgroupPath().parent(), CgroupPath());
}

TEST(CgroupPathTest, JoinAndChild) {
    EXPECT_EQ(P("a/b").join(P("c/d")).str(), "a/b/c/d");
    EXPECT_EQ(P("").join(P("c")).str(), "c");
    EXPECT_EQ(P("a").join(P("")).str(), "a");
    EXPECT_EQ(P("").join(P("")), CgroupPath());
    EXPECT_EQ(P("a/b").join(P("c")).depth(), 3u);
    EXPECT_EQ(P("a").child("b"), P("a/b"));
    EXPECT_EQ(P("").child("b"), P("b"));
    EXPECT_EQ(P("a").child("b").child("c").components(), (std::vector<std::string>{"a", "b", "c"}));
}

TEST(CgroupPathTest, Comparison) {
    EXPECT_EQ(P("a/b"), P("a/b/"));
    EXPECT_FALSE(P("a/b") == P("a/bc"));
    EXPECT_FALSE(P("a/b") == P("a"));
    EXPECT_TRUE(P("a") < P("a/b"));
    EXPECT_TRUE(P("a/b") < P("a/c"));
    EXPECT_FALSE(P("a/c") < P("a/b"));
    EXPECT_TRUE(P("") < P("a"));
}

TEST(CgroupPathTest, IsUnderAndRelativeTo) {
    struct Case {
        std::string_view path, ancestor;
        std::optional<std::string_view> relative;  // nullopt: not under
    };
    const Case cases[] = {
        {"a", "a", ""},  // equal counts as under
        {"", "", ""},
        {"a", "", "a"},  // everything is under the base
        {"a/b/c", "", "a/b/c"},
        {"a/b", "a", "b"},
        {"a/b/c", "a", "b/c"},
        {"a/b/c", "a/b", "c"},
        {"ab", "a", std::nullopt},  // whole components: "/a" is not above "/ab"
        {"a", "ab", std::nullopt},
        {"ab/c", "a", std::nullopt},
        {"a/bc", "a/b", std::nullopt},
        {"a", "a/b", std::nullopt},  // an ancestor is not under its child
        {"", "a", std::nullopt},
        {"b/a", "a", std::nullopt},
        {"x/a/b", "a/b", std::nullopt},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(fmt::format("'{}' under '{}'", c.path, c.ancestor));
        CgroupPath path = P(c.path), ancestor = P(c.ancestor);
        EXPECT_EQ(path.is_under(ancestor), c.relative.has_value());
        auto rel = path.relative_to(ancestor);
        ASSERT_EQ(rel.has_value(), c.relative.has_value());
        if (rel) {
            EXPECT_EQ(rel->str(), *c.relative);
            EXPECT_EQ(ancestor.join(*rel), path);
        }
    }
}

TEST(CgroupPathTest, EndsWithAndWithoutSuffix) {
    struct Case {
        std::string_view path, suffix;
        bool ends;
    };
    const Case cases[] = {
        {"init.scope", "init.scope", true},
        {"a/init.scope", "init.scope", true},
        {"a/xinit.scope", "init.scope", false},
        {"init.scope/a", "init.scope", false},
        {"system.slice/cgproxy.service", "system.slice/cgproxy.service", true},
        {"x/system.slice/cgproxy.service", "system.slice/cgproxy.service", true},
        {"cgproxy.service", "system.slice/cgproxy.service", false},
        {"x/ysystem.slice/cgproxy.service", "system.slice/cgproxy.service", false},
        {"a", "", true},
        {"", "", true},
        {"", "a", false},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(fmt::format("'{}' ends with '{}'", c.path, c.suffix));
        EXPECT_EQ(P(c.path).ends_with(P(c.suffix)), c.ends);
    }
    EXPECT_EQ(P("a/b/c").without_suffix(0).str(), "a/b/c");
    EXPECT_EQ(P("a/b/c").without_suffix(1).str(), "a/b");
    EXPECT_EQ(P("a/b/c").without_suffix(2).str(), "a");
    EXPECT_EQ(P("a/b/c").without_suffix(3).str(), "");
    EXPECT_EQ(P("a/b/c").without_suffix(7).str(), "");
    EXPECT_EQ(P("").without_suffix(1).str(), "");
    // The init.scope cut (docs/dbus-api.md section 2), as callers do it.
    CgroupPath pid1 = CgroupPath::from_kernel("/init.scope").value();
    CgroupPath suffix = P("init.scope");
    ASSERT_TRUE(pid1.ends_with(suffix));
    EXPECT_EQ(pid1.without_suffix(suffix.depth()), CgroupPath());
}

}  // namespace
}  // namespace cgm
