package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
	"unicode/utf8"
)

// ServerName is the DNS name in the hub's certificate and the name agents
// verify, whatever address they dial.
const ServerName = "edgelog-hub"

// File names under DIR/tls.
const (
	CACertFile  = "ca.pem"
	CAKeyFile   = "ca-key.pem"
	HubCertFile = "hub.pem"
	HubKeyFile  = "hub-key.pem"
)

// Validity of what this package issues.
const (
	caValidity    = 20 * 365 * 24 * time.Hour
	certValidity  = 10 * 365 * 24 * time.Hour
	clockSkew     = time.Hour
	maxAgentIDLen = 256
)

// Errors, classified with errors.Is.
var (
	ErrBadAgentID = errors.New("pki: invalid agent ID")
	ErrBadBundle  = errors.New("pki: invalid credentials bundle")
	ErrBadFiles   = errors.New("pki: invalid CA files")
)

// Authority is the hub's CA with the hub's serving certificate.
type Authority struct {
	Dir     string // DIR/tls
	Cert    *x509.Certificate
	key     crypto.Signer
	certPEM []byte
	hub     tls.Certificate
}

// TLSDir is where the hub keeps its TLS files under its data directory.
func TLSDir(dataDir string) string { return filepath.Join(dataDir, "tls") }

// LoadOrCreate loads the CA under dataDir/tls, creating the directory, the
// CA and the hub certificate if they do not exist yet.
func LoadOrCreate(dataDir string) (*Authority, error) {
	dir := TLSDir(dataDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	key, err := loadOrCreateKey(filepath.Join(dir, CAKeyFile))
	if err != nil {
		return nil, err
	}
	certPEM, err := loadOrCreate(filepath.Join(dir, CACertFile), 0o644, func() ([]byte, error) {
		return selfSign(key)
	})
	if err != nil {
		return nil, err
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrBadFiles, CACertFile, err)
	}
	if !cert.IsCA || !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("%w: %s does not match %s", ErrBadFiles, CACertFile, CAKeyFile)
	}
	a := &Authority{Dir: dir, Cert: cert, key: key, certPEM: certPEM}
	if err := a.loadOrCreateHubCert(); err != nil {
		return nil, err
	}
	return a, nil
}

// CertPEM is the CA certificate in PEM: what agents trust.
func (a *Authority) CertPEM() []byte { return bytes.Clone(a.certPEM) }

// Pool is a pool holding only the CA.
func (a *Authority) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(a.Cert)
	return p
}

// ServerTLS is the hub's TLS configuration: TLS 1.3, its own certificate,
// and a client certificate chaining to the CA required of every peer.
// Callers add ALPN and any VerifyConnection hook.
func (a *Authority) ServerTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{a.hub},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    a.Pool(),
	}
}

// MintAgent issues a credentials bundle for agentID, valid for validity
// (0 means ten years).
func (a *Authority) MintAgent(agentID string, validity time.Duration) ([]byte, error) {
	if err := CheckAgentID(agentID); err != nil {
		return nil, err
	}
	if validity <= 0 {
		validity = certValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	tmpl, err := template(agentID, validity)
	if err != nil {
		return nil, err
	}
	tmpl.KeyUsage = x509.KeyUsageDigitalSignature
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, key.Public(), a.key)
	if err != nil {
		return nil, fmt.Errorf("pki: sign agent certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "# edgelog agent credentials for %q: client certificate, its key, hub CA\n", agentID)
	_ = pem.Encode(&b, &pem.Block{Type: "CERTIFICATE", Bytes: der})
	_ = pem.Encode(&b, &pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	b.Write(a.certPEM)
	return b.Bytes(), nil
}

// CheckAgentID reports whether id can name an agent: 1–256 bytes of
// UTF-8 without control characters.
func CheckAgentID(id string) error {
	if id == "" || len(id) > maxAgentIDLen || !utf8.ValidString(id) {
		return fmt.Errorf("%w: %q", ErrBadAgentID, id)
	}
	for _, r := range id {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %q has control characters", ErrBadAgentID, id)
		}
	}
	return nil
}

func (a *Authority) loadOrCreateHubCert() error {
	keyPath := filepath.Join(a.Dir, HubKeyFile)
	key, err := loadOrCreateKey(keyPath)
	if err != nil {
		return err
	}
	certPEM, err := loadOrCreate(filepath.Join(a.Dir, HubCertFile), 0o644, func() ([]byte, error) {
		tmpl, err := template(ServerName, certValidity)
		if err != nil {
			return nil, err
		}
		tmpl.DNSNames = []string{ServerName, "localhost"}
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, a.Cert, key.Public(), a.key)
		if err != nil {
			return nil, fmt.Errorf("pki: sign hub certificate: %w", err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
	})
	if err != nil {
		return err
	}
	cert, err := parseCertPEM(certPEM)
	if err != nil {
		return fmt.Errorf("%w: %s: %v", ErrBadFiles, HubCertFile, err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return fmt.Errorf("%w: %s does not match %s", ErrBadFiles, HubCertFile, HubKeyFile)
	}
	if err := cert.CheckSignatureFrom(a.Cert); err != nil {
		return fmt.Errorf("%w: %s is not signed by the CA: %v", ErrBadFiles, HubCertFile, err)
	}
	a.hub = tls.Certificate{Certificate: [][]byte{cert.Raw}, PrivateKey: key, Leaf: cert}
	return nil
}

func template(cn string, validity time.Duration) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("pki: %w", err)
	}
	now := time.Now()
	return &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn, Organization: []string{"edgelog"}},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(validity),
	}, nil
}

func selfSign(key crypto.Signer) ([]byte, error) {
	tmpl, err := template("edgelog hub CA", caValidity)
	if err != nil {
		return nil, err
	}
	tmpl.IsCA, tmpl.BasicConstraintsValid, tmpl.MaxPathLenZero = true, true, true
	tmpl.KeyUsage = x509.KeyUsageCertSign | x509.KeyUsageCRLSign
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: self-sign CA: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), nil
}

func parseCertPEM(b []byte) (*x509.Certificate, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "CERTIFICATE" {
		return nil, errors.New("no CERTIFICATE block")
	}
	return x509.ParseCertificate(block.Bytes)
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	ea, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && ea.Equal(b)
}
