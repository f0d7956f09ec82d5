// SPDX-License-Identifier: Apache-2.0
//
// The method dispatch with random arguments: a sequence of calls (any method, any controller,
// path, key, value, mode, ids and pids, from root or uid 1000, plain or as Scm) decoded from the
// input and run by the real Operations against two scratch "hierarchies" (plain directories under
// a fresh temporary directory, a v1-style one and a cgroup2-style one) with /proc facts made up
// here. What is checked: no crash or sanitizer report, every failure is a proper Error, and
// nothing but directories ever appears under the scratch roots.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>

#include "core/backend.h"
#include "core/empty_watch.h"
#include "core/hierarchy.h"
#include "core/operations.h"
#include "core/proc_source.h"
#include "fuzz.h"

namespace {

uid_t g_uid = 0;  // the uid the made-up /proc reports for every process during a call

class MadeUpProc final : public cgm::ProcSource {
public:
    cgm::Result<std::string> read(pid_t pid, std::string_view file) const override {
        if (pid <= 0 || pid > 4194304)
            return cgm::make_error(cgm::ErrorKind::NotFound, "process {} does not exist", pid);
        if (file == "cgroup")
            return std::string(g_uid == 0 ? "2:memory:/\n0::/\n" : "2:memory:/u\n0::/u\n");
        if (file == "status") {
            std::string u = std::to_string(g_uid);
            return "Name:\tx\nState:\tS (sleeping)\nTgid:\t" + std::to_string(pid) + "\nUid:\t" + u + "\t" + u + "\t" +
                   u + "\t" + u + "\nGid:\t" + u + "\t" + u + "\t" + u + "\t" + u + "\n";
        }
        if (file == "uid_map" || file == "gid_map")
            return std::string("         0          0 4294967295\n");
        return cgm::make_error(cgm::ErrorKind::NotFound, "no {}", file);
    }
    cgm::Result<cgm::NsId> ns_id(pid_t, std::string_view) const override { return cgm::NsId{1, 1}; }
};

struct World {
    std::string scratch;
    MadeUpProc proc;
    cgm::WatchList watches;
    std::unique_ptr<cgm::Operations> ops;

    World() {
        char tmpl[] = "/tmp/cgm-fuzz-XXXXXX";
        if (!::mkdtemp(tmpl))
            std::abort();
        scratch = tmpl;
        std::vector<std::unique_ptr<cgm::Hierarchy>> hs;
        auto add = [&](cgm::HierarchyKind kind, const char* name, std::vector<std::string> controllers) {
            std::string dir = scratch + "/" + name;
            ::mkdir(dir.c_str(), 0755);
            auto h = std::make_unique<cgm::Hierarchy>();
            h->kind = kind;
            h->controllers = std::move(controllers);
            h->dir_name = name;
            h->root = cgm::UniqueFd(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
            h->backend = kind == cgm::HierarchyKind::Unified ? &cgm::unified_backend() : &cgm::legacy_backend();
            hs.push_back(std::move(h));
        };
        add(cgm::HierarchyKind::Legacy, "memory", {"memory"});
        add(cgm::HierarchyKind::Unified, "unified", {});
        for (const char* d : {"memory/u", "unified/u"})
            ::mkdir((scratch + "/" + d).c_str(), 0755);
        auto table = std::make_shared<const cgm::HierarchyTable>(std::move(hs));
        ops = std::make_unique<cgm::Operations>(table, proc, watches,
                                                cgm::OperationsConfig{16, std::make_shared<cgm::CreationQuota>(50)});
    }
    ~World() { std::filesystem::remove_all(scratch); }

    // Back to the start: each root (root's, 0755) with one child u (uid 1000's, 0755).
    void reset() {
        for (const char* h : {"memory", "unified"}) {
            std::string root = scratch + "/" + h;
            for (const auto& e : std::filesystem::directory_iterator(root))
                std::filesystem::remove_all(e.path());
            ::mkdir((root + "/u").c_str(), 0755);
            ::chmod(root.c_str(), 0755);
            ::chown(root.c_str(), 0, 0);
            ::chmod((root + "/u").c_str(), 0755);
            ::chown((root + "/u").c_str(), 1000, 1000);
        }
    }

    // Nothing but directories under the roots (no call may create or plant anything else).
    void check_only_directories() const {
        for (const auto& e : std::filesystem::recursive_directory_iterator(scratch))
            FUZZ_CHECK(e.is_directory() && !e.is_symlink());
    }
};

// Made on first use, removed (scratch directory and all) at exit.
World& world() {
    static World w;
    return w;
}

// The input, read as a program.
struct Reader {
    const uint8_t* p;
    size_t n;
    bool empty() const { return n == 0; }
    uint8_t byte() {
        if (n == 0)
            return 0;
        --n;
        return *p++;
    }
    int32_t i32() {
        uint32_t v = 0;
        for (int i = 0; i < 4; ++i)
            v = (v << 8) | byte();
        return static_cast<int32_t>(v);
    }
    // Short strings mostly, from a small vocabulary or the raw bytes.
    std::string str() {
        static const char* words[] = {"",
                                      "memory",
                                      "unified",
                                      "all",
                                      "memory,unified",
                                      "u",
                                      "u/a",
                                      "/u",
                                      "/",
                                      "a/b/c",
                                      "..",
                                      "../u",
                                      "a//b",
                                      ".cgm_leaf",
                                      "tasks",
                                      "cgroup.procs",
                                      "notify_on_release",
                                      "cgroup.kill",
                                      "x\ny",
                                      "memory.limit_in_bytes",
                                      "cgroup.subtree_control",
                                      "name=systemd",
                                      "a"};
        uint8_t sel = byte();
        if (sel < 200)
            return words[sel % (sizeof words / sizeof *words)];
        size_t len = byte();
        std::string s;
        while (len-- > 0 && n > 0)
            s.push_back(static_cast<char>(byte()));
        return s;
    }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    World& w = world();
    w.reset();
    Reader in{data, size};
    const pid_t self = ::getpid();
    for (int calls = 0; calls < 16 && !in.empty(); ++calls) {
        g_uid = in.byte() % 2 ? 1000 : 0;
        cgm::Ucred cred{self, g_uid, g_uid};
        cgm::Caller c = in.byte() % 2 ? cgm::Caller::plain(cred) : cgm::Caller::scm(cgm::Ucred{self, 0, 0}, cred);
        const cgm::Operations& ops = *w.ops;
        auto check = [](const auto& r) {
            if (!r)
                FUZZ_CHECK(!r.error().message.empty());
        };
        const uint8_t method = in.byte() % 17;
        const std::string ctrl = in.str(), cg = in.str();
        switch (method) {
        case 0: check(ops.create(c, ctrl, cg)); break;
        case 1: check(ops.chown(c, ctrl, cg, in.i32(), in.i32())); break;
        case 2: check(ops.chmod(c, ctrl, cg, in.str(), in.i32())); break;
        case 3: check(ops.move_pid(c, ctrl, cg, in.i32())); break;
        case 4: check(ops.move_pid_abs(c, ctrl, cg, in.i32())); break;
        case 5: check(ops.get_value(c, ctrl, cg, in.str())); break;
        case 6: {
            std::string key = in.str();
            check(ops.set_value(c, ctrl, cg, key, in.str()));
            break;
        }
        case 7: check(ops.remove(c, ctrl, cg, in.byte() % 2)); break;
        case 8: check(ops.get_tasks(c, ctrl, cg)); break;
        case 9: check(ops.get_tasks_recursive(c, ctrl, cg)); break;
        case 10: check(ops.list_children(c, ctrl, cg)); break;
        case 11: check(ops.remove_on_empty(c, ctrl, cg)); break;
        case 12: check(ops.prune(c, ctrl, cg)); break;
        case 13: check(ops.list_keys(c, ctrl, cg)); break;
        case 14: check(ops.get_pid_cgroup(c, ctrl, in.i32())); break;
        case 15: check(ops.get_pid_cgroup_abs(c, ctrl, in.i32())); break;
        case 16: check(ops.list_controllers()); break;
        }
    }
    w.check_only_directories();
    return 0;
}
