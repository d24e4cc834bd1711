package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/internal/audit"
	"github.com/kmipd/kmipd/internal/control"
	"github.com/kmipd/kmipd/internal/rotation"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/lifecycle"
)

type serveOptions struct {
	dir       string
	addr      string
	logLevel  string
	interop   bool
	adminAddr string
	store     string
	node      string
}

func newServeCmd() *cobra.Command {
	o := &serveOptions{}
	cmd := &cobra.Command{
		Use:   "serve --dir DIR [--addr HOST:PORT] [--store etcd://HOST:PORT,... --node NAME]",
		Short: "Run the KMIP server from the set-up in DIR",
		Args:  cobra.NoArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return runServe(cmd, o) },
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "kmipd directory (from kmipd init)")
	cmd.Flags().StringVar(&o.addr, "addr", "", "listen address HOST:PORT (overrides config and KMIPD_LISTEN; 0.0.0.0:5696 listens on every interface)")
	cmd.Flags().StringVar(&o.logLevel, "log-level", "", "debug, info, warn or error")
	cmd.Flags().StringVar(&o.adminAddr, "admin-addr", "", "serve /metrics, /healthz and /readyz over plain HTTP on HOST:PORT (off by default)")
	cmd.Flags().BoolVar(&o.interop, "interop", false, "enable the KMIP Interop operation (Reset wipes the store): conformance runs only, never in production")
	cmd.Flags().StringVar(&o.store, "store", "", "the store: a bbolt file (PATH or bbolt:PATH) or an etcd cluster (etcd://HOST:PORT[,HOST:PORT...]); overrides config and KMIPD_STORE")
	cmd.Flags().StringVar(&o.node, "node", "", "this node's name among those sharing an etcd store (default: the host name); overrides config and KMIPD_NODE")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func runServe(cmd *cobra.Command, o *serveOptions) error {
	cfg, err := loadConfig(o.dir)
	if err != nil {
		return err
	}
	if o.addr != "" {
		cfg.Listen = o.addr
	}
	if o.logLevel != "" {
		cfg.Log.Level = o.logLevel
	}
	if o.interop {
		cfg.Interop = true
	}
	if o.adminAddr != "" {
		cfg.AdminAddr = o.adminAddr
	}
	if o.store != "" || o.node != "" {
		if o.store != "" {
			cfg.Store = o.store
		}
		if o.node != "" {
			cfg.Node = o.node
		}
		if err := errors.Join(cfg.validateStore()...); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return serve(ctx, cfg, cmd.ErrOrStderr(), nil)
}

func newLogger(cfg *Config, w io.Writer) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(cfg.Log.Level)
	if err != nil {
		return zerolog.Logger{}, fmt.Errorf("log.level: %w", err)
	}
	if cfg.Log.Format == "console" {
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.RFC3339}
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}

// serve runs the server until ctx is done. ready, if non-nil, receives the
// bound address (tests use port 0).
func serve(ctx context.Context, cfg *Config, logOut io.Writer, ready chan<- net.Addr) error {
	log, err := newLogger(cfg, logOut)
	if err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(cfg.path(cfg.TLS.Cert), cfg.path(cfg.TLS.Key))
	if err != nil {
		return fmt.Errorf("server certificate: %w", err)
	}
	caPEM, err := os.ReadFile(cfg.path(cfg.TLS.CA))
	if err != nil {
		return fmt.Errorf("client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return fmt.Errorf("client CA %s: no certificates", cfg.path(cfg.TLS.CA))
	}
	minV, _ := cfg.tlsMinVersion()
	suites, _ := cfg.cipherSuites()
	tlsCfg, err := kmip.NewTLSConfig(kmip.TLSOptions{Certificate: cert, ClientCAs: pool, MinVersion: minV, CipherSuites: suites})
	if err != nil {
		return err
	}

	backend, err := openBackend(cfg)
	if err != nil {
		return err
	}
	defer backend.Close()
	db, err := openStore(ctx, cfg, storeOpen{lockWait: 2 * time.Second})
	if err != nil {
		return fmt.Errorf("store: %w", upgradeHint(err, cfg))
	}
	defer db.Close()

	svcCfg := lifecycle.Config{
		Store:         db,
		Backend:       backend,
		Admins:        cfg.Admins,
		Interop:       cfg.Interop,
		NoGroupCommit: !cfg.GroupCommit,
		Logger:        log,
	}
	svcCfg.RNGSeed, _ = lifecycle.ParseRNGSeedPolicy(cfg.RNG.Seed)
	svcCfg.RNGSeedMaxBytes = cfg.RNG.SeedMaxBytes
	svcCfg.HSMStrict = cfg.HSM.Strict
	svcCfg.AsyncLimit, svcCfg.AsyncTTL = cfg.Async.Limit, time.Duration(cfg.Async.TTL)
	svcCfg.ServerToClient, svcCfg.ServerToClientPut = cfg.ServerToClient.Enabled, cfg.ServerToClient.Put
	for _, f := range cfg.HSM.PKCS11Functions {
		svcCfg.PKCS11Functions = append(svcCfg.PKCS11Functions, kmip.PKCS_11Function(f))
	}
	svcCfg.Names, _ = lifecycle.ParseNamePolicy(cfg.Names.Unique)
	svcCfg.MaxAttributeSize, svcCfg.MaxAttributes = cfg.Limits.MaxAttributeSize, cfg.Limits.MaxAttributes
	svcCfg.ParsedKeys = cfg.Limits.ParsedKeys
	svcCfg.TrustRoots = pool
	if svcCfg.Certify, err = cfg.certifyPolicy(); err != nil {
		return err
	}
	svcCfg.Tickets = cfg.tickets()
	authenticator, err := cfg.authenticator(svcCfg.Tickets, log)
	if err != nil {
		return err
	}
	if svcCfg.Access, err = cfg.accessPolicy(); err != nil {
		return err
	}
	svc := lifecycle.NewService(svcCfg)
	defer watchReload(cfg.dir, svc, log)()
	trail, err := openAudit(cfg, log)
	if err != nil {
		return err
	}
	defer closeAudit(trail, log)
	ctl := &control.Server{DB: db, Trail: trail, Log: log,
		Rotate: func(ctx context.Context, out io.Writer, progress func(done, total int), keepOld bool) error {
			return rotateStore(ctx, out, progress, cfg.dir, backend, db, keepOld, rotation.DefaultBatch, svc.ForgetCached)
		}}
	defer ctl.Start(controlPath(cfg))()
	met := newMetrics(db)
	met.watch(backend, trail, svc)
	met.watchCerts(cert, caPEM)
	idSource, _ := kmip.ParseIdentitySource(cfg.Identity.Source)
	srv := &kmip.Server{
		TLSConfig:               tlsCfg,
		ClientCAs:               pool,
		Handler:                 audit.Wrap(svc, trail),
		Logger:                  log,
		HandshakeTimeout:        time.Duration(cfg.Limits.HandshakeTimeout),
		ReadTimeout:             time.Duration(cfg.Limits.ReadTimeout),
		WriteTimeout:            time.Duration(cfg.Limits.WriteTimeout),
		IdleTimeout:             time.Duration(cfg.Limits.IdleTimeout),
		MaxMessageSize:          cfg.Limits.MaxMessageSize,
		MaxBatchItems:           cfg.Limits.MaxBatchItems,
		MaxDepth:                cfg.Limits.MaxDepth,
		MaxConns:                cfg.Limits.MaxConnections,
		MaxConnsPerIdentity:     cfg.Limits.MaxConnectionsPerIdentity,
		MaxConnsPerAddress:      cfg.Limits.MaxConnectionsPerAddress,
		MaxHandshakes:           cfg.Limits.MaxHandshakes,
		MaxHandshakesPerAddress: cfg.Limits.MaxHandshakesPerAddress,
		MaxHeaderBytes:          cfg.Limits.MaxHeaderBytes,
		HeaderReadTimeout:       time.Duration(cfg.Limits.HeaderReadTimeout),
		IdentitySource:          idSource,
		Authenticator:           authenticator,
		Observer:                auditObserver(trail, met),
		PushQueue:               cfg.ServerToClient.Queue,
	}
	if cfg.ServerToClient.Enabled {
		svc.SetPusher(srv)
		met.watchPush(srv)
	}
	l, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return portHint(err, "--addr or listen")
	}
	adminAt := ""
	if cfg.AdminAddr != "" {
		admin, al, err := adminServer(cfg.AdminAddr, met, &health{db: db, backend: backend}, log)
		if err != nil {
			l.Close()
			return fmt.Errorf("admin listener: %w", portHint(err, "--admin-addr or admin_addr"))
		}
		defer admin.Close()
		adminAt = al.Addr().String()
	}
	storeDesc := cfg.storePath()
	if loc, _ := parseStoreLocation(cfg.Store); loc.etcd {
		storeDesc = loc.String()
	}
	log.Info().Str("addr", l.Addr().String()).Str("store", storeDesc).Str("node", cfg.nodeName()).Str("key_backend", backend.Name()).Msg("kmipd serving KMIP over mutual TLS")
	if cfg.Interop {
		log.Warn().Msg("Interop is enabled: an admin's Interop Reset deletes every object (for conformance runs only)")
	}
	if cfg.Log.Format == "console" {
		// Plain text would break a JSON log stream.
		printConnectHelp(logOut, cfg, l.Addr().String(), adminAt)
	}
	if ready != nil {
		ready <- l.Addr()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info().Msg("shutting down: finishing requests in flight")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; err != nil && !errors.Is(err, kmip.ErrServerClosed) {
		return err
	}
	return nil
}

// portHint says what to do when a listen address is taken: which setting
// chooses another.
func portHint(err error, setting string) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%w: another process (another kmipd?) holds the port; stop it or choose another address with %s", err, setting)
	}
	return err
}

// kmipctlPath is the kmipctl next to this kmipd (bin/ after make build),
// else "kmipctl" from PATH.
func kmipctlPath() string {
	if exe, err := os.Executable(); err == nil {
		p := filepath.Join(filepath.Dir(exe), "kmipctl")
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return "kmipctl"
}

func printConnectHelp(w io.Writer, cfg *Config, addr, adminAddr string) {
	pkiDir, _ := filepath.Abs(filepath.Dir(cfg.path(cfg.TLS.CA)))
	host, port, _ := net.SplitHostPort(addr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	if adminAddr != "" {
		fmt.Fprintf(w, "\nMetrics and health checks (plain HTTP, no client certificate): http://%[1]s/metrics, http://%[1]s/healthz, http://%[1]s/readyz\n", adminAddr)
	}
	fmt.Fprintf(w, `
Connect with mutual TLS to %[1]s:%[2]s using the dev PKI in %[3]s
(client.crt is the admin identity, CN admin, which sees every object):

  %[4]s --server %[5]s --ca %[3]s/ca.crt --cert %[3]s/client.crt --key %[3]s/client.key query

  (or export KMIPCTL_SERVER=%[5]s KMIPCTL_CA=%[3]s/ca.crt KMIPCTL_CERT=%[3]s/client.crt KMIPCTL_KEY=%[3]s/client.key
   and run %[4]s query, %[4]s create ...)

  openssl s_client -connect %[1]s:%[2]s -CAfile %[3]s/ca.crt -cert %[3]s/client.crt -key %[3]s/client.key

  /usr/bin/python3 - <<'PY'
  from kmip.pie.client import ProxyKmipClient
  from kmip.core import enums
  with ProxyKmipClient(hostname="%[1]s", port=%[2]s, cert="%[3]s/client.crt",
                       key="%[3]s/client.key", ca="%[3]s/ca.crt",
                       kmip_version=enums.KMIPVersion.KMIP_2_0) as c:
      uid = c.create(enums.CryptographicAlgorithm.AES, 256)
      print("created", uid, c.get(uid))
  PY

`, host, port, pkiDir, kmipctlPath(), net.JoinHostPort(host, port))
}
