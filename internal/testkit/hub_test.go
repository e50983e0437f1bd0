package testkit

import (
	"strings"
	"testing"
)

func rec(id string, c int, part int32, off int64) HubRecord {
	return HubRecord{Key: id, Value: Payload(id, c, 32), Partition: part, Offset: off}
}

func TestCheckDelivery(t *testing.T) {
	acked := map[string][]int{"a": {1, 2, 3}, "b": {1}}
	cases := []struct {
		name string
		got  []HubRecord
		want string // substring of the report; "" means OK
	}{
		{"all once in order, plus an unacked extra", []HubRecord{rec("a", 1, 0, 0), rec("a", 2, 0, 1), rec("b", 1, 1, 0), rec("a", 3, 0, 2), rec("a", 4, 0, 3)}, ""},
		{"missing", []HubRecord{rec("a", 1, 0, 0), rec("a", 3, 0, 1), rec("b", 1, 1, 0)}, "missing [a#2]"},
		{"duplicated", []HubRecord{rec("a", 1, 0, 0), rec("a", 2, 0, 1), rec("a", 2, 0, 2), rec("a", 3, 0, 3), rec("b", 1, 1, 0)}, "duplicated [a#2]"},
		{"out of order", []HubRecord{rec("a", 2, 0, 0), rec("a", 1, 0, 1), rec("a", 3, 0, 2), rec("b", 1, 1, 0)}, "out of order [a#1 after #2]"},
		{"split", []HubRecord{rec("a", 1, 0, 0), rec("a", 2, 1, 0), rec("a", 3, 0, 1), rec("b", 1, 1, 1)}, "split across partitions [a]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := CheckDelivery(acked, c.got)
			if c.want == "" && !d.OK() {
				t.Fatalf("want OK, got %s", d)
			}
			if c.want != "" && (d.OK() || !strings.Contains(d.String(), c.want)) {
				t.Fatalf("want %q in %s", c.want, d)
			}
		})
	}
}

func TestPayloadRoundTrip(t *testing.T) {
	id, c, ok := ParsePayload(Payload("dev#7", 42, 200))
	if !ok || id != "dev#7" || c != 42 || len(Payload("x", 1, 200)) != 200 {
		t.Fatalf("ParsePayload = %q %d %v", id, c, ok)
	}
}

func TestCheckAgentSeqs(t *testing.T) {
	r := func(key string, seq string, part int32, off int64) HubRecord {
		return HubRecord{Key: key, Partition: part, Offset: off, Headers: map[string]string{"agent.id": "gw", "agent.epoch": "e1", "agent.seq": seq}}
	}
	if bad := CheckAgentSeqs([]HubRecord{r("a", "1", 0, 0), r("b", "2", 1, 0), r("a", "3", 0, 1)}); len(bad) != 0 {
		t.Fatalf("clean records reported: %v", bad)
	}
	cases := map[string][]HubRecord{
		"stored twice":  {r("a", "1", 0, 0), r("a", "1", 0, 1)},
		"partitions":    {r("a", "1", 0, 0), r("a", "2", 1, 0)},
		"after seq":     {r("a", "2", 0, 0), r("a", "1", 0, 1)},
		"agent.seq \"x": {r("a", "x", 0, 0)},
	}
	for want, recs := range cases {
		if bad := CheckAgentSeqs(recs); len(bad) != 1 || !strings.Contains(bad[0], want) {
			t.Errorf("want one report with %q, got %v", want, bad)
		}
	}
}

func TestRandomPadParses(t *testing.T) {
	p := Payload("gw-3", 17, 64)
	randomPad(p)
	if id, c, ok := ParsePayload(p); !ok || id != "gw-3" || c != 17 || len(p) != 64 || strings.Contains(string(p), "..") {
		t.Fatalf("ParsePayload(%q) = %q %d %v", p, id, c, ok)
	}
}
