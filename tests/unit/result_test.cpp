// SPDX-License-Identifier: Apache-2.0
//
// Result<T>, Error and CGM_TRY: the error convention of the project.
#include "cgmanager/result.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "unit_test_util.h"

namespace cgm {
namespace {

using test::IsError;
using test::IsOk;

Result<int> parse_digit(char c) {
    if (c < '0' || c > '9')
        return make_error(ErrorKind::InvalidArgs, "'{}' is not a digit", c);
    return c - '0';
}

Result<void> check_even(int n) {
    if (n % 2)
        return make_error(ErrorKind::InvalidArgs, "{} is odd", n);
    return ok();
}

// Counts how far it got, so the tests can see where CGM_TRY returned.
struct Trace {
    int steps = 0;
};

// Two CGM_TRY of a value and one of void in one function.
Result<int> sum_of_even_digits(char a, char b, Trace& t) {
    int x = CGM_TRY(parse_digit(a));
    ++t.steps;
    int y = CGM_TRY(parse_digit(b));
    ++t.steps;
    CGM_TRY(check_even(x + y));
    ++t.steps;
    return x + y;
}

Result<void> void_chain(char a, Trace& t) {
    CGM_TRY(check_even(CGM_TRY(parse_digit(a))));  // nested in one expression
    ++t.steps;
    return ok();
}

// Propagation through two levels, adding context on the way.
Result<std::string> outer(char a, char b) {
    Trace t;
    auto r = sum_of_even_digits(a, b, t);
    if (!r)
        return std::move(r).error().with_context("outer");
    return std::to_string(*r);
}

// A move-only value passes through CGM_TRY.
Result<std::unique_ptr<int>> make_ptr(int v) {
    return std::make_unique<int>(v);
}
Result<int> deref(int v) {
    auto p = CGM_TRY(make_ptr(v));
    return *p + 1;
}

TEST(ResultTest, ValueAndError) {
    Result<int> v = 7;
    ASSERT_TRUE(v.ok());
    EXPECT_TRUE(static_cast<bool>(v));
    EXPECT_EQ(v.value(), 7);
    EXPECT_EQ(*v, 7);

    Result<int> e = make_error(ErrorKind::NotFound, "no {} here", "cgroup");
    ASSERT_FALSE(e.ok());
    EXPECT_FALSE(static_cast<bool>(e));
    EXPECT_EQ(e.error().kind, ErrorKind::NotFound);
    EXPECT_EQ(e.error().message, "no cgroup here");
    EXPECT_EQ(e.error().sys_errno, 0);

    Result<std::string> s = "abc";  // converting constructor
    ASSERT_TRUE(IsOk(s));
    EXPECT_EQ(s->size(), 3u);

    Result<void> good = ok();
    EXPECT_TRUE(good.ok());
    Result<void> bad = Error(ErrorKind::Timeout, "slow", ETIMEDOUT);
    ASSERT_FALSE(bad.ok());
    EXPECT_EQ(bad.error().kind, ErrorKind::Timeout);
    EXPECT_EQ(bad.error().sys_errno, ETIMEDOUT);

    Error def;
    EXPECT_EQ(def.kind, ErrorKind::Failed);
    EXPECT_EQ(def.sys_errno, 0);
    EXPECT_TRUE(def.message.empty());
}

TEST(ResultTest, TryPropagation) {
    struct Case {
        char a, b;
        int steps;               // how many steps ran before returning
        int value;               // when ok
        std::string_view error;  // when not
    };
    const Case cases[] = {
        {'2', '4', 3, 6, ""},
        {'9', '9', 3, 18, ""},
        {'x', '4', 0, 0, "'x' is not a digit"},
        {'2', 'y', 1, 0, "'y' is not a digit"},
        {'2', '3', 2, 0, "5 is odd"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(fmt::format("{} {}", c.a, c.b));
        Trace t;
        auto r = sum_of_even_digits(c.a, c.b, t);
        EXPECT_EQ(t.steps, c.steps);
        if (c.error.empty()) {
            ASSERT_TRUE(IsOk(r));
            EXPECT_EQ(*r, c.value);
        } else {
            EXPECT_TRUE(IsError(r, ErrorKind::InvalidArgs, c.error));
            EXPECT_EQ(r.error().message, c.error);  // propagated unchanged
        }
    }
}

TEST(ResultTest, TryVoidAndNested) {
    Trace t;
    EXPECT_TRUE(IsOk(void_chain('4', t)));
    EXPECT_EQ(t.steps, 1);
    EXPECT_TRUE(IsError(void_chain('3', t), ErrorKind::InvalidArgs, "3 is odd"));
    EXPECT_TRUE(IsError(void_chain('z', t), ErrorKind::InvalidArgs, "'z' is not a digit"));
    EXPECT_EQ(t.steps, 1);
}

TEST(ResultTest, TryMoveOnlyAndContext) {
    auto r = deref(41);
    ASSERT_TRUE(IsOk(r));
    EXPECT_EQ(*r, 42);
    auto o = outer('1', '1');
    ASSERT_TRUE(IsOk(o));
    EXPECT_EQ(*o, "2");
    auto bad = outer('1', '2');
    ASSERT_FALSE(bad);
    EXPECT_EQ(bad.error().message, "outer: 3 is odd");
    EXPECT_EQ(bad.error().kind, ErrorKind::InvalidArgs);
}

TEST(ResultTest, FromErrno) {
    struct Case {
        int err;
        ErrorKind kind;
    };
    const Case cases[] = {
        {EACCES, ErrorKind::AccessDenied},   {EPERM, ErrorKind::AccessDenied},
        {EROFS, ErrorKind::AccessDenied},    {ENOENT, ErrorKind::NotFound},
        {ESRCH, ErrorKind::NotFound},        {ENOTDIR, ErrorKind::NotFound},
        {EINVAL, ErrorKind::InvalidArgs},    {ENAMETOOLONG, ErrorKind::InvalidArgs},
        {ELOOP, ErrorKind::InvalidArgs},     {EXDEV, ErrorKind::InvalidArgs},
        {ENOSPC, ErrorKind::LimitsExceeded}, {EMFILE, ErrorKind::LimitsExceeded},
        {EAGAIN, ErrorKind::LimitsExceeded}, {E2BIG, ErrorKind::LimitsExceeded},
        {ENOSYS, ErrorKind::NotSupported},   {EOPNOTSUPP, ErrorKind::NotSupported},
        {ENODEV, ErrorKind::NotSupported},   {ETIMEDOUT, ErrorKind::Timeout},
        {EBUSY, ErrorKind::Failed},          {EIO, ErrorKind::Failed},
        {EEXIST, ErrorKind::Failed},         {0, ErrorKind::Failed},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(fmt::format("errno {} ({})", c.err, std::strerror(c.err)));
        EXPECT_EQ(error_kind_name(kind_for_errno(c.err)), error_kind_name(c.kind));
        Error e = Error::from_errno(c.err, "rmdir /a/b");
        EXPECT_EQ(error_kind_name(e.kind), error_kind_name(c.kind));
        EXPECT_EQ(e.sys_errno, c.err);
        EXPECT_EQ(e.message, fmt::format("rmdir /a/b: {}", std::strerror(c.err)));
    }
    Error e = errno_error(EBUSY, "rmdir {}", "/x");
    EXPECT_EQ(e.kind, ErrorKind::Failed);
    EXPECT_EQ(e.message, "rmdir /x: Device or resource busy");
}

TEST(ResultTest, WithContext) {
    const Error base(ErrorKind::NotFound, "no such cgroup", ENOENT);
    Error a = base.with_context("GetValue memory");  // const& overload leaves the original alone
    EXPECT_EQ(a.message, "GetValue memory: no such cgroup");
    EXPECT_EQ(a.kind, ErrorKind::NotFound);
    EXPECT_EQ(a.sys_errno, ENOENT);
    EXPECT_EQ(base.message, "no such cgroup");

    Error b = Error(ErrorKind::AccessDenied, "denied").with_context("inner").with_context("outer");
    EXPECT_EQ(b.message, "outer: inner: denied");
    EXPECT_EQ(b.kind, ErrorKind::AccessDenied);
}

TEST(ResultTest, KindNames) {
    struct Case {
        ErrorKind kind;
        std::string_view name;
    };
    const Case cases[] = {
        {ErrorKind::AccessDenied, "AccessDenied"},
        {ErrorKind::NotFound, "FileNotFound"},
        {ErrorKind::InvalidArgs, "InvalidArgs"},
        {ErrorKind::LimitsExceeded, "LimitsExceeded"},
        {ErrorKind::NotSupported, "NotSupported"},
        {ErrorKind::Timeout, "Timeout"},
        {ErrorKind::Failed, "Failed"},
    };
    for (const auto& c : cases)
        EXPECT_EQ(error_kind_name(c.kind), c.name);
}

}  // namespace
}  // namespace cgm
