package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/edgelog/edgelog/internal/cli"
	"github.com/edgelog/edgelog/record"
	"github.com/edgelog/edgelog/wal"
)

const walUsage = `usage: edgelog wal dump DIR [--format text|json]
       edgelog wal verify DIR
       edgelog wal new-epoch DIR

DIR is an agent's --data directory or its WAL directory. dump and verify
read the log without changing it, even while an agent is running.

  dump    prints one record per line; json lines carry seq, time, client_id,
          topic, qos, retain and payload (base64)
  verify  checks every record's framing, checksum and encoding; exits 0 when
          the log is intact or only has a torn tail the agent repairs on
          start, 1 on damage it cannot repair
  new-epoch
          gives the log a new epoch, the way out of an "epoch conflict"
          (the hub holds more of the log's epoch than the log has: the data
          directory was restored from an older copy). The agent must be
          stopped. Its records stay; once restarted, it ships every record
          still in its log again, under the new epoch: none is lost, and
          records the hub already held arrive a second time (their
          agent.epoch header tells them apart)`

func walCommand() cli.Command {
	return cli.Command{Name: "wal", Summary: "inspects an agent's write-ahead log (dump, verify, new-epoch)", Run: runWAL}
}

func runWAL(_ context.Context, args []string, env *cli.Env) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(env.Stderr, walUsage)
		if len(args) == 0 {
			return cli.ExitUsage
		}
		return cli.ExitOK
	}
	switch args[0] {
	case "dump":
		return runWALDump(args[1:], env)
	case "verify":
		return runWALVerify(args[1:], env)
	case "new-epoch":
		return runWALNewEpoch(args[1:], env)
	}
	fmt.Fprintf(env.Stderr, "edgelog wal: unknown subcommand %q (want dump, verify or new-epoch)\n", args[0])
	return cli.ExitUsage
}

// resolveWALDir accepts an agent data directory or a WAL directory.
func resolveWALDir(dir string) (string, error) {
	if isWALDir(dir) {
		return dir, nil
	}
	if sub := filepath.Join(dir, "wal"); isWALDir(sub) {
		return sub, nil
	}
	if _, err := os.Stat(dir); err != nil {
		return "", err
	}
	return "", fmt.Errorf("%s holds no write-ahead log (looked for wal.meta or *.seg there and in %s)", dir, filepath.Join(dir, "wal"))
}

func isWALDir(dir string) bool {
	if _, err := os.Stat(filepath.Join(dir, "wal.meta")); err == nil {
		return true
	}
	segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	return len(segs) > 0
}

// dumpLine is one record in `wal dump --format json`.
type dumpLine struct {
	Seq         uint64            `json:"seq"`
	Time        string            `json:"time,omitempty"`
	ClientID    string            `json:"client_id"`
	Topic       string            `json:"topic"`
	QoS         byte              `json:"qos"`
	Retain      bool              `json:"retain,omitempty"`
	ContentType string            `json:"content_type,omitempty"`
	UserProps   []record.Property `json:"user_properties,omitempty"`
	Size        int               `json:"size"`
	Payload     string            `json:"payload"`
	Error       string            `json:"error,omitempty"`
}

func runWALDump(args []string, env *cli.Env) int {
	fs := cli.NewFlagSet("wal dump", "edgelog wal dump DIR [--format text|json]", env)
	format := fs.String("format", "text", "output format: text or json (one object per line)")
	pos, err := cli.ParseArgs(fs, args)
	if code, ok := cli.ReportParse(err, env, "wal dump"); !ok {
		return code
	}
	if *format != "text" && *format != "json" {
		return usageFail(env, "wal dump", cli.Usagef("format", "want text or json, got %q", *format))
	}
	dir, code := oneDir(env, "wal dump", pos)
	if dir == "" {
		return code
	}
	out := bufio.NewWriter(env.Stdout)
	defer out.Flush()
	enc := json.NewEncoder(out)
	rep, err := wal.Inspect(dir, func(seq uint64, payload []byte) error {
		line := describeRecord(seq, payload)
		if *format == "json" {
			return enc.Encode(line)
		}
		_, err := fmt.Fprintln(out, textLine(line))
		return err
	})
	if err != nil {
		out.Flush()
		fmt.Fprintf(env.Stderr, "edgelog wal dump: %v\n", err)
		return cli.ExitFailure
	}
	out.Flush()
	if rep.TornTail != "" {
		fmt.Fprintf(env.Stderr, "edgelog wal dump: torn tail (repaired when the agent starts): %s\n", rep.TornTail)
	}
	if rep.Corrupt != nil {
		fmt.Fprintf(env.Stderr, "edgelog wal dump: %v\n", rep.Corrupt)
		return cli.ExitFailure
	}
	return cli.ExitOK
}

func describeRecord(seq uint64, payload []byte) dumpLine {
	r, err := record.Decode(payload)
	if err != nil {
		return dumpLine{Seq: seq, Size: len(payload), Payload: base64.StdEncoding.EncodeToString(payload), Error: err.Error()}
	}
	return dumpLine{
		Seq: seq, Time: time.UnixMilli(r.TimeMs).UTC().Format(time.RFC3339Nano),
		ClientID: r.ClientID, Topic: r.Topic, QoS: r.QoS, Retain: r.Retain,
		ContentType: r.ContentType, UserProps: r.UserProps, Size: len(r.Payload),
		Payload: base64.StdEncoding.EncodeToString(r.Payload),
	}
}

// textLine renders a record for people: payloads that are short printable
// text are shown quoted, others as base64.
func textLine(d dumpLine) string {
	if d.Error != "" {
		return fmt.Sprintf("%d  undecodable record (%d bytes): %s", d.Seq, d.Size, d.Error)
	}
	shown := "b64:" + d.Payload
	if raw, err := base64.StdEncoding.DecodeString(d.Payload); err == nil && len(raw) <= 120 && isPrintable(raw) {
		shown = strconv.Quote(string(raw))
	}
	return fmt.Sprintf("%d  %s  %s  %s  qos=%d  %dB  %s", d.Seq, d.Time, d.ClientID, d.Topic, d.QoS, d.Size, shown)
}

func isPrintable(b []byte) bool {
	for _, c := range string(b) {
		if c == 0xfffd || (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func runWALVerify(args []string, env *cli.Env) int {
	fs := cli.NewFlagSet("wal verify", "edgelog wal verify DIR", env)
	pos, err := cli.ParseArgs(fs, args)
	if code, ok := cli.ReportParse(err, env, "wal verify"); !ok {
		return code
	}
	dir, code := oneDir(env, "wal verify", pos)
	if dir == "" {
		return code
	}
	var undecodable int64
	var firstBad uint64
	rep, err := wal.Inspect(dir, func(seq uint64, payload []byte) error {
		if _, err := record.Decode(payload); err != nil {
			if undecodable == 0 {
				firstBad = seq
			}
			undecodable++
		}
		return nil
	})
	if err != nil {
		fmt.Fprintf(env.Stderr, "edgelog wal verify: %v\n", err)
		return cli.ExitFailure
	}
	w := env.Stdout
	fmt.Fprintf(w, "log:       %s (epoch %s)\n", rep.Dir, rep.Epoch)
	fmt.Fprintf(w, "segments:  %d\n", rep.Segments)
	fmt.Fprintf(w, "records:   %d (sequences %d to %d)\n", rep.Records, rep.First, rep.Last)
	status := cli.ExitOK
	switch {
	case rep.Corrupt != nil:
		fmt.Fprintf(w, "damage:    %v\n", rep.Corrupt)
		fmt.Fprintln(w, "result:    DAMAGED — the agent will refuse to open this log; records after the damage are unreadable")
		status = cli.ExitFailure
	case rep.TornTail != "":
		fmt.Fprintf(w, "torn tail: %s\n", rep.TornTail)
		fmt.Fprintln(w, "result:    repairable — the agent cuts the torn tail (and saves a copy) when it starts")
	default:
		fmt.Fprintln(w, "result:    intact")
	}
	if undecodable > 0 {
		fmt.Fprintf(w, "encoding:  %d records are not valid edge records (first at sequence %d)\n", undecodable, firstBad)
		status = cli.ExitFailure
	}
	return status
}

// oneDir resolves the single DIR argument; on failure it prints the error
// and returns "" with the exit code.
func oneDir(env *cli.Env, command string, pos []string) (string, int) {
	if len(pos) != 1 {
		return "", usageFail(env, command, cli.Usagef("DIR", "want exactly one directory, got %d arguments", len(pos)))
	}
	dir, err := resolveWALDir(pos[0])
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return "", usageFail(env, command, cli.Usagef("DIR", "%v", err))
		}
		fmt.Fprintf(env.Stderr, "edgelog %s: %v\n", command, err)
		return "", cli.ExitFailure
	}
	return dir, cli.ExitOK
}

func usageFail(env *cli.Env, command string, err error) int {
	fmt.Fprintf(env.Stderr, "edgelog %s: %v\n", command, err)
	return cli.ExitUsage
}

func runWALNewEpoch(args []string, env *cli.Env) int {
	fs := cli.NewFlagSet("wal new-epoch", "edgelog wal new-epoch DIR", env)
	pos, err := cli.ParseArgs(fs, args)
	if code, ok := cli.ReportParse(err, env, "wal new-epoch"); !ok {
		return code
	}
	dir, code := oneDir(env, "wal new-epoch", pos)
	if dir == "" {
		return code
	}
	old, epoch, err := wal.NewEpoch(dir)
	if errors.Is(err, wal.ErrLocked) {
		fmt.Fprintf(env.Stderr, "edgelog wal new-epoch: %v: stop the agent first\n", err)
		return cli.ExitFailure
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "edgelog wal new-epoch: %v\n", err)
		return cli.ExitFailure
	}
	fmt.Fprintf(env.Stdout, "log:    %s\nepoch:  %s → %s\nthe agent ships every record still in its log again, under the new epoch, when it starts\n", dir, old, epoch)
	return cli.ExitOK
}
