package devices

import (
	"context"
	"crypto/sha256"
	"os"
	"time"
)

// DefaultWatchInterval is how often Watch polls the registry file.
const DefaultWatchInterval = 2 * time.Second

// fullCheckEvery forces a content hash every so many polls even when size
// and mtime look unchanged (coarse mtime granularity, same-size rewrites).
const fullCheckEvery = 15

// WatchOptions tunes WatchWith. The zero value means the defaults.
type WatchOptions struct {
	// Interval between polls; 0 means DefaultWatchInterval.
	Interval time.Duration
	// Baseline is the registry the caller is using now (normally the one
	// Load returned). Watch reports only content that differs from it, and
	// new registries inherit its verified-password cache. Nil means: the
	// file's content when Watch starts is the baseline.
	Baseline *Registry
}

// Watch polls the registry file at path until ctx is done (it blocks: run it
// in its own goroutine) and calls onChange from that goroutine whenever the
// content changes and has stayed the same for one poll interval (so a file
// caught mid-write is never applied): with the new registry, or with an
// error when the new content does not parse — the caller then keeps its previous registry and
// the next call comes when the content changes again. A missing file is an
// error too (reported once); the file reappearing is a change.
func Watch(ctx context.Context, path string, onChange func(*Registry, error)) {
	WatchWith(ctx, path, WatchOptions{}, onChange)
}

// WatchWith is Watch with options.
func WatchWith(ctx context.Context, path string, opts WatchOptions, onChange func(*Registry, error)) {
	if opts.Interval <= 0 {
		opts.Interval = DefaultWatchInterval
	}
	w := watcher{path: path, onChange: onChange, good: opts.Baseline}
	if opts.Baseline != nil {
		// Compare content with the baseline at once: a change between Load
		// and now is reported on this first poll.
		w.digest, w.known = opts.Baseline.Digest(), true
	}
	w.poll(true)
	t := time.NewTicker(opts.Interval)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.poll(n%fullCheckEvery == 0)
		}
	}
}

// watcher is the state of one Watch loop; only that goroutine touches it.
type watcher struct {
	path     string
	onChange func(*Registry, error)
	good     *Registry // last registry handed out (or the baseline)

	size      int64
	mtime     time.Time
	statValid bool
	digest    [sha256.Size]byte // content last reported (good or bad)
	known     bool              // digest holds a reported content or the baseline's
	missing   bool              // the file was missing at the last poll
	readErr   string            // the read error last reported, "" if none
	// pending is new content seen once and not reported yet: content is
	// reported only once two consecutive polls read it unchanged, so a
	// file caught mid-write (an editor truncating and rewriting it in
	// place leaves it empty or cut for a moment) is never applied.
	pending    [sha256.Size]byte
	hasPending bool
}

// stat refreshes size and mtime; it reports whether they changed.
func (w *watcher) stat() (changed bool, err error) {
	fi, err := os.Stat(w.path)
	if err != nil {
		w.statValid = false
		return true, err
	}
	changed = !w.statValid || fi.Size() != w.size || !fi.ModTime().Equal(w.mtime)
	w.size, w.mtime, w.statValid = fi.Size(), fi.ModTime(), true
	return changed, nil
}

// poll reads the file when its size or mtime changed (or force is set) and
// reports content that differs from what was last reported.
func (w *watcher) poll(force bool) {
	changed, err := w.stat()
	if err != nil {
		if !w.missing {
			w.missing = true
			w.known = false // whatever comes back is news
			w.onChange(nil, err)
		}
		return
	}
	w.missing = false
	if !changed && !force && w.known && !w.hasPending {
		return
	}
	data, err := readBounded(w.path)
	var sum [sha256.Size]byte
	if err == nil {
		sum = sha256.Sum256(data)
	}
	switch {
	case err == nil && w.known && w.readErr == "" && sum == w.digest:
		w.hasPending = false // changed back before it settled
		return
	case err != nil && w.known && w.readErr == err.Error():
		return // a read error is reported once, until it changes
	}
	if err == nil && (!w.hasPending || sum != w.pending) {
		w.pending, w.hasPending = sum, true
		return // report it if the next poll reads the same
	}
	w.hasPending = false
	w.digest, w.known = sum, true
	if err != nil {
		w.readErr = err.Error()
		w.onChange(nil, err)
		return
	}
	w.readErr = ""
	reg, err := parse(w.path, data)
	if err != nil {
		w.onChange(nil, err)
		return
	}
	reg.inherit(w.good)
	w.good = reg
	w.onChange(reg, nil)
}
