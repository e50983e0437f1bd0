package shipper

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgelog/edgelog/agent"
	"github.com/edgelog/edgelog/record"
	"github.com/edgelog/edgelog/syncproto"
	"github.com/edgelog/edgelog/syncproto/quictransport"
	"github.com/edgelog/edgelog/wal"
	"golang.org/x/time/rate"
)

// Shipper replicates one WAL to the hub. It implements agent.Syncer.
type Shipper struct {
	cfg     Config
	wal     *wal.Log
	onAcked func(seq uint64) error
	agentID string
	dialer  *quictransport.Dialer
	comp    *syncproto.Compressor // nil when compression is disabled
	limiter *rate.Limiter         // nil when the upload rate is not capped
	burst   int
	log     *slog.Logger
	metrics *metrics

	acked     atomic.Uint64 // highest sequence the hub reported durable
	sessions  atomic.Uint64 // sessions established, since start
	rawTotal  atomic.Uint64 // batch bytes before compression, since start
	wireTotal atomic.Uint64 // batch bytes as sent, since start
	lag       atomic.Pointer[lagSample]

	mu     sync.Mutex // protects status
	status agent.SyncStatus
}

// lagSample is the latest estimate of what the hub does not hold yet.
type lagSample struct {
	records, bytes uint64
	oldest         time.Duration
}

// New returns a Shipper for log. onHubAcked receives every sequence the hub
// reports as durably merged (typically agent.Agent.SetHubAcked).
func New(log *wal.Log, onHubAcked func(seq uint64) error, cfg Config) (*Shipper, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(cfg.Registry)
	if err != nil {
		return nil, fmt.Errorf("shipper: metrics: %w", err)
	}
	s := &Shipper{
		cfg: cfg, wal: log, onAcked: onHubAcked, agentID: cfg.Credentials.AgentID,
		dialer: quictransport.NewDialer(cfg.Credentials.ClientTLS(), cfg.QUIC),
		log:    cfg.Logger.With("hub", cfg.Hub), metrics: m,
		status: agent.SyncStatus{Hub: cfg.Hub},
	}
	if !cfg.DisableCompression {
		if s.comp, err = syncproto.NewCompressor(); err != nil {
			return nil, err
		}
	}
	if cfg.MaxUploadRate > 0 {
		s.burst = int(min(max(cfg.MaxUploadRate/10, 16<<10), 1<<20))
		s.limiter = rate.NewLimiter(rate.Limit(cfg.MaxUploadRate), s.burst)
	}
	s.lag.Store(&lagSample{})
	return s, nil
}

// Acked is the highest sequence the hub has acknowledged.
func (s *Shipper) Acked() uint64 { return s.acked.Load() }

// SyncStatus is a snapshot for the agent's /v1/status.
func (s *Shipper) SyncStatus() agent.SyncStatus {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.status
	st.AckedSeq = s.acked.Load()
	return st
}

// Run ships until ctx ends, reconnecting as needed; it returns nil after a
// clean stop.
func (s *Shipper) Run(ctx context.Context) error {
	defer func() {
		if s.comp != nil {
			s.comp.Close()
		}
	}()
	var wg sync.WaitGroup
	sctx, stop := context.WithCancel(ctx)
	wg.Go(func() { s.sampleLoop(sctx) })
	defer func() { stop(); wg.Wait() }()

	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			s.metrics.reconnects.Inc()
		}
		established, err := s.session(ctx)
		s.setConnected(false)
		if ctx.Err() != nil {
			return nil
		}
		if established {
			attempt = 0
		}
		code := "transport"
		var pe *syncproto.Error
		if errors.As(err, &pe) {
			code = pe.Code.String()
		}
		s.metrics.sessionErrs.WithLabelValues(code).Inc()
		s.setError(err)
		wait := backoff(s.cfg.BackoffBase, s.cfg.BackoffMax, attempt)
		level := slog.LevelInfo
		if errors.Is(err, syncproto.ErrRevoked) || errors.Is(err, syncproto.ErrUnauthorized) ||
			errors.Is(err, syncproto.ErrEpochConflict) || errors.Is(err, syncproto.ErrBadVersion) {
			level = slog.LevelError
		}
		if errors.Is(err, syncproto.ErrEpochConflict) {
			s.log.Error("sync: the hub holds more of this WAL's epoch than the log has (was the data directory restored from an older copy?); records stay in the WAL. To ship them under a new epoch: stop the agent, run `edgelog wal new-epoch DATA_DIR`, start it")
		}
		s.log.Log(ctx, level, "sync: session ended; reconnecting", "err", err, "established", established, "retry_in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
}

// backoff is full jitter: uniform in [0, min(max, base·2^attempt)].
func backoff(base, maxWait time.Duration, attempt int) time.Duration {
	d := maxWait
	if attempt < 30 && base<<attempt > 0 && base<<attempt < maxWait {
		d = base << attempt
	}
	return time.Duration(rand.Int64N(int64(d) + 1))
}

// noteAcked records that the hub holds everything through seq and tells the
// agent, which trims its WAL. Sequences never go backwards.
func (s *Shipper) noteAcked(seq uint64) {
	for {
		cur := s.acked.Load()
		if seq <= cur {
			return
		}
		if s.acked.CompareAndSwap(cur, seq) {
			break
		}
	}
	s.metrics.ackedSeq.Set(float64(seq))
	if s.onAcked != nil {
		if err := s.onAcked(seq); err != nil {
			s.log.Warn("sync: could not trim the WAL below the hub's ack", "seq", seq, "err", err)
		}
	}
}

func (s *Shipper) setConnected(up bool) {
	s.metrics.connected.Set(b2f(up))
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status.Connected = up
	if up {
		s.status.LastError = ""
		s.status.LastContact = time.Now()
	}
}

func (s *Shipper) touch() {
	s.mu.Lock()
	s.status.LastContact = time.Now()
	s.mu.Unlock()
}

func (s *Shipper) setError(err error) {
	if err == nil {
		return
	}
	s.mu.Lock()
	s.status.LastError = err.Error()
	s.mu.Unlock()
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// sampleLoop refreshes the lag estimate every second.
func (s *Shipper) sampleLoop(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		s.sampleLag()
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// sampleLag estimates the records, bytes and age of what the hub does not
// hold: bytes are prorated from the log's size, the age is read from the
// oldest unacknowledged record.
func (s *Shipper) sampleLag() {
	acked, durable := s.acked.Load(), s.wal.Durable()
	l := &lagSample{}
	if durable > acked {
		l.records = durable - acked
		first, next := s.wal.First(), s.wal.Next()
		if next > first {
			l.bytes = uint64(float64(s.wal.Size()) / float64(next-first) * float64(l.records))
		}
		if r, err := s.wal.NewReader(max(acked+1, first)); err == nil {
			if _, p, ok, err := r.TryNext(); ok && err == nil {
				if rec, err := record.Decode(p); err == nil {
					l.oldest = max(0, time.Since(time.UnixMilli(rec.TimeMs)))
				}
			}
			r.Close()
		}
	}
	s.lag.Store(l)
	s.metrics.lagRecords.Set(float64(l.records))
	s.metrics.lagBytes.Set(float64(l.bytes))
	s.metrics.lagOldest.Set(l.oldest.Seconds())
}
