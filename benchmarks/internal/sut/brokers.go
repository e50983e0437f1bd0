package sut

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
)

// AgentOptions configure an edgelog agent.
type AgentOptions struct {
	Fsync       string // "" means always
	MaxDisk     string // "" means 8GiB (backlogs in the suite are large)
	Hub         string // hub sync address; "" runs --local-only
	Credentials string // bundle for Hub
}

func newSystem(name, dir string) (*System, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	return &System{Name: name, Dir: dir, MQTTAddr: fmt.Sprintf("127.0.0.1:%d", port)}, nil
}

// EdgelogAgent is an edgelog agent (bin) with its data under dir.
func EdgelogAgent(bin, dir string, o AgentOptions) (*System, error) {
	s, err := newSystem("edgelog agent", dir)
	if err != nil {
		return nil, err
	}
	hp, err := FreePort()
	if err != nil {
		return nil, err
	}
	s.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", hp)
	s.Bin = bin
	s.Args = []string{"agent", "--data", filepath.Join(dir, "data"), "--fsync", cmpOr(o.Fsync, "always"),
		"--max-disk", cmpOr(o.MaxDisk, "8GiB"), "--listen-mqtt", s.MQTTAddr, "--listen-http", s.HTTPAddr, "--log-level", "warn"}
	if o.Hub == "" {
		s.Args = append(s.Args, "--local-only")
	} else {
		s.Args = append(s.Args, "--hub", o.Hub, "--credentials", o.Credentials)
	}
	return s, nil
}

// WALDir is where an agent made by EdgelogAgent keeps its data.
func (s *System) WALDir() string { return filepath.Join(s.Dir, "data") }

// MosquittoOptions configure Mosquitto beyond the suite's defaults
// (persistence true, default autosave, no queue limit).
type MosquittoOptions struct {
	Extra []string // more mosquitto.conf lines
}

// Mosquitto is a Mosquitto broker with persistence on (its default
// autosave: every 1,800 s and at shutdown) and no limit on the messages
// queued for a client, so that whatever a subscriber misses was lost to a
// crash, never dropped by a queue limit (Mosquitto's default is 1,000).
func Mosquitto(dir string, o MosquittoOptions) (*System, error) {
	s, err := newSystem("Mosquitto", dir)
	if err != nil {
		return nil, err
	}
	_, port, _ := strings.Cut(s.MQTTAddr, ":")
	conf := []string{
		// Run as the invoking user: started as root, Mosquitto would
		// otherwise switch to the "mosquitto" user, which cannot write
		// the store in dir (it then logs the failure and saves nothing).
		"user " + currentUser(),
		"listener " + port + " 127.0.0.1",
		"allow_anonymous true",
		"persistence true",
		"persistence_location " + dir + "/",
		"max_queued_messages 0",
		"log_dest stderr",
		"log_type error",
		"log_type warning",
	}
	conf = append(conf, o.Extra...)
	path := filepath.Join(dir, "mosquitto.conf")
	if err := os.WriteFile(path, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
		return nil, err
	}
	s.Bin, s.Args = "mosquitto", []string{"-c", path}
	return s, nil
}

// NATSOptions configure NATS beyond the suite's defaults.
type NATSOptions struct {
	MQTT       []string // more lines of the mqtt { } block, e.g. `ack_wait: "5s"`
	NoMQTT     bool     // no MQTT listener (MQTTAddr empty)
	ServerName string   // "" means bench
	Domain     string   // JetStream domain ("" none); its API is then also $JS.<Domain>.API
	LeafListen bool     // accept leaf-node connections on LeafAddr
	LeafRemote string   // connect as a leaf node to this leaf-node address
}

// NATS is a NATS server with JetStream (file storage under dir, the file
// store's default sync: every 2 minutes and when a block is full) and its
// MQTT listener; HTTPAddr serves its monitoring endpoints (/jsz), NATSAddr
// is its client port.
func NATS(dir string, o NATSOptions) (*System, error) {
	s, err := newSystem("NATS", dir)
	if err != nil {
		return nil, err
	}
	np, err := FreePort()
	if err != nil {
		return nil, err
	}
	mp, err := FreePort()
	if err != nil {
		return nil, err
	}
	s.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", mp)
	s.NATSAddr = fmt.Sprintf("127.0.0.1:%d", np)
	js := fmt.Sprintf("store_dir: %q", filepath.Join(dir, "js"))
	if o.Domain != "" {
		js += fmt.Sprintf(", domain: %q", o.Domain)
	}
	conf := fmt.Sprintf("listen: %s\nhttp: %q\nserver_name: %q\njetstream { %s }\n",
		s.NATSAddr, s.HTTPAddr, cmpOr(o.ServerName, "bench"), js)
	if o.LeafListen {
		lp, err := FreePort()
		if err != nil {
			return nil, err
		}
		s.LeafAddr = fmt.Sprintf("127.0.0.1:%d", lp)
		conf += fmt.Sprintf("leafnodes { listen: %q }\n", s.LeafAddr)
	}
	if o.LeafRemote != "" {
		// Reconnect attempts every second (the default) while the hub is down.
		conf += fmt.Sprintf("leafnodes { remotes: [ { url: %q } ] }\n", "nats-leaf://"+o.LeafRemote)
	}
	if o.NoMQTT {
		s.MQTTAddr = ""
	} else {
		conf += fmt.Sprintf("mqtt {\n  listen: %q\n  %s\n}\n", s.MQTTAddr, strings.Join(o.MQTT, "\n  "))
	}
	path := filepath.Join(dir, "nats.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		return nil, err
	}
	s.Bin, s.Args = "nats-server", []string{"-c", path}
	return s, nil
}

// Hub is an edgelog hub (bin) with its data under dir.
type Hub struct {
	*System
	SyncAddr  string // QUIC, UDP
	KafkaAddr string
}

// EdgelogHub prepares a hub; its CA is created in dir at once, so that
// agent credentials can be minted before it first starts.
func EdgelogHub(bin, dir string, partitions int) (*Hub, error) {
	s, err := newSystem("edgelog hub", dir)
	if err != nil {
		return nil, err
	}
	s.MQTTAddr = ""
	kp, err := FreePort()
	if err != nil {
		return nil, err
	}
	hp, err := FreePort()
	if err != nil {
		return nil, err
	}
	up, err := FreeUDPPort()
	if err != nil {
		return nil, err
	}
	h := &Hub{System: s, SyncAddr: fmt.Sprintf("127.0.0.1:%d", up), KafkaAddr: fmt.Sprintf("127.0.0.1:%d", kp)}
	s.HTTPAddr = fmt.Sprintf("127.0.0.1:%d", hp)
	s.Bin = bin
	s.Args = []string{"hub", "--data", filepath.Join(dir, "data"), "--listen-sync", h.SyncAddr, "--listen-kafka", h.KafkaAddr,
		"--listen-http", s.HTTPAddr, "--partitions", fmt.Sprint(partitions), "--log-level", "warn"}
	return h, nil
}

// MintCredentials writes a credentials bundle for agent id with
// `edgelog hub credentials` and returns its path.
func (h *Hub) MintCredentials(id string) (string, error) {
	path := filepath.Join(h.Dir, id+".pem")
	out, err := exec.Command(h.Bin, "hub", "credentials", "--data", filepath.Join(h.Dir, "data"), "--agent", id, "--out", path, "--force").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("sut: hub credentials: %w: %s", err, out)
	}
	return path, nil
}

func currentUser() string {
	if u, err := user.Current(); err == nil {
		return u.Username
	}
	return "root"
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
