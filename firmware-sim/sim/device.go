package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// device is one simulated device. Its goroutine (run) owns every field
// except those under connMu and the lost channel, which paho's goroutines
// touch.
type device struct {
	cfg     *Config
	c       *counters
	id, pw  string
	beh     behaviour
	rng     *rand.Rand
	models  *models
	clock   deviceClock
	streams []string
	next    int    // index of the next stream to sample
	seq     uint64 // last sequence number used
	q       *queue
	client  mqtt.Client
	lost    chan struct{} // paho reports a lost connection here (buffered 1)
	started bool          // connected at least once

	sampleAt time.Time   // when the next reading is due
	sampler  *time.Timer // fires at sampleAt; nil once sampling is over
	end      *time.Timer // fires when the run's Duration is over; nil if none or over

	connMu sync.Mutex
	conn   *killableConn // the live connection, for chaos kills; protected by connMu
}

// inflight is a published message awaiting its token.
type inflight struct {
	m    message
	tok  mqtt.Token
	sent time.Time
}

func newDevice(cfg *Config, c *counters, idx int, id, pw string, seed uint64) *device {
	rng := rand.New(rand.NewPCG(seed, uint64(idx)))
	d := &device{
		cfg: cfg, c: c, id: id, pw: pw, rng: rng,
		beh:     cfg.behaviourOf(rng),
		models:  newModels(rng, cfg.DayLength),
		clock:   newClock(rng, cfg.ClockOffset, cfg.ClockDriftPPM),
		streams: cfg.Streams,
		next:    idx % len(cfg.Streams),
		q:       newQueue(cfg.QueueSize, cfg.DropPolicy == DropOldest),
		lost:    make(chan struct{}, 1),
	}
	d.client = mqtt.NewClient(clientOptions(cfg, id, pw, d.dial, func() {
		select {
		case d.lost <- struct{}{}:
		default:
		}
	}))
	return d
}

// clientOptions are the paho options every simulated connection uses: one
// clean session per connection, no automatic reconnect (the device decides
// when to reconnect) and MQTT 3.1.1. The username is the client ID.
func clientOptions(cfg *Config, id, pw string, dial mqtt.OpenConnectionFunc, onLost func()) *mqtt.ClientOptions {
	o := mqtt.NewClientOptions().AddBroker(cfg.Broker).SetClientID(id).
		SetCleanSession(true).SetAutoReconnect(false).SetConnectRetry(false).
		SetConnectTimeout(cfg.ConnectTimeout).SetWriteTimeout(10 * time.Second).
		SetKeepAlive(30 * time.Second).SetPingTimeout(10 * time.Second).
		SetOrderMatters(false).SetProtocolVersion(4)
	if pw != "" {
		o.SetUsername(id).SetPassword(pw)
	}
	if dial != nil {
		o.SetCustomOpenConnectionFn(dial)
	}
	if onLost != nil {
		o.SetConnectionLostHandler(func(mqtt.Client, error) { onLost() })
	}
	return o
}

// dial opens the TCP connection for paho and remembers it for chaos kills.
func (d *device) dial(u *url.URL, o mqtt.ClientOptions) (net.Conn, error) {
	conn, err := (&net.Dialer{Timeout: o.ConnectTimeout}).Dial("tcp", u.Host)
	if err != nil {
		return nil, err
	}
	kc := &killableConn{Conn: conn}
	d.connMu.Lock()
	d.conn = kc
	d.connMu.Unlock()
	return kc, nil
}

// kill drops the connection under paho's feet, as a dead link would.
func (d *device) kill() {
	d.connMu.Lock()
	defer d.connMu.Unlock()
	if d.conn != nil && d.conn.kill() {
		d.c.chaosKills.Add(1)
	}
}

// errLinkDown is what a killed connection's reads and writes return. paho
// takes a plain "use of closed network connection" for its own doing and
// would not report the loss, so a kill must look like a network failure.
var errLinkDown = errors.New("sim: link down (chaos)")

// killableConn is a TCP connection that chaos mode can break.
type killableConn struct {
	net.Conn
	killed atomic.Bool
}

func (c *killableConn) kill() bool {
	if c.killed.Swap(true) {
		return false
	}
	c.Conn.Close()
	return true
}

func (c *killableConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if c.killed.Load() {
		return 0, errLinkDown
	}
	return n, err
}

func (c *killableConn) Write(b []byte) (int, error) {
	if c.killed.Load() {
		return 0, errLinkDown
	}
	return c.Conn.Write(b)
}

// run is the device's life: sample, connect, publish, lose the link or
// sleep, back off, reconnect — until sampling is over and the queue is
// drained, or ctx ends. start is when it powers on, end when sampling stops
// (zero: never).
func (d *device) run(ctx context.Context, start, end time.Time) {
	defer func() {
		if d.sampler != nil {
			d.sampler.Stop()
		}
		if d.end != nil {
			d.end.Stop()
		}
		d.c.unsent.Add(uint64(d.q.len()))
		d.c.queued.Add(-int64(d.q.len()))
	}()
	if !sleepCtx(ctx, time.Until(start)) {
		return
	}
	d.sampleAt = time.Now()
	d.sampler = time.NewTimer(0)
	if !end.IsZero() {
		d.end = time.NewTimer(time.Until(end))
	}
	bo := backoff{min: d.cfg.BackoffMin, max: d.cfg.BackoffMax, rng: d.rng}
	var awakeUntil time.Time
	for ctx.Err() == nil {
		if d.sampler == nil && d.q.len() == 0 {
			return // sampled everything and delivered or dropped it
		}
		if d.beh.sleep > 0 && d.sampler != nil {
			if awakeUntil.IsZero() {
				awakeUntil = time.Now().Add(d.jitter(d.beh.wake))
			} else if !time.Now().Before(awakeUntil) {
				d.c.sleeps.Add(1)
				d.idle(ctx, d.jitter(d.beh.sleep), true)
				awakeUntil = time.Time{}
				continue
			}
		}
		if err := d.connect(ctx); err != nil {
			d.c.connectFailures.Add(1)
			d.cfg.Logger.Debug("connect failed", "device", d.id, "err", err)
			d.idle(ctx, bo.next(), false)
			continue
		}
		bo.reset()
		d.session(ctx, awakeUntil)
	}
}

// jitter spreads d by ±20%.
func (d *device) jitter(x time.Duration) time.Duration {
	return time.Duration(float64(x) * (0.8 + 0.4*d.rng.Float64()))
}

// sleepCtx waits for d or ctx; it reports false if ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func timerC(t *time.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C
}

// idle waits for dur (backoff or sleep) while still sampling into the queue.
// A sleep ends early when sampling is over, so the queue gets drained.
func (d *device) idle(ctx context.Context, dur time.Duration, isSleep bool) {
	t := time.NewTimer(dur)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			return
		case <-timerC(d.sampler):
			d.sample()
		case <-timerC(d.end):
			d.stopSampling()
			if isSleep {
				return
			}
		}
	}
}

// sample takes the next reading into the queue and schedules the one after.
func (d *device) sample() {
	stream := d.streams[d.next]
	d.next = (d.next + 1) % len(d.streams)
	var reading any
	now := d.clock.now()
	switch stream {
	case StreamEnv:
		reading = d.models.env(now)
	case StreamCounter:
		reading = d.models.counter(now)
	case StreamGPS:
		reading = d.models.gps(now)
	default:
		reading = d.models.log()
	}
	d.seq++
	h := Header{ID: d.id, Seq: d.seq, TimeMs: now.UnixMilli()}
	payload, err := encodePayload(d.cfg.Format, h, stream, reading, d.cfg.PayloadPad)
	if err != nil { // cannot happen for these types; count it as dropped rather than hide it
		d.cfg.Logger.Error("encode payload", "device", d.id, "err", err)
		d.c.dropped.Add(1)
	} else {
		d.enqueue(message{topic: topicOf(stream, d.id), qos: d.cfg.qosOf(stream), seq: d.seq, payload: payload, sampled: time.Now()})
	}
	d.c.generated.Add(1)
	period := time.Duration(float64(time.Second) / d.cfg.Rate)
	d.sampleAt = d.sampleAt.Add(time.Duration(float64(period) * (0.9 + 0.2*d.rng.Float64())))
	if floor := time.Now().Add(-time.Second); d.sampleAt.Before(floor) {
		// Fell behind (a blocked publish, an overloaded machine): catch up
		// on at most one second of readings, as a sensor buffer would.
		d.sampleAt = floor
	}
	d.sampler.Reset(time.Until(d.sampleAt))
}

// topicOf is where a stream publishes: telemetry/ID/STREAM, and logs/ID.
func topicOf(stream, id string) string {
	if stream == StreamLog {
		return "logs/" + id
	}
	return "telemetry/" + id + "/" + stream
}

func (d *device) enqueue(m message) {
	if d.q.push(m) {
		d.c.dropped.Add(1)
		return
	}
	d.c.queued.Add(1)
}

func (d *device) stopSampling() {
	if d.sampler != nil {
		d.sampler.Stop()
		d.sampler = nil
	}
	d.end = nil
}

// errConnectTimeout: no CONNACK within Config.ConnectTimeout.
var errConnectTimeout = errors.New("sim: connect timed out")

// connect opens a session, sampling meanwhile.
func (d *device) connect(ctx context.Context) error {
	select { // forget a loss reported for the previous connection
	case <-d.lost:
	default:
	}
	tok := d.client.Connect()
	t := time.NewTimer(d.cfg.ConnectTimeout + time.Second)
	defer t.Stop()
	for {
		select {
		case <-tok.Done():
			if err := tok.Error(); err != nil {
				return fmt.Errorf("connect %s: %w", d.id, err)
			}
			d.c.connects.Add(1)
			d.c.connected.Add(1)
			if d.started {
				d.c.reconnects.Add(1)
			}
			d.started = true
			return nil
		case <-t.C:
			d.client.Disconnect(0)
			return errConnectTimeout
		case <-ctx.Done():
			d.client.Disconnect(0)
			return ctx.Err()
		case <-timerC(d.sampler):
			d.sample()
		case <-timerC(d.end):
			d.stopSampling()
		}
	}
}

// backoff is exponential with jitter: the n-th wait is uniform in
// [d/2, d] with d = min·2ⁿ capped at max, so a fleet that lost its gateway
// at once does not reconnect in lockstep.
type backoff struct {
	min, max time.Duration
	rng      *rand.Rand
	n        int
}

func (b *backoff) next() time.Duration {
	d := b.min
	for i := 0; i < b.n && d < b.max; i++ {
		d *= 2
	}
	d = min(d, b.max)
	b.n++
	return d/2 + time.Duration(b.rng.Int64N(int64(d/2)+1))
}

func (b *backoff) reset() { b.n = 0 }
