// SPDX-License-Identifier: Apache-2.0
//
// cgproxy: a container-like run (new user, pid and mount namespaces, root mapped to host 100000,
// the host's socket directory bind-mounted in) where plain calls and cgm inside reach the host's
// daemon through the proxy (the original's test 22 and its nstest); the proxy's refusals; and a
// proxy that outlives its host daemon.
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <sstream>
#include <vector>

#include "daemon_fixture.h"

namespace cgm::test {
namespace {

class ProxyTest : public DaemonTest {
protected:
    RunResult cgm_root(std::vector<std::string> args) {
        std::vector<std::string> argv = {CGM_CLI_BINARY, "--socket", daemon().socket()};
        argv.insert(argv.end(), args.begin(), args.end());
        return run(argv);
    }
    // As in a container: the host's socket directory (/run/cgmtest/host, where a daemon is
    // started) bind-mounted at /run/cgmtest/p, where a proxy will serve.
    void host_for_proxy() {
        ::mkdir("/run/cgmtest", 0755);
        ::mkdir("/run/cgmtest/host", 0755);
        ::mkdir("/run/cgmtest/p", 0755);
        ASSERT_EQ(::mount("/run/cgmtest/host", "/run/cgmtest/p", nullptr, MS_BIND, nullptr), 0);
        start(Daemon::Config{{}, "/run/cgmtest/host/sock", false, true, "", {}});
    }
    // cgm through the proxy of host_for_proxy().
    RunResult cgm_proxied(std::vector<std::string> args) {
        std::vector<std::string> argv = {CGM_CLI_BINARY, "--socket", kProxySocket};
        argv.insert(argv.end(), args.begin(), args.end());
        return run(argv);
    }
    // Wait (bounded) until the proxy serves and has moved the host's directory aside.
    bool proxy_up() {
        for (int i = 0; i < 400; ++i) {
            if (exists("/run/cgmtest/p.lower/sock") && cgm_proxied({"ping"}).status == 0)
                return true;
            ::usleep(20000);
        }
        return false;
    }
    static constexpr const char* kProxySocket = "/run/cgmtest/p/sock";
};

// The container's script: its own /proc, a fresh /sys/fs/cgroup with the host's socket directory
// bind-mounted at cgmanager/, cgproxy started, then the checks. Each check prints "name: output".
const char* kContainerScript = R"SH(
set -u
mount -t proc proc /proc || exit 10
mount -t tmpfs tmpfs /sys/fs/cgroup || exit 11
mkdir /sys/fs/cgroup/cgmanager
mount --bind "$HOSTDIR" /sys/fs/cgroup/cgmanager || exit 12
"$CGPROXY" --verbose >/dev/null 2>&1 &
P=$!
i=0
until [ -S /sys/fs/cgroup/cgmanager.lower/sock ] && [ -S /sys/fs/cgroup/cgmanager/sock ] && "$CGM" ping 2>/dev/null; do
  i=$((i + 1)); [ $i -gt 400 ] && { echo "proxy did not come up"; exit 13; }; sleep 0.02
done
check() { name=$1; shift; out=$("$@" 2>&1); echo "$name [$?]: $(printf %s "$out" | tr '\n' '|')"; }
check lower-exists test -S /sys/fs/cgroup/cgmanager.lower/sock
check whoami id -u
check create "$CGM" create memory test22_cg
check create-ab "$CGM" create memory ab
sleep 1000 & S=$!
check move-sleep "$CGM" movepid memory test22_cg $S
check move-self "$CGM" movepid memory test22_cg $$
check p "$CGM" getpidcgroup memory $$
check absp "$CGM" getpidcgroupabs memory $$
check gettasks "$CGM" gettasks memory ""
check setvalue "$CGM" setvalue memory "" memory.limit_in_bytes 67108864
check getvalue "$CGM" getvalue memory "" memory.limit_in_bytes
check stat-lines sh -c "\"$CGM\" getvalue memory '' memory.stat | wc -l"
check listkeys-tasks sh -c "\"$CGM\" listkeys memory '' | grep '^$TASKS '"
check nested "$CGM" create memory nested
check chown-ab "$CGM" chown memory ../ab 5 5
check chown-ab2 "$CGM" chown memory /ab 5 5
check escape "$CGM" getvalue memory /elsewhere memory.limit_in_bytes
check badkey "$CGM" getvalue memory "" ../x
check chained "$PROBE" /sys/fs/cgroup/cgmanager/sock Create memory x --requestor $S:0:0
check scm-self "$PROBE" /sys/fs/cgroup/cgmanager/sock Create memory viascm
check listcontrollers sh -c "\"$CGM\" listcontrollers | grep -c ."
check apiversion "$CGM" apiversion
kill $S
kill $P; wait $P
echo "proxy exit [$?]"
)SH";

TEST_F(ProxyTest, AContainerManagesItsCgroupsThroughTheProxy) {
    ::mkdir("/run/cgmtest", 0755);
    ::mkdir("/run/cgmtest/hostsock", 0755);
    start(Daemon::Config{{}, "/run/cgmtest/hostsock/sock", false, true, "", {}});
    // What a container runtime does first: a cgroup per hierarchy, given to the container's root.
    ASSERT_EQ(cgm_root({"create", "all", "ct"}).status, 0);
    ASSERT_EQ(cgm_root({"chown", "all", "ct", "100000", "100000"}).status, 0);
    ASSERT_EQ(cgm_root({"create", "memory", "elsewhere"}).status, 0);
    As ct = As::userns_root(100000);
    ct.container = true;
    for (const char* h :
         {"memory", "freezer", "pids", "cpuset", "systemd", "unified", "devices", "blkio", "cpu", "cpuacct"})
        ct.join.push_back(fs(h, "ct"));
    auto r = run({"/bin/sh", "-c", kContainerScript}, ct, 60000,
                 {{"HOSTDIR", "/run/cgmtest/hostsock"},
                  {"CGM", CGM_CLI_BINARY},
                  {"CGPROXY", CGM_PROXY_BINARY},
                  {"PROBE", CGM_SCM_PROBE},
                  {"TASKS", host_file("tasks")}});
    ASSERT_EQ(r.status, 0) << r.out << r.err;
    auto line = [&](const std::string& name) {
        auto at = r.out.find("\n" + name + " [");
        if (at == std::string::npos && r.out.rfind(name + " [", 0) == 0)
            at = 0;
        else if (at != std::string::npos)
            ++at;
        if (at == std::string::npos)
            return std::string("(missing)");
        return r.out.substr(at + name.size() + 1, r.out.find('\n', at) - at - name.size() - 1);
    };
    EXPECT_EQ(line("lower-exists"), "[0]: ");  // the host's socket directory was moved aside
    EXPECT_EQ(line("whoami"), "[0]: 0");       // root in there, host uid 100000 out here
    EXPECT_EQ(line("create"), "[0]: ");
    EXPECT_EQ(stat_of(fs("memory", "ct/test22_cg")).st_uid, 100000u);
    EXPECT_EQ(line("move-sleep"), "[0]: ");
    EXPECT_EQ(line("move-self"), "[0]: ");
    // Reference test 22: GetPidCgroup is relative to the requestor, GetPidCgroupAbs to the proxy.
    EXPECT_EQ(line("p"), "[0]: /");
    EXPECT_EQ(line("absp"), "[0]: /test22_cg");
    // pids come back translated into the container's pid namespace (small numbers there).
    EXPECT_EQ(line("gettasks").substr(0, 4), "[0]:") << line("gettasks");
    EXPECT_EQ(line("setvalue"), "[0]: ");
    EXPECT_EQ(line("getvalue"), "[0]: 67108864");
    EXPECT_EQ(read_text(fs("memory", "ct/test22_cg/memory.limit_in_bytes")), "67108864\n");
    EXPECT_GT(std::atoi(line("stat-lines").substr(5).c_str()), 30) << line("stat-lines");
    // Owners as the container sees them: host 100000 is its root.
    const std::string tasks_line = "[0]: " + host_file("tasks") + " 0 0";
    EXPECT_EQ(line("listkeys-tasks").substr(0, tasks_line.size()), tasks_line) << line("listkeys-tasks");
    // The nstest scenario: container root creates below the cgroup given to it.
    EXPECT_EQ(line("nested"), "[0]: ");
    EXPECT_TRUE(exists(fs("memory", "ct/test22_cg/nested")));
    EXPECT_EQ(stat_of(fs("memory", "ct/test22_cg/nested")).st_uid, 100000u);
    // Paths stay below the requestor: "../ab" is refused, and "/ab" (relative for Chown) does
    // not exist below test22_cg.
    EXPECT_NE(line("chown-ab").find("[1]"), std::string::npos);
    EXPECT_NE(line("chown-ab").find("'..'"), std::string::npos) << line("chown-ab");
    EXPECT_NE(line("chown-ab2").find("does not exist"), std::string::npos) << line("chown-ab2");
    EXPECT_EQ(stat_of(fs("memory", "ct/ab")).st_uid, 100000u);
    // The host's reasons travel through the proxy.
    EXPECT_NE(line("escape").find("outside the proxy's cgroup /ct"), std::string::npos) << line("escape");
    EXPECT_NE(line("badkey").find("single file name"), std::string::npos) << line("badkey");
    // An *Scm call to the proxy with someone else's credentials: proxies do not chain.
    EXPECT_NE(line("chained").find("proxies do not chain"), std::string::npos) << line("chained");
    EXPECT_FALSE(exists(fs("memory", "ct/test22_cg/x")));
    EXPECT_NE(line("scm-self").find("OK"), std::string::npos) << line("scm-self");
    EXPECT_TRUE(exists(fs("memory", "ct/test22_cg/viascm")));
    // (On a pure v2 host one hierarchy, named by its controllers.)
    EXPECT_GE(std::atoi(line("listcontrollers").substr(5).c_str()), pure_v2() ? 1 : 9) << line("listcontrollers");
    EXPECT_EQ(line("apiversion"), "[0]: 10");
    EXPECT_EQ(line("proxy exit"), "[0]") << r.out;
}

TEST_F(ProxyTest, RefusesWithoutRootOrHost) {
    auto user = run({CGM_PROXY_BINARY, "--socket", "/run/cgmtest/nohost/sock"}, As::user(1000));
    EXPECT_EQ(user.status, 1);
    EXPECT_NE(user.err.find("must be run as root"), std::string::npos) << user.err;
    auto nohost = run({CGM_PROXY_BINARY, "--socket", "/run/cgmtest/nohost/sock"});
    EXPECT_EQ(nohost.status, 1);
    EXPECT_NE(nohost.err.find("no cgmanager answers"), std::string::npos) << nohost.err;
    auto check = run({CGM_PROXY_BINARY, "--check-master", "--socket", "/run/cgmtest/nohost/sock"});
    EXPECT_EQ(check.status, 1);
}

// A proxy outlives its host daemon: while the host is away calls fail at once with a clear reason
// (Ping is answered by the proxy itself), and once a daemon answers again the proxy reconnects.
TEST_F(ProxyTest, ReconnectsToTheHostWithoutFreezing) {
    host_for_proxy();
    EXPECT_EQ(run({CGM_PROXY_BINARY, "--check-master", "--socket", kProxySocket}).status, 0);
    auto proxy = run({"/bin/sh", "-c",
                      std::string(CGM_PROXY_BINARY) + " --socket " + kProxySocket +
                          " --verbose >/dev/null 2>/run/cgmtest/proxy.log & echo $!"});
    pid_t ppid = std::stoi(proxy.out);
    auto cgm = [&](std::vector<std::string> args) { return cgm_proxied(std::move(args)); };
    const bool up = proxy_up();
    ASSERT_TRUE(up) << read_text("/run/cgmtest/proxy.log");
    EXPECT_EQ(cgm({"create", "memory", "first"}).status, 0);
    EXPECT_TRUE(exists(fs("memory", "first")));
    // Long values come through whole (0.42's proxy cut them at 4096 bytes): a tasks file of 1201
    // threads.
    ASSERT_EQ(::mkdir(fs("pids", "many").c_str(), 0755), 0);
    As holder;
    holder.threads = 1200;
    holder.join = {fs("pids", "many")};
    auto& threads = keep(Child::spawn(holder));
    auto tasks = cgm({"getvalue", "pids", "many", "tasks"});
    EXPECT_EQ(tasks.status, 0) << tasks.err;
    EXPECT_GT(tasks.out.size(), 4096u);
    EXPECT_EQ(std::count(tasks.out.begin(), tasks.out.end(), '\n'), 1201);
    if (pure_v2()) {  // the threads of the cgroup's hidden leaf, sorted
        auto sorted = [](const std::string& text) {
            std::vector<long> ids;
            std::istringstream in(text);
            for (long id; in >> id;)
                ids.push_back(id);
            std::sort(ids.begin(), ids.end());
            return ids;
        };
        EXPECT_EQ(sorted(tasks.out), sorted(read_text(fs("pids", "many/.cgm_leaf/cgroup.threads"))));
    } else {
        EXPECT_EQ(tasks.out + "", read_text(fs("pids", "many/tasks")));
    }
    (void)threads;
    // The host goes away.
    EXPECT_EQ(daemon().stop(), 0);
    auto t0 = std::chrono::steady_clock::now();
    auto down = cgm({"create", "memory", "second"});
    auto took = std::chrono::steady_clock::now() - t0;
    EXPECT_EQ(down.status, 1);
    EXPECT_NE(down.err.find("not reachable"), std::string::npos) << down.err;
    EXPECT_LT(took, std::chrono::seconds(3));
    EXPECT_EQ(cgm({"ping"}).status, 0);  // the proxy itself still answers
    // A host daemon answers again where the proxy looks for it.
    start(Daemon::Config{{}, "/run/cgmtest/host/sock", false, true, "", {}});
    auto again = cgm({"create", "memory", "second"});
    EXPECT_EQ(again.status, 0) << again.err;
    EXPECT_TRUE(exists(fs("memory", "second")));
    ::kill(ppid, SIGTERM);
    for (int i = 0; i < 500 && ::kill(ppid, 0) == 0; ++i)
        ::usleep(10000);
    EXPECT_NE(::kill(ppid, 0), 0);
    ::umount2("/run/cgmtest/p.lower", MNT_DETACH);
}

// --daemon: the starting process returns once the proxy is on its own, in a session of its own,
// with its pid in /run/cgproxy.pid; it forwards, and SIGTERM ends it.
TEST_F(ProxyTest, DaemonModeDetachesAndWritesItsPid) {
    host_for_proxy();
    auto r = run({CGM_PROXY_BINARY, "--daemon", "--socket", kProxySocket});
    EXPECT_EQ(r.status, 0) << r.err;
    pid_t pid = 0;
    for (int i = 0; i < 500 && pid == 0; ++i) {  // written by the intermediate process
        if (exists("/run/cgproxy.pid"))
            pid = std::atoi(read_text("/run/cgproxy.pid").c_str());
        else
            ::usleep(10000);
    }
    ASSERT_GT(pid, 1);
    ASSERT_TRUE(proxy_up());
    auto made = cgm_proxied({"create", "memory", "detached"});
    EXPECT_EQ(made.status, 0) << made.err;
    EXPECT_TRUE(exists(fs("memory", "detached")));
    EXPECT_NE(::getsid(pid), ::getsid(0));
    ASSERT_EQ(::kill(pid, SIGTERM), 0);
    for (int i = 0; i < 500 && ::kill(pid, 0) == 0; ++i)
        ::usleep(10000);
    EXPECT_NE(::kill(pid, 0), 0);
    EXPECT_FALSE(exists(kProxySocket));
    ::unlink("/run/cgproxy.pid");
    ::umount2("/run/cgmtest/p.lower", MNT_DETACH);
}

// --sigstop: the proxy stops itself once it serves (upstart's "expect stop"), and serves when
// continued.
TEST_F(ProxyTest, SigstopStopsOnceReady) {
    host_for_proxy();
    struct Proxy {  // our own child, so that waitpid sees it stop; killed if a check fails
        pid_t pid = ::fork();
        ~Proxy() {
            if (pid > 0 && ::kill(pid, SIGKILL) == 0)
                ::waitpid(pid, nullptr, 0);
        }
    } proxy;
    if (proxy.pid == 0) {
        ::execl(CGM_PROXY_BINARY, "cgproxy", "--sigstop", "--socket", kProxySocket, static_cast<char*>(nullptr));
        ::_exit(127);
    }
    ASSERT_GT(proxy.pid, 0);
    int raw = 0;
    pid_t seen = 0;
    for (int i = 0; i < 1000 && seen == 0; ++i)  // bounded: a proxy that never stops fails here
        if ((seen = ::waitpid(proxy.pid, &raw, WUNTRACED | WNOHANG)) == 0)
            ::usleep(10000);
    ASSERT_EQ(seen, proxy.pid) << "the proxy did not stop itself";
    ASSERT_TRUE(WIFSTOPPED(raw)) << raw;
    EXPECT_TRUE(exists(kProxySocket));  // ready before it stopped
    ::kill(proxy.pid, SIGCONT);
    ASSERT_TRUE(proxy_up());
    EXPECT_EQ(cgm_proxied({"create", "memory", "continued"}).status, 0);
    EXPECT_TRUE(exists(fs("memory", "continued")));
    ::kill(proxy.pid, SIGTERM);
    ASSERT_EQ(::waitpid(proxy.pid, &raw, 0), proxy.pid);
    proxy.pid = -1;
    EXPECT_TRUE(WIFEXITED(raw) && WEXITSTATUS(raw) == 0) << raw;
    ::umount2("/run/cgmtest/p.lower", MNT_DETACH);
}

}  // namespace
}  // namespace cgm::test
