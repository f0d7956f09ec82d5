// SPDX-License-Identifier: Apache-2.0
//
// pin_peer (bus/pin.h) on descriptors of this process: a socket's peer is pinned, and a failure
// to ask the kernel is a refusal that carries its errno, never "the peer exited".
#include "bus/pin.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

#include <gtest/gtest.h>

#include "core/proc_source.h"

namespace cgm::bus {
namespace {

TEST(PinPeer, PinsThePeerOfASocket) {
    int sv[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
    UniqueFd a(sv[0]), b(sv[1]);
    PeerPin p = pin_peer(a.get(), Ucred{::getpid(), ::getuid(), ::getgid()});
    EXPECT_FALSE(p.drop) << p.why;
    EXPECT_EQ(p.refusal, "");
    EXPECT_EQ(p.err, 0);
    ASSERT_TRUE(p.pidfd);
    EXPECT_TRUE(ProcSource::alive(p.pidfd.get()));
}

TEST(PinPeer, AFailureToAskIsARefusalWithItsErrno) {
    if (!ProcSource::socket_pidfds_wanted())
        GTEST_SKIP() << "CGM_NO_PIDFD_SOCKOPTS=1: the socket is not asked";
    int fds[2];
    ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
    UniqueFd r(fds[0]), w(fds[1]);
    PeerPin p = pin_peer(r.get(), Ucred{::getpid(), ::getuid(), ::getgid()});
    EXPECT_FALSE(p.drop) << p.why;
    EXPECT_FALSE(p.pidfd);
    EXPECT_EQ(p.err, ENOTSOCK);
    EXPECT_NE(p.refusal.find("could not pin the connecting process (SO_PEERPIDFD: "), std::string::npos) << p.refusal;
}

}  // namespace
}  // namespace cgm::bus
