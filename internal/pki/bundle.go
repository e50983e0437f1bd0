package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"time"
)

// Bundle is an agent's credentials: its certificate and key, and the hub CA.
type Bundle struct {
	AgentID string // the certificate's common name
	Cert    tls.Certificate
	CA      *x509.Certificate
}

// LoadBundle reads a credentials bundle file written by MintAgent.
func LoadBundle(path string) (*Bundle, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	bundle, err := ParseBundle(b)
	if err != nil {
		return nil, fmt.Errorf("%w (%s)", err, path)
	}
	return bundle, nil
}

// ParseBundle parses bundle PEM: the agent certificate, its private key and
// the CA certificate, in any order. The agent certificate must be signed by
// the CA, match the key, be meant for client authentication and be valid
// now.
func ParseBundle(b []byte) (*Bundle, error) {
	var leaf, ca *x509.Certificate
	var keyDER []byte
	for {
		var block *pem.Block
		block, b = pem.Decode(b)
		if block == nil {
			break
		}
		switch block.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("%w: %v", ErrBadBundle, err)
			}
			if c.IsCA {
				if ca != nil {
					return nil, fmt.Errorf("%w: more than one CA certificate", ErrBadBundle)
				}
				ca = c
			} else {
				if leaf != nil {
					return nil, fmt.Errorf("%w: more than one agent certificate", ErrBadBundle)
				}
				leaf = c
			}
		case "PRIVATE KEY":
			if keyDER != nil {
				return nil, fmt.Errorf("%w: more than one private key", ErrBadBundle)
			}
			keyDER = block.Bytes
		}
	}
	if leaf == nil || ca == nil || keyDER == nil {
		return nil, fmt.Errorf("%w: want an agent certificate, its private key and the CA certificate", ErrBadBundle)
	}
	key, err := parseKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}))
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadBundle, err)
	}
	if !publicKeysEqual(leaf.PublicKey, key.Public()) {
		return nil, fmt.Errorf("%w: the private key does not match the certificate", ErrBadBundle)
	}
	if err := CheckAgentID(leaf.Subject.CommonName); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadBundle, err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: time.Now(),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("%w: agent certificate: %v", ErrBadBundle, err)
	}
	return &Bundle{
		AgentID: leaf.Subject.CommonName,
		Cert:    tls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf},
		CA:      ca,
	}, nil
}

// ClientTLS is the agent's TLS configuration: TLS 1.3, its certificate,
// and only the bundle's CA trusted, for the name ServerName. Callers add
// ALPN and a session cache.
func (b *Bundle) ClientTLS() *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(b.CA)
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{b.Cert},
		RootCAs:      pool,
		ServerName:   ServerName,
	}
}

// Identity is what a verified peer certificate proves: the agent ID and the
// certificate's serial number.
type Identity struct {
	AgentID string
	Serial  string // lower-case hex
}

// PeerIdentity extracts the identity from a verified TLS connection state.
// It returns false when no client certificate was presented.
func PeerIdentity(cs tls.ConnectionState) (Identity, bool) {
	if len(cs.PeerCertificates) == 0 {
		return Identity{}, false
	}
	c := cs.PeerCertificates[0]
	return Identity{AgentID: c.Subject.CommonName, Serial: c.SerialNumber.Text(16)}, true
}
