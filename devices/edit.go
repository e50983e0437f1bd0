package devices

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	"go.yaml.in/yaml/v3"
)

// newFileHeader starts a registry file that edits create.
const newFileHeader = "# edgelog device registry: edit with `edgelog devices`, or by hand\n# (format: go doc github.com/edgelog/edgelog/devices).\ndevices: []\n"

// Document is a registry file opened for editing. Edits work on the YAML
// node tree, so comments and the order of devices survive; Save writes the
// result atomically and only if it loads as a valid registry.
type Document struct {
	path   string
	mode   fs.FileMode
	digest [sha256.Size]byte // of the bytes read; Save refuses if the file changed since
	exists bool
	doc    yaml.Node
	list   *yaml.Node // the devices sequence
}

// OpenDocument reads the registry at path for editing. A missing file is an
// empty registry (Save creates it, mode 0600). An existing file must load.
func OpenDocument(path string) (*Document, error) {
	d := &Document{path: path, mode: 0o600}
	data, err := readBounded(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		data = []byte(newFileHeader)
	case err != nil:
		return nil, err
	default:
		d.exists = true
		if fi, err := os.Stat(path); err == nil {
			d.mode = fi.Mode().Perm()
		}
		d.digest = sha256.Sum256(data)
		if _, err := parse(path, data); err != nil {
			return nil, err
		}
	}
	if err := d.load(data); err != nil {
		return nil, err
	}
	return d, nil
}

// NewRegistry builds a registry from devices, checked exactly as a file
// with these entries would be (for programs that provision devices in
// memory, such as edgelog demo).
func NewRegistry(devs []Device) (*Registry, error) {
	d := &Document{}
	if err := d.load([]byte(newFileHeader)); err != nil {
		return nil, err
	}
	for _, dev := range devs {
		if err := d.Add(dev); err != nil {
			return nil, err
		}
	}
	data, err := d.Bytes()
	if err != nil {
		return nil, err
	}
	return Parse(data)
}

// load parses data (a valid registry) into the node tree.
func (d *Document) load(data []byte) error {
	if err := yaml.Unmarshal(data, &d.doc); err != nil {
		return yamlError(err)
	}
	if len(d.doc.Content) == 0 { // empty or comment-only file
		var fresh yaml.Node
		if err := yaml.Unmarshal([]byte(newFileHeader), &fresh); err != nil {
			return err
		}
		fresh.HeadComment = d.doc.HeadComment
		d.doc = fresh
	}
	root := d.doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == keyDevices {
			d.list = root.Content[i+1]
		}
	}
	if d.list == nil {
		root.Content = append(root.Content, strNode(keyDevices), &yaml.Node{Kind: yaml.SequenceNode})
		d.list = root.Content[len(root.Content)-1]
	}
	if d.list.Kind != yaml.SequenceNode { // "devices:" with no value
		*d.list = yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Line: d.list.Line}
	}
	d.list.Style = 0 // block style, so appended devices read naturally
	return nil
}

func strNode(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func boolNode(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(b)}
}

// find returns the mapping node of device id, or nil.
func (d *Document) find(id string) (int, *yaml.Node) {
	for i, item := range d.list.Content {
		if item.Kind != yaml.MappingNode {
			continue
		}
		for j := 0; j+1 < len(item.Content); j += 2 {
			if item.Content[j].Value == keyID && item.Content[j+1].Value == id {
				return i, item
			}
		}
	}
	return -1, nil
}

// Has reports whether device id is in the document.
func (d *Document) Has(id string) bool {
	_, n := d.find(id)
	return n != nil
}

// Add appends a device. Its ID, filters and credentials are checked as the
// parser would; ErrExists if the ID is taken.
func (d *Document) Add(dev Device) error {
	if err := ValidateID(dev.ID); err != nil {
		return err
	}
	if _, n := d.find(dev.ID); n != nil {
		return fmt.Errorf("%w: %q", ErrExists, dev.ID)
	}
	m := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	set := func(k string, v *yaml.Node) { m.Content = append(m.Content, strNode(k), v) }
	set(keyID, strNode(dev.ID))
	if dev.PasswordHash != "" {
		set(keyPassword, strNode(dev.PasswordHash))
	}
	if dev.CertSHA256 != "" {
		set(keyCert, strNode(dev.CertSHA256))
	}
	for _, l := range []struct {
		key string
		fs  []string
	}{{keyPublish, dev.Publish}, {keySubscribe, dev.Subscribe}} {
		if len(l.fs) == 0 {
			continue
		}
		seq := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
		for _, f := range l.fs {
			seq.Content = append(seq.Content, strNode(f))
		}
		set(l.key, seq)
	}
	set(keyEnabled, boolNode(dev.Enabled))
	if len(dev.Labels) > 0 {
		lm := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
		keys := make([]string, 0, len(dev.Labels))
		for k := range dev.Labels {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			lm.Content = append(lm.Content, strNode(k), strNode(dev.Labels[k]))
		}
		set(keyLabels, lm)
	}
	d.list.Content = append(d.list.Content, m)
	return nil
}

// Remove deletes device id (ErrNotFound if absent).
func (d *Document) Remove(id string) error {
	i, n := d.find(id)
	if n == nil {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	d.list.Content = append(d.list.Content[:i], d.list.Content[i+1:]...)
	return nil
}

// SetPasswordHash replaces (or adds) device id's password hash.
func (d *Document) SetPasswordHash(id, hash string) error {
	if err := checkHash(hash); err != nil {
		return fmt.Errorf("devices: %v", err)
	}
	return d.setKey(id, keyPassword, strNode(hash))
}

// SetEnabled sets device id's enabled flag.
func (d *Document) SetEnabled(id string, enabled bool) error {
	return d.setKey(id, keyEnabled, boolNode(enabled))
}

func (d *Document) setKey(id, key string, v *yaml.Node) error {
	_, n := d.find(id)
	if n == nil {
		return fmt.Errorf("%w: %q", ErrNotFound, id)
	}
	for j := 0; j+1 < len(n.Content); j += 2 {
		if n.Content[j].Value == key {
			old := n.Content[j+1]
			v.LineComment, v.HeadComment, v.FootComment = old.LineComment, old.HeadComment, old.FootComment
			n.Content[j+1] = v
			return nil
		}
	}
	n.Content = append(n.Content, strNode(key), v)
	return nil
}

// Bytes renders the document and checks that it loads.
func (d *Document) Bytes() ([]byte, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&d.doc); err != nil {
		return nil, fmt.Errorf("devices: render registry: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("devices: render registry: %w", err)
	}
	if _, err := parse(d.path, buf.Bytes()); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ErrConcurrentEdit: the file changed between OpenDocument and Save.
var ErrConcurrentEdit = errors.New("devices: registry file changed while editing; run the command again")

// Save writes the document back atomically. It refuses to overwrite a file
// that changed since OpenDocument read it.
func (d *Document) Save() error {
	data, err := d.Bytes()
	if err != nil {
		return err
	}
	cur, err := readBounded(d.path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if d.exists {
			return ErrConcurrentEdit
		}
	case err != nil:
		return err
	case !d.exists || sha256.Sum256(cur) != d.digest:
		return ErrConcurrentEdit
	}
	return WriteFileAtomic(d.path, data, d.mode)
}

// WriteFileAtomic replaces path with data so that a crash leaves either the
// old or the new content: it writes a temporary file in the same directory,
// fsyncs it, renames it over path and fsyncs the directory.
func WriteFileAtomic(path string, data []byte, perm fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err == nil {
		if err = f.Chmod(perm); err == nil {
			err = f.Sync()
		}
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("devices: write %s: %w", tmp, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("devices: %w", err)
	}
	df, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("devices: sync dir: %w", err)
	}
	defer df.Close()
	if err = df.Sync(); err != nil {
		return fmt.Errorf("devices: sync dir %s: %w", dir, err)
	}
	return nil
}
