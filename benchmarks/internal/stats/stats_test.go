package stats

import (
	"math"
	"testing"
	"time"
)

func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		in   []float64
		want float64
	}{
		{[]float64{3, 1, 2}, 2},
		{[]float64{4, 1, 3, 2}, 2.5},
		{[]float64{7}, 7},
	} {
		if got := Median(tc.in); got != tc.want {
			t.Errorf("Median(%v) = %v, want %v", tc.in, got, tc.want)
		}
	}
	if !math.IsNaN(Median(nil)) {
		t.Error("Median(nil) is not NaN")
	}
	type s struct{ rate, rss float64 }
	got := MedianBy([]s{{300, 1}, {100, 2}, {200, 3}, {400, 4}}, func(x s) float64 { return x.rate })
	if got != (s{200, 3}) {
		t.Errorf("MedianBy kept %v, want the lower middle {200 3}", got)
	}
}

func TestSummarizeAndCDF(t *testing.T) {
	var ds []time.Duration
	for i := 100; i >= 1; i-- {
		ds = append(ds, time.Duration(i)*time.Millisecond)
	}
	l := Summarize(ds)
	if l.N != 100 || l.P50 != 50*time.Millisecond || l.P99 != 99*time.Millisecond || l.Max != 100*time.Millisecond {
		t.Errorf("Summarize = %+v", l)
	}
	xs, ys := CDF(ds, 10)
	if len(xs) != 10 || xs[0] != 10 || ys[0] != 0.1 || xs[9] != 100 || ys[9] != 1 {
		t.Errorf("CDF = %v %v", xs, ys)
	}
	if xs, _ := CDF(nil, 10); xs != nil {
		t.Errorf("CDF(nil) = %v", xs)
	}
}

func TestFormatting(t *testing.T) {
	for n, want := range map[int64]string{0: "0", 999: "999", 1000: "1,000", 1234567: "1,234,567", -4321: "-4,321"} {
		if got := Thousands(n); got != want {
			t.Errorf("Thousands(%d) = %q, want %q", n, got, want)
		}
	}
	if got := Ratio(3, 2); got != "1.50×" {
		t.Errorf("Ratio = %q", got)
	}
	if got := Ratio(3, 0); got != "—" {
		t.Errorf("Ratio by zero = %q", got)
	}
}

func TestParsers(t *testing.T) {
	if v, err := ParseLoadAvg([]byte("1.85 2.28 2.58 3/412 9999\n")); err != nil || v != 1.85 {
		t.Errorf("ParseLoadAvg = %v, %v", v, err)
	}
	if _, err := ParseLoadAvg(nil); err == nil {
		t.Error("ParseLoadAvg(empty) succeeded")
	}
	if got := cpuModel([]byte("processor\t: 0\nmodel name\t: AMD EPYC\nflags\t: x\n")); got != "AMD EPYC" {
		t.Errorf("cpuModel = %q", got)
	}
}
