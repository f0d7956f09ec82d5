#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""*Scm calls through python3-dbus, byte by byte as docs/dbus-api.md section 5 describes them, plus misbehaving
variants for the protocol-abuse tests.

usage: scm_client.py SOCKET METHOD [ARG...] [--victim PID] [--owner UID:GID] [--abuse MODE]
  METHOD is the plain name (Create, GetTasks, ...); ARGs are its arguments before the socket.
  --abuse not-a-socket | stream | extra-datagrams | close-after-count | silent-N | no-creds
Output: "OK" and the result one item per line, or "ERR <name or ->" and the message.
"""
import os
import socket
import struct
import sys
import time

import dbus

PATH, IFACE = "/org/linuxcontainers/cgmanager", "org.linuxcontainers.cgmanager0_0"
SIGS = {  # the arguments before the socket
    "GetPidCgroup": "s", "GetPidCgroupAbs": "s", "Create": "ss", "Chown": "ss", "Chmod": "sssi",
    "MovePid": "ss", "MovePidAbs": "ss", "GetValue": "sss", "SetValue": "ssss", "Remove": "ssi",
    "GetTasks": "ss", "GetTasksRecursive": "ss", "ListChildren": "ss", "RemoveOnEmpty": "ss", "Prune": "ss",
    "ListKeys": "ss",
}
SECOND = {"GetPidCgroup", "GetPidCgroupAbs", "MovePid", "MovePidAbs", "Chown"}
TIMEOUT = 5.0


def out(ok, lines):
    print("OK" if ok else "ERR -")
    for line in lines:
        print(line)
    sys.exit(0 if ok else 1)


def send_cred(sock, pid, uid, gid):
    sock.sendmsg([b"p"], [(socket.SOL_SOCKET, socket.SCM_CREDENTIALS, struct.pack("iII", pid, uid, gid))])


def recv(sock, size=65536):
    return sock.recv(size)


def recv_pid(sock):
    data, anc, _, _ = sock.recvmsg(1, socket.CMSG_SPACE(12))
    for level, typ, payload in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
            return struct.unpack("iII", payload[:12])[0]
    raise RuntimeError("a task datagram without credentials")


def detail(sock):
    """The reason the daemon sends after a failure result."""
    sock.settimeout(0.5)
    try:
        d = recv(sock).decode()
        return d[6:] if d.startswith("ERROR ") else d
    except socket.timeout:
        return "(no reason)"


def main():
    argv = sys.argv[1:]
    path, method = argv[0], argv[1]
    opts, args = {}, []
    i = 2
    while i < len(argv):
        if argv[i].startswith("--"):
            opts[argv[i][2:]] = argv[i + 1]
            i += 2
        else:
            args.append(argv[i])
            i += 1
    sig = SIGS[method]
    args = [int(a) if t == "i" else a for t, a in zip(sig, args)]
    conn = dbus.connection.Connection("unix:path=" + path)
    conn.call_blocking(None, PATH, IFACE, "Ping", "i", [0], timeout=10)  # fds are known to work after a round trip
    abuse = opts.get("abuse", "")

    if abuse == "not-a-socket":
        r, w = os.pipe()
        far = dbus.types.UnixFd(r)
    elif abuse == "stream":
        near, farsock = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        far = dbus.types.UnixFd(farsock)
    else:
        near, farsock = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        for s in (near, farsock):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        far = dbus.types.UnixFd(farsock)

    if abuse.startswith("silent-"):
        # Open N exchanges that never send credentials, then one more that does.
        n = int(abuse[7:])
        keep = []
        errors = []
        for k in range(n + 1):
            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
            for s in (a, b):
                s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
            keep.append((a, b))
            try:
                conn.call_blocking(None, PATH, IFACE, method + "Scm", sig + "h", args + [dbus.types.UnixFd(b)], timeout=10)
            except dbus.DBusException as e:
                errors.append("%s: %s" % (e.get_dbus_name(), e.get_dbus_message()))
        print("refused %d" % len(errors))
        for e in errors:
            print(e)
        # The daemon gives up on them after its timeout, freeing their slots on this connection.
        time.sleep(float(opts.get("wait", "0")))
        a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            conn.call_blocking(None, PATH, IFACE, method + "Scm", sig + "h", args + [dbus.types.UnixFd(b)], timeout=10)
            print("then accepted")
        except dbus.DBusException as e:
            print("then refused: %s" % e.get_dbus_message())
        sys.exit(0)

    try:
        conn.call_blocking(None, PATH, IFACE, method + "Scm", sig + "h", args + [far], timeout=10)
    except dbus.DBusException as e:
        print("ERR " + e.get_dbus_name())
        print(e.get_dbus_message())
        sys.exit(1)

    near.settimeout(TIMEOUT)
    me = (os.getpid(), os.getuid(), os.getgid())
    if recv(near) != b"1":
        out(False, ["no kick"])
    if abuse == "no-creds":
        # Send nothing: the daemon gives up after its timeout and says so.
        result = recv(near)
        out(False, ["result %r" % result, detail(near)])
    send_cred(near, *me)
    if abuse == "extra-datagrams":
        send_cred(near, *me)
        send_cred(near, *me)
    if method in SECOND:
        if recv(near) != b"1":
            out(False, ["no second kick"])
        if method == "Chown":
            uid, gid = (int(x) for x in opts["owner"].split(":"))
            send_cred(near, os.getpid(), uid, gid)
        else:
            send_cred(near, int(opts["victim"]), 0, 0)

    if method in ("GetPidCgroup", "GetPidCgroupAbs", "GetValue"):
        d = recv(near)
        if d == b"":
            out(False, [detail(near)])
        out(True, [d[:-1].decode()])
    if method in ("Create", "Remove"):
        d = recv(near)
        if d == b"0":
            out(False, [detail(near)])
        out(True, ["1" if d == b"2" else "-1"])
    if method in ("GetTasks", "GetTasksRecursive"):
        n = struct.unpack("i", recv(near))[0]
        if n < 0:
            out(False, [detail(near)])
        if abuse == "close-after-count":
            near.close()
            out(True, ["closed after count %d" % n])
        out(True, [str(recv_pid(near)) for _ in range(n)])
    if method in ("ListChildren", "ListKeys"):
        n = struct.unpack("i", recv(near))[0]
        if n < 0:
            out(False, [detail(near)])
        if n == 0:
            out(True, [])
        length = struct.unpack("I", recv(near))[0]
        blob = recv(near, length + 1)
        if len(blob) != length:
            out(False, ["announced %d bytes, got %d" % (length, len(blob))])
        if method == "ListChildren":
            out(True, [x.decode() for x in blob.split(b"\0")[:-1]])
        f = blob.decode().split("\n")[:-1]
        out(True, [" ".join(f[k:k + 4]) for k in range(0, len(f), 4)])
    d = recv(near)
    if d == b"0":
        out(False, [detail(near)])
    out(d == b"1", [])


main()
