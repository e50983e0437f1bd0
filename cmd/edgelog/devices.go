package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/edgelog/edgelog/devices"
	"github.com/edgelog/edgelog/internal/cli"
	"golang.org/x/crypto/bcrypt"
)

const devicesUsage = `usage: edgelog devices COMMAND [ID] --file FILE [flags]

Manages a device registry file (the agent's --devices FILE). Edits keep the
file's comments and replace it atomically; an agent watching it reloads.

  add ID       registers a device; its password is read from stdin (a
               prompt without echo on a terminal), or --generate-password
  list         prints the devices (--format table|json)
  remove ID    deletes a device (an agent disconnects it on reload)
  passwd ID    sets a new password, read like add's
  enable ID    lets a device connect again
  disable ID   refuses a device's logins (an agent disconnects it on reload)

Examples:
  edgelog devices add pump-17 --file devices.yaml --label site=north
  edgelog devices add pump-18 --file devices.yaml --generate-password
  edgelog devices list --file devices.yaml --format json

edgelog devices COMMAND --help lists that command's flags.`

// Default ACL of a device added without --publish/--subscribe.
var (
	defaultPublish   = []string{"telemetry/{id}/#", "logs/{id}/#"}
	defaultSubscribe = []string{"commands/{id}/#"}
)

func devicesCommand() cli.Command {
	return cli.Command{Name: "devices", Summary: "manages a device registry file (add, list, remove, passwd, enable, disable)", Run: runDevices}
}

func runDevices(_ context.Context, args []string, env *cli.Env) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(env.Stderr, devicesUsage)
		if len(args) == 0 {
			return cli.ExitUsage
		}
		return cli.ExitOK
	}
	sub, rest := args[0], args[1:]
	switch sub {
	case "add":
		return devicesAdd(rest, env)
	case "list":
		return devicesList(rest, env)
	case "remove", "passwd", "enable", "disable":
		return devicesEdit(sub, rest, env)
	}
	fmt.Fprintf(env.Stderr, "edgelog devices: unknown command %q (want add, list, remove, passwd, enable or disable)\n", sub)
	return cli.ExitUsage
}

// devicesFlags holds what every devices subcommand parses.
type devicesFlags struct {
	fs   *flag.FlagSet
	name string // "devices add", for messages
	file *string
	id   *string
}

func newDevicesFlags(sub, synopsis string, env *cli.Env, withID bool) *devicesFlags {
	f := &devicesFlags{name: "devices " + sub}
	f.fs = cli.NewFlagSet("edgelog "+f.name, synopsis, env)
	f.file = f.fs.String("file", "", "registry file (required)")
	if withID {
		f.id = f.fs.String("id", "", "device ID (instead of the positional ID)")
	}
	return f
}

// parse parses args and checks --file and the device ID. ok is false when
// the command must stop with code.
func (f *devicesFlags) parse(args []string, env *cli.Env) (code int, ok bool) {
	pos, err := cli.ParseArgs(f.fs, args)
	if err == nil {
		err = f.check(pos)
	}
	return cli.ReportParse(err, env, f.name)
}

func (f *devicesFlags) check(pos []string) error {
	if *f.file == "" {
		return cli.Usagef("file", "required")
	}
	if f.id == nil {
		if len(pos) > 0 {
			return cli.Usagef("", "unexpected argument %q", pos[0])
		}
		return nil
	}
	switch {
	case len(pos) > 1:
		return cli.Usagef("", "unexpected argument %q", pos[1])
	case len(pos) == 1 && *f.id != "" && *f.id != pos[0]:
		return cli.Usagef("id", "%q contradicts the argument %q", *f.id, pos[0])
	case len(pos) == 1:
		*f.id = pos[0]
	case *f.id == "":
		return cli.Usagef("id", "required (edgelog %s ID --file FILE)", f.name)
	}
	if err := devices.ValidateID(*f.id); err != nil {
		return cli.Usagef("id", "%v", err)
	}
	return nil
}

// fail prints a one-line runtime error and returns ExitFailure.
func (f *devicesFlags) fail(env *cli.Env, err error) int {
	fmt.Fprintf(env.Stderr, "edgelog %s: %v\n", f.name, err)
	return cli.ExitFailure
}

// listFlag is a repeatable flag; a --config list arrives comma-joined.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l = append(*l, p)
		}
	}
	return nil
}

func devicesAdd(args []string, env *cli.Env) int {
	f := newDevicesFlags("add", "edgelog devices add ID --file FILE [flags]  (password on stdin)", env, true)
	var publish, subscribe, labels listFlag
	f.fs.Var(&publish, "publish", "topic filter the device may publish to, {id} = its ID (repeatable; default "+strings.Join(defaultPublish, ", ")+")")
	f.fs.Var(&subscribe, "subscribe", "topic filter the device may subscribe to (repeatable; default "+strings.Join(defaultSubscribe, ", ")+")")
	f.fs.Var(&labels, "label", "NAME=VALUE label, e.g. site=north (repeatable)")
	cert := f.fs.String("cert-sha256", "", "SHA-256 fingerprint of the device's TLS client certificate")
	noPassword := f.fs.Bool("no-password", false, "no password: the device authenticates with its certificate only (needs --cert-sha256)")
	generate := f.fs.Bool("generate-password", false, "generate a random password and print it on stdout (once; it is stored only hashed)")
	disabled := f.fs.Bool("disabled", false, "register the device disabled")
	cost := f.fs.Int("cost", devices.DefaultCost, "bcrypt cost")
	if code, ok := f.parse(args, env); !ok {
		return code
	}
	dev := devices.Device{ID: *f.id, Enabled: !*disabled, Publish: publish, Subscribe: subscribe}
	if len(dev.Publish) == 0 {
		dev.Publish = defaultPublish
	}
	if len(dev.Subscribe) == 0 {
		dev.Subscribe = defaultSubscribe
	}
	err := checkFilters("publish", dev.Publish)
	if err == nil {
		err = checkFilters("subscribe", dev.Subscribe)
	}
	if err == nil {
		dev.Labels, err = parseLabels(labels)
	}
	if err == nil && *cert != "" {
		if dev.CertSHA256, err = devices.NormalizeFingerprint(*cert); err != nil {
			err = cli.Usagef("cert-sha256", "%v", err)
		}
	}
	if err == nil {
		err = checkPasswordFlags(*noPassword, *generate, *cert != "", *cost)
	}
	if code, ok := cli.ReportParse(err, env, f.name); !ok {
		return code
	}
	doc, err := devices.OpenDocument(*f.file)
	if err != nil {
		return f.fail(env, err)
	}
	if doc.Has(dev.ID) {
		return f.fail(env, fmt.Errorf("%w: %q (use passwd, enable or remove)", devices.ErrExists, dev.ID))
	}
	var password string
	if !*noPassword {
		if password, err = obtainPassword(env, dev.ID, *generate); err != nil {
			return f.fail(env, err)
		}
		if dev.PasswordHash, err = devices.HashPassword(password, *cost); err != nil {
			return f.fail(env, err)
		}
	}
	if err := doc.Add(dev); err != nil {
		return f.fail(env, err)
	}
	if err := doc.Save(); err != nil {
		return f.fail(env, err)
	}
	if *generate {
		fmt.Fprintln(env.Stdout, password)
	}
	fmt.Fprintf(env.Stderr, "added %s to %s\n", dev.ID, *f.file)
	return cli.ExitOK
}

func checkFilters(key string, fs []string) error {
	for _, f := range fs {
		if err := devices.ValidateACLFilter(f); err != nil {
			return cli.Usagef(key, "%v", err)
		}
	}
	if len(fs) > devices.MaxFilters {
		return cli.Usagef(key, "at most %d filters", devices.MaxFilters)
	}
	return nil
}

func parseLabels(kvs []string) (map[string]string, error) {
	if len(kvs) == 0 {
		return nil, nil
	}
	if len(kvs) > devices.MaxLabels {
		return nil, cli.Usagef("label", "at most %d labels", devices.MaxLabels)
	}
	out := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, cli.Usagef("label", "%q: want NAME=VALUE", kv)
		}
		if len(k) > devices.MaxLabelBytes || len(v) > devices.MaxLabelBytes {
			return nil, cli.Usagef("label", "%q: longer than %d bytes", k, devices.MaxLabelBytes)
		}
		out[k] = v
	}
	return out, nil
}

func checkPasswordFlags(noPassword, generate, haveCert bool, cost int) error {
	switch {
	case noPassword && !haveCert:
		return cli.Usagef("no-password", "needs --cert-sha256 (a device needs a password or a certificate)")
	case noPassword && generate:
		return cli.Usagef("generate-password", "contradicts --no-password")
	case cost < bcrypt.MinCost || cost > bcrypt.MaxCost:
		return cli.Usagef("cost", "%d is outside %d..%d", cost, bcrypt.MinCost, bcrypt.MaxCost)
	}
	return nil
}

// generatedPassword is 128 random bits, URL-safe, 22 characters.
func generatedPassword() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never returns an error
	return base64.RawURLEncoding.EncodeToString(b)
}

func devicesEdit(sub string, args []string, env *cli.Env) int {
	f := newDevicesFlags(sub, "edgelog devices "+sub+" ID --file FILE", env, true)
	var cost *int
	if sub == "passwd" {
		cost = f.fs.Int("cost", devices.DefaultCost, "bcrypt cost")
	}
	generate := false
	if sub == "passwd" {
		f.fs.BoolVar(&generate, "generate-password", false, "generate a random password and print it on stdout")
	}
	code, ok := f.parse(args, env)
	if ok && cost != nil {
		code, ok = cli.ReportParse(checkPasswordFlags(false, generate, false, *cost), env, f.name)
	}
	if !ok {
		return code
	}
	doc, err := devices.OpenDocument(*f.file)
	if err != nil {
		return f.fail(env, err)
	}
	if !doc.Has(*f.id) {
		return f.fail(env, fmt.Errorf("%w: %q in %s", devices.ErrNotFound, *f.id, *f.file))
	}
	var password string
	switch sub {
	case "remove":
		err = doc.Remove(*f.id)
	case "enable", "disable":
		err = doc.SetEnabled(*f.id, sub == "enable")
	case "passwd":
		var hash string
		if password, err = obtainPassword(env, *f.id, generate); err == nil {
			if hash, err = devices.HashPassword(password, *cost); err == nil {
				err = doc.SetPasswordHash(*f.id, hash)
			}
		}
	}
	if err == nil {
		err = doc.Save()
	}
	if err != nil {
		return f.fail(env, err)
	}
	if generate {
		fmt.Fprintln(env.Stdout, password)
	}
	fmt.Fprintf(env.Stderr, "%s: %s done\n", *f.id, sub)
	return cli.ExitOK
}

// listEntry is one device in `devices list --format json`.
type listEntry struct {
	ID         string            `json:"id"`
	Enabled    bool              `json:"enabled"`
	Password   bool              `json:"password"`
	CertSHA256 string            `json:"cert_sha256,omitempty"`
	Publish    []string          `json:"publish"`
	Subscribe  []string          `json:"subscribe"`
	Labels     map[string]string `json:"labels,omitempty"`
}

func devicesList(args []string, env *cli.Env) int {
	f := newDevicesFlags("list", "edgelog devices list --file FILE [--format table|json]", env, false)
	format := f.fs.String("format", "table", "table or json")
	code, ok := f.parse(args, env)
	if ok && *format != "table" && *format != "json" {
		code, ok = cli.ReportParse(cli.Usagef("format", "%q: want table or json", *format), env, f.name)
	}
	if !ok {
		return code
	}
	reg, err := devices.Load(*f.file)
	if err != nil {
		return f.fail(env, err)
	}
	entries := make([]listEntry, 0, reg.Len())
	for _, d := range reg.Devices() {
		entries = append(entries, listEntry{ID: d.ID, Enabled: d.Enabled, Password: d.HasPassword(), CertSHA256: d.CertSHA256,
			Publish: nonNil(d.Publish), Subscribe: nonNil(d.Subscribe), Labels: d.Labels})
	}
	if *format == "json" {
		enc := json.NewEncoder(env.Stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(entries); err != nil {
			return f.fail(env, err)
		}
		return cli.ExitOK
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tENABLED\tAUTH\tPUBLISH\tSUBSCRIBE\tLABELS")
	for _, e := range entries {
		fmt.Fprintf(tw, "%s\t%v\t%s\t%s\t%s\t%s\n", e.ID, e.Enabled, authKind(e), orDash(strings.Join(e.Publish, ",")),
			orDash(strings.Join(e.Subscribe, ",")), orDash(formatLabels(e.Labels)))
	}
	if err := tw.Flush(); err != nil {
		return f.fail(env, err)
	}
	return cli.ExitOK
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func authKind(e listEntry) string {
	switch {
	case e.Password && e.CertSHA256 != "":
		return "password+cert"
	case e.CertSHA256 != "":
		return "cert"
	}
	return "password"
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func formatLabels(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, k+"="+m[k])
	}
	return strings.Join(parts, ",")
}
