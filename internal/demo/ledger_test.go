package demo

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
)

// TestLedgerMatchesAReferenceModel drives a ledger and a plain map model
// with acknowledgements and hub records in random orders (in order, with
// gaps, repeats and reordering, as a fleet behind a flaky link produces
// them) and checks every count and mark against the model.
func TestLedgerMatchesAReferenceModel(t *testing.T) {
	for seed := range uint64(20) {
		rng := rand.New(rand.NewPCG(seed, 1))
		l := NewLedger()
		acked, hub := map[string]bool{}, map[string]bool{}
		var dups uint64
		key := func(dev int, seq uint64) string { return fmt.Sprintf("d%d/%d", dev, seq) }
		var marks []Mark
		var markWant []map[string]bool
		for range 5000 {
			dev := rng.IntN(5)
			seq := uint64(1 + rng.IntN(300))
			id := fmt.Sprintf("d%d", dev)
			switch rng.IntN(3) {
			case 0:
				l.Ack(id, seq)
				acked[key(dev, seq)] = true
			default:
				if !l.AtHub(id, seq) != hub[key(dev, seq)] {
					t.Fatalf("seed %d: AtHub(%s, %d) disagrees on a repeat", seed, id, seq)
				}
				if hub[key(dev, seq)] {
					dups++
				}
				hub[key(dev, seq)] = true
			}
			if rng.IntN(500) == 0 {
				marks = append(marks, l.Mark())
				snap := map[string]bool{}
				for k := range acked {
					snap[k] = true
				}
				markWant = append(markWant, snap)
			}
		}
		var missing, unacked uint64
		for k := range acked {
			if !hub[k] {
				missing++
			}
		}
		for k := range hub {
			if !acked[k] {
				unacked++
			}
		}
		want := Counts{Acked: uint64(len(acked)), AtHub: uint64(len(hub)), Duplicates: dups, Missing: missing, Unacked: unacked}
		if got := l.Counts(); got != want {
			t.Fatalf("seed %d: counts %+v, want %+v", seed, got, want)
		}
		for i, m := range marks {
			var miss uint64
			for k := range markWant[i] {
				if !hub[k] {
					miss++
				}
			}
			if m.Total() != uint64(len(markWant[i])) || l.Missing(m) != miss {
				t.Fatalf("seed %d mark %d: total %d missing %d, want %d and %d", seed, i, m.Total(), l.Missing(m), len(markWant[i]), miss)
			}
		}
	}
}

// TestLedgerInOrderStaysSmall: devices that publish in order keep no
// per-message state, however many messages they send.
func TestLedgerInOrderStaysSmall(t *testing.T) {
	l := NewLedger()
	for seq := uint64(1); seq <= 100000; seq++ {
		l.Ack("a", seq)
		if seq > 50 {
			l.AtHub("a", seq-50) // the hub trails by 50
		}
	}
	d := l.devs["a"]
	if len(d.acked.above) != 0 || len(d.hub.above) != 0 {
		t.Fatalf("in-order sequences kept %d and %d sparse entries", len(d.acked.above), len(d.hub.above))
	}
	if c := l.Counts(); c.Missing != 50 || c.Acked != 100000 || c.AtHub != 99950 {
		t.Fatalf("counts %+v", c)
	}
}

func TestLedgerForeignAndConcurrent(t *testing.T) {
	l := NewLedger()
	var wg sync.WaitGroup
	for d := range 8 {
		wg.Go(func() {
			id := fmt.Sprintf("d%d", d)
			for seq := uint64(1); seq <= 1000; seq++ {
				l.Ack(id, seq)
				l.AtHub(id, seq)
			}
		})
	}
	l.Foreign()
	l.AtHub("x", 0)
	wg.Wait()
	if c := l.Counts(); c != (Counts{Acked: 8000, AtHub: 8000, Foreign: 2}) {
		t.Fatalf("counts %+v", c)
	}
}
