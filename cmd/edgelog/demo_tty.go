package main

import (
	"io"
	"os"
	"strings"
	"sync"

	"golang.org/x/term"
)

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// keyboard reads single keys from a terminal in raw mode. In raw mode the
// terminal sends Ctrl-C as a byte instead of a signal, so the caller must
// treat it as a stop request; restore must run before the process exits
// (it is idempotent).
type keyboard struct {
	fd   int
	keys chan byte // buffered; keys are dropped when it is full

	mu  sync.Mutex
	old *term.State // protected by mu; nil once restored
}

// openKeyboard puts in into raw mode if it is a terminal, and returns nil
// otherwise (no keys: the demo runs on its schedule).
func openKeyboard(in io.Reader) *keyboard {
	f, ok := in.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return nil
	}
	old, err := term.MakeRaw(int(f.Fd()))
	if err != nil {
		return nil
	}
	k := &keyboard{fd: int(f.Fd()), keys: make(chan byte, 8), old: old}
	// The reader stays blocked in Read until the process exits: a read
	// from a terminal cannot be interrupted portably.
	go func() {
		buf := make([]byte, 16)
		for {
			n, err := f.Read(buf)
			for _, b := range buf[:n] {
				select {
				case k.keys <- b:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return k
}

// restore puts the terminal back as it was.
func (k *keyboard) restore() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.old != nil {
		term.Restore(k.fd, k.old)
		k.old = nil
	}
}

// Keys returns the channel of pressed keys (nil, which never delivers, for
// a nil keyboard).
func (k *keyboard) Keys() <-chan byte {
	if k == nil {
		return nil
	}
	return k.keys
}

// screen draws frames in place on a terminal: the cursor goes home, each
// line is rewritten and cleared to its end, and what is below is cleared.
// Lines end in CR LF because a raw-mode terminal does not add the CR.
type screen struct {
	w      io.Writer
	drawn  bool
	hidden bool
}

func (s *screen) draw(lines []string) {
	var b strings.Builder
	if !s.drawn {
		b.WriteString("\x1b[?25l\x1b[2J") // hide the cursor, clear the screen
		s.drawn, s.hidden = true, true
	}
	b.WriteString("\x1b[H")
	for _, l := range lines {
		b.WriteString(l)
		b.WriteString("\x1b[K\r\n")
	}
	b.WriteString("\x1b[J")
	io.WriteString(s.w, b.String())
}

// done shows the cursor again, below the last frame.
func (s *screen) done() {
	if s.hidden {
		io.WriteString(s.w, "\x1b[?25h")
		s.hidden = false
	}
}
