package pki

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParseBundle feeds arbitrary bytes, seeded with a real bundle and
// pieces of it, to the credentials parser: nothing may panic, a failure is
// ErrBadBundle, and a bundle that parses names a valid agent ID.
func FuzzParseBundle(f *testing.F) {
	ca, err := LoadOrCreate(f.TempDir())
	if err != nil {
		f.Fatal(err)
	}
	good, err := ca.MintAgent("gw-fuzz", 0)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add(ca.CertPEM())
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		bundle, err := ParseBundle(b)
		if err != nil {
			if !errors.Is(err, ErrBadBundle) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if CheckAgentID(bundle.AgentID) != nil {
			t.Fatalf("accepted a bundle for agent ID %q", bundle.AgentID)
		}
	})
}

// FuzzParseDenyFile: every entry is trimmed, non-empty and free of
// comments and line breaks.
func FuzzParseDenyFile(f *testing.F) {
	f.Add([]byte("gw-1\n# revoked\nserial:0a1b  # lost\n\n"))
	f.Add([]byte("\r\n\t#\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, e := range ParseDenyFile(b) {
			if e == "" || e != strings.TrimSpace(e) || strings.ContainsAny(e, "#\n") {
				t.Fatalf("entry %q", e)
			}
		}
	})
}
