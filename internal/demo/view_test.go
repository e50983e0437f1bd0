package demo

import (
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func bigFrame() Frame {
	f := Frame{
		Elapsed: 3*time.Hour + 7*time.Minute, Rate: 12.5, Devices: 10000, Connected: 9999, Queued: 123456,
		InPerSec: 125000, Acked: 1234567890, WALBytes: 5 << 30, WALRecords: 98765432, Fsync: "always",
		UplinkCut: true, CutLeft: 9 * time.Second, LagRecords: 1234567, LagAge: 99 * time.Second,
		Ledger: Counts{Acked: 1234567890, AtHub: 1234560000, Missing: 7890, Duplicates: 0, Foreign: 12},
		MQTT:   "127.0.0.1:11883", Kafka: "127.0.0.1:19092", DataDir: "/tmp/edgelog-demo-1234567890/a/rather/long/path/to/make/it/wrap",
		HubRecords:  1234567,
		Interactive: true,
	}
	for i := range 200 {
		f.LagHistory = append(f.LagHistory, uint64(i*i))
	}
	for _, name := range []string{"telemetry", "logs", "a-very-long-topic-name", "four"} {
		t := Topic{Name: name, Records: 987654321}
		for p := range 16 {
			t.Ends = append(t.Ends, int64(p)*12345678)
		}
		f.Topics = append(f.Topics, t)
	}
	for i := range 10 {
		f.Events = append(f.Events, "event "+string(rune('0'+i)))
	}
	return f
}

// TestScreenFits80x24: whatever the numbers, the live view fits an 80×24
// terminal, and shows what the demo is about.
func TestScreenFits80x24(t *testing.T) {
	for _, f := range []Frame{{}, bigFrame()} {
		lines := Screen(f)
		if len(lines) > ScreenLines {
			t.Errorf("%d lines, want at most %d", len(lines), ScreenLines)
		}
		for _, l := range lines {
			if n := utf8.RuneCountInString(l); n > ScreenWidth-1 {
				t.Errorf("line of %d columns: %q", n, l)
			}
		}
	}
	screen := strings.Join(Screen(bigFrame()), "\n")
	for _, want := range []string{"9999/10000 connected", "WAL 5.0 GiB", "CUT", "lag 1,234,567 records", "telemetry", "end offsets by partition",
		"duplicates 0", "kcat -b 127.0.0.1:19092 -C -t telemetry -o beginning",
		"edgelog consume --kafka 127.0.0.1:19092 --topic telemetry --from-beginning", "event 9", "[u]"} {
		if !strings.Contains(screen, want) {
			t.Errorf("screen lacks %q:\n%s", want, screen)
		}
	}
	if strings.Contains(screen, "event 5") {
		t.Errorf("screen shows more than the last 4 events:\n%s", screen)
	}
}

func TestLineAndHelpers(t *testing.T) {
	f := Frame{Elapsed: 75 * time.Second, Devices: 20, Connected: 20, InPerSec: 200, Acked: 1500, WALBytes: 2048,
		WALRecords: 1500, SyncConnected: true, LagRecords: 3, HubRecords: 1497,
		Topics: []Topic{{Name: "telemetry", Records: 1000}, {Name: "logs", Records: 497}}, Ledger: Counts{Acked: 1500, AtHub: 1497, Missing: 3}}
	want := "1:15 devices 20/20 · in 200/s · acked 1500 · WAL 2.0 KiB 1500 rec · uplink up · lag 3 rec 0.0s · hub 1497 (telemetry 1000, logs 497) · at hub 1497 of 1500 acked · dup 0"
	if got := Line(f); got != want {
		t.Errorf("Line:\n got %q\nwant %q", got, want)
	}
	for in, want := range map[uint64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567"} {
		if got := Count(in); got != want {
			t.Errorf("Count(%d) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[int64]string{0: "0", 99999: "99999", 123456: "123k", 12345678: "12.3M", 1234567890: "1234M"} {
		if got := short(in); got != want {
			t.Errorf("short(%d) = %q, want %q", in, got, want)
		}
	}
	if got := spark([]uint64{0, 1, 50, 100, 200}, 3); got != "▄▅█" {
		t.Errorf("spark = %q", got)
	}
	if got := Clock(3725 * time.Second); got != "1:02:05" {
		t.Errorf("Clock = %q", got)
	}
}
