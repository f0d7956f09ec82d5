// SPDX-License-Identifier: Apache-2.0
#include "core/scm_wire.h"

#include <cstdlib>
#include <cstring>

#include <fmt/format.h>

namespace cgm::scm_wire {
namespace {

template <typename T>
std::string bytes_of(T v) {
    return std::string(reinterpret_cast<const char*>(&v), sizeof v);
}

template <typename T>
T value_of(std::string_view b) {
    T v;
    std::memcpy(&v, b.data(), sizeof v);
    return v;
}

Error unexpected(std::string_view datagram) {
    return Error(ErrorKind::Failed, fmt::format("unexpected result {} from the daemon", quoted(datagram)));
}

}  // namespace

std::string status_ok() {
    return "1";
}

std::string existed(bool existed_before) {
    return existed_before ? "2" : "1";
}

std::string text(std::string_view value) {
    std::string out(value);
    out.push_back('\0');
    return out;
}

std::string count(int32_t n) {
    return bytes_of(n);
}

std::string length(uint32_t n) {
    return bytes_of(n);
}

std::string names_blob(const std::vector<std::string>& names) {
    std::string blob;
    for (const auto& n : names) {
        blob += n;
        blob.push_back('\0');
    }
    return blob;
}

std::string keys_blob(const std::vector<Key>& keys) {
    std::string blob;
    for (const auto& k : keys)
        blob += fmt::format("{}\n{}\n{}\n{}\n", k.name, static_cast<int32_t>(k.uid), static_cast<int32_t>(k.gid),
                            static_cast<int32_t>(k.mode));
    return blob;
}

std::vector<std::string> list(size_t n, const std::string& blob) {
    std::vector<std::string> out = {count(static_cast<int32_t>(n))};
    if (n > 0) {
        out.push_back(length(static_cast<uint32_t>(blob.size())));
        out.push_back(blob);
    }
    return out;
}

std::string failure(Shape shape) {
    switch (shape) {
    case Shape::Status:
    case Shape::Existed: return "0";
    case Shape::Text: return std::string();
    case Shape::Pids:
    case Shape::Names:
    case Shape::Keys: return count(-1);
    }
    return "0";
}

std::string error_datagram(std::string_view error_name, std::string_view message) {
    return fmt::format("ERROR {}\n{}", error_name, message);
}

Result<bool> read_status(std::string_view d) {
    if (d == "1")
        return true;
    if (d == "0")
        return false;
    return unexpected(d);
}

Result<std::optional<int32_t>> read_existed(std::string_view d) {
    if (d == "2")
        return std::optional<int32_t>(1);
    if (d == "1")
        return std::optional<int32_t>(-1);
    if (d == "0")
        return std::optional<int32_t>();
    return unexpected(d);
}

Result<std::optional<std::string>> read_text(std::string_view d) {
    if (d.empty())
        return std::optional<std::string>();
    if (d.back() != '\0')
        return make_error(ErrorKind::Failed, "the daemon's answer is not NUL-terminated");
    return std::optional<std::string>(std::string(d.substr(0, d.size() - 1)));
}

Result<std::optional<int32_t>> read_count(std::string_view d) {
    if (d.size() != sizeof(int32_t))
        return make_error(ErrorKind::Failed, "expected a 4-byte count from the daemon, got {} bytes", d.size());
    const auto n = value_of<int32_t>(d);
    if (n < 0)
        return std::optional<int32_t>();
    return std::optional<int32_t>(n);
}

Result<uint32_t> read_length(std::string_view d) {
    if (d.size() != sizeof(uint32_t))
        return make_error(ErrorKind::Failed, "expected a 4-byte length from the daemon, got {} bytes", d.size());
    return value_of<uint32_t>(d);
}

Result<std::vector<std::string>> read_names(std::string_view blob, int32_t n) {
    std::vector<std::string> names;
    size_t start = 0;
    while (start < blob.size()) {
        const size_t nul = blob.find('\0', start);
        if (nul == std::string_view::npos)
            return make_error(ErrorKind::Failed, "a child name from the daemon is not NUL-terminated");
        names.emplace_back(blob.substr(start, nul - start));
        start = nul + 1;
    }
    if (names.size() != static_cast<size_t>(n))
        return make_error(ErrorKind::Failed, "the daemon announced {} names and sent {}", n, names.size());
    return names;
}

Result<std::vector<Key>> read_keys(std::string_view blob, int32_t n) {
    std::vector<std::string> lines;
    size_t start = 0;
    while (start < blob.size()) {
        const size_t nl = blob.find('\n', start);
        if (nl == std::string_view::npos)
            return make_error(ErrorKind::Failed, "malformed key list from the daemon");
        lines.emplace_back(blob.substr(start, nl - start));
        start = nl + 1;
    }
    if (lines.size() != static_cast<size_t>(n) * 4)
        return make_error(ErrorKind::Failed, "the daemon announced {} keys and sent {} lines", n, lines.size());
    // Numbers are printed signed ("-1" for an unmapped id); read back as 32-bit values.
    auto number = [](const std::string& t) { return static_cast<uint32_t>(std::strtoll(t.c_str(), nullptr, 10)); };
    std::vector<Key> keys;
    for (size_t i = 0; i < lines.size(); i += 4)
        keys.push_back(Key{lines[i], number(lines[i + 1]), number(lines[i + 2]), number(lines[i + 3])});
    return keys;
}

std::optional<ErrorDetail> read_error(std::string_view d) {
    if (d.substr(0, 6) != "ERROR ")
        return std::nullopt;
    const size_t nl = d.find('\n');
    ErrorDetail e;
    e.name = std::string(d.substr(6, nl == std::string_view::npos ? std::string_view::npos : nl - 6));
    e.message = nl == std::string_view::npos ? std::string() : std::string(d.substr(nl + 1));
    return e;
}

}  // namespace cgm::scm_wire
