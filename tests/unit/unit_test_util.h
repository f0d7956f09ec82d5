// SPDX-License-Identifier: Apache-2.0
//
// Small helpers shared by the unit tests: predicates on Result and a printable form of inputs
// that hold control characters.
#pragma once

#include <gtest/gtest.h>

#include <string>
#include <string_view>

#include <fmt/format.h>

#include "cgmanager/result.h"

namespace cgm::test {

/// `s` with control characters as \xNN and long runs shortened, for SCOPED_TRACE.
inline std::string printable(std::string_view s) {
    std::string out;
    if (s.size() > 60)
        return fmt::format("<{} bytes: {}...>", s.size(), printable(s.substr(0, 40)));
    for (char c : s) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u == 0x7f)
            out += fmt::format("\\x{:02x}", u);
        else
            out += c;
    }
    return "'" + out + "'";
}

/// The result succeeded.
template <typename T>
::testing::AssertionResult IsOk(const Result<T>& r) {
    if (r.ok())
        return ::testing::AssertionSuccess();
    return ::testing::AssertionFailure() << "failed with " << error_kind_name(r.error().kind) << ": "
                                         << r.error().message;
}

/// The result failed with `kind`, and its message contains `part`.
template <typename T>
::testing::AssertionResult IsError(const Result<T>& r, ErrorKind kind, std::string_view part = {}) {
    if (r.ok())
        return ::testing::AssertionFailure() << "succeeded; expected " << error_kind_name(kind);
    const Error& e = r.error();
    if (e.kind != kind)
        return ::testing::AssertionFailure() << "failed with " << error_kind_name(e.kind) << " ('" << e.message
                                             << "'); expected " << error_kind_name(kind);
    if (e.message.find(part) == std::string::npos)
        return ::testing::AssertionFailure() << "message '" << e.message << "' does not contain '" << part << "'";
    return ::testing::AssertionSuccess();
}

}  // namespace cgm::test
