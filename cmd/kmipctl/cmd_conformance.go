package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/internal/conformance"
	"github.com/kmipd/kmipd/kmip"
)

func newConformanceCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "conformance",
		Short: "Replay the OASIS KMIP test cases against a server",
	}
	cmd.AddCommand(newConformanceRunCmd(), newConformanceReportCmd())
	return cmd
}

// conformanceOptions are the flags of conformance run.
type conformanceOptions struct {
	versionOverride string
	jsonFile        string
	noReset         bool
	transport       string
	httpsURL        string
	verbose         bool
	paths           []string
}

func newConformanceRunCmd() *cobra.Command {
	var o conformanceOptions
	cmd := &cobra.Command{
		Use:   "run [flags] PATH...",
		Short: "Replay test-case files (or directories of them) and compare the responses",
		Long: `Replay KMIP test-case XML files against a server.

Each PATH is a test-case file or a directory searched recursively for them.
Every file runs over its own mutual-TLS connection, after an Interop Reset
(KMIP 2.0 §6.1.25; kmipd answers it when served with --interop and the client
is an admin). Responses are compared with the expected ones under the
variations KMIP Profiles 2.1 §4.1 permits (see the internal/conformance package
documentation). A line per file says PASS or FAIL; a failure shows the first
differing step and path with the expected and actual structures side by side.
The last line is "N passed, M failed"; the exit status is 0 only if every
file passed.

MSGENC-HTTPS, MSGENC-JSON and MSGENC-XML files are sent over HTTPS (POST
--https-url) with TTLV, JSON or XML bodies; --transport https sends every
file that way.`,
		Example: `  kmipctl conformance run --ca pki/ca.crt --cert pki/client.crt --key pki/client.key \
      shared/kmip-testcases/2.1/profiles/mandatory
  kmipctl conformance run --version-override 2.0 --json results.json BL-M-1-21.xml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.paths = args
			return runConformance(cmd, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.versionOverride, "version-override", "", "send every request with this protocol version (e.g. 2.0 to check 2.0 behaviour with the 2.1 files)")
	f.StringVar(&o.jsonFile, "json", "", "write per-file results to this JSON file")
	f.BoolVar(&o.noReset, "no-reset", false, "do not send Interop Reset before each file (for servers without Interop)")
	f.StringVar(&o.transport, "transport", "ttlv", "ttlv: TTLV over TLS (MSGENC files still use HTTPS); https: every file over HTTPS")
	f.StringVar(&o.httpsURL, "https-url", "", "URL for the HTTPS transport (default https://SERVER/kmip)")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log every step to stderr")
	return cmd
}

// conformanceReport is the JSON written by --json.
type conformanceReport struct {
	Passed  int                      `json:"passed"`
	Failed  int                      `json:"failed"`
	Version string                   `json:"version_override,omitempty"`
	Results []conformance.FileResult `json:"results"`
}

func runConformance(cmd *cobra.Command, o *conformanceOptions) error {
	conn, err := connFromFlags(cmd)
	if err != nil {
		return err
	}
	cfg, err := conn.tlsConfig()
	if err != nil {
		return err
	}
	if o.transport != "ttlv" && o.transport != "https" {
		return fmt.Errorf("invalid --transport %q: want ttlv or https", o.transport)
	}
	addrs, err := conn.addrs()
	if err != nil {
		return err
	}
	url := o.httpsURL
	if url == "" {
		url = "https://" + addrs[0] + "/kmip"
	}
	files, err := conformance.Files(o.paths...)
	if err != nil {
		return err
	}
	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	nextFile := 0
	r := &conformance.Runner{
		Reset: !o.noReset,
		Dial: func(file string) (conformance.Transport, error) {
			enc, https := conformance.FileEncoding(file)
			if https || o.transport == "https" {
				return conformance.NewHTTPSTransport(url, cfg, enc), nil
			}
			// With several --server addresses (the nodes of a cluster),
			// files go to them in turn: each file's state (tickets,
			// asynchronous results) stays on one node, while what the
			// files share goes through the store every node serves.
			first := nextFile
			nextFile++
			var errs []error
			for i := range addrs {
				a := addrs[(first+i)%len(addrs)]
				t, err := conformance.DialTTLV(a, forAddr(cfg, a))
				if err == nil {
					return t, nil
				}
				errs = append(errs, err)
			}
			return nil, errors.Join(errs...)
		},
	}
	if o.versionOverride != "" {
		v, err := parseVersion(o.versionOverride)
		if err != nil {
			return err
		}
		r.VersionOverride = &v
	}
	if o.verbose {
		r.Logf = func(format string, args ...any) { fmt.Fprintf(stderr, format+"\n", args...) }
	}
	if o.noReset {
		fmt.Fprintln(stderr, "warning: --no-reset: files share the server's objects, so Locate results (and the files that depend on them) may differ from the expected ones")
	}

	results := make([]conformance.FileResult, 0, len(files))
	for _, f := range files {
		res := r.Run(f)
		results = append(results, res)
		printResult(stdout, res)
	}
	passed, failed := conformance.Summary(results)
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed)
	if o.jsonFile != "" {
		rep := conformanceReport{Passed: passed, Failed: failed, Version: o.versionOverride, Results: results}
		data, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(o.jsonFile, append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d test-case files failed", failed, len(results))
	}
	return nil
}

// printResult writes a file's line, and for a failure the expected and
// actual structures side by side.
func printResult(w io.Writer, res conformance.FileResult) {
	if res.Passed {
		fmt.Fprintf(w, "PASS %s (%d steps)\n", res.File, res.Steps)
		return
	}
	fmt.Fprintf(w, "FAIL %s: %s\n", res.File, res.Failure)
	f := res.Failure
	if f.ExpectedTree == "" && f.ActualTree == "" {
		return
	}
	exp, act := f.ExpectedTree, f.ActualTree
	if exp == "" {
		exp = "(absent)"
	}
	if act == "" {
		act = "(absent)"
	}
	for _, line := range strings.Split(conformance.SideBySide("expected", exp, "actual", act, 72), "\n") {
		fmt.Fprintln(w, "    "+line)
	}
}

func parseVersion(s string) (kmip.Version, error) {
	var v kmip.Version
	if _, err := fmt.Sscanf(s, "%d.%d", &v.Major, &v.Minor); err != nil || !v.Supported() || fmt.Sprint(v) != s {
		return v, fmt.Errorf("invalid --version-override %q: want a KMIP version such as 2.0", s)
	}
	return v, nil
}
