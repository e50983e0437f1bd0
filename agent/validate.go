package agent

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/edgelog/edgelog/record"
)

// topicAliasMaximum is advertised to MQTT 5 clients; it bounds the memory
// a client can pin with inbound topic aliases.
const topicAliasMaximum = 16

// maxClientID bounds client IDs (the MQTT minimum is 23; records allow 256).
const maxClientID = 128

// checkClientID validates a client ID: 1..128 bytes of printable UTF-8
// without MQTT wildcards.
func checkClientID(id string) error {
	switch {
	case id == "":
		return fmt.Errorf("%w: empty client ID", ErrInvalidPublish)
	case len(id) > maxClientID:
		return fmt.Errorf("%w: client ID of %d bytes (limit %d)", ErrInvalidPublish, len(id), maxClientID)
	case !utf8.ValidString(id):
		return fmt.Errorf("%w: client ID is not UTF-8", ErrInvalidPublish)
	case strings.ContainsAny(id, "+#"):
		return fmt.Errorf("%w: client ID contains a wildcard", ErrInvalidPublish)
	}
	for _, r := range id {
		if !unicode.IsPrint(r) || r == ' ' {
			return fmt.Errorf("%w: client ID contains %q", ErrInvalidPublish, r)
		}
	}
	return nil
}

// checkPublish validates what the agent stores of a publish before mochi
// processes it: a bad one gets a reason instead of being dropped silently
// (mochi ignores publishes to $-topics without an ack) or failing later.
// It returns the reason label and a description.
func checkPublish(pk *packets.Packet) (reason string, err error) {
	t := pk.TopicName
	switch {
	case t == "" && pk.Properties.TopicAlias == 0:
		return reasonTopic, fmt.Errorf("%w: empty topic", ErrInvalidPublish)
	case len(t) > record.MaxTopic:
		return reasonTopic, fmt.Errorf("%w: topic of %d bytes (limit %d)", ErrInvalidPublish, len(t), record.MaxTopic)
	case strings.HasPrefix(t, "$"):
		return reasonTopic, fmt.Errorf("%w: topic %q: topics starting with $ are reserved", ErrInvalidPublish, t)
	case strings.ContainsAny(t, "+#\x00"):
		return reasonTopic, fmt.Errorf("%w: topic %q contains a wildcard or NUL", ErrInvalidPublish, t)
	case !utf8.ValidString(t):
		return reasonTopic, fmt.Errorf("%w: topic is not UTF-8", ErrInvalidPublish)
	}
	p := &pk.Properties
	if len(p.ContentType) > record.MaxContentType {
		return reasonProperties, fmt.Errorf("%w: content type of %d bytes (limit %d)", ErrInvalidPublish, len(p.ContentType), record.MaxContentType)
	}
	if !utf8.ValidString(p.ContentType) {
		return reasonProperties, fmt.Errorf("%w: content type is not UTF-8", ErrInvalidPublish)
	}
	if len(p.User) > record.MaxUserProps {
		return reasonProperties, fmt.Errorf("%w: %d user properties (limit %d)", ErrInvalidPublish, len(p.User), record.MaxUserProps)
	}
	for _, u := range p.User {
		if len(u.Key) > record.MaxPropLen || len(u.Val) > record.MaxPropLen {
			return reasonProperties, fmt.Errorf("%w: user property over %d bytes", ErrInvalidPublish, record.MaxPropLen)
		}
		if !utf8.ValidString(u.Key) || !utf8.ValidString(u.Val) {
			return reasonProperties, fmt.Errorf("%w: user property is not UTF-8", ErrInvalidPublish)
		}
	}
	return "", nil
}

// userProps converts MQTT 5 user properties to the record's.
func userProps(in []packets.UserProperty) []record.Property {
	if len(in) == 0 {
		return nil
	}
	out := make([]record.Property, len(in))
	for i, u := range in {
		out[i] = record.Property{Key: u.Key, Value: u.Val}
	}
	return out
}
