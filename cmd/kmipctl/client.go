package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// This file holds what the KMIP client commands share: the global flags
// (--version, --output, --config, --timeout), the session that connects
// and sends one operation at a time, and the output helpers.

const (
	flagVersion = "version"
	flagOutput  = "output"
	flagConfig  = "config"
	flagTimeout = "timeout"

	defaultVersion = "2.0"
	defaultTimeout = 30 * time.Second
)

// optEnv are the environment variables of the global flags that are not
// connection flags (those are in connEnv).
var optEnv = map[string]string{
	flagVersion: "KMIPCTL_VERSION",
	flagOutput:  "KMIPCTL_OUTPUT",
	flagConfig:  "KMIPCTL_CONFIG",
}

// clientCommands installs the global client flags, the config file and
// the usage-error handling on root, and returns the client commands.
func clientCommands(root *cobra.Command) []*cobra.Command {
	f := root.PersistentFlags()
	f.String(flagVersion, envOr(optEnv[flagVersion], defaultVersion), "KMIP protocol version: 1.0-1.4, 2.0 or 2.1 (env KMIPCTL_VERSION)")
	f.StringP(flagOutput, "o", envOr(optEnv[flagOutput], "table"), "output format: table or json (env KMIPCTL_OUTPUT)")
	f.String(flagConfig, os.Getenv(optEnv[flagConfig]), "config file (default ~/.config/kmipctl/config.yaml; env KMIPCTL_CONFIG)")
	f.Duration(flagTimeout, defaultTimeout, "timeout of each KMIP round trip")
	root.Long = rootLong
	root.PersistentPreRunE = func(cmd *cobra.Command, _ []string) error { return applyConfig(cmd) }
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageErrorf("%v", err) })
	cmds := []*cobra.Command{
		newCreateCmd(), newCreateKeyPairCmd(), newRegisterCmd(), newGetCmd(),
		newAttrsCmd(), newLocateCmd(),
		newActivateCmd(), newRevokeCmd(), newDestroyCmd(), newRekeyCmd(),
		newExportCmd(), newImportCmd(), newCertifyCmd(), newIssueClientCertCmd(),
		newGrantCmd(), newUngrantCmd(), newGrantsCmd(),
		newQueryCmd(), newDiscoverVersionsCmd(), newPingCmd(),
		newTTLVCmd(), newBenchCmd(), newOutputHelpCmd(),
	}
	for _, c := range cmds {
		jsonErrors(c)
	}
	return cmds
}

const rootLong = `kmipctl talks to KMIP servers over mutual TLS and converts KMIP messages.

Connection: --server, --ca, --cert, --key (env KMIPCTL_SERVER, KMIPCTL_CA,
KMIPCTL_CERT, KMIPCTL_KEY), then the config file, then the defaults.
--version picks the protocol version (default 2.0); --output json prints
one JSON document per command (see "kmipctl help output").

Exit status: 0 success, 1 other error, 2 usage, 3 connection or TLS,
4 KMIP operation failed, 5 object not found.`

// options are the parsed global flags.
type options struct {
	version kmip.Version
	json    bool
	timeout time.Duration
}

func parseOptions(cmd *cobra.Command) (options, error) {
	var o options
	vs, err := cmd.Flags().GetString(flagVersion)
	if err != nil {
		return o, err
	}
	if o.version, err = parseProtocolVersion(vs); err != nil {
		return o, err
	}
	out, err := cmd.Flags().GetString(flagOutput)
	if err != nil {
		return o, err
	}
	switch out {
	case "table", "":
	case "json":
		o.json = true
	default:
		return o, usageErrorf("invalid --output %q: want table or json", out)
	}
	if o.timeout, err = cmd.Flags().GetDuration(flagTimeout); err != nil {
		return o, err
	}
	if o.timeout <= 0 {
		return o, usageErrorf("--timeout must be positive")
	}
	return o, nil
}

func parseProtocolVersion(s string) (kmip.Version, error) {
	var v kmip.Version
	if _, err := fmt.Sscanf(s, "%d.%d", &v.Major, &v.Minor); err != nil || !v.Supported() || v.String() != s {
		return v, usageErrorf("invalid --version %q: want 1.0-1.4, 2.0 or 2.1", s)
	}
	return v, nil
}

// jsonOutput reports whether --output json is in effect (false when the
// flag is invalid: the command reports that itself).
func jsonOutput(cmd *cobra.Command) bool {
	out, _ := cmd.Flags().GetString(flagOutput)
	return out == "json"
}

// session is one connection to the server, used by one command.
type session struct {
	cmd  *cobra.Command
	opts options
	conn connOptions
	c    *kmip.Client
}

// newSession parses the flags of cmd; it does not connect yet.
func newSession(cmd *cobra.Command) (*session, error) {
	o, err := parseOptions(cmd)
	if err != nil {
		return nil, err
	}
	conn, err := connFromFlags(cmd)
	if err != nil {
		return nil, err
	}
	return &session{cmd: cmd, opts: o, conn: conn}, nil
}

// open connects if not yet connected.
func (s *session) open() error {
	if s.c != nil {
		return nil
	}
	c, err := s.conn.dial()
	if err != nil {
		return connError{err}
	}
	c.Version = s.opts.version
	c.Timeout = s.opts.timeout
	s.c = c
	return nil
}

func (s *session) close() {
	if s.c != nil {
		s.c.Close()
		s.c = nil
	}
}

func (s *session) v2() bool { return s.opts.version.V2() }

// do sends one operation and returns the response payload. A KMIP failure
// is a *kmip.Error; a failure to talk to the server is a connError.
func (s *session) do(op kmip.Operation, payload func(b *ttlv.Builder)) (ttlv.Value, error) {
	if err := s.open(); err != nil {
		return nil, err
	}
	_, it, err := s.c.Do(op, payload)
	if err != nil {
		var ke *kmip.Error
		if errors.As(err, &ke) {
			return nil, ke
		}
		if it == nil && isConnFailure(err) {
			return nil, connError{fmt.Errorf("%s: %w", s.conn.Server, err)}
		}
		return nil, err
	}
	if it.Operation != 0 && it.Operation != op {
		return nil, fmt.Errorf("server answered %s to %s", it.Operation, op)
	}
	return it.Payload, nil
}

// emit prints a result: v as indented JSON with --output json, else what
// table writes to an aligned table.
func emit(cmd *cobra.Command, asJSON bool, v any, table func(w io.Writer)) error {
	w := cmd.OutOrStdout()
	if asJSON {
		return writeJSON(w, v)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	table(tw)
	return tw.Flush()
}

func writeJSON(w io.Writer, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	_, err = w.Write(append(data, '\n'))
	return err
}

// kv writes key/value rows, skipping empty values.
func kv(w io.Writer, rows ...string) {
	for i := 0; i+1 < len(rows); i += 2 {
		if rows[i+1] != "" {
			fmt.Fprintf(w, "%s\t%s\n", rows[i], rows[i+1])
		}
	}
}

// jsonErrors makes cmd and its subcommands add to a connection failure
// what to check (connOptions.explain), and print a JSON error document on
// standard output when they fail under --output json; the message still
// goes to standard error and the exit status is that of exitCode.
func jsonErrors(cmd *cobra.Command) {
	if run := cmd.RunE; run != nil {
		cmd.RunE = func(c *cobra.Command, args []string) error {
			err := run(c, args)
			// A connection failure says which flag or file to check.
			if o, cerr := connFromFlags(c); cerr == nil {
				err = o.explain(err)
			}
			if err != nil && jsonOutput(c) {
				doc := jsonError{Error: err.Error(), ExitCode: exitCode(err)}
				var ke *kmip.Error
				if errors.As(err, &ke) {
					doc.Reason = ke.Reason.String()
					doc.Message, doc.RequestID = ke.Message, ke.RequestID
				}
				writeJSON(c.OutOrStdout(), doc)
			}
			return err
		}
	}
	for _, sub := range cmd.Commands() {
		jsonErrors(sub)
	}
}

// jsonError is the JSON document of a failed command.
type jsonError struct {
	Error   string `json:"error"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
	// RequestID is the server's id of the failed request (kmipd's logs
	// and audit trail name it).
	RequestID string `json:"request_id,omitempty"`
	ExitCode  int    `json:"exit_code"`
}

// args returns a cobra.PositionalArgs that wants between lo and hi
// arguments (hi < 0: no limit), failing with a usage error.
func args(lo, hi int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if len(a) < lo || hi >= 0 && len(a) > hi {
			return usageErrorf("usage: %s %s", cmd.CommandPath(), names)
		}
		return nil
	}
}

// oneID returns the first argument, the object identifier, refusing an
// empty one.
// onObject is the RunE of a command about the object its first argument
// names: it opens the session, checks the identifier and runs fn.
func onObject(fn func(cmd *cobra.Command, s *session, id string, a []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, a []string) error {
		s, err := newSession(cmd)
		if err != nil {
			return err
		}
		defer s.close()
		id, err := oneID(a)
		if err != nil {
			return err
		}
		return fn(cmd, s, id, a)
	}
}

func oneID(a []string) (string, error) {
	if strings.TrimSpace(a[0]) == "" {
		return "", usageErrorf("empty object identifier")
	}
	return a[0], nil
}
