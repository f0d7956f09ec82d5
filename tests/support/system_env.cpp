// SPDX-License-Identifier: Apache-2.0
#include "support/system_env.h"

#include <dirent.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/magic.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "core/backend.h"
#include "core/cgroup_path.h"
#include "core/cgroupfs.h"
#include "core/mounts.h"
#include "core/sys.h"
#include "core/v1_compat.h"

namespace cgm::test {

namespace {

std::string& skip_reason_storage() {
    static std::string reason;
    return reason;
}

[[noreturn]] void fatal(const std::string& what) {
    std::fprintf(stderr, "system test environment: %s\n", what.c_str());
    std::abort();
}

}  // namespace

bool in_private_cgroup_namespace() {
    struct stat st {};
    return ::stat("/proc/self/ns/cgroup", &st) == 0 && st.st_ino != 0xEFFFFFFBUL;
}

bool in_sandbox_leaf() {
    static const bool leaf = [] {
        auto text = sys::read_file("/proc/self/cgroup", 1 << 16);
        return text && text->find("0::/" + std::string(kLeafName) + "\n") != std::string::npos;
    }();
    return leaf;
}

namespace {

bool is_mount_root(const std::string& dir) {
    struct stat self {
    }, parent{};
    return ::stat(dir.c_str(), &self) == 0 && ::stat((dir + "/..").c_str(), &parent) == 0 &&
           self.st_dev != parent.st_dev;
}

}  // namespace

namespace {

/// On cgroup v2 a process in a cgroup's hidden leaf is in that cgroup (docs/dbus-api.md).
std::string without_leaf(std::string path) {
    const std::string leaf = "/" + std::string(kLeafName);
    if (path.size() >= leaf.size() && path.compare(path.size() - leaf.size(), leaf.size(), leaf) == 0)
        path.resize(path.size() == leaf.size() ? 1 : path.size() - leaf.size());
    return path;
}

}  // namespace

bool is_cgroup2(const std::string& path) {
    struct statfs sfs {};
    return ::statfs(path.c_str(), &sfs) == 0 && sfs.f_type == static_cast<decltype(sfs.f_type)>(CGROUP2_SUPER_MAGIC);
}

bool pure_v2() {
    static const bool v2 = is_cgroup2("/sys/fs/cgroup");
    return v2;
}

std::string host_file(std::string_view rel) {
    if (!pure_v2())
        return std::string(rel);
    const size_t slash = rel.rfind('/');
    const std::string_view dir = slash == std::string_view::npos ? std::string_view() : rel.substr(0, slash + 1);
    const std::string_view name = slash == std::string_view::npos ? rel : rel.substr(slash + 1);
    auto mapped = v1compat::map_key(name);
    if (!mapped || !*mapped)
        return std::string(rel);
    return std::string(dir) + (*mapped)->chmod_file;
}

std::string proc_cgroup(pid_t pid, std::string_view controller) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
    const bool unified = pure_v2() || controller == "unified" || controller.empty();
    std::string line;
    while (std::getline(in, line)) {
        auto a = line.find(':');
        auto b = line.find(':', a + 1);
        if (a == std::string::npos || b == std::string::npos)
            continue;
        std::string_view ctrls = std::string_view(line).substr(a + 1, b - a - 1);
        std::string path = line.substr(b + 1);
        if (unified ? (line.compare(0, a, "0") == 0 && ctrls.empty()) : ctrls == controller) {
            return unified ? without_leaf(std::move(path)) : path;
        }
    }
    return "?";
}

std::string proc_cgroup2_raw(pid_t pid) {
    auto text = sys::read_file("/proc/" + std::to_string(pid) + "/cgroup", 1 << 16);
    if (!text)
        return "?";
    const size_t at = text->find("0::");
    if (at == std::string::npos || (at > 0 && (*text)[at - 1] != '\n'))
        return "?";
    return text->substr(at + 3, text->find('\n', at) - at - 3);
}

void remove_cgroups_below(const std::string& dir) {
    if (!in_private_cgroup_namespace())
        fatal("refusing to remove cgroups outside a private cgroup namespace");
    DIR* d = ::opendir(dir.c_str());
    if (!d)
        return;
    // The sandbox's own leaf (where this process lives on cgroup v2) stays.
    const bool keep_leaf = in_sandbox_leaf() && is_mount_root(dir);
    std::vector<std::string> children;
    while (struct dirent* e = ::readdir(d))
        if (e->d_type == DT_DIR && std::strcmp(e->d_name, ".") && std::strcmp(e->d_name, "..") &&
            !(keep_leaf && e->d_name == kLeafName))
            children.push_back(dir + "/" + e->d_name);
    ::closedir(d);
    for (const auto& c : children) {
        remove_cgroups_below(c);
        for (int i = 0;; ++i) {
            if (::rmdir(c.c_str()) == 0 || errno == ENOENT)
                break;
            if (errno != EBUSY || i == 300)
                fatal("rmdir " + c + ": " + std::strerror(errno));
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
    }
}

void set_skip_reason(std::string reason) {
    skip_reason_storage() = std::move(reason);
}
const std::string& skip_reason() {
    return skip_reason_storage();
}

SystemEnv& SystemEnv::get() {
    static SystemEnv env;
    return env;
}

SystemEnv::SystemEnv() {
    if (!in_private_cgroup_namespace())
        fatal("not inside a cgroup sandbox; refusing to touch cgroups");
    auto ns = PrivateMountNamespace::enter();
    if (!ns)
        fatal(ns.error().message);
    auto input = read_plan_input();
    if (!input)
        fatal(input.error().message);
    // The sandbox's cgroup2 offers no controllers on hybrid machines: managed only when asked.
    input->extra_mounts = {"unified"};
    auto plan = plan_hierarchies(*input);
    if (!plan)
        fatal(plan.error().message);
    std::vector<std::string> warnings;
    auto table = mount_hierarchies(*ns, *plan, "/run/cgmanager-test", warnings);
    if (!table)
        fatal(table.error().message);
    table_ = std::make_shared<const HierarchyTable>(std::move(table).value());
    auto proc = SystemProc::open();
    if (!proc)
        fatal(proc.error().message);
    proc_ = std::make_unique<SystemProc>(std::move(proc).value());
    auto delegate = sys::read_file("/sys/kernel/cgroup/delegate", 4096);
    set_unified_delegate_files(delegate ? *delegate : "");
    ops_ = std::make_unique<Operations>(table_, *proc_, watches_);
}

const Hierarchy& SystemEnv::hierarchy(std::string_view token) const {
    const Hierarchy* h = table_->find(token);
    if (!h)
        fatal("no hierarchy '" + std::string(token) + "' in the sandbox");
    return *h;
}

std::string SystemEnv::path(const Hierarchy& h, std::string_view cgroup) const {
    while (!cgroup.empty() && cgroup.front() == '/')
        cgroup.remove_prefix(1);
    return cgroup.empty() ? h.mount_point : h.mount_point + "/" + std::string(cgroup);
}

void SystemEnv::remove_all_cgroups() const {
    for (const auto& h : table_->all())
        remove_cgroups_below(h->mount_point);
}

Caller self_caller() {
    return Caller::plain(Ucred{::getpid(), ::getuid(), ::getgid()});
}

bool exists(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0;
}

struct stat stat_of(const std::string& path) {
    struct stat st {};
    if (::lstat(path.c_str(), &st) < 0)
        ADD_FAILURE() << "stat " << path << ": " << std::strerror(errno);
    return st;
}

std::string read_text(const std::string& path) {
    auto r = sys::read_file(path, 1 << 20);
    if (!r) {
        ADD_FAILURE() << r.error().message;
        return {};
    }
    return *r;
}

void write_text(const std::string& path, const std::string& text) {
    auto r = sys::write_file(path, text);
    if (!r)
        ADD_FAILURE() << path << ": " << r.error().message;
}

void make_dir(const std::string& path) {
    if (::mkdir(path.c_str(), 0755) < 0) {
        if (errno != EEXIST)
            ADD_FAILURE() << "mkdir " << path << ": " << std::strerror(errno);
        return;
    }
    // A cpuset cgroup made by hand starts without cpus and mems (the sandbox does not set
    // clone_children); give it its parent's so that test processes can join it.
    std::string parent = path.substr(0, path.rfind('/'));
    for (const char* key : {"/cpuset.cpus", "/cpuset.mems"}) {
        auto mine = sys::read_file(path + key, 4096);
        if (mine && (mine->empty() || *mine == "\n"))
            write_text(path + key, read_text(parent + key));
    }
}

std::vector<std::string> files_in(const std::string& dir) {
    std::vector<std::string> names;
    DIR* d = ::opendir(dir.c_str());
    if (!d) {
        ADD_FAILURE() << "opendir " << dir << ": " << std::strerror(errno);
        return names;
    }
    while (struct dirent* e = ::readdir(d))
        if (e->d_type == DT_REG)
            names.emplace_back(e->d_name);
    ::closedir(d);
    return names;
}

std::string cgroup_of(pid_t pid, const Hierarchy& h) {
    auto lines = parse_proc_cgroup(read_text("/proc/" + std::to_string(pid) + "/cgroup"));
    if (!lines) {
        ADD_FAILURE() << lines.error().message;
        return {};
    }
    const ProcCgroupLine* l = h.find_line(*lines);
    if (!l) {
        ADD_FAILURE() << "no line for " << h.display;
        return {};
    }
    return h.is_unified() ? without_leaf(l->path) : l->path;
}

void move_to(pid_t pid, const Hierarchy& h, std::string_view cgroup) {
    auto& env = SystemEnv::get();
    const std::string dir = env.path(h, cgroup);
    // Where the daemon's MovePid would put it: on cgroup v2 the cgroup's hidden leaf (made owned
    // like the cgroup), so the cgroup itself can still enable controllers for its children.
    auto fd = sys::open(dir, O_DIRECTORY | O_RDONLY | O_CLOEXEC);
    if (!fd) {
        ADD_FAILURE() << fd.error().message;
        return;
    }
    auto target = h.backend->pid_target(fd->get());
    auto pid_dir = target ? h.backend->open_pid_dir(fd->get()) : Result<UniqueFd>(target.error());
    if (!pid_dir) {
        ADD_FAILURE() << dir << ": " << pid_dir.error().message;
        return;
    }
    auto w = cgfs::write_file(pid_dir->get(), target->procs_file, std::to_string(pid) + "\n");
    if (!w)
        ADD_FAILURE() << dir << ": " << w.error().message;
}

}  // namespace cgm::test
