package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/edgelog/edgelog/internal/cli"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

const consumeSynopsis = `edgelog consume --kafka ADDR --topic T [--group G] [--from-beginning] [--format text|json]

Prints the records of a hub topic, as any Kafka consumer reads them. Without
--group it reads every partition from the end (or, with --from-beginning,
from the start) and commits nothing; with --group it consumes as a member of
that consumer group, starts from the group's committed offsets (a new
group starts at the end, or the start with --from-beginning), and commits
what it printed. Ctrl-C stops cleanly.

--format text (default): one line per record,
  TIME TOPIC/PARTITION@OFFSET KEY VALUE
where a key or value that is not valid UTF-8 is printed as base64:... and
newlines in values are escaped as \n.
--format json: one JSON object per line:
  {"topic","partition","offset","timestamp" (ms),"time" (RFC 3339),
   "key","key_encoding","value","value_encoding","headers"}
where key and value are UTF-8 strings when they are valid UTF-8
("utf-8") and base64 otherwise ("base64"); a missing key is null. Headers
are an object of strings under the same rule (base64 values are prefixed
"base64:"); a header key that repeats keeps its last value.`

type consumeFlags struct {
	kafka, topic, group, format string
	user, password, mechanism   string
	tlsCA                       string
	fromBeginning, useTLS       bool
	maxRecords                  int
}

func consumeCommand() cli.Command {
	return cli.Command{Name: "consume", Summary: "prints hub records over the Kafka protocol", Run: runConsume}
}

func runConsume(ctx context.Context, args []string, env *cli.Env) int {
	fs := cli.NewFlagSet("consume", consumeSynopsis, env)
	var f consumeFlags
	fs.StringVar(&f.kafka, "kafka", "localhost:9092", "hub's --listen-kafka address (comma-separated for several)")
	fs.StringVar(&f.topic, "topic", "", "topic to print (required)")
	fs.StringVar(&f.group, "group", "", "consume as a member of this consumer group, committing offsets")
	fs.BoolVar(&f.fromBeginning, "from-beginning", false, "start at the earliest offset (without committed offsets)")
	fs.StringVar(&f.format, "format", "text", "text or json")
	fs.IntVar(&f.maxRecords, "max-records", 0, "exit after printing this many records (0: run until interrupted)")
	fs.BoolVar(&f.useTLS, "tls", false, "connect with TLS")
	fs.StringVar(&f.tlsCA, "tls-ca", "", "PEM CA to trust for --tls (default: the system's)")
	fs.StringVar(&f.user, "sasl-user", "", "SASL user")
	fs.StringVar(&f.password, "sasl-password", "", "SASL password (or EDGELOG_SASL_PASSWORD)")
	fs.StringVar(&f.mechanism, "sasl-mechanism", "SCRAM-SHA-256", "SCRAM-SHA-256 or PLAIN")
	if code, ok := cli.ReportParse(cli.Parse(fs, args), env, "consume"); !ok {
		return code
	}
	usage := func(err error) int {
		fmt.Fprintf(env.Stderr, "edgelog consume: %v\n", err)
		return cli.ExitUsage
	}
	if fs.NArg() > 0 {
		return usage(cli.Usagef("", "unexpected argument %q", fs.Arg(0)))
	}
	opts, err := f.clientOptions()
	if err != nil {
		return usage(err)
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return usage(cli.Usagef("kafka", "%v", err))
	}
	defer cl.Close()
	ctx, stop := cli.SignalContext(ctx)
	defer stop()
	w := bufio.NewWriter(env.Stdout)
	defer w.Flush()
	err = consumeLoop(ctx, cl, w, f)
	if f.group != "" {
		cctx, done := context.WithTimeout(context.Background(), 10*time.Second)
		if cerr := cl.CommitUncommittedOffsets(cctx); cerr != nil && err == nil {
			err = fmt.Errorf("commit: %w", cerr)
		}
		done()
	}
	if err != nil {
		w.Flush()
		fmt.Fprintf(env.Stderr, "edgelog consume: %v\n", err)
		return cli.ExitFailure
	}
	return cli.ExitOK
}

func (f *consumeFlags) clientOptions() ([]kgo.Opt, error) {
	if f.topic == "" {
		return nil, cli.Usagef("topic", "required")
	}
	if f.format != "text" && f.format != "json" {
		return nil, cli.Usagef("format", "want text or json, got %q", f.format)
	}
	if f.maxRecords < 0 {
		return nil, cli.Usagef("max-records", "must not be negative")
	}
	var seeds []string
	for _, s := range strings.Split(f.kafka, ",") {
		if s = strings.TrimSpace(s); s != "" {
			if err := checkListenAddr(s, false); err != nil {
				return nil, cli.Usagef("kafka", "%v", err)
			}
			seeds = append(seeds, s)
		}
	}
	if len(seeds) == 0 {
		return nil, cli.Usagef("kafka", "required")
	}
	start := kgo.NewOffset().AtEnd()
	if f.fromBeginning {
		start = kgo.NewOffset().AtStart()
	}
	opts := []kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ConsumeTopics(f.topic), kgo.ConsumeResetOffset(start), kgo.ClientID("edgelog-consume")}
	if f.group != "" {
		opts = append(opts, kgo.ConsumerGroup(f.group), kgo.DisableAutoCommit())
	}
	if f.useTLS || f.tlsCA != "" {
		tc := &tls.Config{MinVersion: tls.VersionTLS12}
		if f.tlsCA != "" {
			pem, err := os.ReadFile(f.tlsCA)
			if err != nil {
				return nil, cli.Usagef("tls-ca", "%v", err)
			}
			tc.RootCAs = x509.NewCertPool()
			if !tc.RootCAs.AppendCertsFromPEM(pem) {
				return nil, cli.Usagef("tls-ca", "no PEM certificate in %s", f.tlsCA)
			}
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if f.user != "" {
		pw := f.password
		if pw == "" {
			pw = os.Getenv("EDGELOG_SASL_PASSWORD")
		}
		switch strings.ToUpper(f.mechanism) {
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: f.user, Pass: pw}.AsSha256Mechanism()))
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: f.user, Pass: pw}.AsMechanism()))
		default:
			return nil, cli.Usagef("sasl-mechanism", "want SCRAM-SHA-256 or PLAIN, got %q", f.mechanism)
		}
	}
	return opts, nil
}

// consumeLoop prints records until ctx ends or maxRecords are printed.
func consumeLoop(ctx context.Context, cl *kgo.Client, w *bufio.Writer, f consumeFlags) error {
	printed := 0
	for {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			return nil
		}
		var ferr error
		fs.EachError(func(t string, p int32, err error) {
			if !errors.Is(err, context.Canceled) && ferr == nil {
				ferr = fmt.Errorf("%s/%d: %w", t, p, err)
			}
		})
		if ferr != nil {
			return ferr
		}
		for _, r := range fs.Records() {
			if err := printRecord(w, r, f.format); err != nil {
				return err
			}
			printed++
			if f.group != "" {
				cl.MarkCommitRecords(r)
			}
			if f.maxRecords > 0 && printed >= f.maxRecords {
				return nil
			}
		}
		if err := w.Flush(); err != nil {
			return err
		}
	}
}

// encode renders b as UTF-8 text when it is valid UTF-8, else base64.
func encode(b []byte) (string, string) {
	if utf8.Valid(b) {
		return string(b), "utf-8"
	}
	return base64.StdEncoding.EncodeToString(b), "base64"
}

// consumedRecord is the --format json line.
type consumedRecord struct {
	Topic         string            `json:"topic"`
	Partition     int32             `json:"partition"`
	Offset        int64             `json:"offset"`
	Timestamp     int64             `json:"timestamp"`
	Time          string            `json:"time"`
	Key           *string           `json:"key"`
	KeyEncoding   string            `json:"key_encoding,omitempty"`
	Value         string            `json:"value"`
	ValueEncoding string            `json:"value_encoding"`
	Headers       map[string]string `json:"headers"`
}

func printRecord(w io.Writer, r *kgo.Record, format string) error {
	ts := r.Timestamp.UTC().Format(time.RFC3339Nano)
	if format == "json" {
		jr := consumedRecord{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp.UnixMilli(), Time: ts, Headers: map[string]string{}}
		if r.Key != nil {
			k, enc := encode(r.Key)
			jr.Key, jr.KeyEncoding = &k, enc
		}
		jr.Value, jr.ValueEncoding = encode(r.Value)
		for _, h := range r.Headers {
			v, enc := encode(h.Value)
			if enc == "base64" {
				v = "base64:" + v
			}
			jr.Headers[h.Key] = v
		}
		b, err := json.Marshal(jr)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
		return err
	}
	text := func(b []byte) string {
		s, enc := encode(b)
		if enc == "base64" {
			return "base64:" + s
		}
		return strings.NewReplacer("\\", `\\`, "\n", `\n`, "\r", `\r`).Replace(s)
	}
	key := "-"
	if r.Key != nil {
		key = text(r.Key)
	}
	_, err := fmt.Fprintf(w, "%s %s/%s@%d %s %s\n", ts, r.Topic, strconv.Itoa(int(r.Partition)), r.Offset, key, text(r.Value))
	return err
}
