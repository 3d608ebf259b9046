/*
 * snap_ref: reference code the snapshot tests (and fuzz_snap) check the
 * bridge's state against; test support, not linked into the bridge.
 *
 * DESIGN.  The bridge writes each entity's state as JSON text straight from
 * protobuf (bridge/state/snap_text.c) and keeps store records as one line of
 * text (snap_record_write).  The tests need an independent answer to compare
 * with: snap_ref_pb_to_json builds the normalized state as a jansson tree by
 * its own walk over the descriptors (every field with its value or default,
 * enums by name, a 16-byte `guid` as a UUID, other bytes as hex,
 * featuresavailable followed by featuresavailable_names), so that
 * json_dumps(JSON_COMPACT | JSON_ENSURE_ASCII) of it must equal the bridge's
 * text byte for byte.  snap_ref_record builds the record a store would keep
 * of an entity after a change (snap_record_write's line with the state in
 * it), the input snap_restore takes.
 */
#ifndef SNAP_REF_H
#define SNAP_REF_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

#include "snap.h"

/* The normalized state of any MTCTI3 message as a tree; a new reference. */
json_t *snap_ref_pb_to_json(const ProtobufCMessage *msg);

/*
 * The record of `change`'s entity with its state ({"kind", "key", "seq",
 * "line", "callid", "gcid", "state"}); a new reference, or NULL when the
 * entity is gone for good (a deleted call).  Call it from the change
 * callback.
 */
json_t *snap_ref_record(const snap_t *snap, const snap_change_t *change);

#endif
