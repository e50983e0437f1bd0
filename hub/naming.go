package hub

import (
	"fmt"
	"strings"
)

// maxTopicName is Kafka's limit on topic names.
const maxTopicName = 249

// ValidTopicName checks a hub topic name against Kafka's rules: 1 to 249
// characters from [A-Za-z0-9._-], and not "." or "..".
func ValidTopicName(name string) error {
	if name == "" || len(name) > maxTopicName || name == "." || name == ".." {
		return fmt.Errorf("%w: %q", ErrInvalidTopic, name)
	}
	for i := 0; i < len(name); i++ {
		if !topicChar(name[i]) {
			return fmt.Errorf("%w: %q (character %q)", ErrInvalidTopic, name, name[i])
		}
	}
	return nil
}

func topicChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-'
}

// TopicForMQTT is the default hub topic of an MQTT topic: its first level
// with every character outside [A-Za-z0-9._-] replaced by '_', cut to 249
// characters. An empty first level (a topic starting with '/') becomes "_", and
// "." and ".." become "_" and "__".
func TopicForMQTT(mqttTopic string) string {
	first, _, _ := strings.Cut(mqttTopic, "/")
	b := make([]byte, 0, len(first))
	for _, c := range first {
		if c < 0x80 && topicChar(byte(c)) {
			b = append(b, byte(c))
		} else {
			b = append(b, '_')
		}
		if len(b) == maxTopicName {
			break
		}
	}
	switch s := string(b); s {
	case "", ".":
		return "_"
	case "..":
		return "__"
	default:
		return s
	}
}

// route returns the hub topic of an MQTT topic under the configured routes.
func (c *Config) route(mqttTopic string) string {
	for _, r := range c.Routes {
		if matchFilter(r.Filter, mqttTopic) {
			return r.Topic
		}
	}
	return TopicForMQTT(mqttTopic)
}

// Murmur2 is the 32-bit murmur2 hash Kafka's default partitioner uses (seed
// 0x9747b28c), as Java's and franz-go's clients compute it.
func Murmur2(data []byte) int32 {
	const (
		seed uint32 = 0x9747b28c
		m    uint32 = 0x5bd1e995
		r           = 24
	)
	n := len(data)
	h := seed ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[n&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return int32(h)
}

// PartitionForKey is Kafka's default partitioner for a keyed record:
// (murmur2(key) & 0x7fffffff) % n.
func PartitionForKey(key []byte, n int) int32 {
	return int32((Murmur2(key) & 0x7fffffff) % int32(n))
}
