package testkit

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// DeviceOptions configure a simulated test device. Zero values are defaults.
type DeviceOptions struct {
	Username, Password string
	// InFlight is how many QoS 1/2 publishes may await their ack at once
	// (default 20).
	InFlight int
	// PayloadSize pads payloads to this many bytes (default: no padding).
	PayloadSize int
	// RandomPad pads with random letters instead of dots, so that payloads
	// do not compress (to fill a slow link).
	RandomPad bool
	// Topic is the publish topic (default "telemetry/<id>/seq").
	Topic string
	// Persistent keeps one paho client with a persistent session (clean
	// session off) and paho's own reconnects: after a reconnect paho
	// resends the unacknowledged publishes (DUP) and their acks can still
	// arrive. Without it the device has clean-session semantics: a lost
	// connection fails every publish in flight, and each reconnection is a
	// new client that resends nothing.
	Persistent bool
	// AckTimeout bounds the wait for one acknowledgement (default 60s).
	AckTimeout time.Duration
	// Interval paces publishing: at most one publish per Interval
	// (default: as fast as acks allow).
	Interval time.Duration
}

// Device is one MQTT client that publishes numbered messages and records,
// exactly, which of them the broker acknowledged (PUBACK for QoS 1, PUBCOMP
// for QoS 2). Its payloads are "<id>#<counter>" (padded), so the hub side
// can tell every message apart.
type Device struct {
	ID     string
	broker string
	opts   DeviceOptions
	done   chan struct{} // closed by the test's cleanup
	wg     sync.WaitGroup

	mu     sync.Mutex // protects everything below
	acked  []int
	failed int
	next   int
	client mqtt.Client
	// lost is closed when client's connection is lost; an open channel
	// means client is connected.
	lost chan struct{}
}

// NewDevice connects a device to broker ("tcp://127.0.0.1:1883"), retrying
// the first connection until it succeeds or 60 s pass, and reconnecting on
// its own afterwards (every 200 ms while the broker is away).
func NewDevice(t testing.TB, broker, id string, o DeviceOptions) *Device {
	t.Helper()
	if o.InFlight == 0 {
		o.InFlight = 20
	}
	if o.Topic == "" {
		o.Topic = "telemetry/" + id + "/seq"
	}
	if o.AckTimeout == 0 {
		o.AckTimeout = 60 * time.Second
	}
	d := &Device{ID: id, broker: broker, opts: o, next: 1, done: make(chan struct{}), lost: make(chan struct{})}
	close(d.lost) // not connected yet
	t.Cleanup(d.close)
	if o.Persistent {
		d.client = mqtt.NewClient(d.clientOptions().SetCleanSession(false).SetAutoReconnect(true).
			SetConnectRetry(true).SetConnectRetryInterval(200 * time.Millisecond).SetMaxReconnectInterval(time.Second).
			SetOnConnectHandler(func(mqtt.Client) { d.setLost(nil, false) }).
			SetConnectionLostHandler(func(mqtt.Client, error) { d.setLost(nil, true) }))
		tok := d.client.Connect()
		if !tok.WaitTimeout(60*time.Second) || tok.Error() != nil {
			t.Fatalf("device %s: connect to %s: %v", id, broker, tok.Error())
		}
		return d
	}
	d.wg.Go(d.supervise)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, lost := d.connection(ctx); lost == nil {
		t.Fatalf("device %s: no connection to %s within 60s", id, broker)
	}
	return d
}

func (d *Device) clientOptions() *mqtt.ClientOptions {
	return mqtt.NewClientOptions().AddBroker(d.broker).SetClientID(d.ID).
		SetUsername(d.opts.Username).SetPassword(d.opts.Password).
		SetOrderMatters(false).SetWriteTimeout(10 * time.Second).SetConnectTimeout(10 * time.Second)
}

// supervise connects a new clean-session client whenever the previous
// connection is lost, until the device is closed.
func (d *Device) supervise() {
	for {
		lostNow := make(chan struct{})
		var once sync.Once
		c := mqtt.NewClient(d.clientOptions().SetCleanSession(true).SetAutoReconnect(false).
			SetConnectionLostHandler(func(mqtt.Client, error) { once.Do(func() { close(lostNow) }) }))
		tok := c.Connect()
		tok.Wait()
		if tok.Error() == nil {
			d.mu.Lock()
			d.client = c
			d.lost = lostNow
			d.mu.Unlock()
			select {
			case <-lostNow:
			case <-d.done:
				c.Disconnect(100)
				return
			}
		}
		select {
		case <-d.done:
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (d *Device) close() {
	select {
	case <-d.done:
		return
	default:
	}
	close(d.done)
	d.wg.Wait()
	if d.opts.Persistent {
		d.client.Disconnect(100)
	}
}

// setLost tracks paho's own reconnects (Persistent).
func (d *Device) setLost(_ mqtt.Client, lost bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-d.lost:
		if !lost {
			d.lost = make(chan struct{})
		}
	default:
		if lost {
			close(d.lost)
		}
	}
}

// connection waits until the device is connected and returns the client
// and the channel closed when that connection is lost (nil if ctx ended
// first).
func (d *Device) connection(ctx context.Context) (mqtt.Client, chan struct{}) {
	for {
		d.mu.Lock()
		c, lost := d.client, d.lost
		d.mu.Unlock()
		select {
		case <-lost:
			// paho may report the loss of an old connection after the
			// new one is up.
			if d.opts.Persistent && c.IsConnectionOpen() {
				d.setLost(c, false)
				continue
			}
		default:
			return c, lost
		}
		select {
		case <-ctx.Done():
			return nil, nil
		case <-d.done:
			return nil, nil
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Connected reports whether the device's connection is up.
func (d *Device) Connected() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	select {
	case <-d.lost:
		return false
	default:
		return true
	}
}

// Publish sends n more numbered messages at qos, keeping up to InFlight
// unacknowledged, and returns once every one is acknowledged or has failed
// (or ctx ends). It publishes only while connected. A failed publish is not
// retried: it counts as unacknowledged. Without Persistent, a publish
// fails as soon as its connection is lost.
func (d *Device) Publish(ctx context.Context, n int, qos byte) {
	sem := make(chan struct{}, d.opts.InFlight)
	var wg sync.WaitGroup
	var pace <-chan time.Time
	if d.opts.Interval > 0 {
		tk := time.NewTicker(d.opts.Interval)
		defer tk.Stop()
		pace = tk.C
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		if pace != nil && i > 0 {
			select {
			case <-pace:
			case <-ctx.Done():
				continue
			}
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		client, lost := d.connection(ctx)
		if lost == nil {
			<-sem
			break
		}
		if d.opts.Persistent {
			lost = nil // acks may arrive on a later connection
		}
		d.mu.Lock()
		c := d.next
		d.next++
		d.mu.Unlock()
		payload := Payload(d.ID, c, d.opts.PayloadSize)
		if d.opts.RandomPad {
			randomPad(payload)
		}
		tok := client.Publish(d.opts.Topic, qos, false, payload)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			timer := time.NewTimer(d.opts.AckTimeout)
			defer timer.Stop()
			ok := false
			select {
			case <-tok.Done():
				ok = tok.Error() == nil
			case <-lost:
				// An ack read before the loss completed the token first.
				select {
				case <-tok.Done():
					ok = tok.Error() == nil
				default:
				}
			case <-timer.C:
			}
			d.mu.Lock()
			if ok && qos > 0 {
				d.acked = append(d.acked, c)
			} else if !ok {
				d.failed++
			}
			d.mu.Unlock()
		}()
	}
	wg.Wait()
}

// Run publishes at qos, batch messages at a time, until ctx ends.
func (d *Device) Run(ctx context.Context, qos byte, batch int) {
	for ctx.Err() == nil {
		d.Publish(ctx, batch, qos)
	}
}

// Acked returns the counters of acknowledged messages, ascending.
func (d *Device) Acked() []int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := slices.Clone(d.acked)
	slices.Sort(out)
	return out
}

// Sent is how many messages the device has tried to publish.
func (d *Device) Sent() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.next - 1
}

// Failed is how many publishes ended without an acknowledgement.
func (d *Device) Failed() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failed
}

// Payload is the content of message counter of device id (an ID without
// '.'): "<id>#<counter>", then dots up to size bytes.
func Payload(id string, counter, size int) []byte {
	s := fmt.Sprintf("%s#%08d", id, counter)
	if len(s) < size {
		s += strings.Repeat(".", size-len(s))
	}
	return []byte(s)
}

// randomPad replaces the padding after a payload's first dot with random
// letters.
func randomPad(p []byte) {
	if i := bytes.IndexByte(p, '.'); i >= 0 {
		for j := i + 1; j < len(p); j++ {
			p[j] = 'a' + byte(rand.IntN(26))
		}
	}
}

// ParsePayload is the inverse of Payload; the padding starts at the first
// dot.
func ParsePayload(b []byte) (id string, counter int, ok bool) {
	s := string(b)
	if k := strings.IndexByte(s, '.'); k >= 0 {
		s = s[:k]
	}
	i := strings.LastIndexByte(s, '#')
	if i < 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(s[i+1:])
	return s[:i], n, err == nil
}
