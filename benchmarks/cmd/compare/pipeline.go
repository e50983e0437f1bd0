package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/edgelog/edgelog/benchmarks/internal/sut"
)

// pipeline is an edgelog agent replicating to an edgelog hub.
type pipeline struct {
	hub   *sut.Hub
	agent *sut.System
}

func (p *pipeline) remove() {
	p.agent.Remove()
	p.hub.Remove()
}

// startPipeline prepares a hub and an agent with credentials for it and
// starts the agent; the hub too unless hubDown, in which case the agent
// runs with its hub unreachable. With the hub up, it waits until the
// agent's sync session is established.
func startPipeline(ctx context.Context, e *env, hubDown bool) (*pipeline, error) {
	n := e.seq.Add(1)
	hub, err := sut.EdgelogHub(e.edgelog, filepath.Join(e.tmp, fmt.Sprintf("hub-%d", n)), 8)
	if err != nil {
		return nil, err
	}
	creds, err := hub.MintCredentials("bench-agent")
	if err != nil {
		hub.Remove()
		return nil, err
	}
	agent, err := sut.EdgelogAgent(e.edgelog, filepath.Join(e.tmp, fmt.Sprintf("agent-%d", n)),
		sut.AgentOptions{Hub: hub.SyncAddr, Credentials: creds})
	if err != nil {
		hub.Remove()
		return nil, err
	}
	p := &pipeline{hub: hub, agent: agent}
	if !hubDown {
		if err := p.startHub(ctx); err != nil {
			p.remove()
			return nil, err
		}
	}
	if err := agent.Start(); err != nil {
		p.remove()
		return nil, err
	}
	if err := waitMQTT(ctx, agent); err != nil {
		p.remove()
		return nil, err
	}
	if !hubDown {
		if err := waitFor(ctx, 60*time.Second, func() bool { return p.connected(ctx) }); err != nil {
			p.remove()
			return nil, fmt.Errorf("agent never connected to the hub: %w\nagent: %s\nhub: %s", err, agent.Log(1500), hub.Log(1500))
		}
	}
	return p, nil
}

// startHub starts the hub and waits for its Kafka listener.
func (p *pipeline) startHub(ctx context.Context) error {
	if err := p.hub.Start(); err != nil {
		return err
	}
	return waitFor(ctx, 60*time.Second, func() bool {
		return p.hub.HTTPOK(ctx, "/readyz")
	})
}

// connected reports whether the agent's sync session is up.
func (p *pipeline) connected(ctx context.Context) bool {
	v, err := p.agent.Metric(ctx, "edgelog_agent_hub_connected")
	return err == nil && v == 1
}

// hubAcked is the highest WAL sequence the hub has reported as stored.
func (p *pipeline) hubAcked(ctx context.Context) (uint64, error) {
	v, err := p.agent.Metric(ctx, "edgelog_agent_hub_acked_seq")
	return uint64(v), err
}
