package sut

import (
	"errors"
	"testing"
)

func TestParseProcStatus(t *testing.T) {
	m, err := ParseProcStatus([]byte("Name:\tmosquitto\nVmHWM:\t   12345 kB\nVmRSS:\t    8000 kB\nThreads:\t1\n"))
	if err != nil || m.RSS != 8000 || m.Peak != 12345 {
		t.Fatalf("ParseProcStatus = %+v, %v", m, err)
	}
	if _, err := ParseProcStatus([]byte("Name:\tx\nVmRSS:\t1 kB\n")); !errors.Is(err, ErrNoValue) {
		t.Fatalf("missing VmHWM: %v", err)
	}
	if _, err := ParseProcStatus([]byte("VmRSS:\tlots kB\nVmHWM:\t1 kB\n")); err == nil {
		t.Fatal("garbage VmRSS accepted")
	}
}

func TestParseMetric(t *testing.T) {
	body := []byte("# HELP x y\n# TYPE edgelog_agent_wal_size_bytes gauge\nedgelog_agent_wal_size_bytes 1.5e+06\n" +
		"edgelog_agent_wal_fsync_seconds_bucket{le=\"0.001\"} 3\nedgelog_agent_wal_fsync_seconds_count 42\n")
	if v, err := ParseMetric(body, "edgelog_agent_wal_size_bytes"); err != nil || v != 1.5e6 {
		t.Errorf("gauge = %v, %v", v, err)
	}
	if v, err := ParseMetric(body, "edgelog_agent_wal_fsync_seconds_count"); err != nil || v != 42 {
		t.Errorf("count = %v, %v", v, err)
	}
	if _, err := ParseMetric(body, "edgelog_agent_wal_fsync_seconds"); !errors.Is(err, ErrNoValue) {
		t.Errorf("prefix of another metric matched: %v", err)
	}
}

func TestParseJSZ(t *testing.T) {
	body := []byte(`{"server_id":"x","account_details":[{"name":"$G","stream_detail":[
		{"name":"$MQTT_msgs","state":{"messages":1234,"bytes":99}},
		{"name":"$MQTT_sess","state":{"messages":2,"consumer_count":3}}]}]}`)
	got, err := ParseJSZ(body)
	want := StreamState{Messages: 1234, Bytes: 99}
	if err != nil || got["$MQTT_msgs"] != want || got["$MQTT_sess"] != (StreamState{Messages: 2, Consumers: 3}) {
		t.Fatalf("ParseJSZ = %v, %v", got, err)
	}
	if _, err := ParseJSZ([]byte("<html>")); err == nil {
		t.Fatal("ParseJSZ accepted HTML")
	}
}
