// SPDX-License-Identifier: Apache-2.0
#include "support/tree_snapshot.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

namespace cgm::test {

namespace {

// Writable files whose content changes without anyone writing them: usage counters that
// writing resets (cpuacct.usage*, memory.*max_usage_in_bytes, *.failcnt), and the pressure
// files (writable to set triggers).
bool moves_by_itself(std::string_view name) {
    return name.find("usage") != std::string_view::npos || name.find("failcnt") != std::string_view::npos ||
           name.find("pressure") != std::string_view::npos;
}

bool is_task_list(std::string_view name) {
    return name == "tasks" || name == "cgroup.procs" || name == "cgroup.threads";
}

std::string content_of(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return std::string("<open: ") + std::strerror(errno) + ">";
    std::string out;
    char buf[8192];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0) {
            out = std::string("<read: ") + std::strerror(errno) + ">";
            break;
        }
        if (n == 0)
            break;
        out.append(buf, static_cast<size_t>(n));
    }
    ::close(fd);
    return out;
}

void walk(const std::string& dir, bool is_root, TreeSnapshot& s) {
    DIR* d = ::opendir(dir.c_str());
    if (!d) {
        s.entries[dir] = std::string("<opendir: ") + std::strerror(errno) + ">";
        return;
    }
    std::vector<std::string> subdirs;
    while (struct dirent* e = ::readdir(d)) {
        std::string_view name = e->d_name;
        if (name == "." || name == "..")
            continue;
        std::string path = dir + "/" + std::string(name);
        struct stat st {};
        if (::lstat(path.c_str(), &st) < 0)
            continue;  // gone meanwhile
        std::string line = std::string(S_ISDIR(st.st_mode)   ? "d "
                                       : S_ISREG(st.st_mode) ? "f "
                                                             : "? ") +
                           std::to_string(st.st_uid) + " " + std::to_string(st.st_gid) + " " +
                           std::to_string(st.st_mode & 07777);
        if (S_ISDIR(st.st_mode)) {
            subdirs.push_back(path);
        } else if (S_ISREG(st.st_mode) && (st.st_mode & S_IRUSR) && (st.st_mode & S_IWUSR) && !moves_by_itself(name) &&
                   !(is_root && is_task_list(name))) {
            line += " " + content_of(path);
        }
        s.entries[path] = std::move(line);
    }
    ::closedir(d);
    for (const auto& sub : subdirs)
        walk(sub, false, s);
}

}  // namespace

TreeSnapshot snapshot_tree(const std::vector<std::string>& roots) {
    TreeSnapshot s;
    for (const auto& r : roots) {
        struct stat st {};
        if (::stat(r.c_str(), &st) == 0)
            s.entries[r] = "d " + std::to_string(st.st_uid) + " " + std::to_string(st.st_gid) + " " +
                           std::to_string(st.st_mode & 07777);
        walk(r, true, s);
    }
    return s;
}

std::string diff(const TreeSnapshot& before, const TreeSnapshot& after) {
    std::string out;
    for (const auto& [path, line] : before.entries) {
        auto it = after.entries.find(path);
        if (it == after.entries.end())
            out += "gone: " + path + "\n";
        else if (it->second != line)
            out += "changed: " + path + ": [" + line + "] -> [" + it->second + "]\n";
    }
    for (const auto& [path, line] : after.entries)
        if (!before.entries.count(path))
            out += "new: " + path + " [" + line + "]\n";
    return out;
}

}  // namespace cgm::test
