package devices

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDocumentEditsKeepComments(t *testing.T) {
	h := testHash(t)
	path := filepath.Join(t.TempDir(), "reg.yaml")
	orig := "# Plant 4 gateway\ndevices:\n  # the old pump\n  - id: pump-1\n    password-hash: " + h + " # rotated in May\n    publish:\n      - telemetry/{id}/#\n"
	if err := os.WriteFile(path, []byte(orig), 0o640); err != nil {
		t.Fatal(err)
	}
	d, err := OpenDocument(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Add(Device{ID: "pump-2", PasswordHash: h, Publish: []string{"telemetry/{id}/#"}, Subscribe: []string{"commands/{id}/#"},
		Enabled: true, Labels: map[string]string{"site": "north"}}); err != nil {
		t.Fatal(err)
	}
	if err := d.Add(Device{ID: "pump-1", PasswordHash: h}); !errors.Is(err, ErrExists) {
		t.Errorf("adding a duplicate: %v", err)
	}
	if err := d.SetEnabled("pump-1", false); err != nil {
		t.Fatal(err)
	}
	if err := d.SetPasswordHash("pump-2", "plain"); err == nil {
		t.Error("a plain password was accepted as a hash")
	}
	if err := d.Remove("ghost"); !errors.Is(err, ErrNotFound) {
		t.Errorf("removing a missing device: %v", err)
	}
	if err := d.Save(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	for _, c := range []string{"# Plant 4 gateway", "# the old pump", "# rotated in May"} {
		if !strings.Contains(string(data), c) {
			t.Errorf("comment %q lost:\n%s", c, data)
		}
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode changed to %v", fi.Mode().Perm())
	}
	r, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	p1, _ := r.Lookup("pump-1")
	p2, _ := r.Lookup("pump-2")
	if p1.Enabled || !p2.Enabled || p2.Labels["site"] != "north" || !r.CanSubscribe("pump-2", "commands/pump-2/x") {
		t.Errorf("after edits: %+v %+v", p1, p2)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*")); len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestDocumentCreatesAndDetectsConcurrentEdits(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new.yaml")
	d, err := OpenDocument(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Add(Device{ID: "a", PasswordHash: testHash(t), Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := d.Save(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("new file: %v %v", fi, err)
	}
	d1, _ := OpenDocument(path)
	d2, _ := OpenDocument(path)
	if err := d1.Remove("a"); err != nil {
		t.Fatal(err)
	}
	if err := d1.Save(); err != nil {
		t.Fatal(err)
	}
	if err := d2.SetEnabled("a", false); err != nil {
		t.Fatal(err)
	}
	if err := d2.Save(); !errors.Is(err, ErrConcurrentEdit) {
		t.Errorf("second writer: %v", err)
	}
	if err := os.WriteFile(path, []byte("devices:\n  - id: x\n    bogus: 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDocument(path); !errors.Is(err, ErrInvalid) {
		t.Errorf("editing an invalid file: %v", err)
	}
	for _, body := range []string{"", "# only a comment\n", "devices:\n"} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		d, err := OpenDocument(path)
		if err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		if err := d.Add(Device{ID: "a", PasswordHash: testHash(t), Enabled: true}); err != nil {
			t.Fatal(err)
		}
		if err := d.Save(); err != nil {
			t.Fatalf("%q: %v", body, err)
		}
		if r, err := Load(path); err != nil || r.Len() != 1 {
			t.Errorf("%q: %v", body, err)
		}
	}
}

func TestNewRegistryChecksLikeAFile(t *testing.T) {
	h := testHash(t)
	r, err := NewRegistry([]Device{{ID: "a", PasswordHash: h, Enabled: true, Publish: []string{"t/{id}/#"}}, {ID: "b", PasswordHash: h}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := r.Authenticate("a", testPassword); err != nil || !r.CanPublish("a", "t/a/x") {
		t.Errorf("registry from devices: %v", err)
	}
	if b, _ := r.Lookup("b"); b.Enabled {
		t.Error("Enabled false was not kept")
	}
	for name, devs := range map[string][]Device{
		"duplicate":  {{ID: "a", PasswordHash: h}, {ID: "a", PasswordHash: h}},
		"bad filter": {{ID: "a", PasswordHash: h, Publish: []string{"a/#/b"}}},
		"plain pw":   {{ID: "a", PasswordHash: "hunter2"}},
		"no secret":  {{ID: "a"}},
		"bad id":     {{ID: "a+b", PasswordHash: h}},
	} {
		if _, err := NewRegistry(devs); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
