package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/internal/audit"
)

type auditFileOptions struct {
	dir    string
	file   string
	key    string
	anchor string
}

// anchorPath is the anchor to compare the trail at path with, and whether
// it must exist: the config's trail must keep its anchor; a copy named by
// --file is compared with one when there is one (--anchor makes it
// required).
func (o *auditFileOptions) anchorPath(path string) (string, bool) {
	if o.anchor != "" {
		return o.anchor, true
	}
	return audit.AnchorPath(path), o.file == ""
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
			path = cfg.auditPath()
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
	cmd.Flags().StringVar(&o.anchor, "anchor", "", "the anchor file to compare the trail with (default: the trail's path + .anchor)")
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
follow every audit.checkpoint_interval records, and at start and shutdown.
The trail's length and head are also kept, signed, in an anchor file next to
it (audit.log.anchor), so that a cut-off tail is detected: kmipd refuses to
start on such a trail until an operator accepts the loss.`,
	}
	cmd.AddCommand(newAuditVerifyCmd(), newAuditExportCmd(), newAuditAcceptTruncationCmd(), newAuditCheckCopyCmd())
	return cmd
}

func newAuditVerifyCmd() *cobra.Command {
	o := &auditFileOptions{}
	cmd := &cobra.Command{
		Use:   "verify --dir DIR",
		Short: "Check the audit trail for edited, deleted, reordered or cut-off records",
		Long: `verify checks every line of the trail against the hash chain and every
checkpoint signature, and exits non-zero naming the first bad line. It
compares the trail with its anchor and exits non-zero naming the missing
records when the trail ends before the anchored record (its tail was cut
off) or holds another one there. The trail must end with the checkpoint
kmipd writes at shutdown; while kmipd runs, the records after the last
checkpoint are reported as not yet signed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAuditVerify(cmd, o) },
	}
	o.flags(cmd)
	return cmd
}

func runAuditVerify(cmd *cobra.Command, o *auditFileOptions) error {
	path, key, err := o.resolve()
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	anchorPath, required := o.anchorPath(path)
	rep, err := audit.VerifyAnchored(path, anchorPath, required, key)
	var le *audit.LineError
	if errors.As(err, &le) {
		if line, ok := lineAt(path, le.Line); ok {
			fmt.Fprintf(out, "line %d: %s\n", le.Line, line)
		}
		return fmt.Errorf("audit trail %s is NOT intact: %w", path, err)
	}
	if err != nil && !errors.Is(err, audit.ErrIncomplete) && !errors.Is(err, audit.ErrTruncated) {
		return err
	}
	if rep != nil && rep.Lines > 0 {
		fmt.Fprintf(out, "%s: %d records and %d checkpoints, seq %d to %d, %s to %s: hash chain and signatures intact\n",
			path, rep.Records, rep.Checkpoints, rep.FirstSeq, rep.LastSeq,
			rep.First.Format(time.RFC3339), rep.Last.Format(time.RFC3339))
	}
	if rep != nil {
		for _, d := range rep.Truncations {
			fmt.Fprintf(out, "an operator accepted a cut-off tail: %s\n", d)
		}
		if !rep.InUse && o.file == "" {
			if n, rerr := audit.RingRecords(path); rerr != nil {
				fmt.Fprintf(out, "WARNING: the write-ahead ring %s cannot be read: %v\n", audit.WALPath(path), rerr)
			} else if n > 0 {
				fmt.Fprintf(out, "the write-ahead ring %s holds %d records the trail lacks: kmipd appends them when it starts\n", audit.WALPath(path), n)
			}
		}
	}
	if errors.Is(err, audit.ErrTruncated) {
		return fmt.Errorf("audit trail %s is NOT complete: %w (kmipd audit accept-truncation records the loss and lets kmipd start)", path, err)
	}
	if err != nil {
		return fmt.Errorf("audit trail %s: %w", path, err)
	}
	switch {
	case rep.Anchor != nil:
		fmt.Fprintf(out, "matches its anchor %s: seq %d, anchored %s\n", anchorPath, rep.Anchor.Seq, rep.Anchor.Time.Format(time.RFC3339))
	case required:
		fmt.Fprintf(out, "no anchor yet (a trail from before anchors): kmipd creates %s at its next start\n", anchorPath)
	default:
		fmt.Fprintf(out, "WARNING: no anchor %s: a cut-off tail cannot be detected (give --anchor)\n", anchorPath)
	}
	if rep.InUse {
		fmt.Fprintf(out, "kmipd is running: the last %d records (after line %d) are not signed yet\n", rep.Unsigned, rep.LastCheckpointLine)
	} else {
		fmt.Fprintln(out, "ends with a shutdown checkpoint: every record is signed")
	}
	return nil
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

type auditAcceptTruncationOptions struct {
	dir string
}

func newAuditAcceptTruncationCmd() *cobra.Command {
	o := &auditAcceptTruncationOptions{}
	cmd := &cobra.Command{
		Use:   "accept-truncation --dir DIR",
		Short: "Let kmipd continue an audit trail whose tail was cut off, recording the loss",
		Long: `kmipd refuses to start when its audit trail ends before the record its
anchor names (or holds another record there, or the anchor is missing or
does not verify): records were removed. Once the trail has been examined
(kmipd audit verify; keep a copy), accept-truncation appends a "truncation"
event naming the missing records and you as the operator, signs it, and moves
the anchor to the trail's new end, so that kmipd starts again. The event stays
in the trail: verify lists it. Run it with kmipd stopped.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAuditAcceptTruncation(cmd, o) },
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "kmipd directory: the trail and key named by its config")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func runAuditAcceptTruncation(cmd *cobra.Command, o *auditAcceptTruncationOptions) error {
	cfg, err := loadConfig(o.dir)
	if err != nil {
		return err
	}
	if !cfg.Audit.Enabled {
		return errors.New("the audit trail is off (audit.enabled: false)")
	}
	ao, err := auditOptions(cfg, zerolog.Nop())
	if err != nil {
		return err
	}
	return acceptTruncation(cmd.OutOrStdout(), ao, localActor())
}

func acceptTruncation(out io.Writer, o audit.Options, actor string) error {
	o.AcceptTruncation = actor
	t, err := audit.Open(o)
	switch {
	case errors.Is(err, audit.ErrNotTruncated):
		fmt.Fprintf(out, "%s reaches its anchor: nothing to accept, nothing written\n", o.Path)
		return nil
	case errors.Is(err, audit.ErrLocked):
		return fmt.Errorf("%w: stop kmipd first", err)
	case err != nil:
		return err
	}
	fmt.Fprintf(out, "accepted and recorded in the trail: %s\n", t.Truncation())
	if err := t.Close(); err != nil {
		return fmt.Errorf("audit trail: %w", err)
	}
	fmt.Fprintln(out, "the anchor now names the trail's new end: kmipd can start")
	return nil
}

type auditExportOptions struct {
	auditFileOptions
	since       string
	checkpoints bool
}

func newAuditExportCmd() *cobra.Command {
	o := &auditExportOptions{}
	cmd := &cobra.Command{
		Use:   "export --dir DIR [--since TIME]",
		Short: "Print the audit records as JSON lines",
		Long: `export prints the records of the trail, one JSON object a line, as they are
stored. It checks the chain as it goes: a damaged trail is still exported in
full, but the command then exits non-zero naming the first bad line.
--since takes an RFC 3339 time (2026-01-02T15:04:05Z), a date (2026-01-02,
UTC) or a duration back from now (24h).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAuditExport(cmd, o) },
	}
	o.flags(cmd)
	cmd.Flags().StringVar(&o.since, "since", "", "only records at or after this time")
	cmd.Flags().BoolVar(&o.checkpoints, "checkpoints", false, "include the checkpoint lines")
	return cmd
}

func runAuditExport(cmd *cobra.Command, o *auditExportOptions) error {
	var from time.Time
	if o.since != "" {
		var err error
		if from, err = parseSince(o.since, time.Now()); err != nil {
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
		if rec.Kind == audit.KindCheckpoint && !o.checkpoints || rec.Time.Before(from) {
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
