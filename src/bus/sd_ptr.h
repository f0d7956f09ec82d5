// SPDX-License-Identifier: Apache-2.0
//
// RAII owners for the sd-bus and sd-event objects the daemon holds.
#pragma once

#include <systemd/sd-bus.h>
#include <systemd/sd-event.h>

#include <memory>

namespace cgm::bus {

struct BusCloser {
    void operator()(sd_bus* b) const { sd_bus_close_unref(b); }  // close, never a blocking flush
};
struct MessageUnref {
    void operator()(sd_bus_message* m) const { sd_bus_message_unref(m); }
};
struct EventUnref {
    void operator()(sd_event* e) const { sd_event_unref(e); }
};
struct SourceUnref {
    void operator()(sd_event_source* s) const { sd_event_source_disable_unref(s); }
};
struct SlotUnref {
    void operator()(sd_bus_slot* s) const { sd_bus_slot_unref(s); }
};

using BusPtr = std::unique_ptr<sd_bus, BusCloser>;
using MessagePtr = std::unique_ptr<sd_bus_message, MessageUnref>;
using EventPtr = std::unique_ptr<sd_event, EventUnref>;
using SourcePtr = std::unique_ptr<sd_event_source, SourceUnref>;
using SlotPtr = std::unique_ptr<sd_bus_slot, SlotUnref>;

}  // namespace cgm::bus
