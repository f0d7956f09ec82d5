// SPDX-License-Identifier: Apache-2.0
#include "bus/bus_error.h"

#include "cgmanager/names.h"

namespace cgm::bus {

std::string error_name(ErrorKind kind) {
    return std::string(kErrorPrefix) + std::string(error_kind_name(kind));
}

namespace {

std::string sanitized(std::string_view in, bool one_line) {
    std::string out;
    out.reserve(in.size());
    size_t i = 0;
    while (i < in.size()) {
        auto c = static_cast<unsigned char>(in[i]);
        if (c < 0x80) {
            bool control = c < 0x20 || c == 0x7f;
            bool kept = !one_line && (c == '\n' || c == '\t');
            out += c == 0 || (control && !kept && one_line) ? '?' : static_cast<char>(c);
            ++i;
            continue;
        }
        // A well-formed UTF-8 sequence is copied; any other byte becomes '?'.
        size_t len = (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
        bool good = len > 0 && i + len <= in.size();
        for (size_t k = 1; good && k < len; ++k)
            good = (static_cast<unsigned char>(in[i + k]) & 0xc0) == 0x80;
        if (good && len == 2 && c < 0xc2)
            good = false;  // overlong
        if (good) {
            uint32_t cp = c & (0xff >> (len + 1));
            for (size_t k = 1; k < len; ++k)
                cp = (cp << 6) | (static_cast<unsigned char>(in[i + k]) & 0x3f);
            good = !(len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) &&
                   !(len == 4 && (cp < 0x10000 || cp > 0x10ffff));
        }
        if (good) {
            out.append(in.substr(i, len));
            i += len;
        } else {
            out += '?';
            ++i;
        }
    }
    return out;
}

}  // namespace

std::string wire_string(std::string_view value) {
    return sanitized(value, false);
}

std::string wire_message(std::string_view message) {
    return sanitized(message, true);
}

int reply_error(sd_bus_message* call, const Error& e, bool compat) {
    if (compat)
        return sd_bus_reply_method_errorf(call, "org.freedesktop.DBus.Error.InvalidArgs", "invalid request");
    std::string name = error_name(e.kind);
    std::string msg = wire_message(e.message);
    return sd_bus_reply_method_errorf(call, name.c_str(), "%s", msg.c_str());
}

}  // namespace cgm::bus
