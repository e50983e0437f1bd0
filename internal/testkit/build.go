package testkit

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

var build struct {
	once sync.Once
	path string
	err  error
	out  []byte
}

// BuildTags are the tags the test binary is built with: edgelog_faults
// adds the fault-injection hooks the power-cut scenarios use (inert unless
// their environment variable is set).
const BuildTags = "edgelog_faults"

// Binary builds ./cmd/edgelog once per test process (with -race when the
// tests run with it, and BuildTags) and returns the binary's path.
func Binary(t testing.TB) string {
	t.Helper()
	build.once.Do(func() {
		root, err := moduleRoot()
		if err != nil {
			build.err = err
			return
		}
		dir, err := os.MkdirTemp("", "edgelog-bin-")
		if err != nil {
			build.err = err
			return
		}
		build.path = filepath.Join(dir, "edgelog")
		args := []string{"build", "-tags", BuildTags, "-o", build.path}
		if raceEnabled {
			args = append(args, "-race")
		}
		cmd := exec.Command("go", append(args, "./cmd/edgelog")...)
		cmd.Dir = root
		build.out, build.err = cmd.CombinedOutput()
		trackSources(root)
	})
	if build.err != nil {
		t.Fatalf("building edgelog: %v\n%s", build.err, build.out)
	}
	return build.path
}

// moduleRoot finds the directory holding the edgelog go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", err
	}
	return filepath.Dir(strings.TrimSpace(string(out))), nil
}

// trackSources stats every non-test Go file of the module, and go.mod and
// go.sum. go test records the files a test stats and reruns it when one of
// them changes, so a cached result is never reused for a binary built from
// other sources.
func trackSources(root string) {
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(name, ".go") && !strings.HasSuffix(name, "_test.go") || name == "go.mod" || name == "go.sum" {
			_, _ = os.Stat(path)
		}
		return nil
	})
}

var tools struct {
	mu    sync.Mutex
	paths map[string]string // by package
}

// Tool builds the main package pkg of this module (e.g.
// "./internal/testkit/fleetsim") once per test process, without the race
// detector, and returns the binary's path.
func Tool(t testing.TB, pkg string) string {
	t.Helper()
	tools.mu.Lock()
	defer tools.mu.Unlock()
	if p, ok := tools.paths[pkg]; ok {
		return p
	}
	root, err := moduleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "edgelog-tool-")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", path, pkg)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s: %v\n%s", pkg, err, out)
	}
	trackSources(root)
	if tools.paths == nil {
		tools.paths = map[string]string{}
	}
	tools.paths[pkg] = path
	return path
}
