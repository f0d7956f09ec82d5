// SPDX-License-Identifier: Apache-2.0
//
// Races and reach (issue 11, holes 6 and 7), against the real daemon, each attack made as the
// attacker would make it: uid 1000, owning a cgroup, works directly on cgroupfs (this process's own
// mounts of the hierarchies, the same superblocks the daemon has mounted privately) while the
// daemon serves its calls.
//
//  - Create: the attacker renames the directory the daemon has just made (`new` -> `tmp`) and one
//    of root's cgroups into its place (`rootkid` -> `new`), in a bounded loop of Create calls.
//    Root's cgroup and every file in it must stay root's; each Create either made a directory that
//    is the requestor's throughout, or failed saying the new cgroup was renamed or replaced.
//  - Create's rollback: the same swap while a Create over two hierarchies fails in the second one;
//    root's cgroup must not be removed by the undo.
//  - The v2 hidden leaf: a `.cgm_leaf` in the user's cgroup that is not cgmanager's (root's) is
//    never moved into, chmodded, chowned or removed.
//  - Remove, Prune, RemoveOnEmpty and the release agent follow the kernel's rule for rmdir: write
//    access on the directory a removed cgroup is in.
//  - Chown gives the delegated files by fd, and only files.
#include <fcntl.h>
#include <grp.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstring>
#include <filesystem>
#include <new>
#include <string>
#include <vector>

#include "daemon_fixture.h"
#include "support/raw_bus.h"
#include "support/tree_snapshot.h"

namespace cgm::test {
namespace {

using namespace std::chrono_literals;

// Every entry below `dir` (itself included) whose owner is not uid:gid, one per line.
std::string not_owned_by(const std::string& dir, uid_t uid, gid_t gid) {
    std::string out;
    struct stat st {};
    if (::lstat(dir.c_str(), &st) < 0)
        return dir + ": " + std::strerror(errno) + "\n";
    if (st.st_uid != uid || st.st_gid != gid)
        out += dir + " is " + std::to_string(st.st_uid) + ":" + std::to_string(st.st_gid) + "\n";
    if (!S_ISDIR(st.st_mode))
        return out;
    for (const auto& e : std::filesystem::directory_iterator(dir))
        out += not_owned_by(e.path().string(), uid, gid);
    return out;
}

ino_t inode_of(const std::string& path) {
    struct stat st {};
    return ::lstat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

// The attacker: a process of uid 1000 that, while it is told to run, tries again and again to
// rename `target` (the name the daemon creates) to `aside`, and as soon as that works, renames
// `victim` (root's cgroup) to `target`; then it waits for the next round. It is told what to do,
// and acknowledges a pause, through shared memory (a futex, not a sleep, while it waits).
class Renamer {
public:
    Renamer(const std::string& dir, uid_t uid, const char* target, const char* victim, const char* aside) {
        shared_ = static_cast<Shared*>(
            ::mmap(nullptr, sizeof(Shared), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0));
        if (shared_ == MAP_FAILED) {
            ADD_FAILURE() << "mmap: " << std::strerror(errno);
            shared_ = nullptr;
            return;
        }
        new (shared_) Shared();
        int dfd = ::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
            ADD_FAILURE() << "open " << dir << ": " << std::strerror(errno);
            return;
        }
        pid_ = ::fork();
        if (pid_ == 0) {
            ::prctl(PR_SET_PDEATHSIG, SIGKILL);
            if (dfd != 3 && ::dup2(dfd, 3) < 0)
                _exit(101);
            ::close_range(4, ~0U, 0);
            if (::setgroups(0, nullptr) < 0 || ::setresgid(uid, uid, uid) < 0 || ::setresuid(uid, uid, uid) < 0)
                _exit(102);
            attack(3, target, victim, aside);
        }
        ::close(dfd);
        if (pid_ < 0)
            ADD_FAILURE() << "fork: " << std::strerror(errno);
    }
    ~Renamer() {
        if (pid_ > 0) {
            command(kExit);
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
        if (shared_)
            ::munmap(shared_, sizeof(Shared));
    }
    Renamer(const Renamer&) = delete;
    Renamer& operator=(const Renamer&) = delete;

    bool ok() const { return shared_ && pid_ > 0; }
    /// Start a round: the attacker swaps at most once in it.
    void run() {
        shared_->swapped.store(0);
        command(((++generation_) << 1) | 1);
    }
    /// End the round; when this returns the attacker renames nothing until the next run().
    bool pause() {
        const uint32_t cmd = (++generation_) << 1;
        command(cmd);
        auto deadline = std::chrono::steady_clock::now() + 5s;
        while (shared_->ack.load() != cmd) {
            if (std::chrono::steady_clock::now() > deadline)
                return false;
            ::sched_yield();
        }
        return true;
    }
    /// 0: no swap this round; 1: both renames worked; 2: only the first did.
    int swapped() const { return shared_->swapped.load(); }
    uint32_t renames_tried() const { return shared_->tries.load(); }

private:
    static constexpr uint32_t kExit = 0xfffffffeU;
    struct Shared {
        std::atomic<uint32_t> command{0};  // (generation << 1) | run
        std::atomic<uint32_t> ack{0};      // the last command the attacker paused on
        std::atomic<int> swapped{0};
        std::atomic<uint32_t> tries{0};
    };
    static_assert(sizeof(std::atomic<uint32_t>) == sizeof(uint32_t));

    void command(uint32_t c) {
        shared_->command.store(c);
        ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&shared_->command), FUTEX_WAKE, 1, nullptr, nullptr, 0);
    }

    [[noreturn]] void attack(int dfd, const char* target, const char* victim, const char* aside) {
        uint32_t done_in = 0;  // the round in which this attacker already swapped
        for (;;) {
            const uint32_t cmd = shared_->command.load();
            if (cmd == kExit)
                _exit(0);
            if (!(cmd & 1) || cmd == done_in) {
                shared_->ack.store(cmd);
                while (shared_->command.load() == cmd)
                    ::syscall(SYS_futex, reinterpret_cast<uint32_t*>(&shared_->command), FUTEX_WAIT, cmd, nullptr,
                              nullptr, 0);
                continue;
            }
            shared_->tries.fetch_add(1);
            if (::renameat(dfd, target, dfd, aside) == 0) {
                int second = ::renameat(dfd, victim, dfd, target);
                shared_->swapped.store(second == 0 ? 1 : 2);
                done_in = cmd;
            }
        }
    }

    Shared* shared_ = nullptr;
    pid_t pid_ = -1;
    uint32_t generation_ = 0;
};

class RacesTest : public DaemonTest {
protected:
    // /races (root's; the user lives there) and /races/own (uid 1000's) in each hierarchy, root's
    // cgroup /races/own/rootkid (with a child) in it, and uid 1000's connection to the daemon.
    void setup(Daemon::Config config, const std::vector<const char*>& hierarchies) {
        start(std::move(config));
        root_ = RawBus::connect(daemon().socket());
        std::vector<std::string> homes;
        for (const char* h : hierarchies) {
            ASSERT_TRUE(root_->call("Create", "ss", h, "races/own/rootkid/deeper").ok);
            ASSERT_TRUE(root_->call("Chown", "ssii", h, "races/own", 1000, 1000).ok);
            homes.push_back(fs(h, "races"));
        }
        int fd = -1;
        user_ = &keep(Child::connected(As{1000, 1000, "", false, false, homes}, daemon().socket(), &fd));
        user_bus_ = RawBus::adopt(fd);
    }

    std::unique_ptr<RawBus> root_;
    std::unique_ptr<RawBus> user_bus_;
    Child* user_ = nullptr;
};

// What one round of the Create race left, judged on cgroupfs: `violated` when the cgroup the
// attacker swapped in (root's, or one given to the requestor) was changed in any way (owners, modes,
// contents) or removed, or a Create said it made a cgroup that is not the requestor's throughout;
// `unclear` when a Create failed without saying what happened.
struct Round {
    bool violated = false;
    std::string what;
    std::string unclear;
};

// Judge one round, then clear its leftovers and put the victim back under its name.
Round judge_and_reset(const std::string& own, const std::string& victim, ino_t victim_ino,
                      const TreeSnapshot& victim_before, const BusReply& reply, int swapped, bool expect_created) {
    Round out;
    const std::string at_new = own + "/new", at_kid = own + "/" + victim, at_tmp = own + "/tmp";
    std::string where = inode_of(at_kid) == victim_ino ? at_kid : inode_of(at_new) == victim_ino ? at_new : "";
    if (where.empty()) {
        out.violated = true;
        out.what += "the swapped-in cgroup was removed\n";
    }
    std::string mine = swapped ? at_tmp : at_new;
    if (reply.ok) {
        if (!expect_created) {
            out.violated = true;
            out.what += "the call succeeded where it had to fail\n";
        } else if (auto bad = not_owned_by(mine, 1000, 1000); !bad.empty()) {
            out.violated = true;
            out.what += "the new cgroup is not the requestor's throughout:\n" + bad;
        }
    } else if (reply.message.find("renamed or replaced while it was being created") == std::string::npos &&
               (expect_created || reply.message.find("mkdir 'new'") == std::string::npos)) {
        out.unclear = reply.describe();
    }
    // Back to the start: the victim under its own name, nothing else.
    if (where == at_new && ::rename(at_new.c_str(), at_kid.c_str()) < 0)
        out.what += "cannot put the victim back: " + std::string(std::strerror(errno)) + "\n";
    for (const auto& p : {at_new, at_tmp})
        if (exists(p) && inode_of(p) != victim_ino)
            ::rmdir(p.c_str());
    if (exists(at_new) || exists(at_tmp) || (!where.empty() && inode_of(at_kid) != victim_ino)) {
        out.violated = true;
        out.what += "leftovers after the round\n";
    }
    if (!where.empty())
        if (auto d = diff(victim_before, snapshot_tree({at_kid})); !d.empty()) {
            out.violated = true;
            out.what += "the swapped-in cgroup was changed:\n" + d;
        }
    return out;
}

// The bounded loop both Create races run: up to 2000 tries or 10 s, stopping at the first
// violation; the figures are printed for the record.
void race_creates(RawBus& bus, const char* controller, const std::string& own, const char* victim, bool expect_created,
                  const std::string& also_absent = "") {
    const ino_t victim_ino = inode_of(own + "/" + victim);
    const TreeSnapshot victim_before = snapshot_tree({own + "/" + victim});
    Renamer attacker(own, 1000, "new", victim, "tmp");
    ASSERT_TRUE(attacker.ok());
    int tries = 0, swaps = 0, refused = 0;
    std::vector<std::string> unclear;
    const auto start = std::chrono::steady_clock::now();
    Round r;
    while (tries < 2000 && std::chrono::steady_clock::now() < start + 10s && !r.violated) {
        ++tries;
        attacker.run();
        auto reply = bus.call("Create", "ss", controller, "own/new");
        ASSERT_TRUE(attacker.pause());
        const int swapped = attacker.swapped();
        swaps += swapped != 0;
        refused += !reply.ok;
        r = judge_and_reset(own, victim, victim_ino, victim_before, reply, swapped, expect_created);
        if (!r.unclear.empty())
            unclear.push_back(r.unclear);
        if (!r.violated && !also_absent.empty() && exists(also_absent)) {
            r.violated = true;
            r.what = "the failed Create left " + also_absent;
        }
    }
    const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start);
    EXPECT_FALSE(r.violated) << "try " << tries << " (" << swaps << " swaps so far, " << ms.count()
                             << " ms): " << r.what;
    EXPECT_TRUE(unclear.empty()) << unclear.size() << " failures did not say what happened, e.g. " << unclear[0];
    EXPECT_GT(swaps, 0) << "the attacker never managed a swap in " << tries << " tries";
    std::printf("[ figures ] %d tries in %lld ms, %d swaps, %d refused, %zu unclear failures, %u renames tried\n",
                tries, static_cast<long long>(ms.count()), swaps, refused, unclear.size(), attacker.renames_tried());
}

// Hole 6: the rename race on Create (v1, where cgroup directories can be renamed).
TEST_F(RacesTest, CreateRacingARenameNeverGivesRootsCgroupAway) {
    CGM_SKIP_ON_PURE_V2("renames cgroup directories, which cgroup2 does not allow");
    setup({}, {"memory"});
    race_creates(*user_bus_, "memory", fs("memory", "races/own"), "rootkid", true);
}

// The same with a cgroup root made and gave to the requestor (its limits stay root's) as the one
// swapped in, on cpuset, where Create writes into the new cgroup (an empty cpuset.cpus and
// cpuset.mems get the parent's): the daemon must not take it for the one it made, and write nothing
// into it.
TEST_F(RacesTest, CreateRacingARenameNeverWritesIntoACgroupGivenToTheRequestor) {
    CGM_SKIP_ON_PURE_V2("renames cgroup directories, which cgroup2 does not allow");
    setup({}, {"cpuset"});
    const std::string own = fs("cpuset", "races/own");
    ASSERT_EQ(::mkdir((own + "/given").c_str(), 0755), 0);  // as root, with nothing in cpuset.cpus
    ASSERT_TRUE(root_->call("Chown", "ssii", "cpuset", "races/own/given", 1000, 1000).ok);
    ASSERT_EQ(read_text(own + "/given/cpuset.cpus"), "\n");
    race_creates(*user_bus_, "cpuset", own, "given", true);
}

// The undo of a Create that fails in a later hierarchy (here cgroup2, where the user's cgroup may
// have no more descendants: the kernel refuses the mkdir) removes only what it made, and never
// gives away or removes root's cgroup that a rename put under the name meanwhile. (An undo can
// still meet a rename between its inode check and its rmdir: that window can remove only an empty
// cgroup from a directory the renamer may write, which the renamer could rmdir itself; see
// TheRmdirWindowGivesTheRenamerNothing.)
TEST_F(RacesTest, CreateRollbackRacingARenameNeverRemovesRootsCgroup) {
    CGM_SKIP_ON_PURE_V2("renames cgroup directories, which cgroup2 does not allow");
    setup({}, {"memory", "unified"});
    write_text(fs("unified", "races/own/cgroup.max.descendants"), "1");  // rootkid/deeper is one
    race_creates(*user_bus_, "memory,unified", fs("memory", "races/own"), "rootkid", false,
                 fs("unified", "races/own/new"));
}

// What the remaining rmdir-by-name windows (after an inode check) could remove, the one who can
// rename in that directory may remove itself: rmdir needs write access on the directory only, and
// the kernel removes only an empty cgroup. Root's cgroup with a child, or deeper in root's own
// directory, it may not remove, and neither can a window.
TEST_F(RacesTest, TheRmdirWindowGivesTheRenamerNothing) {
    setup({}, {"memory", "unified"});
    for (const char* h : distinct_hierarchies({"memory", "unified"})) {
        SCOPED_TRACE(h);
        ASSERT_TRUE(root_->call("Create", "ss", h, "races/own/rootleaf").ok);
        auto as_user = [&](const std::string& path) {
            auto r = run({"/bin/rmdir", path}, As::user(1000));
            return r.status;
        };
        EXPECT_NE(as_user(fs(h, "races/own/rootkid/deeper")), 0);
        EXPECT_TRUE(exists(fs(h, "races/own/rootkid/deeper")));
        EXPECT_NE(as_user(fs(h, "races/own/rootkid")), 0);  // not empty
        EXPECT_TRUE(exists(fs(h, "races/own/rootkid")));
        EXPECT_EQ(as_user(fs(h, "races/own/rootleaf")), 0);  // empty, in the user's directory
        EXPECT_FALSE(exists(fs(h, "races/own/rootleaf")));
    }
}

// On cgroup2 a directory cannot be renamed at all (the kernel has no rename there), so the swap
// above cannot put root's cgroup in place of the hidden leaf. A `.cgm_leaf` that is not the
// daemon's can still be there (made by root with mkdir, or left by a chown done outside the
// daemon): it is recognized by its owner and never used.
TEST_F(RacesTest, AHiddenLeafThatIsNotTheDaemonsIsNeverUsed) {
    setup({}, {"memory", "unified"});
    const std::string own = fs("unified", "races/own");
    // The kernel's side of it: no rename on cgroup2, for the user or for root.
    ASSERT_EQ(::mkdir((own + "/x").c_str(), 0755), 0);
    EXPECT_EQ(::rename((own + "/x").c_str(), (own + "/y").c_str()), -1);
    EXPECT_EQ(errno, EPERM);
    ASSERT_EQ(::rmdir((own + "/x").c_str()), 0);
    // Root's cgroup named like the leaf, in the user's cgroup.
    ASSERT_EQ(::mkdir((own + "/.cgm_leaf").c_str(), 0755), 0);
    auto& victim =
        keep(Child::spawn(As{1000, 1000, "", false, false, {fs("memory", "races"), fs("unified", "races")}}));
    auto before = snapshot_tree({fs("unified", "races")});
    const std::string procs_before = read_text(own + "/.cgm_leaf/cgroup.procs");

    auto move = user_bus_->call("MovePid", "ssi", "unified", "own", int32_t{victim.pid()});
    EXPECT_FALSE(move.ok) << "moved into root's cgroup";
    EXPECT_NE(move.message.find(".cgm_leaf is not cgmanager's"), std::string::npos) << move.describe();
    EXPECT_EQ(proc_cgroup(victim.pid(), ""), "/races");
    // Over a list, refused before the process is moved anywhere.
    auto both = user_bus_->call("MovePid", "ssi", "memory,unified", "own", int32_t{victim.pid()});
    EXPECT_FALSE(both.ok);
    EXPECT_NE(both.message.find(".cgm_leaf is not cgmanager's"), std::string::npos) << both.describe();
    EXPECT_EQ(both.message.find("moved in"), std::string::npos) << both.describe();
    EXPECT_EQ(proc_cgroup(victim.pid(), "memory"), "/races");
    EXPECT_EQ(proc_cgroup(victim.pid(), ""), "/races");
    EXPECT_EQ(read_text(own + "/.cgm_leaf/cgroup.procs"), procs_before);
    // Chmod of the cgroup (and of a file) is done, but not mirrored into root's cgroup.
    auto chmod_dir = user_bus_->call("Chmod", "sssi", "unified", "own", "", int32_t{0775});
    EXPECT_TRUE(chmod_dir.ok) << chmod_dir.describe();
    auto chmod_file = user_bus_->call("Chmod", "sssi", "unified", "own", "cgroup.procs", int32_t{0664});
    EXPECT_TRUE(chmod_file.ok) << chmod_file.describe();
    EXPECT_EQ(stat_of(own).st_mode & 07777, 0775u);
    EXPECT_EQ(stat_of(own + "/.cgm_leaf").st_mode & 07777, 0755u);
    EXPECT_EQ(stat_of(own + "/.cgm_leaf/cgroup.procs").st_mode & 07777, 0644u);
    // (SetValue never writes the leaf: tools/vm/v2-smoke shows it with real controllers.)
    // GetTasks and Remove name the leaf instead of reading or removing it.
    auto tasks = user_bus_->call("GetTasks", "ss", "unified", "own");
    EXPECT_FALSE(tasks.ok);
    EXPECT_NE(tasks.message.find(".cgm_leaf is not cgmanager's"), std::string::npos) << tasks.describe();
    auto remove = root_->call("Remove", "ssi", "unified", "races/own", int32_t{0});
    EXPECT_FALSE(remove.ok);
    EXPECT_NE(remove.message.find(".cgm_leaf is not cgmanager's"), std::string::npos) << remove.describe();
    // Root's Chown of the cgroup refuses before it changes anything.
    auto chown = root_->call("Chown", "ssii", "unified", "races/own", 1001, 1001);
    EXPECT_FALSE(chown.ok);
    EXPECT_NE(chown.message.find(".cgm_leaf is not cgmanager's"), std::string::npos) << chown.describe();
    EXPECT_EQ(stat_of(own).st_uid, 1000u);
    EXPECT_EQ(not_owned_by(own + "/.cgm_leaf", 0, 0), "");
    auto after = snapshot_tree({fs("unified", "races")});
    // Only the two modes the user changed on its own cgroup differ.
    std::string d = diff(before, after);
    for (const char* expected : {"/races/own: ", "/races/own/cgroup.procs: "})
        EXPECT_NE(d.find(expected), std::string::npos) << d;
    EXPECT_EQ(d.find(".cgm_leaf"), std::string::npos) << d;
}

// The daemon's own leaf, made in a cgroup of uid 1000 by root's MovePid: made as 1000 (not chowned
// afterwards), used by fd, mirrored into and removed as before.
TEST_F(RacesTest, TheDaemonsOwnLeafIsTheOwnersAndIsUsed) {
    setup({}, {"unified"});
    const std::string own = fs("unified", "races/own");
    auto& victim = keep(Child::spawn(As{1000, 1000, "", false, false, {fs("unified", "races")}}));
    ASSERT_TRUE(root_->call("MovePid", "ssi", "unified", "races/own", int32_t{victim.pid()}).ok);
    EXPECT_EQ(proc_cgroup2_raw(victim.pid()), "/races/own/.cgm_leaf");
    EXPECT_EQ(stat_of(own + "/.cgm_leaf").st_uid, 1000u);
    EXPECT_EQ(stat_of(own + "/.cgm_leaf/cgroup.procs").st_uid, 1000u);
    // Files the cgroup itself has as root's stay root's in the leaf too.
    EXPECT_EQ(stat_of(own + "/.cgm_leaf/cgroup.max.depth").st_uid, stat_of(own + "/cgroup.max.depth").st_uid);
    ASSERT_TRUE(user_bus_->call("Chmod", "sssi", "unified", "own", "", int32_t{0770}).ok);
    EXPECT_EQ(stat_of(own + "/.cgm_leaf").st_mode & 07777, 0770u);
    auto tasks = user_bus_->call("GetTasks", "ss", "unified", "own");
    std::vector<int32_t> pids;
    ASSERT_TRUE(tasks.ok && tasks.read(&pids)) << tasks.describe();
    EXPECT_EQ(pids, std::vector<int32_t>{victim.pid()});
    ASSERT_TRUE(root_->call("Chown", "ssii", "unified", "races/own", 1001, 1001).ok);
    EXPECT_EQ(stat_of(own + "/.cgm_leaf").st_uid, 1001u);
    ASSERT_TRUE(root_->call("MovePidAbs", "ssi", "unified", "/races", int32_t{victim.pid()}).ok);
    ASSERT_TRUE(root_->call("Remove", "ssi", "unified", "races/own", int32_t{1}).ok);
    EXPECT_FALSE(exists(own));
}

// ---- hole 7: removing follows the kernel's rule ------------------------------------------------

class ReachTest : public RacesTest {
protected:
    void SetUp() override {
        RacesTest::SetUp();
        if (IsSkipped())
            return;
        setup({}, {"memory", "unified"});
        for (const char* h : distinct_hierarchies({"memory", "unified"})) {
            // /races/own/mine: made by uid 1000; roots and roots/deeper in it: root's.
            ASSERT_TRUE(user_bus_->call("Create", "ss", h, "own/mine").ok);
            ASSERT_TRUE(root_->call("Create", "ss", h, "races/own/mine/roots/deeper").ok);
            ASSERT_TRUE(root_->call("Create", "ss", h, "races/own/mine/roots2").ok);
            // /races/deleg: made by root and delegated to 1000; what is in it, 1000's.
            ASSERT_TRUE(root_->call("Create", "ss", h, "races/deleg").ok);
            ASSERT_TRUE(root_->call("Chown", "ssii", h, "races/deleg", 1000, 1000).ok);
            ASSERT_TRUE(user_bus_->call("Create", "ss", h, "deleg/a").ok);
            ASSERT_TRUE(user_bus_->call("Create", "ss", h, "deleg/b/c").ok);
        }
    }
    static TreeSnapshot tree() { return snapshot_tree({fs("memory", "races"), fs("unified", "races")}); }
    std::string watches() { return read_text(daemon().rundir() + "/watches"); }
    void expect_refused(const BusReply& r, const std::string& needle) {
        EXPECT_FALSE(r.ok) << "succeeded";
        EXPECT_EQ(r.error_name, "org.freedesktop.DBus.Error.AccessDenied") << r.message;
        EXPECT_NE(r.message.find(needle), std::string::npos) << "'" << r.message << "' lacks '" << needle << "'";
    }
};

TEST_F(ReachTest, RecursiveRemoveNeedsWriteAccessWhereEachCgroupIs) {
    const auto before = tree();
    for (const char* h : distinct_hierarchies({"memory", "unified"})) {
        SCOPED_TRACE(h);
        expect_refused(user_bus_->call("Remove", "ssi", h, "own/mine", int32_t{1}),
                       "uid 1000 may not remove cgroup /races/own/mine/roots/deeper: it may not write cgroup "
                       "/races/own/mine/roots (owned by 0:0, mode 0755)");
        expect_refused(user_bus_->call("Remove", "ssi", h, "own/mine/roots", int32_t{1}),
                       "may not remove cgroup /races/own/mine/roots/deeper");
        expect_refused(user_bus_->call("Remove", "ssi", h, "own/mine/roots/deeper", int32_t{0}),
                       "may not remove cgroup /races/own/mine/roots/deeper");
        // The same through a proxy (Scm), the user as the requestor.
        RawBus::Cred req{user_->pid(), 1000, 1000};
        auto scm = root_->scm("RemoveScm", {std::string(h), std::string("own/mine"), int32_t{1}}, req);
        EXPECT_FALSE(scm.ok);
        EXPECT_NE(scm.message.find("may not remove cgroup /races/own/mine/roots/deeper"), std::string::npos)
            << scm.describe();
    }
    EXPECT_EQ(diff(before, tree()), "");
    // What the kernel would let the user remove, it still may: root's empty cgroup in its own
    // directory, and its own subtree once root's part is gone.
    for (const char* h : distinct_hierarchies({"memory", "unified"})) {
        SCOPED_TRACE(h);
        EXPECT_TRUE(user_bus_->call("Remove", "ssi", h, "own/mine/roots2", int32_t{0}).ok);
        EXPECT_FALSE(exists(fs(h, "races/own/mine/roots2")));
        EXPECT_TRUE(root_->call("Remove", "ssi", h, "races/own/mine/roots/deeper", int32_t{0}).ok);
        auto r = user_bus_->call("Remove", "ssi", h, "own/mine", int32_t{1});
        EXPECT_TRUE(r.ok) << r.describe();
        EXPECT_FALSE(exists(fs(h, "races/own/mine")));
        EXPECT_TRUE(root_->call("Remove", "ssi", h, "races/deleg", int32_t{1}).ok);  // root: anything
        EXPECT_FALSE(exists(fs(h, "races/deleg")));
    }
}

TEST_F(ReachTest, PruneRemovesOnlyWhatTheRequestorCouldRemove) {
    for (const char* h : distinct_hierarchies({"memory", "unified"})) {
        SCOPED_TRACE(h);
        // The delegated cgroup's parent is root's: it stays, and is not marked; its empty
        // children, in a directory the user may write, go.
        auto r = user_bus_->call("Prune", "ss", h, "deleg");
        EXPECT_TRUE(r.ok) << r.describe();
        EXPECT_TRUE(exists(fs(h, "races/deleg")));
        EXPECT_FALSE(exists(fs(h, "races/deleg/a")));
        EXPECT_FALSE(exists(fs(h, "races/deleg/b")));
        EXPECT_EQ(watches().find("/races/deleg"), std::string::npos) << watches();
        if (std::string(h) == "memory" && !pure_v2()) {
            EXPECT_EQ(read_text(fs(h, "races/deleg/notify_on_release")), "0\n");
        }
        // Root's cgroups in the user's directory: the empty one, which the user may rmdir, goes;
        // root's child in root's directory stays, and so does its parent.
        r = user_bus_->call("Prune", "ss", h, "own/mine");
        EXPECT_TRUE(r.ok) << r.describe();
        EXPECT_FALSE(exists(fs(h, "races/own/mine/roots2")));
        EXPECT_TRUE(exists(fs(h, "races/own/mine/roots/deeper")));
        EXPECT_EQ(watches().find("/races/own/mine/roots/deeper"), std::string::npos) << watches();
    }
}

TEST_F(ReachTest, RemoveOnEmptyNeedsWriteAccessWhereTheCgroupIs) {
    for (const char* h : distinct_hierarchies({"memory", "unified"})) {
        SCOPED_TRACE(h);
        expect_refused(user_bus_->call("RemoveOnEmpty", "ss", h, "deleg"),
                       "uid 1000 may not remove cgroup /races/deleg: it may not write cgroup /races");
        EXPECT_EQ(watches().find("/races/deleg\n"), std::string::npos) << watches();
        // Its own child, empty: accepted, and the daemon removes it (at once: a new watch is tried
        // straight away).
        auto own = user_bus_->call("RemoveOnEmpty", "ss", h, "deleg/a");
        EXPECT_TRUE(own.ok) << own.describe();
        const auto deadline = std::chrono::steady_clock::now() + 5s;
        while (exists(fs(h, "races/deleg/a")) && std::chrono::steady_clock::now() < deadline)
            ::usleep(5000);
        EXPECT_FALSE(exists(fs(h, "races/deleg/a"))) << daemon().log();
        EXPECT_TRUE(exists(fs(h, "races/deleg")));
    }
}

// The v1 release agent, run as the kernel runs it: it removes one cgroup, never a subtree, and only
// with the authority of whoever could have set notify_on_release on it directly.
TEST_F(ReachTest, TheReleaseAgentRemovesOnlyWhatTheFlagsOwnerCould) {
    CGM_SKIP_ON_PURE_V2("the v1 release agent (cgroup v2 has no notify_on_release)");
    ::mkdir("/run/cgmtest/agents", 0755);
    const std::string link = "/run/cgmtest/agents/cgm-release-agent.memory";
    ::unlink(link.c_str());
    ASSERT_EQ(::symlink(CGM_AGENT_BINARY, link.c_str()), 0);
    const std::vector<std::pair<std::string, std::string>> env = {{"CGMANAGER_SOCKET", daemon().socket()}};
    // A subtree put under a released name (v1 renames) is not removed: the kernel releases only
    // cgroups without children.
    const auto before = tree();
    auto sub = run({link, "/races/own/mine/roots"}, As{}, 20000, env);
    EXPECT_EQ(sub.status, 1);
    EXPECT_NE(sub.err.find("child cgroups"), std::string::npos) << sub.err;
    EXPECT_EQ(diff(before, tree()), "");
    // uid 1000 made /races/own/mine (its notify_on_release is 1000's) when it could write /races/own;
    // now it cannot: setting the flag directly gets it nothing.
    ASSERT_EQ(::chown(fs("memory", "races/own").c_str(), 0, 0), 0);
    ASSERT_TRUE(root_->call("Remove", "ssi", "memory", "races/own/mine/roots", int32_t{1}).ok);
    ASSERT_TRUE(root_->call("Remove", "ssi", "memory", "races/own/mine/roots2", int32_t{0}).ok);
    EXPECT_EQ(stat_of(fs("memory", "races/own/mine/notify_on_release")).st_uid, 1000u);
    auto refused = run({link, "/races/own/mine"}, As{}, 20000, env);
    EXPECT_EQ(refused.status, 1);
    EXPECT_NE(refused.err.find("as uid 1000"), std::string::npos) << refused.err;
    EXPECT_NE(refused.err.find("may not remove cgroup /races/own/mine"), std::string::npos) << refused.err;
    EXPECT_TRUE(exists(fs("memory", "races/own/mine")));
    // Where the owner may write the parent, the agent removes it (as the owner).
    auto allowed = run({link, "/races/deleg/b/c"}, As{}, 20000, env);
    EXPECT_EQ(allowed.status, 0) << allowed.err;
    EXPECT_FALSE(exists(fs("memory", "races/deleg/b/c")));
    // Root's flag: as root.
    ASSERT_TRUE(root_->call("Create", "ss", "memory", "races/rootflag").ok);
    auto as_root = run({link, "/races/rootflag"}, As{}, 20000, env);
    EXPECT_EQ(as_root.status, 0) << as_root.err;
    EXPECT_FALSE(exists(fs("memory", "races/rootflag")));
}

// Chown gives a delegated file by fd and only if it is a file: a child cgroup named like a
// delegated file the cgroup lacks (cgroup2's delegate list names controller files) is not given.
TEST_F(RacesTest, ChownGivesOnlyFilesNotChildCgroupsOfTheSameName) {
    setup({}, {"unified"});
    const std::string own = fs("unified", "races/own");
    if (exists(own + "/memory.oom.group")) {  // (a pure v2 host) take the memory controller away
        for (const char* cg : {"races/own/rootkid/deeper", "races/own/rootkid", "races/own", "races"})
            write_text(fs("unified", std::string(cg) + "/cgroup.subtree_control"), "-memory");
    }
    ASSERT_FALSE(exists(own + "/memory.oom.group"));  // no memory controller in this cgroup2
    ASSERT_EQ(::mkdir((own + "/memory.oom.group").c_str(), 0755), 0);
    auto r = root_->call("Chown", "ssii", "unified", "races/own", 1001, 1001);
    EXPECT_TRUE(r.ok) << r.describe();
    EXPECT_EQ(stat_of(own).st_uid, 1001u);
    EXPECT_EQ(stat_of(own + "/cgroup.procs").st_uid, 1001u);
    EXPECT_EQ(not_owned_by(own + "/memory.oom.group", 0, 0), "");
}

}  // namespace
}  // namespace cgm::test
