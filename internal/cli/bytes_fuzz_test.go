package cli

import "testing"

// FuzzParseBytes: sizes from flags and config files parse without panic or
// overflow, never negative, and every size FormatBytes prints parses back
// to itself.
func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"512MiB", "2GiB", "1500", "10MB", " 7 K ", "-1", "9223372036854775807", "8EiB", "4TiB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n, err := ParseBytes(s)
		if err != nil {
			return
		}
		if n < 0 {
			t.Fatalf("ParseBytes(%q) = %d", s, n)
		}
		if back, err := ParseBytes(FormatBytes(n)); err != nil || back != n {
			t.Fatalf("ParseBytes(FormatBytes(%d) = %q) = %d, %v", n, FormatBytes(n), back, err)
		}
	})
}
