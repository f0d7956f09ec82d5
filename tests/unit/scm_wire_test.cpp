// SPDX-License-Identifier: Apache-2.0
//
// The *Scm result datagrams (src/core/scm_wire.h, docs/dbus-api.md "Results"): the exact bytes
// 0.42's clients read, every shape read back as written, the failure datagrams (all a daemon in
// --compat-errors mode sends), the trailing error datagram, and malformed input named.
#include <gtest/gtest.h>

#include "core/scm_wire.h"

namespace cgm::scm_wire {
namespace {

std::string native(int32_t v) {
    return std::string(reinterpret_cast<const char*>(&v), sizeof v);
}

TEST(ScmWire, BytesAreThoseOf042) {
    EXPECT_EQ(status_ok(), "1");
    EXPECT_EQ(existed(true), "2");
    EXPECT_EQ(existed(false), "1");
    EXPECT_EQ(text("/a/b"), std::string("/a/b\0", 5));
    EXPECT_EQ(text(""), std::string(1, '\0'));
    EXPECT_EQ(count(3), native(3));
    EXPECT_EQ(names_blob({"x", "yy"}), std::string("x\0yy\0", 5));
    EXPECT_EQ(keys_blob({{"memory.max", 1000, 4294967295u, 0100644}}), "memory.max\n1000\n-1\n33188\n");
    EXPECT_EQ(failure(Shape::Status), "0");
    EXPECT_EQ(failure(Shape::Existed), "0");
    EXPECT_EQ(failure(Shape::Text), "");
    for (Shape s : {Shape::Pids, Shape::Names, Shape::Keys})
        EXPECT_EQ(failure(s), native(-1));
    EXPECT_EQ(error_datagram("org.freedesktop.DBus.Error.AccessDenied", "no"),
              "ERROR org.freedesktop.DBus.Error.AccessDenied\nno");
}

TEST(ScmWire, EveryShapeReadsBackAsWritten) {
    EXPECT_TRUE(*read_status(status_ok()));
    EXPECT_EQ(*read_existed(existed(true)), 1);
    EXPECT_EQ(*read_existed(existed(false)), -1);
    for (std::string v : {std::string(), std::string("/"), std::string("a\nb"), std::string(70000, 'x')})
        EXPECT_EQ(*read_text(text(v)), v);
    EXPECT_EQ(*read_count(count(0)), 0);
    EXPECT_EQ(*read_count(count(123456)), 123456);
    EXPECT_EQ(*read_length(length(4000000000u)), 4000000000u);

    const std::vector<std::string> names = {"a", "", "b c", std::string(300, 'n')};
    auto d = list(names.size(), names_blob(names));
    ASSERT_EQ(d.size(), 3u);
    const int32_t n = **read_count(d[0]);
    EXPECT_EQ(*read_length(d[1]), d[2].size());
    EXPECT_EQ(*read_names(d[2], n), names);

    const std::vector<Key> keys = {{"tasks", 0, 0, 0100644}, {"cgroup.procs", 100000, 4294967295u, 0100664}};
    d = list(keys.size(), keys_blob(keys));
    ASSERT_EQ(d.size(), 3u);
    EXPECT_EQ(*read_keys(d[2], **read_count(d[0])), keys);

    // An empty list is the count alone.
    d = list(0, "");
    ASSERT_EQ(d.size(), 1u);
    EXPECT_EQ(**read_count(d[0]), 0);
    EXPECT_TRUE(read_names("", 0)->empty());
    EXPECT_TRUE(read_keys("", 0)->empty());
}

// What a failure sends first, and alone in --compat-errors mode, reads as a failure of its shape.
TEST(ScmWire, FailuresReadAsFailures) {
    EXPECT_FALSE(*read_status(failure(Shape::Status)));
    EXPECT_FALSE(read_existed(failure(Shape::Existed))->has_value());
    EXPECT_FALSE(read_text(failure(Shape::Text))->has_value());
    for (Shape s : {Shape::Pids, Shape::Names, Shape::Keys})
        EXPECT_FALSE(read_count(failure(s))->has_value());
    for (Shape s : {Shape::Status, Shape::Existed, Shape::Text, Shape::Pids, Shape::Names, Shape::Keys})
        EXPECT_FALSE(read_error(failure(s)).has_value()) << "a result is not an error datagram";
}

TEST(ScmWire, TheErrorDatagramCarriesNameAndMessage) {
    auto e = read_error(error_datagram("org.freedesktop.DBus.Error.FileNotFound", "cgroup /x does not exist"));
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->name, "org.freedesktop.DBus.Error.FileNotFound");
    EXPECT_EQ(e->message, "cgroup /x does not exist");
    e = read_error("ERROR org.freedesktop.DBus.Error.Failed");
    ASSERT_TRUE(e.has_value());
    EXPECT_EQ(e->name, "org.freedesktop.DBus.Error.Failed");
    EXPECT_EQ(e->message, "");
    EXPECT_FALSE(read_error("ERRORx").has_value());
    EXPECT_FALSE(read_error("").has_value());
}

TEST(ScmWire, MalformedDatagramsAreNamed) {
    struct Case {
        Result<void> r;
        const char* needle;
    };
    auto drop = [](auto r) { return r ? Result<void>(ok()) : Result<void>(std::move(r).error()); };
    const Case cases[] = {
        {drop(read_status("x")), "unexpected result 'x' from the daemon"},
        {drop(read_existed("3")), "unexpected result '3'"},
        {drop(read_text("abc")), "not NUL-terminated"},
        {drop(read_count("abc")), "expected a 4-byte count from the daemon, got 3 bytes"},
        {drop(read_length("12345")), "expected a 4-byte length from the daemon, got 5 bytes"},
        {drop(read_names(std::string("a\0b", 3), 2)), "a child name from the daemon is not NUL-terminated"},
        {drop(read_names(std::string("a\0", 2), 2)), "the daemon announced 2 names and sent 1"},
        {drop(read_keys("k\n1\n2\n", 1)), "the daemon announced 1 keys and sent 3 lines"},
        {drop(read_keys("k\n1\n2\n3", 1)), "malformed key list from the daemon"},
    };
    for (const auto& c : cases) {
        ASSERT_FALSE(c.r.ok()) << c.needle;
        EXPECT_EQ(c.r.error().kind, ErrorKind::Failed);
        EXPECT_NE(c.r.error().message.find(c.needle), std::string::npos) << c.r.error().message;
    }
}

}  // namespace
}  // namespace cgm::scm_wire
