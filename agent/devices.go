package agent

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/edgelog/edgelog/devices"
)

// auth is the agent's client admission: the device registry (credentials,
// topic ACLs, reloads) or, without one, anonymous clients from loopback
// addresses only.
type auth struct {
	reg     atomicRegistry        // nil: no registry
	limiter *devices.LoginLimiter // nil without a registry
	// who maps each admitted *mqtt.Client to the device it logged in as, to
	// re-check it when the registry is reloaded.
	who syncMap[*mqtt.Client, devices.Device]
}

// authMode names how clients are admitted, for status.
func (a *Agent) authMode() string {
	if a.auth.reg.Load() != nil {
		return "devices"
	}
	return "loopback-anonymous"
}

// authenticate decides whether cl may connect and returns the CONNACK
// reason (MQTT 5 codes; connackCode maps them for 3.1.1).
func (a *Agent) authenticate(cl *mqtt.Client, pk packets.Packet) (packets.Code, error) {
	reg := a.auth.reg.Load()
	if reg == nil {
		if !isLoopback(cl.Net.Remote) {
			return packets.ErrNotAuthorized, errors.New("agent: anonymous clients are accepted from loopback addresses only (no device registry)")
		}
		return packets.CodeSuccess, nil
	}
	lim := a.auth.limiter
	if wait := lim.RetryAfter(cl.ID, cl.Net.Remote); wait > 0 {
		return packets.ErrConnectionRateExceeded, fmt.Errorf("%w: too many failed logins; retry in %v", ErrNotAuthorized, wait.Round(1e9))
	}
	dev, err := reg.AuthenticateTLS(cl.ID, string(pk.Connect.Password), peerCertificates(cl))
	if err != nil {
		lim.Fail(cl.ID, cl.Net.Remote)
		code := packets.ErrBadUsernameOrPassword
		switch {
		case errors.Is(err, devices.ErrDisabled):
			code = packets.ErrBanned
		case errors.Is(err, devices.ErrCertRequired), errors.Is(err, devices.ErrBadCert):
			code = packets.ErrNotAuthorized
		}
		return code, err
	}
	if pk.Connect.WillFlag && !reg.CanPublish(cl.ID, pk.Connect.WillTopic) {
		return packets.ErrNotAuthorized, fmt.Errorf("%w: will topic %q is not in the device's publish ACL", ErrNotAuthorized, pk.Connect.WillTopic)
	}
	lim.Succeed(cl.ID, cl.Net.Remote)
	a.auth.who.Store(cl, dev)
	return packets.CodeSuccess, nil
}

// peerCertificates is the client's TLS certificate chain (nil on plain TCP).
func peerCertificates(cl *mqtt.Client) []*x509.Certificate {
	if tc, ok := cl.Net.Conn.(*tls.Conn); ok {
		return tc.ConnectionState().PeerCertificates
	}
	return nil
}

// connackCode maps a refusal to what the client's protocol version can
// carry: MQTT 3.1.1 has five return codes.
func connackCode(code packets.Code, version byte) packets.Code {
	if version == 5 {
		return code
	}
	switch code {
	case packets.ErrBadUsernameOrPassword:
		return packets.ErrMalformedUsernameOrPassword // 0x04 bad user name or password
	case packets.ErrNotAuthorized, packets.ErrBanned:
		return packets.Err3NotAuthorized
	case packets.ErrConnectionRateExceeded, packets.ErrServerBusy, packets.ErrServerUnavailable:
		return packets.Err3ServerUnavailable
	case packets.ErrClientIdentifierNotValid:
		return packets.Err3ClientIdentifierNotValid
	}
	return code
}

// canPublish applies the registry's publish ACL.
func (a *Agent) canPublish(cl *mqtt.Client, topic string) bool {
	reg := a.auth.reg.Load()
	return reg == nil || reg.CanPublish(cl.ID, topic)
}

// canSubscribe applies the registry's subscribe ACL to a filter (at
// SUBSCRIBE) or a topic (at each delivery).
func (a *Agent) canSubscribe(cl *mqtt.Client, filter string) bool {
	reg := a.auth.reg.Load()
	return reg == nil || reg.CanSubscribe(cl.ID, filter)
}

// watchDevices reloads the registry when its file changes, until ctx ends.
func (a *Agent) watchDevices(ctx context.Context) {
	reg := a.auth.reg.Load()
	if reg == nil || reg.Path() == "" {
		return
	}
	devices.WatchWith(ctx, reg.Path(), devices.WatchOptions{Interval: a.cfg.DevicesPoll, Baseline: reg}, a.reloadDevices)
}

// reloadDevices installs a new registry and disconnects clients it no
// longer admits: removed or disabled devices and devices whose password
// hash or certificate pin changed. Clients still admitted stay connected;
// their subscriptions are checked against the new ACLs at each delivery.
func (a *Agent) reloadDevices(reg *devices.Registry, err error) {
	if err != nil {
		a.log.Error("agent: device registry not reloaded; keeping the previous one", "err", err)
		return
	}
	a.auth.reg.Store(reg)
	dropped := 0
	a.auth.who.Range(func(cl *mqtt.Client, was devices.Device) bool {
		now, ok := reg.Lookup(cl.ID)
		why := ""
		switch {
		case !ok:
			why = "removed from the registry"
		case !now.Enabled:
			why = "disabled"
		case now.PasswordHash != was.PasswordHash || now.CertSHA256 != was.CertSHA256:
			why = "credentials changed"
		}
		if why != "" {
			dropped++
			a.log.Warn("agent: disconnecting device after registry reload", "client", cl.ID, "remote", cl.Net.Remote, "reason", why)
			a.auth.who.Delete(cl)
			_ = a.server.DisconnectClient(cl, packets.ErrNotAuthorized)
		}
		return true
	})
	a.log.Info("agent: device registry reloaded", "devices", reg.Len(), "disconnected", dropped)
}
