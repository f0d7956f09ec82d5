// SPDX-License-Identifier: Apache-2.0
//
// scm_probe: make one *Scm call with the client library and print the answer, so that tests can
// run it as any uid and in any namespaces.
//
// usage: scm_probe SOCKET METHOD [ARG...] [--requestor PID:UID:GID] [--victim PID] [--owner UID:GID]
//                 [';' METHOD [ARG...] ...]
//   METHOD is the plain name (GetPidCgroup, Create, Chown, ...); ARGs are the method's string and
//   number arguments before the socket; by default the requestor is this process. Several calls
//   separated by ';' run in order on one connection; the exit status is that of the last.
// Output: "OK" and then the result, one item per line (keys as "name uid gid perms"), or
//         "ERR <error name or ->" and the message. Exit 0 / 1.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "cgmanager/client.h"

namespace {

using cgm::client::Cred;

Cred parse_cred(const std::string& s) {
    Cred c{};
    if (std::sscanf(s.c_str(), "%d:%u:%u", &c.pid, &c.uid, &c.gid) != 3) {
        std::fprintf(stderr, "bad credential %s\n", s.c_str());
        std::exit(2);
    }
    return c;
}

template <typename T>
int report(const cgm::Result<T>& r, void (*print)(const T&)) {
    if (!r) {
        std::printf("ERR %s\n%s\n", r.error().name.empty() ? "-" : r.error().name.c_str(), r.error().message.c_str());
        return 1;
    }
    std::printf("OK\n");
    print(*r);
    return 0;
}

int report(const cgm::Result<void>& r) {
    if (!r) {
        std::printf("ERR %s\n%s\n", r.error().name.empty() ? "-" : r.error().name.c_str(), r.error().message.c_str());
        return 1;
    }
    std::printf("OK\n");
    return 0;
}

void print_string(const std::string& s) {
    std::printf("%s\n", s.c_str());
}
void print_int(const int32_t& v) {
    std::printf("%d\n", v);
}
void print_ints(const std::vector<int32_t>& v) {
    for (int32_t x : v)
        std::printf("%d\n", x);
}
void print_strings(const std::vector<std::string>& v) {
    for (const auto& x : v)
        std::printf("%s\n", x.c_str());
}
void print_keys(const std::vector<cgm::client::Key>& v) {
    for (const auto& k : v)
        std::printf("%s %u %u %o\n", k.name.c_str(), k.uid, k.gid, k.perms);
}

}  // namespace

int call(cgm::client::Client& c, const std::vector<std::string>& words) {
    std::string method = words[0];
    std::vector<std::string> a;
    Cred requestor = Cred::self();
    pid_t victim = 0;
    Cred owner = Cred::self();
    for (size_t i = 1; i < words.size(); ++i) {
        const std::string& s = words[i];
        if (s == "--requestor" && i + 1 < words.size())
            requestor = parse_cred(words[++i]);
        else if (s == "--victim" && i + 1 < words.size())
            victim = std::atoi(words[++i].c_str());
        else if (s == "--owner" && i + 1 < words.size())
            owner = parse_cred(std::to_string(::getpid()) + ":" + words[++i]);
        else
            a.push_back(s);
    }
    a.resize(4);
    if (method == "GetPidCgroup")
        return report(c.get_pid_cgroup_scm(a[0], requestor, victim), print_string);
    if (method == "GetPidCgroupAbs")
        return report(c.get_pid_cgroup_abs_scm(a[0], requestor, victim), print_string);
    if (method == "Create")
        return report(c.create_scm(a[0], a[1], requestor), print_int);
    if (method == "Chown")
        return report(c.chown_scm(a[0], a[1], requestor, owner));
    if (method == "Chmod")
        return report(
            c.chmod_scm(a[0], a[1], a[2], static_cast<int32_t>(std::strtol(a[3].c_str(), nullptr, 8)), requestor));
    if (method == "MovePid")
        return report(c.move_pid_scm(a[0], a[1], requestor, victim));
    if (method == "MovePidAbs")
        return report(c.move_pid_abs_scm(a[0], a[1], requestor, victim));
    if (method == "GetValue")
        return report(c.get_value_scm(a[0], a[1], a[2], requestor), print_string);
    if (method == "SetValue")
        return report(c.set_value_scm(a[0], a[1], a[2], a[3], requestor));
    if (method == "Remove")
        return report(c.remove_scm(a[0], a[1], a[2] != "0", requestor), print_int);
    if (method == "GetTasks")
        return report(c.get_tasks_scm(a[0], a[1], requestor), print_ints);
    if (method == "GetTasksRecursive")
        return report(c.get_tasks_recursive_scm(a[0], a[1], requestor), print_ints);
    if (method == "ListChildren")
        return report(c.list_children_scm(a[0], a[1], requestor), print_strings);
    if (method == "RemoveOnEmpty")
        return report(c.remove_on_empty_scm(a[0], a[1], requestor));
    if (method == "Prune")
        return report(c.prune_scm(a[0], a[1], requestor));
    if (method == "ListKeys")
        return report(c.list_keys_scm(a[0], a[1], requestor), print_keys);
    std::fprintf(stderr, "unknown method %s\n", method.c_str());
    return 2;
}

int main(int argc, char** argv) {
    if (argc < 3) {
        std::fprintf(stderr,
                     "usage: scm_probe SOCKET METHOD [ARG...] [--requestor P:U:G] [--victim PID] [--owner U:G]\n");
        return 2;
    }
    auto client = cgm::client::Client::connect({argv[1], std::chrono::seconds(10)});
    if (!client) {
        std::printf("ERR -\n%s\n", client.error().message.c_str());
        return 1;
    }
    int status = 0;
    std::vector<std::string> words;
    for (int i = 2; i <= argc; ++i) {
        if (i == argc || std::string(argv[i]) == ";") {
            if (!words.empty()) {
                status = call(**client, words);
                std::fflush(stdout);
            }
            words.clear();
        } else {
            words.emplace_back(argv[i]);
        }
    }
    return status;
}
