package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

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
	addrs, _ := conn.addrs()
	addr := strings.Join(addrs, ",")
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
