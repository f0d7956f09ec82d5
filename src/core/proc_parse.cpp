// SPDX-License-Identifier: Apache-2.0
#include "core/proc_parse.h"

#include <charconv>

namespace cgm {

namespace {

template <typename T>
bool to_number(std::string_view s, T& out) {
    if (s.empty())
        return false;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    return ec == std::errc() && ptr == s.data() + s.size();
}

// Iterate over the lines of a text, the last one possibly without '\n'.
template <typename F>
Result<void> for_each_line(std::string_view text, F&& f) {
    size_t lineno = 0;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
        ++lineno;
        if (line.empty())
            continue;
        CGM_TRY(f(line, lineno));
    }
    return ok();
}

std::vector<std::string_view> split_ws(std::string_view s) {
    std::vector<std::string_view> out;
    size_t i = 0;
    while (i < s.size()) {
        while (i < s.size() && (s[i] == ' ' || s[i] == '\t'))
            ++i;
        size_t start = i;
        while (i < s.size() && s[i] != ' ' && s[i] != '\t')
            ++i;
        if (i > start)
            out.push_back(s.substr(start, i - start));
    }
    return out;
}

// Decode the \ooo escapes the kernel uses for space, tab, newline and backslash in mountinfo.
std::string unescape(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '\\' && i + 3 < s.size() && s[i + 1] >= '0' && s[i + 1] <= '3' && s[i + 2] >= '0' &&
            s[i + 2] <= '7' && s[i + 3] >= '0' && s[i + 3] <= '7') {
            out += static_cast<char>((s[i + 1] - '0') * 64 + (s[i + 2] - '0') * 8 + (s[i + 3] - '0'));
            i += 3;
        } else {
            out += s[i];
        }
    }
    return out;
}

}  // namespace

std::string_view trim(std::string_view s) {
    constexpr std::string_view kSpace = " \t\n";
    auto first = s.find_first_not_of(kSpace);
    if (first == std::string_view::npos)
        return {};
    return s.substr(first, s.find_last_not_of(kSpace) - first + 1);
}

std::vector<std::string> split(std::string_view s, char sep) {
    std::vector<std::string> out;
    size_t start = 0;
    for (;;) {
        size_t pos = s.find(sep, start);
        out.emplace_back(s.substr(start, pos == std::string_view::npos ? std::string_view::npos : pos - start));
        if (pos == std::string_view::npos)
            break;
        start = pos + 1;
    }
    return out;
}

Result<std::vector<ProcCgroupLine>> parse_proc_cgroup(std::string_view text) {
    std::vector<ProcCgroupLine> lines;
    CGM_TRY(for_each_line(text, [&](std::string_view line, size_t lineno) -> Result<void> {
        size_t c1 = line.find(':');
        size_t c2 = c1 == std::string_view::npos ? c1 : line.find(':', c1 + 1);
        ProcCgroupLine l;
        if (c2 == std::string_view::npos || !to_number(line.substr(0, c1), l.hierarchy_id) || l.hierarchy_id < 0)
            return make_error(ErrorKind::Failed, "cgroup file line {} is malformed: '{}'", lineno, line);
        std::string_view ctrls = line.substr(c1 + 1, c2 - c1 - 1);
        if (!ctrls.empty())
            l.controllers = split(ctrls, ',');
        l.path = std::string(line.substr(c2 + 1));
        if (l.path.empty() || l.path.front() != '/')
            return make_error(ErrorKind::Failed, "cgroup file line {} has no absolute path: '{}'", lineno, line);
        lines.push_back(std::move(l));
        return ok();
    }));
    return lines;
}

Result<ProcStatus> parse_proc_status(std::string_view text) {
    ProcStatus st;
    bool have_uid = false, have_gid = false;
    CGM_TRY(for_each_line(text, [&](std::string_view line, size_t) -> Result<void> {
        size_t colon = line.find(':');
        if (colon == std::string_view::npos)
            return ok();
        std::string_view key = line.substr(0, colon);
        auto fields = split_ws(line.substr(colon + 1));
        if (key == "Uid" || key == "Gid") {
            if (fields.size() != 4)
                return make_error(ErrorKind::Failed, "status line '{}' is malformed", line);
            for (size_t i = 0; i < 4; ++i) {
                uint32_t v;
                if (!to_number(fields[i], v))
                    return make_error(ErrorKind::Failed, "status line '{}' is malformed", line);
                (key == "Uid" ? st.uid[i] : st.gid[i]) = v;
            }
            (key == "Uid" ? have_uid : have_gid) = true;
        } else if (key == "State") {
            if (!fields.empty())
                st.state = fields[0][0];
        } else if (key == "Kthread") {
            st.kthread = !fields.empty() && fields[0] == "1";
        } else if (key == "Tgid") {
            uint32_t v = 0;
            if (fields.size() != 1 || !to_number(fields[0], v) || v > INT32_MAX)
                return make_error(ErrorKind::Failed, "status line '{}' is malformed", line);
            st.tgid = static_cast<pid_t>(v);
        }
        return ok();
    }));
    if (!have_uid || !have_gid)
        return make_error(ErrorKind::Failed, "status file has no Uid: or Gid: line");
    return st;
}

Result<uint64_t> parse_proc_stat_start_time(std::string_view text) {
    size_t close = text.rfind(')');
    if (close == std::string_view::npos)
        return make_error(ErrorKind::Failed, "stat file has no command name");
    // After the name: field 3 (state) onwards; the start time is field 22.
    auto fields = split_ws(text.substr(close + 1));
    uint64_t start = 0;
    if (fields.size() < 20 || !to_number(fields[19], start))
        return make_error(ErrorKind::Failed, "stat file has no start time");
    return start;
}

Result<std::vector<MountInfo>> parse_mountinfo(std::string_view text) {
    std::vector<MountInfo> out;
    CGM_TRY(for_each_line(text, [&](std::string_view line, size_t lineno) -> Result<void> {
        auto f = split_ws(line);
        // id parent major:minor root mount-point options [optional...] - fstype source super-options
        size_t dash = 0;
        for (size_t i = 6; i < f.size(); ++i)
            if (f[i] == "-") {
                dash = i;
                break;
            }
        MountInfo m;
        if (f.size() < 10 || dash == 0 || dash + 3 > f.size() || !to_number(f[0], m.mount_id) ||
            !to_number(f[1], m.parent_id))
            return make_error(ErrorKind::Failed, "mountinfo line {} is malformed", lineno);
        m.root = unescape(f[3]);
        m.mount_point = unescape(f[4]);
        m.mount_options = std::string(f[5]);
        m.fstype = std::string(f[dash + 1]);
        m.source = unescape(f[dash + 2]);
        if (dash + 3 < f.size())
            m.super_options = std::string(f[dash + 3]);
        out.push_back(std::move(m));
        return ok();
    }));
    return out;
}

Result<std::vector<SubsysInfo>> parse_proc_cgroups(std::string_view text) {
    std::vector<SubsysInfo> out;
    CGM_TRY(for_each_line(text, [&](std::string_view line, size_t lineno) -> Result<void> {
        if (line.front() == '#')
            return ok();
        auto f = split_ws(line);
        SubsysInfo s;
        int enabled = 0;
        if (f.size() != 4 || !to_number(f[1], s.hierarchy) || !to_number(f[2], s.num_cgroups) ||
            !to_number(f[3], enabled))
            return make_error(ErrorKind::Failed, "/proc/cgroups line {} is malformed", lineno);
        s.name = std::string(f[0]);
        s.enabled = enabled != 0;
        for (const auto& o : out)
            if (o.name == s.name)  // the kernel lists each controller once
                return make_error(ErrorKind::Failed, "/proc/cgroups line {} names {} again", lineno, s.name);
        out.push_back(std::move(s));
        return ok();
    }));
    return out;
}

}  // namespace cgm
