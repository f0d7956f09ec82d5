#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""N client processes, each on its own connection, each making ITER mixed calls (the shape of
the original's cgm-concurrent). Prints "<calls> calls, <errors> errors"; exit 1 on any error.

usage: concurrent_clients.py ADDRESS N ITER
"""
import multiprocessing
import sys

import dbus

PATH, IFACE = "/org/linuxcontainers/cgmanager", "org.linuxcontainers.cgmanager0_0"


def worker(args):
    address, n, iters = args
    conn = dbus.connection.Connection(address)

    def call(method, sig, a):
        return conn.call_blocking(None, PATH, IFACE, method, sig, a, timeout=20)

    errors = []
    mine = "cc%d" % n
    for i in range(iters):
        step = i % 6
        try:
            if step == 0:
                call("Ping", "i", [i])
            elif step == 1:
                call("Create", "ss", ["memory", "%s/x%d" % (mine, i)])
            elif step == 2:
                call("SetValue", "ssss", ["memory", "%s/x%d" % (mine, i - 1), "memory.limit_in_bytes", "1048576"])
            elif step == 3:
                v = call("GetValue", "sss", ["memory", "%s/x%d" % (mine, i - 2), "memory.limit_in_bytes"])
                if str(v) != "1048576":
                    errors.append("read back %s" % v)
            elif step == 4:
                call("ListChildren", "ss", ["memory", mine])
            else:
                r = call("Remove", "ssi", ["memory", "%s/x%d" % (mine, i - 4), 1])
                if int(r) != 1:
                    errors.append("remove answered %s" % r)
        except dbus.DBusException as e:
            errors.append("%s: %s" % (e.get_dbus_name(), e.get_dbus_message()))
    call("Remove", "ssi", ["memory", mine, 1])
    return iters, errors


def main():
    address, n, iters = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    with multiprocessing.Pool(n) as pool:
        results = pool.map(worker, [(address, k, iters) for k in range(n)])
    calls = sum(r[0] for r in results)
    errors = [e for r in results for e in r[1]]
    print("%d calls, %d errors" % (calls, len(errors)))
    for e in errors[:10]:
        print("  " + e)
    sys.exit(1 if errors else 0)


main()
