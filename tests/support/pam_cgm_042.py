#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Replay CGManager 0.42's pam_cgm against a daemon: the calls its open_session and close_session
make, in their order, from one process (as a login program does), over python3-dbus (libdbus, the
library the original was built on).

usage: pam_cgm_042.py SOCKET CONTROLLERS PATTERN UID GID ROUNDS

CONTROLLERS  "all" (0.42's default: every ListControllers entry, joined with ',') or a list
PATTERN      e.g. "user/alice/": the levels the session cgroup is made under; the session is the
             last level plus the first free index (0.42's default "user/%u/", expanded)
ROUNDS       how many logins to replay one after the other

Each round: open_session (escape to the root in every controller, keeping those where that worked;
create and enter each level, RemoveOnEmpty on the new ones; take the first free index, Chown it to
UID:GID, enter it, RemoveOnEmpty); a "shell" child lives in the session and exits; close_session
(escape again; GetTasksRecursive of the session and, if empty, a recursive Remove; then up
to 2 levels: each child without tasks removed, then the level itself). 0.42's module treats a
failed GetTasksRecursive as fatal (it then frees an uninitialised pointer and crashes the login
program), so every call here must succeed; a failed Remove is only a warning there, and here too.

Prints one line per round: "round N session <path>"; "FAIL <call>: <error>" and exit 1 on a call
0.42 cannot survive.
"""
import os
import sys

import dbus

PATH = "/org/linuxcontainers/cgmanager"
IFACE = "org.linuxcontainers.cgmanager0_0"


def connect(sock):
    conn = dbus.connection.Connection("unix:path=" + sock)
    obj = conn.get_object(None, PATH, introspect=False)
    props = dbus.Interface(obj, "org.freedesktop.DBus.Properties")
    props.Get(IFACE, "api_version")  # 0.42: a failure here fails the session
    return conn, dbus.Interface(obj, IFACE)


def fail(call, err):
    print("FAIL %s: %s" % (call, err), flush=True)
    sys.exit(1)


def controllers_of(cg, wanted):
    listed = [str(c) for c in cg.ListControllers()]
    if wanted == "all":
        return listed
    for c in wanted.split(","):
        # an entry may name comounted controllers ("cpu,cpuacct"): each member is valid
        if not any(c in entry.split(",") or c == entry for entry in listed):
            fail("validate", "invalid controller " + c)
    return wanted.split(",")


def escape(cg, ctrls):
    kept = []
    for c in ctrls:
        try:
            cg.MovePidAbs(c, "/", dbus.Int32(os.getpid()))
            kept.append(c)
        except dbus.DBusException:
            pass
    return ",".join(kept)


def open_session(sock, wanted, pattern, uid, gid):
    conn, cg = connect(sock)
    ctrl = escape(cg, controllers_of(cg, wanted))
    levels = pattern.split("/")  # "user/alice/": the levels user and alice, then the index alone
    for level in [p for p in levels[:-1] if p]:
        existed = cg.Create(ctrl, level)
        cg.MovePid(ctrl, level, dbus.Int32(os.getpid()))
        if existed != 1:
            cg.RemoveOnEmpty(ctrl, "")
    for idx in range(100):
        name = "%s%d" % (levels[-1], idx)
        if cg.Create(ctrl, name) == 1:
            continue
        cg.Chown(ctrl, name, dbus.Int32(uid), dbus.Int32(gid))
        cg.MovePid(ctrl, name, dbus.Int32(os.getpid()))
        cg.RemoveOnEmpty(ctrl, "")
        conn.close()
        return ctrl, "/".join([p for p in levels[:-1] if p] + [name])
    fail("open", "no free index")


def has_tasks(cg, ctrl, path):
    try:
        return len(cg.GetTasksRecursive(ctrl, path)) > 0
    except dbus.DBusException as e:
        fail("GetTasksRecursive(%s, %s)" % (ctrl, path), e.get_dbus_message())


def clear(cg, ctrl, path):
    try:
        cg.Remove(ctrl, path, dbus.Int32(1))
    except dbus.DBusException as e:
        print("warning: Remove(%s) failed: %s" % (path, e.get_dbus_message()), flush=True)


def close_session(sock, wanted, session):
    conn, cg = connect(sock)
    ctrl = escape(cg, controllers_of(cg, wanted))
    if not has_tasks(cg, ctrl, session):
        clear(cg, ctrl, session)
    level = session
    for _ in range(2):  # --prune-depth's default
        level = level.rpartition("/")[0]
        if not level:
            break
        try:
            children = cg.ListChildren(ctrl.split(",")[0], level)
        except dbus.DBusException:
            break
        for child in children:
            if not has_tasks(cg, ctrl, level + "/" + child):
                clear(cg, ctrl, level + "/" + child)
        if not has_tasks(cg, ctrl, level):
            clear(cg, ctrl, level)
    conn.close()


def main():
    sock, wanted, pattern, uid, gid, rounds = sys.argv[1:7]
    for n in range(int(rounds)):
        ctrl, session = open_session(sock, wanted, pattern, int(uid), int(gid))
        shell = os.fork()
        if shell == 0:
            os._exit(0)  # the user's shell: lives in the session, then logs out
        os.waitpid(shell, 0)
        close_session(sock, wanted, session)
        print("round %d session %s" % (n, session), flush=True)


if __name__ == "__main__":
    main()
