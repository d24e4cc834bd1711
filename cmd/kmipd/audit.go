package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/kmip/audit"
)

// auditOptions turns the audit section of the config into trail options.
func auditOptions(cfg *Config, log zerolog.Logger) (audit.Options, error) {
	a := &cfg.Audit
	var errs []error
	switch audit.SyncMode(a.Sync) {
	case audit.SyncAlways, audit.SyncInterval, audit.SyncNone:
	default:
		errs = append(errs, fmt.Errorf("audit.sync %q: want always, interval or none", a.Sync))
	}
	if a.Path == "" || a.Key == "" {
		errs = append(errs, errors.New("audit.path and audit.key must be set (audit.enabled: false turns the trail off)"))
	}
	if a.CheckpointInterval < 0 {
		errs = append(errs, fmt.Errorf("audit.checkpoint_interval %d: want a positive number of records", a.CheckpointInterval))
	}
	if a.SyncInterval < 0 {
		errs = append(errs, fmt.Errorf("audit.sync_interval %v: want a positive duration", time.Duration(a.SyncInterval)))
	}
	return audit.Options{
		Path:               cfg.path(a.Path),
		KeyPath:            cfg.path(a.Key),
		Sync:               audit.SyncMode(a.Sync),
		SyncInterval:       time.Duration(a.SyncInterval),
		CheckpointInterval: a.CheckpointInterval,
		CheckpointPeriod:   time.Duration(a.CheckpointPeriod),
		FailClosed:         a.FailClosed,
		Logger:             log,
	}, errors.Join(errs...)
}

// openAudit opens the audit trail serve records every operation in; nil
// when audit.enabled is false.
func openAudit(cfg *Config, log zerolog.Logger) (*audit.Trail, error) {
	if !cfg.Audit.Enabled {
		log.Warn().Msg("the audit trail is off (audit.enabled: false): operations are not recorded")
		return nil, nil
	}
	o, err := auditOptions(cfg, log)
	if err != nil {
		return nil, err
	}
	t, err := audit.Open(o)
	if err != nil {
		return nil, fmt.Errorf("audit trail: %w", err)
	}
	log.Info().Str("path", o.Path).Str("sync", string(o.Sync)).Bool("fail_closed", o.FailClosed).Msg("audit trail open")
	return t, nil
}

func closeAudit(t *audit.Trail, log zerolog.Logger) {
	if err := t.Close(); err != nil {
		log.Error().Err(err).Msg("audit trail: the shutdown checkpoint could not be written")
	}
}

// localActor names the operator running a command, for audit events.
func localActor() string {
	name := "uid " + fmt.Sprint(os.Getuid())
	if u, err := user.Current(); err == nil {
		name = u.Username + " (" + name + ")"
	}
	return "local " + name
}

// auditEvent records an operator action (backup, restore) in the trail of
// a stopped server; it only warns when that is not possible.
func auditEvent(cfg *Config, stderr io.Writer, event, detail string) {
	if !cfg.Audit.Enabled {
		return
	}
	o, err := auditOptions(cfg, zerolog.Nop())
	if err == nil {
		var t *audit.Trail
		if t, err = audit.Open(o); err == nil {
			err = t.Event(event, localActor(), detail)
			if cerr := t.Close(); err == nil {
				err = cerr
			}
		}
	}
	if err != nil {
		fmt.Fprintf(stderr, "kmipd: warning: the %s could not be recorded in the audit trail: %v\n", event, err)
	}
}

type auditFileOptions struct {
	dir  string
	file string
	key  string
}

// resolve finds the trail and its key: from the flags, else from DIR's
// config.
func (o *auditFileOptions) resolve() (path string, key []byte, err error) {
	path, keyPath := o.file, o.key
	if path == "" || keyPath == "" {
		if o.dir == "" {
			return "", nil, errors.New("give --dir, or both --file and --key")
		}
		cfg, err := loadConfig(o.dir)
		if err != nil {
			return "", nil, err
		}
		if path == "" {
			path = cfg.path(cfg.Audit.Path)
		}
		if keyPath == "" {
			keyPath = cfg.path(cfg.Audit.Key)
		}
	}
	key, err = audit.ReadKey(keyPath)
	return path, key, err
}

func (o *auditFileOptions) flags(cmd *cobra.Command) {
	cmd.Flags().StringVar(&o.dir, "dir", "", "kmipd directory: the trail and key named by its config")
	cmd.Flags().StringVar(&o.file, "file", "", "the trail file (overrides the config; for a copy kept elsewhere)")
	cmd.Flags().StringVar(&o.key, "key", "", "the checkpoint key file (overrides the config)")
}

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Verify or export the audit trail",
		Long: `Every operation kmipd serves is recorded in a JSON-lines audit trail
(audit.path, default DIR/audit/audit.log): time, client identity and
certificate fingerprint, address, protocol version, operation, object
identifiers, result. Never key material. Each line carries the SHA-256 hash
of the one before; checkpoints signed with the key in audit.key (HMAC-SHA256)
follow every audit.checkpoint_interval records, and at start and shutdown.`,
	}
	cmd.AddCommand(newAuditVerifyCmd(), newAuditExportCmd())
	return cmd
}

func newAuditVerifyCmd() *cobra.Command {
	o := &auditFileOptions{}
	cmd := &cobra.Command{
		Use:   "verify --dir DIR",
		Short: "Check the audit trail for edited, deleted, reordered or cut-off records",
		Long: `verify checks every line of the trail against the hash chain and every
checkpoint signature, and exits non-zero naming the first bad line. The trail
must end with the checkpoint kmipd writes at shutdown; while kmipd runs, the
records after the last checkpoint are reported as not yet signed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			path, key, err := o.resolve()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			rep, err := audit.VerifyFile(path, key)
			var le *audit.LineError
			if errors.As(err, &le) {
				if line, ok := lineAt(path, le.Line); ok {
					fmt.Fprintf(out, "line %d: %s\n", le.Line, line)
				}
				return fmt.Errorf("audit trail %s is NOT intact: %w", path, err)
			}
			if err != nil && !errors.Is(err, audit.ErrIncomplete) {
				return err
			}
			if rep != nil && rep.Lines > 0 {
				fmt.Fprintf(out, "%s: %d records and %d checkpoints, seq %d to %d, %s to %s: hash chain and signatures intact\n",
					path, rep.Records, rep.Checkpoints, rep.FirstSeq, rep.LastSeq,
					rep.First.Format(time.RFC3339), rep.Last.Format(time.RFC3339))
			}
			if err != nil {
				return fmt.Errorf("audit trail %s: %w", path, err)
			}
			if rep.InUse {
				fmt.Fprintf(out, "kmipd is running: the last %d records (after line %d) are not signed yet\n", rep.Unsigned, rep.LastCheckpointLine)
			} else {
				fmt.Fprintln(out, "ends with a shutdown checkpoint: every record is signed")
			}
			return nil
		},
	}
	o.flags(cmd)
	return cmd
}

// lineAt returns line n (1-based) of a file, shortened for display.
func lineAt(path string, n int) (string, bool) {
	f, err := os.Open(path)
	if err != nil {
		return "", false
	}
	defer f.Close()
	br := bufio.NewReader(f)
	for i := 1; ; i++ {
		line, err := br.ReadString('\n')
		if i == n {
			line = strings.TrimSuffix(line, "\n")
			if len(line) > 400 {
				line = line[:400] + "…"
			}
			return line, line != "" || err == nil
		}
		if err != nil {
			return "", false
		}
	}
}

func newAuditExportCmd() *cobra.Command {
	o := &auditFileOptions{}
	var since string
	var checkpoints bool
	cmd := &cobra.Command{
		Use:   "export --dir DIR [--since TIME]",
		Short: "Print the audit records as JSON lines",
		Long: `export prints the records of the trail, one JSON object a line, as they are
stored. It checks the chain as it goes: a damaged trail is still exported in
full, but the command then exits non-zero naming the first bad line.
--since takes an RFC 3339 time (2026-01-02T15:04:05Z), a date (2026-01-02,
UTC) or a duration back from now (24h).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var from time.Time
			if since != "" {
				var err error
				if from, err = parseSince(since, time.Now()); err != nil {
					return err
				}
			}
			path, key, err := o.resolve()
			if err != nil {
				return err
			}
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			w := bufio.NewWriter(cmd.OutOrStdout())
			r := audit.NewReader(f, key)
			var bad error
			for {
				rec, line, err := r.Next()
				if err == io.EOF {
					break
				}
				var le *audit.LineError
				if errors.As(err, &le) {
					if bad == nil {
						bad = err
					}
				} else if err != nil {
					return err
				}
				if rec == nil {
					// An unreadable line is exported as it is: it is evidence.
					rec = &audit.Record{Time: from}
				}
				if rec.Kind == audit.KindCheckpoint && !checkpoints || rec.Time.Before(from) {
					continue
				}
				w.Write(line)
				w.WriteByte('\n')
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if bad != nil {
				return fmt.Errorf("audit trail %s is NOT intact: %w", path, bad)
			}
			return nil
		},
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&since, "since", "", "only records at or after this time")
	cmd.Flags().BoolVar(&checkpoints, "checkpoints", false, "include the checkpoint lines")
	return cmd
}

// parseSince reads an RFC 3339 time, a date or a duration before now.
func parseSince(s string, now time.Time) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	return time.Time{}, fmt.Errorf("--since %q: want an RFC 3339 time, a date (2006-01-02) or a duration (24h)", s)
}
