package agent

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/edgelog/edgelog/devices"

	"github.com/edgelog/edgelog/internal/vfs"
	"github.com/edgelog/edgelog/record"
	"github.com/edgelog/edgelog/wal"
)

// WhenFull is what the agent does when the WAL reaches Config.MaxDisk.
type WhenFull int

// Policies at the disk quota. The zero value is WhenFullBlock.
const (
	// WhenFullBlock refuses (does not acknowledge) new publishes until
	// space frees, that is until the hub has acknowledged older records.
	WhenFullBlock WhenFull = iota
	// WhenFullDropOldest deletes the oldest not-yet-synced records (whole
	// WAL segments) to make room, and counts them.
	WhenFullDropOldest
)

func (w WhenFull) String() string {
	switch w {
	case WhenFullBlock:
		return "block"
	case WhenFullDropOldest:
		return "drop-oldest"
	}
	return fmt.Sprintf("WhenFull(%d)", int(w))
}

// ParseWhenFull parses "block" or "drop-oldest".
func ParseWhenFull(s string) (WhenFull, error) {
	for _, w := range []WhenFull{WhenFullBlock, WhenFullDropOldest} {
		if w.String() == s {
			return w, nil
		}
	}
	return 0, fmt.Errorf("%w: unknown when-full policy %q (want block or drop-oldest)", ErrConfig, s)
}

// Config configures an Agent. The zero value of every field means its
// default.
type Config struct {
	// DataDir holds the WAL (DataDir/wal). Default "./edgelog-agent".
	DataDir string
	// MQTTAddr is the MQTT over TCP listener (3.1.1 and 5). Default ":1883".
	MQTTAddr string
	// TLSAddr, if set, adds an MQTT over TLS listener; TLSConfig is then
	// required.
	TLSAddr   string
	TLSConfig *tls.Config
	// WSAddr, if set, adds an MQTT over WebSocket listener (path /).
	WSAddr string
	// HTTPAddr serves /healthz, /readyz, /metrics and /v1/status.
	// Default ":8081".
	HTTPAddr string
	// Fsync is the WAL's fsync policy; the zero value is wal.FsyncAlways.
	Fsync wal.FsyncPolicy
	// MaxDisk is the WAL's disk quota in bytes. Default 1 GiB.
	MaxDisk int64
	// WhenFull is the policy at the quota.
	WhenFull WhenFull
	// MaxPacketSize bounds an MQTT packet; larger ones close the
	// connection. Default 1 MiB; at most 16 MiB.
	MaxPacketSize int
	// MaxPending bounds a connection's publishes waiting for their commit
	// (advertised to MQTT 5 clients as Receive Maximum). Default 1024.
	MaxPending int
	// ReadBuffer is each connection's read buffer in bytes, allocated for
	// the connection's lifetime. On the TCP and TLS listeners the socket
	// itself is read up to 16 KiB at a time, into a buffer borrowed only
	// once bytes have arrived and returned when they are read, so a small
	// ReadBuffer costs pipelining clients no read system calls. Default
	// 2 KiB.
	ReadBuffer int
	// OutboundQueue is how many packets may wait to be written to one
	// client, allocated up front for every connection (8 bytes each). It
	// bounds how far a local subscriber may fall behind: messages for a
	// subscriber whose queue is full are dropped (counted in
	// edgelog_agent_local_dropped_total). Default 1024.
	OutboundQueue int
	// WriteTimeout disconnects a client whose connection takes no bytes
	// for this long while the agent writes to it (TCP and TLS listeners):
	// a subscriber that stopped reading. mochi holds a client's lock while
	// writing to it and takes it to deliver a QoS 1/2 message, so such a
	// subscriber holds up the acknowledgements of every publisher whose
	// messages it matches, for at most this long. Counted in
	// edgelog_agent_write_timeouts_total. Default 10s.
	WriteTimeout time.Duration
	// ConnectTimeout closes a TCP or TLS connection whose TLS handshake
	// and CONNECT packet have not arrived within it (a half-open or idle
	// connection). Default 20s.
	ConnectTimeout time.Duration
	// Devices, if set, authenticates clients (credentials, certificate
	// pins) and authorizes their topics; it is reloaded when its file
	// changes. Without it only anonymous clients connecting from a loopback
	// address are accepted.
	Devices *devices.Registry
	// DevicesPoll is how often the registry file is checked for changes.
	// Default devices.DefaultWatchInterval.
	DevicesPoll time.Duration
	// Hub is the hub's address, shown in status; the agent itself does not
	// dial it (an attached Syncer does).
	Hub string
	// Logger receives the agent's logs. Default slog.Default().
	Logger *slog.Logger
	// FS is the WAL's filesystem. Default the real one.
	FS vfs.FS
}

const (
	defaultDataDir        = "./edgelog-agent"
	defaultMQTTAddr       = ":1883"
	defaultHTTPAddr       = ":8081"
	defaultMaxDisk        = 1 << 30
	defaultMaxPacketSize  = 1 << 20
	maxMaxPacketSize      = 16 << 20
	defaultMaxPending     = 1024
	defaultReadBuffer     = 2 << 10
	minReadBuffer         = 512
	maxReadBuffer         = 1 << 20
	defaultOutboundQueue  = 1024
	defaultWriteTimeout   = 10 * time.Second
	defaultConnectTimeout = 20 * time.Second
	minTimeout            = 100 * time.Millisecond
	maxOutboundQueue      = 1 << 16
	maxMaxPending         = 65535
	maxSegmentSize        = 64 << 20
	minSegmentSize        = 4 << 10
	// recordOverhead bounds what encoding adds to an MQTT publish packet
	// (client ID, time, field headers) plus the WAL frame header.
	recordOverhead = record.MaxClientID + 256
)

// validate fills defaults and rejects contradictions.
func (c *Config) validate() error {
	if c.DataDir == "" {
		c.DataDir = defaultDataDir
	}
	if c.MQTTAddr == "" {
		c.MQTTAddr = defaultMQTTAddr
	}
	if c.HTTPAddr == "" {
		c.HTTPAddr = defaultHTTPAddr
	}
	if c.MaxDisk == 0 {
		c.MaxDisk = defaultMaxDisk
	}
	if c.MaxPacketSize == 0 {
		c.MaxPacketSize = defaultMaxPacketSize
	}
	if c.MaxPending == 0 {
		c.MaxPending = defaultMaxPending
	}
	if c.ReadBuffer == 0 {
		c.ReadBuffer = defaultReadBuffer
	}
	if c.OutboundQueue == 0 {
		c.OutboundQueue = defaultOutboundQueue
	}
	if c.WriteTimeout == 0 {
		c.WriteTimeout = defaultWriteTimeout
	}
	if c.ConnectTimeout == 0 {
		c.ConnectTimeout = defaultConnectTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.FS == nil {
		c.FS = vfs.OS{}
	}
	switch {
	case c.Fsync < wal.FsyncAlways || c.Fsync > wal.FsyncNever:
		return fmt.Errorf("%w: fsync policy %d", ErrConfig, c.Fsync)
	case c.WhenFull < WhenFullBlock || c.WhenFull > WhenFullDropOldest:
		return fmt.Errorf("%w: when-full policy %d", ErrConfig, c.WhenFull)
	case c.MaxPacketSize < 64 || c.MaxPacketSize > maxMaxPacketSize:
		return fmt.Errorf("%w: max packet size %d outside [64, %d]", ErrConfig, c.MaxPacketSize, maxMaxPacketSize)
	case c.MaxPending < 1 || c.MaxPending > maxMaxPending:
		return fmt.Errorf("%w: max pending %d outside [1, %d]", ErrConfig, c.MaxPending, maxMaxPending)
	case c.ReadBuffer < minReadBuffer || c.ReadBuffer > maxReadBuffer:
		return fmt.Errorf("%w: read buffer %d outside [%d, %d]", ErrConfig, c.ReadBuffer, minReadBuffer, maxReadBuffer)
	case c.OutboundQueue < 1 || c.OutboundQueue > maxOutboundQueue:
		return fmt.Errorf("%w: outbound queue %d outside [1, %d]", ErrConfig, c.OutboundQueue, maxOutboundQueue)
	case c.WriteTimeout < minTimeout:
		return fmt.Errorf("%w: write timeout %v below %v", ErrConfig, c.WriteTimeout, minTimeout)
	case c.ConnectTimeout < minTimeout:
		return fmt.Errorf("%w: connect timeout %v below %v", ErrConfig, c.ConnectTimeout, minTimeout)
	case c.MaxDisk < 16*int64(c.MaxPacketSize+recordOverhead) || c.MaxDisk < 16*minSegmentSize:
		return fmt.Errorf("%w: max disk %d too small for packets of %d bytes (need at least 16 packets)", ErrConfig, c.MaxDisk, c.MaxPacketSize)
	case c.TLSAddr != "" && c.TLSConfig == nil:
		return fmt.Errorf("%w: a TLS listener needs a certificate", ErrConfig)
	}
	for _, a := range []string{c.MQTTAddr, c.TLSAddr, c.WSAddr, c.HTTPAddr} {
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return fmt.Errorf("%w: address %q: %v", ErrConfig, a, err)
		}
	}
	return nil
}

// segmentSize is the WAL segment size for the quota: small enough that
// dropping whole oldest segments frees space in steps of 1/16 of MaxDisk.
func (c *Config) segmentSize() int64 {
	return min(max(c.MaxDisk/16, minSegmentSize), maxSegmentSize)
}

// maxRecordSize bounds one WAL record: a whole packet plus encoding.
func (c *Config) maxRecordSize() int {
	return max(c.MaxPacketSize+recordOverhead, 64<<10)
}
