package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/edgelog/edgelog/agent"
	"github.com/edgelog/edgelog/agent/shipper"
	"github.com/edgelog/edgelog/devices"
	"github.com/edgelog/edgelog/firmware-sim/sim"
	"github.com/edgelog/edgelog/hub"
	"github.com/edgelog/edgelog/hub/httpapi"
	"github.com/edgelog/edgelog/internal/demo"
	"github.com/edgelog/edgelog/internal/netchaos"
	"github.com/edgelog/edgelog/internal/pki"
	"github.com/edgelog/edgelog/syncproto/quictransport"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/crypto/bcrypt"
)

// demoAgentID is the agent's identity (its certificate's common name).
const demoAgentID = "demo-gateway"

// demoStack is the running demo: hub, relay, agent, consumer and fleet,
// started in that order and stopped in reverse. Fields are set by start and
// read-only afterwards, except the done channels' results.
type demoStack struct {
	o       demoOptions
	root    string // temporary directory holding hub/, agent/ and demo.log
	logFile *os.File
	log     *slog.Logger
	ledger  *demo.Ledger
	web     *http.Client

	hubAddrs hubAddrs
	stopHub  context.CancelFunc
	hubDone  chan error

	relay *netchaos.Relay

	agent     *agent.Agent
	ship      *shipper.Shipper
	stopAgent context.CancelFunc
	agentDone chan error

	cons     *kgo.Client
	stopCons context.CancelFunc
	consDone chan struct{}
	consMu   sync.Mutex
	consumed map[string]map[int32]int64 // topic → partition → next offset; protected by consMu

	creds     []sim.Credential // the devices' logins, made by provision
	fleet     *sim.Fleet
	stopFleet context.CancelFunc
	fleetDone chan error
}

// startDemo starts everything; on failure it stops what it started.
func startDemo(ctx context.Context, o demoOptions) (s *demoStack, err error) {
	s = &demoStack{o: o, ledger: demo.NewLedger(), web: &http.Client{Timeout: 2 * time.Second}, consumed: map[string]map[int32]int64{}}
	if s.root, err = os.MkdirTemp("", "edgelog-demo-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.close()
			s.removeData()
		}
	}()
	if s.logFile, err = os.Create(filepath.Join(s.root, "demo.log")); err != nil {
		return s, err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return s, err
	}
	s.log = slog.New(slog.NewTextHandler(s.logFile, &slog.HandlerOptions{Level: level}))
	for _, step := range []func(context.Context) error{s.startHub, s.startRelay, s.startAgent, s.startConsumer, s.startFleet} {
		if err := step(ctx); err != nil {
			return s, err
		}
	}
	return s, nil
}

func (s *demoStack) startHub(ctx context.Context) error {
	o := hubOptions{
		hub:         hub.Config{Dir: filepath.Join(s.root, "hub"), Partitions: s.o.partitions, Logger: s.log},
		listenKafka: s.o.listenKafka, listenHTTP: s.o.hubHTTP, listenSync: s.o.lSync, logger: s.log,
	}
	hctx, stop := context.WithCancel(context.Background())
	started := make(chan hubAddrs, 1)
	s.stopHub, s.hubDone = stop, make(chan error, 1)
	go func() { s.hubDone <- runHubServices(hctx, o, func(a hubAddrs) { started <- a }) }()
	select {
	case s.hubAddrs = <-started:
		return nil
	case err := <-s.hubDone:
		s.hubDone <- err
		return fmt.Errorf("hub: %w (choose other addresses with --listen-kafka, --hub-http, --listen-sync)", err)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// startRelay puts the link the demo cuts between the agent and the hub.
func (s *demoStack) startRelay(context.Context) (err error) {
	s.relay, err = netchaos.New(netchaos.Config{Target: dialable(s.hubAddrs.Sync), Logger: s.log})
	return err
}

func (s *demoStack) startAgent(ctx context.Context) error {
	auth, err := pki.LoadOrCreate(filepath.Join(s.root, "hub"))
	if err != nil {
		return err
	}
	pem, err := auth.MintAgent(demoAgentID, 0)
	if err != nil {
		return err
	}
	creds, err := pki.ParseBundle(pem)
	if err != nil {
		return err
	}
	cfg := agent.Config{
		DataDir: filepath.Join(s.root, "agent"), MQTTAddr: s.o.listenMQTT, HTTPAddr: s.o.agentHTTP,
		Hub: s.relay.Addr().String(), Logger: s.log,
	}
	if cfg.Devices, err = s.provision(); err != nil {
		return err
	}
	// A short idle timeout and backoff make the session notice the cut and
	// come back within a second or two of the link's return.
	sc := &shipper.Config{
		Hub: s.relay.Addr().String(), Credentials: creds,
		QUIC:        quictransport.Config{KeepAlivePeriod: time.Second, MaxIdleTimeout: 5 * time.Second},
		BackoffBase: 200 * time.Millisecond, BackoffMax: 2 * time.Second,
	}
	if s.agent, s.ship, err = newAgent(cfg, sc); err != nil {
		return fmt.Errorf("agent: %w (choose other addresses with --listen-mqtt, --agent-http)", err)
	}
	actx, stop := context.WithCancel(context.Background())
	s.stopAgent, s.agentDone = stop, make(chan error, 1)
	go func() { s.agentDone <- s.agent.Run(actx) }()
	for !s.agent.Ready() {
		select {
		case err := <-s.agentDone:
			s.agentDone <- err
			return fmt.Errorf("agent: %w", err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// provision registers the fleet in an in-memory device registry: each
// device logs in with its own password and may publish only its topics.
func (s *demoStack) provision() (*devices.Registry, error) {
	creds, devs, err := sim.Provision(sim.ProvisionOptions{Devices: s.o.devices, Cost: bcrypt.MinCost})
	if err != nil {
		return nil, err
	}
	s.creds = creds
	return devices.NewRegistry(devs)
}

// startConsumer reads every hub topic from the beginning over the Kafka
// protocol, as any consumer would, and enters each record in the ledger.
func (s *demoStack) startConsumer(context.Context) error {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(dialable(s.hubAddrs.Kafka)),
		kgo.ConsumeRegex(), kgo.ConsumeTopics(".*"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.MetadataMinAge(250*time.Millisecond), kgo.MetadataMaxAge(time.Second),
		kgo.FetchMaxWait(500*time.Millisecond),
	)
	if err != nil {
		return err
	}
	cctx, stop := context.WithCancel(context.Background())
	s.cons, s.stopCons, s.consDone = cl, stop, make(chan struct{})
	go func() {
		defer close(s.consDone)
		for cctx.Err() == nil {
			fetches := cl.PollFetches(cctx)
			fetches.EachError(func(t string, p int32, err error) {
				if !errors.Is(err, context.Canceled) {
					s.log.Warn("demo: consumer", "topic", t, "partition", p, "err", err)
				}
			})
			fetches.EachRecord(s.consume)
		}
	}()
	return nil
}

func (s *demoStack) consume(r *kgo.Record) {
	if h, err := sim.DecodeHeader(r.Value); err == nil && len(r.Key) > 0 {
		s.ledger.AtHub(string(r.Key), h.Seq)
	} else {
		s.ledger.Foreign()
	}
	s.consMu.Lock()
	defer s.consMu.Unlock()
	m := s.consumed[r.Topic]
	if m == nil {
		m = map[int32]int64{}
		s.consumed[r.Topic] = m
	}
	m[r.Partition] = r.Offset + 1
}

func (s *demoStack) startFleet(context.Context) error {
	f, err := sim.New(sim.Config{
		Broker: "tcp://" + dialable(s.agent.MQTTAddr()), Devices: s.o.devices, Rate: s.o.rate, Duration: s.o.duration,
		QoS: 1, Profile: "steady", Credentials: s.creds,
		OnAck:  func(a sim.Ack) { s.ledger.Ack(a.ClientID, a.Seq) },
		Logger: s.log,
	})
	if err != nil {
		return err
	}
	fctx, stop := context.WithCancel(context.Background())
	s.fleet, s.stopFleet, s.fleetDone = f, stop, make(chan error, 1)
	go func() {
		_, err := f.Run(fctx)
		s.fleetDone <- err
	}()
	return nil
}

// hubTopics reads the hub's topics and partition end offsets from its HTTP
// API.
func (s *demoStack) hubTopics(ctx context.Context) ([]httpapi.Topic, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+dialable(s.hubAddrs.HTTP)+"/v1/topics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.web.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("hub /v1/topics: %s", resp.Status)
	}
	var ts []httpapi.Topic
	return ts, json.NewDecoder(resp.Body).Decode(&ts)
}

// caughtUp reports whether the consumer has read every partition up to
// the end offsets in ts.
func (s *demoStack) caughtUp(ts []httpapi.Topic) bool {
	s.consMu.Lock()
	defer s.consMu.Unlock()
	for _, t := range ts {
		for _, p := range t.Partitions {
			if p.HighWatermark > p.LogStartOffset && s.consumed[t.Name][p.Partition] < p.HighWatermark {
				return false
			}
		}
	}
	return true
}

// close stops whatever is still running, in reverse order of start. Each
// step is skipped if it never started.
func (s *demoStack) close() {
	if s.stopFleet != nil {
		s.stopFleet()
		<-s.fleetDone
		s.stopFleet = nil
	}
	if s.stopCons != nil {
		s.stopCons()
		<-s.consDone
		s.cons.Close()
		s.stopCons = nil
	}
	if s.stopAgent != nil {
		s.stopAgent()
		if err := <-s.agentDone; err != nil {
			s.log.Error("demo: agent", "err", err)
		}
		s.stopAgent = nil
	}
	if s.relay != nil {
		s.relay.Close()
		s.relay = nil
	}
	if s.stopHub != nil {
		s.stopHub()
		if err := <-s.hubDone; err != nil {
			s.log.Error("demo: hub", "err", err)
		}
		s.stopHub = nil
	}
	if s.logFile != nil {
		s.logFile.Close()
		s.logFile = nil
	}
}

// removeData deletes the temporary directory unless --keep.
func (s *demoStack) removeData() error {
	if s.o.keep || s.root == "" {
		return nil
	}
	return os.RemoveAll(s.root)
}
