// SPDX-License-Identifier: Apache-2.0
//
// cgm-release-agent: the cgroup v1 release agent. The kernel runs it, as root in the initial
// namespaces, when a cgroup marked notify_on_release has emptied, with the cgroup's path (from the
// hierarchy root) as its only argument. The hierarchy is in the name it was run by: the daemon
// installs one link per hierarchy, <rundir>/agents/cgm-release-agent.<name>.
//
// It asks the daemon to remove that one cgroup (not recursively: the kernel releases only a cgroup
// with no tasks and no child cgroups, and a child made since is not the agent's to remove; when that
// child goes, the kernel runs the agent for the parent again). And it asks with the authority of
// whoever could have set notify_on_release on that cgroup directly on cgroupfs: the owner of that
// file. Root's file: as root (the daemon checked whoever asked it to mark the cgroup). Anyone else's:
// as that uid and gid, from a child process, so the daemon applies the kernel's rule (write access
// on the directory the cgroup is in) to them: an owner who may not remove its cgroup itself cannot
// have it removed by setting the flag. The daemon resolves the path from the caller's cgroup, which
// for a kernel-run agent is the hierarchy root.
//
// Usage: cgm-release-agent.<controller> /path/of/the/cgroup
// Exit status: 0 when removed or already gone, 1 on any failure or refusal (reported on stderr and
// syslog), 2 on a usage error.
#include <fcntl.h>
#include <grp.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
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

// Remove the cgroup as the daemon's client, non-recursively; "" when removed or already gone, else
// the reason.
std::string remove_once(const std::string& controller, const std::string& cgroup) {
    auto client = cgm::client::Client::connect();
    if (!client)
        return client.error().message;
    auto r = (*client)->remove(controller, cgroup, false);
    if (!r)
        return r.error().message;
    return "";
}

// The same from a child process that is uid:gid (no supplementary groups); the reason comes back
// through a pipe.
std::string remove_as(uid_t uid, gid_t gid, const std::string& controller, const std::string& cgroup) {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) < 0)
        return std::string("pipe: ") + std::strerror(errno);
    pid_t pid = ::fork();
    if (pid < 0) {
        ::close(fds[0]);
        ::close(fds[1]);
        return std::string("fork: ") + std::strerror(errno);
    }
    if (pid == 0) {
        ::close(fds[0]);
        std::string why;
        if (::setgroups(0, nullptr) < 0 || ::setresgid(gid, gid, gid) < 0 || ::setresuid(uid, uid, uid) < 0)
            why = std::string("cannot become ") + std::to_string(uid) + ":" + std::to_string(gid) + ": " +
                  std::strerror(errno);
        else
            why = remove_once(controller, cgroup);
        (void)!::write(fds[1], why.data(), why.size());
        ::_exit(why.empty() ? 0 : 1);
    }
    ::close(fds[1]);
    std::string why;
    char buf[1024];
    ssize_t n;
    while ((n = ::read(fds[0], buf, sizeof buf)) > 0 || (n < 0 && errno == EINTR))
        if (n > 0)
            why.append(buf, static_cast<size_t>(n));
    ::close(fds[0]);
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    if (why.empty() && !(WIFEXITED(status) && WEXITSTATUS(status) == 0))
        why = "the helper process as uid " + std::to_string(uid) + " failed";
    return why;
}

int real_main(int argc, char** argv) {
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
    // Whose the flag is: the owner of the cgroup's notify_on_release file.
    uid_t uid = 0;
    gid_t gid = 0;
    {
        auto client = cgm::client::Client::connect();
        if (!client)
            return report(1, client.error().message);
        auto keys = (*client)->list_keys(controller, cgroup);
        if (!keys) {
            if (keys.error().kind == cgm::ErrorKind::NotFound)
                return 0;  // already gone
            return report(1, "looking at " + controller + ":" + cgroup + ": " + keys.error().message);
        }
        for (const auto& k : *keys)
            if (k.name == "notify_on_release") {
                uid = k.uid;
                gid = k.gid;
            }
    }  // the connection is closed before any fork
    std::string why = uid == 0 ? remove_once(controller, cgroup) : remove_as(uid, gid, controller, cgroup);
    if (!why.empty())
        return report(1, "removing " + controller + ":" + cgroup +
                             (uid == 0 ? std::string()
                                       : " as uid " + std::to_string(uid) + " (the owner of its notify_on_release)") +
                             ": " + why);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return real_main(argc, argv);
    } catch (const std::exception& e) {
        return report(1, e.what());
    }
}
