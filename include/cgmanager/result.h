// SPDX-License-Identifier: Apache-2.0
//
// Result<T> and Error: the error convention of the whole project.
//
// General rules:
//  - A fallible function returns Result<T>. It either holds a value or an Error.
//  - An Error carries a kind (what a client may react to: denied, not found, bad argument...),
//    the errno of the system call that failed (0 when none did) and a message that names what was
//    wrong: which check, which path, which call. Messages are built where the failure is found,
//    in one line, and are never logged by the core; the layer that handles them logs once.
//  - CGM_TRY(expr) evaluates a Result, returns its Error from the current function on failure and
//    otherwise yields the value.
//  - Kinds map one-to-one onto the freedesktop D-Bus error names at the edge (docs/error-handling.md).
#pragma once

#include <cerrno>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

#include <fmt/format.h>

namespace cgm {

enum class ErrorKind {
    AccessDenied,    ///< the caller may not do this
    NotFound,        ///< a cgroup, file or process does not exist
    InvalidArgs,     ///< an argument is malformed or names something unknown
    LimitsExceeded,  ///< a length, depth or count limit was hit
    NotSupported,    ///< the host or the hierarchy cannot do this
    Timeout,         ///< a peer did not answer in time
    Failed,          ///< anything else (an unexpected kernel error, a busy cgroup)
};

/// The short name of a kind, e.g. "AccessDenied"; the suffix of the D-Bus error name.
std::string_view error_kind_name(ErrorKind kind);

struct [[nodiscard]] Error {
    ErrorKind kind = ErrorKind::Failed;
    int sys_errno = 0;
    std::string message;
    /// The D-Bus error name, for an error a client received from the daemon (else empty).
    std::string name;

    Error() = default;
    Error(ErrorKind k, std::string msg, int err = 0) : kind(k), sys_errno(err), message(std::move(msg)) {}

    /// An error built from the errno of a failed system call: the kind is derived from errno
    /// (EACCES/EPERM -> AccessDenied, ENOENT/ESRCH -> NotFound, ...) and the message is
    /// "<what>: <strerror>".
    static Error from_errno(int err, std::string_view what);

    /// The same error with "<prefix>: " put before its message.
    Error with_context(std::string_view prefix) const&;
    Error with_context(std::string_view prefix) &&;
};

/// The kind matching an errno value.
ErrorKind kind_for_errno(int err);

/// The kind matching a D-Bus error name ("org.freedesktop.DBus.Error.AccessDenied" ...).
ErrorKind kind_for_error_name(std::string_view name);

/// A client-supplied string made safe for an error message: in single quotes, control characters
/// escaped as \xNN, cut after 80 characters.
std::string quoted(std::string_view s);

template <typename... Args>
Error make_error(ErrorKind kind, fmt::format_string<Args...> f, Args&&... args) {
    return Error(kind, fmt::format(f, std::forward<Args>(args)...));
}

/// Error from errno with a formatted description of what was attempted.
template <typename... Args>
Error errno_error(int err, fmt::format_string<Args...> f, Args&&... args) {
    return Error::from_errno(err, fmt::format(f, std::forward<Args>(args)...));
}

template <typename T>
class [[nodiscard]] Result {
public:
    using value_type = T;

    Result(T value) : v_(std::in_place_index<0>, std::move(value)) {}      // NOLINT(google-explicit-constructor)
    Result(Error error) : v_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(google-explicit-constructor)
    template <typename U,
              typename = std::enable_if_t<std::is_convertible_v<U, T> && !std::is_same_v<std::decay_t<U>, T> &&
                                          !std::is_same_v<std::decay_t<U>, Error>>>
    Result(U&& value) : v_(std::in_place_index<0>, T(std::forward<U>(value))) {}  // NOLINT(google-explicit-constructor)

    bool ok() const { return v_.index() == 0; }
    explicit operator bool() const { return ok(); }

    T& value() & { return std::get<0>(v_); }
    const T& value() const& { return std::get<0>(v_); }
    T&& value() && { return std::get<0>(std::move(v_)); }
    T* operator->() { return &value(); }
    const T* operator->() const { return &value(); }
    T& operator*() & { return value(); }
    const T& operator*() const& { return value(); }

    const Error& error() const& { return std::get<1>(v_); }
    Error&& error() && { return std::get<1>(std::move(v_)); }

private:
    std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
public:
    using value_type = void;

    Result() = default;
    Result(Error error) : error_(std::move(error)), ok_(false) {}  // NOLINT(google-explicit-constructor)

    bool ok() const { return ok_; }
    explicit operator bool() const { return ok_; }
    void value() const {}
    const Error& error() const& { return error_; }
    Error&& error() && { return std::move(error_); }

private:
    Error error_;
    bool ok_ = true;
};

/// The success value of Result<void>.
inline Result<void> ok() {
    return {};
}

}  // namespace cgm

/// Evaluate a Result-returning expression; on failure return its Error from the enclosing function,
/// otherwise yield its value (a GNU statement expression, supported by g++ and clang).
#define CGM_TRY(expr) CGM_TRY_IMPL_(expr, CGM_TRY_CONCAT_(cgm_try_result_, __COUNTER__))
#define CGM_TRY_CONCAT_(a, b) CGM_TRY_CONCAT2_(a, b)
#define CGM_TRY_CONCAT2_(a, b) a##b
#define CGM_TRY_IMPL_(expr, var)           \
    ({                                     \
        auto var = (expr);                 \
        if (!var.ok())                     \
            return std::move(var).error(); \
        std::move(var).value();            \
    })
