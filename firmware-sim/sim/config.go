package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"
)

// ErrConfig wraps every configuration problem; the message names the field.
var ErrConfig = errors.New("sim: bad config")

// Payload formats.
const (
	FormatJSON   = "json"
	FormatCBOR   = "cbor"
	FormatBinary = "binary"
)

// Queue drop policies: which message a full on-device queue gives up.
const (
	DropOldest = "oldest"
	DropNewest = "newest"
)

// Streams a device can produce (the topic's last level).
const (
	StreamEnv     = "env"     // temperature/humidity/pressure random walks with a daily cycle
	StreamCounter = "counter" // a monotonically increasing pulse counter
	StreamGPS     = "gps"     // a vehicle track
	StreamLog     = "log"     // log lines with levels
)

// AllStreams lists the streams in their canonical order.
func AllStreams() []string { return []string{StreamEnv, StreamCounter, StreamGPS, StreamLog} }

// Credential is one device's login, as the simulator needs it (plaintext).
type Credential struct {
	ID       string `yaml:"id" json:"id"`
	Password string `yaml:"password" json:"password"`
}

// Ack describes one acknowledged message (Config.OnAck).
type Ack struct {
	ClientID string
	Topic    string
	Seq      uint64 // the device's message sequence number (in the payload)
	QoS      byte
}

// Config describes a simulated fleet. The zero value (plus Broker) is a
// valid fleet: 10 steady devices, one JSON message per second each, QoS 0.
type Config struct {
	Broker   string        // tcp://HOST:PORT (also mqtt://); required
	Devices  int           // number of devices; 0 means 10
	Rate     float64       // messages per second per device; 0 means 1
	Duration time.Duration // how long devices sample; 0 means until ctx is done
	// QoS of every stream unless StreamQoS names it.
	QoS       byte
	StreamQoS map[string]byte
	// Profile fills the behaviour fields below that are left zero: see
	// Profiles. "" means "steady".
	Profile string
	Format  string   // json (default), cbor or binary
	Streams []string // default: the profile's
	// PayloadPad adds this many filler bytes to every payload.
	PayloadPad int

	// Credentials are used in order, devices first, then bad actors. Nil:
	// IDs are IDPrefix + a number and no password is sent.
	Credentials []Credential
	IDPrefix    string // "sim-" by default

	QueueSize  int    // on-device queue while disconnected or asleep; 0 means 1000
	DropPolicy string // oldest (default) or newest
	Inflight   int    // unacknowledged QoS 1/2 messages per device; 0 means 32

	Chaos         bool          // kill connections at random
	ChaosInterval time.Duration // mean time between kills per device; 0 means 20s
	Wake, Sleep   time.Duration // duty cycle; Sleep 0 means always awake
	ClockDriftPPM float64       // each device's clock runs fast or slow by up to this
	ClockOffset   time.Duration // each device's clock is off by up to ± this
	DayLength     time.Duration // period of the daily cycle; 0 means 24h

	BadActors     int           // extra devices that misbehave
	BadKinds      []string      // which misbehaviours; default AllBadKinds()
	BadInterval   time.Duration // between a bad actor's attempts; 0 means 2s
	OversizeBytes int           // payload of an oversized publish; 0 means 2 MiB
	RefuseTimeout time.Duration // no ack within this counts as refused; 0 means 5s

	ConnectTimeout time.Duration // 0 means 10s
	BackoffMin     time.Duration // reconnect backoff, jittered; 0 means 250ms
	BackoffMax     time.Duration // 0 means 15s
	DrainTimeout   time.Duration // after Duration, time to send what is queued; 0 means 30s
	RampUp         time.Duration // spread of the first connects; 0 means min(Devices×10ms, 5s)

	Seed int64 // 0 means random

	// OnAck, if set, is called for every acknowledged QoS 1/2 message from
	// the device's goroutine. It must be fast and safe for concurrent use.
	OnAck func(Ack)
	// Progress, if set, is called about every ProgressInterval (default 1s)
	// and once at the end with the counters so far.
	Progress         func(Stats)
	ProgressInterval time.Duration
	Logger           *slog.Logger // nil: discard
}

// validate fills defaults and rejects contradictions.
func (c *Config) validate() error {
	bad := func(field, format string, args ...any) error {
		return fmt.Errorf("%w: %s: %s", ErrConfig, field, fmt.Sprintf(format, args...))
	}
	u, err := url.Parse(c.Broker)
	if c.Broker == "" || err != nil || (u.Scheme != "tcp" && u.Scheme != "mqtt") || u.Host == "" {
		return bad("broker", "%q: want tcp://HOST:PORT", c.Broker)
	}
	if err := c.applyProfile(); err != nil {
		return err
	}
	defInt := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	defInt(&c.Devices, 10)
	defInt(&c.QueueSize, 1000)
	defInt(&c.Inflight, 32)
	defInt(&c.OversizeBytes, 2<<20)
	if c.Rate == 0 {
		c.Rate = 1
	}
	defDur(&c.ChaosInterval, 20*time.Second)
	defDur(&c.DayLength, 24*time.Hour)
	defDur(&c.BadInterval, 2*time.Second)
	defDur(&c.RefuseTimeout, 5*time.Second)
	defDur(&c.ConnectTimeout, 10*time.Second)
	defDur(&c.BackoffMin, 250*time.Millisecond)
	defDur(&c.BackoffMax, 15*time.Second)
	defDur(&c.DrainTimeout, 30*time.Second)
	defDur(&c.RampUp, min(time.Duration(c.Devices)*10*time.Millisecond, 5*time.Second))
	defDur(&c.ProgressInterval, time.Second)
	if c.Format == "" {
		c.Format = FormatJSON
	}
	if c.DropPolicy == "" {
		c.DropPolicy = DropOldest
	}
	if c.IDPrefix == "" {
		c.IDPrefix = "sim-"
	}
	if len(c.Streams) == 0 {
		c.Streams = AllStreams()
	}
	if len(c.BadKinds) == 0 {
		c.BadKinds = AllBadKinds()
	}
	if c.Wake == 0 && c.Sleep > 0 {
		c.Wake = c.Sleep
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.Devices < 0 || c.Devices > 100000:
		return bad("devices", "%d: want 1..100000", c.Devices)
	case c.Rate < 0 || c.Rate > 10000:
		return bad("rate", "%g: want 0..10000 messages/s per device", c.Rate)
	case c.Duration < 0:
		return bad("duration", "negative")
	case c.QoS > 2:
		return bad("qos", "%d: want 0, 1 or 2", c.QoS)
	case c.Format != FormatJSON && c.Format != FormatCBOR && c.Format != FormatBinary:
		return bad("format", "%q: want json, cbor or binary", c.Format)
	case c.DropPolicy != DropOldest && c.DropPolicy != DropNewest:
		return bad("drop-policy", "%q: want oldest or newest", c.DropPolicy)
	case c.QueueSize < 1 || c.Inflight < 1 || c.Inflight > 65535:
		return bad("queue", "queue size and in-flight window must be positive (in-flight at most 65535)")
	case c.BadActors < 0:
		return bad("bad-actors", "negative")
	case c.PayloadPad < 0 || c.PayloadPad > 16<<20:
		return bad("payload-pad", "%d: want 0..16MiB", c.PayloadPad)
	case c.ClockDriftPPM < 0 || c.ClockOffset < 0:
		return bad("clock-drift", "must not be negative")
	case c.Sleep < 0 || c.Wake < 0:
		return bad("sleep", "must not be negative")
	case c.BackoffMax < c.BackoffMin:
		return bad("backoff", "max %v below min %v", c.BackoffMax, c.BackoffMin)
	case strings.ContainsAny(c.IDPrefix, "/+#"):
		return bad("id-prefix", "%q contains '/', '+' or '#'", c.IDPrefix)
	}
	for _, s := range c.Streams {
		if !slices.Contains(AllStreams(), s) {
			return bad("streams", "%q: want some of %s", s, strings.Join(AllStreams(), ", "))
		}
	}
	for s, q := range c.StreamQoS {
		if !slices.Contains(AllStreams(), s) || q > 2 {
			return bad("stream-qos", "%s=%d: want STREAM=0|1|2 with a stream of %s", s, q, strings.Join(AllStreams(), ", "))
		}
	}
	for _, k := range c.BadKinds {
		if !slices.Contains(AllBadKinds(), k) {
			return bad("bad-kinds", "%q: want some of %s", k, strings.Join(AllBadKinds(), ", "))
		}
	}
	if c.Credentials != nil && len(c.Credentials) < c.Devices+c.BadActors {
		return bad("credentials", "%d entries for %d devices and %d bad actors", len(c.Credentials), c.Devices, c.BadActors)
	}
	return nil
}

func (c *Config) qosOf(stream string) byte {
	if q, ok := c.StreamQoS[stream]; ok {
		return q
	}
	return c.QoS
}
