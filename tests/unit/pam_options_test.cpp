// SPDX-License-Identifier: Apache-2.0
//
// pam_cgm's module arguments and name pattern (src/pam/options.h, docs/pam_cgm.md).
#include <gtest/gtest.h>

#include "pam/options.h"

namespace cgm::pam {
namespace {

const Login kAlice{"alice", 1000, "staff", 50, 4242, 1};

TEST(PamOptions, DefaultsAreThoseOf042) {
    auto o = parse_options({});
    ASSERT_TRUE(o.ok());
    EXPECT_EQ(o->controllers, "all");
    EXPECT_EQ(o->pattern, "user/%u/");
    EXPECT_TRUE(o->index_suffix);
    EXPECT_EQ(o->max_index, 100);
    EXPECT_EQ(o->prune_depth, 2);
    EXPECT_TRUE(o->values.empty());
    EXPECT_EQ(o->socket, "");
    EXPECT_TRUE(o->delegate.empty());
}

TEST(PamOptions, ValuesFollowAsTheNextWordOrJoined) {
    for (const auto& args : std::vector<std::vector<std::string>>{{"-c", "memory,pids"},
                                                                  {"-cmemory,pids"},
                                                                  {"--controllers", "memory,pids"},
                                                                  {"--controllers=memory,pids"}}) {
        auto o = parse_options(args);
        ASSERT_TRUE(o.ok()) << args[0];
        EXPECT_EQ(o->controllers, "memory,pids") << args[0];
    }
    auto o = parse_options({"-p", "u/%U/", "--pattern-no-idx-suffix", "-m", "7", "--prune-depth=0", "-s",
                            "memory,memory.max,1G", "--set-value=pids,pids.max,a,b", "--socket", "/run/x/sock",
                            "--delegate", "memory,pids"});
    ASSERT_TRUE(o.ok()) << o.error().message;
    EXPECT_EQ(o->pattern, "u/%U/");
    EXPECT_FALSE(o->index_suffix);
    EXPECT_EQ(o->max_index, 7);
    EXPECT_EQ(o->prune_depth, 0);
    ASSERT_EQ(o->values.size(), 2u);
    EXPECT_EQ(o->values[0], (Value{"memory", "memory.max", "1G"}));
    EXPECT_EQ(o->values[1], (Value{"pids", "pids.max", "a,b"}));  // the value is the rest
    EXPECT_EQ(o->socket, "/run/x/sock");
    EXPECT_EQ(o->delegate, (std::vector<std::string>{"memory", "pids"}));
    o = parse_options({"--delegate=pids"});
    ASSERT_TRUE(o.ok()) << o.error().message;
    EXPECT_EQ(o->delegate, (std::vector<std::string>{"pids"}));
}

TEST(PamOptions, BadArgumentsAreNamed) {
    struct Case {
        std::vector<std::string> args;
        const char* needle;
    } cases[] = {
        {{"--bogus"}, "unknown option '--bogus'"},
        {{"-c"}, "option -c needs a value"},
        {{"--controllers="}, "wants 'all' or a list, not ''"},
        {{"-c", "a,,b"}, "not 'a,,b'"},
        {{"-m", "0"}, "--max-idx wants a whole number of at least 1, not '0'"},
        {{"-m", "9x"}, "not '9x'"},
        {{"--prune-depth", "-1"}, "--prune-depth wants a whole number of at least 0"},
        {{"-s", "memory,memory.max"}, "wants controller,key,value, not 'memory,memory.max'"},
        {{"-s", ",k,v"}, "wants controller,key,value"},
        {{"--socket", "rel/sock"}, "wants an absolute path"},
        {{"-p", ""}, "wants a pattern"},
        {{"--delegate"}, "option --delegate needs a value"},
        {{"--delegate", "memory,"}, "--delegate wants a list of controllers, not 'memory,'"},
        {{"--delegate=all"}, "--delegate wants a list of controllers, not 'all'"},
    };
    for (const auto& c : cases) {
        auto o = parse_options(c.args);
        ASSERT_FALSE(o.ok()) << c.args[0];
        EXPECT_EQ(o.error().kind, ErrorKind::InvalidArgs);
        EXPECT_NE(o.error().message.find(c.needle), std::string::npos) << o.error().message;
    }
}

TEST(PamPattern, EscapesExpand) {
    auto l = expand_pattern("user/%u/", kAlice, true);
    ASSERT_TRUE(l.ok());
    EXPECT_EQ(l->levels, (std::vector<std::string>{"user", "alice"}));
    EXPECT_EQ(l->last, "");
    l = expand_pattern("u/%U/%g-%G/%p.%P-\\%", kAlice, true);
    ASSERT_TRUE(l.ok()) << l.error().message;
    EXPECT_EQ(l->levels, (std::vector<std::string>{"u", "1000", "staff-50"}));
    EXPECT_EQ(l->last, "4242.1-%");
    l = expand_pattern("a\\b", kAlice, true);  // a backslash before anything else is itself
    ASSERT_TRUE(l.ok());
    EXPECT_EQ(l->last, "a\\b");
}

TEST(PamPattern, WithoutTheIndexTheLastLevelIsTheSession) {
    auto l = expand_pattern("user/%u/", kAlice, false);
    ASSERT_TRUE(l.ok());
    EXPECT_EQ(l->levels, (std::vector<std::string>{"user"}));
    EXPECT_EQ(l->last, "alice");
    l = expand_pattern("s-%p", kAlice, false);
    ASSERT_TRUE(l.ok());
    EXPECT_TRUE(l->levels.empty());
    EXPECT_EQ(l->last, "s-4242");
}

TEST(PamPattern, BadPatternsAreNamed) {
    Login dots = kAlice;
    dots.user = "..";
    struct Case {
        std::string pattern;
        Login who;
        bool index;
        const char* needle;
    } cases[] = {
        {"user/%x", kAlice, true, "unknown escape '%x'"},       {"user/%", kAlice, true, "lone '%'"},
        {"/user/%u", kAlice, true, "must be relative"},         {"user//%u", kAlice, true, "empty level"},
        {"user/%u/", dots, true, "gives the cgroup name '..'"}, {"/", kAlice, false, "must be relative"},
        {"./x", kAlice, true, "gives the cgroup name '.'"},
    };
    for (const auto& c : cases) {
        auto l = expand_pattern(c.pattern, c.who, c.index);
        ASSERT_FALSE(l.ok()) << c.pattern;
        EXPECT_NE(l.error().message.find(c.needle), std::string::npos) << l.error().message;
    }
}

}  // namespace
}  // namespace cgm::pam
