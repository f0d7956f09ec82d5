// SPDX-License-Identifier: Apache-2.0
//
// cgm-bench: load for any cgmanager socket, and the floors to compare it with.
//
//   cgm-bench --socket PATH --workload W [--clients N] [--seconds S | --calls N] [--connect-per-call]
//   cgm-bench --floor F [--seconds S] [--dir CGROUP_DIR] [--file NAME] [--echo-cpu N]
//   cgm-bench --socket PATH --hold N        hold N idle connections (each has done one Ping);
//                                            prints "holding N", then waits for stdin to close
//   cgm-bench --socket PATH --slow-scm S    one MovePidScm exchange whose client waits S seconds
//                                            before sending its credentials; prints "slow-scm ok"
//
// Workloads (each client is a process of its own, on its own connection, with a raw sd-bus
// client and no Hello, as the original's C clients):
//   ping, getvalue, setvalue, create-remove, movepid, gettasks, listchildren, scm (MovePidScm)
// Floors (the same work without the daemon):
//   socket     a unix-socket ping-pong between two processes (64-byte messages)
//   read       open+read+close of a cgroup file          (--dir: the cgroup, --file: the file)
//   write      open+write+close of a cgroup file
//   mkdir      mkdir+rmdir of a cgroup
//   movepid    writing this process's pid to cgroup.procs of two cgroups in turn
//   readdir    listing the child directories of a cgroup
//   connect    connect+close of a unix socket
//
// --cpu N runs the clients (or a floor's first end) on CPU N, --echo-cpu N a floor's other end.
// Output: one line "name clients calls/s p50_us p99_us errors" (with --json, a JSON object).
// Environment for the workloads: BENCH_CONTROLLER (default memory), BENCH_CGROUP (a cgroup, relative
// to the clients' own, that exists: getvalue/setvalue/gettasks/listchildren act on it),
// BENCH_KEY (default memory.limit_in_bytes), BENCH_VALUE (what setvalue and the write floor write,
// default -1), BENCH_MOVE_A / BENCH_MOVE_B (two cgroups for movepid and scm).
#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "core/sys.h"

namespace {

using Clock = std::chrono::steady_clock;

const char* kPath = "/org/linuxcontainers/cgmanager";
const char* kIface = "org.linuxcontainers.cgmanager0_0";

struct Args {
    std::string socket;
    std::string workload;
    std::string floor;
    int clients = 1;
    double seconds = 3;
    bool connect_per_call = false;
    bool json = false;
    std::string dir;  // floors: a cgroup directory
    std::string file = "memory.limit_in_bytes";
    long calls = 0;  // with --calls: stop each client after this many calls
    int hold = 0;
    double slow_scm = 0;
    int cpu = -1;       // --cpu: pin this process (and so the clients) to one CPU
    int echo_cpu = -1;  // --echo-cpu: pin the floors' other end (echo, acceptor) to one CPU
};

std::string env(const char* name, const char* fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

[[noreturn]] void die(const std::string& what) {
    std::fprintf(stderr, "cgm-bench: %s\n", what.c_str());
    std::exit(2);
}

void pin(int cpu) {
    if (cpu < 0)
        return;
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (::sched_setaffinity(0, sizeof set, &set) < 0)
        die("cannot run on CPU " + std::to_string(cpu));
}

// ---- a raw sd-bus client ---------------------------------------------------------------------

sd_bus* connect_bus(const std::string& socket) {
    sd_bus* bus = nullptr;
    if (sd_bus_new(&bus) < 0)
        die("sd_bus_new");
    std::string address = "unix:path=" + socket;
    sd_bus_set_address(bus, address.c_str());
    sd_bus_negotiate_fds(bus, 1);
    int r = sd_bus_start(bus);
    if (r < 0)
        die(std::string("connecting to ") + socket + ": " + std::strerror(-r));
    return bus;
}

// One method call; true on success.
template <typename... A>
bool call(sd_bus* bus, const char* method, const char* sig, A... args) {
    sd_bus_error err = SD_BUS_ERROR_NULL;
    sd_bus_message* reply = nullptr;
    int r = sd_bus_call_method(bus, nullptr, kPath, kIface, method, &err, &reply, sig, args...);
    sd_bus_error_free(&err);
    sd_bus_message_unref(reply);
    return r >= 0;
}

// The client side of MovePidScm (docs/dbus-api.md section 5): kick, requestor, kick, victim, result.
// The requestor is this process; the victim is `victim` (a child, so that the requestor's cgroup,
// which the relative path is resolved against, stays put).
bool move_pid_scm(sd_bus* bus, const char* controller, const char* cgroup, pid_t victim, double delay_s = 0) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0, sv) < 0)
        return false;
    int one = 1;
    ::setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    ::setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &one, sizeof one);
    bool ok = call(bus, "MovePidScm", "ssh", controller, cgroup, sv[1]);
    auto cred = [&](pid_t pid) {
        return cgm::sys::send_credentials(sv[0], pid, ::getuid(), ::getgid(), MSG_NOSIGNAL) == 1;
    };
    auto byte = [&]() -> char {
        struct pollfd p = {sv[0], POLLIN, 0};
        char b = 0;
        if (::poll(&p, 1, 5000) != 1 || ::recv(sv[0], &b, 1, 0) != 1)
            return 0;
        return b;
    };
    ok = ok && byte() == '1';
    if (ok && delay_s > 0)
        ::usleep(static_cast<useconds_t>(delay_s * 1e6));
    ok = ok && cred(::getpid()) && byte() == '1' && cred(victim) && byte() == '1';
    ::close(sv[0]);
    ::close(sv[1]);
    return ok;
}

// ---- running clients ---------------------------------------------------------------------------

struct Sample {
    std::vector<uint32_t> ns;  // latency of each call, in ns (capped at ~4 s)
    uint64_t errors = 0;
    double elapsed = 0;  // seconds the calls took in all
};

// Run `op` repeatedly for `seconds`, timing each call.
long g_max_calls = 0;  // --calls

template <typename Op>
Sample measure(double seconds, Op&& op) {
    Sample s;
    s.ns.reserve(1 << 20);
    auto start = Clock::now();
    auto end = start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    uint64_t i = 0;
    for (;;) {
        auto t0 = Clock::now();
        if (g_max_calls > 0 ? static_cast<long>(i) >= g_max_calls : t0 >= end)
            break;
        bool ok = op(i++);
        auto t1 = Clock::now();
        auto d = std::chrono::duration_cast<std::chrono::nanoseconds>(t1 - t0).count();
        s.ns.push_back(static_cast<uint32_t>(std::min<int64_t>(d, 0xffffffff)));
        if (!ok)
            ++s.errors;
    }
    s.elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    return s;
}

bool write_all(int fd, const void* p, size_t n) {
    auto* c = static_cast<const char*>(p);
    while (n) {
        ssize_t w = ::write(fd, c, n);
        if (w <= 0)
            return false;
        c += w;
        n -= static_cast<size_t>(w);
    }
    return true;
}

bool read_all(int fd, void* p, size_t n) {
    auto* c = static_cast<char*>(p);
    while (n) {
        ssize_t r = ::read(fd, c, n);
        if (r <= 0)
            return false;
        c += r;
        n -= static_cast<size_t>(r);
    }
    return true;
}

// A child that waits to be killed (the process MovePidScm moves).
pid_t spawn_victim() {
    pid_t pid = ::fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        for (;;)
            ::pause();
    }
    return pid;
}

// One client process's run of a workload.
Sample run_client(const Args& a, int index) {
    const std::string ctrl = env("BENCH_CONTROLLER", "memory");
    const std::string cg = env("BENCH_CGROUP", "");
    const std::string key = env("BENCH_KEY", "memory.limit_in_bytes");
    const std::string value = env("BENCH_VALUE", "-1");
    const std::string move_a = env("BENCH_MOVE_A", "bench_a");
    const std::string move_b = env("BENCH_MOVE_B", "bench_b");
    const std::string pid = std::to_string(::getpid());
    sd_bus* bus = a.connect_per_call ? nullptr : connect_bus(a.socket);
    const std::string& w = a.workload;
    pid_t victim = w == "scm" ? spawn_victim() : -1;
    auto one = [&](sd_bus* b, uint64_t i) -> bool {
        if (w == "ping")
            return call(b, "Ping", "i", 0);
        if (w == "getvalue")
            return call(b, "GetValue", "sss", ctrl.c_str(), cg.c_str(), key.c_str());
        if (w == "setvalue")
            return call(b, "SetValue", "ssss", ctrl.c_str(), cg.c_str(), key.c_str(), value.c_str());
        if (w == "create-remove") {
            std::string name = (cg.empty() ? "" : cg + "/") + "cr" + std::to_string(index) + "_" + std::to_string(i);
            return call(b, "Create", "ss", ctrl.c_str(), name.c_str()) &&
                   call(b, "Remove", "ssi", ctrl.c_str(), name.c_str(), 0);
        }
        if (w == "movepid")
            return call(b, "MovePidAbs", "ssi", ctrl.c_str(), (i % 2 ? move_a : move_b).c_str(), ::getpid());
        if (w == "gettasks")
            return call(b, "GetTasks", "ss", ctrl.c_str(), cg.c_str());
        if (w == "listchildren")
            return call(b, "ListChildren", "ss", ctrl.c_str(), cg.c_str());
        if (w == "scm")
            return move_pid_scm(b, ctrl.c_str(), (i % 2 ? move_a : move_b).c_str(), victim);
        die("unknown workload " + w);
    };
    Sample s = measure(a.seconds, [&](uint64_t i) {
        if (!a.connect_per_call)
            return one(bus, i);
        sd_bus* b = connect_bus(a.socket);
        bool ok = one(b, i);
        sd_bus_flush_close_unref(b);
        return ok;
    });
    if (bus)
        sd_bus_flush_close_unref(bus);
    if (victim > 0) {
        ::kill(victim, SIGKILL);
        ::waitpid(victim, nullptr, 0);
    }
    return s;
}

// ---- floors ---------------------------------------------------------------------------------------

Sample floor_socket(double seconds, int echo_cpu) {
    int sv[2];
    if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
        die("socketpair");
    char msg[64] = {};
    pid_t echo = ::fork();
    if (echo == 0) {
        pin(echo_cpu);
        ::close(sv[0]);
        while (read_all(sv[1], msg, sizeof msg) && write_all(sv[1], msg, sizeof msg)) {
        }
        _exit(0);
    }
    ::close(sv[1]);
    Sample s = measure(seconds,
                       [&](uint64_t) { return write_all(sv[0], msg, sizeof msg) && read_all(sv[0], msg, sizeof msg); });
    ::close(sv[0]);
    ::waitpid(echo, nullptr, 0);
    return s;
}

Sample floor_connect(double seconds, const std::string& path, int echo_cpu) {
    int lfd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_un addr {};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    ::unlink(path.c_str());
    if (::bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 || ::listen(lfd, 128) < 0)
        die("listen " + path);
    pid_t acceptor = ::fork();
    if (acceptor == 0) {
        pin(echo_cpu);
        for (;;) {
            int c = ::accept4(lfd, nullptr, nullptr, SOCK_CLOEXEC);
            if (c < 0)
                _exit(0);
            char b;
            if (::read(c, &b, 1) == 1)
                (void)!::write(c, &b, 1);
            ::close(c);
        }
    }
    Sample s = measure(seconds, [&](uint64_t) {
        int c = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        char b = 'x';
        bool ok = ::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 && ::write(c, &b, 1) == 1 &&
                  ::read(c, &b, 1) == 1;
        ::close(c);
        return ok;
    });
    ::kill(acceptor, SIGKILL);
    ::waitpid(acceptor, nullptr, 0);
    ::close(lfd);
    ::unlink(path.c_str());
    return s;
}

Sample run_floor(const Args& a) {
    const std::string& f = a.floor;
    if (f == "socket")
        return floor_socket(a.seconds, a.echo_cpu);
    if (f == "connect")
        return floor_connect(a.seconds, "/run/cgm-bench-floor.sock", a.echo_cpu);
    if (a.dir.empty())
        die("--dir is needed for this floor");
    if (f == "read") {
        std::string path = a.dir + "/" + a.file;
        return measure(a.seconds, [&](uint64_t) {
            char buf[65536];
            int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
            if (fd < 0)
                return false;
            ssize_t r;
            while ((r = ::read(fd, buf, sizeof buf)) > 0) {
            }
            ::close(fd);
            return r == 0;
        });
    }
    if (f == "write") {
        std::string path = a.dir + "/" + a.file;
        std::string value = env("BENCH_VALUE", "-1");
        return measure(a.seconds, [&](uint64_t) {
            int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
            bool ok = fd >= 0 && ::write(fd, value.data(), value.size()) == static_cast<ssize_t>(value.size());
            if (fd >= 0)
                ::close(fd);
            return ok;
        });
    }
    if (f == "mkdir") {
        return measure(a.seconds, [&](uint64_t i) {
            std::string p = a.dir + "/floor" + std::to_string(i);
            return ::mkdir(p.c_str(), 0755) == 0 && ::rmdir(p.c_str()) == 0;
        });
    }
    if (f == "movepid") {
        std::string pa = a.dir + "/" + env("BENCH_MOVE_A", "bench_a") + "/cgroup.procs";
        std::string pb = a.dir + "/" + env("BENCH_MOVE_B", "bench_b") + "/cgroup.procs";
        std::string pid = std::to_string(::getpid()) + "\n";
        return measure(a.seconds, [&](uint64_t i) {
            int fd = ::open((i % 2 ? pa : pb).c_str(), O_WRONLY | O_CLOEXEC);
            bool ok = fd >= 0 && ::write(fd, pid.data(), pid.size()) == static_cast<ssize_t>(pid.size());
            if (fd >= 0)
                ::close(fd);
            return ok;
        });
    }
    if (f == "readdir") {
        return measure(a.seconds, [&](uint64_t) {
            DIR* d = ::opendir(a.dir.c_str());
            if (!d)
                return false;
            size_t n = 0;
            while (struct dirent* e = ::readdir(d))
                n += e->d_type == DT_DIR;
            ::closedir(d);
            return n > 0;
        });
    }
    die("unknown floor " + f);
}

void report(const Args& a, const std::string& name, int clients, std::vector<uint32_t>& all, uint64_t errors,
            double seconds) {
    std::sort(all.begin(), all.end());
    auto pct = [&](double p) -> double {
        if (all.empty())
            return 0;
        size_t i = std::min(all.size() - 1, static_cast<size_t>(p * static_cast<double>(all.size())));
        return all[i] / 1000.0;
    };
    double rate = seconds > 0 ? static_cast<double>(all.size()) / seconds : 0;
    if (a.json)
        std::printf(
            "{\"name\":\"%s\",\"clients\":%d,\"calls_per_s\":%.0f,\"p50_us\":%.1f,\"p99_us\":%.1f,\"errors\":%llu}\n",
            name.c_str(), clients, rate, pct(0.50), pct(0.99), static_cast<unsigned long long>(errors));
    else
        std::printf("%-20s %3d %10.0f %9.1f %9.1f %6llu\n", name.c_str(), clients, rate, pct(0.50), pct(0.99),
                    static_cast<unsigned long long>(errors));
}

// --hold: N connections that each did one Ping, kept open (and idle) until stdin closes.
int hold_connections(const Args& a) {
    struct rlimit rl {};
    ::getrlimit(RLIMIT_NOFILE, &rl);
    rlim_t want = static_cast<rlim_t>(a.hold) + 64;
    if (rl.rlim_cur < want) {
        rl.rlim_cur = want;
        rl.rlim_max = std::max(rl.rlim_max, want);
        if (::setrlimit(RLIMIT_NOFILE, &rl) < 0)
            die("cannot raise the open-file limit to " + std::to_string(want));
    }
    std::vector<sd_bus*> held;
    held.reserve(static_cast<size_t>(a.hold));
    for (int i = 0; i < a.hold; ++i) {
        sd_bus* b = connect_bus(a.socket);
        if (!call(b, "Ping", "i", 0))
            die("Ping on held connection " + std::to_string(i) + " failed");
        held.push_back(b);
    }
    std::printf("holding %d\n", a.hold);
    std::fflush(stdout);
    char buf[64];
    while (::read(0, buf, sizeof buf) > 0) {
    }
    for (sd_bus* b : held)
        sd_bus_flush_close_unref(b);
    return 0;
}

void usage() {
    std::fprintf(stderr,
                 "usage: cgm-bench --socket PATH --workload W [--clients N] [--seconds S] [--connect-per-call]\n"
                 "                 [--calls N] [--cpu N] [--json]\n"
                 "       cgm-bench --floor F [--seconds S] [--dir CGROUP_DIR] [--file NAME] [--cpu N]\n"
                 "                 [--echo-cpu N] [--json]\n"
                 "       cgm-bench --socket PATH --hold N\n"
                 "       cgm-bench --socket PATH --slow-scm SECONDS\n"
                 "workloads: ping getvalue setvalue create-remove movepid gettasks listchildren scm\n"
                 "floors: socket connect read write mkdir movepid readdir\n");
}

}  // namespace

int main(int argc, char** argv) {
    Args a;
    for (int i = 1; i < argc; ++i) {
        std::string s = argv[i];
        auto next = [&]() -> std::string {
            if (i + 1 >= argc) {
                usage();
                std::exit(2);
            }
            return argv[++i];
        };
        if (s == "--socket")
            a.socket = next();
        else if (s == "--workload")
            a.workload = next();
        else if (s == "--floor")
            a.floor = next();
        else if (s == "--clients")
            a.clients = std::max(1, std::atoi(next().c_str()));
        else if (s == "--seconds")
            a.seconds = std::atof(next().c_str());
        else if (s == "--connect-per-call")
            a.connect_per_call = true;
        else if (s == "--json")
            a.json = true;
        else if (s == "--dir")
            a.dir = next();
        else if (s == "--file")
            a.file = next();
        else if (s == "--calls")
            a.calls = std::max(1L, std::atol(next().c_str()));
        else if (s == "--cpu")
            a.cpu = std::atoi(next().c_str());
        else if (s == "--echo-cpu")
            a.echo_cpu = std::atoi(next().c_str());
        else if (s == "--hold")
            a.hold = std::max(1, std::atoi(next().c_str()));
        else if (s == "--slow-scm")
            a.slow_scm = std::atof(next().c_str());
        else {
            usage();
            return 2;
        }
    }
    g_max_calls = a.calls;
    pin(a.cpu);
    if (!a.floor.empty()) {
        Sample s = run_floor(a);
        report(a, "floor-" + a.floor, 1, s.ns, s.errors, s.elapsed);
        return 0;
    }
    if (!a.socket.empty() && a.hold > 0)
        return hold_connections(a);
    if (!a.socket.empty() && a.slow_scm > 0) {
        sd_bus* b = connect_bus(a.socket);
        pid_t victim = spawn_victim();
        bool ok = move_pid_scm(b, env("BENCH_CONTROLLER", "memory").c_str(), env("BENCH_MOVE_A", "bench_a").c_str(),
                               victim, a.slow_scm);
        ::kill(victim, SIGKILL);
        ::waitpid(victim, nullptr, 0);
        sd_bus_flush_close_unref(b);
        std::printf("slow-scm %s\n", ok ? "ok" : "failed");
        return ok ? 0 : 1;
    }
    if (a.socket.empty() || a.workload.empty()) {
        usage();
        return 2;
    }
    // One process per client; each sends its latencies back through a pipe.
    std::vector<std::pair<pid_t, int>> kids;
    for (int c = 0; c < a.clients; ++c) {
        int p[2];
        if (::pipe2(p, O_CLOEXEC) < 0)
            die("pipe");
        pid_t pid = ::fork();
        if (pid == 0) {
            ::close(p[0]);
            Sample s = run_client(a, c);
            uint64_t n = s.ns.size();
            write_all(p[1], &n, sizeof n);
            write_all(p[1], &s.errors, sizeof s.errors);
            write_all(p[1], &s.elapsed, sizeof s.elapsed);
            write_all(p[1], s.ns.data(), n * sizeof(uint32_t));
            _exit(0);
        }
        ::close(p[1]);
        kids.emplace_back(pid, p[0]);
    }
    std::vector<uint32_t> all;
    uint64_t errors = 0;
    double elapsed = 0;
    for (auto& [pid, fd] : kids) {
        uint64_t n = 0, e = 0;
        double t = 0;
        if (!read_all(fd, &n, sizeof n) || !read_all(fd, &e, sizeof e) || !read_all(fd, &t, sizeof t))
            die("a client failed");
        size_t old = all.size();
        all.resize(old + n);
        if (!read_all(fd, all.data() + old, n * sizeof(uint32_t)))
            die("a client failed");
        errors += e;
        elapsed = std::max(elapsed, t);
        ::close(fd);
        int st;
        ::waitpid(pid, &st, 0);
    }
    report(a, a.workload + (a.connect_per_call ? "+connect" : ""), a.clients, all, errors, elapsed);
    return errors ? 1 : 0;
}
