#!/usr/bin/python3
# SPDX-License-Identifier: Apache-2.0
"""Run by pam_exec after pam_cgm in a test's PAM stack: records where the login process is.

usage: pam_probe.py LOG [FILE...]

Appends to LOG one line per cgroup hierarchy of this process (a child of the PAM application, so
in the same cgroups):  "<PAM_TYPE> <controllers> <cgroup> <uid>:<gid> [FILE=<contents>...]"
with the cgroup's directory owner and, for each FILE that the cgroup's directory has, its first
line. On cgroup v2 the controllers field is "unified" and cgmanager's hidden leaf is left out of
the cgroup.
"""
import os
import sys

LEAF = "/.cgm_leaf"


def directory(controllers, path):
    if controllers == "":
        unified = "/sys/fs/cgroup/unified"
        base = unified if os.path.isdir(unified) else "/sys/fs/cgroup"
    else:
        base = "/sys/fs/cgroup/" + controllers.replace("name=", "")
    return base + path


def main():
    log, files = sys.argv[1], sys.argv[2:]
    kind = os.environ.get("PAM_TYPE", "?")
    lines = []
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if path.endswith(LEAF):
                path = path[: -len(LEAF)] or "/"
            where = directory(controllers, path)
            try:
                st = os.stat(where)
                owner = "%d:%d" % (st.st_uid, st.st_gid)
            except OSError:
                owner = "?"
            extra = ""
            for name in files:
                try:
                    with open(os.path.join(where, name)) as v:
                        extra += " %s=%s" % (name, v.readline().strip())
                except OSError:
                    pass
            lines.append("%s %s %s %s%s\n" % (kind, controllers or "unified", path, owner, extra))
    with open(log, "a") as out:
        out.writelines(lines)


if __name__ == "__main__":
    main()
