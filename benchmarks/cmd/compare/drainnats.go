package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/edgelog/edgelog/benchmarks/internal/loadgen"
	"github.com/edgelog/edgelog/benchmarks/internal/stats"
	"github.com/edgelog/edgelog/benchmarks/internal/sut"
)

// The NATS leaf-node setup of the drain scenario: an edge nats-server
// (JetStream domain natsEdgeDomain, MQTT listener) stores the devices'
// publishes in natsEdgeStream and connects as a leaf node to a central
// nats-server (domain natsHubDomain), whose natsHubStream sources the edge
// stream across the leaf-node connection through the edge's domain-prefixed
// JetStream API.
const (
	natsEdgeDomain = "edge"
	natsHubDomain  = "hub"
	natsEdgeStream = "EDGE"
	natsHubStream  = "CENTRAL"

	// natsProbeSubject is in the edge stream; its one message (the
	// JetStream publish acknowledgement is the reply) precedes the backlog
	// in both streams.
	natsProbeSubject = "bench.probe"
)

// natsEdgeStreamConfig captures what the MQTT clients publish: NATS maps
// the MQTT topic bench/N to the subject bench.N.
var natsEdgeStreamConfig = map[string]any{
	"name": natsEdgeStream, "subjects": []string{"bench.>"}, "storage": "file",
}

var natsHubStreamConfig = map[string]any{
	"name": natsHubStream, "storage": "file",
	"sources": []map[string]any{{
		"name":     natsEdgeStream,
		"external": map[string]string{"api": "$JS." + natsEdgeDomain + ".API"},
	}},
}

// createStream creates a stream through the JetStream API of s, retrying
// until JetStream answers (it starts after the listeners).
func createStream(ctx context.Context, s *sut.System, cfg map[string]any) error {
	subject := "$JS.API.STREAM.CREATE." + cfg["name"].(string)
	var last error
	err := waitFor(ctx, 60*time.Second, func() bool {
		actx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		_, last = sut.JetStreamCall(actx, s.NATSAddr, subject, cfg)
		return last == nil
	})
	if err != nil {
		return fmt.Errorf("create stream %s: %w (last: %v)", cfg["name"], err, last)
	}
	return nil
}

// streamState is one stream's state on s (zero while s cannot answer).
func streamState(ctx context.Context, s *sut.System, name string) sut.StreamState {
	st, err := s.Streams(ctx)
	if err != nil {
		return sut.StreamState{}
	}
	return st[name]
}

// startNATSLeaf starts the central server, creates its sourcing stream and
// the edge server with its stream, checks the path with one probe message
// published at the edge (it arrives in the central stream), and stops the
// central server cleanly: the outage. The caller removes both.
func startNATSLeaf(ctx context.Context, e *env) (hub, edge *sut.System, err error) {
	hub, err = e.newSystem(kindNATS, options{nats: sut.NATSOptions{NoMQTT: true, ServerName: "hub", Domain: natsHubDomain, LeafListen: true}})
	if err != nil {
		return nil, nil, err
	}
	edge, err = e.newSystem(kindNATS, options{nats: sut.NATSOptions{ServerName: "edge", Domain: natsEdgeDomain, LeafRemote: hub.LeafAddr}})
	if err != nil {
		hub.Remove()
		return nil, nil, err
	}
	err = func() error {
		if err := edge.Start(); err != nil {
			return err
		}
		if err := waitMQTT(ctx, edge); err != nil {
			return err
		}
		if err := createStream(ctx, edge, natsEdgeStreamConfig); err != nil {
			return err
		}
		if err := hub.Start(); err != nil {
			return err
		}
		if err := createStream(ctx, hub, natsHubStreamConfig); err != nil {
			return err
		}
		if _, err := sut.NATSRequest(ctx, edge.NATSAddr, natsProbeSubject, []byte("probe")); err != nil {
			return fmt.Errorf("probe: %w", err)
		}
		if err := waitFor(ctx, 60*time.Second, func() bool { return streamState(ctx, hub, natsHubStream).Messages == 1 }); err != nil {
			return fmt.Errorf("the central stream never sourced the edge stream's probe: %w\nhub: %s\nedge: %s", err,
				strings.TrimSpace(hub.Log(1000)), strings.TrimSpace(edge.Log(1000)))
		}
		return hub.Stop(30 * time.Second)
	}()
	if err != nil {
		hub.Remove()
		edge.Remove()
		return nil, nil, err
	}
	return hub, edge, nil
}

func drainNATSOnce(ctx context.Context, e *env, l loadgen.Load) (drainRun, error) {
	run := drainRun{LiveRate: drainLiveRate}
	hub, edge, err := startNATSLeaf(ctx, e)
	if err != nil {
		return run, err
	}
	defer hub.Remove()
	defer edge.Remove()
	if err := run.fill(ctx, l, edge.MQTTAddr); err != nil {
		return run, err
	}
	// NATS acknowledges an MQTT publish before its stream has stored it;
	// the backlog is what the edge stream holds once it has caught up.
	if err := waitFor(ctx, 2*time.Minute, func() bool {
		return streamState(ctx, edge, natsEdgeStream).Messages >= 1+uint64(run.Backlog)
	}); err != nil {
		return run, fmt.Errorf("edge stream: %d of 1+%d acknowledged messages: %w", streamState(ctx, edge, natsEdgeStream).Messages, run.Backlog, err)
	}
	run.Load1 = stats.LoadAvg()
	lv := startLive(ctx, edge.MQTTAddr, l.Size)
	start := time.Now()
	if err := hub.Start(); err != nil {
		lv.finish()
		return run, err
	}
	// The edge stream holds the probe, the backlog, then the live messages,
	// and is sourced in order: the central stream has the whole backlog
	// once it holds 1+backlog messages.
	run.timeDrain(ctx, start, lv, func() bool { return streamState(ctx, hub, natsHubStream).Messages > 1 },
		func() bool { return streamState(ctx, hub, natsHubStream).Messages >= 1+uint64(run.Backlog) })
	want := uint64(1 + run.Backlog + run.LiveSent)
	run.LiveCaught = waitFor(ctx, 30*time.Second, func() bool {
		return streamState(ctx, hub, natsHubStream).Messages >= want
	}) == nil
	if !run.Complete {
		return run, fmt.Errorf("central stream got %d of 1+%d messages (probe, backlog) in %v\n%s", streamState(ctx, hub, natsHubStream).Messages,
			run.Backlog, drainLimit, strings.TrimSpace(hub.Log(1000)))
	}
	return run, nil
}
