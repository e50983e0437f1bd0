package pki

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"
)

// DenyList holds revoked agents: agent IDs, and certificate serial numbers
// written "serial:HEX". Lookups are lock-free; Set replaces the whole list
// atomically. The zero value denies nothing.
type DenyList struct {
	set      atomic.Pointer[denySet]
	onChange atomic.Pointer[func()]
}

type denySet struct {
	ids     map[string]bool
	serials map[string]bool
}

// Denied reports whether id is revoked.
func (d *DenyList) Denied(id Identity) bool {
	s := d.set.Load()
	if s == nil {
		return false
	}
	return s.ids[id.AgentID] || (id.Serial != "" && s.serials[strings.ToLower(id.Serial)])
}

// Entries returns the list, sorted.
func (d *DenyList) Entries() []string {
	s := d.set.Load()
	if s == nil {
		return nil
	}
	var out []string
	for id := range s.ids {
		out = append(out, id)
	}
	for serial := range s.serials {
		out = append(out, "serial:"+serial)
	}
	slices.Sort(out)
	return out
}

// Set replaces the list and then calls the change hook, so a hub can close
// the sessions of agents that were just revoked.
func (d *DenyList) Set(entries []string) error {
	s := &denySet{ids: map[string]bool{}, serials: map[string]bool{}}
	for _, e := range entries {
		if hex, ok := strings.CutPrefix(e, "serial:"); ok {
			hex = strings.ToLower(strings.TrimLeft(hex, "0"))
			if hex == "" || strings.Trim(hex, "0123456789abcdef") != "" {
				return fmt.Errorf("pki: deny list: bad serial %q", e)
			}
			s.serials[hex] = true
			continue
		}
		if err := CheckAgentID(e); err != nil {
			return fmt.Errorf("pki: deny list: %w", err)
		}
		s.ids[e] = true
	}
	d.set.Store(s)
	if f := d.onChange.Load(); f != nil {
		(*f)()
	}
	return nil
}

// OnChange sets the hook called after every Set.
func (d *DenyList) OnChange(f func()) { d.onChange.Store(&f) }

// ParseDenyFile parses a deny file: one entry per line, blank lines and
// text after '#' ignored.
func ParseDenyFile(b []byte) []string {
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 4096), 1<<20)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		if line = strings.TrimSpace(line); line != "" {
			out = append(out, line)
		}
	}
	return out
}

// LoadFile replaces the list with the entries of a deny file. A missing
// file is an empty list.
func (d *DenyList) LoadFile(path string) error {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return d.Set(nil)
	}
	if err != nil {
		return fmt.Errorf("pki: deny list: %w", err)
	}
	return d.Set(ParseDenyFile(b))
}

// Watch loads path now and again whenever its modification time or size
// changes, checking every interval until ctx ends. A file that fails to
// parse keeps the previous list and is reported to log.
func (d *DenyList) Watch(ctx context.Context, path string, interval time.Duration, log *slog.Logger) error {
	if log == nil {
		log = slog.Default()
	}
	stamp := func() string {
		fi, err := os.Stat(path)
		if err != nil {
			return "absent"
		}
		return fmt.Sprint(fi.ModTime().UnixNano(), fi.Size())
	}
	last := stamp()
	if err := d.LoadFile(path); err != nil {
		return err
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		if s := stamp(); s != last {
			last = s
			if err := d.LoadFile(path); err != nil {
				log.Error("deny list not reloaded", "path", path, "err", err)
				continue
			}
			log.Info("deny list reloaded", "path", path, "entries", len(d.Entries()))
		}
	}
}
