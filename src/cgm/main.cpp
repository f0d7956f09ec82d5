// SPDX-License-Identifier: Apache-2.0
//
// cgm: the command-line client. Same subcommands, arguments, stdout and exit codes as the original
// cgm for every successful call (scripts parse them), with these fixes: numbers are
// validated, usage errors go to stderr, --help exits 0, and arguments are checked before the
// daemon is contacted.
#include <unistd.h>

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "cgmanager/client.h"
#include "cgmanager/names.h"

namespace {

using cgm::Result;
using cgm::client::Client;

const char* kControllerHelp =
    "A controller ('memory', 'name=systemd' or 'systemd', 'unified'), a comma list of them, or 'all' "
    "(where the subcommand acts on several hierarchies).";
const char* kCgroupHelp = "A cgroup path relative to the caller's own cgroup; '' is the caller's own cgroup.";

// Numbers given on the command line: decimal (or octal for modes), in range, nothing else.
bool parse_number(const std::string& text, int base, long long lo, long long hi, int32_t& out) {
    if (text.empty())
        return false;
    errno = 0;
    char* end = nullptr;
    long long v = std::strtoll(text.c_str(), &end, base);
    if (errno != 0 || *end != '\0' || v < lo || v > hi)
        return false;
    out = static_cast<int32_t>(v);
    return true;
}

// Raised for a bad argument: printed to stderr, exit 1, the daemon not contacted.
struct UsageError {
    std::string message;
};

int32_t pid_arg(const std::string& text) {
    int32_t v;
    if (!parse_number(text, 10, 1, INT32_MAX, v))
        throw UsageError{"Bad pid: '" + text + "' (a positive number)"};
    return v;
}

int32_t id_arg(const std::string& text) {
    int32_t v;
    if (!parse_number(text, 10, 0, INT32_MAX - 1, v))
        throw UsageError{"Bad uid or gid: '" + text + "' (a number from 0 to " + std::to_string(INT32_MAX - 1) + ")"};
    return v;
}

int32_t mode_arg(const std::string& text) {
    int32_t v;
    if (!parse_number(text, 8, 0, 07777, v))
        throw UsageError{"Bad mode: '" + text + "' (an octal number from 0 to 7777)"};
    return v;
}

// A failed call: the original's message format, with the daemon's reason.
int fail(const std::string& op, const cgm::Error& e, const std::string& detail = "") {
    std::fprintf(stderr, "call to cgmanager_%s_sync%s failed: %s\n", op.c_str(), detail.c_str(), e.message.c_str());
    return 1;
}

std::string program_name(const char* argv0) {
    std::string name = argv0;
    auto slash = name.rfind('/');
    if (slash != std::string::npos)
        name = name.substr(slash + 1);
    if (name.rfind("lt-", 0) == 0)
        name = name.substr(3);
    return name;
}

}  // namespace

namespace {

int real_main(int argc, char** argv) {
    const std::string prog = program_name(argv[0]);
    CLI::App app{"cgm: manage cgroups through the cgmanager daemon", prog};
    app.require_subcommand(1);
    app.set_version_flag("--version", std::string(CGM_VERSION));
    std::string socket;
    unsigned timeout_s = 10;
    app.add_option("--socket", socket,
                   "The daemon's socket (default: $CGMANAGER_SOCKET, else /sys/fs/cgroup/cgmanager/sock if it "
                   "exists, else /run/cgmanager/sock)");
    app.add_option("--timeout", timeout_s, "Seconds to wait for the daemon")->check(CLI::Range(1u, 3600u));
    app.footer(
        "Controllers: create, chown, chmod, chmodfile, remove, removeonempty, prune, gettasksrecursive,\n"
        "movepid and movepidabs accept a comma list of controllers or 'all'; the others take one\n"
        "hierarchy. Cgroups are relative to the caller's own cgroup ('' is that cgroup). Run\n"
        "'" +
        prog +
        " SUBCOMMAND --help' for each subcommand.\n"
        "Exit status: 0 on success, 1 on any failure (the daemon's reason is printed on stderr).");

    // Each subcommand: its arguments, and the call it makes once arguments are valid.
    std::vector<std::string> args;
    std::function<int(Client&)> action;
    auto sub = [&](const char* name, const char* desc, const char* footer) {
        CLI::App* s = app.add_subcommand(name, desc);
        s->footer(footer);
        return s;
    };
    std::string ctrl, cg, file, value, a3, a4;

    // ---- ping, apiversion, listcontrollers ----
    auto* ping = sub("ping", "Check that the daemon answers", "Calls Ping(0). Prints nothing; exit 0 when it answers.");
    ping->allow_extras();
    ping->callback([&] {
        action = [](Client& c) {
            auto r = c.ping();
            return r ? 0 : fail("ping", r.error());
        };
    });

    auto* apiversion = sub("apiversion", "Print the daemon's API version", "Reads the api_version property (10).");
    apiversion->callback([&] {
        action = [](Client& c) {
            auto r = c.api_version();
            if (!r)
                return fail("get_api_version", r.error());
            std::printf("%d\n", *r);
            return 0;
        };
    });

    auto* listcontrollers = sub("listcontrollers", "List the hierarchies the daemon manages",
                                "One per line: co-mounted controllers joined by ',' (e.g. cpu,cpuacct), "
                                "named hierarchies as name=X, cgroup2 by its controllers or 'unified'.");
    listcontrollers->allow_extras();
    listcontrollers->callback([&] {
        action = [](Client& c) {
            auto r = c.list_controllers();
            if (!r)
                return fail("list_controllers", r.error());
            for (const auto& n : *r)
                std::printf("%s\n", n.c_str());
            return 0;
        };
    });

    // ---- create, remove, chown, chmod, chmodfile ----
    auto* create = sub("create", "Create a cgroup (and any missing parents)",
                       "The new cgroups, and every file in them, belong to the caller. Prints "
                       "'Path existed' when the cgroup was already there.");
    create->add_option("controller", ctrl, kControllerHelp)->required();
    create->add_option("cgroup", cg, kCgroupHelp)->required();
    create->callback([&] {
        action = [&](Client& c) {
            auto r = c.create(ctrl, cg);
            if (!r)
                return fail("create", r.error());
            if (*r == 1)
                std::printf("Path existed\n");
            return 0;
        };
    });

    auto* remove = sub("remove", "Remove a cgroup",
                       "Recursive (the cgroup and every cgroup below it) unless the last argument is 0. "
                       "A cgroup that still has tasks is not removed. Prints 'Path did not exist' when there "
                       "was nothing to remove.");
    remove->add_option("controller", ctrl, kControllerHelp)->required();
    remove->add_option("cgroup", cg, kCgroupHelp)->required();
    remove->add_option("recursive", a3, "1 (default) or 0");
    remove->callback([&] {
        if (!a3.empty() && a3 != "0" && a3 != "1")
            throw UsageError{"Bad recursive flag: '" + a3 + "' (0 or 1)"};
        action = [&](Client& c) {
            bool recursive = a3 != "0";
            auto r = c.remove(ctrl, cg, recursive);
            if (!r)
                return fail("remove", r.error(), recursive ? " (recursive)" : " (non-recursive)");
            if (*r == -1)
                std::printf("Path did not exist\n");
            return 0;
        };
    });

    auto* chown = sub("chown", "Give a cgroup to a user",
                      "The directory and the files that let the owner add tasks and child cgroups "
                      "(tasks and cgroup.procs; on cgroup2 the delegatable files) go to UID:GID; the "
                      "cgroup's own limits stay root's. Only root (also root of a user namespace, through "
                      "a proxy) may do this.");
    chown->add_option("controller", ctrl, kControllerHelp)->required();
    chown->add_option("cgroup", cg, kCgroupHelp)->required();
    chown->add_option("uid", a3, "New owner (a number)")->required();
    chown->add_option("gid", a4, "New group (a number)")->required();
    int32_t uid = 0, gid = 0, mode = 0;
    chown->callback([&] {
        uid = id_arg(a3);
        gid = id_arg(a4);
        action = [&](Client& c) {
            auto r = c.chown(ctrl, cg, uid, gid);
            return r ? 0 : fail("chown", r.error());
        };
    });

    auto* chmod = sub("chmod", "Change the mode of a cgroup directory", "MODE is octal, e.g. 0775.");
    chmod->add_option("controller", ctrl, kControllerHelp)->required();
    chmod->add_option("cgroup", cg, kCgroupHelp)->required();
    chmod->add_option("mode", a3, "Octal mode")->required();
    chmod->callback([&] {
        mode = mode_arg(a3);
        action = [&](Client& c) {
            auto r = c.chmod(ctrl, cg, "", mode);
            return r ? 0 : fail("chmod", r.error());
        };
    });

    auto* chmodfile = sub("chmodfile", "Change the mode of a file of a cgroup",
                          "FILE is a file name in the cgroup (no '/'); MODE is octal, e.g. 0664.");
    chmodfile->add_option("controller", ctrl, kControllerHelp)->required();
    chmodfile->add_option("cgroup", cg, kCgroupHelp)->required();
    chmodfile->add_option("file", file, "File name")->required();
    chmodfile->add_option("mode", a3, "Octal mode")->required();
    chmodfile->callback([&] {
        mode = mode_arg(a3);
        action = [&](Client& c) {
            auto r = c.chmod(ctrl, cg, file, mode);
            return r ? 0 : fail("chmod", r.error());
        };
    });

    // ---- movepid, movepidabs, getpidcgroup(abs) ----
    int32_t pid = 0;
    auto* movepid = sub("movepid", "Move a process into a cgroup",
                        "The cgroup is relative to the caller's own (no leading '/'; see movepidabs). "
                        "The caller must own the process, or be root.");
    movepid->add_option("controller", ctrl, kControllerHelp)->required();
    movepid->add_option("cgroup", cg, kCgroupHelp)->required();
    movepid->add_option("pid", a3, "Process id")->required();
    movepid->callback([&] {
        pid = pid_arg(a3);
        action = [&](Client& c) {
            auto r = c.move_pid(ctrl, cg, pid);
            return r ? 0 : fail("move_pid_main", r.error());
        };
    });

    auto* movepidabs = sub("movepidabs", "Move a process into a cgroup given from the top",
                           "The cgroup is taken from the hierarchy root (or, inside a container, from the "
                           "container's cgroup), so '/' escapes to the top.");
    movepidabs->add_option("controller", ctrl, kControllerHelp)->required();
    movepidabs->add_option("cgroup", cg, "A cgroup path from the top")->required();
    movepidabs->add_option("pid", a3, "Process id")->required();
    movepidabs->callback([&] {
        pid = pid_arg(a3);
        action = [&](Client& c) {
            auto r = c.move_pid_abs(ctrl, cg, pid);
            return r ? 0 : fail("move_pid_main", r.error());
        };
    });

    auto* getpidcgroup = sub("getpidcgroup", "Print a process's cgroup relative to the caller's",
                             "Prints '/' when it is the caller's own cgroup, else a path without a leading '/'.");
    getpidcgroup->add_option("controller", ctrl, "A controller")->required();
    getpidcgroup->add_option("pid", a3, "Process id")->required();
    getpidcgroup->callback([&] {
        pid = pid_arg(a3);
        action = [&](Client& c) {
            auto r = c.get_pid_cgroup(ctrl, pid);
            if (!r)
                return fail("get_pid_cgroup", r.error());
            std::printf("%s\n", r->c_str());
            return 0;
        };
    });

    auto* getpidcgroupabs = sub("getpidcgroupabs", "Print a process's cgroup from the top",
                                "Prints the path with a leading '/' (from the container's cgroup, inside one).");
    getpidcgroupabs->add_option("controller", ctrl, "A controller")->required();
    getpidcgroupabs->add_option("pid", a3, "Process id")->required();
    getpidcgroupabs->callback([&] {
        pid = pid_arg(a3);
        action = [&](Client& c) {
            auto r = c.get_pid_cgroup_abs(ctrl, pid);
            if (!r)
                return fail("get_pid_cgroup_abs", r.error());
            std::printf("%s\n", r->c_str());
            return 0;
        };
    });

    // ---- getvalue, setvalue ----
    auto* getvalue = sub("getvalue", "Print the value of a cgroup file",
                         "FILE is a file name in the cgroup, e.g. memory.limit_in_bytes. The cgroup may also be "
                         "given from the top with a leading '/', as long as it lies within the caller's.");
    getvalue->add_option("controller", ctrl, "A controller")->required();
    getvalue->add_option("cgroup", cg, kCgroupHelp)->required();
    getvalue->add_option("file", file, "File name")->required();
    getvalue->callback([&] {
        action = [&](Client& c) {
            auto r = c.get_value(ctrl, cg, file);
            if (!r)
                return fail("get_value", r.error());
            std::printf("%s\n", r->c_str());
            return 0;
        };
    });

    auto* setvalue = sub("setvalue", "Write a value to a cgroup file",
                         "A newline is appended when the value has none. tasks, cgroup.procs and the other files "
                         "with their own subcommands cannot be written this way.");
    setvalue->add_option("controller", ctrl, "A controller")->required();
    setvalue->add_option("cgroup", cg, kCgroupHelp)->required();
    setvalue->add_option("file", file, "File name")->required();
    setvalue->add_option("value", value, "Value")->required();
    setvalue->callback([&] {
        action = [&](Client& c) {
            auto r = c.set_value(ctrl, cg, file, value);
            return r ? 0 : fail("set_value", r.error());
        };
    });

    // ---- lists and cleanup, with an optional cgroup ----
    auto optional_cg = [&](CLI::App* s, const char* what) {
        s->add_option("controller", ctrl, what)->required();
        s->add_option("cgroup", cg, "A cgroup path (default: the caller's own cgroup)");
    };
    auto print_pids = [](const Result<std::vector<int32_t>>& r, const char* op) {
        if (!r)
            return fail(op, r.error());
        for (int32_t p : *r)
            std::printf("%d\n", p);
        return 0;
    };
    auto* gettasks = sub("gettasks", "List the processes in a cgroup", "One pid per line, ascending (v1: thread ids).");
    optional_cg(gettasks, "A controller");
    gettasks->callback([&] { action = [&](Client& c) { return print_pids(c.get_tasks(ctrl, cg), "get_tasks"); }; });

    auto* gettasksrec = sub("gettasksrecursive", "List the processes in a cgroup and below it",
                            "One pid per line, ascending, over every listed hierarchy.");
    optional_cg(gettasksrec, kControllerHelp);
    gettasksrec->callback([&] {
        action = [&](Client& c) { return print_pids(c.get_tasks_recursive(ctrl, cg), "get_tasks_recursive"); };
    });

    auto* listchildren = sub("listchildren", "List the child cgroups of a cgroup", "One name per line.");
    optional_cg(listchildren, "A controller");
    listchildren->callback([&] {
        action = [&](Client& c) {
            auto r = c.list_children(ctrl, cg);
            if (!r)
                return fail("list_children", r.error());
            for (const auto& n : *r)
                std::printf("%s\n", n.c_str());
            return 0;
        };
    });

    auto* listkeys = sub("listkeys", "List the files of a cgroup with owners and modes",
                         "One line per file: 'NAME UID GID MODE', the ids as the caller's user namespace sees "
                         "them (4294967295 when unmapped), MODE in octal with the file type (e.g. 100644).");
    optional_cg(listkeys, "A controller");
    listkeys->callback([&] {
        action = [&](Client& c) {
            auto r = c.list_keys(ctrl, cg);
            if (!r)
                return fail("list_keys", r.error());
            for (const auto& k : *r)
                std::printf("%s %u %u %o\n", k.name.c_str(), k.uid, k.gid, k.perms);
            return 0;
        };
    });

    auto* removeonempty = sub("removeonempty", "Have a cgroup removed once it is empty",
                              "The cgroup goes when its last task leaves and its last child is removed.");
    removeonempty->add_option("controller", ctrl, kControllerHelp)->required();
    removeonempty->add_option("cgroup", cg, kCgroupHelp)->required();
    removeonempty->callback([&] {
        action = [&](Client& c) {
            auto r = c.remove_on_empty(ctrl, cg);
            return r ? 0 : fail("remove_on_empty", r.error());
        };
    });

    auto* prune = sub("prune", "Remove a cgroup tree as it empties",
                      "Removes every empty cgroup at and below the cgroup now, bottom-up, and has the rest "
                      "removed once empty.");
    optional_cg(prune, kControllerHelp);
    prune->callback([&] {
        action = [&](Client& c) {
            auto r = c.prune(ctrl, cg);
            return r ? 0 : fail("prune", r.error());
        };
    });

    try {
        if (argc < 2) {
            std::fputs(app.help().c_str(), stderr);
            return 1;
        }
        // The first word that is not an option names the subcommand.
        for (int i = 1; i < argc; ++i) {
            std::string a = argv[i];
            if (a == "--socket" || a == "--timeout") {
                ++i;
                continue;
            }
            if (!a.empty() && a[0] == '-')
                continue;
            bool known = false;
            for (const auto* s : app.get_subcommands({}))
                known = known || s->get_name() == a;
            if (!known) {
                std::fprintf(stderr, "%s: unknown command '%s'\nRun '%s --help' for usage.\n", prog.c_str(), a.c_str(),
                             prog.c_str());
                return 1;
            }
            break;
        }
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);  // help on stdout, exit 0
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForVersion& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        std::fprintf(stderr, "%s: %s\nRun '%s --help' for usage.\n", prog.c_str(), e.what(), prog.c_str());
        return 1;
    } catch (const UsageError& e) {
        std::fprintf(stderr, "%s: %s\n", prog.c_str(), e.message.c_str());
        return 1;
    }
    if (!action) {
        std::fputs(app.help().c_str(), stderr);
        return 1;
    }
    cgm::client::Options options;
    options.socket = socket;
    options.timeout = std::chrono::seconds(timeout_s);
    auto client = Client::connect(options);
    if (!client) {
        std::fprintf(stderr, "Failed opening dbus connection: %s\n", client.error().message.c_str());
        return 1;
    }
    return action(**client);
}

}  // namespace

int main(int argc, char** argv) {
    try {
        return real_main(argc, argv);
    } catch (const std::exception& e) {
        std::fprintf(stderr, "%s: %s\n", "cgm", e.what());
        return 1;
    }
}
