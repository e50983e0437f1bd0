package stats

import (
	"bytes"
	"cmp"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Median returns the median of xs (the mean of the middle two for an even
// count), or NaN for none.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// MedianBy returns the element whose key is the median (the lower middle
// one for an even count), so that figures measured together stay together.
func MedianBy[T any](xs []T, key func(T) float64) T {
	s := slices.Clone(xs)
	slices.SortStableFunc(s, func(a, b T) int { return cmp.Compare(key(a), key(b)) })
	return s[(len(s)-1)/2]
}

// Quantile returns the q-quantile (0..1) of sorted, by nearest rank.
func Quantile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// Latency summarises a set of durations.
type Latency struct {
	N                  int
	P50, P90, P99, Max time.Duration
}

// Summarize sorts ds in place and summarises it.
func Summarize(ds []time.Duration) Latency {
	slices.Sort(ds)
	if len(ds) == 0 {
		return Latency{}
	}
	return Latency{N: len(ds), P50: Quantile(ds, 0.5), P90: Quantile(ds, 0.9), P99: Quantile(ds, 0.99), Max: ds[len(ds)-1]}
}

// CDF returns at most points (x = latency in ms, y = fraction ≤ x) of the
// empirical distribution of sorted, spaced evenly in rank and always
// including the maximum.
func CDF(sorted []time.Duration, points int) (xs, ys []float64) {
	n := len(sorted)
	if n == 0 || points < 2 {
		return nil, nil
	}
	step := max(1, n/points)
	for i := step - 1; i < n; i += step {
		xs = append(xs, Ms(sorted[i]))
		ys = append(ys, float64(i+1)/float64(n))
	}
	if ys[len(ys)-1] < 1 {
		xs, ys = append(xs, Ms(sorted[n-1])), append(ys, 1)
	}
	return xs, ys
}

// Ms converts d to fractional milliseconds.
func Ms(d time.Duration) float64 { return float64(d) / 1e6 }

// Thousands formats n with commas: 1234567 → "1,234,567".
func Thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// MiB formats KiB as MiB with one decimal.
func MiB(kib int64) string { return fmt.Sprintf("%.1f MiB", float64(kib)/1024) }

// Ratio formats a/b as "1.23×", or "—" when b is zero.
func Ratio(a, b float64) string {
	if b == 0 || math.IsNaN(a) || math.IsNaN(b) {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

// LoadAvg reads the one-minute load average (NaN if unavailable).
func LoadAvg() float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return math.NaN()
	}
	v, err := ParseLoadAvg(b)
	if err != nil {
		return math.NaN()
	}
	return v
}

// ParseLoadAvg reads the first field of /proc/loadavg.
func ParseLoadAvg(b []byte) (float64, error) {
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, fmt.Errorf("stats: empty loadavg")
	}
	return strconv.ParseFloat(f[0], 64)
}

// Machine describes this computer in one line: CPUs, CPU model, OS/arch.
func Machine() string {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		model = cpuModel(b)
	}
	return fmt.Sprintf("%d CPUs (%s), %s/%s", runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH)
}

func cpuModel(cpuinfo []byte) string {
	for line := range bytes.Lines(cpuinfo) {
		if k, v, ok := strings.Cut(string(line), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
