package sut

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

// ErrNoValue is returned when a metric or field is absent.
var ErrNoValue = errors.New("sut: value not found")

// Memory is a process's resident set, in KiB.
type Memory struct {
	RSS  int64 // VmRSS: now
	Peak int64 // VmHWM: highest since start
}

// Memory reads the running process's resident set from /proc.
func (s *System) Memory() (Memory, error) {
	if s.cmd == nil {
		return Memory{}, ErrNotRunning
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.Pid()))
	if err != nil {
		return Memory{}, err
	}
	return ParseProcStatus(b)
}

// ParseProcStatus reads VmRSS and VmHWM (KiB) from /proc/PID/status.
func ParseProcStatus(b []byte) (Memory, error) {
	var m Memory
	found := 0
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return m, fmt.Errorf("sut: %s: %w", k, err)
		}
		if k == "VmRSS" {
			m.RSS = n
		} else {
			m.Peak = n
		}
		found++
	}
	if found != 2 {
		return m, fmt.Errorf("%w: VmRSS/VmHWM", ErrNoValue)
	}
	return m, nil
}

func httpGet(ctx context.Context, url string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("sut: GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(io.LimitReader(resp.Body, 64<<20))
}

// HTTPOK reports whether GET path on the process's HTTP listener answers
// 200 OK.
func (s *System) HTTPOK(ctx context.Context, path string) bool {
	_, err := httpGet(ctx, "http://"+s.HTTPAddr+path)
	return err == nil
}

// Metric reads one unlabelled sample (or a histogram's _count/_sum) from
// the process's Prometheus /metrics.
func (s *System) Metric(ctx context.Context, name string) (float64, error) {
	b, err := httpGet(ctx, "http://"+s.HTTPAddr+"/metrics")
	if err != nil {
		return 0, err
	}
	return ParseMetric(b, name)
}

// ParseMetric finds the sample "name value" in Prometheus text format.
func ParseMetric(b []byte, name string) (float64, error) {
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	return 0, fmt.Errorf("%w: metric %s", ErrNoValue, name)
}

// StreamMessages reads, from a NATS server's monitoring endpoint, the
// message count of every JetStream stream.
func (s *System) StreamMessages(ctx context.Context) (map[string]uint64, error) {
	st, err := s.Streams(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]uint64, len(st))
	for name, v := range st {
		out[name] = v.Messages
	}
	return out, nil
}

// StreamState is what a NATS server's /jsz says of one stream.
type StreamState struct {
	Messages  uint64
	Bytes     uint64
	Consumers int
}

// Streams reads, from a NATS server's monitoring endpoint, the state of
// every JetStream stream.
func (s *System) Streams(ctx context.Context) (map[string]StreamState, error) {
	b, err := httpGet(ctx, "http://"+s.HTTPAddr+"/jsz?accounts=true&streams=true")
	if err != nil {
		return nil, err
	}
	return ParseJSZ(b)
}

// ParseJSZ reads stream states from a NATS /jsz?streams=true reply; a
// stream of the same name in several accounts is summed.
func ParseJSZ(b []byte) (map[string]StreamState, error) {
	var z struct {
		Accounts []struct {
			Streams []struct {
				Name  string `json:"name"`
				State struct {
					Messages  uint64 `json:"messages"`
					Bytes     uint64 `json:"bytes"`
					Consumers int    `json:"consumer_count"`
				} `json:"state"`
			} `json:"stream_detail"`
		} `json:"account_details"`
	}
	if err := json.Unmarshal(b, &z); err != nil {
		return nil, fmt.Errorf("sut: /jsz: %w", err)
	}
	out := map[string]StreamState{}
	for _, a := range z.Accounts {
		for _, st := range a.Streams {
			v := out[st.Name]
			v.Messages += st.State.Messages
			v.Bytes += st.State.Bytes
			v.Consumers += st.State.Consumers
			out[st.Name] = v
		}
	}
	return out, nil
}
