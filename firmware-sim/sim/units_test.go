package sim

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"golang.org/x/crypto/bcrypt"

	"github.com/edgelog/edgelog/devices"
)

func seqs(q *queue) []uint64 {
	var out []uint64
	for q.len() > 0 {
		out = append(out, q.pop().seq)
	}
	return out
}

func TestQueueDropPolicies(t *testing.T) {
	q := newQueue(3, true)
	for i := uint64(1); i <= 5; i++ {
		dropped := q.push(message{seq: i})
		if dropped != (i > 3) {
			t.Errorf("push %d: dropped = %v", i, dropped)
		}
	}
	if q.pushFront(message{seq: 1}) != true {
		t.Error("drop-oldest: a retried (oldest) message into a full queue should be the one dropped")
	}
	if got := seqs(q); len(got) != 3 || got[0] != 3 || got[2] != 5 {
		t.Errorf("drop-oldest kept %v, want [3 4 5]", got)
	}

	q = newQueue(3, false)
	for i := uint64(1); i <= 5; i++ {
		q.push(message{seq: i})
	}
	if !q.pushFront(message{seq: 0}) {
		t.Error("drop-newest: pushFront into a full queue must drop the tail")
	}
	if got := seqs(q); len(got) != 3 || got[0] != 0 || got[1] != 1 || got[2] != 2 {
		t.Errorf("drop-newest kept %v, want [0 1 2]", got)
	}

	q = newQueue(4, true)
	q.push(message{seq: 3})
	q.pushFront(message{seq: 2})
	q.pushFront(message{seq: 1})
	q.push(message{seq: 4})
	if got := seqs(q); len(got) != 4 || got[0] != 1 || got[3] != 4 {
		t.Errorf("retries first, then new: %v", got)
	}
}

func TestPayloadFormatsCarryTheHeader(t *testing.T) {
	m := newModels(rand.New(rand.NewPCG(1, 2)), 24*time.Hour)
	now := time.Now()
	readings := map[string]any{StreamEnv: m.env(now), StreamCounter: m.counter(now), StreamGPS: m.gps(now), StreamLog: m.log()}
	h := Header{ID: "dev-9", Seq: 42, TimeMs: now.UnixMilli()}
	for _, format := range []string{FormatJSON, FormatCBOR, FormatBinary} {
		for stream, r := range readings {
			p, err := encodePayload(format, h, stream, r, 10)
			if err != nil {
				t.Fatal(err)
			}
			got, err := DecodeHeader(p)
			want := h
			if format == FormatBinary {
				want.ID = "" // the binary format leaves the ID to the MQTT client ID
			}
			if err != nil || got != want {
				t.Errorf("%s/%s: DecodeHeader = %+v, %v; want %+v", format, stream, got, err, want)
			}
		}
	}
	p, _ := encodePayload(FormatJSON, h, StreamEnv, readings[StreamEnv], 0)
	var doc map[string]any
	if err := json.Unmarshal(p, &doc); err != nil || doc["data"].(map[string]any)["temp_c"] == nil {
		t.Errorf("JSON payload %s", p)
	}
	for _, bad := range [][]byte{nil, []byte("plain text"), {binMagic, 9}, []byte(`{"seq":0}`), []byte(`{"seq":"x"}`)} {
		if _, err := DecodeHeader(bad); !errors.Is(err, ErrPayload) {
			t.Errorf("DecodeHeader(%q) = %v", bad, err)
		}
	}
}

func TestModelsStayPlausible(t *testing.T) {
	m := newModels(rand.New(rand.NewPCG(3, 4)), time.Hour)
	start := time.Unix(1_760_000_000, 0)
	var lastCount uint64
	levels := map[string]int{}
	minT, maxT := 1e9, -1e9
	for i := range 3600 {
		now := start.Add(time.Duration(i) * time.Second)
		e := m.env(now)
		minT, maxT = min(minT, e.TempC), max(maxT, e.TempC)
		if e.Humidity < 5 || e.Humidity > 100 || e.PressureHPa < 950 || e.PressureHPa > 1080 {
			t.Fatalf("implausible env reading %+v", e)
		}
		c := m.counter(now)
		if c.Count < lastCount {
			t.Fatalf("counter went backwards: %d after %d", c.Count, lastCount)
		}
		lastCount = c.Count
		g := m.gps(now)
		if g.Lat < 50 || g.Lat > 55 || g.SpeedKmh < 0 || g.SpeedKmh > 130 {
			t.Fatalf("implausible position %+v", g)
		}
		levels[m.log().Level]++
	}
	if maxT-minT < 4 {
		t.Errorf("no daily cycle visible: temperature range %.1f..%.1f over one (1h) day", minT, maxT)
	}
	if levels[levelError] == 0 || levels[levelDebug] < levels[levelError] {
		t.Errorf("log level mix %v", levels)
	}
}

func TestDeviceClockDrifts(t *testing.T) {
	c := deviceClock{start: time.Now().Add(-100 * time.Second), offset: 3 * time.Second, drift: 1e-3}
	skew := time.Until(c.now())
	if skew < 3*time.Second || skew > 3200*time.Millisecond {
		t.Errorf("skew %v, want about 3.1s (3s offset + 1000ppm of 100s)", skew)
	}
}

func TestBackoffIsJitteredAndCapped(t *testing.T) {
	b := backoff{min: 100 * time.Millisecond, max: time.Second, rng: rand.New(rand.NewPCG(1, 1))}
	for i := range 10 {
		d := b.next()
		ceil := min(100*time.Millisecond<<i, time.Second)
		if d < ceil/2 || d > ceil {
			t.Errorf("attempt %d: %v outside [%v, %v]", i, d, ceil/2, ceil)
		}
	}
	b.reset()
	if d := b.next(); d > 100*time.Millisecond {
		t.Errorf("after reset: %v", d)
	}
}

func TestCredentialsRoundTrip(t *testing.T) {
	dir := t.TempDir()
	reg, credsPath := filepath.Join(dir, "devices.yaml"), filepath.Join(dir, "creds.yaml")
	if err := ProvisionFiles(reg, credsPath, ProvisionOptions{Devices: 3, BadActors: 1, Cost: bcrypt.MinCost}); err != nil {
		t.Fatal(err)
	}
	creds, err := LoadCredentials(credsPath)
	if err != nil {
		t.Fatal(err)
	}
	r, err := devices.Load(reg)
	if err != nil {
		t.Fatal(err)
	}
	if len(creds) != 4 || r.Len() != 4 || creds[3].ID != "sim-bad-001" {
		t.Fatalf("creds %v, registry %d devices", creds, r.Len())
	}
	for _, c := range creds {
		if _, err := r.Authenticate(c.ID, c.Password); err != nil {
			t.Errorf("%s: %v", c.ID, err)
		}
		if !r.CanPublish(c.ID, topicOf(StreamGPS, c.ID)) || !r.CanPublish(c.ID, topicOf(StreamLog, c.ID)) {
			t.Errorf("%s may not publish its own streams", c.ID)
		}
	}
	if fi, _ := os.Stat(credsPath); fi.Mode().Perm() != 0o600 {
		t.Errorf("credentials file mode %v", fi.Mode().Perm())
	}
	if err := ProvisionFiles(reg, credsPath, ProvisionOptions{Devices: 1, Cost: bcrypt.MinCost}); !errors.Is(err, devices.ErrExists) {
		t.Errorf("provisioning the same IDs twice: %v", err)
	}
	for body, want := range map[string]string{
		"devices:\n  - id: a\n    pasword: x\n":                          "pasword",
		"devices:\n  - id: a/b\n    password: x\n":                       "'/'",
		"devices:\n  - {id: a, password: x}\n  - {id: a, password: y}\n": "twice",
		strings.Repeat("#", maxCredentialsBytes+1):                       "larger",
		"devices:\n  - id: \"\"\n    password: x\n":                      "empty",
	} {
		p := filepath.Join(dir, "bad.yaml")
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := LoadCredentials(p); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%.40q: %v, want an error mentioning %q", body, err, want)
		}
	}
}

func FuzzDecodeHeader(f *testing.F) {
	h := Header{ID: "d", Seq: 7, TimeMs: 1}
	for _, format := range []string{FormatJSON, FormatCBOR, FormatBinary} {
		p, _ := encodePayload(format, h, StreamEnv, envReading{TempC: 1}, 3)
		f.Add(p)
	}
	deep, _ := cbor.Marshal(map[string]any{"seq": 1, "x": []any{[]any{[]any{[]any{[]any{[]any{[]any{[]any{[]any{1}}}}}}}}}})
	f.Add(deep)
	f.Add([]byte{0xbf, 0xff})
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeHeader(data)
		if err != nil {
			if !errors.Is(err, ErrPayload) {
				t.Fatalf("unclassified error %v", err)
			}
			return
		}
		if got.Seq == 0 {
			t.Fatal("accepted a header without a sequence number")
		}
	})
}
