// SPDX-License-Identifier: Apache-2.0
#include "cgmanager/result.h"

#include <cstring>

namespace cgm {

std::string_view error_kind_name(ErrorKind kind) {
    switch (kind) {
    case ErrorKind::AccessDenied: return "AccessDenied";
    case ErrorKind::NotFound: return "FileNotFound";
    case ErrorKind::InvalidArgs: return "InvalidArgs";
    case ErrorKind::LimitsExceeded: return "LimitsExceeded";
    case ErrorKind::NotSupported: return "NotSupported";
    case ErrorKind::Timeout: return "Timeout";
    case ErrorKind::Failed: return "Failed";
    }
    return "Failed";
}

ErrorKind kind_for_errno(int err) {
    switch (err) {
    case EACCES:
    case EPERM:
    case EROFS: return ErrorKind::AccessDenied;
    case ENOENT:
    case ESRCH:
    case ENOTDIR: return ErrorKind::NotFound;
    case EINVAL:
    case ENAMETOOLONG:
    case ELOOP:
    case EXDEV: return ErrorKind::InvalidArgs;
    case EMFILE:
    case ENFILE:
    case ENOSPC:
    case EFBIG:
    case E2BIG:
    case EDQUOT:
    case EAGAIN: return ErrorKind::LimitsExceeded;
    case ENOSYS:
    case EOPNOTSUPP:
    case ENODEV: return ErrorKind::NotSupported;
    case ETIMEDOUT: return ErrorKind::Timeout;
    default: return ErrorKind::Failed;
    }
}

ErrorKind kind_for_error_name(std::string_view name) {
    auto dot = name.rfind('.');
    std::string_view tail = dot == std::string_view::npos ? name : name.substr(dot + 1);
    for (ErrorKind k : {ErrorKind::AccessDenied, ErrorKind::NotFound, ErrorKind::InvalidArgs, ErrorKind::LimitsExceeded,
                        ErrorKind::NotSupported, ErrorKind::Timeout, ErrorKind::Failed})
        if (tail == error_kind_name(k))
            return k;
    if (tail == "NoReply" || tail == "TimedOut")
        return ErrorKind::Timeout;
    if (tail == "UnknownMethod" || tail == "UnknownObject" || tail == "UnknownInterface" || tail == "UnknownProperty")
        return ErrorKind::NotSupported;
    return ErrorKind::Failed;
}

std::string quoted(std::string_view s) {
    std::string out = "'";
    size_t n = 0;
    for (char c : s) {
        if (++n > 80) {
            out += "...";
            break;
        }
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f)
            out += fmt::format("\\x{:02x}", u);
        else
            out += c;
    }
    return out + "'";
}

Error Error::from_errno(int err, std::string_view what) {
    return Error(kind_for_errno(err), fmt::format("{}: {}", what, std::strerror(err)), err);
}

Error Error::with_context(std::string_view prefix) const& {
    Error e = *this;
    e.message = fmt::format("{}: {}", prefix, message);
    return e;
}

Error Error::with_context(std::string_view prefix) && {
    message = fmt::format("{}: {}", prefix, message);
    return std::move(*this);
}

}  // namespace cgm
