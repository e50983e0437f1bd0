package sim

import (
	"bytes"
	"context"
	"math/rand/v2"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
)

// Misbehaviours of bad actors.
const (
	BadWrongPassword = "wrong-password" // connect with a wrong password
	BadOversize      = "oversize"       // publish a payload of Config.OversizeBytes
	BadInvalidTopic  = "invalid-topic"  // publish to a topic with a wildcard
	BadOutsideACL    = "outside-acl"    // publish to another device's topic
)

// AllBadKinds lists the misbehaviours.
func AllBadKinds() []string {
	return []string{BadWrongPassword, BadOversize, BadInvalidTopic, BadOutsideACL}
}

// badActor repeats one misbehaviour every BadInterval, each attempt on a
// fresh connection, and counts how the broker answered. Its goroutine owns
// all of it.
type badActor struct {
	cfg    *Config
	c      *badCounters
	kind   string
	id, pw string
	rng    *rand.Rand
}

func (b *badActor) run(ctx context.Context, start, end time.Time) {
	if !sleepCtx(ctx, time.Until(start)) {
		return
	}
	for ctx.Err() == nil && (end.IsZero() || time.Now().Before(end)) {
		b.attempt(ctx)
		wait := time.Duration(float64(b.cfg.BadInterval) * (0.5 + b.rng.Float64()))
		if !end.IsZero() {
			wait = min(wait, time.Until(end))
		}
		if !sleepCtx(ctx, wait) {
			return
		}
	}
}

func (b *badActor) attempt(ctx context.Context) {
	b.c.attempts.Add(1)
	pw := b.pw
	if b.kind == BadWrongPassword {
		pw += "-not-the-password"
	}
	client := mqtt.NewClient(clientOptions(b.cfg, b.id, pw, nil, nil))
	tok := client.Connect()
	if !waitToken(ctx, tok, b.cfg.ConnectTimeout+time.Second) {
		client.Disconnect(0)
		b.c.errors.Add(1)
		return
	}
	connectErr := tok.Error()
	if b.kind == BadWrongPassword {
		if connectErr != nil {
			b.c.refused.Add(1)
		} else {
			b.c.accepted.Add(1)
			client.Disconnect(100)
		}
		return
	}
	if connectErr != nil {
		b.c.errors.Add(1) // could not get in to misbehave
		return
	}
	defer client.Disconnect(100)
	var topic string
	payload := []byte(`{"bad":true}`)
	switch b.kind {
	case BadOversize:
		topic = topicOf(StreamEnv, b.id)
		payload = bytes.Repeat([]byte{'x'}, b.cfg.OversizeBytes)
	case BadInvalidTopic:
		topic = "telemetry/" + b.id + "/+/oops"
	default: // BadOutsideACL
		topic = "telemetry/not-" + b.id + "/intrusion"
	}
	ptok := client.Publish(topic, 1, false, payload)
	if waitToken(ctx, ptok, b.cfg.RefuseTimeout) && ptok.Error() == nil {
		b.c.accepted.Add(1)
		return
	}
	b.c.refused.Add(1) // disconnected, errored or never acknowledged
}

// waitToken waits for tok up to timeout; false if it did not complete.
func waitToken(ctx context.Context, tok mqtt.Token, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-tok.Done():
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}
