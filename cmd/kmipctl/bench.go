package main

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Limits that keep a benchmark bounded.
const (
	benchMaxConns    = 1024
	benchMaxDuration = 10 * time.Minute
	benchMaxKeys     = 10000
)

// benchReport is the JSON of bench (--output json, --json FILE). Times are
// in milliseconds.
type benchReport struct {
	Mix       string  `json:"mix"`
	Server    string  `json:"server"`
	Version   string  `json:"version"`
	Conns     int     `json:"conns"`
	DurationS float64 `json:"duration_s"`
	Ops       uint64  `json:"ops"`
	Errors    uint64  `json:"errors"`
	OpsPerSec float64 `json:"ops_per_sec"`
	// ConnectMS is the mean time to connect and complete the handshake.
	ConnectMS  float64              `json:"connect_ms"`
	Operations map[string]*opReport `json:"operations"`
	Error      string               `json:"error,omitempty"`
}

// opReport is one operation's figures in a benchReport.
type opReport struct {
	Count         uint64  `json:"count"`
	Errors        uint64  `json:"errors"`
	OpsPerSec     float64 `json:"ops_per_sec"`
	MeanMS        float64 `json:"mean_ms"`
	P50MS         float64 `json:"p50_ms"`
	P90MS         float64 `json:"p90_ms"`
	P99MS         float64 `json:"p99_ms"`
	MaxMS         float64 `json:"max_ms"`
	RequestBytes  int     `json:"request_bytes"`
	ResponseBytes int     `json:"response_bytes"`
	FirstError    string  `json:"first_error,omitempty"`
}

// opStats accumulates one operation's results in one worker.
type opStats struct {
	hist          histogram
	errors        uint64
	firstErr      error
	reqBytes      int
	respBytes     int
	fatal         bool // the connection failed
	observedSizes bool
}

type benchWorker struct {
	c     *kmip.Client
	buf   []byte // the request encode builds
	stats map[string]*opStats
	n     int // iterations done
}

func (w *benchWorker) stat(op string) *opStats {
	st := w.stats[op]
	if st == nil {
		st = &opStats{}
		w.stats[op] = st
	}
	return st
}

// encode builds a single-item request; the result is valid until the
// next call.
func (w *benchWorker) encode(op kmip.Operation, payload func(b *ttlv.Builder)) ([]byte, error) {
	req, err := w.c.EncodeRequest(w.buf, op, payload)
	if err == nil {
		w.buf = req
	}
	return req, err
}

// exchange times one request; the payload is valid until the next call.
func (w *benchWorker) exchange(op string, req []byte) (ttlv.Value, error) {
	st := w.stat(op)
	t0 := time.Now()
	p, respBytes, err := exchange(w.c, req)
	d := time.Since(t0)
	if err != nil {
		st.errors++
		if st.firstErr == nil {
			st.firstErr = err
		}
		if !isKMIPFailure(err) {
			st.fatal = true
		}
		return nil, err
	}
	st.hist.record(d)
	if !st.observedSizes {
		st.reqBytes, st.respBytes, st.observedSizes = len(req), respBytes, true
	}
	return p, nil
}

// benchMix is one workload.
type benchMix struct {
	// setup prepares the server over the setup connection.
	setup func(c *kmip.Client) error
	// iteration does one unit of work on a worker's connection; it returns
	// an error only when the worker must stop.
	iteration func(w *benchWorker, i int) error
	// cleanup undoes setup, best effort.
	cleanup func(c *kmip.Client) error
}

type benchOptions struct {
	conns             int
	duration          time.Duration
	mix               string
	jsonFile          string
	keys              int
	echoCert, echoKey string
}

func newBenchCmd() *cobra.Command {
	var o benchOptions
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Load a KMIP server on loopback and report ops/s and latency percentiles",
		Long: `Open --conns mutual-TLS connections and run one workload on each for
--duration, then report operations per second and the mean, p50, p90, p99
and maximum latency of each operation (a table, or JSON with --output json
and/or --json FILE; see "kmipctl help output").

Mixes:
  get       Get of --keys keys created (and destroyed) by the benchmark
  create    Create of an AES-256 key, Get of it, Destroy of it
  locate    Locate by Name among --keys named keys it creates
  encrypt   Encrypt of 64 bytes with an active AES-256 key (AES-GCM); a server
            without Encrypt is reported as such (exit status 4)
  tls-echo  no KMIP server: a TLS listener on 127.0.0.1 started here answers
            every Get-sized request (about 160 bytes) with a Get-sized
            response (about 310 bytes), with the same client code, to show
            the ceiling TLS and the client set; its certificate is
            --echo-cert/--echo-key (default --cert/--key), checked against
            --ca, and it requires the client certificate like kmipd

The server must be on a loopback address; the run stops after --duration
(at most 10m) with at most 1024 connections.`,
		Example: `  kmipctl bench --conns 16 --duration 10s --mix get
  kmipctl bench --mix create --json create.json
  kmipctl bench --mix tls-echo --conns 16 --duration 10s`,
		Args: args(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runBench(cmd, &o)
		},
	}
	f := cmd.Flags()
	f.IntVar(&o.conns, "conns", 4, "connections, each with one request in flight")
	f.DurationVar(&o.duration, "duration", 10*time.Second, "how long to run")
	f.StringVar(&o.mix, "mix", "get", "workload: get, create, create-only, locate, encrypt or tls-echo")
	f.StringVar(&o.jsonFile, "json", "", "also write the JSON report to this file")
	f.IntVar(&o.keys, "keys", 16, "keys to create for the get and locate mixes")
	f.StringVar(&o.echoCert, "echo-cert", "", "tls-echo: PEM certificate of the echo listener (default --cert)")
	f.StringVar(&o.echoKey, "echo-key", "", "tls-echo: PEM key of the echo listener (default --key)")
	return cmd
}

func runBench(cmd *cobra.Command, o *benchOptions) error {
	opts, err := parseOptions(cmd)
	if err != nil {
		return err
	}
	conn, err := connFromFlags(cmd)
	if err != nil {
		return err
	}
	switch {
	case o.conns < 1 || o.conns > benchMaxConns:
		return usageErrorf("--conns must be between 1 and %d", benchMaxConns)
	case o.duration <= 0 || o.duration > benchMaxDuration:
		return usageErrorf("--duration must be positive and at most %s", benchMaxDuration)
	case o.keys < 1 || o.keys > benchMaxKeys:
		return usageErrorf("--keys must be between 1 and %d", benchMaxKeys)
	}
	cfg, err := conn.tlsConfig()
	if err != nil {
		return failed("bench", o.mix, connError{err})
	}
	addr := conn.Server
	var mix *benchMix
	switch o.mix {
	case "tls-echo":
		echo, clientCfg, err := startEcho(conn, o, cfg, opts.version)
		if err != nil {
			return failed("bench", o.mix, err)
		}
		defer echo.Close()
		addr, cfg = echo.Addr(), clientCfg
		mix = echoMix(echo)
	case "get", "create", "create-only", "locate", "encrypt":
		if err := loopbackOnly(addr); err != nil {
			return err
		}
		mix = kmipMix(o.mix, o.keys, opts.version)
	default:
		return usageErrorf("invalid --mix %q: want get, create, create-only, locate, encrypt or tls-echo", o.mix)
	}
	rep := &benchReport{Mix: o.mix, Server: addr, Version: opts.version.String(), Conns: o.conns, Operations: map[string]*opReport{}}
	err = benchRun(addr, cfg, opts, o, mix, rep)
	if err != nil {
		rep.Error = err.Error()
		if ferr := writeBenchFile(o.jsonFile, rep); ferr != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), "kmipctl:", ferr)
		}
		return failed("bench", o.mix, err)
	}
	if err := writeBenchFile(o.jsonFile, rep); err != nil {
		return err
	}
	if opts.json {
		return writeJSON(cmd.OutOrStdout(), rep)
	}
	printBench(cmd.OutOrStdout(), rep)
	if rep.Ops == 0 {
		return failed("bench", o.mix, errors.New("no operation succeeded"))
	}
	return nil
}

func writeBenchFile(file string, rep *benchReport) error {
	if file == "" {
		return nil
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if err := writeJSON(f, rep); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// benchRun sets up, connects every worker, runs them for the duration and
// fills rep.
func benchRun(addr string, cfg *tls.Config, opts options, o *benchOptions, mix *benchMix, rep *benchReport) error {
	setup, err := dialTimed(addr, cfg, opts.version, opts.timeout)
	if err != nil {
		return err
	}
	defer setup.Close()
	if mix.setup != nil {
		if err := mix.setup(setup); err != nil {
			if mix.cleanup != nil {
				mix.cleanup(setup)
			}
			return err
		}
	}
	if mix.cleanup != nil {
		defer func() {
			if err := mix.cleanup(setup); err != nil {
				rep.Error = "cleanup: " + err.Error()
			}
		}()
	}

	workers := make([]*benchWorker, o.conns)
	var connectTotal time.Duration
	for i := range workers {
		t0 := time.Now()
		c, err := dialTimed(addr, cfg, opts.version, opts.timeout)
		if err != nil {
			for _, w := range workers[:i] {
				w.c.Close()
			}
			return err
		}
		// Complete the handshake now: TLS 1.3 servers check the client
		// certificate after the client's handshake returns.
		if _, err := call(c, kmip.OperationDiscoverVersions, nil); err != nil && !isKMIPFailure(err) {
			c.Close()
			for _, w := range workers[:i] {
				w.c.Close()
			}
			return err
		}
		connectTotal += time.Since(t0)
		workers[i] = &benchWorker{c: c, stats: map[string]*opStats{}}
	}
	defer func() {
		for _, w := range workers {
			w.c.Close()
		}
	}()

	start := time.Now()
	deadline := start.Add(o.duration)
	var wg sync.WaitGroup
	ends := make([]time.Time, len(workers))
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; time.Now().Before(deadline); k++ {
				if err := mix.iteration(w, i+k*len(workers)); err != nil {
					break
				}
				w.n++
			}
			ends[i] = time.Now()
		}()
	}
	wg.Wait()
	end := start
	for _, e := range ends {
		if e.After(end) {
			end = e
		}
	}
	elapsed := end.Sub(start)

	rep.DurationS = elapsed.Seconds()
	rep.ConnectMS = ms(connectTotal / time.Duration(len(workers)))
	merged := map[string]*opStats{}
	for _, w := range workers {
		for name, st := range w.stats {
			m := merged[name]
			if m == nil {
				m = &opStats{}
				merged[name] = m
			}
			m.hist.merge(&st.hist)
			m.errors += st.errors
			if m.firstErr == nil {
				m.firstErr = st.firstErr
			}
			if !m.observedSizes && st.observedSizes {
				m.reqBytes, m.respBytes, m.observedSizes = st.reqBytes, st.respBytes, true
			}
		}
	}
	for name, st := range merged {
		r := &opReport{
			Count: st.hist.n, Errors: st.errors, OpsPerSec: float64(st.hist.n) / elapsed.Seconds(),
			MeanMS: ms(st.hist.mean()), P50MS: ms(st.hist.quantile(0.50)), P90MS: ms(st.hist.quantile(0.90)),
			P99MS: ms(st.hist.quantile(0.99)), MaxMS: ms(st.hist.max),
			RequestBytes: st.reqBytes, ResponseBytes: st.respBytes,
		}
		if st.firstErr != nil {
			r.FirstError = describe(st.firstErr)
		}
		rep.Operations[name] = r
		rep.Ops += st.hist.n
		rep.Errors += st.errors
	}
	rep.OpsPerSec = float64(rep.Ops) / elapsed.Seconds()
	return nil
}

func printBench(w io.Writer, rep *benchReport) {
	fmt.Fprintf(w, "bench %s: %d connections to %s (KMIP %s), %.2f s, connect %.2f ms\n",
		rep.Mix, rep.Conns, rep.Server, rep.Version, rep.DurationS, rep.ConnectMS)
	fmt.Fprintf(w, "%d operations, %d errors, %.1f ops/s\n", rep.Ops, rep.Errors, rep.OpsPerSec)
	names := make([]string, 0, len(rep.Operations))
	for n := range rep.Operations {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "OPERATION\tCOUNT\tERRORS\tOPS/S\tMEAN ms\tP50 ms\tP90 ms\tP99 ms\tMAX ms\tREQ B\tRESP B")
	for _, n := range names {
		r := rep.Operations[n]
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.1f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t%d\t%d\n",
			n, r.Count, r.Errors, r.OpsPerSec, r.MeanMS, r.P50MS, r.P90MS, r.P99MS, r.MaxMS, r.RequestBytes, r.ResponseBytes)
	}
	tw.Flush()
	for _, n := range names {
		if e := rep.Operations[n].FirstError; e != "" {
			fmt.Fprintf(w, "%s: first error: %s\n", n, e)
		}
	}
	if rep.Error != "" {
		fmt.Fprintf(w, "warning: %s\n", rep.Error)
	}
}

// loopbackOnly refuses a server that is not on a loopback address.
func loopbackOnly(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usageErrorf("invalid --server %q: %v", addr, err)
	}
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else if ips, err = net.LookupIP(host); err != nil {
		return connError{err}
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return usageErrorf("bench runs against loopback servers only; %s is %s", host, ip)
		}
	}
	if len(ips) == 0 {
		return usageErrorf("bench: %s has no address", host)
	}
	return nil
}

// benchKeyAttrs are the attributes of the AES keys bench creates.
func benchKeyAttrs(name string) []attribute {
	alg, _ := parseAttr("CryptographicAlgorithm", "AES")
	length, _ := parseAttr("CryptographicLength", "256")
	usage, _ := parseAttr("CryptographicUsageMask", "encrypt,decrypt")
	attrs := []attribute{alg, length, usage}
	if name != "" {
		n, _ := parseAttr("Name", name)
		attrs = append(attrs, n)
	}
	return attrs
}

// createPayload writes a Create request payload for an AES-256 key.
func createPayload(v2 bool, attrs []attribute) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		writeAttrs(b, v2, ttlv.TagAttributes, ttlv.TagTemplateAttribute, attrs)
	}
}

func byID(id string) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, id) }
}

// createKey creates an AES-256 key and returns its identifier.
func createKey(c *kmip.Client, name string) (string, error) {
	p, err := call(c, kmip.OperationCreate, createPayload(c.Version.V2(), benchKeyAttrs(name)))
	if err != nil {
		return "", err
	}
	it, ok := p.Find(ttlv.TagUniqueIdentifier)
	if !ok {
		return "", errors.New("the Create response lacks the Unique Identifier")
	}
	return string(it.Data), nil
}

// destroyKeys destroys keys, revoking them first when revoke is set.
func destroyKeys(c *kmip.Client, ids []string, revoke bool) error {
	var first error
	for _, id := range ids {
		if revoke {
			call(c, kmip.OperationRevoke, func(b *ttlv.Builder) {
				b.AddText(ttlv.TagUniqueIdentifier, id)
				b.Begin(ttlv.TagRevocationReason)
				b.AddEnum(ttlv.TagRevocationReasonCode, uint32(kmip.RevocationReasonCodeCessationOfOperation))
				b.End()
			})
		}
		if _, err := call(c, kmip.OperationDestroy, byID(id)); err != nil && first == nil {
			first = fmt.Errorf("destroy %s: %w", id, err)
		}
	}
	return first
}

// encodeAll encodes one request per payload.
func encodeAll(ver kmip.Version, op kmip.Operation, payloads []func(b *ttlv.Builder)) ([][]byte, error) {
	reqs := make([][]byte, len(payloads))
	for i, p := range payloads {
		var w kmip.RequestWriter
		w.Begin(nil, ver, 1, nil)
		w.Item(op, nil, p)
		msg, err := w.Finish()
		if err != nil {
			return nil, err
		}
		reqs[i] = msg
	}
	return reqs, nil
}

// kmipMix returns the workload of a mix against a KMIP server.
func kmipMix(name string, nkeys int, ver kmip.Version) *benchMix {
	var (
		ids  []string
		reqs [][]byte
	)
	m := &benchMix{}
	createKeys := func(c *kmip.Client, prefix string) error {
		for i := range nkeys {
			n := ""
			if prefix != "" {
				n = fmt.Sprintf("%s-%d", prefix, i)
			}
			id, err := createKey(c, n)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	}
	switch name {
	case "get":
		m.setup = func(c *kmip.Client) error {
			if err := createKeys(c, ""); err != nil {
				return err
			}
			var ps []func(b *ttlv.Builder)
			for _, id := range ids {
				ps = append(ps, byID(id))
			}
			var err error
			reqs, err = encodeAll(ver, kmip.OperationGet, ps)
			return err
		}
		m.iteration = func(w *benchWorker, i int) error {
			_, err := w.exchange("Get", reqs[i%len(reqs)])
			return fatal(w, "Get", err)
		}
		m.cleanup = func(c *kmip.Client) error { return destroyKeys(c, ids, false) }
	case "locate":
		m.setup = func(c *kmip.Client) error {
			prefix := "kmipctl-bench-" + randHex(6)
			if err := createKeys(c, prefix); err != nil {
				return err
			}
			var ps []func(b *ttlv.Builder)
			for i := range ids {
				n, _ := parseAttr("Name", fmt.Sprintf("%s-%d", prefix, i))
				ps = append(ps, func(b *ttlv.Builder) {
					writeAttrs(b, ver.V2(), ttlv.TagAttributes, 0, []attribute{n})
				})
			}
			var err error
			reqs, err = encodeAll(ver, kmip.OperationLocate, ps)
			return err
		}
		m.iteration = func(w *benchWorker, i int) error {
			p, err := w.exchange("Locate", reqs[i%len(reqs)])
			if err == nil {
				if _, ok := p.Find(ttlv.TagUniqueIdentifier); !ok {
					st := w.stat("Locate")
					st.errors++
					if st.firstErr == nil {
						st.firstErr = errors.New("the Locate response has no identifier")
					}
				}
			}
			return fatal(w, "Locate", err)
		}
		m.cleanup = func(c *kmip.Client) error { return destroyKeys(c, ids, false) }
	case "create":
		attrs := benchKeyAttrs("")
		m.iteration = func(w *benchWorker, _ int) error {
			req, err := w.encode(kmip.OperationCreate, createPayload(ver.V2(), attrs))
			if err != nil {
				return err
			}
			p, err := w.exchange("Create", req)
			if err != nil {
				return fatal(w, "Create", err)
			}
			it, ok := p.Find(ttlv.TagUniqueIdentifier)
			if !ok {
				return errors.New("the Create response lacks the Unique Identifier")
			}
			id := string(it.Data)
			for _, op := range []kmip.Operation{kmip.OperationGet, kmip.OperationDestroy} {
				req, err := w.encode(op, byID(id))
				if err != nil {
					return err
				}
				if _, err := w.exchange(op.String(), req); err != nil {
					return fatal(w, op.String(), err)
				}
			}
			return nil
		}
	case "create-only":
		// Durable Creates alone: what group commit speeds up. The keys
		// (unnamed AES-256) are left on the server.
		attrs := benchKeyAttrs("")
		m.iteration = func(w *benchWorker, _ int) error {
			req, err := w.encode(kmip.OperationCreate, createPayload(ver.V2(), attrs))
			if err != nil {
				return err
			}
			_, err = w.exchange("Create", req)
			return fatal(w, "Create", err)
		}
	case "encrypt":
		data := make([]byte, 64)
		m.setup = func(c *kmip.Client) error {
			if err := createKeys(c, ""); err != nil {
				return err
			}
			for _, id := range ids {
				if _, err := call(c, kmip.OperationActivate, byID(id)); err != nil {
					return err
				}
			}
			var ps []func(b *ttlv.Builder)
			for _, id := range ids {
				ps = append(ps, func(b *ttlv.Builder) {
					b.AddText(ttlv.TagUniqueIdentifier, id)
					b.Begin(ttlv.TagCryptographicParameters)
					b.AddEnum(ttlv.TagBlockCipherMode, uint32(kmip.BlockCipherModeGCM))
					b.AddBool(ttlv.TagRandomIV, true)
					b.AddInt32(ttlv.TagTagLength, 16)
					b.End()
					b.AddBytes(ttlv.TagData, data)
				})
			}
			var err error
			if reqs, err = encodeAll(ver, kmip.OperationEncrypt, ps); err != nil {
				return err
			}
			// One probe, so that a server without Encrypt is reported
			// before the connections open.
			if _, _, err := exchange(c, reqs[0]); err != nil {
				if unsupported(err) {
					return fmt.Errorf("the server does not support Encrypt: %w", err)
				}
				return err
			}
			return nil
		}
		m.iteration = func(w *benchWorker, i int) error {
			_, err := w.exchange("Encrypt", reqs[i%len(reqs)])
			return fatal(w, "Encrypt", err)
		}
		m.cleanup = func(c *kmip.Client) error { return destroyKeys(c, ids, true) }
	}
	return m
}

// fatal returns err if it ended the worker's connection; KMIP failures
// are counted and the worker goes on.
func fatal(w *benchWorker, op string, err error) error {
	if err != nil && w.stat(op).fatal {
		return err
	}
	return nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// echoServer answers every TTLV message with a fixed response.
type echoServer struct {
	l    net.Listener
	req  []byte
	resp []byte
	wg   sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]bool
}

// startEcho starts the tls-echo listener on 127.0.0.1 with the echo (or
// client) certificate, requiring a client certificate from the --ca,
// and returns it with the client TLS configuration for it.
func startEcho(conn connOptions, o *benchOptions, clientCfg *tls.Config, ver kmip.Version) (*echoServer, *tls.Config, error) {
	certFile, keyFile := o.echoCert, o.echoKey
	if certFile == "" && keyFile == "" {
		certFile, keyFile = conn.Cert, conn.Key
	}
	if certFile == "" || keyFile == "" {
		return nil, nil, usageErrorf("tls-echo needs --echo-cert and --echo-key (or --cert and --key)")
	}
	if conn.CA == "" || clientCfg.RootCAs == nil {
		return nil, nil, usageErrorf("tls-echo needs --ca: the echo listener checks client certificates against it")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, usageErrorf("--echo-cert/--echo-key: %v", err)
	}
	pool := clientCfg.RootCAs
	srvCfg, err := kmip.NewTLSConfig(kmip.TLSOptions{Certificate: cert, ClientCAs: pool})
	if err != nil {
		return nil, nil, err
	}
	// The echo certificate is usually a client certificate: verify its
	// chain, not its host name or key usage.
	cfg := clientCfg.Clone()
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("echo listener sent no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
			Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		return err
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		return nil, nil, err
	}
	req, resp, err := echoMessages(ver)
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	e := &echoServer{l: l, req: req, resp: resp, conns: map[net.Conn]bool{}}
	e.wg.Add(1)
	go e.accept()
	return e, cfg, nil
}

// echoMessages builds a Get request for a 36-character identifier and the
// response kmipd would send for an AES-256 key.
func echoMessages(ver kmip.Version) (req, resp []byte, err error) {
	id := randHex(4) + "-" + randHex(2) + "-" + randHex(2) + "-" + randHex(2) + "-" + randHex(6)
	var w kmip.RequestWriter
	w.Begin(nil, ver, 1, nil)
	w.Item(kmip.OperationGet, nil, byID(id))
	if req, err = w.Finish(); err != nil {
		return nil, nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	var rw kmip.ResponseWriter
	rw.Begin(nil, 0, &kmip.ResponseHeader{Version: ver, TimeStamp: time.Now().Unix(), BatchCount: 1})
	rw.BeginSuccess(kmip.OperationGet, nil)
	rw.B.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
	rw.B.AddText(ttlv.TagUniqueIdentifier, id)
	kmip.WriteSymmetricKey(&rw.B, &kmip.KeyBlock{
		FormatType: kmip.KeyFormatTypeRaw, Material: key,
		CryptographicAlgorithm: kmip.CryptographicAlgorithmAES, CryptographicLength: 256,
	})
	rw.EndItem()
	resp, err = rw.Finish()
	return req, resp, err
}

func (e *echoServer) Addr() string { return e.l.Addr().String() }

func (e *echoServer) accept() {
	defer e.wg.Done()
	for {
		c, err := e.l.Accept()
		if err != nil {
			return
		}
		e.mu.Lock()
		if e.conns == nil {
			e.mu.Unlock()
			c.Close()
			return
		}
		e.conns[c] = true
		e.mu.Unlock()
		e.wg.Add(1)
		go e.serve(c)
	}
}

func (e *echoServer) serve(c net.Conn) {
	defer e.wg.Done()
	defer func() {
		e.mu.Lock()
		delete(e.conns, c)
		e.mu.Unlock()
		c.Close()
	}()
	var buf []byte
	for {
		msg, err := ttlv.ReadMessage(c, buf, 1<<20)
		if err != nil {
			return
		}
		buf = msg[:0]
		if _, err := c.Write(e.resp); err != nil {
			return
		}
	}
}

// Close stops the listener and its connections and waits for them.
func (e *echoServer) Close() error {
	err := e.l.Close()
	e.mu.Lock()
	for c := range e.conns {
		c.Close()
	}
	e.conns = nil
	e.mu.Unlock()
	e.wg.Wait()
	return err
}

// echoMix sends the echo server's Get-sized request, parsing each response
// as the get mix does.
func echoMix(e *echoServer) *benchMix {
	return &benchMix{
		iteration: func(w *benchWorker, _ int) error {
			_, err := w.exchange("Get", e.req)
			return fatal(w, "Get", err)
		},
	}
}
