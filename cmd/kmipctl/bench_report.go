package main

import (
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"
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
