// SPDX-License-Identifier: Apache-2.0
//
// cgm-sandbox: run a command (default: a shell) inside a throw-away cgroup sandbox (see
// sandbox.h), so the daemon and its clients can be tried without touching the host's cgroups.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "sandbox.h"

namespace {

void usage(FILE* out) {
    std::fprintf(out,
                 "Usage: cgm-sandbox [-v] [--] [COMMAND [ARG...]]\n"
                 "\n"
                 "Run COMMAND (default: $SHELL, or /bin/sh) as root in a cgroup sandbox: a fresh cgroup\n"
                 "cgmtest-<pid> under the caller's own cgroup in every mounted hierarchy, entered through\n"
                 "new cgroup, mount and pid namespaces, with /proc, /sys/fs/cgroup and /run mounted anew.\n"
                 "Inside, every hierarchy's root is the sandbox. When COMMAND exits, every process it\n"
                 "left is killed, the sandbox cgroups are removed, and the host's cgroup tree is checked\n"
                 "to be exactly as before.\n"
                 "\n"
                 "  -v, --verbose   describe each step on stderr\n"
                 "  -h, --help      show this help\n"
                 "\n"
                 "Exit status: COMMAND's (128+N if killed by signal N), or 125 if the sandbox could not\n"
                 "be set up or cleaned up.\n");
}

}  // namespace

int main(int argc, char** argv) {
    cgm::sandbox::Options opt;
    int i = 1;
    for (; i < argc; ++i) {
        std::string a = argv[i];
        if (a == "-v" || a == "--verbose") {
            opt.verbose = true;
        } else if (a == "-h" || a == "--help") {
            usage(stdout);
            return 0;
        } else if (a == "--") {
            ++i;
            break;
        } else if (!a.empty() && a[0] == '-') {
            std::fprintf(stderr, "cgm-sandbox: unknown option %s\n", a.c_str());
            usage(stderr);
            return 2;
        } else {
            break;
        }
    }
    for (; i < argc; ++i)
        opt.command.emplace_back(argv[i]);
    if (opt.command.empty()) {
        const char* shell = std::getenv("SHELL");
        opt.command.emplace_back(shell && *shell ? shell : "/bin/sh");
    }
    return cgm::sandbox::run(opt);
}
