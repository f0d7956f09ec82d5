#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Compare the daemon's served introspection with dbus/org.linuxcontainers.cgmanager.xml.

usage: introspect_check.py XML ADDRESS
Prints the differences and exits 1 if the served cgmanager interface differs from the XML in any
method, argument (name, type, direction) or property, or if the standard interfaces are missing.
"""
import sys
import xml.etree.ElementTree as ET

import dbus

IFACE = "org.linuxcontainers.cgmanager0_0"


def describe(iface):
    methods = {}
    for m in iface.findall("method"):
        methods[m.get("name")] = [(a.get("name"), a.get("type"), a.get("direction") or "in") for a in m.findall("arg")]
    props = {p.get("name"): (p.get("type"), p.get("access")) for p in iface.findall("property")}
    return methods, props


def main():
    xml_path, address = sys.argv[1], sys.argv[2]
    want_root = ET.parse(xml_path).getroot()
    conn = dbus.connection.Connection(address)
    served = conn.call_blocking(None, "/org/linuxcontainers/cgmanager", "org.freedesktop.DBus.Introspectable",
                                "Introspect", "", [], timeout=10)
    got_root = ET.fromstring(str(served))
    want = describe(want_root.find("interface[@name='%s']" % IFACE))
    got_iface = got_root.find("interface[@name='%s']" % IFACE)
    if got_iface is None:
        print("the served introspection has no %s interface" % IFACE)
        return 1
    got = describe(got_iface)
    problems = []
    for name in sorted(set(want[0]) | set(got[0])):
        if name not in got[0]:
            problems.append("method %s is not served" % name)
        elif name not in want[0]:
            problems.append("method %s is served but not in the XML" % name)
        elif want[0][name] != got[0][name]:
            problems.append("method %s: XML %s, served %s" % (name, want[0][name], got[0][name]))
    if want[1] != got[1]:
        problems.append("properties: XML %s, served %s" % (want[1], got[1]))
    served_ifaces = {i.get("name") for i in got_root.findall("interface")}
    for std in ("org.freedesktop.DBus.Introspectable", "org.freedesktop.DBus.Properties", "org.freedesktop.DBus.Peer"):
        if std not in served_ifaces:
            problems.append("standard interface %s is not served" % std)
    print("\n".join(problems) if problems else "served introspection matches the XML (%d methods)" % len(got[0]))
    return 1 if problems else 0


sys.exit(main())
