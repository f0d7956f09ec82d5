// SPDX-License-Identifier: Apache-2.0
//
// cgm-release-agent: the cgroup v1 release agent. The kernel runs it, as root in the initial
// namespaces, when a cgroup marked notify_on_release has emptied, with the cgroup's path (from the
// hierarchy root) as its only argument. The hierarchy is in the name it was run by: the daemon
// installs one link per hierarchy, <rundir>/agents/cgm-release-agent.<name>. It asks the daemon to
// remove the cgroup (recursively: a child that empties later is handled the same way).
//
// Usage: cgm-release-agent.<controller> /path/of/the/cgroup
// Exit status: 0 when removed or already gone, 1 on any failure (reported on stderr and syslog),
// 2 on a usage error.
#include <syslog.h>

#include <cstdio>
#include <string>

#include "cgmanager/client.h"

namespace {

int report(int status, const std::string& message) {
    std::fprintf(stderr, "cgm-release-agent: %s\n", message.c_str());
    ::openlog("cgm-release-agent", LOG_PID, LOG_DAEMON);
    ::syslog(status == 0 ? LOG_INFO : LOG_ERR, "%s", message.c_str());
    ::closelog();
    return status;
}

}  // namespace

int main(int argc, char** argv) {
    std::string self = argv[0] ? argv[0] : "";
    auto slash = self.rfind('/');
    std::string name = slash == std::string::npos ? self : self.substr(slash + 1);
    auto dot = name.find('.');
    if (dot == std::string::npos || dot + 1 == name.size())
        return report(2, "cannot tell the hierarchy from the name '" + name +
                             "': run through a cgm-release-agent.<controller> link");
    if (argc != 2 || argv[1][0] != '/')
        return report(2, "usage: " + name + " /path/of/the/cgroup (as the kernel runs it)");
    const std::string controller = name.substr(dot + 1);
    const std::string cgroup = argv[1];
    auto client = cgm::client::Client::connect();
    if (!client)
        return report(1, client.error().message);
    auto r = (*client)->remove(controller, cgroup, true);
    if (!r)
        return report(1, "removing " + controller + ":" + cgroup + ": " + r.error().message);
    return 0;
}
