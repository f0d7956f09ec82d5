// SPDX-License-Identifier: Apache-2.0
//
// The objects every client connection serves:
//  - /org/linuxcontainers/cgmanager, interface org.linuxcontainers.cgmanager0_0: every method of
//    dbus/org.linuxcontainers.cgmanager.xml and the api_version property (sd-bus adds
//    Introspectable, Properties and Peer);
//  - /org/freedesktop/DBus, interface org.freedesktop.DBus: Hello (answers a unique name ":1.N"),
//    AddMatch and RemoveMatch (accepted, no-ops), so that clients made for a message bus (busctl,
//    gdbus, sdbus-c++) work on this peer-to-peer socket (docs/dbus-api.md, "Peer-to-peer, no bus").
#pragma once

#include <systemd/sd-bus.h>

namespace cgm::bus {

class ClientConnection;

/// Register both objects on a connection's bus; the slots keep them registered.
int add_vtables(sd_bus* bus, ClientConnection* conn, sd_bus_slot** object_slot, sd_bus_slot** shim_slot);

/// Reading the arguments (`signature`, all basic types) of a call failed with `rc`: answer
/// InvalidArgs naming the argument that cannot be read and why (a string that is not UTF-8, a
/// descriptor that did not come with the message), and log it.
int reply_unreadable_arguments(sd_bus_message* m, ClientConnection& conn, const char* signature, int rc);

}  // namespace cgm::bus
