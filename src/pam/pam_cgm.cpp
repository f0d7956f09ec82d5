// SPDX-License-Identifier: Apache-2.0
//
// pam_cgm: a PAM session module that puts each login into a cgroup the user owns, made through the
// cgmanager daemon (docs/pam_cgm.md). open_session leaves for the root, makes the levels of the
// pattern (RemoveOnEmpty on those it made), takes the first free index, gives it to the user,
// writes the --set-value values and the --delegate controllers (cgroup v2), moves the calling
// process in and marks it RemoveOnEmpty. A failure half way undoes what this call made and puts
// the process back where it was. close_session leaves the session for the root, removes the
// session cgroup once it has no tasks, prunes the levels above it, and puts the process back where
// open_session found it.
//
// It is loaded into long-lived, sometimes multithreaded and setuid programs (sshd, display
// managers, su), so: one call at a time per process; one connection per call, closed before the
// call returns; no exception or signal leaves the module; the environment is not trusted (the
// socket is --socket, or the daemon's well-known paths); messages go to syslog as "PAM-CGM"
// without touching the program's own openlog() settings.
#include <grp.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>
#include <security/pam_ext.h>
#include <security/pam_modules.h>

#include "cgmanager/client.h"
#include "cgmanager/names.h"
#include "core/proc_parse.h"
#include "pam/options.h"

namespace cgm::pam {
namespace {

constexpr const char* kDataName = "pam_cgm_session";

std::mutex g_mutex;  // one open or close at a time in a process, as 0.42 had it

// One line to syslog under the ident "PAM-CGM" (facility authpriv), sent to /dev/log directly so
// that the host program's openlog() ident and facility stay as they are. It never waits: a line
// the syslog daemon has no room for is dropped (a login must not hang on a slow logger). Where
// there is no /dev/log datagram socket, PAM's own pam_syslog (the program's ident) carries it.
void say(pam_handle_t* pamh, int priority, const std::string& message) {
    char stamp[32] = "";
    std::time_t now = std::time(nullptr);
    struct tm tm {};
    if (::localtime_r(&now, &tm) != nullptr)
        std::strftime(stamp, sizeof stamp, "%b %e %H:%M:%S", &tm);
    const std::string line = fmt::format("<{}>{} PAM-CGM[{}]: {}", LOG_AUTHPRIV | priority, stamp, ::getpid(), message);
    bool no_syslog = true;
    int fd = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd >= 0) {
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", "/dev/log");
        const bool sent = ::sendto(fd, line.data(), line.size(), MSG_NOSIGNAL | MSG_DONTWAIT,
                                   reinterpret_cast<sockaddr*>(&addr), sizeof addr) >= 0;
        no_syslog = !sent && (errno == ENOENT || errno == ECONNREFUSED || errno == EPROTOTYPE || errno == ENOTSOCK);
        ::close(fd);
    }
    if (no_syslog && pamh != nullptr)
        pam_syslog(pamh, priority, "%s", message.c_str());
}

// What close_session needs of the session open_session made.
struct SessionData {
    std::string socket;
    std::vector<std::string> controllers;                     // those the process left for the root
    std::vector<std::pair<std::string, std::string>> origin;  // controller -> where the process was
    std::vector<std::string> levels;                          // the levels above the session
    std::string path;                                         // the session cgroup, from the root
    bool created = false;
};

std::string join(const std::vector<std::string>& parts, char sep, size_t count = std::string::npos) {
    std::string out;
    for (size_t i = 0; i < parts.size() && i < count; ++i)
        out += (i ? std::string(1, sep) : "") + parts[i];
    return out;
}

// The daemon's socket: --socket, else where the daemon is found without asking the environment
// (a setuid caller's environment is the user's).
std::string socket_of(const Options& o) {
    if (!o.socket.empty())
        return o.socket;
    struct stat st {};
    if (::stat(kLegacySocketPath, &st) == 0 && S_ISSOCK(st.st_mode))
        return kLegacySocketPath;
    return kRunSocketPath;
}

Result<std::unique_ptr<client::Client>> connect(const std::string& socket) {
    auto c = CGM_TRY(client::Client::connect({socket, std::chrono::milliseconds(10000)}));
    CGM_TRY(c->api_version());  // as 0.42: a daemon that does not answer this fails the session
    return c;
}

std::string with(std::string_view what, const Error& e) {
    return fmt::format("{}: {}", what, e.message);
}

// The controllers the session uses: every ListControllers entry for "all", else the list given,
// each a ListControllers entry or a member of a comounted one.
Result<std::vector<std::string>> controllers_of(client::Client& c, const std::string& wanted) {
    auto listed = c.list_controllers();
    if (!listed)
        return make_error(listed.error().kind, "{}", with("ListControllers", listed.error()));
    std::vector<std::string> out;
    if (wanted == "all") {
        for (const auto& e : *listed)
            for (auto& member : split(e, ','))
                out.push_back(std::move(member));
        if (out.empty())
            return make_error(ErrorKind::NotSupported, "the daemon manages no controllers");
        return out;
    }
    for (const auto& w : split(wanted, ',')) {
        bool known = false;
        for (const auto& e : *listed)
            for (const auto& member : split(e, ','))
                known = known || member == w;
        if (!known)
            return make_error(ErrorKind::InvalidArgs, "unknown controller '{}' (the daemon has: {})", w,
                              join(*listed, ' '));
        out.push_back(w);
    }
    return out;
}

Result<Login> login_of(pam_handle_t* pamh) {
    const char* user = nullptr;
    if (int rc = pam_get_user(pamh, &user, nullptr); rc != PAM_SUCCESS || user == nullptr || *user == '\0')
        return make_error(ErrorKind::Failed, "cannot get the user name: {}", pam_strerror(pamh, rc));
    Login who;
    who.user = user;
    std::vector<char> buf(16384);
    struct passwd pw {};
    struct passwd* found = nullptr;
    if (::getpwnam_r(user, &pw, buf.data(), buf.size(), &found) != 0 || found == nullptr)
        return make_error(ErrorKind::NotFound, "no user '{}' in the password database", user);
    who.uid = pw.pw_uid;
    who.gid = pw.pw_gid;
    struct group gr {};
    struct group* grp = nullptr;
    std::vector<char> gbuf(16384);
    if (::getgrgid_r(pw.pw_gid, &gr, gbuf.data(), gbuf.size(), &grp) == 0 && grp != nullptr)
        who.group = grp->gr_name;
    else
        who.group = std::to_string(pw.pw_gid);
    who.pid = ::getpid();
    who.ppid = ::getppid();
    return who;
}

// Move the process to the root in each of `controllers` (paths are relative to the caller's
// cgroup: what follows is done from the root).
void to_root(client::Client& c, const std::vector<std::string>& controllers, pid_t self) {
    for (const auto& ctrl : controllers)
        (void)c.move_pid_abs(ctrl, "/", self);
}

// Put the process back where it was in each controller (the root where that cgroup is gone).
void go_back(client::Client& c, const SessionData& s, pid_t self) {
    for (const auto& [ctrl, where] : s.origin)
        if (!c.move_pid_abs(ctrl, where, self))
            (void)c.move_pid_abs(ctrl, "/", self);
}

class Opening {
public:
    Opening(pam_handle_t* pamh, client::Client& c, const Options& o, const Login& who, SessionData& s)
        : pamh_(pamh), c_(c), o_(o), who_(who), s_(s) {}

    Result<void> run() {
        const auto wanted = CGM_TRY(controllers_of(c_, o_.controllers));
        // Leave for the root in each controller, remembering where the process was; only the
        // controllers where that worked are used (as 0.42).
        for (const auto& ctrl : wanted) {
            auto where = c_.get_pid_cgroup_abs(ctrl, who_.pid);
            if (!c_.move_pid_abs(ctrl, "/", who_.pid)) {
                say(pamh_, LOG_NOTICE,
                    fmt::format("controller {} not used: cannot move pid {} to its root", ctrl, who_.pid));
                continue;
            }
            s_.controllers.push_back(ctrl);
            if (where)
                s_.origin.emplace_back(ctrl, *where);
        }
        if (s_.controllers.empty())
            return make_error(ErrorKind::Failed, "the process could not leave for the root in any of {}",
                              join(wanted, ','));
        ctrl_ = join(s_.controllers, ',');
        for (const auto& v : o_.values)
            if (std::find(s_.controllers.begin(), s_.controllers.end(), v.controller) == s_.controllers.end())
                return make_error(ErrorKind::InvalidArgs, "--set-value names {}, which is not one of the session's {}",
                                  v.controller, ctrl_);
        for (const auto& d : o_.delegate)
            if (std::find(s_.controllers.begin(), s_.controllers.end(), d) == s_.controllers.end())
                return make_error(ErrorKind::InvalidArgs, "--delegate names {}, which is not one of the session's {}",
                                  d, ctrl_);
        const auto layout = CGM_TRY(expand_pattern(o_.pattern, who_, o_.index_suffix));
        s_.levels = layout.levels;
        // As 0.42: each level is made relative to the one above and entered before it is marked
        // RemoveOnEmpty (the daemon removes a marked cgroup as soon as it is empty, so marking it
        // empty would remove it at once).
        // A level that exists may be one an earlier session left to go when empty, and the daemon
        // may remove it between the Create and the MovePid (a logout followed at once by a login):
        // then it is made again, a few times at most.
        for (const auto& level : layout.levels) {
            const std::string full = here_ + level;
            bool made = false;
            for (int attempt = 1;; ++attempt) {
                auto existed = c_.create(ctrl_, level);
                if (!existed && existed.error().kind == ErrorKind::NotFound && attempt < 5)
                    continue;  // it went while the daemon looked at it
                if (!existed)
                    return make_error(existed.error().kind, "{}", with("cannot create " + full, existed.error()));
                made = made || *existed != 1;
                auto r = c_.move_pid(ctrl_, level, who_.pid);
                if (r)
                    break;
                if (r.error().kind != ErrorKind::NotFound || attempt == 5)
                    return make_error(r.error().kind, "{}",
                                      with(fmt::format("cannot move pid {} into {}", who_.pid, full), r.error()));
            }
            if (made)
                made_.push_back(full);
            here_ = full + "/";
            if (made)
                mark(full);
        }
        if (!o_.index_suffix) {
            CGM_TRY(enter(layout.last, true));
            return ok();
        }
        for (int idx = 0; idx < o_.max_index; ++idx)
            if (CGM_TRY(enter(layout.last + std::to_string(idx), false)))
                return ok();
        return make_error(ErrorKind::LimitsExceeded, "all {} session cgroups {}{}0 to {}{}{} are taken", o_.max_index,
                          here_, layout.last, here_, layout.last, o_.max_index - 1);
    }

    // Undo what run() made, children first (from the root: paths are relative to the caller's
    // cgroup), and put the process back.
    void undo(pid_t self) {
        to_root(c_, s_.controllers, self);
        if (!ctrl_.empty()) {
            if (s_.created)
                (void)c_.remove(ctrl_, s_.path, false);
            for (auto it = made_.rbegin(); it != made_.rend(); ++it)
                (void)c_.remove(ctrl_, *it, false);
        }
        go_back(c_, s_, self);
    }

private:
    // Take `name` (below the current level) for the session if this call makes it (or, `reuse`,
    // if it is there already): give it to the user, write the values, move the process in, mark
    // it. Whether it was taken.
    Result<bool> enter(const std::string& name, bool reuse) {
        const std::string full = here_ + name;
        auto existed = c_.create(ctrl_, name);
        if (!existed)
            return make_error(existed.error().kind, "{}", with("cannot create " + full, existed.error()));
        if (*existed == 1 && !reuse)
            return false;
        s_.path = full;
        s_.created = *existed != 1;
        if (s_.created)
            if (auto r = c_.chown(ctrl_, name, static_cast<int32_t>(who_.uid), static_cast<int32_t>(who_.gid)); !r)
                return make_error(r.error().kind, "{}",
                                  with(fmt::format("cannot give {} to {}", full, who_.user), r.error()));
        for (const auto& v : o_.values)
            if (auto r = c_.set_value(v.controller, name, v.key, v.value); !r)
                return make_error(
                    r.error().kind, "{}",
                    with(fmt::format("cannot set {} {} to '{}' in {}", v.controller, v.key, v.value, full), r.error()));
        CGM_TRY(delegate(name, full));
        if (auto r = c_.move_pid(ctrl_, name, who_.pid); !r)
            return make_error(r.error().kind, "{}",
                              with(fmt::format("cannot move pid {} into {}", who_.pid, full), r.error()));
        here_ = full + "/";
        if (s_.created)
            mark(full);
        return true;
    }

    // --delegate: the session's cgroup.subtree_control (cgroup v2) enables exactly the controllers
    // listed for its children, each through its own hierarchy (a v1 one has no such file and
    // fails the session, named). The daemon's Chown gave the user that file and the other
    // delegated ones already, and its MovePid puts the login into the hidden leaf, so the user may
    // make cgroups beside it that use these controllers.
    Result<void> delegate(const std::string& name, const std::string& full) {
        if (o_.delegate.empty())
            return ok();
        constexpr const char* kFile = "cgroup.subtree_control";
        auto fail = [&](const std::string& what, const Error& e) {
            return Error(e.kind,
                         fmt::format("cannot delegate {} in {} ({} of cgroup v2): {}", what, full, kFile, e.message));
        };
        std::vector<std::string> on;
        for (const auto& d : o_.delegate) {
            auto now = c_.get_value(d, name, kFile);
            if (!now)
                return fail(d, now.error());
            on = split(std::string(trim(*now)), ' ');
            if (std::find(on.begin(), on.end(), d) == on.end())
                if (auto r = c_.set_value(d, name, kFile, "+" + d); !r)
                    return fail(d, r.error());
        }
        // What the cgroup took from its parent beyond the list goes (`on` is the one hierarchy's).
        std::string off;
        for (const auto& c : on)
            if (!c.empty() && std::find(o_.delegate.begin(), o_.delegate.end(), c) == o_.delegate.end())
                off += (off.empty() ? "-" : " -") + c;
        if (!off.empty())
            if (auto r = c_.set_value(o_.delegate.front(), name, kFile, off); !r)
                return fail("only " + join(o_.delegate, ','), r.error());
        return ok();
    }

    // RemoveOnEmpty of the cgroup the process was just moved into ("": the caller's own).
    void mark(const std::string& full) {
        if (auto r = c_.remove_on_empty(ctrl_, ""); !r)
            say(pamh_, LOG_WARNING, with("cannot mark " + full + " to be removed when empty", r.error()));
    }

    pam_handle_t* pamh_;
    client::Client& c_;
    const Options& o_;
    const Login& who_;
    SessionData& s_;
    std::string ctrl_;
    std::string here_;               // the level the process is in now, from the root ("" or "a/b/")
    std::vector<std::string> made_;  // levels this call made, from the root
};

void free_data(pam_handle_t*, void* data, int) {
    delete static_cast<SessionData*>(data);
}

std::vector<std::string> args_of(int argc, const char** argv) {
    std::vector<std::string> out;
    for (int i = 0; i < argc; ++i)
        out.emplace_back(argv[i] != nullptr ? argv[i] : "");
    return out;
}

int open_session(pam_handle_t* pamh, int argc, const char** argv) {
    auto o = parse_options(args_of(argc, argv));
    if (!o) {
        say(pamh, LOG_ERR, "bad module arguments: " + o.error().message);
        return PAM_SESSION_ERR;
    }
    auto who = login_of(pamh);
    if (!who) {
        say(pamh, LOG_ERR, who.error().message);
        return PAM_SESSION_ERR;
    }
    auto s = std::make_unique<SessionData>();
    s->socket = socket_of(*o);
    auto c = connect(s->socket);
    if (!c) {
        say(pamh, LOG_ERR, fmt::format("session of {} not opened: {}", who->user, c.error().message));
        return PAM_SESSION_ERR;
    }
    Opening opening(pamh, **c, *o, *who, *s);
    if (auto r = opening.run(); !r) {
        opening.undo(who->pid);
        say(pamh, LOG_ERR, fmt::format("session of {} not opened: {}", who->user, r.error().message));
        return PAM_SESSION_ERR;
    }
    const std::string where = s->path;
    const std::string ctrl = join(s->controllers, ',');
    if (pam_set_data(pamh, kDataName, s.get(), free_data) != PAM_SUCCESS) {
        opening.undo(who->pid);
        say(pamh, LOG_ERR, fmt::format("session of {} not opened: cannot keep its data in the PAM handle", who->user));
        return PAM_SESSION_ERR;
    }
    s.release();
    say(pamh, LOG_INFO, fmt::format("session of {} (pid {}) in {} of {}", who->user, who->pid, where, ctrl));
    return PAM_SUCCESS;
}

// Remove `path` (recursively) if nothing runs below it.
void remove_if_idle(pam_handle_t* pamh, client::Client& c, const std::string& ctrl, const std::string& path) {
    auto tasks = c.get_tasks_recursive(ctrl, path);
    if (!tasks) {
        if (tasks.error().kind != ErrorKind::NotFound)
            say(pamh, LOG_WARNING, with("cannot count the tasks of " + path, tasks.error()));
        return;
    }
    if (!tasks->empty())
        return;
    if (auto r = c.remove(ctrl, path, true); !r && r.error().kind != ErrorKind::NotFound)
        say(pamh, LOG_WARNING, with("cannot remove " + path, r.error()));
}

int close_session(pam_handle_t* pamh, int argc, const char** argv) {
    const void* data = nullptr;
    int rc = pam_get_data(pamh, kDataName, &data);
    if (rc == PAM_NO_MODULE_DATA)
        return PAM_SUCCESS;  // open_session did not open one (it failed, or the module came later)
    if (rc != PAM_SUCCESS || data == nullptr)
        return rc != PAM_SUCCESS ? rc : PAM_SYSTEM_ERR;
    const auto& s = *static_cast<const SessionData*>(data);
    auto o = parse_options(args_of(argc, argv));
    const int depth = o ? o->prune_depth : 2;
    auto c = connect(s.socket);
    if (!c) {
        say(pamh, LOG_ERR, fmt::format("session {} not closed: {}", s.path, c.error().message));
        return PAM_SUCCESS;  // the login is over either way; the daemon removes it when empty
    }
    const std::string ctrl = join(s.controllers, ',');
    const pid_t self = ::getpid();
    to_root(**c, s.controllers, self);
    if (s.created)
        remove_if_idle(pamh, **c, ctrl, s.path);
    // Prune up to `depth` levels above the session: each child without tasks, then the level.
    const std::string first = s.controllers.front();
    for (int d = 0; d < depth && d < static_cast<int>(s.levels.size()); ++d) {
        const std::string level = join(s.levels, '/', s.levels.size() - static_cast<size_t>(d));
        auto children = (*c)->list_children(first, level);
        if (!children)
            break;  // gone already (removed on empty), and so are the levels above it, or busy
        for (const auto& child : *children)
            remove_if_idle(pamh, **c, ctrl, level + "/" + child);
        remove_if_idle(pamh, **c, ctrl, level);
    }
    go_back(**c, s, self);
    say(pamh, LOG_INFO, fmt::format("session {} of {} closed", s.path, ctrl));
    return PAM_SUCCESS;
}

// An entry point's work, one at a time in the process, with no exception let out: one is logged
// and gives `failed`.
template <typename F>
int guarded(pam_handle_t* pamh, const char* what, int failed, F&& work) {
    try {
        std::lock_guard lock(g_mutex);
        return work();
    } catch (const std::exception& e) {
        say(pamh, LOG_ERR, fmt::format("session not {}: {}", what, e.what()));
    } catch (...) {
        say(pamh, LOG_ERR, fmt::format("session not {}: an unexpected error", what));
    }
    return failed;
}

}  // namespace
}  // namespace cgm::pam

extern "C" {

__attribute__((visibility("default"))) int pam_sm_open_session(pam_handle_t* pamh, int, int argc, const char** argv) {
    return cgm::pam::guarded(pamh, "opened", PAM_SESSION_ERR, [&] { return cgm::pam::open_session(pamh, argc, argv); });
}

__attribute__((visibility("default"))) int pam_sm_close_session(pam_handle_t* pamh, int, int argc, const char** argv) {
    return cgm::pam::guarded(pamh, "closed", PAM_SUCCESS, [&] { return cgm::pam::close_session(pamh, argc, argv); });
}
}
