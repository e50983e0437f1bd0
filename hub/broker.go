package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/edgelog/edgelog/hub/store"
	"github.com/prometheus/client_golang/prometheus"
)

// Broker owns the hub's state: topics and their partition logs, committed
// consumer-group offsets, producer IDs, and per-agent ingest state. It is
// safe for concurrent use; the Kafka listener, the HTTP API and agent
// ingest all go through it.
type Broker struct {
	cfg     Config
	log     *slog.Logger
	kv      *store.KV
	lock    *os.File
	started time.Time
	metrics *metrics

	ctx    context.Context // cancelled by Close; background work and merge completions use it
	cancel context.CancelFunc
	wg     sync.WaitGroup

	// createMu serializes topic creation and deletion; the disk work runs
	// under it, outside mu.
	createMu sync.Mutex

	mu     sync.RWMutex // protects topics and closed
	topics map[string]*Topic
	closed bool

	agentsMu sync.Mutex             // protects agents and status
	agents   map[string]*agentState // by producer key (agent ID and WAL epoch)
	status   map[string]*AgentStatus

	pidMu    sync.Mutex // protects nextPID and pidLimit
	nextPID  int64
	pidLimit int64

	// testHookBeforePersist, set only by tests before any merge, runs
	// after a merge's partitions are durable and before its watermark is
	// persisted (the crash test kills the process there).
	testHookBeforePersist func()
}

// Topic is one hub topic: a fixed set of partitions.
type Topic struct {
	name  string
	cfg   TopicConfig
	parts []*store.Partition
}

// Name is the topic's name.
func (t *Topic) Name() string { return t.name }

// Config is the topic's effective settings.
func (t *Topic) Config() TopicConfig { return t.cfg }

// Partitions is the number of partitions.
func (t *Topic) Partitions() int { return len(t.parts) }

// Partition returns partition i, or nil if out of range.
func (t *Topic) Partition(i int32) *store.Partition {
	if i < 0 || int(i) >= len(t.parts) {
		return nil
	}
	return t.parts[i]
}

// topicMeta is a topic's persisted description (KV key "topic/NAME"): its
// partition count, fixed at creation, and the settings given explicitly
// when it was created (CreateTopics configs); zero settings follow the
// hub's configuration as it is at each start.
type topicMeta struct {
	Partitions     int   `json:"partitions"`
	RetentionMs    int64 `json:"retention_ms,omitempty"` // -1: forever
	RetentionBytes int64 `json:"retention_bytes,omitempty"`
	SegmentBytes   int64 `json:"segment_bytes,omitempty"`
	CreatedMs      int64 `json:"created_ms"`
}

const (
	kvTopicPrefix = "topic/"
	lockName      = "LOCK"
	metaName      = "meta.kv"
	topicsDir     = "topics"
)

// Open opens (creating if needed) the hub state in cfg.Dir, recovering every
// partition log, and starts background retention (and interval fsyncs).
// One process at a time: a second Open of the same directory fails.
func Open(cfg Config) (*Broker, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(cfg.Dir, topicsDir), 0o755); err != nil {
		return nil, fmt.Errorf("hub: %w", err)
	}
	lock, err := lockDir(cfg.Dir)
	if err != nil {
		return nil, err
	}
	kv, err := store.OpenKV(cfg.FS, filepath.Join(cfg.Dir, metaName))
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("hub: %w", err)
	}
	if err := checkFormat(context.Background(), kv); err != nil {
		kv.Close()
		lock.Close()
		return nil, err
	}
	b := &Broker{
		cfg: cfg, log: cfg.Logger, kv: kv, lock: lock, started: time.Now(),
		topics: map[string]*Topic{}, agents: map[string]*agentState{}, status: map[string]*AgentStatus{},
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	fail := func(err error) (*Broker, error) {
		b.closeAll()
		return nil, err
	}
	if err := b.loadTopics(); err != nil {
		return fail(err)
	}
	for name := range cfg.Topics {
		if _, _, err := b.EnsureTopic(b.ctx, name); err != nil {
			return fail(err)
		}
	}
	b.loadAgents()
	b.loadProducerIDs()
	m, err := newMetrics(b, cfg.Registry)
	if err != nil {
		return fail(err)
	}
	b.metrics = m
	b.wg.Add(1)
	go b.background()
	return b, nil
}

func lockDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("hub: lock %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("hub: %s is in use by another process: %w", dir, err)
	}
	return f, nil
}

// loadTopics opens every topic recorded in the KV and removes directories
// of topics that are not (left by a crash during create or delete).
func (b *Broker) loadTopics() error {
	var metas []struct {
		name string
		m    topicMeta
	}
	var bad error
	b.kv.Range(kvTopicPrefix, func(key string, val []byte) bool {
		var m topicMeta
		if err := json.Unmarshal(val, &m); err != nil {
			bad = fmt.Errorf("hub: topic record %s: %w", key, err)
			return false
		}
		metas = append(metas, struct {
			name string
			m    topicMeta
		}{key[len(kvTopicPrefix):], m})
		return true
	})
	if bad != nil {
		return bad
	}
	for _, tm := range metas {
		explicit := tm.m.config()
		tc := b.cfg.topicDefaults(tm.name, TopicConfig{RetentionAge: explicit.RetentionAge, RetentionBytes: explicit.RetentionBytes, SegmentBytes: explicit.SegmentBytes})
		tc.Partitions = explicit.Partitions
		if want := b.cfg.Topics[tm.name].Partitions; want > 0 && want != tc.Partitions {
			b.log.Warn("hub: a topic's partition count is fixed at creation; the configured count is ignored", "topic", tm.name, "partitions", tc.Partitions, "configured", want)
		}
		t, err := b.openTopic(tm.name, tc)
		if err != nil {
			return err
		}
		b.topics[tm.name] = t
	}
	ents, err := os.ReadDir(filepath.Join(b.cfg.Dir, topicsDir))
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	for _, e := range ents {
		if _, ok := b.topics[e.Name()]; !ok {
			b.log.Warn("hub: removing a topic directory with no topic record", "dir", e.Name())
			if err := os.RemoveAll(filepath.Join(b.cfg.Dir, topicsDir, e.Name())); err != nil {
				return fmt.Errorf("hub: %w", err)
			}
		}
	}
	return nil
}

func (m topicMeta) config() TopicConfig {
	return TopicConfig{Partitions: m.Partitions, RetentionAge: time.Duration(m.RetentionMs) * time.Millisecond, RetentionBytes: m.RetentionBytes, SegmentBytes: m.SegmentBytes}
}

func (b *Broker) partitionConfig(tc TopicConfig) store.PartitionConfig {
	return store.PartitionConfig{
		SegmentBytes: tc.SegmentBytes, SegmentAge: b.cfg.SegmentAge, MaxBatch: b.cfg.MaxBatch,
		Sync: b.cfg.Fsync, Marks: markBatch, FS: b.cfg.FS, Logger: b.log,
	}
}

func (b *Broker) openTopic(name string, tc TopicConfig) (*Topic, error) {
	t := &Topic{name: name, cfg: tc}
	for i := 0; i < tc.Partitions; i++ {
		p, err := store.OpenPartition(filepath.Join(b.cfg.Dir, topicsDir, name, strconv.Itoa(i)), b.partitionConfig(tc))
		if err != nil {
			for _, p := range t.parts {
				p.Close()
			}
			return nil, fmt.Errorf("hub: topic %s partition %d: %w", name, i, err)
		}
		t.parts = append(t.parts, p)
	}
	return t, nil
}

// AutoCreate reports whether Metadata and Produce may create topics.
func (b *Broker) AutoCreate() bool { return !b.cfg.DisableAutoCreate }

// Config returns the broker's effective configuration.
func (b *Broker) Config() Config { return b.cfg }

// Registry is the broker's Prometheus registry; the Kafka listener and the
// HTTP API register their metrics in it too.
func (b *Broker) Registry() *prometheus.Registry { return b.cfg.Registry }

// Logger is the broker's logger.
func (b *Broker) Logger() *slog.Logger { return b.log }

// background runs retention and, under SyncInterval, periodic fsyncs.
func (b *Broker) background() {
	defer b.wg.Done()
	ret := time.NewTicker(b.cfg.RetentionCheck)
	defer ret.Stop()
	var syncC <-chan time.Time
	if b.cfg.Fsync == store.SyncInterval {
		st := time.NewTicker(b.cfg.FsyncInterval)
		defer st.Stop()
		syncC = st.C
	}
	for {
		select {
		case <-b.ctx.Done():
			return
		case now := <-ret.C:
			b.RunRetention(now)
		case <-syncC:
			for _, t := range b.Topics() {
				for _, p := range t.parts {
					if err := p.Sync(b.ctx); err != nil && !errors.Is(err, store.ErrClosed) && b.ctx.Err() == nil {
						b.log.Error("hub: interval fsync failed", "topic", t.name, "err", err)
					}
				}
			}
		}
	}
}

// RunRetention applies every topic's retention now; it returns the number
// of segments deleted. The background loop calls it every RetentionCheck.
func (b *Broker) RunRetention(now time.Time) int {
	total := 0
	for _, t := range b.Topics() {
		age, size := t.cfg.RetentionAge, t.cfg.RetentionBytes
		if age < 0 {
			age = 0
		}
		if size < 0 {
			size = 0
		}
		if age == 0 && size == 0 {
			continue
		}
		for i, p := range t.parts {
			n, err := p.Retain(now, age, size)
			if err != nil && !errors.Is(err, store.ErrClosed) {
				b.log.Error("hub: retention failed", "topic", t.name, "partition", i, "err", err)
			}
			if n > 0 {
				start, _, _ := p.Offsets()
				b.log.Info("hub: retention deleted segments", "topic", t.name, "partition", i, "segments", n, "log_start", start)
				b.metrics.retained.Add(float64(n))
			}
			total += n
		}
	}
	return total
}

// Close stops background work, waits for in-flight merges, and closes
// every partition and the KV.
func (b *Broker) Close() error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	b.mu.Unlock()
	b.cancel()
	b.wg.Wait()
	if b.metrics != nil {
		b.metrics.unregister()
	}
	return b.closeAll()
}

func (b *Broker) closeAll() error {
	b.cancel()
	b.mu.Lock()
	topics := make([]*Topic, 0, len(b.topics))
	for _, t := range b.topics {
		topics = append(topics, t)
	}
	b.mu.Unlock()
	var first error
	for _, t := range topics {
		for _, p := range t.parts {
			if err := p.Close(); err != nil && first == nil {
				first = err
			}
		}
	}
	if err := b.kv.Close(); err != nil && first == nil {
		first = err
	}
	b.lock.Close()
	return first
}
