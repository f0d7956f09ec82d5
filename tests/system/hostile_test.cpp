// SPDX-License-Identifier: Apache-2.0
//
// Hostile input (docs/security.md): every category, for every method it applies to, plain and
// Scm, against the real daemon. Each refusal must carry the exact error name and a message that
// names the problem, and leave the cgroup trees byte-for-byte as they were (directories, owners,
// modes, the content of every writable file); the daemon must go on serving everyone.
//
// The caller of the plain calls is a process of uid 1000 living in /hostile/u1000 (which it owns),
// whose connection the test drives (Child::connected). The Scm calls come from the test process
// (root: a proxy) naming that process as the requestor.
#include <fcntl.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <optional>
#include <string>
#include <vector>

#include "cgmanager/client.h"
#include "daemon_fixture.h"
#include "support/raw_bus.h"
#include "support/tree_snapshot.h"

namespace cgm::test {
namespace {

using Arg = RawBus::Arg;
using Args = std::vector<Arg>;

const std::string kErr = "org.freedesktop.DBus.Error.";

// The hierarchies every case runs on: a v1 controller, a named v1 hierarchy, cgroup2.
struct Hier {
    const char* controller;  // as callers name it
    const char* dir;         // under /sys/fs/cgroup
    const char* key;         // a file every cgroup of it has, which its owner may read and write
    const char* value;       // a value that key accepts
};
// On a pure v2 host there is one hierarchy, which every name means: its memory controller.
const std::vector<Hier>& hiers() {
    static const std::vector<Hier> all = pure_v2() ? std::vector<Hier>{{"memory", "unified", "memory.high", "1048576"}}
                                                   : std::vector<Hier>{
                                                         {"memory", "memory", "memory.soft_limit_in_bytes", "1048576"},
                                                         {"name=systemd", "systemd", "cgroup.clone_children", "1"},
                                                         {"unified", "unified", "cgroup.max.depth", "5"},
                                                     };
    return all;
}
// The memory hierarchy's case (the first), where the planted mounts go.
const Hier& mem() {
    return hiers().front();
}
// A file every cgroup has, for checking that the daemon still serves.
const char* any_key() {
    return pure_v2() ? "cgroup.max.depth" : "cgroup.clone_children";
}

// The methods that take a cgroup, and what else they take.
enum class Shape { Cg, CgKey, CgKeyValue, CgFileMode, CgOwner, CgPid, CgRecursive };
struct Method {
    const char* name;
    Shape shape;
};
const Method kCgMethods[] = {
    {"Create", Shape::Cg},
    {"Chown", Shape::CgOwner},
    {"Chmod", Shape::CgFileMode},
    {"MovePid", Shape::CgPid},
    {"MovePidAbs", Shape::CgPid},
    {"GetValue", Shape::CgKey},
    {"SetValue", Shape::CgKeyValue},
    {"Remove", Shape::CgRecursive},
    {"GetTasks", Shape::Cg},
    {"GetTasksRecursive", Shape::Cg},
    {"ListChildren", Shape::Cg},
    {"RemoveOnEmpty", Shape::Cg},
    {"Prune", Shape::Cg},
    {"ListKeys", Shape::Cg},
};

class HostileTest : public DaemonTest {
protected:
    void SetUp() override {
        DaemonTest::SetUp();
        if (IsSkipped())
            return;
        start_daemon({});
    }

    void start_daemon(Daemon::Config config) {
        start(std::move(config));
        root_ = RawBus::connect(daemon().socket());
        // The tree: /hostile/{u1000 (owned by 1000), u1000/child, u10000 (also 1000's: a
        // sibling whose name extends u1000), other (root's)} in every hierarchy.
        for (const auto& h : hiers()) {
            for (const char* cg : {"hostile/u1000/child", "hostile/u10000", "hostile/other"})
                ASSERT_TRUE(root_->call("Create", "ss", h.controller, cg).ok) << h.controller << " " << cg;
            for (const char* cg : {"hostile/u1000", "hostile/u10000"})
                ASSERT_TRUE(root_->call("Chown", "ssii", h.controller, cg, 1000, 1000).ok);
            ASSERT_TRUE(root_->call("Chown", "ssii", h.controller, "hostile/u1000/child", 1000, 1000).ok);
        }
        std::vector<std::string> mine, other, sibling;
        for (const auto& h : hiers()) {
            mine.push_back(fs(h.dir, "hostile/u1000"));
            other.push_back(fs(h.dir, "hostile/other"));
            sibling.push_back(fs(h.dir, "hostile/u10000"));
        }
        int fd = -1;
        user_ = &keep(Child::connected(As{1000, 1000, "", false, false, mine}, daemon().socket(), &fd));
        user_bus_ = RawBus::adopt(fd);
        std::vector<std::string> child_dirs;
        for (const auto& h : hiers())
            child_dirs.push_back(fs(h.dir, "hostile/u1000/child"));
        own_victim_ = &keep(Child::spawn(As{1000, 1000, "", false, false, child_dirs}));
        foreign_victim_ = &keep(Child::spawn(As{1001, 1001, "", false, false, other}));
        sibling_victim_ = &keep(Child::spawn(As{1000, 1000, "", false, false, sibling}));
        zombie_ = &keep(Child::spawn(As{1000, 1000, "", true, false}));
        fd = -1;
        proxy_ = &keep(Child::connected(As{0, 0, "", false, false, mine}, daemon().socket(), &fd));
        proxy_bus_ = RawBus::adopt(fd);
        auto c = client::Client::connect(client::Options{daemon().socket(), std::chrono::milliseconds(10000)});
        ASSERT_TRUE(c.ok()) << c.error().message;
        host_client_ = std::move(c).value();
        baseline_ = snapshot();
    }

    static TreeSnapshot snapshot() {
        std::vector<std::string> roots;
        for (const char* h :
             {"memory", "systemd", "unified", "pids", "freezer", "cpuset", "devices", "blkio", "cpu", "cpuacct"}) {
            struct stat st {};
            if (::stat(fs(h).c_str(), &st) == 0)
                roots.push_back(fs(h));
        }
        return snapshot_tree(roots);
    }

    // The arguments of `m` on hierarchy `h`, with `cg` as the cgroup and, where the method has
    // one, `key` as the key or file.
    Args args_for(const Method& m, const Hier& h, const std::string& cg,
                  const std::optional<std::string>& key = std::nullopt) const {
        std::string k = key ? *key : h.key;
        switch (m.shape) {
        case Shape::Cg: return {h.controller, cg};
        case Shape::CgKey: return {h.controller, cg, k};
        case Shape::CgKeyValue: return {h.controller, cg, k, std::string(h.value)};
        case Shape::CgFileMode: return {h.controller, cg, k, int32_t{0644}};
        case Shape::CgOwner: return {h.controller, cg, int32_t{1000}, int32_t{1000}};
        case Shape::CgPid: return {h.controller, cg, int32_t{user_->pid()}};
        case Shape::CgRecursive: return {h.controller, cg, int32_t{1}};
        }
        return {};
    }

    // The Scm form of a call with these (plain) arguments, through the proxy (root, living in
    // /hostile/u1000 as a container's cgproxy would), the user as the requestor; a pid argument
    // becomes the victim credential, Chown's uid and gid the owner credential.
    RawBus::ScmOutcome scm(const std::string& method, const Args& a) {
        const RawBus::Cred r{user_->pid(), 1000, 1000};
        auto n = [&](size_t i) { return std::get<int32_t>(a.at(i)); };
        if (method == "MovePid" || method == "MovePidAbs") {
            RawBus::Cred v{n(2), 0, 0};
            return proxy_bus_->scm(method + "Scm", {a[0], a[1]}, r, &v);
        }
        if (method == "GetPidCgroup" || method == "GetPidCgroupAbs") {
            RawBus::Cred v{n(1), 0, 0};
            return proxy_bus_->scm(method + "Scm", {a[0]}, r, &v);
        }
        if (method == "Chown") {
            RawBus::Cred v{user_->pid(), static_cast<uid_t>(n(2)), static_cast<gid_t>(n(3))};
            return proxy_bus_->scm(method + "Scm", {a[0], a[1]}, r, &v);
        }
        return proxy_bus_->scm(method + "Scm", a, r);
    }

    static std::string show(const Args& a) {
        std::string out = "(";
        for (const auto& x : a) {
            if (out.size() > 1)
                out += ", ";
            if (const auto* s = std::get_if<std::string>(&x))
                out += "'" + (s->size() > 40 ? s->substr(0, 40) + "...(" + std::to_string(s->size()) + " bytes)" : *s) +
                       "'";
            else
                out += std::to_string(std::get<int32_t>(x));
        }
        return out + ")";
    }

    // The tree must be as it was; a difference is reported and becomes the new baseline, so that
    // one failure does not hide behind or cascade into the next case.
    void expect_unchanged(const std::string& what) {
        auto now = snapshot();
        auto d = diff(baseline_, now);
        EXPECT_EQ(d, "") << what << " changed the tree";
        if (!d.empty())
            baseline_ = std::move(now);
    }

    // A plain call from `bus` that must fail with `name` and a message containing `needle`.
    void plain_refused(RawBus& bus, const std::string& method, const Args& a, const std::string& name,
                       const std::string& needle) {
        const std::string what = method + show(a);
        auto r = bus.call(method, a);
        EXPECT_FALSE(r.ok) << what << " succeeded";
        EXPECT_EQ(r.error_name, kErr + name) << what << ": " << r.message;
        EXPECT_NE(r.message.find(needle), std::string::npos)
            << what << ": '" << r.message << "' lacks '" << needle << "'";
        expect_unchanged(what);
    }

    // The Scm form, through the proxy, requestor the user.
    void scm_refused(const std::string& method, const Args& a, const std::string& name, const std::string& needle) {
        const std::string what = method + "Scm" + show(a);
        auto r = scm(method, a);
        EXPECT_FALSE(r.ok) << what << " succeeded";
        EXPECT_EQ(r.error_name, kErr + name) << what << ": " << r.message;
        EXPECT_NE(r.message.find(needle), std::string::npos)
            << what << ": '" << r.message << "' lacks '" << needle << "'";
        expect_unchanged(what);
    }

    void refused_both(const std::string& method, const Args& a, const std::string& name, const std::string& needle) {
        plain_refused(*user_bus_, method, a, name, needle);
        scm_refused(method, a, name, needle);
    }

    // Everyone is still served: the user's own connection, a fresh one, and the proxy.
    void still_serving() {
        std::string v;
        auto r = user_bus_->call("GetValue", "sss", "memory", "", any_key());
        EXPECT_TRUE(r.ok) << r.describe();
        auto fresh = RawBus::connect(daemon().socket());
        EXPECT_TRUE(fresh->call("Ping", "i", 0).ok);
        RawBus::Cred req{user_->pid(), 1000, 1000};
        auto viaproxy =
            proxy_bus_->scm("GetValueScm", {std::string("memory"), std::string(""), std::string(any_key())}, req);
        EXPECT_TRUE(viaproxy.ok) << viaproxy.describe();
        auto viahost = host_client_->get_value_scm("memory", "", any_key(), client::Cred{user_->pid(), 1000, 1000});
        EXPECT_TRUE(viahost.ok()) << viahost.error().message;
        EXPECT_EQ(diff(baseline_, snapshot()), "");
    }

    std::unique_ptr<RawBus> root_;
    std::unique_ptr<RawBus> user_bus_;
    std::unique_ptr<RawBus> proxy_bus_;
    std::unique_ptr<client::Client> host_client_;
    Child* user_ = nullptr;
    Child* proxy_ = nullptr;
    Child* own_victim_ = nullptr;
    Child* foreign_victim_ = nullptr;
    Child* sibling_victim_ = nullptr;
    Child* zombie_ = nullptr;
    TreeSnapshot baseline_;
};

// ---- paths ----------------------------------------------------------------------------------

struct BadPath {
    std::string path;
    const char* error;
    const char* needle;
};

std::vector<BadPath> bad_paths() {
    return {
        {"..", "InvalidArgs", "'..' is not allowed"},
        {"../u10000", "InvalidArgs", "'..' is not allowed"},
        {"child/../..", "InvalidArgs", "'..' is not allowed"},
        {".", "InvalidArgs", "'.' is not allowed"},
        {"child/./x", "InvalidArgs", "'.' is not allowed"},
        {"child//x", "InvalidArgs", "empty path component"},
        {"//child", "InvalidArgs", "empty path component"},
        {"chi\nld", "InvalidArgs", "newline"},
        {".cgm_leaf", "InvalidArgs", "reserved name"},
        {std::string(255, 'c') + "x", "LimitsExceeded", "longer than 255 bytes"},
        {"child/" + std::string(4091, 'p'), "LimitsExceeded", "longer than 4096 bytes"},
    };
}

TEST_F(HostileTest, BadPathsAreRefusedByEveryMethodWithNothingChanged) {
    for (const auto& h : hiers())
        for (const auto& m : kCgMethods)
            for (const auto& p : bad_paths())
                refused_both(m.name, args_for(m, h, p.path), p.error, p.needle);
    still_serving();
}

// MovePid names a cgroup relative to the caller's; an absolute one is refused, not reinterpreted.
TEST_F(HostileTest, AbsolutePathWhereRelativeIsMeant) {
    for (const auto& h : hiers())
        refused_both("MovePid", {h.controller, std::string("/hostile/u1000/child"), int32_t{user_->pid()}},
                     "InvalidArgs", "starts with '/'");
    // Remove "" would remove the caller's own cgroup.
    for (const auto& h : hiers())
        refused_both("Remove", {h.controller, std::string(""), int32_t{1}}, "InvalidArgs", "caller's own cgroup");
    still_serving();
}

// ---- keys -----------------------------------------------------------------------------------

TEST_F(HostileTest, KeysThatAreNotOneFileNameOfTheCgroup) {
    const std::vector<BadPath> keys = {
        {"../memory.soft_limit_in_bytes", "InvalidArgs", "single file name"},
        {"../../hostile/other/cgroup.clone_children", "InvalidArgs", "single file name"},
        {"child/cgroup.clone_children", "InvalidArgs", "single file name"},
        {"/etc/passwd", "InvalidArgs", "single file name"},
        {"a\\b", "InvalidArgs", "single file name"},
        {"", "InvalidArgs", "empty key"},
        {".", "InvalidArgs", "not a file name"},
        {"..", "InvalidArgs", "not a file name"},
        {".cgm_leaf", "InvalidArgs", "not a file name"},
        {"cgroup.clone\nchildren", "InvalidArgs", "newline"},
        {std::string(256, 'k'), "LimitsExceeded", "longer than 255 bytes"},
    };
    for (const auto& h : hiers())
        for (const auto& m : kCgMethods) {
            if (m.shape != Shape::CgKey && m.shape != Shape::CgKeyValue && m.shape != Shape::CgFileMode)
                continue;
            for (const auto& k : keys) {
                // Chmod's file may be "" (the directory itself).
                if (m.shape == Shape::CgFileMode && k.path.empty())
                    continue;
                refused_both(m.name, args_for(m, h, "", k.path), k.error, k.needle);
            }
        }
    still_serving();
}

// The files with dedicated methods, or that would run a program as root, are never SetValue's:
// not even the owner's, not even host root's.
TEST_F(HostileTest, ProtectedFilesAreNotWritableWithSetValue) {
    const std::vector<std::pair<const char*, const char*>> v1 = {
        {"tasks", "use MovePid"},
        {"cgroup.procs", "use MovePid"},
        {"notify_on_release", "use RemoveOnEmpty"},
        {"release_agent", "cannot be written with SetValue"},
        {"cgroup.event_control", "cannot be written with SetValue"},
    };
    for (const auto& h : hiers()) {
        if (std::string(h.dir) == "unified")
            continue;
        for (const auto& [key, needle] : v1) {
            Args a = {h.controller, std::string(""), std::string(key), std::string("1")};
            refused_both("SetValue", a, "AccessDenied", needle);
            plain_refused(*root_, "SetValue",
                          {h.controller, std::string("hostile/u1000"), std::string(key), std::string("1")},
                          "AccessDenied", needle);
        }
    }
    for (const auto& [key, needle] :
         std::vector<std::pair<const char*, const char*>>{{"cgroup.procs", "use MovePid"},
                                                          {"cgroup.threads", "use MovePid"},
                                                          {"cgroup.kill", "only be written by host root"}})
        refused_both("SetValue", {std::string("unified"), std::string(""), std::string(key), std::string("1")},
                     "AccessDenied", needle);
    still_serving();
}

// ---- controllers ----------------------------------------------------------------------------

TEST_F(HostileTest, ControllerListsThatNameNothingUsable) {
    const std::vector<BadPath> lists = {
        {"", "InvalidArgs", "empty controller name"},
        {"nosuch", "InvalidArgs", "unknown controller 'nosuch'"},
        {"memory,nosuch", "InvalidArgs", "unknown controller 'nosuch'"},
        {"memory,memory", "InvalidArgs", "names 'memory' twice"},
        {"all,memory", "InvalidArgs", "cannot be combined"},
        {",memory", "InvalidArgs", "empty entry"},
        {"memory,,freezer", "InvalidArgs", "empty entry"},
        {",", "InvalidArgs", "empty entry"},
        {"mem\nory", "InvalidArgs", "unknown controller"},
        {std::string(1025, 'm'), "LimitsExceeded", "longer than 1024 bytes"},
    };
    const Hier& h = mem();
    for (const auto& m : kCgMethods)
        for (const auto& l : lists) {
            Args a = args_for(m, h, "");
            a[0] = l.path;
            refused_both(m.name, a, l.error, l.needle);
        }
    for (const char* m : {"GetPidCgroup", "GetPidCgroupAbs"})
        for (const auto& l : lists)
            refused_both(m, {l.path, int32_t{own_victim_->pid()}}, l.error, l.needle);
    // The methods that act on one hierarchy take neither "all" nor a list of separate ones.
    for (const char* m : {"GetValue", "SetValue", "GetTasks", "ListChildren", "ListKeys"}) {
        const Method* spec = nullptr;
        for (const auto& x : kCgMethods)
            if (std::string(x.name) == m)
                spec = &x;
        Args a = args_for(*spec, h, "");
        a[0] = std::string("all");
        refused_both(m, a, "InvalidArgs", "'all' is not accepted");
        if (!pure_v2()) {  // (there both are the one cgroup2)
            a[0] = std::string("memory,name=systemd");
            refused_both(m, a, "InvalidArgs", "not co-mounted");
        }
    }
    still_serving();
}

// ---- victims --------------------------------------------------------------------------------

TEST_F(HostileTest, VictimsThatMayNotBeNamed) {
    for (const auto& h : hiers()) {
        const std::string c = h.controller;
        for (const char* m : {"MovePid", "MovePidAbs", "GetPidCgroup", "GetPidCgroupAbs"}) {
            bool move = std::string(m).rfind("MovePid", 0) == 0;
            auto args = [&](int32_t pid) {
                return move ? Args{c, std::string(std::string(m) == "MovePid" ? "child" : "/hostile/u1000/child"), pid}
                            : Args{c, pid};
            };
            // Numbers that are no process: refused before anything is looked up.
            plain_refused(*user_bus_, m, args(0), "InvalidArgs", "invalid pid 0");
            plain_refused(*user_bus_, m, args(-1), "InvalidArgs", "invalid pid -1");
            plain_refused(*user_bus_, m, args(-2147483647 - 1), "InvalidArgs", "invalid pid");
            plain_refused(*user_bus_, m, args(4194304 + 7), "FileNotFound", "4194311");
            // A zombie: its pid is no longer a process to move or ask about.
            plain_refused(*user_bus_, m, args(zombie_->pid()), "FileNotFound", std::to_string(zombie_->pid()));
            scm_refused(m, args(zombie_->pid()), "FileNotFound", std::to_string(zombie_->pid()));
        }
        // Another user's process may not be moved, even into a cgroup the caller owns.
        for (const char* m : {"MovePid", "MovePidAbs"}) {
            Args a = {c, std::string(std::string(m) == "MovePid" ? "child" : "/hostile/u1000/child"),
                      int32_t{foreign_victim_->pid()}};
            refused_both(m, a, "AccessDenied", "may not move process " + std::to_string(foreign_victim_->pid()));
        }
        // ... nor asked about relative to the caller, when it is not below the caller's cgroup.
        refused_both("GetPidCgroup", {c, int32_t{foreign_victim_->pid()}}, "AccessDenied", "not in or below");
    }
    still_serving();
}

// ---- containment: /a is not above /ab -------------------------------------------------------

TEST_F(HostileTest, NothingOutsideTheCallersSubtreeIncludingPrefixSiblings) {
    for (const auto& h : hiers()) {
        const std::string c = h.controller;
        // The sibling /hostile/u10000 is owned by the same uid, and "/hostile/u1000" is a string
        // prefix of it: neither makes it part of the caller's subtree.
        for (const char* target : {"/hostile/u10000", "/hostile/other", "/hostile", "/"}) {
            refused_both("GetValue", {c, std::string(target), std::string(h.key)}, "AccessDenied", "outside");
            refused_both("SetValue", {c, std::string(target), std::string(h.key), std::string(h.value)}, "AccessDenied",
                         "outside");
            refused_both("GetTasks", {c, std::string(target)}, "AccessDenied", "outside");
            refused_both("GetTasksRecursive", {c, std::string(target)}, "AccessDenied", "outside");
            refused_both("ListChildren", {c, std::string(target)}, "AccessDenied", "outside");
            // 0.42 let ListKeys list any readable cgroup.
            refused_both("ListKeys", {c, std::string(target)}, "AccessDenied", "outside");
        }
        // A process in the prefix sibling is not "in or below" /hostile/u1000 (0.42 answered "0").
        refused_both("GetPidCgroup", {c, int32_t{sibling_victim_->pid()}}, "AccessDenied", "not in or below");
        // ... and MovePid may not take it from there, though its owner is the caller.
        refused_both("MovePid", {c, std::string("child"), int32_t{sibling_victim_->pid()}}, "AccessDenied",
                     "not in or below");
    }
    still_serving();
}

// ---- reach: removals go no further than the kernel's rule -----------------------------------

// Root's cgroups inside the caller's own subtree (/hostile/u1000/child/roots/deeper): the kernel
// lets uid 1000 remove neither (it may not write roots), so neither may the daemon on its behalf.
// The caller's own cgroup sits in root's /hostile: it may not have it removed either.
TEST_F(HostileTest, RemovalsReachNoFurtherThanTheKernelAllows) {
    for (const auto& h : hiers())
        ASSERT_TRUE(root_->call("Create", "ss", h.controller, "hostile/u1000/child/roots/deeper").ok);
    baseline_ = snapshot();
    for (const auto& h : hiers()) {
        const std::string c = h.controller;
        refused_both("Remove", {c, std::string("child"), int32_t{1}}, "AccessDenied",
                     "uid 1000 may not remove cgroup /hostile/u1000/child/roots/deeper: it may not write cgroup "
                     "/hostile/u1000/child/roots");
        refused_both("Remove", {c, std::string("child/roots"), int32_t{1}}, "AccessDenied",
                     "may not remove cgroup /hostile/u1000/child/roots/deeper");
        refused_both("RemoveOnEmpty", {c, std::string("")}, "AccessDenied",
                     "may not remove cgroup /hostile/u1000: it may not write cgroup /hostile");
        refused_both("RemoveOnEmpty", {c, std::string("child/roots/deeper")}, "AccessDenied",
                     "may not write cgroup /hostile/u1000/child/roots/deeper");
        // Prune of its own cgroup works for what the caller could remove, and here that is nothing
        // (child is busy, roots has root's child, its own cgroup is in root's /hostile).
        const Args prune = {c, std::string("")};
        auto plain = user_bus_->call("Prune", prune);
        EXPECT_TRUE(plain.ok) << plain.describe();
        expect_unchanged("Prune" + show(prune));
        auto viaproxy = scm("Prune", prune);
        EXPECT_TRUE(viaproxy.ok) << viaproxy.describe();
        expect_unchanged("PruneScm" + show(prune));
    }
    still_serving();
}

// ---- planted mounts -------------------------------------------------------------------------

// Bind-mount `source` over `target` (both paths as the daemon sees them) in the daemon's mount
// namespace, as only host root could; returns whether it worked.
bool plant_mount(pid_t daemon_pid, const std::string& source, const std::string& target) {
    pid_t pid = ::fork();
    if (pid == 0) {
        int ns = ::open(("/proc/" + std::to_string(daemon_pid) + "/ns/mnt").c_str(), O_RDONLY | O_CLOEXEC);
        if (ns < 0 || ::setns(ns, CLONE_NEWNS) < 0)
            _exit(1);
        if (::mount(source.c_str(), target.c_str(), nullptr, MS_BIND, nullptr) < 0)
            _exit(2);
        _exit(0);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

TEST_F(HostileTest, BindMountsPlantedInTheDaemonsNamespaceAreNotCrossed) {
    const std::string base = daemon().rundir() + "/fs/" + mem().dir + "/hostile";
    ASSERT_TRUE(plant_mount(daemon().pid(), base + "/other", base + "/u1000/child"));
    baseline_ = snapshot();
    // Through the mount point the user would reach root's /hostile/other.
    refused_both("GetValue", {std::string("memory"), std::string("child"), std::string(mem().key)}, "AccessDenied",
                 "is a mount point");
    refused_both("SetValue", {std::string("memory"), std::string("child"), std::string(mem().key), std::string("4096")},
                 "AccessDenied", "is a mount point");
    refused_both("Create", {std::string("memory"), std::string("child/new")}, "AccessDenied", "is a mount point");
    refused_both("Chmod", {std::string("memory"), std::string("child"), std::string(""), int32_t{0777}}, "AccessDenied",
                 "is a mount point");
    refused_both("MovePid", {std::string("memory"), std::string("child"), int32_t{user_->pid()}}, "AccessDenied",
                 "is a mount point");
    refused_both("ListKeys", {std::string("memory"), std::string("child")}, "AccessDenied", "is a mount point");
    still_serving();
}

// A file of root's cgroup bind-mounted over a file of the user's own.
TEST_F(HostileTest, FilesBindMountedOverTheCallersFilesAreNotOpened) {
    const std::string base = daemon().rundir() + "/fs/" + mem().dir + "/hostile";
    ASSERT_TRUE(plant_mount(daemon().pid(), base + "/other/" + mem().key, base + "/u1000/" + mem().key));
    ASSERT_TRUE(plant_mount(daemon().pid(), base + "/other/" + host_file("tasks"),
                            base + "/u1000/child/" + host_file("tasks")));
    baseline_ = snapshot();
    refused_both("GetValue", {std::string("memory"), std::string(""), std::string(mem().key)}, "AccessDenied",
                 "lies below a mount point");
    refused_both("SetValue", {std::string("memory"), std::string(""), std::string(mem().key), std::string("4096")},
                 "AccessDenied", "lies below a mount point");
    refused_both("MovePid", {std::string("memory"), std::string("child"), int32_t{user_->pid()}}, "AccessDenied",
                 "lies below a mount point");
    refused_both("GetTasks", {std::string("memory"), std::string("child")}, "AccessDenied", "lies below a mount point");
    still_serving();
}

class HostileNoOpenat2Test : public HostileTest {
protected:
    void SetUp() override {
        DaemonTest::SetUp();
        if (IsSkipped())
            return;
        Daemon::Config c;
        c.env = {{"CGM_NO_OPENAT2", "1"}};
        start_daemon(std::move(c));
    }
};

// The same with the per-component O_NOFOLLOW walk the daemon uses where openat2 is missing.
TEST_F(HostileNoOpenat2Test, BindMountsPlantedInTheDaemonsNamespaceAreNotCrossed) {
    const std::string base = daemon().rundir() + "/fs/" + mem().dir + "/hostile";
    ASSERT_TRUE(plant_mount(daemon().pid(), base + "/other", base + "/u1000/child"));
    baseline_ = snapshot();
    refused_both("GetValue", {std::string("memory"), std::string("child"), std::string(mem().key)}, "AccessDenied",
                 "is a mount point");
    refused_both("SetValue", {std::string("memory"), std::string("child"), std::string(mem().key), std::string("4096")},
                 "AccessDenied", "is a mount point");
    refused_both("Create", {std::string("memory"), std::string("child/new")}, "AccessDenied", "is a mount point");
    refused_both("MovePid", {std::string("memory"), std::string("child"), int32_t{user_->pid()}}, "AccessDenied",
                 "is a mount point");
    still_serving();
}

TEST_F(HostileNoOpenat2Test, FilesBindMountedOverTheCallersFilesAreNotOpened) {
    const std::string base = daemon().rundir() + "/fs/" + mem().dir + "/hostile";
    ASSERT_TRUE(plant_mount(daemon().pid(), base + "/other/" + mem().key, base + "/u1000/" + mem().key));
    baseline_ = snapshot();
    refused_both("GetValue", {std::string("memory"), std::string(""), std::string(mem().key)}, "AccessDenied",
                 "lies below a mount point");
    still_serving();
}

}  // namespace
}  // namespace cgm::test
