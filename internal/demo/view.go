package demo

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// The live view fits an 80×24 terminal (one line is left for the cursor).
const (
	ScreenWidth = 80
	ScreenLines = 23
)

// Frame is what the view shows at one moment.
type Frame struct {
	Elapsed time.Duration
	Rate    float64 // messages per second per device, as configured

	Devices, Connected int
	Queued             int64   // readings waiting on devices
	InPerSec           float64 // publishes per second received by the agent
	Acked              uint64  // messages the fleet saw acknowledged

	WALBytes   int64
	WALRecords uint64 // records appended since the log was created
	Fsync      string

	UplinkCut     bool          // the demo has cut the link to the hub
	SyncConnected bool          // the agent's sync session is up
	CutLeft       time.Duration // while cut: until it is restored automatically (0: manual)
	NextCut       time.Duration // while up: until the next automatic cut (0: none)
	LagRecords    uint64
	LagAge        time.Duration
	LagHistory    []uint64 // oldest first
	HubAckedSeq   uint64

	HubRecords int64
	Topics     []Topic
	Ledger     Counts

	Events      []string // newest last
	Interactive bool     // keys work

	MQTT, Kafka, DataDir string
	Keep                 bool
}

// Topic is one hub topic with each partition's end offset.
type Topic struct {
	Name    string
	Records int64
	Ends    []int64 // high watermark by partition
}

// Screen renders f for a terminal: at most ScreenLines lines of at most
// ScreenWidth columns each.
func Screen(f Frame) []string {
	var out []string
	add := func(format string, args ...any) { out = append(out, clip(fmt.Sprintf(format, args...))) }
	keys := "Ctrl-C stop"
	if f.Interactive {
		keys = "[u] cut uplink · [q] stop"
	}
	title := fmt.Sprintf(" edgelog demo · %d devices × %s msg/s · %s", f.Devices, num(f.Rate), clock(f.Elapsed))
	if pad := ScreenWidth - 1 - utf8.RuneCountInString(title) - utf8.RuneCountInString(keys); pad > 0 {
		title += strings.Repeat(" ", pad) + keys
	}
	add("%s", title)
	rule := " " + strings.Repeat("─", ScreenWidth-2)
	out = append(out, rule)
	add(" devices  %d/%d connected · %s msg/s in · %s acked · %s queued on devices",
		f.Connected, f.Devices, num(f.InPerSec), count(f.Acked), count(uint64(max(f.Queued, 0))))
	add(" agent    MQTT %s · WAL %s, %s records · fsync %s", f.MQTT, bytes(f.WALBytes), count(f.WALRecords), f.Fsync)
	add(" uplink   %s", uplink(f))
	add(" sync     lag %s records · %s   %s", count(f.LagRecords), secs(f.LagAge), spark(f.LagHistory, ScreenWidth-45))
	add(" hub      Kafka %s · %s records · end offsets by partition:", f.Kafka, count(uint64(max(f.HubRecords, 0))))
	for i, t := range f.Topics {
		if i == 3 {
			add("   … %d more topics", len(f.Topics)-3)
			break
		}
		add("   %-10s %11s │%s", cut(t.Name, 10), count(uint64(max(t.Records, 0))), ends(t.Ends, ScreenWidth-30))
	}
	add(" check    %s", check(f.Ledger))
	out = append(out, rule)
	events := f.Events
	if len(events) > 4 {
		events = events[len(events)-4:]
	}
	for _, e := range events {
		add(" %s", e)
	}
	out = append(out, "")
	add(" consume the same data (from another terminal):")
	add("   kcat -b %s -C -t telemetry -o beginning", f.Kafka)
	add("   edgelog consume --kafka %s --topic telemetry --from-beginning", f.Kafka)
	keep := "removed on exit; --keep keeps it"
	if f.Keep {
		keep = "kept on exit"
	}
	add(" data %s (%s)", f.DataDir, keep)
	if len(out) > ScreenLines {
		out = out[:ScreenLines]
	}
	return out
}

// Line renders f as one plain progress line.
func Line(f Frame) string {
	link := "up"
	switch {
	case f.UplinkCut:
		link = "CUT"
	case !f.SyncConnected:
		link = "reconnecting"
	}
	var topics []string
	for _, t := range f.Topics {
		topics = append(topics, fmt.Sprintf("%s %d", t.Name, t.Records))
	}
	return fmt.Sprintf("%s devices %d/%d · in %s/s · acked %d · WAL %s %d rec · uplink %s · lag %d rec %s · hub %d (%s) · at hub %d of %d acked · dup %d",
		clock(f.Elapsed), f.Connected, f.Devices, num(f.InPerSec), f.Acked, bytes(f.WALBytes), f.WALRecords, link,
		f.LagRecords, secs(f.LagAge), f.HubRecords, strings.Join(topics, ", "), f.Ledger.AtHub-f.Ledger.Unacked, f.Ledger.Acked, f.Ledger.Duplicates)
}

func uplink(f Frame) string {
	switch {
	case f.UplinkCut && f.CutLeft > 0:
		return fmt.Sprintf("✖ CUT · back in %s · the agent keeps acking into its WAL", secs(f.CutLeft))
	case f.UplinkCut:
		return "✖ CUT ([u] restores) · the agent keeps acking into its WAL"
	}
	s := "● up · connected to the hub (QUIC)"
	if !f.SyncConnected {
		s = "◌ up · reconnecting to the hub"
	}
	if f.NextCut > 0 {
		s += fmt.Sprintf(" · next cut in %s", secs(f.NextCut))
	}
	return s
}

func check(c Counts) string {
	acked := c.AtHub - c.Unacked // acknowledged messages found at the hub
	s := fmt.Sprintf("at hub %s of %s acked · duplicates %s", count(acked), count(c.Acked), count(c.Duplicates))
	if c.Missing > 0 {
		s += fmt.Sprintf(" · %s in transit", count(c.Missing))
	}
	if c.Foreign > 0 {
		s += fmt.Sprintf(" · %s other records", count(c.Foreign))
	}
	return s
}

// sparkFloor is the least full scale of the lag history, so that the few
// records in flight while the link is up stay at the bottom.
const sparkFloor = 100

// spark draws history as block characters, scaled to its maximum (at least
// sparkFloor), using at most width of its newest entries.
func spark(h []uint64, width int) string {
	if len(h) > width {
		h = h[len(h)-width:]
	}
	peak := uint64(sparkFloor)
	for _, v := range h {
		peak = max(peak, v)
	}
	blocks := []rune("▁▂▃▄▅▆▇█")
	var b strings.Builder
	for _, v := range h {
		i := 0
		if peak > 0 && v > 0 {
			i = 1 + int(float64(v)/float64(peak)*float64(len(blocks)-2)+0.5)
		}
		b.WriteRune(blocks[min(i, len(blocks)-1)])
	}
	return b.String()
}

// ends lists end offsets in 6-column cells, as many as fit in width (the
// last cell says "…" when some do not).
func ends(e []int64, width int) string {
	cells := width / 6
	var b strings.Builder
	for i, v := range e {
		if i == cells-1 && len(e) > cells {
			b.WriteString("     …")
			break
		}
		fmt.Fprintf(&b, "%6s", short(v))
	}
	return b.String()
}

// short renders n in at most 5 characters (12345, 123k, 12.3M).
func short(n int64) string {
	switch {
	case n < 100000:
		return strconv.FormatInt(n, 10)
	case n < 1000000:
		return fmt.Sprintf("%dk", n/1000)
	case n < 100000000:
		return fmt.Sprintf("%.1fM", float64(n)/1e6)
	}
	return fmt.Sprintf("%dM", n/1000000)
}

func clip(s string) string {
	if utf8.RuneCountInString(s) <= ScreenWidth-1 {
		return s
	}
	r := []rune(s)
	return string(r[:ScreenWidth-2]) + "…"
}

func cut(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

// count renders n with thousands separators.
func count(n uint64) string {
	s := strconv.FormatUint(n, 10)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func num(f float64) string {
	if f >= 100 || f == float64(int64(f)) {
		return strconv.FormatFloat(f, 'f', 0, 64)
	}
	return strconv.FormatFloat(f, 'f', 1, 64)
}

func secs(d time.Duration) string { return fmt.Sprintf("%.1fs", d.Seconds()) }

// clock renders an elapsed time as M:SS (or H:MM:SS).
func clock(d time.Duration) string {
	s := int64(d / time.Second)
	if s >= 3600 {
		return fmt.Sprintf("%d:%02d:%02d", s/3600, s/60%60, s%60)
	}
	return fmt.Sprintf("%d:%02d", s/60, s%60)
}

// Clock renders an elapsed time as M:SS, for event lines.
func Clock(d time.Duration) string { return clock(d) }

// Count renders n with thousands separators.
func Count(n uint64) string { return count(n) }

func bytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
