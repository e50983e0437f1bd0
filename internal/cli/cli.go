package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"go.yaml.in/yaml/v3"
)

// Exit codes shared by every subcommand.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// maxConfigBytes bounds a --config file; configs are small, anything larger
// is a mistake or an attack.
const maxConfigBytes = 1 << 20

// UsageError is a bad flag, config key or value. Its message is one line and
// names the offending key.
type UsageError struct {
	Key string
	Err error
}

func (e *UsageError) Error() string {
	if e.Key == "" {
		return e.Err.Error()
	}
	return fmt.Sprintf("%s: %v", e.Key, e.Err)
}

func (e *UsageError) Unwrap() error { return e.Err }

// Usagef builds a UsageError for key.
func Usagef(key, format string, args ...any) error {
	return &UsageError{Key: key, Err: fmt.Errorf(format, args...)}
}

// Env is what a command may touch of the outside world.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
}

// OSEnv returns the process's standard streams.
func OSEnv() *Env { return &Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr} }

// Command is one subcommand of the edgelog binary.
type Command struct {
	Name    string
	Summary string
	// Run gets the arguments after the command name and returns an exit code.
	Run func(ctx context.Context, args []string, env *Env) int
}

// NewFlagSet returns a FlagSet that reports errors instead of exiting and
// prints its usage to env.Stderr on -h/--help. A --config flag is added.
func NewFlagSet(name, synopsis string, env *Env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.String("config", "", "YAML file with flag values (keys are flag names); flags override it")
	fs.Usage = func() {
		fmt.Fprintf(env.Stderr, "usage: %s\n\nflags:\n", synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// Parse parses args into fs, after applying the values of the file named by
// the --config flag (if any). It returns flag.ErrHelp for -h/--help, and a
// *UsageError for anything wrong.
func Parse(fs *flag.FlagSet, args []string) error {
	// Errors are returned and printed once by the caller: silence the flag
	// package's own error and usage printing during the parse.
	out, usage := outputOf(fs), fs.Usage
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	fs.SetOutput(out)
	fs.Usage = usage
	if errors.Is(err, flag.ErrHelp) {
		fs.Usage()
		return flag.ErrHelp
	}
	if err != nil {
		return &UsageError{Err: err}
	}
	cfg := fs.Lookup("config")
	if cfg == nil || cfg.Value.String() == "" {
		return nil
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	values, err := readConfig(cfg.Value.String())
	if err != nil {
		return err
	}
	keys := make([]string, 0, len(values))
	for k := range values {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k == "config" || fs.Lookup(k) == nil {
			return Usagef(k, "unknown config key in %s", cfg.Value.String())
		}
		if set[k] {
			continue // the command line wins
		}
		if err := fs.Set(k, values[k]); err != nil {
			return Usagef(k, "%v", err)
		}
	}
	return nil
}

// outputOf recovers the output set by NewFlagSet; flag.FlagSet.Output
// returns stderr when none was set.
func outputOf(fs *flag.FlagSet) io.Writer { return fs.Output() }

// readConfig loads a flat YAML mapping of flag name → scalar value.
func readConfig(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, Usagef("config", "%v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, Usagef("config", "%v", err)
	}
	if len(data) > maxConfigBytes {
		return nil, Usagef("config", "%s is larger than %d bytes", path, maxConfigBytes)
	}
	return ParseConfig(data)
}

// ParseConfig decodes a flat YAML mapping whose values are scalars (or lists
// of scalars, joined with commas). It is exported for the fuzz target.
func ParseConfig(data []byte) (map[string]string, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, Usagef("config", "%v", firstLine(err.Error()))
	}
	out := map[string]string{}
	if len(doc.Content) == 0 {
		return out, nil // empty file
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, Usagef("config", "line %d: want a mapping of flag names to values", root.Line)
	}
	for i := 0; i+1 < len(root.Content); i += 2 {
		k, v := root.Content[i], root.Content[i+1]
		if _, dup := out[k.Value]; dup {
			return nil, Usagef(k.Value, "line %d: key given twice", k.Line)
		}
		switch v.Kind {
		case yaml.ScalarNode:
			out[k.Value] = v.Value
		case yaml.SequenceNode:
			parts := make([]string, 0, len(v.Content))
			for _, item := range v.Content {
				if item.Kind != yaml.ScalarNode {
					return nil, Usagef(k.Value, "line %d: list items must be scalars", item.Line)
				}
				parts = append(parts, item.Value)
			}
			out[k.Value] = strings.Join(parts, ",")
		default:
			return nil, Usagef(k.Value, "line %d: value must be a scalar or a list", v.Line)
		}
	}
	return out, nil
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// ReportParse turns the result of Parse into an exit code, printing a
// one-line error for usage problems. ok is true when the command should run.
func ReportParse(err error, env *Env, command string) (code int, ok bool) {
	switch {
	case err == nil:
		return ExitOK, true
	case errors.Is(err, flag.ErrHelp):
		return ExitOK, false
	default:
		fmt.Fprintf(env.Stderr, "edgelog %s: %v\n", command, err)
		return ExitUsage, false
	}
}

// SignalContext returns a context cancelled on SIGINT or SIGTERM.
func SignalContext(parent context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
}

// ParseArgs is Parse for commands that take positional arguments: flags may
// come before, between or after them (`wal dump DIR --format json`). A lone
// "--" ends flag parsing. It returns the positional arguments in order.
func ParseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			positional = append(positional, args[i+1:]...)
			i = len(args)
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			if f := fs.Lookup(name); f != nil && !isBoolFlag(f) && i+1 < len(args) {
				i++
				flags = append(flags, args[i])
			}
		default:
			positional = append(positional, a)
		}
	}
	return positional, Parse(fs, flags)
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}
