// SPDX-License-Identifier: Apache-2.0
//
// The input guard (bus/input_guard.h) on literal byte streams: what sd-bus gets to see of the
// authentication, how messages are framed, and which reads fail and why.
#include "bus/input_guard.h"

#include <cerrno>
#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace cgm::bus {
namespace {

const std::string kNul(1, '\0');

// A little-endian message header announcing `fields` bytes of header fields and `body` bytes of
// body, followed by that many bytes (zeros after the fields' length word).
std::string message(uint32_t fields, uint32_t body) {
    std::string m("l\x01\x00\x01", 4);
    m.resize(16, '\0');
    for (int i = 0; i < 4; ++i) {
        m[4 + i] = static_cast<char>((body >> (8 * i)) & 0xff);
        m[12 + i] = static_cast<char>((fields >> (8 * i)) & 0xff);
    }
    m.resize(16 + ((fields + 7) & ~7U) + body, 'x');
    return m;
}

struct Fed {
    int err = 0;
    std::string out;
};

// Feed `in` during authentication in reads of at most `chunk` bytes, as the glue would, collecting
// what sd-bus gets; message bytes after BEGIN go through on_message_read as the glue does it.
Fed feed(InputGuard& g, const std::string& in, size_t chunk = 4096, unsigned fds_first = 0) {
    Fed f;
    size_t at = 0;
    unsigned fds = fds_first;
    while (at < in.size()) {
        const size_t cap = 256;
        size_t room = g.room(cap);
        if (room == 0) {
            f.err = EMSGSIZE;
            return f;
        }
        size_t n = std::min({room, chunk, in.size() - at});
        if (g.authenticating()) {
            std::vector<char> out(cap);
            size_t got = 0;
            f.err = g.on_auth_read(in.data() + at, n, fds, out.data(), cap, &got);
            if (f.err != 0)
                return f;
            f.out.append(out.data(), got);
        } else {
            f.err = g.on_message_read(in.data() + at, n, fds);
            if (f.err != 0)
                return f;
            f.out.append(in, at, n);
        }
        fds = 0;
        at += n;
    }
    return f;
}

TEST(InputGuard, AnSdBusHandshakeAndAFirstMessageInOneReadPassUnchanged) {
    InputGuard g({1 << 20, 1, 1000});
    const std::string auth = kNul + "AUTH EXTERNAL\r\nDATA\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n";
    const std::string m = message(40, 8);
    auto f = feed(g, auth + m);
    EXPECT_EQ(f.err, 0) << g.failure();
    EXPECT_EQ(f.out, auth + m);
    EXPECT_FALSE(g.authenticating());
    EXPECT_EQ(g.complete_messages(), 1u);
    EXPECT_FALSE(g.mid_message());
    EXPECT_EQ(g.rejected_claims(), 0u);
}

TEST(InputGuard, AClaimOfTheSocketsOwnUidPasses) {
    InputGuard g({1 << 20, 1, 1000});
    const std::string auth = kNul + "AUTH EXTERNAL 31303030\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n";
    auto f = feed(g, auth);
    EXPECT_EQ(f.out, auth);
    EXPECT_EQ(g.rejected_claims(), 0u);
}

TEST(InputGuard, AClaimOfAnotherUidBecomesARequestSdBusRejects) {
    InputGuard g({1 << 20, 1, 1000});
    auto f = feed(g, kNul + "AUTH EXTERNAL 30\r\n");  // "0"
    EXPECT_EQ(f.out, kNul + "AUTH\r\n");
    EXPECT_EQ(g.rejected_claims(), 1u);
    // The client tries again, with ANONYMOUS, and goes on.
    f = feed(g, "AUTH ANONYMOUS 74657374\r\nBEGIN\r\n");
    EXPECT_EQ(f.out, "AUTH ANONYMOUS 74657374\r\nBEGIN\r\n");
    EXPECT_FALSE(g.authenticating());
}

TEST(InputGuard, AClaimInTheDataLineIsJudgedToo) {
    InputGuard g({1 << 20, 1, 1000});
    auto f = feed(g, kNul + "AUTH EXTERNAL\r\nDATA 30\r\n");
    EXPECT_EQ(f.out, kNul + "AUTH EXTERNAL\r\nCANCEL\r\n");
    EXPECT_EQ(g.rejected_claims(), 1u);
    // DATA only counts as a claim right after "AUTH EXTERNAL"; an empty DATA claims nothing.
    InputGuard h({1 << 20, 1, 1000});
    f = feed(h, kNul + "AUTH EXTERNAL\r\nDATA\r\nDATA 30\r\n");
    EXPECT_EQ(f.out, kNul + "AUTH EXTERNAL\r\nDATA\r\nDATA 30\r\n");
    EXPECT_EQ(h.rejected_claims(), 0u);
}

TEST(InputGuard, MalformedClaimsAreLeftForSdBusToReject) {
    InputGuard g({1 << 20, 1, 1000});
    // Odd length, not hex, not digits, too long for a uid: not claims, passed as they are.
    const std::string lines = kNul + "AUTH EXTERNAL 303\r\nAUTH EXTERNAL zz\r\nAUTH EXTERNAL 41\r\nAUTH EXTERNAL " +
                              std::string(22, '3') + "\r\n";
    auto f = feed(g, lines);
    EXPECT_EQ(f.out, lines);
    EXPECT_EQ(g.rejected_claims(), 0u);
}

TEST(InputGuard, ALineIsHandedOnOnlyOnceItIsWhole) {
    InputGuard g({1 << 20, 1, 1000});
    const std::string in = kNul + "AUTH EXTERNAL 30\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n";
    std::string out;
    size_t partial_reads = 0;
    for (char c : in) {
        std::vector<char> buf(256);
        size_t got = 0;
        ASSERT_GT(g.room(256), 0u);
        ASSERT_EQ(g.on_auth_read(&c, 1, 0, buf.data(), buf.size(), &got), 0) << g.failure();
        if (got == 0)
            ++partial_reads;
        out.append(buf.data(), got);
        // Every piece handed on ends a line (or is the opening NUL).
        if (got > 1) {
            EXPECT_EQ(std::string(buf.data() + got - 2, 2), "\r\n");
        }
    }
    EXPECT_EQ(out, kNul + "AUTH\r\nNEGOTIATE_UNIX_FD\r\nBEGIN\r\n");
    EXPECT_GT(partial_reads, 20u);
    EXPECT_FALSE(g.authenticating());
}

TEST(InputGuard, ALineTooLongToHoldPassesAsItComes) {
    InputGuard g({1 << 20, 1, 1000});
    const std::string line = "AUTH EXTERNAL " + std::string(300, '3') + "\r\n";
    auto f = feed(g, kNul + line + "BEGIN\r\n", 50);
    EXPECT_EQ(f.err, 0);
    EXPECT_EQ(f.out, kNul + line + "BEGIN\r\n");
    EXPECT_FALSE(g.authenticating());
}

TEST(InputGuard, DescriptorsDuringAuthenticationFailTheRead) {
    InputGuard g({1 << 20, 1, 1000});
    auto f = feed(g, kNul + "AUTH EXTERNAL\r\n", 4096, 1);
    EXPECT_EQ(f.err, EIO);
    EXPECT_NE(g.failure().find("file descriptors before it finished authenticating"), std::string::npos);
}

TEST(InputGuard, TheAuthenticationIsBounded) {
    InputGuard g({1000, 1, 0});
    auto f = feed(g, kNul + std::string(2000, 'A'), 100);
    EXPECT_EQ(f.err, EMSGSIZE);
    EXPECT_NE(g.failure().find("more than 1000 bytes without finishing the authentication"), std::string::npos);
}

// After BEGIN: messages framed from their headers, however the reads fall.
class Messages : public ::testing::Test {
protected:
    void SetUp() override { ASSERT_EQ(feed(g, kNul + "AUTH EXTERNAL\r\nDATA\r\nBEGIN\r\n").err, 0); }
    InputGuard g{InputRules{4096, 1, 0}};
};

TEST_F(Messages, AreCountedWholeWhateverTheReads) {
    const std::string m1 = message(24, 13), m2 = message(0, 0), m3 = message(100, 1);
    const std::string all = m1 + m2 + m3;
    for (size_t i = 0; i < all.size(); ++i) {
        ASSERT_EQ(g.on_message_read(&all[i], 1, 0), 0) << g.failure();
        const bool end = i + 1 == m1.size() || i + 1 == m1.size() + m2.size() || i + 1 == all.size();
        EXPECT_EQ(g.mid_message(), !end) << i;
    }
    EXPECT_EQ(g.complete_messages(), 3u);
}

TEST_F(Messages, ARoomNeverReachesPastTheMessageOnceItsHeaderIsIn) {
    const std::string m = message(8, 20);
    ASSERT_EQ(g.on_message_read(m.data(), 16, 0), 0);
    EXPECT_EQ(g.room(1 << 20), m.size() - 16);
    EXPECT_EQ(g.room(5), 5u);
}

TEST_F(Messages, OneAnnouncedLongerThanTheBoundFailsAtItsHeader) {
    const std::string m = message(8, 5000);
    EXPECT_EQ(g.on_message_read(m.data(), 16, 0), EMSGSIZE);
    EXPECT_NE(g.failure().find("announced a message of 5024 bytes; the limit is 4096"), std::string::npos)
        << g.failure();
}

TEST_F(Messages, OneDescriptorPerMessage) {
    const std::string m = message(8, 8);
    ASSERT_EQ(g.on_message_read(m.data(), 10, 1), 0);
    ASSERT_EQ(g.on_message_read(m.data() + 10, m.size() - 10, 0), 0);
    ASSERT_EQ(g.on_message_read(m.data(), 1, 1), 0);  // the next message may have its own
    EXPECT_EQ(g.on_message_read(m.data() + 1, 1, 1), ETOOMANYREFS);
    EXPECT_NE(g.failure().find("the peer sent 2 file descriptors with one message; the limit is 1"), std::string::npos)
        << g.failure();
}

TEST_F(Messages, BytesThatStartNoMessageFail) {
    std::string m = message(8, 8);
    m[0] = 'X';
    EXPECT_EQ(g.on_message_read(m.data(), m.size(), 0), EBADMSG);
    EXPECT_NE(g.failure().find("byte 0x58"), std::string::npos) << g.failure();
}

TEST_F(Messages, BigEndianHeadersAreReadAsSuch) {
    std::string m("B\x01\x00\x01", 4);
    m += std::string("\x00\x00\x00\x04", 4);  // body 4
    m += std::string("\x00\x00\x00\x01", 4);  // serial
    m += std::string("\x00\x00\x00\x08", 4);  // fields 8
    m.resize(16 + 8 + 4, 'y');
    ASSERT_EQ(g.on_message_read(m.data(), m.size(), 0), 0) << g.failure();
    EXPECT_EQ(g.complete_messages(), 1u);
    EXPECT_FALSE(g.mid_message());
}

}  // namespace
}  // namespace cgm::bus
