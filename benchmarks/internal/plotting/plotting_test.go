package plotting

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
)

var pngMagic = []byte("\x89PNG\r\n\x1a\n")

func TestBarsAndLinesWritePNG(t *testing.T) {
	dir := t.TempDir()
	f := Figure{Title: "t", Subtitle: "2 CPUs, today", XLabel: "x", YLabel: "y"}
	bars := filepath.Join(dir, "bars.png")
	if err := Bars(bars, f, []string{"a", "b"}, []Series{{"one", []float64{1, 2}}, {"two", []float64{3, math.NaN()}}}); err != nil {
		t.Fatal(err)
	}
	lines := filepath.Join(dir, "lines.png")
	if err := Lines(lines, f, []Line{{"one", []float64{0, 1, 10}, []float64{0, 0.5, 1}}}, true); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{bars, lines} {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.HasPrefix(b, pngMagic) {
			t.Errorf("%s is not a PNG (%v)", p, err)
		}
	}
	if err := Bars(filepath.Join(dir, "none.png"), f, nil, nil); !errors.Is(err, ErrEmpty) {
		t.Errorf("empty bars: %v", err)
	}
	if err := Lines(filepath.Join(dir, "none.png"), f, []Line{{"neg", []float64{-1}, []float64{1}}}, true); !errors.Is(err, ErrEmpty) {
		t.Errorf("lines with nothing drawable on a log scale: %v", err)
	}
}
