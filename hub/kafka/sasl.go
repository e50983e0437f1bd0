package kafka

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// SASL mechanisms.
const (
	mechPlain  = "PLAIN"
	mechSCRAM  = "SCRAM-SHA-256"
	scramIters = 4096
)

var errSASL = errors.New("kafka: SASL authentication failed")

// saslState is one connection's authentication; only its reader goroutine
// touches it.
type saslState struct {
	mechanism     string
	authenticated bool
	failed        bool // close the connection after the current answer
	raw           bool // after a v0 handshake: bare tokens until authenticated
	scram         *scramExchange
	user          string
}

// scramCreds are a user's SCRAM-SHA-256 server credentials, derived once.
type scramCreds struct {
	salt                []byte
	storedKey, serverKy []byte
}

func deriveSCRAM(users map[string]string) map[string]scramCreds {
	out := make(map[string]scramCreds, len(users))
	for u, pw := range users {
		salt := make([]byte, 16)
		rand.Read(salt)
		salted, _ := pbkdf2.Key(sha256.New, pw, salt, scramIters, sha256.Size)
		ck := hmacSHA256(salted, []byte("Client Key"))
		sk := sha256.Sum256(ck)
		out[u] = scramCreds{salt: salt, storedKey: sk[:], serverKy: hmacSHA256(salted, []byte("Server Key"))}
	}
	return out
}

func hmacSHA256(key, msg []byte) []byte {
	h := hmac.New(sha256.New, key)
	h.Write(msg)
	return h.Sum(nil)
}

func (s *Server) mechanisms(c *conn) []string {
	if s.cfg.Users == nil {
		return nil
	}
	if s.cfg.TLS != nil || s.cfg.AllowPlaintextSASL {
		return []string{mechPlain, mechSCRAM}
	}
	return []string{mechSCRAM}
}

func handleSaslHandshake(_ context.Context, c *conn, _ header, r kmsg.Request) respondFunc {
	req := r.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	mechs := c.s.mechanisms(c)
	resp.SupportedMechanisms = mechs
	if c.sasl.authenticated || !contains(mechs, req.Mechanism) {
		resp.ErrorCode = kerr.UnsupportedSaslMechanism.Code
		if c.sasl.authenticated {
			resp.ErrorCode = kerr.IllegalSaslState.Code
		}
		return now(resp)
	}
	c.sasl.mechanism = req.Mechanism
	c.sasl.raw = req.Version == 0
	return now(resp)
}

// maxRawToken bounds a bare SASL token (SaslHandshake v0).
const maxRawToken = 64 << 10

// rawSASLStep reads one bare token (a 4-byte length and the bytes), runs
// the mechanism, and returns the bare answer; failure closes the connection.
func (c *conn) rawSASLStep(r io.Reader) pending {
	var sz [4]byte
	if _, err := io.ReadFull(r, sz[:]); err != nil {
		return pending{close: true}
	}
	n := binary.BigEndian.Uint32(sz[:])
	if n > maxRawToken {
		c.s.log.Info("kafka: SASL token over the limit", "remote", c.remote, "bytes", n)
		return pending{close: true}
	}
	token := make([]byte, n)
	if _, err := io.ReadFull(r, token); err != nil {
		return pending{close: true}
	}
	out, err := c.saslStep(token)
	if err != nil {
		c.s.log.Info("kafka: SASL authentication failed", "remote", c.remote, "mechanism", c.sasl.mechanism, "err", err)
		c.s.metrics.authFailures.Inc()
		return pending{close: true}
	}
	if c.sasl.authenticated {
		c.sasl.raw = false
	}
	return pending{raw: append(binary.BigEndian.AppendUint32(nil, uint32(len(out))), out...)}
}

func handleSaslAuthenticate(_ context.Context, c *conn, _ header, r kmsg.Request) respondFunc {
	req := r.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	out, err := c.saslStep(req.SASLAuthBytes)
	if err != nil {
		c.sasl.failed = true
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		if errors.Is(err, errSASLState) {
			resp.ErrorCode = kerr.IllegalSaslState.Code
		}
		msg := "authentication failed"
		resp.ErrorMessage = &msg
		c.s.log.Info("kafka: SASL authentication failed", "remote", c.remote, "mechanism", c.sasl.mechanism, "err", err)
		c.s.metrics.authFailures.Inc()
		return now(resp)
	}
	resp.SASLAuthBytes = out
	if c.sasl.authenticated {
		c.s.log.Debug("kafka: authenticated", "remote", c.remote, "user", c.sasl.user)
	}
	return now(resp)
}

var errSASLState = errors.New("kafka: SASL exchange out of order")

// saslStep runs one step of the chosen mechanism.
func (c *conn) saslStep(in []byte) ([]byte, error) {
	st := &c.sasl
	if st.authenticated {
		return nil, errSASLState
	}
	switch st.mechanism {
	case mechPlain:
		parts := bytes.Split(in, []byte{0})
		if len(parts) != 3 {
			return nil, fmt.Errorf("%w: malformed PLAIN message", errSASL)
		}
		user, pw := string(parts[1]), parts[2]
		want, ok := c.s.cfg.Users[user]
		if !ok || subtle.ConstantTimeCompare([]byte(want), pw) != 1 || (len(parts[0]) > 0 && string(parts[0]) != user) {
			return nil, fmt.Errorf("%w: user %q", errSASL, user)
		}
		st.authenticated, st.user = true, user
		return []byte{}, nil
	case mechSCRAM:
		if st.scram == nil {
			ex, out, err := c.s.scramFirst(in)
			if err != nil {
				return nil, err
			}
			st.scram = ex
			return out, nil
		}
		out, err := st.scram.final(in)
		if err != nil {
			return nil, err
		}
		st.authenticated, st.user = true, st.scram.user
		return out, nil
	default:
		return nil, errSASLState
	}
}

// scramExchange is the server side of one SCRAM-SHA-256 exchange.
type scramExchange struct {
	user                          string
	creds                         scramCreds
	nonce, clientFirstBare, first string
	gs2                           string
}

// scramFirst answers client-first ("n,,n=user,r=nonce").
func (s *Server) scramFirst(in []byte) (*scramExchange, []byte, error) {
	msg := string(in)
	gs2End := strings.Index(msg, ",")
	if gs2End < 0 || (msg[0] != 'n' && msg[0] != 'y') {
		return nil, nil, fmt.Errorf("%w: channel binding is not supported", errSASL)
	}
	second := strings.Index(msg[gs2End+1:], ",")
	if second < 0 {
		return nil, nil, fmt.Errorf("%w: malformed client-first", errSASL)
	}
	gs2 := msg[:gs2End+1+second+1]
	bare := msg[len(gs2):]
	attrs := scramAttrs(bare)
	user := strings.NewReplacer("=2C", ",", "=3D", "=").Replace(attrs["n"])
	cnonce := attrs["r"]
	if user == "" || cnonce == "" {
		return nil, nil, fmt.Errorf("%w: malformed client-first", errSASL)
	}
	creds, ok := s.scram[user]
	if !ok {
		return nil, nil, fmt.Errorf("%w: user %q", errSASL, user)
	}
	snonce := make([]byte, 18)
	rand.Read(snonce)
	ex := &scramExchange{user: user, creds: creds, nonce: cnonce + base64.RawStdEncoding.EncodeToString(snonce), clientFirstBare: bare, gs2: gs2}
	ex.first = "r=" + ex.nonce + ",s=" + base64.StdEncoding.EncodeToString(creds.salt) + ",i=" + strconv.Itoa(scramIters)
	return ex, []byte(ex.first), nil
}

// final checks client-final ("c=...,r=...,p=proof") and returns
// server-final ("v=signature").
func (ex *scramExchange) final(in []byte) ([]byte, error) {
	msg := string(in)
	i := strings.LastIndex(msg, ",p=")
	if i < 0 {
		return nil, fmt.Errorf("%w: malformed client-final", errSASL)
	}
	withoutProof := msg[:i]
	attrs := scramAttrs(msg)
	// The nonce must end with the one the server sent (Kafka's rule:
	// librdkafka sends its client nonce in front of the whole nonce).
	if !strings.HasSuffix(attrs["r"], ex.nonce) {
		return nil, fmt.Errorf("%w: nonce mismatch", errSASL)
	}
	if cb, err := base64.StdEncoding.DecodeString(attrs["c"]); err != nil || string(cb) != ex.gs2 {
		return nil, fmt.Errorf("%w: channel binding mismatch", errSASL)
	}
	proof, err := base64.StdEncoding.DecodeString(attrs["p"])
	if err != nil || len(proof) != sha256.Size {
		return nil, fmt.Errorf("%w: malformed proof", errSASL)
	}
	authMsg := []byte(ex.clientFirstBare + "," + ex.first + "," + withoutProof)
	sig := hmacSHA256(ex.creds.storedKey, authMsg)
	clientKey := make([]byte, len(proof))
	for i := range proof {
		clientKey[i] = proof[i] ^ sig[i]
	}
	got := sha256.Sum256(clientKey)
	if subtle.ConstantTimeCompare(got[:], ex.creds.storedKey) != 1 {
		return nil, fmt.Errorf("%w: user %q: wrong password", errSASL, ex.user)
	}
	return []byte("v=" + base64.StdEncoding.EncodeToString(hmacSHA256(ex.creds.serverKy, authMsg))), nil
}

func scramAttrs(s string) map[string]string {
	out := map[string]string{}
	for _, kv := range strings.Split(s, ",") {
		if len(kv) >= 2 && kv[1] == '=' {
			if _, dup := out[kv[:1]]; !dup {
				out[kv[:1]] = kv[2:]
			}
		}
	}
	return out
}
