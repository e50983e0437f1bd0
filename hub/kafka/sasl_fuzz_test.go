package kafka

import (
	"errors"
	"testing"
)

// FuzzSASLExchange feeds arbitrary client messages to both SASL mechanisms
// (two steps: PLAIN takes one, SCRAM-SHA-256 client-first then
// client-final). Nothing may panic, every failure is classified, and only
// the right password authenticates with PLAIN.
func FuzzSASLExchange(f *testing.F) {
	users := map[string]string{"alice": "s3cret"}
	srv := &Server{cfg: Config{Users: users}, scram: deriveSCRAM(users)}
	f.Add(false, []byte("\x00alice\x00s3cret"), []byte(nil))
	f.Add(false, []byte("alice\x00alice\x00wrong"), []byte(nil))
	f.Add(true, []byte("n,,n=alice,r=fyko+d2lbbFgONRv9qkxdawL"), []byte("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts="))
	f.Add(true, []byte("y,,n=al=2Cice,r=x"), []byte(",p="))
	f.Add(true, []byte(","), []byte("p=,r=,c="))
	f.Fuzz(func(t *testing.T, scram bool, first, second []byte) {
		c := &conn{s: srv}
		c.sasl.mechanism = mechPlain
		if scram {
			c.sasl.mechanism = mechSCRAM
		}
		for _, msg := range [][]byte{first, second} {
			_, err := c.saslStep(msg)
			if err != nil {
				if !errors.Is(err, errSASL) && !errors.Is(err, errSASLState) {
					t.Fatalf("unclassified error: %v", err)
				}
				return
			}
			if c.sasl.authenticated {
				break
			}
		}
		if c.sasl.authenticated && !scram && string(first) != "\x00alice\x00s3cret" && string(first) != "alice\x00alice\x00s3cret" {
			t.Fatalf("PLAIN %q authenticated as %q", first, c.sasl.user)
		}
	})
}
