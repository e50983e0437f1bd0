package testkit

import (
	"context"
	"fmt"
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
	// Topic is the publish topic (default "telemetry/<id>/seq").
	Topic string
}

// Device is one MQTT client that publishes numbered messages and records,
// exactly, which of them the broker acknowledged (PUBACK for QoS 1, PUBCOMP
// for QoS 2). Its payloads are "<id>#<counter>" (padded), so the hub side
// can tell every message apart.
type Device struct {
	ID     string
	opts   DeviceOptions
	client mqtt.Client

	mu     sync.Mutex // protects acked, failed, next
	acked  []int
	failed int
	next   int
}

// NewDevice connects a device to broker ("tcp://127.0.0.1:1883"), retrying
// the first connection until it succeeds or 60 s pass, and reconnecting on
// its own afterwards.
func NewDevice(t testing.TB, broker, id string, o DeviceOptions) *Device {
	t.Helper()
	if o.InFlight == 0 {
		o.InFlight = 20
	}
	if o.Topic == "" {
		o.Topic = "telemetry/" + id + "/seq"
	}
	opts := mqtt.NewClientOptions().AddBroker(broker).SetClientID(id).
		SetUsername(o.Username).SetPassword(o.Password).
		SetCleanSession(true).SetAutoReconnect(true).SetConnectRetry(true).
		SetConnectRetryInterval(200 * time.Millisecond).SetMaxReconnectInterval(time.Second).
		SetOrderMatters(false).SetWriteTimeout(10 * time.Second)
	d := &Device{ID: id, opts: o, client: mqtt.NewClient(opts), next: 1}
	tok := d.client.Connect()
	if !tok.WaitTimeout(60*time.Second) || tok.Error() != nil {
		t.Fatalf("device %s: connect to %s: %v", id, broker, tok.Error())
	}
	t.Cleanup(func() { d.client.Disconnect(100) })
	return d
}

// Payload is the content of message counter of device id.
func Payload(id string, counter, size int) []byte {
	s := fmt.Sprintf("%s#%08d", id, counter)
	if len(s) < size {
		s += strings.Repeat(".", size-len(s))
	}
	return []byte(s)
}

// ParsePayload is the inverse of Payload.
func ParsePayload(b []byte) (id string, counter int, ok bool) {
	s := strings.TrimRight(string(b), ".")
	i := strings.LastIndexByte(s, '#')
	if i < 0 {
		return "", 0, false
	}
	n, err := strconv.Atoi(s[i+1:])
	return s[:i], n, err == nil
}

// Publish sends n more numbered messages at qos, keeping up to InFlight
// unacknowledged, and returns once every one is acknowledged or has failed
// (or ctx ends). A failed publish is not retried: it counts as unacknowledged.
func (d *Device) Publish(ctx context.Context, n int, qos byte) {
	sem := make(chan struct{}, d.opts.InFlight)
	var wg sync.WaitGroup
	for i := 0; i < n && ctx.Err() == nil; i++ {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			continue
		}
		d.mu.Lock()
		c := d.next
		d.next++
		d.mu.Unlock()
		tok := d.client.Publish(d.opts.Topic, qos, false, Payload(d.ID, c, d.opts.PayloadSize))
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			ok := tok.WaitTimeout(60*time.Second) && tok.Error() == nil
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
