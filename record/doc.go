// Package record is the edge record: what the agent stores in its WAL for
// every accepted MQTT publish, what the sync protocol carries, and what the
// hub turns into a Kafka record. Agent, hub, sync and the wal tools share it;
// it imports nothing of theirs.
//
// Encoding: a CBOR array (struct "toarray") whose first element is the
// format version. Version 1 is
//
//	[1, time_ms, client_id, topic, qos, retain, content_type, user_props, payload, packet_id]
//
// where time_ms is the agent's receive time in Unix milliseconds, user_props
// is an array of [key, value] pairs (MQTT 5 user properties, in order) and
// payload is a byte string, byte for byte as published, and packet_id is the
// MQTT packet identifier (0 for QoS 0).
//
// Contract:
//   - Decode accepts only versions it knows (ErrVersion otherwise) and never
//     allocates beyond the bounds in Limits: every length is checked before
//     the bytes it names are read. Encode refuses what Decode would refuse.
//   - A newer binary must decode every older version; a format change adds a
//     version and keeps the old decoder (testdata holds one record per
//     version).
package record
