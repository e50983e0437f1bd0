package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgelog/edgelog/hub"
	"github.com/edgelog/edgelog/hub/httpapi"
	"github.com/edgelog/edgelog/hub/kafka"
)

// hubOptions is everything a running hub needs, checked by hubFlags.options.
type hubOptions struct {
	hub                                 hub.Config
	listenKafka, listenHTTP, listenSync string // listenSync "off": no agent endpoint
	advertise, deny                     string
	kafkaCert, kafkaKey                 string
	kafkaUsers                          map[string]string
	logger                              *slog.Logger
}

// hubAddrs are the addresses a started hub serves on.
type hubAddrs struct {
	Kafka, HTTP, Sync string
}

// runHubServices opens the broker, serves Kafka, HTTP and (unless off) the
// agents' sync endpoint until ctx ends or one of them fails, then shuts
// down in order: agent intake and Kafka clients stop, in-flight merges and
// writes finish, the broker fsyncs and closes. started, if not nil, is
// called once everything listens.
func runHubServices(ctx context.Context, o hubOptions, started func(hubAddrs)) error {
	log := o.logger
	b, err := hub.Open(o.hub)
	if err != nil {
		return err
	}
	defer func() {
		if err := b.Close(); err != nil {
			log.Error("hub: close", "err", err)
		}
	}()
	kcfg := kafka.Config{Advertise: o.advertise, Users: o.kafkaUsers, Logger: log}
	if o.kafkaCert != "" {
		cert, err := tls.LoadX509KeyPair(o.kafkaCert, o.kafkaKey)
		if err != nil {
			return fmt.Errorf("kafka TLS: %w", err)
		}
		kcfg.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	ks, err := kafka.New(b, kcfg)
	if err != nil {
		return err
	}
	kln, err := net.Listen("tcp", o.listenKafka)
	if err != nil {
		return fmt.Errorf("listen-kafka: %w", err)
	}
	hln, err := net.Listen("tcp", o.listenHTTP)
	if err != nil {
		kln.Close()
		return fmt.Errorf("listen-http: %w", err)
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var se syncEndpoint
	if o.listenSync != "off" {
		if se, err = startSyncEndpoint(b, o); err != nil {
			kln.Close()
			hln.Close()
			return err
		}
	}
	addrs := hubAddrs{Kafka: kln.Addr().String(), HTTP: hln.Addr().String()}
	if se != nil {
		addrs.Sync = se.Addr()
	}
	var ready atomic.Bool
	listeners := map[string]string{"kafka": addrs.Kafka, "http": addrs.HTTP}
	if addrs.Sync != "" {
		listeners["sync"] = addrs.Sync
	}
	api := httpapi.Handler(b, httpapi.Options{
		Ready: func() error {
			if !ready.Load() {
				return errors.New("starting")
			}
			return nil
		},
		Listeners: listeners,
		Groups: func() map[string]int {
			out := map[string]int{}
			for _, g := range ks.Groups().List() {
				out[string(g.State)]++
			}
			return out
		},
		Version: hubBuildVersion(),
	})
	hs := &http.Server{Handler: api, ReadHeaderTimeout: 10 * time.Second}

	var wg sync.WaitGroup
	run := func(name string, fn func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := fn(); err != nil && !errors.Is(err, http.ErrServerClosed) && ctx.Err() == nil {
				cancel(fmt.Errorf("%s: %w", name, err))
			}
		}()
	}
	// The sync endpoint stops first (in its own Run, when ctx ends) and
	// drains its merges; Kafka and HTTP follow; the broker closes last.
	syncCtx, stopSync := context.WithCancel(context.Background())
	defer stopSync()
	if se != nil {
		run("sync", func() error { return se.Run(syncCtx) })
	}
	kafkaCtx, stopKafka := context.WithCancel(context.Background())
	defer stopKafka()
	run("kafka", func() error { return ks.Serve(kafkaCtx, kln) })
	run("http", func() error { return hs.Serve(hln) })
	ready.Store(true)
	log.Info("hub: serving", "kafka", addrs.Kafka, "http", addrs.HTTP, "sync", addrs.Sync, "data", o.hub.Dir)
	if started != nil {
		started(addrs)
	}
	<-ctx.Done()
	ready.Store(false)
	log.Info("hub: shutting down")
	stopSync()
	stopKafka()
	shutdownCtx, done := context.WithTimeout(context.Background(), 10*time.Second)
	hs.Shutdown(shutdownCtx)
	done()
	wg.Wait()
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) {
		return cause
	}
	return nil
}

// hubBuildVersion is the module version the binary was built from.
func hubBuildVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.Main.Version
	}
	return ""
}
