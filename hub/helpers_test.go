package hub

import (
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"testing"

	"github.com/edgelog/edgelog/hub/store"
	"github.com/edgelog/edgelog/record"
)

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func openTestBroker(t testing.TB, cfg Config) *Broker {
	t.Helper()
	if cfg.Dir == "" {
		cfg.Dir = t.TempDir()
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger()
	}
	b, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// storedRecord is a record read back from a partition.
type storedRecord struct {
	partition int32
	offset    int64
	key       string
	value     string
	headers   map[string]string
}

// readTopic returns every readable record of a topic, partition by
// partition, in offset order.
func readTopic(t testing.TB, b *Broker, topic string) []storedRecord {
	t.Helper()
	tp, err := b.Topic(topic)
	if err != nil {
		t.Fatal(err)
	}
	var out []storedRecord
	for i := 0; i < tp.Partitions(); i++ {
		p := tp.Partition(int32(i))
		start, hw, _ := p.Offsets()
		for off := start; off < hw; {
			data, _, err := p.Read(off, 1<<20, true)
			if err != nil {
				t.Fatalf("read %s/%d at %d: %v", topic, i, off, err)
			}
			for len(data) > 0 {
				info, err := store.ParseBatchHeader(data, len(data))
				if err != nil {
					t.Fatal(err)
				}
				err = store.DecodeRecords(data, info, func(r store.Record) error {
					if r.Offset < off {
						return nil
					}
					if r.Offset != off {
						return fmt.Errorf("offset %d, want dense %d", r.Offset, off)
					}
					h := map[string]string{}
					for _, x := range r.Headers {
						h[x.Key] = string(x.Value)
					}
					out = append(out, storedRecord{int32(i), r.Offset, string(r.Key), string(r.Value), h})
					off++
					return nil
				})
				if err != nil {
					t.Fatal(err)
				}
				data = data[info.Size:]
			}
		}
	}
	return out
}

// deviceRecord is the deterministic record an agent test sends for seq.
func deviceRecord(seq uint64, devices int) AgentRecord {
	dev := fmt.Sprintf("dev-%d", seq%uint64(devices))
	return AgentRecord{Seq: seq, Rec: record.Record{
		TimeMs: 1700000000000 + int64(seq), ClientID: dev, Topic: "telemetry/" + dev + "/temp", QoS: 1,
		Payload: []byte("p-" + strconv.FormatUint(seq, 10)),
	}}
}

func deviceRecords(from, to uint64, devices int) []AgentRecord {
	var out []AgentRecord
	for s := from; s <= to; s++ {
		out = append(out, deviceRecord(s, devices))
	}
	return out
}

// checkExactlyOnce verifies that the agent's records 1..n, and no others,
// are each stored exactly once (see checkStored).
func checkExactlyOnce(t testing.TB, recs []storedRecord, agent string, n uint64, devices int) {
	t.Helper()
	seen := checkStored(t, recs, agent, devices)
	for s := uint64(1); s <= n; s++ {
		if seen[s] != 1 {
			t.Fatalf("seq %d stored %d times, want exactly once", s, seen[s])
		}
	}
	if uint64(len(seen)) != n {
		t.Fatalf("%d distinct seqs stored, want %d", len(seen), n)
	}
}

// checkStored verifies that every stored record of the agent has the right
// key, value and headers, sits in the partition of its key, follows the
// previous record of its device in seq order, and is stored at most once.
// It returns the seqs found.
func checkStored(t testing.TB, recs []storedRecord, agent string, devices int) map[uint64]int {
	t.Helper()
	seen := map[uint64]int{}
	lastByDevice := map[string]uint64{}
	for _, r := range recs {
		if r.headers[HeaderAgentID] != agent {
			continue
		}
		seq, err := strconv.ParseUint(r.headers[HeaderAgentSeq], 10, 64)
		if err != nil {
			t.Fatalf("bad agent.seq header %q", r.headers[HeaderAgentSeq])
		}
		want := deviceRecord(seq, devices)
		if r.key != want.Rec.ClientID || r.value != string(want.Rec.Payload) || r.headers[HeaderMQTTTopic] != want.Rec.Topic || r.headers[HeaderMQTTQoS] != "1" {
			t.Fatalf("seq %d stored as key %q value %q headers %v", seq, r.key, r.value, r.headers)
		}
		if p := PartitionForKey([]byte(r.key), 8); p != r.partition {
			t.Fatalf("seq %d of %s in partition %d, want %d", seq, r.key, r.partition, p)
		}
		if last := lastByDevice[r.key]; seq <= last {
			t.Fatalf("device %s: seq %d after %d: order broken", r.key, seq, last)
		}
		lastByDevice[r.key] = seq
		seen[seq]++
	}
	return seen
}
