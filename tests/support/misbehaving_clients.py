#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Three misbehaving peers and one well-behaved client, at the same time:
  - a peer that connects and never authenticates;
  - a peer that floods GetValue calls and never reads a reply;
  - a peer that announces a message longer than sd-bus's bound of 128 MiB and starts sending it;
  - a dbus-python client making calls meanwhile, whose slowest call must stay well under a second.
Every misbehaving peer must be disconnected by the daemon.

usage: misbehaving_clients.py SOCKET_PATH
"""
import os
import select
import socket
import struct
import sys
import threading
import time

import dbus

PATH, IFACE = "/org/linuxcontainers/cgmanager", "org.linuxcontainers.cgmanager0_0"


def pad(buf, n):
    return buf + b"\0" * (-len(buf) % n)


def string(s, sig=False):
    b = s.encode()
    return (struct.pack("<B", len(b)) if sig else struct.pack("<I", len(b))) + b + b"\0"


def method_call(serial, member, args):
    """A little-endian D-Bus method call with string arguments, marshalled by hand."""
    body = b""
    for a in args:
        body = pad(body, 4) + string(a)
    fields = b""
    for code, typ, val in ((1, "o", PATH), (2, "s", IFACE), (3, "s", member), (8, "g", "s" * len(args))):
        fields = pad(fields, 8) + struct.pack("<B", code) + string(typ, True) + string(val, typ == "g")
    header = struct.pack("<cBBBII", b"l", 1, 0, 1, len(body), serial) + struct.pack("<I", len(fields)) + fields
    return pad(header, 8) + body


def closed_by_peer(sock, timeout):
    """Wait until the daemon closes the connection (EOF or reset)."""
    deadline = time.monotonic() + timeout
    sock.setblocking(False)
    while time.monotonic() < deadline:
        r, _, _ = select.select([sock], [], [], 0.1)
        if r:
            try:
                if sock.recv(1 << 20) == b"":
                    return True
            except ConnectionResetError:
                return True
            except BlockingIOError:
                pass
    return False


def main():
    path = sys.argv[1]
    address = "unix:path=" + path
    results = {}

    def silent():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        results["silent closed"] = closed_by_peer(s, 10)

    def flooder():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        s.connect(path)
        s.sendall(b"\0AUTH EXTERNAL " + str(os.getuid()).encode().hex().encode() + b"\r\n")
        reply = s.recv(4096)
        if not reply.startswith(b"OK"):
            results["flooder closed"] = "auth failed: %r" % reply
            return
        s.sendall(b"BEGIN\r\n")
        s.setblocking(False)
        serial, sent, deadline = 1, 0, time.monotonic() + 20
        msg = lambda n: method_call(n, "GetValue", ["memory", "", "memory.stat"])
        pending = b""
        while time.monotonic() < deadline:
            if not pending:
                pending = msg(serial)
                serial += 1
            try:
                n = s.send(pending)
                pending = pending[n:]
                sent += 1
            except BlockingIOError:
                _, w, x = select.select([], [s], [s], 0.1)
                if x:
                    break
            except (BrokenPipeError, ConnectionResetError):
                break
            if serial > 200000:
                break
        results["flooder sent"] = serial
        results["flooder closed"] = closed_by_peer(s, 15)

    def oversized():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.sendall(b"\0AUTH EXTERNAL " + str(os.getuid()).encode().hex().encode() + b"\r\n")
        if not s.recv(4096).startswith(b"OK"):
            results["oversized closed"] = "auth failed"
            return
        s.sendall(b"BEGIN\r\n")
        call = method_call(1, "GetValue", ["memory", "", "memory.stat"])
        # The same call, but its header claims a body of 200 MiB; then 1 MiB of that body.
        try:
            s.sendall(call[:4] + struct.pack("<I", 200 << 20) + call[8:] + b"\0" * (1 << 20))
        except (BrokenPipeError, ConnectionResetError):
            results["oversized closed"] = True  # before it had all of that 1 MiB
            return
        results["oversized closed"] = closed_by_peer(s, 5)

    threads = [threading.Thread(target=f) for f in (silent, flooder, oversized)]
    for t in threads:
        t.start()
    conn = dbus.connection.Connection(address)
    worst = 0.0
    calls = 0
    while any(t.is_alive() for t in threads) and calls < 5000:
        t0 = time.monotonic()
        conn.call_blocking(None, PATH, IFACE, "GetValue", "sss", ["memory", "", "memory.usage_in_bytes"], timeout=10)
        worst = max(worst, time.monotonic() - t0)
        calls += 1
    for t in threads:
        t.join()
    print("good client: %d calls, slowest %.3f s; %s" % (calls, worst, results))
    ok = all(results.get(k) is True for k in ("silent closed", "flooder closed", "oversized closed")) and worst < 1.0
    sys.exit(0 if ok else 1)


main()
