// SPDX-License-Identifier: Apache-2.0
#include "pam/options.h"

#include <charconv>
#include <optional>

#include "core/proc_parse.h"

namespace cgm::pam {
namespace {

// "-c X", "-cX", "--controllers X", "--controllers=X": the value of option `short_name`/`long_name`
// at args[i] (i moves past it), nothing if args[i] is another option, an error if its value is
// missing.
Result<std::optional<std::string>> value_of(const std::vector<std::string>& args, size_t& i,
                                            std::string_view short_name, std::string_view long_name) {
    std::string_view a = args[i];
    auto next = [&]() -> Result<std::optional<std::string>> {
        if (i + 1 >= args.size())
            return make_error(ErrorKind::InvalidArgs, "option {} needs a value", a);
        return std::optional<std::string>(args[++i]);
    };
    if (!short_name.empty() && a == short_name)
        return next();
    if (!short_name.empty() && a.size() > short_name.size() && a.starts_with(short_name))
        return std::optional<std::string>(std::string(a.substr(short_name.size())));
    if (a == long_name)
        return next();
    if (a.size() > long_name.size() && a.starts_with(long_name) && a[long_name.size()] == '=')
        return std::optional<std::string>(std::string(a.substr(long_name.size() + 1)));
    return std::optional<std::string>();
}

Result<int> number(std::string_view option, const std::string& text, int least) {
    int n = 0;
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    if (ec != std::errc() || ptr != text.data() + text.size() || n < least)
        return make_error(ErrorKind::InvalidArgs, "option {} wants a whole number of at least {}, not '{}'", option,
                          least, text);
    return n;
}

Result<void> plain_name(std::string_view c, std::string_view pattern) {
    if (c == "." || c == "..")
        return make_error(ErrorKind::InvalidArgs, "pattern '{}' gives the cgroup name '{}'", pattern, c);
    if (c.find('\n') != std::string_view::npos || c.find('\0') != std::string_view::npos)
        return make_error(ErrorKind::InvalidArgs, "pattern '{}' gives a cgroup name with a newline or NUL", pattern);
    return ok();
}

}  // namespace

Result<Options> parse_options(const std::vector<std::string>& args) {
    Options o;
    for (size_t i = 0; i < args.size(); ++i) {
        if (args[i] == "--pattern-no-idx-suffix") {
            o.index_suffix = false;
            continue;
        }
        if (auto c = CGM_TRY(value_of(args, i, "-c", "--controllers"))) {
            if (c->empty() || c->front() == ',' || c->find(",,") != std::string::npos)
                return make_error(ErrorKind::InvalidArgs, "option --controllers wants 'all' or a list, not '{}'", *c);
            o.controllers = *c;
        } else if (auto p = CGM_TRY(value_of(args, i, "-p", "--pattern"))) {
            if (p->empty())
                return make_error(ErrorKind::InvalidArgs, "option --pattern wants a pattern, not ''");
            o.pattern = *p;
        } else if (auto m = CGM_TRY(value_of(args, i, "-m", "--max-idx"))) {
            o.max_index = CGM_TRY(number("--max-idx", *m, 1));
        } else if (auto d = CGM_TRY(value_of(args, i, "", "--prune-depth"))) {
            o.prune_depth = CGM_TRY(number("--prune-depth", *d, 0));
        } else if (auto v = CGM_TRY(value_of(args, i, "-s", "--set-value"))) {
            const size_t a = v->find(','), b = a == std::string::npos ? a : v->find(',', a + 1);
            if (b == std::string::npos || a == 0 || b == a + 1)
                return make_error(ErrorKind::InvalidArgs, "option --set-value wants controller,key,value, not '{}'",
                                  *v);
            o.values.push_back({v->substr(0, a), v->substr(a + 1, b - a - 1), v->substr(b + 1)});
        } else if (auto g = CGM_TRY(value_of(args, i, "", "--delegate"))) {
            o.delegate.clear();
            for (auto& name : split(*g, ',')) {
                if (name.empty() || name == "all")
                    return make_error(ErrorKind::InvalidArgs, "option --delegate wants a list of controllers, not '{}'",
                                      *g);
                o.delegate.push_back(std::move(name));
            }
        } else if (auto k = CGM_TRY(value_of(args, i, "", "--socket"))) {
            if (k->empty() || k->front() != '/')
                return make_error(ErrorKind::InvalidArgs, "option --socket wants an absolute path, not '{}'", *k);
            o.socket = *k;
        } else {
            return make_error(ErrorKind::InvalidArgs, "unknown option '{}'", args[i]);
        }
    }
    return o;
}

Result<Layout> expand_pattern(std::string_view pattern, const Login& who, bool index_suffix) {
    std::string out;
    for (size_t i = 0; i < pattern.size(); ++i) {
        const char c = pattern[i];
        if (c == '\\' && i + 1 < pattern.size() && pattern[i + 1] == '%') {
            out += '%';
            ++i;
            continue;
        }
        if (c != '%') {
            out += c;
            continue;
        }
        if (i + 1 == pattern.size())
            return make_error(ErrorKind::InvalidArgs, "pattern '{}' ends in a lone '%' (write \\% for a '%')", pattern);
        switch (pattern[++i]) {
        case 'u': out += who.user; break;
        case 'U': out += std::to_string(who.uid); break;
        case 'g': out += who.group; break;
        case 'G': out += std::to_string(who.gid); break;
        case 'p': out += std::to_string(who.pid); break;
        case 'P': out += std::to_string(who.ppid); break;
        default:
            return make_error(ErrorKind::InvalidArgs,
                              "pattern '{}' has the unknown escape '%{}' (known: %u %U %g %G %p %P)", pattern,
                              pattern[i]);
        }
    }
    if (!out.empty() && out.front() == '/')
        return make_error(ErrorKind::InvalidArgs, "pattern '{}' must be relative (it is made below the root)", pattern);
    Layout l;
    size_t at = 0;
    for (size_t slash; (slash = out.find('/', at)) != std::string::npos; at = slash + 1) {
        std::string level = out.substr(at, slash - at);
        if (level.empty())
            return make_error(ErrorKind::InvalidArgs, "pattern '{}' gives an empty level in '{}'", pattern, out);
        CGM_TRY(plain_name(level, pattern));
        l.levels.push_back(std::move(level));
    }
    l.last = out.substr(at);
    if (!index_suffix && l.last.empty()) {
        // "user/%u/" without an index: the session is the last level itself.
        if (l.levels.empty())
            return make_error(ErrorKind::InvalidArgs, "pattern '{}' names no cgroup", pattern);
        l.last = l.levels.back();
        l.levels.pop_back();
    }
    CGM_TRY(plain_name(l.last, pattern));
    return l;
}

}  // namespace cgm::pam
