// SPDX-License-Identifier: Apache-2.0
//
// The authorization policy (docs/dbus-api.md section 2): may_access, may_move_pid, the root
// predicates and check_key.
#include "core/policy.h"

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include "core/limits.h"
#include "unit_test_util.h"

namespace cgm {
namespace {

using namespace std::string_view_literals;
using test::IsError;
using test::IsOk;
using test::printable;

IdMap map_of(std::string_view text) {
    auto r = IdMap::parse(text);
    EXPECT_TRUE(IsOk(r)) << printable(text);
    return r ? *r : IdMap();
}

// A requestor in the initial user namespace.
Identity host(uid_t uid, gid_t gid, pid_t pid = 4242) {
    return Identity{Ucred{pid, uid, gid}, IdMap::identity(), IdMap::identity()};
}

// A requestor in a user namespace mapping ns 0..65535 to host 100000..165535.
Identity userns(uid_t uid, gid_t gid, pid_t pid = 4242) {
    return Identity{Ucred{pid, uid, gid}, map_of("0 100000 65536"), map_of("0 100000 65536")};
}

const char* access_name(Access a) {
    switch (a) {
    case Access::Read: return "Read";
    case Access::Write: return "Write";
    case Access::ReadWrite: return "ReadWrite";
    }
    return "?";
}

TEST(PolicyTest, RootPredicates) {
    struct Case {
        std::string_view name;
        Identity who;
        bool host_root, userns_root;
    };
    const Case cases[] = {
        {"host root", host(0, 0), true, true},
        {"host user", host(1000, 1000), false, false},
        {"host root gid only", host(1000, 0), false, false},
        {"userns root", userns(100000, 100000), false, true},
        {"userns uid 1000", userns(101000, 101000), false, false},
        {"userns last uid", userns(165535, 165535), false, false},
        {"unmapped uid", userns(1000, 1000), false, false},
        {"uid 0 with a userns map", userns(0, 0), true, true},
        {"no map at all", Identity{Ucred{1, 100000, 100000}, IdMap(), IdMap()}, false, false},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(is_host_root(c.who), c.host_root);
        EXPECT_EQ(is_root_in_userns(c.who), c.userns_root);
    }
}

TEST(PolicyTest, MayAccess) {
    struct Case {
        std::string_view name;
        Identity who;
        FileAttrs target;
        bool read, write, read_write;
    };
    const Case cases[] = {
        // Host root may do anything, whatever the owner and mode.
        {"host root, mode 0", host(0, 0), {1000, 1000, 0000}, true, true, true},
        {"host root, foreign file", host(0, 0), {100005, 100005, 0000}, true, true, true},
        // Owner class.
        {"owner rw-", host(1000, 1000), {1000, 1000, 0600}, true, true, true},
        {"owner r--", host(1000, 1000), {1000, 1000, 0400}, true, false, false},
        {"owner -w-", host(1000, 1000), {1000, 1000, 0200}, false, true, false},
        {"owner ---", host(1000, 1000), {1000, 1000, 0000}, false, false, false},
        {"owner --- even if group and other rw", host(1000, 1000), {1000, 1000, 0066}, false, false, false},
        {"owner bits of another file only", host(1000, 1000), {1001, 2000, 0600}, false, false, false},
        // Group class (primary gid only).
        {"group rw-", host(1000, 500), {0, 500, 0060}, true, true, true},
        {"group r--", host(1000, 500), {0, 500, 0040}, true, false, false},
        {"group -w-", host(1000, 500), {0, 500, 0020}, false, true, false},
        {"group ---, other rw", host(1000, 500), {0, 500, 0006}, false, false, false},
        {"group bits, other gid", host(1000, 501), {0, 500, 0070}, false, false, false},
        // Other class.
        {"other rw-", host(1000, 1000), {0, 0, 0006}, true, true, true},
        {"other r--", host(1000, 1000), {0, 0, 0444}, true, false, false},
        {"other -w-", host(1000, 1000), {0, 0, 0002}, false, true, false},
        {"other --- with owner/group rw", host(1000, 1000), {0, 0, 0770}, false, false, false},
        {"typical 0755 dir", host(1000, 1000), {0, 0, 0755}, true, false, false},
        // Root in a user namespace: files owned by a mapped uid are its own, whatever the mode.
        {"userns root, mapped owner 100005, mode 0", userns(100000, 100000), {100005, 100005, 0000}, true, true, true},
        {"userns root, mapped owner 100000", userns(100000, 100000), {100000, 100000, 0000}, true, true, true},
        {"userns root, last mapped owner", userns(100000, 100000), {165535, 0, 0000}, true, true, true},
        // ... otherwise mode bits, where it is "other" (or group on a gid match).
        {"userns root, unmapped owner 1000, other r--", userns(100000, 100000), {1000, 1000, 0704}, true, false, false},
        {"userns root, unmapped owner, other ---", userns(100000, 100000), {1000, 1000, 0770}, false, false, false},
        {"userns root, one past the map", userns(100000, 100000), {165536, 1, 0000}, false, false, false},
        {"userns root, host root owner", userns(100000, 100000), {0, 0, 0755}, true, false, false},
        {"userns root, unmapped owner, group match", userns(100000, 100000), {1000, 100000, 0020}, false, true, false},
        // A uid mapped in the userns but not to 0 is not root there: plain mode bits.
        {"userns uid 1000, mapped owner, ---", userns(101000, 101000), {100005, 100005, 0000}, false, false, false},
        {"userns uid 1000, mapped owner, other rw", userns(101000, 101000), {100005, 100005, 0006}, true, true, true},
        {"userns uid 1000, own file", userns(101000, 101000), {101000, 0, 0600}, true, true, true},
        {"userns uid 1000, own file r--", userns(101000, 101000), {101000, 0, 0444}, true, false, false},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(fmt::format("{}: uid {} gid {} on {}:{} {:04o}", c.name, c.who.cred.uid, c.who.cred.gid,
                                 c.target.uid, c.target.gid, c.target.mode));
        const std::pair<Access, bool> checks[] = {
            {Access::Read, c.read}, {Access::Write, c.write}, {Access::ReadWrite, c.read_write}};
        for (auto [access, expected] : checks)
            EXPECT_EQ(may_access(c.who, c.target, access), expected) << access_name(access);
    }
}

TEST(PolicyTest, MayMovePid) {
    struct Case {
        std::string_view name;
        Identity who;
        pid_t victim_pid;
        uid_t victim_uid;
        bool allowed;
    };
    const Case cases[] = {
        {"itself", host(1000, 1000, 77), 77, 0, true},
        {"itself in a userns", userns(101000, 101000, 77), 77, 5, true},
        {"host root, any victim", host(0, 0), 1, 1000, true},
        {"host root, victim uid 0", host(0, 0), 1, 0, true},
        {"same real uid", host(1000, 1000), 99, 1000, true},
        {"other uid", host(1000, 1000), 99, 1001, false},
        {"user on root's process", host(1000, 1000), 1, 0, false},
        {"userns root, mapped victim", userns(100000, 100000), 99, 100005, true},
        {"userns root, first mapped victim", userns(100000, 100000), 99, 100000, true},
        {"userns root, last mapped victim", userns(100000, 100000), 99, 165535, true},
        {"userns root, victim one past the map", userns(100000, 100000), 99, 165536, false},
        {"userns root, unmapped victim", userns(100000, 100000), 99, 1000, false},
        {"userns root, host root victim", userns(100000, 100000), 99, 0, false},
        {"userns non-root, mapped victim", userns(101000, 101000), 99, 100005, false},
        {"userns non-root, same uid", userns(101000, 101000), 99, 101000, true},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        EXPECT_EQ(may_move_pid(c.who, c.victim_pid, c.victim_uid), c.allowed);
    }
}

TEST(PolicyTest, CheckKeyValid) {
    const std::string k255(limits::kMaxKeyBytes, 'k');
    const std::string_view keys[] = {
        "memory.limit_in_bytes",
        "cpu.shares",
        "cgroup.subtree_control",
        "a",
        "...",
        "a..b",
        ".hidden",
        "freezer.state",
        "x y",
        k255,
    };
    for (auto key : keys)
        for (auto use : {KeyUse::Read, KeyUse::Write, KeyUse::Chmod})
            for (bool root : {false, true}) {
                SCOPED_TRACE(fmt::format("{} use {} root {}", printable(key), static_cast<int>(use), root));
                EXPECT_TRUE(IsOk(check_key(key, use, root)));
            }
}

TEST(PolicyTest, CheckKeyInvalid) {
    const std::string k256(limits::kMaxKeyBytes + 1, 'k');
    struct Case {
        std::string_view key;
        ErrorKind kind;
        std::string_view message;
    };
    const Case cases[] = {
        {"", ErrorKind::InvalidArgs, "empty key"},
        {".", ErrorKind::InvalidArgs, "key '.' is not a file name"},
        {"..", ErrorKind::InvalidArgs, "key '..' is not a file name"},
        {"a/b", ErrorKind::InvalidArgs, "must be a single file name (no '/')"},
        {"../x", ErrorKind::InvalidArgs, "no '/'"},
        {"/tasks", ErrorKind::InvalidArgs, "no '/'"},
        {"x/", ErrorKind::InvalidArgs, "no '/'"},
        {"a\\b", ErrorKind::InvalidArgs, "no '\\'"},
        {"..\\tasks", ErrorKind::InvalidArgs, "no '\\'"},
        {"a\nb", ErrorKind::InvalidArgs, "newline"},
        {"tasks\n", ErrorKind::InvalidArgs, "newline"},
        {"a\0b"sv, ErrorKind::InvalidArgs, "NUL"},
        {k256, ErrorKind::LimitsExceeded, "key of 256 bytes is longer than 255 bytes"},
    };
    for (const auto& c : cases)
        for (auto use : {KeyUse::Read, KeyUse::Write, KeyUse::Chmod})
            for (bool root : {false, true}) {
                SCOPED_TRACE(fmt::format("{} use {} root {}", printable(c.key), static_cast<int>(use), root));
                EXPECT_TRUE(IsError(check_key(c.key, use, root), c.kind, c.message));
            }
}

TEST(PolicyTest, CheckKeyProtected) {
    ASSERT_GT(std::size(kProtectedKeys), 0u);
    for (auto key : kProtectedKeys) {
        SCOPED_TRACE(key);
        // Never written through SetValue, not even by host root.
        for (bool root : {false, true}) {
            auto r = check_key(key, KeyUse::Write, root);
            EXPECT_TRUE(IsError(r, ErrorKind::AccessDenied, fmt::format("key '{}' cannot be written", key)));
        }
        // Reading and chmod stay possible.
        for (bool root : {false, true}) {
            EXPECT_TRUE(IsOk(check_key(key, KeyUse::Read, root)));
            EXPECT_TRUE(IsOk(check_key(key, KeyUse::Chmod, root)));
        }
    }
    // The messages point at the dedicated methods.
    EXPECT_TRUE(IsError(check_key("tasks", KeyUse::Write, true), ErrorKind::AccessDenied, "use MovePid"));
    EXPECT_TRUE(IsError(check_key("cgroup.procs", KeyUse::Write, true), ErrorKind::AccessDenied, "use MovePid"));
    EXPECT_TRUE(
        IsError(check_key("notify_on_release", KeyUse::Write, true), ErrorKind::AccessDenied, "use RemoveOnEmpty"));
}

TEST(PolicyTest, CheckKeyHostRootOnly) {
    ASSERT_GT(std::size(kHostRootOnlyKeys), 0u);
    for (auto key : kHostRootOnlyKeys) {
        SCOPED_TRACE(key);
        EXPECT_TRUE(IsError(check_key(key, KeyUse::Write, false), ErrorKind::AccessDenied,
                            fmt::format("key '{}' may only be written by host root", key)));
        EXPECT_TRUE(IsOk(check_key(key, KeyUse::Write, true)));
        for (bool root : {false, true}) {
            EXPECT_TRUE(IsOk(check_key(key, KeyUse::Read, root)));
            EXPECT_TRUE(IsOk(check_key(key, KeyUse::Chmod, root)));
        }
    }
}

TEST(PolicyTest, ProtectedNamesAreExact) {
    // Only the exact names are special: prefixes, suffixes and other case are ordinary keys.
    for (auto key : kProtectedKeys) {
        const std::string variants[] = {std::string(key) + "x", "x" + std::string(key), std::string(key) + ".bak"};
        for (const auto& v : variants) {
            SCOPED_TRACE(v);
            EXPECT_TRUE(IsOk(check_key(v, KeyUse::Write, false)));
        }
    }
    EXPECT_TRUE(IsOk(check_key("TASKS", KeyUse::Write, false)));
    EXPECT_TRUE(IsOk(check_key("cgroup.kill2", KeyUse::Write, false)));
}

}  // namespace
}  // namespace cgm
