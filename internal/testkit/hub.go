package testkit

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// HubRecord is one record as a Kafka consumer sees it.
type HubRecord struct {
	Key       string
	Value     []byte
	Partition int32
	Offset    int64
	Timestamp time.Time
	Headers   map[string]string
}

// ReadTopic consumes topic from the beginning through the hub's Kafka
// listener until done reports true for everything read so far, or timeout
// passes; it returns what it read either way, with an error on timeout.
func ReadTopic(ctx context.Context, kafkaAddr, topic string, timeout time.Duration, done func([]HubRecord) bool) ([]HubRecord, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(500*time.Millisecond))
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var out []HubRecord
	for !done(out) {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return out, fmt.Errorf("read %s: %d records after %v, condition not met", topic, len(out), timeout)
		}
		fs.EachError(func(t string, p int32, e error) {
			err = fmt.Errorf("fetch %s/%d: %w", t, p, e)
		})
		fs.EachRecord(func(r *kgo.Record) {
			h := make(map[string]string, len(r.Headers))
			for _, kv := range r.Headers {
				h[kv.Key] = string(kv.Value)
			}
			out = append(out, HubRecord{Key: string(r.Key), Value: r.Value, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp, Headers: h})
		})
	}
	return out, nil
}

// Delivery is the comparison of what devices had acknowledged with what a
// consumer read at the hub.
type Delivery struct {
	Acked      int // acknowledged publishes
	Read       int // records read at the hub
	Missing    []string
	Duplicated []string
	OutOfOrder []string
	SplitKeys  []string // devices whose records are in more than one partition
}

// OK reports the promise kept: nothing acknowledged missing, nothing
// duplicated, per-device order held in one partition.
func (d Delivery) OK() bool {
	return len(d.Missing)+len(d.Duplicated)+len(d.OutOfOrder)+len(d.SplitKeys) == 0
}

func (d Delivery) String() string {
	lim := func(s []string) string {
		if len(s) > 10 {
			return strings.Join(s[:10], ", ") + fmt.Sprintf(" … (%d in all)", len(s))
		}
		return strings.Join(s, ", ")
	}
	return fmt.Sprintf("acked %d, read %d; missing [%s]; duplicated [%s]; out of order [%s]; split across partitions [%s]",
		d.Acked, d.Read, lim(d.Missing), lim(d.Duplicated), lim(d.OutOfOrder), lim(d.SplitKeys))
}

// CheckDelivery compares acked (device ID → acknowledged counters) with the
// records read. Records of messages that were never acknowledged may be
// present (the agent stored them and crashed before acking) but, like all
// others, only once and in order.
func CheckDelivery(acked map[string][]int, got []HubRecord) Delivery {
	var d Delivery
	type pos struct {
		part int32
		off  int64
		c    int
	}
	byDev := map[string][]pos{}
	for _, r := range got {
		id, c, ok := ParsePayload(r.Value)
		if !ok {
			continue
		}
		byDev[id] = append(byDev[id], pos{r.Partition, r.Offset, c})
	}
	d.Read = len(got)
	for id, ps := range byDev {
		sort.Slice(ps, func(i, j int) bool {
			return ps[i].part < ps[j].part || ps[i].part == ps[j].part && ps[i].off < ps[j].off
		})
		if ps[0].part != ps[len(ps)-1].part {
			d.SplitKeys = append(d.SplitKeys, id)
		}
		seen := map[int]bool{}
		for i, p := range ps {
			if seen[p.c] {
				d.Duplicated = append(d.Duplicated, fmt.Sprintf("%s#%d", id, p.c))
			}
			seen[p.c] = true
			if i > 0 && p.c < ps[i-1].c {
				d.OutOfOrder = append(d.OutOfOrder, fmt.Sprintf("%s#%d after #%d", id, p.c, ps[i-1].c))
			}
		}
	}
	for id, cs := range acked {
		d.Acked += len(cs)
		have := map[int]bool{}
		for _, p := range byDev[id] {
			have[p.c] = true
		}
		for _, c := range cs {
			if !have[c] {
				d.Missing = append(d.Missing, fmt.Sprintf("%s#%d", id, c))
			}
		}
	}
	sort.Strings(d.Missing)
	return d
}

// AllAckedPresent is a ReadTopic condition: every acknowledged counter has
// been read.
func AllAckedPresent(acked map[string][]int) func([]HubRecord) bool {
	return func(got []HubRecord) bool {
		return len(CheckDelivery(acked, got).Missing) == 0
	}
}

// CheckAgentSeqs checks what sync promises on the hub side, whatever the
// payloads: every (agent.id, agent.epoch, agent.seq) is stored at most
// once, and the records of one device (key) keep their agent's sequence
// order within one partition. It returns one line per violation.
func CheckAgentSeqs(got []HubRecord) []string {
	var bad []string
	type ident struct {
		agent, epoch string
		seq          uint64
	}
	seen := map[ident]bool{}
	type last struct {
		part int32
		off  int64
		seq  uint64
	}
	byKey := map[string]last{}
	sorted := append([]HubRecord(nil), got...)
	sort.SliceStable(sorted, func(i, j int) bool {
		return sorted[i].Partition < sorted[j].Partition || sorted[i].Partition == sorted[j].Partition && sorted[i].Offset < sorted[j].Offset
	})
	for _, r := range sorted {
		seq, err := strconv.ParseUint(r.Headers["agent.seq"], 10, 64)
		if err != nil {
			bad = append(bad, fmt.Sprintf("%d/%d: agent.seq %q", r.Partition, r.Offset, r.Headers["agent.seq"]))
			continue
		}
		id := ident{r.Headers["agent.id"], r.Headers["agent.epoch"], seq}
		if seen[id] {
			bad = append(bad, fmt.Sprintf("agent %s seq %d stored twice (again at %d/%d)", id.agent, seq, r.Partition, r.Offset))
		}
		seen[id] = true
		k := id.agent + "/" + id.epoch + "/" + r.Key
		if l, ok := byKey[k]; ok {
			if l.part != r.Partition {
				bad = append(bad, fmt.Sprintf("device %s of agent %s in partitions %d and %d", r.Key, id.agent, l.part, r.Partition))
			} else if seq < l.seq {
				bad = append(bad, fmt.Sprintf("device %s: agent seq %d at offset %d after seq %d", r.Key, seq, r.Offset, l.seq))
			}
		}
		byKey[k] = last{r.Partition, r.Offset, seq}
	}
	return bad
}

// ReadAll consumes every record of topic up to the partitions' end offsets
// as listed when it starts (an unknown topic reads as empty).
func ReadAll(ctx context.Context, kafkaAddr, topic string, timeout time.Duration) ([]HubRecord, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	admin, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddr))
	if err != nil {
		return nil, err
	}
	ends, err := kadm.NewClient(admin).ListEndOffsets(ctx, topic)
	admin.Close()
	if err != nil {
		return nil, fmt.Errorf("list end offsets of %s: %w", topic, err)
	}
	want := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > 0 {
			want[o.Partition] = o.Offset
		}
	})
	if len(want) == 0 {
		return nil, nil
	}
	return ReadTopic(ctx, kafkaAddr, topic, timeout, func(got []HubRecord) bool {
		next := map[int32]int64{}
		for _, r := range got {
			next[r.Partition] = max(next[r.Partition], r.Offset+1)
		}
		for p, end := range want {
			if next[p] < end {
				return false
			}
		}
		return true
	})
}
