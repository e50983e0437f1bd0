package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/edgelog/edgelog/hub/ingest"
	"github.com/edgelog/edgelog/internal/cli"
	"github.com/edgelog/edgelog/internal/pki"
)

// syncEndpoint is the agents' QUIC endpoint as the hub command runs it.
type syncEndpoint interface {
	Addr() string
	Run(ctx context.Context) error // serves until ctx ends, then drains
}

// ingestEndpoint runs hub/ingest with the hub's CA (created under
// DIR/tls on first start) and the deny list.
type ingestEndpoint struct {
	srv      *ingest.Server
	deny     *pki.DenyList
	denyPath string
	o        hubOptions
}

func startSyncEndpoint(b *hub.Broker, o hubOptions) (syncEndpoint, error) {
	auth, err := pki.LoadOrCreate(o.hub.Dir)
	if err != nil {
		return nil, fmt.Errorf("hub TLS: %w", err)
	}
	deny := &pki.DenyList{}
	if o.deny != "" {
		if err := deny.LoadFile(o.deny); err != nil {
			return nil, fmt.Errorf("deny: %w", err)
		}
	}
	srv, err := ingest.New(b, ingest.Config{Listen: o.listenSync, TLS: auth.ServerTLS(), Deny: deny, Logger: o.logger})
	if err != nil {
		return nil, fmt.Errorf("listen-sync: %w", err)
	}
	return &ingestEndpoint{srv: srv, deny: deny, denyPath: o.deny, o: o}, nil
}

func (e *ingestEndpoint) Addr() string { return e.srv.Addr().String() }

func (e *ingestEndpoint) Run(ctx context.Context) error {
	if e.denyPath != "" {
		wctx, stop := context.WithCancel(ctx)
		defer stop()
		go e.deny.Watch(wctx, e.denyPath, 2*time.Second, e.o.logger)
	}
	return e.srv.Run(ctx)
}

const hubCredentialsSynopsis = `edgelog hub credentials --data DIR --agent ID --out FILE

Mints a credentials bundle for agent ID: a client certificate (common name
ID) and its key, signed by the hub's CA in DIR/tls (created if missing),
with the CA certificate. Give the file to the agent (--credentials); keep
it private (it is written with mode 0600).`

func runHubCredentials(_ context.Context, args []string, env *cli.Env) int {
	fs := cli.NewFlagSet("hub credentials", hubCredentialsSynopsis, env)
	data := fs.String("data", hub.DefaultDir, "the hub's data directory")
	agentID := fs.String("agent", "", "agent ID (the certificate's common name)")
	out := fs.String("out", "", "file to write the bundle to (must not exist unless --force)")
	validity := fs.Duration("validity", 0, "certificate validity (default ten years)")
	force := fs.Bool("force", false, "overwrite --out")
	if code, ok := cli.ReportParse(cli.Parse(fs, args), env, "hub credentials"); !ok {
		return code
	}
	usage := func(err error) int {
		fmt.Fprintf(env.Stderr, "edgelog hub credentials: %v\n", err)
		return cli.ExitUsage
	}
	switch {
	case fs.NArg() > 0:
		return usage(cli.Usagef("", "unexpected argument %q", fs.Arg(0)))
	case *agentID == "":
		return usage(cli.Usagef("agent", "required"))
	case *out == "":
		return usage(cli.Usagef("out", "required"))
	case *validity < 0:
		return usage(cli.Usagef("validity", "must not be negative"))
	}
	if err := pki.CheckAgentID(*agentID); err != nil {
		return usage(cli.Usagef("agent", "%v", err))
	}
	auth, err := pki.LoadOrCreate(*data)
	if err != nil {
		fmt.Fprintf(env.Stderr, "edgelog hub credentials: %v\n", err)
		return cli.ExitFailure
	}
	bundle, err := auth.MintAgent(*agentID, *validity)
	if err != nil {
		fmt.Fprintf(env.Stderr, "edgelog hub credentials: %v\n", err)
		return cli.ExitFailure
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if *force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(*out, flags, 0o600)
	if errors.Is(err, os.ErrExist) {
		return usage(cli.Usagef("out", "%s exists (use --force to overwrite)", *out))
	}
	if err == nil {
		_, err = f.Write(bundle)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		fmt.Fprintf(env.Stderr, "edgelog hub credentials: %v\n", err)
		return cli.ExitFailure
	}
	fmt.Fprintf(env.Stdout, "wrote credentials for agent %q to %s\n", *agentID, *out)
	return cli.ExitOK
}
