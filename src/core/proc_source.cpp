// SPDX-License-Identifier: Apache-2.0
#include "core/proc_source.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdlib>

#include "core/limits.h"

namespace cgm {

namespace {

Result<void> check_pid(pid_t pid) {
    if (pid <= 0)
        return make_error(ErrorKind::InvalidArgs, "invalid pid {}", pid);
    return ok();
}

}  // namespace

Result<std::vector<ProcCgroupLine>> ProcSource::cgroups(pid_t pid) const {
    auto text = CGM_TRY(read(pid, "cgroup"));
    auto r = parse_proc_cgroup(text);
    if (!r)
        return std::move(r).error().with_context(fmt::format("/proc/{}/cgroup", pid));
    return r;
}

Result<ProcStatus> ProcSource::status(pid_t pid) const {
    auto text = CGM_TRY(read(pid, "status"));
    auto r = parse_proc_status(text);
    if (!r)
        return std::move(r).error().with_context(fmt::format("/proc/{}/status", pid));
    return r;
}

Result<uint64_t> ProcSource::start_time(pid_t pid) const {
    auto text = CGM_TRY(read(pid, "stat"));
    auto r = parse_proc_stat_start_time(text);
    if (!r)
        return std::move(r).error().with_context(fmt::format("/proc/{}/stat", pid));
    return r;
}

Result<IdMap> ProcSource::uid_map(pid_t pid) const {
    auto text = CGM_TRY(read(pid, "uid_map"));
    auto r = IdMap::parse(text);
    if (!r)
        return std::move(r).error().with_context(fmt::format("/proc/{}/uid_map", pid));
    return r;
}

Result<IdMap> ProcSource::gid_map(pid_t pid) const {
    auto text = CGM_TRY(read(pid, "gid_map"));
    auto r = IdMap::parse(text);
    if (!r)
        return std::move(r).error().with_context(fmt::format("/proc/{}/gid_map", pid));
    return r;
}

Result<bool> ProcSource::same_namespace(pid_t pid, std::string_view type) const {
    auto mine = CGM_TRY(ns_id(0, type));
    auto theirs = CGM_TRY(ns_id(pid, type));
    return mine == theirs;
}

Result<UniqueFd> ProcSource::open_pidfd(pid_t pid) {
    CGM_TRY(check_pid(pid));
    long fd = ::syscall(SYS_pidfd_open, pid, 0);
    if (fd >= 0)
        return UniqueFd(static_cast<int>(fd));
    const int err = errno;
    if (err == ESRCH)
        return make_error(ErrorKind::NotFound, "process {} does not exist", pid);
    if (err == ENOSYS)
        return UniqueFd();
    if (err == EINVAL || err == ENOENT) {
        // pidfd_open takes processes only: name the process a thread id belongs to.
        const ProcSource* proc = system_proc();
        auto st = proc ? proc->status(pid) : make_error(ErrorKind::Failed, "/proc cannot be opened");
        if (st && st->tgid > 0 && st->tgid != pid)
            return make_error(ErrorKind::InvalidArgs, "pid {} is a thread of process {}, not a process", pid, st->tgid);
        if (!st)
            return make_error(ErrorKind::NotFound, "process {} does not exist", pid);
    }
    return errno_error(err, "pidfd_open {}", pid);
}

bool ProcSource::socket_pidfds_wanted() {
    static const bool wanted = [] {
        const char* env = std::getenv("CGM_NO_PIDFD_SOCKOPTS");
        return !(env && std::string_view(env) == "1");
    }();
    return wanted;
}

bool ProcSource::alive(int pidfd) {
    if (pidfd < 0)
        return true;
    struct pollfd p = {pidfd, POLLIN, 0};
    return !(::poll(&p, 1, 0) > 0 && (p.revents & (POLLIN | POLLHUP)));
}

const ProcSource* system_proc() {
    static const Result<SystemProc> proc = SystemProc::open();
    return proc ? &*proc : nullptr;
}

Result<SystemProc> SystemProc::open(const std::string& proc_root) {
    auto fd = sys::open(proc_root, O_PATH | O_DIRECTORY);
    if (!fd)
        return std::move(fd).error();
    return SystemProc(std::move(fd).value());
}

Result<std::string> SystemProc::read(pid_t pid, std::string_view file) const {
    CGM_TRY(check_pid(pid));
    std::string rel = fmt::format("{}/{}", pid, file);
    auto fd = sys::openat(proc_.get(), rel, O_RDONLY | O_NOFOLLOW);
    if (!fd) {
        if (fd.error().sys_errno == ENOENT || fd.error().sys_errno == ESRCH)
            return make_error(ErrorKind::NotFound, "process {} does not exist", pid);
        return std::move(fd).error().with_context("/proc");
    }
    auto text = sys::read_all(fd->get(), limits::kMaxProcFileBytes);
    if (!text) {
        if (text.error().sys_errno == ESRCH)
            return make_error(ErrorKind::NotFound, "process {} does not exist", pid);
        return std::move(text).error().with_context(fmt::format("/proc/{}", rel));
    }
    return text;
}

Result<NsId> SystemProc::ns_id(pid_t pid, std::string_view type) const {
    std::string rel = pid == 0 ? fmt::format("self/ns/{}", type) : fmt::format("{}/ns/{}", pid, type);
    if (pid < 0)
        return make_error(ErrorKind::InvalidArgs, "invalid pid {}", pid);
    struct stat st {};
    if (::fstatat(proc_.get(), rel.c_str(), &st, 0) < 0) {
        if (errno == ENOENT || errno == ESRCH)
            return make_error(ErrorKind::NotFound, "process {} does not exist", pid);
        return errno_error(errno, "stat /proc/{}", rel);
    }
    return NsId{st.st_dev, st.st_ino};
}

}  // namespace cgm
