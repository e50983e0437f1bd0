package hub

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/edgelog/edgelog/hub/store"
	"github.com/edgelog/edgelog/internal/vfs"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults of Config.
const (
	DefaultDir            = "./edgelog-hub"
	DefaultPartitions     = 8
	DefaultRetentionAge   = 7 * 24 * time.Hour
	DefaultSegmentBytes   = 64 << 20
	DefaultSegmentAge     = time.Hour
	DefaultFsyncInterval  = 50 * time.Millisecond
	DefaultRetentionCheck = time.Minute
	maxPartitions         = 10000
)

// Config configures a Broker. The zero value means the defaults; Open calls
// validate, which fills them in and rejects contradictions.
type Config struct {
	Dir        string // all hub state (default ./edgelog-hub)
	Partitions int    // partitions of a newly created topic (default 8)

	// Topics are per-topic settings: a topic named here is created at
	// start with them if it does not exist, and created later (by ingest,
	// Produce, Metadata or CreateTopics without explicit counts) with
	// them. Zero fields take the hub-wide values.
	Topics map[string]TopicConfig

	// Routes map MQTT topics to hub topics, first match wins; records no
	// route matches go to their first MQTT topic level (sanitized).
	Routes []Route

	Fsync         store.SyncPolicy // SyncAlways (default), SyncInterval, SyncNever
	FsyncInterval time.Duration    // period of background fsyncs under SyncInterval (default 50ms)

	// Retention defaults for topics: RetentionAge 0 means 7 days,
	// negative keeps forever; RetentionBytes 0 or negative means no size
	// limit (per partition, as Kafka's retention.bytes).
	RetentionAge   time.Duration
	RetentionBytes int64
	SegmentBytes   int64         // roll segments past this size (default 64 MiB)
	SegmentAge     time.Duration // roll segments older than this (default 1h)
	RetentionCheck time.Duration // how often retention runs (default 1m)

	// DisableAutoCreate stops Metadata and Produce from creating unknown
	// topics (Kafka's auto.create.topics.enable=false). Agent ingest
	// always creates its topics.
	DisableAutoCreate bool

	// ListenSync is the agents' QUIC endpoint address; the broker only
	// carries it for the sync layer and reports it in Status.
	ListenSync string

	MaxBatch int                  // largest accepted record batch (default 16 MiB)
	Logger   *slog.Logger         // nil: discard
	Registry *prometheus.Registry // nil: a new one (see Broker.Registry)
	FS       vfs.FS               // nil: the real filesystem (tests inject faults)
}

// TopicConfig is one topic's settings; zero fields mean the hub defaults.
type TopicConfig struct {
	Partitions     int           `json:"partitions"`
	RetentionAge   time.Duration `json:"retention_ms"`    // negative: forever
	RetentionBytes int64         `json:"retention_bytes"` // negative: no limit
	SegmentBytes   int64         `json:"segment_bytes"`
}

// Route sends MQTT topics matching Filter (MQTT wildcards + and #) to the
// hub topic Topic.
type Route struct {
	Filter string
	Topic  string
}

func (c *Config) validate() error {
	if c.Dir == "" {
		c.Dir = DefaultDir
	}
	if c.Partitions == 0 {
		c.Partitions = DefaultPartitions
	}
	if c.Partitions < 1 || c.Partitions > maxPartitions {
		return fmt.Errorf("%w: partitions %d (1..%d)", ErrInvalidConfig, c.Partitions, maxPartitions)
	}
	if c.Fsync < store.SyncAlways || c.Fsync > store.SyncNever {
		return fmt.Errorf("%w: fsync policy %d", ErrInvalidConfig, c.Fsync)
	}
	if c.FsyncInterval <= 0 {
		c.FsyncInterval = DefaultFsyncInterval
	}
	if c.RetentionAge == 0 {
		c.RetentionAge = DefaultRetentionAge
	}
	if c.RetentionBytes == 0 {
		c.RetentionBytes = -1
	}
	if c.SegmentBytes == 0 {
		c.SegmentBytes = DefaultSegmentBytes
	}
	if c.SegmentBytes < 1024 {
		return fmt.Errorf("%w: segment bytes %d (at least 1024)", ErrInvalidConfig, c.SegmentBytes)
	}
	if c.SegmentAge <= 0 {
		c.SegmentAge = DefaultSegmentAge
	}
	if c.RetentionCheck <= 0 {
		c.RetentionCheck = DefaultRetentionCheck
	}
	if c.MaxBatch <= 0 {
		c.MaxBatch = 16 << 20
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
	if c.FS == nil {
		c.FS = vfs.OS{}
	}
	for name, tc := range c.Topics {
		if err := ValidTopicName(name); err != nil {
			return fmt.Errorf("%w: topics: %w", ErrInvalidConfig, err)
		}
		if tc.Partitions < 0 || tc.Partitions > maxPartitions {
			return fmt.Errorf("%w: topic %s: partitions %d", ErrInvalidConfig, name, tc.Partitions)
		}
		if tc.SegmentBytes != 0 && tc.SegmentBytes < 1024 {
			return fmt.Errorf("%w: topic %s: segment bytes %d", ErrInvalidConfig, name, tc.SegmentBytes)
		}
	}
	for _, r := range c.Routes {
		if err := validFilter(r.Filter); err != nil {
			return fmt.Errorf("%w: route %q: %w", ErrInvalidConfig, r.Filter, err)
		}
		if err := ValidTopicName(r.Topic); err != nil {
			return fmt.Errorf("%w: route %q: %w", ErrInvalidConfig, r.Filter, err)
		}
	}
	return nil
}

// topicDefaults returns the effective settings of a new topic named name;
// explicit (non-zero) fields of req win.
func (c *Config) topicDefaults(name string, req TopicConfig) TopicConfig {
	out := TopicConfig{Partitions: c.Partitions, RetentionAge: c.RetentionAge, RetentionBytes: c.RetentionBytes, SegmentBytes: c.SegmentBytes}
	merge := func(tc TopicConfig) {
		if tc.Partitions > 0 {
			out.Partitions = tc.Partitions
		}
		if tc.RetentionAge != 0 {
			out.RetentionAge = tc.RetentionAge
		}
		if tc.RetentionBytes != 0 {
			out.RetentionBytes = tc.RetentionBytes
		}
		if tc.SegmentBytes > 0 {
			out.SegmentBytes = tc.SegmentBytes
		}
	}
	merge(c.Topics[name])
	merge(req)
	return out
}

// validFilter checks an MQTT topic filter's wildcard placement.
func validFilter(f string) error {
	if f == "" {
		return fmt.Errorf("empty filter")
	}
	levels := strings.Split(f, "/")
	for i, l := range levels {
		switch {
		case l == "#" && i != len(levels)-1:
			return fmt.Errorf("# must be the last level")
		case l != "#" && l != "+" && strings.ContainsAny(l, "+#"):
			return fmt.Errorf("wildcards must fill a whole level")
		}
	}
	return nil
}

// matchFilter reports whether MQTT topic t matches filter f.
func matchFilter(f, t string) bool {
	for {
		fl, frest, fmore := strings.Cut(f, "/")
		if fl == "#" {
			return true
		}
		tl, trest, tmore := strings.Cut(t, "/")
		if fl != "+" && fl != tl {
			return false
		}
		if !fmore || !tmore {
			return fmore == tmore || (!tmore && frest == "#")
		}
		f, t = frest, trest
	}
}

// Check validates c as Open would, without opening anything.
func (c Config) Check() error { return c.validate() }
