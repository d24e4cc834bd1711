package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/internal/audit"
)

// AuditSink is one entry of audit.sinks: a stream of every audit record,
// besides the trail file, to a SIEM (see audit.SinkOptions).
type AuditSink struct {
	Type    string `yaml:"type"`    // syslog or jsonl
	Network string `yaml:"network"` // tcp (default) or unix (jsonl)
	Address string `yaml:"address"` // host:port, or the socket's path
	// TLS, for syslog: enabled, with the receiver's CA (default: the
	// system's roots), and the client certificate and key kmipd presents.
	TLS struct {
		Enabled    bool   `yaml:"enabled"`
		CA         string `yaml:"ca"`
		Cert       string `yaml:"cert"`
		Key        string `yaml:"key"`
		ServerName string `yaml:"server_name"` // default: the address's host
	} `yaml:"tls"`
	Queue   int      `yaml:"queue"`   // records waiting to be sent (default 1024)
	Timeout Duration `yaml:"timeout"` // connect, write, fail-closed wait (default 5s)
	OnFull  string   `yaml:"on_full"` // drop (default) or block
}

// auditSinks turns audit.sinks into the trail's sink options.
func auditSinks(cfg *Config) ([]audit.SinkOptions, error) {
	var out []audit.SinkOptions
	var errs []error
	for i, s := range cfg.Audit.Sinks {
		o := audit.SinkOptions{Type: s.Type, Network: s.Network, Address: s.Address, Queue: s.Queue,
			Timeout: time.Duration(s.Timeout), OnFull: s.OnFull}
		if s.Network == "unix" {
			o.Address = cfg.path(s.Address)
		}
		if s.TLS.Enabled {
			tc, err := sinkTLS(cfg, &s)
			if err != nil {
				errs = append(errs, fmt.Errorf("audit.sinks[%d].tls: %w", i, err))
				continue
			}
			o.TLS = tc
		} else if s.TLS.CA != "" || s.TLS.Cert != "" || s.TLS.Key != "" {
			errs = append(errs, fmt.Errorf("audit.sinks[%d].tls: files given but tls.enabled is false", i))
		}
		if err := audit.CheckSink(&o); err != nil {
			errs = append(errs, fmt.Errorf("audit.sinks[%d]: %w", i, err))
			continue
		}
		out = append(out, o)
	}
	return out, errors.Join(errs...)
}

func sinkTLS(cfg *Config, s *AuditSink) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: s.TLS.ServerName}
	if tc.ServerName == "" {
		host, _, err := net.SplitHostPort(s.Address)
		if err != nil {
			return nil, err
		}
		tc.ServerName = host
	}
	if s.TLS.CA != "" {
		pem, err := os.ReadFile(cfg.path(s.TLS.CA))
		if err != nil {
			return nil, err
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%s: no PEM certificate", s.TLS.CA)
		}
	}
	if (s.TLS.Cert == "") != (s.TLS.Key == "") {
		return nil, errors.New("give both cert and key, or neither")
	}
	if s.TLS.Cert != "" {
		c, err := tls.LoadX509KeyPair(cfg.path(s.TLS.Cert), cfg.path(s.TLS.Key))
		if err != nil {
			return nil, err
		}
		tc.Certificates = []tls.Certificate{c}
	}
	return tc, nil
}

func newAuditCheckCopyCmd() *cobra.Command {
	o := &auditFileOptions{}
	cmd := &cobra.Command{
		Use:   "check-copy --dir DIR COPY",
		Short: "Check a SIEM's copy of the streamed audit records against the trail",
		Long: `check-copy verifies the trail (hash chain and signatures, as verify does)
and then that every record in COPY, a JSON-lines file of the records an
audit sink streamed (anything before a line's first '{', such as a syslog
header, is ignored), is byte for byte the trail's record with the same seq,
in order. It reports the trail's records the copy lacks between its first
and last (records a sink dropped) and exits non-zero at the first record
that is not the trail's.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			path, key, err := o.resolve()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			anchorPath, required := o.anchorPath(path)
			if _, err := audit.VerifyAnchored(path, anchorPath, required, key); err != nil && !errors.Is(err, audit.ErrIncomplete) {
				return fmt.Errorf("audit trail %s: %w (see kmipd audit verify)", path, err)
			}
			trail, err := os.Open(path)
			if err != nil {
				return err
			}
			defer trail.Close()
			cp, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer cp.Close()
			rep, err := audit.VerifyCopy(trail, cp)
			if err != nil {
				return fmt.Errorf("copy %s does NOT match the trail: %w", args[0], err)
			}
			fmt.Fprintf(out, "%s: %d records, seq %d to %d, identical to the trail's (%d duplicates)\n",
				args[0], rep.Matched, rep.FirstSeq, rep.LastSeq, rep.Duplicates)
			if rep.Missing > 0 {
				fmt.Fprintf(out, "missing from the copy: %d records (seq %v)\n", rep.Missing, rep.MissingRanges)
			}
			return nil
		},
	}
	o.flags(cmd)
	return cmd
}
