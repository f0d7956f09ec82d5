// SPDX-License-Identifier: Apache-2.0
//
// Method handlers: read the arguments, build the Caller from the connection's kernel credentials,
// call Operations (which validates and authorizes before it acts), reply, and log one line.
#include "bus/methods.h"

#include <cstring>
#include <exception>
#include <string>
#include <type_traits>
#include <vector>

#include <spdlog/spdlog.h>

#include "bus/bus_error.h"
#include "bus/connection.h"
#include "bus/scm.h"
#include "cgmanager/names.h"
#include "core/service.h"

namespace cgm::bus {

namespace {

ClientConnection& conn_of(void* userdata) {
    return *static_cast<ClientConnection*>(userdata);
}

// ---- replies, one per wire type --------------------------------------------------------------

int reply_value(sd_bus_message* m) {
    return sd_bus_reply_method_return(m, nullptr);
}

int reply_value(sd_bus_message* m, int32_t v) {
    return sd_bus_reply_method_return(m, "i", v);
}

int reply_value(sd_bus_message* m, const std::string& s) {
    std::string safe = wire_string(s);  // kernel text may hold bytes that are not UTF-8
    return sd_bus_reply_method_return(m, "s", safe.c_str());
}

int new_reply(sd_bus_message* m, MessagePtr& out) {
    sd_bus_message* r = nullptr;
    int rc = sd_bus_message_new_method_return(m, &r);
    out.reset(r);
    return rc;
}

int reply_value(sd_bus_message* m, const std::vector<std::string>& v) {
    MessagePtr r;
    int rc = new_reply(m, r);
    if (rc < 0)
        return rc;
    if ((rc = sd_bus_message_open_container(r.get(), 'a', "s")) < 0)
        return rc;
    for (const auto& s : v) {
        std::string safe = wire_string(s);
        if ((rc = sd_bus_message_append_basic(r.get(), 's', safe.c_str())) < 0)
            return rc;
    }
    if ((rc = sd_bus_message_close_container(r.get())) < 0)
        return rc;
    return sd_bus_send(nullptr, r.get(), nullptr);
}

int reply_value(sd_bus_message* m, const std::vector<int32_t>& v) {
    MessagePtr r;
    int rc = new_reply(m, r);
    if (rc < 0)
        return rc;
    if ((rc = sd_bus_message_append_array(r.get(), 'i', v.data(), v.size() * sizeof(int32_t))) < 0)
        return rc;
    return sd_bus_send(nullptr, r.get(), nullptr);
}

int reply_value(sd_bus_message* m, const std::vector<KeyInfo>& keys) {
    MessagePtr r;
    int rc = new_reply(m, r);
    if (rc < 0)
        return rc;
    if ((rc = sd_bus_message_open_container(r.get(), 'a', "(suuu)")) < 0)
        return rc;
    for (const auto& k : keys) {
        std::string safe = wire_string(k.name);
        if ((rc = sd_bus_message_append(r.get(), "(suuu)", safe.c_str(), k.uid, k.gid, k.perms)) < 0)
            return rc;
    }
    if ((rc = sd_bus_message_close_container(r.get())) < 0)
        return rc;
    return sd_bus_send(nullptr, r.get(), nullptr);
}

// About how many bytes a reply takes (for the memory budgets): the header, and what the value adds.
constexpr size_t kReplyOverhead = 64;
size_t reply_size() {
    return kReplyOverhead;
}
size_t reply_size(int32_t) {
    return kReplyOverhead + 4;
}
size_t reply_size(const std::string& s) {
    return kReplyOverhead + 5 + s.size();
}
size_t reply_size(const std::vector<std::string>& v) {
    size_t n = kReplyOverhead + 4;
    for (const auto& s : v)
        n += 5 + s.size() + 3;
    return n;
}
size_t reply_size(const std::vector<int32_t>& v) {
    return kReplyOverhead + 4 + 4 * v.size();
}
size_t reply_size(const std::vector<KeyInfo>& v) {
    size_t n = kReplyOverhead + 4;
    for (const auto& k : v)
        n += 8 + 5 + k.name.size() + 12;
    return n;
}

// ---- the common shape of a plain method ----------------------------------------------------------

enum class Needs { Identity, Nothing };

// Run one plain method: `body(ops, caller)` returns a Result whose value is the reply.
// `describe()` gives the arguments for the log line (built only when it is logged).
template <typename Body, typename Describe>
int serve(sd_bus_message* m, void* userdata, const char* method, Needs needs, Describe&& describe, Body&& body) {
    ClientConnection& c = conn_of(userdata);
    const bool compat = c.server().config().compat_errors;
    const Ucred& peer = c.peer();
    auto log = [&](spdlog::level::level_enum level, std::string_view outcome) {
        if (spdlog::should_log(level))
            spdlog::log(level, "pid {} uid {}: {}({}) {}", peer.pid, peer.uid, method, describe(), outcome);
    };
    try {
        if (needs == Needs::Identity) {
            auto alive = c.check_peer_alive();
            if (!alive) {
                log(spdlog::level::info, "refused: " + alive.error().message);
                return reply_error(m, alive.error(), compat);
            }
        }
        auto service = c.server().service();
        auto result = body(*service, Caller::plain(peer, c.peer_pidfd()));
        if (!result) {
            log(spdlog::level::info, "failed: " + result.error().message);
            c.note_reply(kReplyOverhead + result.error().message.size());
            return reply_error(m, result.error(), compat);
        }
        log(spdlog::level::info, "ok");
        if constexpr (std::is_void_v<typename decltype(result)::value_type>) {
            c.note_reply(reply_size());
            return reply_value(m);
        } else {
            c.note_reply(reply_size(*result));
            return reply_value(m, *result);
        }
    } catch (const std::exception& e) {
        log(spdlog::level::err, std::string("internal error: ") + e.what());
        return reply_error(m, make_error(ErrorKind::Failed, "internal error: {}", e.what()), compat);
    }
}

#define READ_ARGS(m, sig, ...)                                                     \
    do {                                                                           \
        int rc_ = sd_bus_message_read((m), (sig), __VA_ARGS__);                    \
        if (rc_ < 0)                                                               \
            return reply_unreadable_arguments((m), conn_of(userdata), (sig), rc_); \
    } while (0)

// ---- org.linuxcontainers.cgmanager0_0 ------------------------------------------------------------

int m_ping(sd_bus_message* m, void* userdata, sd_bus_error*) {
    int32_t junk = 0;
    READ_ARGS(m, "i", &junk);
    return serve(
        m, userdata, "Ping", Needs::Nothing, [&] { return std::to_string(junk); },
        [&](const CgroupService&, const Caller&) -> Result<void> { return ok(); });
}

int m_get_pid_cgroup(sd_bus_message* m, void* userdata, sd_bus_error*) {
    const char* controller;
    int32_t pid;
    READ_ARGS(m, "si", &controller, &pid);
    return serve(
        m, userdata, "GetPidCgroup", Needs::Identity, [&] { return fmt::format("{}, {}", quoted(controller), pid); },
        [&](const CgroupService& ops, const Caller& c) { return ops.get_pid_cgroup(c, controller, pid); });
}

int m_get_pid_cgroup_abs(sd_bus_message* m, void* userdata, sd_bus_error*) {
    const char* controller;
    int32_t pid;
    READ_ARGS(m, "si", &controller, &pid);
    return serve(
        m, userdata, "GetPidCgroupAbs", Needs::Identity, [&] { return fmt::format("{}, {}", quoted(controller), pid); },
        [&](const CgroupService& ops, const Caller& c) { return ops.get_pid_cgroup_abs(c, controller, pid); });
}

int m_create(sd_bus_message* m, void* userdata, sd_bus_error*) {
    const char *controller, *cgroup;
    READ_ARGS(m, "ss", &controller, &cgroup);
    return serve(
        m, userdata, "Create", Needs::Identity,
        [&] { return fmt::format("{}, {}", quoted(controller), quoted(cgroup)); },
        [&](const CgroupService& ops, const Caller& c) -> Result<int32_t> {
            return wire_value(CGM_TRY(ops.create(c, controller, cgroup)));
        });
}

int m_chown(sd_bus_message* m, void* userdata, sd_bus_error*) {
    const char *controller, *cgroup;
    int32_t uid, gid;
    READ_ARGS(m, "ssii", &controller, &cgroup, &uid, &gid);
    return serve(
        m, userdata, "Chown", Needs::Identity,
        [&] { return fmt::format("{}, {}, {}, {}", quoted(controller), quoted(cgroup), uid, gid); },
        [&](const CgroupService& ops, const Caller& c) { return ops.chown(c, controller, cgroup, uid, gid); });
}

int m_chmod(sd_bus_message* m, void* userdata, sd_bus_error*) {
    const char *controller, *cgroup, *file;
    int32_t mode;
    READ_ARGS(m, "sssi", &controller, &cgroup, &file, &mode);
    return serve(
        m, userdata, "Chmod", Needs::Identity,
        [&] { return fmt::format("{}, {}, {}, {:o}", quoted(controller), quoted(cgroup), quoted(file), mode); },
        [&](const CgroupService& ops, const Caller& c) { return ops.chmod(c, controller, cgroup, file, mode); });
}

int m_move_pid(sd_bus_message* m, void* userdata, sd_bus_error*) {
    const char *controller, *cgroup;
    int32_t pid;
    READ_ARGS(m, "ssi", &controller, &cgroup, &pid);
    return serve(
        m, userdata, "MovePid", Needs::Identity,
        [&] { return fmt::format("{}, {}, {}", quoted(controller), quoted(cgroup), pid); },
        [&](const CgroupService& ops, const Caller& c) { return ops.move_pid(c, controller, cgroup, pid); });
}

int m_move_pid_abs(sd_bus_message* m, void* userdata, sd_bus_error*) {
    const char *controller, *cgroup;
    int32_t pid;
    READ_ARGS(m, "ssi", &controller, &cgroup, &pid);
    return serve(
        m, userdata, "MovePidAbs", Needs::Identity,
        [&] { return fmt::format("{}, {}, {}", quoted(controller), quoted(cgroup), pid); },
        [&](const CgroupService& ops, const Caller& c) { return ops.move_pid_abs(c, controller, cgroup, pid); });
}

int m_get_value(sd_bus_message* m, void* userdata, sd_bus_error*) {
    const char *controller, *cgroup, *key;
    READ_ARGS(m, "sss", &controller, &cgroup, &key);
    return serve(
        m, userdata, "GetValue", Needs::Identity,
        [&] { return fmt::format("{}, {}, {}", quoted(controller), quoted(cgroup), quoted(key)); },
        [&](const CgroupService& ops, const Caller& c) { return ops.get_value(c, controller, cgroup, key); });
}

int m_set_value(sd_bus_message* m, void* userdata, sd_bus_error*) {
    const char *controller, *cgroup, *key, *value;
    READ_ARGS(m, "ssss", &controller, &cgroup, &key, &value);
    return serve(
        m, userdata, "SetValue", Needs::Identity,
        [&] { return fmt::format("{}, {}, {}, {}", quoted(controller), quoted(cgroup), quoted(key), quoted(value)); },
        [&](const CgroupService& ops, const Caller& c) { return ops.set_value(c, controller, cgroup, key, value); });
}

int m_remove(sd_bus_message* m, void* userdata, sd_bus_error*) {
    const char *controller, *cgroup;
    int32_t recursive;
    READ_ARGS(m, "ssi", &controller, &cgroup, &recursive);
    return serve(
        m, userdata, "Remove", Needs::Identity,
        [&] { return fmt::format("{}, {}, {}", quoted(controller), quoted(cgroup), recursive); },
        [&](const CgroupService& ops, const Caller& c) -> Result<int32_t> {
            return wire_value(CGM_TRY(ops.remove(c, controller, cgroup, recursive != 0)));
        });
}

int m_get_tasks(sd_bus_message* m, void* userdata, sd_bus_error*) {
    const char *controller, *cgroup;
    READ_ARGS(m, "ss", &controller, &cgroup);
    return serve(
        m, userdata, "GetTasks", Needs::Identity,
        [&] { return fmt::format("{}, {}", quoted(controller), quoted(cgroup)); },
        [&](const CgroupService& ops, const Caller& c) { return ops.get_tasks(c, controller, cgroup); });
}

int m_get_tasks_recursive(sd_bus_message* m, void* userdata, sd_bus_error*) {
    const char *controller, *cgroup;
    READ_ARGS(m, "ss", &controller, &cgroup);
    return serve(
        m, userdata, "GetTasksRecursive", Needs::Identity,
        [&] { return fmt::format("{}, {}", quoted(controller), quoted(cgroup)); },
        [&](const CgroupService& ops, const Caller& c) { return ops.get_tasks_recursive(c, controller, cgroup); });
}

int m_list_children(sd_bus_message* m, void* userdata, sd_bus_error*) {
    const char *controller, *cgroup;
    READ_ARGS(m, "ss", &controller, &cgroup);
    return serve(
        m, userdata, "ListChildren", Needs::Identity,
        [&] { return fmt::format("{}, {}", quoted(controller), quoted(cgroup)); },
        [&](const CgroupService& ops, const Caller& c) { return ops.list_children(c, controller, cgroup); });
}

int m_remove_on_empty(sd_bus_message* m, void* userdata, sd_bus_error*) {
    const char *controller, *cgroup;
    READ_ARGS(m, "ss", &controller, &cgroup);
    return serve(
        m, userdata, "RemoveOnEmpty", Needs::Identity,
        [&] { return fmt::format("{}, {}", quoted(controller), quoted(cgroup)); },
        [&](const CgroupService& ops, const Caller& c) { return ops.remove_on_empty(c, controller, cgroup); });
}

int m_prune(sd_bus_message* m, void* userdata, sd_bus_error*) {
    const char *controller, *cgroup;
    READ_ARGS(m, "ss", &controller, &cgroup);
    return serve(
        m, userdata, "Prune", Needs::Identity,
        [&] { return fmt::format("{}, {}", quoted(controller), quoted(cgroup)); },
        [&](const CgroupService& ops, const Caller& c) { return ops.prune(c, controller, cgroup); });
}

int m_list_controllers(sd_bus_message* m, void* userdata, sd_bus_error*) {
    return serve(
        m, userdata, "ListControllers", Needs::Nothing, [] { return std::string(); },
        [&](const CgroupService& ops, const Caller&) -> Result<std::vector<std::string>> {
            return ops.list_controllers();
        });
}

int m_list_keys(sd_bus_message* m, void* userdata, sd_bus_error*) {
    const char *controller, *cgroup;
    READ_ARGS(m, "ss", &controller, &cgroup);
    return serve(
        m, userdata, "ListKeys", Needs::Identity,
        [&] { return fmt::format("{}, {}", quoted(controller), quoted(cgroup)); },
        [&](const CgroupService& ops, const Caller& c) { return ops.list_keys(c, controller, cgroup); });
}

int get_api_version(sd_bus*, const char*, const char*, const char*, sd_bus_message* reply, void*, sd_bus_error*) {
    return sd_bus_message_append(reply, "i", static_cast<int32_t>(kApiVersion));
}

// The *Scm methods start an asynchronous credential exchange (scm.h).
#define SCM_HANDLER(fn, kind)                                           \
    int fn(sd_bus_message* m, void* userdata, sd_bus_error* error) {    \
        return start_scm(m, conn_of(userdata), ScmMethod::kind, error); \
    }
SCM_HANDLER(m_get_pid_cgroup_scm, GetPidCgroup)
SCM_HANDLER(m_get_pid_cgroup_abs_scm, GetPidCgroupAbs)
SCM_HANDLER(m_create_scm, Create)
SCM_HANDLER(m_chown_scm, Chown)
SCM_HANDLER(m_chmod_scm, Chmod)
SCM_HANDLER(m_move_pid_scm, MovePid)
SCM_HANDLER(m_move_pid_abs_scm, MovePidAbs)
SCM_HANDLER(m_get_value_scm, GetValue)
SCM_HANDLER(m_set_value_scm, SetValue)
SCM_HANDLER(m_remove_scm, Remove)
SCM_HANDLER(m_get_tasks_scm, GetTasks)
SCM_HANDLER(m_get_tasks_recursive_scm, GetTasksRecursive)
SCM_HANDLER(m_list_children_scm, ListChildren)
SCM_HANDLER(m_remove_on_empty_scm, RemoveOnEmpty)
SCM_HANDLER(m_prune_scm, Prune)
SCM_HANDLER(m_list_keys_scm, ListKeys)
#undef SCM_HANDLER

constexpr uint64_t kFlags = SD_BUS_VTABLE_UNPRIVILEGED;  // authorization is ours, per call

// clang-format off
const sd_bus_vtable kCgmanagerVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_ARGS("Ping", SD_BUS_ARGS("i", junk), SD_BUS_NO_RESULT, m_ping, kFlags),
    SD_BUS_METHOD_WITH_ARGS("GetPidCgroup", SD_BUS_ARGS("s", controller, "i", pid), SD_BUS_RESULT("s", output), m_get_pid_cgroup, kFlags),
    SD_BUS_METHOD_WITH_ARGS("GetPidCgroupScm", SD_BUS_ARGS("s", controller, "h", sockfd), SD_BUS_NO_RESULT, m_get_pid_cgroup_scm, kFlags),
    SD_BUS_METHOD_WITH_ARGS("GetPidCgroupAbs", SD_BUS_ARGS("s", controller, "i", pid), SD_BUS_RESULT("s", output), m_get_pid_cgroup_abs, kFlags),
    SD_BUS_METHOD_WITH_ARGS("GetPidCgroupAbsScm", SD_BUS_ARGS("s", controller, "h", sockfd), SD_BUS_NO_RESULT, m_get_pid_cgroup_abs_scm, kFlags),
    SD_BUS_METHOD_WITH_ARGS("Create", SD_BUS_ARGS("s", controller, "s", cgroup), SD_BUS_RESULT("i", existed), m_create, kFlags),
    SD_BUS_METHOD_WITH_ARGS("CreateScm", SD_BUS_ARGS("s", controller, "s", cgroup, "h", sockfd), SD_BUS_NO_RESULT, m_create_scm, kFlags),
    SD_BUS_METHOD_WITH_ARGS("Chown", SD_BUS_ARGS("s", controller, "s", cgroup, "i", uid, "i", gid), SD_BUS_NO_RESULT, m_chown, kFlags),
    SD_BUS_METHOD_WITH_ARGS("ChownScm", SD_BUS_ARGS("s", controller, "s", cgroup, "h", sockfd), SD_BUS_NO_RESULT, m_chown_scm, kFlags),
    SD_BUS_METHOD_WITH_ARGS("Chmod", SD_BUS_ARGS("s", controller, "s", cgroup, "s", file, "i", mode), SD_BUS_NO_RESULT, m_chmod, kFlags),
    SD_BUS_METHOD_WITH_ARGS("ChmodScm", SD_BUS_ARGS("s", controller, "s", cgroup, "s", file, "i", mode, "h", sockfd), SD_BUS_NO_RESULT, m_chmod_scm, kFlags),
    SD_BUS_METHOD_WITH_ARGS("MovePid", SD_BUS_ARGS("s", controller, "s", cgroup, "i", pid), SD_BUS_NO_RESULT, m_move_pid, kFlags),
    SD_BUS_METHOD_WITH_ARGS("MovePidScm", SD_BUS_ARGS("s", controller, "s", cgroup, "h", sockfd), SD_BUS_NO_RESULT, m_move_pid_scm, kFlags),
    SD_BUS_METHOD_WITH_ARGS("MovePidAbs", SD_BUS_ARGS("s", controller, "s", cgroup, "i", pid), SD_BUS_NO_RESULT, m_move_pid_abs, kFlags),
    SD_BUS_METHOD_WITH_ARGS("MovePidAbsScm", SD_BUS_ARGS("s", controller, "s", cgroup, "h", sockfd), SD_BUS_NO_RESULT, m_move_pid_abs_scm, kFlags),
    SD_BUS_METHOD_WITH_ARGS("GetValue", SD_BUS_ARGS("s", controller, "s", cgroup, "s", key), SD_BUS_RESULT("s", value), m_get_value, kFlags),
    SD_BUS_METHOD_WITH_ARGS("GetValueScm", SD_BUS_ARGS("s", controller, "s", cgroup, "s", key, "h", sockfd), SD_BUS_NO_RESULT, m_get_value_scm, kFlags),
    SD_BUS_METHOD_WITH_ARGS("SetValue", SD_BUS_ARGS("s", controller, "s", cgroup, "s", key, "s", value), SD_BUS_NO_RESULT, m_set_value, kFlags),
    SD_BUS_METHOD_WITH_ARGS("SetValueScm", SD_BUS_ARGS("s", controller, "s", cgroup, "s", key, "s", value, "h", sockfd), SD_BUS_NO_RESULT, m_set_value_scm, kFlags),
    SD_BUS_METHOD_WITH_ARGS("Remove", SD_BUS_ARGS("s", controller, "s", cgroup, "i", recursive), SD_BUS_RESULT("i", existed), m_remove, kFlags),
    SD_BUS_METHOD_WITH_ARGS("RemoveScm", SD_BUS_ARGS("s", controller, "s", cgroup, "i", recursive, "h", sockfd), SD_BUS_NO_RESULT, m_remove_scm, kFlags),
    SD_BUS_METHOD_WITH_ARGS("GetTasks", SD_BUS_ARGS("s", controller, "s", cgroup), SD_BUS_RESULT("ai", output), m_get_tasks, kFlags),
    SD_BUS_METHOD_WITH_ARGS("GetTasksScm", SD_BUS_ARGS("s", controller, "s", cgroup, "h", sockfd), SD_BUS_NO_RESULT, m_get_tasks_scm, kFlags),
    SD_BUS_METHOD_WITH_ARGS("GetTasksRecursive", SD_BUS_ARGS("s", controller, "s", cgroup), SD_BUS_RESULT("ai", output), m_get_tasks_recursive, kFlags),
    SD_BUS_METHOD_WITH_ARGS("GetTasksRecursiveScm", SD_BUS_ARGS("s", controller, "s", cgroup, "h", sockfd), SD_BUS_NO_RESULT, m_get_tasks_recursive_scm, kFlags),
    SD_BUS_METHOD_WITH_ARGS("ListChildren", SD_BUS_ARGS("s", controller, "s", cgroup), SD_BUS_RESULT("as", output), m_list_children, kFlags),
    SD_BUS_METHOD_WITH_ARGS("ListChildrenScm", SD_BUS_ARGS("s", controller, "s", cgroup, "h", sockfd), SD_BUS_NO_RESULT, m_list_children_scm, kFlags),
    SD_BUS_METHOD_WITH_ARGS("RemoveOnEmpty", SD_BUS_ARGS("s", controller, "s", cgroup), SD_BUS_NO_RESULT, m_remove_on_empty, kFlags),
    SD_BUS_METHOD_WITH_ARGS("RemoveOnEmptyScm", SD_BUS_ARGS("s", controller, "s", cgroup, "h", sockfd), SD_BUS_NO_RESULT, m_remove_on_empty_scm, kFlags),
    SD_BUS_METHOD_WITH_ARGS("Prune", SD_BUS_ARGS("s", controller, "s", cgroup), SD_BUS_NO_RESULT, m_prune, kFlags),
    SD_BUS_METHOD_WITH_ARGS("PruneScm", SD_BUS_ARGS("s", controller, "s", cgroup, "h", sockfd), SD_BUS_NO_RESULT, m_prune_scm, kFlags),
    SD_BUS_METHOD_WITH_ARGS("ListControllers", SD_BUS_NO_ARGS, SD_BUS_RESULT("as", output), m_list_controllers, kFlags),
    SD_BUS_METHOD_WITH_ARGS("ListKeys", SD_BUS_ARGS("s", controller, "s", cgroup), SD_BUS_RESULT("a(suuu)", output), m_list_keys, kFlags),
    SD_BUS_METHOD_WITH_ARGS("ListKeysScm", SD_BUS_ARGS("s", controller, "s", cgroup, "h", sockfd), SD_BUS_NO_RESULT, m_list_keys_scm, kFlags),
    SD_BUS_PROPERTY("api_version", "i", get_api_version, 0, SD_BUS_VTABLE_PROPERTY_CONST),
    SD_BUS_VTABLE_END,
};
// clang-format on

// ---- org.freedesktop.DBus shim ---------------------------------------------------------------------

int m_hello(sd_bus_message* m, void* userdata, sd_bus_error*) {
    ClientConnection& c = conn_of(userdata);
    std::string name = fmt::format(":1.{}", c.id());
    return sd_bus_reply_method_return(m, "s", name.c_str());
}

int m_match_noop(sd_bus_message* m, void* userdata, sd_bus_error*) {
    const char* rule;
    READ_ARGS(m, "s", &rule);
    return sd_bus_reply_method_return(m, nullptr);
}

const sd_bus_vtable kBusShimVtable[] = {
    SD_BUS_VTABLE_START(0),
    SD_BUS_METHOD_WITH_ARGS("Hello", SD_BUS_NO_ARGS, SD_BUS_RESULT("s", unique_name), m_hello, kFlags),
    SD_BUS_METHOD_WITH_ARGS("AddMatch", SD_BUS_ARGS("s", rule), SD_BUS_NO_RESULT, m_match_noop, kFlags),
    SD_BUS_METHOD_WITH_ARGS("RemoveMatch", SD_BUS_ARGS("s", rule), SD_BUS_NO_RESULT, m_match_noop, kFlags),
    SD_BUS_VTABLE_END,
};

// The name of input argument `index` of method `member`, from the vtables.
std::string argument_name(const char* member, size_t index) {
    for (const sd_bus_vtable* table : {kCgmanagerVtable, kBusShimVtable}) {
        for (const sd_bus_vtable* v = table; v->type != _SD_BUS_VTABLE_END; ++v) {
            if (v->type != _SD_BUS_VTABLE_METHOD || member == nullptr || std::strcmp(v->x.method.member, member) != 0)
                continue;
            const char* n = v->x.method.names;
            for (size_t i = 0; n != nullptr && *n != '\0'; ++i, n += std::strlen(n) + 1)
                if (i == index)
                    return n;
        }
    }
    return "?";
}

}  // namespace

int reply_unreadable_arguments(sd_bus_message* m, ClientConnection& conn, const char* signature, int rc) {
    const char* member = sd_bus_message_get_member(m);
    Error e = make_error(ErrorKind::InvalidArgs, "the arguments of {} cannot be read: {}", member ? member : "the call",
                         std::strerror(-rc));
    if (sd_bus_message_rewind(m, 1) >= 0) {
        for (size_t i = 0; signature[i] != '\0'; ++i) {
            union {
                const char* s;
                int32_t i32;
                int fd;
            } v{};
            int r = sd_bus_message_read_basic(m, signature[i], &v);
            if (r >= 0)
                continue;
            std::string why = signature[i] == 's' && r == -EBADMSG ? "is not a valid string (UTF-8, no NUL byte)"
                              : signature[i] == 'h' && r == -EBADMSG
                                  ? "names no file descriptor sent with the call"
                                  : std::string("cannot be read: ") + std::strerror(-r);
            e = make_error(ErrorKind::InvalidArgs, "argument {} ({}) of {} {}", i + 1, argument_name(member, i),
                           member ? member : "the call", why);
            break;
        }
    }
    spdlog::info("pid {} uid {}: {}", conn.peer().pid, conn.peer().uid, e.message);
    return reply_error(m, e, conn.server().config().compat_errors);
}

int add_vtables(sd_bus* bus, ClientConnection* conn, sd_bus_slot** object_slot, sd_bus_slot** shim_slot) {
    int r = sd_bus_add_object_vtable(bus, object_slot, kObjectPath, kInterface, kCgmanagerVtable, conn);
    if (r < 0)
        return r;
    return sd_bus_add_object_vtable(bus, shim_slot, "/org/freedesktop/DBus", "org.freedesktop.DBus", kBusShimVtable,
                                    conn);
}

}  // namespace cgm::bus
