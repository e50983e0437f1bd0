package devices

import (
	"fmt"
	"testing"
)

func benchRegistry(b *testing.B, hash string) *Registry {
	b.Helper()
	devs := make([]Device, 0, 1000)
	for i := range 1000 {
		devs = append(devs, Device{ID: fmt.Sprintf("dev-%04d", i), PasswordHash: hash, Enabled: true,
			Publish:   []string{"telemetry/{id}/#", "logs/{id}/#", "status/{id}"},
			Subscribe: []string{"commands/{id}/#", "broadcast/+"}})
	}
	r, err := NewRegistry(devs)
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkCanPublish is the ACL check the agent makes on every publish.
func BenchmarkCanPublish(b *testing.B) {
	r := benchRegistry(b, testHash(b))
	b.ReportAllocs()
	for b.Loop() {
		if !r.CanPublish("dev-0500", "logs/dev-0500/app") {
			b.Fatal("denied")
		}
	}
}

func BenchmarkCanSubscribe(b *testing.B) {
	r := benchRegistry(b, testHash(b))
	b.ReportAllocs()
	for b.Loop() {
		if !r.CanSubscribe("dev-0500", "commands/dev-0500/+/x") {
			b.Fatal("denied")
		}
	}
}

// BenchmarkAuthenticate compares a first login (bcrypt at the default cost)
// with a reconnect (the verified-password cache).
func BenchmarkAuthenticate(b *testing.B) {
	h, err := HashPassword("bench-password", DefaultCost)
	if err != nil {
		b.Fatal(err)
	}
	r := benchRegistry(b, h)
	b.Run("bcrypt-cost10", func(b *testing.B) {
		for b.Loop() {
			r.auth.mu.Lock()
			clear(r.auth.entries)
			r.auth.mu.Unlock()
			if _, err := r.Authenticate("dev-0001", "bench-password"); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := r.Authenticate("dev-0001", "bench-password"); err != nil {
				b.Fatal(err)
			}
		}
	})
}
