package hub

import (
	"strconv"
	"strings"

	"github.com/edgelog/edgelog/hub/store"
	"github.com/edgelog/edgelog/record"
)

// Producer IDs: the hub issues Kafka producer IDs from 1 up (InitProducerID)
// and reserves everything from reservedProducerIDs up. Batches merged from
// agents carry IngestProducerID, which tells recovery to read their agent
// headers; Produce refuses reserved IDs, so a Kafka client cannot forge
// agent marks.
const (
	reservedProducerIDs = int64(1) << 62
	// IngestProducerID is the producer ID of batches merged from agents.
	IngestProducerID = reservedProducerIDs
)

// Record headers of merged agent records (INTERFACE.md), plus agent.epoch
// (the WAL epoch, so consumers can tell sequences of a reinstalled agent
// apart) and, when present, the MQTT 5 extras.
const (
	HeaderMQTTTopic   = "mqtt.topic"
	HeaderMQTTQoS     = "mqtt.qos"
	HeaderAgentID     = "agent.id"
	HeaderAgentSeq    = "agent.seq"
	HeaderAgentEpoch  = "agent.epoch"
	HeaderRetain      = "mqtt.retain"
	HeaderContentType = "mqtt.content_type"
	// HeaderUserPropPrefix prefixes MQTT 5 user property names.
	HeaderUserPropPrefix = "mqtt.user."
)

// agentProducer is the producer key of an agent's WAL epoch in partition
// marks. Epochs never contain '/', so the key is unambiguous.
func agentProducer(agentID, epoch string) string { return "a/" + epoch + "/" + agentID }

// kafkaProducer is the producer key of an idempotent Kafka producer.
func kafkaProducer(pid int64) string { return "p/" + strconv.FormatInt(pid, 10) }

// producerMark packs an idempotent producer's epoch and last sequence so
// that marks compare in (epoch, sequence) order.
func producerMark(epoch int16, seq int32) int64 { return int64(epoch)<<32 | int64(uint32(seq)) }

func splitMark(m int64) (epoch int16, seq int32) { return int16(m >> 32), int32(uint32(m)) }

// markBatch is the store.MarkFunc of every hub partition: it rebuilds agent
// marks from merged batches and idempotent producer marks from batch
// headers.
func markBatch(b []byte, info store.BatchInfo, mark func(string, int64)) {
	switch {
	case info.ProducerID == IngestProducerID:
		store.DecodeRecords(b, info, func(r store.Record) error {
			var id, epoch, seq string
			for _, h := range r.Headers {
				switch h.Key {
				case HeaderAgentID:
					id = string(h.Value)
				case HeaderAgentEpoch:
					epoch = string(h.Value)
				case HeaderAgentSeq:
					seq = string(h.Value)
				}
			}
			if n, err := strconv.ParseInt(seq, 10, 64); err == nil && id != "" && epoch != "" && n >= 0 {
				mark(agentProducer(id, epoch), n)
			}
			return nil
		})
	case info.ProducerID >= 0 && info.ProducerID < reservedProducerIDs && info.BaseSequence >= 0:
		mark(kafkaProducer(info.ProducerID), producerMark(info.ProducerEpoch, lastSequence(info)))
	}
}

// agentRecord is the Kafka form of one agent record.
func agentRecord(agentID, epoch string, seq uint64, r *record.Record) store.Record {
	h := make([]store.Header, 0, 5+len(r.UserProps))
	h = append(h,
		store.Header{Key: HeaderMQTTTopic, Value: []byte(r.Topic)},
		store.Header{Key: HeaderMQTTQoS, Value: []byte{'0' + r.QoS}},
		store.Header{Key: HeaderAgentID, Value: []byte(agentID)},
		store.Header{Key: HeaderAgentSeq, Value: strconv.AppendUint(nil, seq, 10)},
		store.Header{Key: HeaderAgentEpoch, Value: []byte(epoch)},
	)
	if r.Retain {
		h = append(h, store.Header{Key: HeaderRetain, Value: []byte("1")})
	}
	if r.ContentType != "" {
		h = append(h, store.Header{Key: HeaderContentType, Value: []byte(r.ContentType)})
	}
	for _, p := range r.UserProps {
		h = append(h, store.Header{Key: HeaderUserPropPrefix + p.Key, Value: []byte(p.Value)})
	}
	key := []byte(r.ClientID)
	payload := r.Payload
	if payload == nil {
		payload = []byte{}
	}
	return store.Record{Timestamp: r.TimeMs, Key: key, Value: payload, Headers: h}
}

// validEpoch: a WAL epoch is a short token without '/'.
func validEpoch(e string) bool { return e != "" && len(e) <= 64 && !strings.ContainsAny(e, "/\x00") }
