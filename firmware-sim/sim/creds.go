package sim

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/edgelog/edgelog/devices"
	"go.yaml.in/yaml/v3"
)

// maxCredentialsBytes bounds a credentials file.
const maxCredentialsBytes = 8 << 20

// credentialsFile is the simulator's credentials file: the plaintext
// passwords of a test fleet, which a device registry stores only hashed.
//
//	# firmware-sim credentials: plaintext, for test fleets only
//	devices:
//	  - id: sim-0001
//	    password: Zq0v…
type credentialsFile struct {
	Devices []Credential `yaml:"devices"`
}

// LoadCredentials reads a credentials file.
func LoadCredentials(path string) ([]Credential, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("sim: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCredentialsBytes+1))
	if err != nil {
		return nil, fmt.Errorf("sim: read %s: %w", path, err)
	}
	if len(data) > maxCredentialsBytes {
		return nil, fmt.Errorf("sim: %s is larger than %d bytes", path, maxCredentialsBytes)
	}
	var cf credentialsFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cf); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("sim: %s: %v", path, err)
	}
	seen := map[string]bool{}
	for i, c := range cf.Devices {
		if err := devices.ValidateID(c.ID); err != nil {
			return nil, fmt.Errorf("sim: %s: device %d: %v", path, i+1, err)
		}
		if seen[c.ID] {
			return nil, fmt.Errorf("sim: %s: device %q listed twice", path, c.ID)
		}
		seen[c.ID] = true
	}
	return cf.Devices, nil
}

// SaveCredentials writes a credentials file atomically, mode 0600.
func SaveCredentials(path string, creds []Credential) error {
	var buf bytes.Buffer
	buf.WriteString("# firmware-sim credentials: plaintext passwords, for test fleets only.\n")
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(credentialsFile{Devices: creds}); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	if err := enc.Close(); err != nil {
		return fmt.Errorf("sim: %w", err)
	}
	return devices.WriteFileAtomic(path, buf.Bytes(), 0o600)
}

// ProvisionOptions describes devices to create in a registry.
type ProvisionOptions struct {
	Devices   int    // ordinary devices: PREFIX0001 …
	BadActors int    // bad actors: PREFIXbad-001 … (registered like the others)
	Prefix    string // "sim-" by default
	Cost      int    // bcrypt cost; 0 means devices.DefaultCost
}

// Provision creates credentials for a fleet with random passwords and the
// registry entries that let them in (publish telemetry/{id}/# and
// logs/{id}/#, subscribe commands/{id}/#). IDs follow the simulator's
// defaults, so a fleet run with these credentials uses the same names.
func Provision(o ProvisionOptions) ([]Credential, []devices.Device, error) {
	if o.Prefix == "" {
		o.Prefix = "sim-"
	}
	n := o.Devices + o.BadActors
	creds := make([]Credential, 0, n)
	devs := make([]devices.Device, 0, n)
	for i := range n {
		id := fmt.Sprintf("%s%04d", o.Prefix, i+1)
		if i >= o.Devices {
			id = fmt.Sprintf("%sbad-%03d", o.Prefix, i-o.Devices+1)
		}
		raw := make([]byte, 16)
		_, _ = rand.Read(raw) // crypto/rand.Read never returns an error
		pw := base64.RawURLEncoding.EncodeToString(raw)
		hash, err := devices.HashPassword(pw, o.Cost)
		if err != nil {
			return nil, nil, err
		}
		creds = append(creds, Credential{ID: id, Password: pw})
		devs = append(devs, devices.Device{ID: id, PasswordHash: hash, Enabled: true,
			Publish: []string{"telemetry/{id}/#", "logs/{id}/#"}, Subscribe: []string{"commands/{id}/#"},
			Labels: map[string]string{"fleet": "firmware-sim"}})
	}
	return creds, devs, nil
}

// ProvisionFiles adds the provisioned devices to the registry file (created
// if missing) and writes their credentials file.
func ProvisionFiles(registry, credentials string, o ProvisionOptions) error {
	creds, devs, err := Provision(o)
	if err != nil {
		return err
	}
	doc, err := devices.OpenDocument(registry)
	if err != nil {
		return err
	}
	for _, d := range devs {
		if err := doc.Add(d); err != nil {
			return err
		}
	}
	if err := SaveCredentials(credentials, creds); err != nil {
		return err
	}
	return doc.Save()
}
