// SPDX-License-Identifier: Apache-2.0
#include "core/cgroup_path.h"

#include "core/limits.h"

namespace cgm {

Result<void> CgroupPath::validate_component(std::string_view name) {
    if (name.empty())
        return make_error(ErrorKind::InvalidArgs, "empty path component");
    if (name == "." || name == "..")
        return make_error(ErrorKind::InvalidArgs, "path component '{}' is not allowed", name);
    if (name.size() > limits::kMaxComponentBytes)
        return make_error(ErrorKind::LimitsExceeded, "path component of {} bytes is longer than {} bytes", name.size(),
                          limits::kMaxComponentBytes);
    for (char c : name) {
        if (c == '\0')
            return make_error(ErrorKind::InvalidArgs, "path component {} contains a NUL byte", quoted(name));
        if (c == '\n')
            return make_error(ErrorKind::InvalidArgs, "path component {} contains a newline", quoted(name));
        if (c == '/')
            return make_error(ErrorKind::InvalidArgs, "name {} contains '/'", quoted(name));
    }
    if (name == kLeafName)
        return make_error(ErrorKind::InvalidArgs, "'{}' is a reserved name", kLeafName);
    return ok();
}

Result<CgroupPath> CgroupPath::parse(std::string_view text) {
    const std::string_view given = text;
    if (text.size() > limits::kMaxPathBytes)
        return make_error(ErrorKind::LimitsExceeded, "cgroup path of {} bytes is longer than {} bytes", text.size(),
                          limits::kMaxPathBytes);
    if (!text.empty() && text.front() == '/')
        return make_error(ErrorKind::InvalidArgs, "cgroup path {} must be relative", quoted(text));
    if (!text.empty() && text.back() == '/')
        text.remove_suffix(1);
    std::vector<std::string> parts;
    if (text.empty())
        return CgroupPath(std::move(parts));
    size_t start = 0;
    for (;;) {
        size_t slash = text.find('/', start);
        std::string_view comp =
            text.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        auto r = validate_component(comp);
        if (!r)
            return std::move(r).error().with_context(fmt::format("invalid cgroup path {}", quoted(given)));
        parts.emplace_back(comp);
        if (slash == std::string_view::npos)
            break;
        start = slash + 1;
    }
    return CgroupPath(std::move(parts));
}

Result<CgroupPath> CgroupPath::from_kernel(std::string_view text) {
    if (text.empty() || text.front() != '/')
        return make_error(ErrorKind::Failed, "unexpected cgroup path {} from the kernel", quoted(text));
    std::vector<std::string> parts;
    size_t start = 1;
    while (start < text.size()) {
        size_t slash = text.find('/', start);
        std::string_view comp =
            text.substr(start, slash == std::string_view::npos ? std::string_view::npos : slash - start);
        if (comp == "..")
            return make_error(ErrorKind::NotFound, "cgroup {} lies outside the daemon's cgroup namespace",
                              quoted(text));
        if (!comp.empty())
            parts.emplace_back(comp);
        if (slash == std::string_view::npos)
            break;
        start = slash + 1;
    }
    return CgroupPath(std::move(parts));
}

std::string CgroupPath::str() const {
    std::string out;
    for (const auto& p : parts_) {
        if (!out.empty())
            out += '/';
        out += p;
    }
    return out;
}

std::string CgroupPath::absolute() const {
    return "/" + str();
}

std::string CgroupPath::at_path() const {
    return parts_.empty() ? std::string(".") : str();
}

std::string_view CgroupPath::name() const {
    return parts_.empty() ? std::string_view() : std::string_view(parts_.back());
}

CgroupPath CgroupPath::parent() const {
    if (parts_.empty())
        return *this;
    return CgroupPath(std::vector<std::string>(parts_.begin(), parts_.end() - 1));
}

CgroupPath CgroupPath::join(const CgroupPath& rel) const {
    std::vector<std::string> parts = parts_;
    parts.insert(parts.end(), rel.parts_.begin(), rel.parts_.end());
    return CgroupPath(std::move(parts));
}

CgroupPath CgroupPath::child(std::string_view name) const {
    std::vector<std::string> parts = parts_;
    parts.emplace_back(name);
    return CgroupPath(std::move(parts));
}

bool CgroupPath::is_under(const CgroupPath& ancestor) const {
    if (ancestor.parts_.size() > parts_.size())
        return false;
    for (size_t i = 0; i < ancestor.parts_.size(); ++i)
        if (parts_[i] != ancestor.parts_[i])
            return false;
    return true;
}

std::optional<CgroupPath> CgroupPath::relative_to(const CgroupPath& ancestor) const {
    if (!is_under(ancestor))
        return std::nullopt;
    return CgroupPath(
        std::vector<std::string>(parts_.begin() + static_cast<std::ptrdiff_t>(ancestor.parts_.size()), parts_.end()));
}

CgroupPath CgroupPath::common_ancestor(const CgroupPath& other) const {
    size_t n = 0;
    while (n < parts_.size() && n < other.parts_.size() && parts_[n] == other.parts_[n])
        ++n;
    return CgroupPath(std::vector<std::string>(parts_.begin(), parts_.begin() + static_cast<std::ptrdiff_t>(n)));
}

bool CgroupPath::ends_with(const CgroupPath& suffix) const {
    if (suffix.parts_.size() > parts_.size())
        return false;
    size_t off = parts_.size() - suffix.parts_.size();
    for (size_t i = 0; i < suffix.parts_.size(); ++i)
        if (parts_[off + i] != suffix.parts_[i])
            return false;
    return true;
}

CgroupPath CgroupPath::without_suffix(size_t n) const {
    if (n >= parts_.size())
        return CgroupPath();
    return CgroupPath(std::vector<std::string>(parts_.begin(), parts_.end() - static_cast<std::ptrdiff_t>(n)));
}

Result<CgroupArg> parse_cgroup_arg(std::string_view text) {
    CgroupArg arg;
    const std::string_view full = text;
    if (text.size() > limits::kMaxPathBytes)
        return make_error(ErrorKind::LimitsExceeded, "cgroup path of {} bytes is longer than {} bytes", text.size(),
                          limits::kMaxPathBytes);
    if (!text.empty() && text.front() == '/') {
        arg.leading_slash = true;
        text.remove_prefix(1);
        if (!text.empty() && text.front() == '/')
            return make_error(ErrorKind::InvalidArgs, "invalid cgroup path {}: empty path component", quoted(full));
    }
    arg.path = CGM_TRY(CgroupPath::parse(text));
    return arg;
}

}  // namespace cgm
