package hub

import (
	"context"
	"encoding/binary"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/edgelog/edgelog/hub/store"
)

// Limits on what a consumer group may store.
const (
	maxGroupID        = 1024
	MaxOffsetMetadata = 4096
)

// TopicPartition names one partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// CommittedOffset is a consumer group's committed position in a partition.
type CommittedOffset struct {
	Offset      int64
	LeaderEpoch int32
	Metadata    string
	CommitTime  time.Time
}

const kvOffsetPrefix = "offset/"

func offsetKey(group, topic string, partition int32) string {
	return kvOffsetPrefix + group + "\x00" + topic + "\x00" + strconv.Itoa(int(partition))
}

func parseOffsetKey(key string) (group, topic string, partition int32, ok bool) {
	parts := strings.Split(strings.TrimPrefix(key, kvOffsetPrefix), "\x00")
	if len(parts) != 3 {
		return "", "", 0, false
	}
	p, err := strconv.ParseInt(parts[2], 10, 32)
	if err != nil {
		return "", "", 0, false
	}
	return parts[0], parts[1], int32(p), true
}

// ValidGroupID checks a consumer group ID.
func ValidGroupID(group string) error {
	if group == "" || len(group) > maxGroupID || strings.IndexByte(group, 0) >= 0 {
		return fmt.Errorf("%w: %q", ErrInvalidGroup, group)
	}
	return nil
}

func encodeOffset(c CommittedOffset) []byte {
	v := make([]byte, 0, 20+len(c.Metadata))
	v = binary.BigEndian.AppendUint64(v, uint64(c.Offset))
	v = binary.BigEndian.AppendUint32(v, uint32(c.LeaderEpoch))
	v = binary.BigEndian.AppendUint64(v, uint64(c.CommitTime.UnixMilli()))
	return append(v, c.Metadata...)
}

func decodeOffset(v []byte) (CommittedOffset, bool) {
	if len(v) < 20 {
		return CommittedOffset{}, false
	}
	return CommittedOffset{
		Offset:      int64(binary.BigEndian.Uint64(v)),
		LeaderEpoch: int32(binary.BigEndian.Uint32(v[8:])),
		CommitTime:  time.UnixMilli(int64(binary.BigEndian.Uint64(v[12:]))),
		Metadata:    string(v[20:]),
	}, true
}

// CommitOffsets durably stores a group's offsets, all or none. Offsets of
// partitions that do not exist are refused with ErrUnknownTopic or
// ErrUnknownPartition.
func (b *Broker) CommitOffsets(ctx context.Context, group string, offs map[TopicPartition]CommittedOffset) error {
	if err := ValidGroupID(group); err != nil {
		return err
	}
	ents := make([]store.KVEntry, 0, len(offs))
	now := time.Now()
	for tp, c := range offs {
		if _, err := b.Partition(tp.Topic, tp.Partition); err != nil {
			return err
		}
		if len(c.Metadata) > MaxOffsetMetadata {
			return fmt.Errorf("%w: offset metadata of %d bytes", ErrInvalidConfig, len(c.Metadata))
		}
		if c.CommitTime.IsZero() {
			c.CommitTime = now
		}
		ents = append(ents, store.KVEntry{Key: offsetKey(group, tp.Topic, tp.Partition), Value: encodeOffset(c)})
	}
	if err := b.kv.Put(ctx, ents...); err != nil {
		return fmt.Errorf("hub: commit offsets of %s: %w", group, err)
	}
	return nil
}

// CommittedOffset returns a group's committed offset for one partition.
func (b *Broker) CommittedOffset(group, topic string, partition int32) (CommittedOffset, bool) {
	v, ok := b.kv.Get(offsetKey(group, topic, partition))
	if !ok {
		return CommittedOffset{}, false
	}
	return decodeOffset(v)
}

// GroupOffsets returns every offset a group has committed.
func (b *Broker) GroupOffsets(group string) map[TopicPartition]CommittedOffset {
	out := map[TopicPartition]CommittedOffset{}
	b.kv.Range(kvOffsetPrefix+group+"\x00", func(key string, val []byte) bool {
		if g, t, p, ok := parseOffsetKey(key); ok && g == group {
			if c, ok := decodeOffset(val); ok {
				out[TopicPartition{t, p}] = c
			}
		}
		return true
	})
	return out
}

// OffsetGroups lists the groups that have committed offsets, sorted.
func (b *Broker) OffsetGroups() []string {
	var out []string
	b.kv.Range(kvOffsetPrefix, func(key string, _ []byte) bool {
		if g, _, _, ok := parseOffsetKey(key); ok && (len(out) == 0 || out[len(out)-1] != g) {
			out = append(out, g)
		}
		return true
	})
	return out
}

// DeleteGroupOffsets removes every offset of a group.
func (b *Broker) DeleteGroupOffsets(ctx context.Context, group string) error {
	var ents []store.KVEntry
	b.kv.Range(kvOffsetPrefix+group+"\x00", func(key string, _ []byte) bool {
		ents = append(ents, store.KVEntry{Key: key})
		return true
	})
	return b.kv.Put(ctx, ents...)
}
