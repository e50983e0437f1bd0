package hub

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/edgelog/edgelog/hub/store"
)

// Topic returns the named topic.
func (b *Broker) Topic(name string) (*Topic, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if b.closed {
		return nil, ErrClosed
	}
	t, ok := b.topics[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownTopic, name)
	}
	return t, nil
}

// Partition returns one partition of a topic.
func (b *Broker) Partition(topic string, partition int32) (*store.Partition, error) {
	t, err := b.Topic(topic)
	if err != nil {
		return nil, err
	}
	p := t.Partition(partition)
	if p == nil {
		return nil, fmt.Errorf("%w: %s/%d", ErrUnknownPartition, topic, partition)
	}
	return p, nil
}

// Topics returns every topic, sorted by name.
func (b *Broker) Topics() []*Topic {
	b.mu.RLock()
	out := make([]*Topic, 0, len(b.topics))
	for _, t := range b.topics {
		out = append(out, t)
	}
	b.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// EnsureTopic returns the named topic, creating it with the configured
// settings if it does not exist.
func (b *Broker) EnsureTopic(ctx context.Context, name string) (t *Topic, created bool, err error) {
	if t, err := b.Topic(name); err == nil || !errors.Is(err, ErrUnknownTopic) {
		return t, false, err
	}
	t, err = b.CreateTopic(ctx, name, TopicConfig{})
	if errors.Is(err, ErrTopicExists) {
		t, err = b.Topic(name)
		return t, false, err
	}
	return t, err == nil, err
}

// CreateTopic creates a topic; zero fields of tc take the configured
// defaults for that name.
func (b *Broker) CreateTopic(ctx context.Context, name string, tc TopicConfig) (*Topic, error) {
	if err := ValidTopicName(name); err != nil {
		return nil, err
	}
	if tc.Partitions < 0 || tc.Partitions > maxPartitions {
		return nil, fmt.Errorf("%w: %d", ErrInvalidPartitions, tc.Partitions)
	}
	explicit := tc
	tc = b.cfg.topicDefaults(name, tc)
	b.createMu.Lock()
	defer b.createMu.Unlock()
	if _, err := b.Topic(name); err == nil {
		return nil, fmt.Errorf("%w: %s", ErrTopicExists, name)
	} else if !errors.Is(err, ErrUnknownTopic) {
		return nil, err
	}
	t, err := b.openTopic(name, tc)
	if err != nil {
		return nil, err
	}
	m := topicMeta{Partitions: tc.Partitions, RetentionMs: explicit.RetentionAge.Milliseconds(), RetentionBytes: explicit.RetentionBytes, SegmentBytes: explicit.SegmentBytes, CreatedMs: time.Now().UnixMilli()}
	if explicit.RetentionAge < 0 {
		m.RetentionMs = -1
	}
	val, _ := json.Marshal(m)
	if err := b.kv.Put(ctx, store.KVEntry{Key: kvTopicPrefix + name, Value: val}); err != nil {
		for _, p := range t.parts {
			p.Remove()
		}
		return nil, fmt.Errorf("hub: create topic %s: %w", name, err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		for _, p := range t.parts {
			p.Close()
		}
		return nil, ErrClosed
	}
	b.topics[name] = t
	b.log.Info("hub: topic created", "topic", name, "partitions", tc.Partitions)
	return t, nil
}

// DeleteTopic deletes a topic, its data and the offsets committed for it.
func (b *Broker) DeleteTopic(ctx context.Context, name string) error {
	b.createMu.Lock()
	defer b.createMu.Unlock()
	t, err := b.Topic(name)
	if err != nil {
		return err
	}
	ents := []store.KVEntry{{Key: kvTopicPrefix + name}}
	b.kv.Range(kvOffsetPrefix, func(key string, _ []byte) bool {
		if _, topic, _, ok := parseOffsetKey(key); ok && topic == name {
			ents = append(ents, store.KVEntry{Key: key})
		}
		return true
	})
	if err := b.kv.Put(ctx, ents...); err != nil {
		return fmt.Errorf("hub: delete topic %s: %w", name, err)
	}
	b.mu.Lock()
	delete(b.topics, name)
	b.mu.Unlock()
	for _, p := range t.parts {
		p.Close()
	}
	if err := os.RemoveAll(filepath.Join(b.cfg.Dir, topicsDir, name)); err != nil {
		return fmt.Errorf("hub: delete topic %s: %w", name, err)
	}
	b.log.Info("hub: topic deleted", "topic", name)
	return nil
}
