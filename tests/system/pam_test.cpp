// SPDX-License-Identifier: Apache-2.0
//
// pam_cgm.so with a real PAM stack (issue 13): Linux-PAM, pamtester, util-linux su and a
// long-lived PAM application (tests/support/pam_driver.cpp), against the real daemon, in the
// sandbox. The PAM configuration, the password and group files (with the test users alice 1000
// and bob 1001) and /dev (with a /dev/log this test reads) are private to the sandbox's mount
// namespace. A pam_exec probe after pam_cgm (tests/support/pam_probe.py) records where the
// login's process is, who owns that cgroup and chosen files of it, at open and at close.
#include <fcntl.h>
#include <poll.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "daemon_fixture.h"

namespace cgm::test {
namespace {

namespace fsys = std::filesystem;

const std::string kDir = "/run/cgm-pam";
const std::string kProbeLog = kDir + "/probe.log";

void write(const std::string& path, const std::string& text, bool append = false) {
    std::ofstream out(path, append ? std::ios::app : std::ios::trunc);
    out << text;
    ASSERT_TRUE(out.good()) << path;
}

void bind_mount(const std::string& from, const std::string& to, bool rec = false) {
    EXPECT_EQ(::mount(from.c_str(), to.c_str(), nullptr, MS_BIND | (rec ? MS_REC : 0), nullptr), 0)
        << from << " -> " << to << ": " << std::strerror(errno);
}

// The private world every test here runs in, made once per process (the sandbox's mount namespace
// is this process's own): /etc/pam.d, /etc/passwd, /etc/group and /dev replaced, /dev/log a
// datagram socket of this process.
int syslog_fd() {
    static int fd = [] {
        fsys::create_directories(kDir + "/pam.d");
        fsys::create_directories(kDir + "/dev-host");
        fsys::copy_file("/etc/passwd", kDir + "/passwd", fsys::copy_options::overwrite_existing);
        fsys::copy_file("/etc/group", kDir + "/group", fsys::copy_options::overwrite_existing);
        write(kDir + "/passwd", "alice:x:1000:1000::/tmp:/bin/sh\nbob:x:1001:1001::/tmp:/bin/sh\n", true);
        write(kDir + "/group", "alice:x:1000:\nbob:x:1001:\n", true);
        bind_mount(kDir + "/passwd", "/etc/passwd");
        bind_mount(kDir + "/group", "/etc/group");
        write(kDir + "/pam.d/other",
              "auth required pam_deny.so\naccount required pam_deny.so\n"
              "password required pam_deny.so\nsession required pam_deny.so\n");
        bind_mount(kDir + "/pam.d", "/etc/pam.d");
        bind_mount("/dev", kDir + "/dev-host", true);
        EXPECT_EQ(::mount("tmpfs", "/dev", "tmpfs", MS_NOSUID, "mode=0755,size=1m"), 0) << std::strerror(errno);
        for (const char* node : {"null", "zero", "full", "random", "urandom", "tty"}) {
            write(std::string("/dev/") + node, "");
            bind_mount(kDir + "/dev-host/" + node, std::string("/dev/") + node);
        }
        fsys::create_directories("/dev/pts");
        bind_mount(kDir + "/dev-host/pts", "/dev/pts", true);
        int s = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        sockaddr_un a{};
        a.sun_family = AF_UNIX;
        std::snprintf(a.sun_path, sizeof a.sun_path, "/dev/log");
        EXPECT_EQ(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a), 0) << std::strerror(errno);
        ::chmod("/dev/log", 0666);
        return s;
    }();
    return fd;
}

// What /dev/log received, read all the time by a thread of its own (a logger that stops reading
// blocks every program that logs: glibc's syslog() waits for room).
class SyslogReader {
public:
    SyslogReader() : thread_([this] { loop(); }) { thread_.detach(); }
    std::string take() {
        std::lock_guard lock(mutex_);
        return std::exchange(lines_, {});
    }

private:
    void loop() {
        const int fd = syslog_fd();
        char buf[8192];
        for (;;) {
            pollfd p{fd, POLLIN, 0};
            if (::poll(&p, 1, -1) < 0 && errno != EINTR)
                return;
            for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;) {
                std::lock_guard lock(mutex_);
                if (lines_.size() < (1u << 20))
                    lines_.append(buf, static_cast<size_t>(n)).append("\n");
            }
        }
    }
    std::mutex mutex_;
    std::string lines_;
    std::thread thread_;
};

// The syslog lines sent since the last call, one per line.
std::string logged() {
    static SyslogReader* reader = new SyslogReader();            // lives as long as the process
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // what was just sent is read
    return reader->take();
}

std::string first_line_with(const std::string& text, const std::string& needle) {
    std::istringstream lines(text);
    for (std::string line; std::getline(lines, line);)
        if (line.find(needle) != std::string::npos)
            return line;
    return "";
}

struct Where {
    std::string cgroup;  ///< as /proc/PID/cgroup names it, the hidden leaf left out
    std::string owner;   ///< uid:gid of that cgroup's directory
    std::string line;    ///< the whole probe line
};

class PamTest : public DaemonTest {
protected:
    void SetUp() override {
        DaemonTest::SetUp();
        if (IsSkipped())
            return;
        ASSERT_GE(syslog_fd(), 0);
        logged();
        fsys::remove(kProbeLog);
        start();
    }

    // /etc/pam.d/<name>: root may log in as anyone without a password; the session is pam_cgm's
    // with `args` (after --socket), then the probe, recording `files`.
    // probe=false: no probe (a stack as fast as pam_cgm alone).
    std::string service(const std::string& args, const std::string& files = "", const std::string& name = "cgmtest",
                        bool probe = true) {
        std::string stack =
            "auth sufficient pam_rootok.so\n"
            "auth required pam_deny.so\n"
            "account required pam_permit.so\n"
            "session required " CGM_PAM_MODULE " --socket " +
            daemon().socket() + " " + args + "\n";
        if (probe)
            stack += "session optional pam_exec.so quiet /usr/bin/python3 " CGM_TESTS_DIR "/support/pam_probe.py " +
                     kProbeLog + " " + files + "\n";
        write("/etc/pam.d/" + name, stack);
        return name;
    }

    RunResult pamtester(const std::string& svc, const std::string& user, std::vector<std::string> ops) {
        std::vector<std::string> argv = {"pamtester", svc, user};
        argv.insert(argv.end(), ops.begin(), ops.end());
        return run(argv, As{}, 60000, foreign_env());
    }
    // The environment of a PAM program that is not ours (pamtester, su): in a sanitized build the
    // sanitizer runtimes preloaded, so that it can load the sanitized module (its own leaks are
    // not this project's to find).
    static std::vector<std::pair<std::string, std::string>> foreign_env() {
#ifdef CGM_SANITIZER_RUNTIMES
        return {{"LD_PRELOAD", CGM_SANITIZER_RUNTIMES}, { "ASAN_OPTIONS", "detect_leaks=0" }};
#else
        return {};
#endif
    }

    // Where the probe found the login at `kind` ("open_session"/"close_session") in `hierarchy`.
    Where probed(const std::string& kind, const std::string& hierarchy) {
        std::ifstream in(kProbeLog);
        const std::string h = pure_v2() ? "unified" : hierarchy;
        for (std::string line; std::getline(in, line);) {
            std::istringstream words(line);
            std::string k, c, cg, owner;
            words >> k >> c >> cg >> owner;
            if (k == kind && c == h)
                return {cg, owner, line};
        }
        ADD_FAILURE() << "the probe saw no " << kind << " in " << h << ":\n" << read_log();
        return {};
    }
    static std::string read_log() {
        std::ifstream in(kProbeLog);
        std::stringstream s;
        s << in.rdbuf();
        return s.str();
    }
    // Where this process is in `hierarchy` (where the PAM applications it runs start).
    static std::string here(const std::string& hierarchy) {
        std::string c = proc_cgroup(::getpid(), hierarchy);
        return c.empty() ? "/" : c;
    }
    static bool gone(const std::string& hierarchy, const std::string& cgroup) {
        return eventually(3000, [&] { return !fsys::exists(fs(hierarchy, cgroup)); });
    }
};

TEST_F(PamTest, ALoginLandsInItsOwnCgroupOfTheUserAndLogoutRemovesIt) {
    auto svc = service("");
    auto r = pamtester(svc, "alice", {"open_session", "close_session"});
    ASSERT_EQ(r.status, 0) << r.out << r.err << logged();
    for (const char* h : distinct_hierarchies({"memory", "freezer"})) {
        SCOPED_TRACE(h);
        auto in = probed("open_session", h);
        EXPECT_EQ(in.cgroup, "/user/alice/0") << in.line;
        EXPECT_EQ(in.owner, "1000:1000") << in.line;
        auto after = probed("close_session", h);
        EXPECT_EQ(after.cgroup, here(h)) << "not put back where it was: " << after.line;
        EXPECT_TRUE(gone(h, "user")) << "pruned at close";
    }
    auto said = logged();
    EXPECT_NE(said.find("PAM-CGM["), std::string::npos) << said;
    EXPECT_NE(said.find("session of alice (pid "), std::string::npos) << said;
    EXPECT_NE(said.find("in user/alice/0"), std::string::npos) << said;
}

TEST_F(PamTest, TheNextSessionOfTheUserTakesTheNextFreeIndex) {
    ok("Create", "ss", R"(["memory","user/alice/0"])");
    auto& held = keep(Child::spawn(As{0, 0, "", false, false, {fs("memory", "user/alice/0")}}));
    auto svc = service("-c memory --prune-depth 1");
    auto r = pamtester(svc, "alice", {"open_session", "close_session"});
    ASSERT_EQ(r.status, 0) << r.out << r.err << logged();
    EXPECT_EQ(probed("open_session", "memory").cgroup, "/user/alice/1");
    EXPECT_TRUE(gone("memory", "user/alice/1"));
    EXPECT_TRUE(fsys::exists(fs("memory", "user/alice/0"))) << "the busy session was left alone";
    EXPECT_EQ(proc_cgroup(held.pid(), "memory"), "/user/alice/0");
}

TEST_F(PamTest, ControllersOptionUsesOnlyTheNamedHierarchies) {
    CGM_SKIP_ON_PURE_V2("needs two separate hierarchies (on cgroup v2 every controller is in the one)");
    auto svc = service("--controllers=freezer");
    auto r = pamtester(svc, "alice", {"open_session", "close_session"});
    ASSERT_EQ(r.status, 0) << r.out << r.err << logged();
    EXPECT_EQ(probed("open_session", "freezer").cgroup, "/user/alice/0");
    EXPECT_EQ(probed("open_session", "memory").cgroup, here("memory")) << "memory was not to be touched";
    EXPECT_FALSE(fsys::exists(fs("memory", "user")));
}

TEST_F(PamTest, PatternEscapesExpandToTheUsersNamesAndIds) {
    auto svc = service(R"(-p u/%U/%g-%G- -c memory)");
    auto r = pamtester(svc, "bob", {"open_session", "close_session"});
    ASSERT_EQ(r.status, 0) << r.out << r.err << logged();
    EXPECT_EQ(probed("open_session", "memory").cgroup, "/u/1001/bob-1001-0");
    EXPECT_EQ(probed("open_session", "memory").owner, "1001:1001");
    EXPECT_TRUE(gone("memory", "u"));
    // Without the index, and a literal '%'.
    fsys::remove(kProbeLog);
    svc = service(R"(--pattern p\%/%u --pattern-no-idx-suffix -c memory)");
    r = pamtester(svc, "alice", {"open_session", "close_session"});
    ASSERT_EQ(r.status, 0) << r.out << r.err << logged();
    EXPECT_EQ(probed("open_session", "memory").cgroup, "/p%/alice");
    EXPECT_TRUE(gone("memory", "p%"));
}

TEST_F(PamTest, SetValueWritesTheSessionsLimitBeforeTheLoginEntersIt) {
    const std::string limit = host_file("memory.limit_in_bytes");  // memory.max on pure v2
    auto svc = service("-c memory,pids -s memory,memory.limit_in_bytes,67108864 --set-value pids,pids.max,77",
                       limit + " pids.max");
    auto r = pamtester(svc, "alice", {"open_session", "close_session"});
    ASSERT_EQ(r.status, 0) << r.out << r.err << logged();
    auto in = probed("open_session", "memory");
    EXPECT_NE(in.line.find(limit + "=67108864"), std::string::npos) << in.line;
    auto pids = probed("open_session", "pids");
    EXPECT_NE(pids.line.find("pids.max=77"), std::string::npos) << pids.line;
}

// Levels the module made are marked RemoveOnEmpty and go when empty whatever the depth; the depth
// decides for levels that were there before (made by the admin here).
TEST_F(PamTest, PruneDepthDecidesWhichLevelsCloseRemoves) {
    ok("Create", "ss", R"(["memory","user/alice"])");
    auto svc = service("-c memory --prune-depth 0");
    ASSERT_EQ(pamtester(svc, "alice", {"open_session", "close_session"}).status, 0) << logged();
    EXPECT_TRUE(gone("memory", "user/alice/0"));
    EXPECT_TRUE(fsys::exists(fs("memory", "user/alice"))) << "depth 0 prunes nothing above the session";
    svc = service("-c memory --prune-depth 1");
    ASSERT_EQ(pamtester(svc, "alice", {"open_session", "close_session"}).status, 0) << logged();
    EXPECT_TRUE(gone("memory", "user/alice"));
    EXPECT_TRUE(fsys::exists(fs("memory", "user")));
}

// Each failure: the login is refused (PAM_SESSION_ERR), syslog says why, and nothing is left.
TEST_F(PamTest, FailuresRefuseTheSessionSayWhyAndLeaveNothing) {
    struct Case {
        std::string args, needle;
    } cases[] = {
        {"-c memory,nosuch", "unknown controller 'nosuch'"},
        {"--bogus", "unknown option '--bogus'"},
        {"-m 0", "--max-idx wants a whole number of at least 1"},
        {"-p user/%x", "unknown escape '%x'"},
        {"-c memory -s memory,no.such.key,1", "cannot set memory no.such.key to '1' in user/alice/0"},
        {"-c memory --delegate pids", "--delegate names pids, which is not one of the session's memory"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.args);
        fsys::remove(kProbeLog);
        auto svc = service(c.args);
        auto r = pamtester(svc, "alice", {"open_session"});
        EXPECT_NE(r.status, 0) << r.out;
        EXPECT_NE(r.err.find("session"), std::string::npos) << r.err;  // pamtester names the failure
        auto said = logged();
        EXPECT_NE(said.find(c.needle), std::string::npos) << said;
        EXPECT_FALSE(fsys::exists(fs("memory", "user"))) << "left behind";
        // The probe runs after the failed module (the stack goes on): the process is back.
        EXPECT_EQ(probed("open_session", "memory").cgroup, here("memory"));
    }
    // All indices taken: -m 2 with user/alice/0 and 1 there.
    ok("Create", "ss", R"(["memory","user/alice/0"])");
    ok("Create", "ss", R"(["memory","user/alice/1"])");
    auto r = pamtester(service("-c memory -m 2"), "alice", {"open_session"});
    EXPECT_NE(r.status, 0);
    auto said = logged();
    EXPECT_NE(said.find("all 2 session cgroups user/alice/0 to user/alice/1 are taken"), std::string::npos) << said;
    EXPECT_FALSE(fsys::exists(fs("memory", "user/alice/2")));
    // The daemon is not there.
    write("/etc/pam.d/down",
          "auth sufficient pam_rootok.so\naccount required pam_permit.so\nsession required " CGM_PAM_MODULE
          " --socket /run/cgm-pam/no-daemon\n");
    r = pamtester("down", "alice", {"open_session"});
    EXPECT_NE(r.status, 0);
    said = logged();
    EXPECT_NE(said.find("session of alice not opened: cannot connect to cgmanager at /run/cgm-pam/no-daemon"),
              std::string::npos)
        << said;
    // close_session without an open one is a success (0.42).
    EXPECT_EQ(pamtester(service(""), "alice", {"close_session"}).status, 0);
}

TEST_F(PamTest, SuDashLGivesTheLoginShellTheSession) {
    service("-c memory", "", "su-l");
    service("-c memory", "", "su");
    auto r = run({"su", "-l", "alice", "-c", "cat /proc/self/cgroup; id -u"}, As{}, 30000, foreign_env());
    ASSERT_EQ(r.status, 0) << r.out << r.err << logged();
    const std::string want = pure_v2() ? "0::/user/alice/0" : ":memory:/user/alice/0";
    EXPECT_NE(r.out.find(want), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("\n1000\n"), std::string::npos) << r.out;
    EXPECT_TRUE(gone("memory", "user")) << "su closed the session when the shell exited";
}

// What the user does in a delegated session, with plain file operations in its directory: the
// limit files it may write, the bounds the admin set with --set-value, moving a process of its own
// and removing what it made.
const char* const kDelegateScript = R"sh(cd "$1" || exit 1
echo "subtree=$(cat cgroup.subtree_control)"
mkdir a && mkdir a/b && echo made=a,a/b
mkdir a/b/c 2>/dev/null && echo depth=not-bounded || echo depth=bounded
mkdir d && echo made=d
mkdir e 2>/dev/null && echo descendants=not-bounded || echo descendants=bounded
(echo 9 > cgroup.max.depth) 2>/dev/null && echo bounds=writable || echo bounds=root-only
if [ -e a/pids.max ]; then echo 7 > a/pids.max && echo "a-pids.max=$(cat a/pids.max)"; fi
[ -e a/memory.max ] && echo a-memory=yes || echo a-memory=no
sh -c 'echo $$ > d/cgroup.procs && grep "^0::" /proc/self/cgroup'
for dir in a/b a d; do
  for try in 1 2 3 4 5 6 7 8 9 10; do rmdir "$dir" 2>/dev/null && break; sleep 0.1; done
done
ls -d a d 2>/dev/null || echo removed=all
)sh";

// --delegate on cgroup v2: the session's cgroup.subtree_control enables exactly the controllers
// listed (memory, in the session and offered by its parent, is not delegated here), the user
// manages cgroups below it with plain file operations, and the bounds the admin wrote with
// --set-value hold (cgroup.max.depth 2 and cgroup.max.descendants 4: the hidden leaf the login is
// in counts as one). On a host where the controllers are on v1 only the bounds of cgroup2 are
// checked, and --delegate of a v1 controller refuses the session, named.
TEST_F(PamTest, DelegateGivesTheUserABoundedSubtreeToManageWithPlainFiles) {
    write(kDir + "/delegate.sh", kDelegateScript);
    const std::string h = pure_v2() ? "memory" : "unified";
    const std::string bounds = " -s " + h + ",cgroup.max.depth,2 -s " + h + ",cgroup.max.descendants,4";
    const std::string args = pure_v2() ? "-c memory,pids --delegate pids" + bounds : "-c unified" + bounds;
    service(args, "", "su-l");
    service(args, "", "su");
    auto r = run({"su", "-l", "alice", "-c", "sh " + kDir + "/delegate.sh " + fs(h, "user/alice/0")}, As{}, 30000,
                 foreign_env());
    ASSERT_EQ(r.status, 0) << r.out << r.err << logged();
    EXPECT_NE(r.out.find(pure_v2() ? "subtree=pids\n" : "subtree=\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("made=a,a/b\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("depth=bounded\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("made=d\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("descendants=bounded\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("bounds=root-only\n"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("0::/user/alice/0/d\n"), std::string::npos) << "the user moved its process: " << r.out;
    EXPECT_NE(r.out.find("removed=all\n"), std::string::npos) << r.out;
    if (pure_v2()) {
        EXPECT_NE(r.out.find("a-pids.max=7\n"), std::string::npos) << r.out;
        EXPECT_NE(r.out.find("a-memory=no\n"), std::string::npos) << "memory was not delegated: " << r.out;
    }
    EXPECT_TRUE(gone(h, "user")) << "su closed the session when the shell exited";
    if (pure_v2())
        return;
    // memory is a v1 hierarchy here: nothing to delegate, the session is refused and left as it was.
    r = pamtester(service("-c memory --delegate memory"), "alice", {"open_session"});
    EXPECT_NE(r.status, 0) << r.out;
    auto said = logged();
    EXPECT_NE(said.find("cannot delegate memory in user/alice/0 (cgroup.subtree_control of cgroup v2): "),
              std::string::npos)
        << said;
    EXPECT_FALSE(fsys::exists(fs("memory", "user"))) << "left behind";
}

// sshd and display managers open and close sessions for as long as they run: 1,000 sessions in one
// process leave its descriptor count as it was and its memory bounded (LeakSanitizer checks the
// sanitized build at exit); four threads at once are served one at a time and all succeed.
TEST_F(PamTest, AThousandSessionsInOneProcessLeakNothing) {
    auto svc = service("-c memory", "", "cgmtest", false);
    auto r = run({CGM_PAM_DRIVER, svc, "alice", "1000", "1"}, As{}, 240000);
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    std::printf("%s", r.out.c_str());
    unsigned failed = 1, fd0 = 0, fd1 = 0;
    long rss0 = 0, rss1 = 0;
    ASSERT_EQ(std::sscanf(r.out.c_str(), "failed %u\nfds %u %u\nrss %ld %ld", &failed, &fd0, &fd1, &rss0, &rss1), 5)
        << r.out;
    EXPECT_EQ(failed, 0u);
    EXPECT_EQ(fd1, fd0) << "descriptors leaked";
#ifndef CGM_SANITIZED
    EXPECT_LE(rss1 - rss0, 256) << "RSS grew from " << rss0 << " to " << rss1 << " KiB over 900 sessions";
#endif
    auto said = logged();
    EXPECT_EQ(said.find("not opened"), std::string::npos) << first_line_with(said, "not opened");
    EXPECT_TRUE(gone("memory", "user"));
}

// Four threads of one process opening and closing at once: served one at a time, all succeed,
// although each logout leaves levels for the daemon to remove while the next login uses them.
TEST_F(PamTest, FourThreadsOpeningAndClosingAtOnceAllSucceed) {
    auto svc = service("-c memory", "", "cgmtest", false);
    auto r = run({CGM_PAM_DRIVER, svc, "alice", "50", "4"}, As{}, 240000);
    EXPECT_EQ(r.status, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("failed 0\n"), std::string::npos) << r.out;
    auto said = logged();
    EXPECT_EQ(said.find("not opened"), std::string::npos) << first_line_with(said, "not opened");
    EXPECT_TRUE(gone("memory", "user"));
}

}  // namespace
}  // namespace cgm::test
