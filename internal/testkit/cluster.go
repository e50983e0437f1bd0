package testkit

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// ReadyTimeout bounds how long a started or restarted process may take to
// answer /readyz (race-detector builds on a loaded machine are slow).
const ReadyTimeout = 2 * time.Minute

// HubOptions configure StartHub. Zero values are defaults.
type HubOptions struct {
	Partitions int      // default 4
	Args       []string // extra flags
	Env        []string
}

// Hub is a running `edgelog hub` process on loopback addresses that stay
// the same across restarts.
type Hub struct {
	*Process
	Dir                           string
	SyncAddr, KafkaAddr, HTTPAddr string
}

// StartHub starts a hub with a fresh data directory and waits until it is
// ready.
func StartHub(t testing.TB, o HubOptions) *Hub {
	t.Helper()
	if o.Partitions == 0 {
		o.Partitions = 4
	}
	h := &Hub{Dir: t.TempDir(), SyncAddr: FreeUDP(t), KafkaAddr: FreeTCP(t), HTTPAddr: FreeTCP(t)}
	args := append([]string{"hub", "--data", h.Dir, "--listen-sync", h.SyncAddr, "--listen-kafka", h.KafkaAddr,
		"--listen-http", h.HTTPAddr, "--partitions", strconv.Itoa(o.Partitions), "--log-level", "warn"}, o.Args...)
	h.Process = StartEnv(t, "hub", o.Env, args...)
	h.WaitReady()
	return h
}

// WaitReady waits for /readyz to answer 200.
func (h *Hub) WaitReady() { h.WaitHTTP("http://"+h.HTTPAddr+"/readyz", ReadyTimeout) }

// RestartReady restarts the (exited) hub and waits until it is ready.
func (h *Hub) RestartReady() {
	h.t.Helper()
	h.Restart()
	h.WaitReady()
}

// Credentials mints a credentials bundle for agentID with
// `edgelog hub credentials` and returns its path.
func (h *Hub) Credentials(t testing.TB, agentID string) string {
	t.Helper()
	return MintCredentials(t, h.Dir, agentID)
}

// MintCredentials runs `edgelog hub credentials` against a hub data
// directory and returns the bundle's path.
func MintCredentials(t testing.TB, hubDir, agentID string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), agentID+".pem")
	if b, err := exec.Command(Binary(t), "hub", "credentials", "--data", hubDir, "--agent", agentID, "--out", out).CombinedOutput(); err != nil {
		t.Fatalf("edgelog hub credentials: %v\n%s", err, b)
	}
	return out
}

// AgentStatus is the part of an agent's /v1/status the tests read.
type AgentStatus struct {
	State string `json:"state"`
	WAL   struct {
		FirstSeq       uint64 `json:"first_seq"`
		NextSeq        uint64 `json:"next_seq"`
		DurableSeq     uint64 `json:"durable_seq"`
		SizeBytes      int64  `json:"size_bytes"`
		Full           bool   `json:"full"`
		Unsynced       uint64 `json:"unsynced_records"`
		DroppedRecords int64  `json:"dropped_records"`
		RepairedBytes  int64  `json:"repaired_bytes"`
	} `json:"wal"`
	Hub struct {
		Connected  bool   `json:"connected"`
		AckedSeq   uint64 `json:"acked_seq"`
		LastError  string `json:"last_error"`
		LagRecords uint64 `json:"lag_records"`
	} `json:"hub"`
}

// AgentOptions configure StartAgent.
type AgentOptions struct {
	// Hub is the sync address the agent dials (the hub's, or a relay's);
	// empty runs the agent with --local-only.
	Hub         string
	Credentials string
	// Dir is the data directory; default a fresh temporary one.
	Dir  string
	Args []string // extra flags
	Env  []string
}

// Agent is a running `edgelog agent` process.
type Agent struct {
	*Process
	Dir, MQTTAddr, HTTPAddr string
}

// StartAgent starts an agent and waits until it is ready.
func StartAgent(t testing.TB, o AgentOptions) *Agent {
	t.Helper()
	a := StartAgentNoWait(t, o)
	a.WaitReady()
	return a
}

// StartAgentNoWait starts an agent without waiting for it.
func StartAgentNoWait(t testing.TB, o AgentOptions) *Agent {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	a := &Agent{Dir: o.Dir, MQTTAddr: FreeTCP(t), HTTPAddr: FreeTCP(t)}
	args := []string{"agent", "--data", a.Dir, "--listen-mqtt", a.MQTTAddr, "--listen-http", a.HTTPAddr, "--log-level", "warn"}
	if o.Hub == "" {
		args = append(args, "--local-only")
	} else {
		args = append(args, "--hub", o.Hub, "--credentials", o.Credentials)
	}
	a.Process = StartEnv(t, "agent", o.Env, append(args, o.Args...)...)
	return a
}

// Broker is the agent's MQTT address as a paho broker URL.
func (a *Agent) Broker() string { return "tcp://" + a.MQTTAddr }

// WaitReady waits for /readyz to answer 200.
func (a *Agent) WaitReady() { a.WaitHTTP("http://"+a.HTTPAddr+"/readyz", ReadyTimeout) }

// RestartReady restarts the (exited) agent and waits until it is ready.
func (a *Agent) RestartReady() {
	a.t.Helper()
	a.Restart()
	a.WaitReady()
}

// Status reads the agent's /v1/status.
func (a *Agent) Status() (AgentStatus, error) {
	var s AgentStatus
	err := GetJSON("http://"+a.HTTPAddr+"/v1/status", &s)
	return s, err
}

// Metric reads one sample of the agent's /metrics (see Metric).
func (a *Agent) Metric(name string) (float64, error) {
	return Metric("http://"+a.HTTPAddr+"/metrics", name)
}

// Ready reports whether /readyz answers 200 right now.
func Ready(httpAddr string) bool {
	c := &http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + httpAddr + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// GetJSON decodes the JSON document at url into v.
func GetJSON(url string, v any) error {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<10))
		return fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Metric returns the value of the sample named exactly name (with its
// labels, e.g. `x_total{reason="quota"}`) in the Prometheus text at url;
// 0 when it is absent.
func Metric(url, name string) (float64, error) {
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	for _, ln := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(ln, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, nil
}

// VerifyWAL runs `edgelog wal verify dir` and returns its output and exit
// error (nil: the log is intact or has only a torn tail the agent repairs).
func VerifyWAL(t testing.TB, dir string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, Binary(t), "wal", "verify", dir).CombinedOutput()
	return string(out), err
}

// HubAgent is the part of one entry of the hub's /v1/agents the tests read.
type HubAgent struct {
	ID          string    `json:"id"`
	Connected   bool      `json:"connected"`
	RemoteAddr  string    `json:"remote_addr"`
	LastContact time.Time `json:"last_contact"`
	AckedSeq    uint64    `json:"acked_seq"`
	Merged      uint64    `json:"merged"`
	Duplicates  uint64    `json:"duplicates"`
}

// Agent returns what the hub's /v1/agents says about agent id.
func (h *Hub) Agent(id string) (HubAgent, error) {
	var all []HubAgent
	if err := GetJSON("http://"+h.HTTPAddr+"/v1/agents", &all); err != nil {
		return HubAgent{}, err
	}
	for _, a := range all {
		if a.ID == id {
			return a, nil
		}
	}
	return HubAgent{}, fmt.Errorf("hub does not know agent %s", id)
}
