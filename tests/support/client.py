#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Call one cgmanager method through a chosen real D-Bus client and print a normalized answer.

usage: client.py KIND ADDRESS METHOD SIGNATURE ARGS_JSON

KIND     python    dbus-python on a private connection (libdbus, no Hello)
         dbus-send dbus-send --peer (libdbus, no Hello)
         busctl    busctl --address (sd-bus; sends Hello first)
         gdbus     gdbus call --address (GDBus; sends Hello first)
ADDRESS  e.g. unix:path=/run/x/sock
METHOD   a cgmanager0_0 method, or "Get:<property>" for Properties.Get
ARGS     a JSON list of the arguments, matching SIGNATURE (only 's' and 'i' are used); the
         string "@self" stands for the client's own pid (python only)

Output on success:  "OK" and a line with the reply's values as a compact JSON list.
Output on failure:  "ERR <error name>" ("ERR ?" where the client does not show it) and the message.
"""
import json
import re
import subprocess
import sys

PATH = "/org/linuxcontainers/cgmanager"
IFACE = "org.linuxcontainers.cgmanager0_0"
DEST = "org.linuxcontainers.cgmanager"


def out_ok(values):
    print("OK")
    print(json.dumps(values, separators=(",", ":")))
    sys.exit(0)


def out_err(name, message):
    print("ERR " + name)
    print(message)
    sys.exit(1)


def plain(v):
    """dbus-python values as plain JSON values."""
    import dbus
    if isinstance(v, (dbus.Array, dbus.Struct, list, tuple)):
        return [plain(x) for x in v]
    if isinstance(v, (dbus.String, dbus.ObjectPath, str)):
        return str(v)
    if isinstance(v, dbus.Boolean):
        return bool(v)
    return int(v)


def via_python(address, method, sig, args):
    import os
    import dbus
    args = [os.getpid() if a == "@self" else a for a in args]
    conn = dbus.connection.Connection(address)
    try:
        if method.startswith("Get:"):
            r = conn.call_blocking(None, PATH, "org.freedesktop.DBus.Properties", "Get", "ss",
                                   [IFACE, method[4:]], timeout=15)
            out_ok([plain(r)])
        r = conn.call_blocking(None, PATH, IFACE, method, sig, args, timeout=15)
    except dbus.DBusException as e:
        out_err(e.get_dbus_name() or "?", e.get_dbus_message() or "")
    if r is None:
        out_ok([])
    out_ok([plain(r)])


def typed(sig, args):
    """dbus-send arguments: string:x int32:5."""
    kinds = {"s": "string", "i": "int32", "u": "uint32"}
    return ["%s:%s" % (kinds[t], a) for t, a in zip(sig, args)]


def parse_dbus_send(text):
    """Parse the body of dbus-send --print-reply output into JSON values."""
    tokens = re.findall(r'"[^"]*"|\[|\]|\{|\}|[^\s\[\]{}]+', text)
    pos = 0

    def value():
        nonlocal pos
        t = tokens[pos]
        pos += 1
        if t == "array":
            assert tokens[pos] == "["
            pos += 1
            items = []
            while tokens[pos] != "]":
                items.append(value())
            pos += 1
            return items
        if t == "struct":
            assert tokens[pos] == "{"
            pos += 1
            items = []
            while tokens[pos] != "}":
                items.append(value())
            pos += 1
            return items
        if t == "string":
            s = tokens[pos]
            pos += 1
            return s[1:-1] if s.startswith('"') else s  # dbus-send prints strings raw, unescaped
        if t in ("int32", "uint32", "int64", "uint64", "int16", "uint16", "byte", "double"):
            n = tokens[pos]
            pos += 1
            return int(n)
        if t == "variant":
            return value()
        raise ValueError("unexpected token %r" % t)

    values = []
    while pos < len(tokens):
        values.append(value())
    return values


def via_dbus_send(address, method, sig, args):
    if method.startswith("Get:"):
        cmd = ["dbus-send", "--peer=" + address, "--print-reply", PATH, "org.freedesktop.DBus.Properties.Get",
               "string:" + IFACE, "string:" + method[4:]]
    else:
        cmd = ["dbus-send", "--peer=" + address, "--print-reply", PATH, IFACE + "." + method] + typed(sig, args)
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=15)
    if p.returncode != 0:
        m = re.match(r"Error (\S+): (.*)", p.stderr.strip(), re.S)
        if m:
            out_err(m.group(1), m.group(2))
        out_err("?", p.stderr.strip())
    lines = p.stdout.split("\n", 1)  # the first line describes the reply
    out_ok(parse_dbus_send(lines[1] if len(lines) > 1 else ""))


def via_busctl(address, method, sig, args):
    if method.startswith("Get:"):
        cmd = ["busctl", "--address=" + address, "--json=short", "get-property", DEST, PATH, IFACE, method[4:]]
    else:
        cmd = ["busctl", "--address=" + address, "--json=short", "call", DEST, PATH, IFACE, method, sig]
        cmd += [str(a) for a in args]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=15)
    if p.returncode != 0:
        msg = p.stderr.strip()
        out_err("?", msg[len("Call failed: "):] if msg.startswith("Call failed: ") else msg)
    if not p.stdout.strip():
        out_ok([])
    data = json.loads(p.stdout)["data"]
    out_ok(data if isinstance(data, list) and not method.startswith("Get:") else [data])


def via_gdbus(address, method, sig, args):
    if method.startswith("Get:"):
        cmd = ["gdbus", "call", "--address", address, "--dest", DEST, "--object-path", PATH, "--method",
               "org.freedesktop.DBus.Properties.Get", IFACE, method[4:]]
    else:
        gargs = [json.dumps(a) if t == "s" else ("int32 %d" % a if t == "i" else str(a)) for t, a in zip(sig, args)]
        cmd = ["gdbus", "call", "--address", address, "--dest", DEST, "--object-path", PATH, "--method",
               IFACE + "." + method] + gargs
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=15)
    if p.returncode != 0:
        m = re.search(r"GDBus\.Error:(\S+?): (.*)", p.stderr.strip(), re.S)
        if m:
            out_err(m.group(1), m.group(2))
        out_err("?", p.stderr.strip())
    # GVariant text; only the forms our tests read back through gdbus are converted.
    text = p.stdout.strip()
    if text == "()":
        out_ok([])
    text = re.sub(r"\b(?:int32|uint32|int64|uint64|objectpath|@\w+) ", "", text)
    text = text.replace("<", "").replace(">", "")
    import ast
    v = ast.literal_eval(text)
    out_ok([list(x) if isinstance(x, tuple) else x for x in v])


def main():
    kind, address, method, sig, args = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4], json.loads(sys.argv[5])
    {"python": via_python, "dbus-send": via_dbus_send, "busctl": via_busctl, "gdbus": via_gdbus}[kind](
        address, method, sig, args)


if __name__ == "__main__":
    main()
