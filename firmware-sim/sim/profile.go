package sim

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"time"
)

// profile is a named set of defaults for the behaviour fields of Config and
// a rule for mixing behaviours across the fleet.
type profile struct {
	summary string
	apply   func(c *Config)
	// mix returns device i's behaviour; nil means every device behaves as
	// the Config says.
	mix func(c *Config, rng *rand.Rand) behaviour
}

// behaviour is what one device does beyond sampling and publishing.
type behaviour struct {
	chaos       bool
	wake, sleep time.Duration
}

// ProfileNames lists the profiles, sorted.
func ProfileNames() []string { return []string{"flaky", "hostile", "realistic", "sleepy", "steady"} }

// ProfileSummary is a one-line description of profile name ("" if none).
func ProfileSummary(name string) string {
	p, _ := lookupProfile(name)
	return p.summary
}

func lookupProfile(name string) (profile, bool) {
	switch name {
	case "steady":
		return profile{summary: "always connected, all streams, no faults", apply: func(*Config) {}}, true
	case "flaky":
		return profile{
			summary: "chaos on: connections killed at random (mean 20s per device), jittered reconnects",
			apply:   func(c *Config) { c.Chaos = true },
		}, true
	case "sleepy":
		return profile{
			summary: "duty-cycled: awake 20s, asleep 40s (queueing readings), burst on wake; drifting clocks",
			apply: func(c *Config) {
				setDur(&c.Wake, 20*time.Second)
				setDur(&c.Sleep, 40*time.Second)
				setFloat(&c.ClockDriftPPM, 200)
				setDur(&c.ClockOffset, 2*time.Second)
			},
		}, true
	case "realistic":
		return profile{
			summary: "a mixed fleet: 60% steady, 25% flaky links, 15% sleepy; drifting clocks",
			apply:   realisticDefaults,
			mix:     realisticMix,
		}, true
	case "hostile":
		return profile{
			summary: "realistic, plus one bad actor per misbehaviour (wrong password, oversized payload, invalid topic, ACL violation)",
			apply: func(c *Config) {
				realisticDefaults(c)
				if c.BadActors == 0 {
					c.BadActors = len(AllBadKinds())
				}
			},
			mix: realisticMix,
		}, true
	}
	return profile{}, false
}

func realisticDefaults(c *Config) {
	setFloat(&c.ClockDriftPPM, 100)
	setDur(&c.ClockOffset, time.Second)
}

func realisticMix(c *Config, rng *rand.Rand) behaviour {
	switch r := rng.Float64(); {
	case r < 0.25:
		return behaviour{chaos: true}
	case r < 0.40:
		return behaviour{wake: 20 * time.Second, sleep: 40 * time.Second}
	}
	return behaviour{chaos: c.Chaos, wake: c.Wake, sleep: c.Sleep}
}

func setDur(v *time.Duration, d time.Duration) {
	if *v == 0 {
		*v = d
	}
}

func setFloat(v *float64, f float64) {
	if *v == 0 {
		*v = f
	}
}

func (c *Config) applyProfile() error {
	if c.Profile == "" {
		c.Profile = "steady"
	}
	p, ok := lookupProfile(c.Profile)
	if !ok {
		return fmt.Errorf("%w: profile: %q: want one of %s", ErrConfig, c.Profile, strings.Join(ProfileNames(), ", "))
	}
	p.apply(c)
	return nil
}

// behaviourOf decides device behaviour from the profile's mix.
func (c *Config) behaviourOf(rng *rand.Rand) behaviour {
	if p, _ := lookupProfile(c.Profile); p.mix != nil {
		return p.mix(c, rng)
	}
	return behaviour{chaos: c.Chaos, wake: c.Wake, sleep: c.Sleep}
}
