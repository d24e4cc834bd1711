package main

import (
	"bufio"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/internal/audit"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/lifecycle"
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
	sinks, err := auditSinks(cfg)
	errs = append(errs, err)
	return audit.Options{
		Path:               cfg.path(a.Path),
		KeyPath:            cfg.path(a.Key),
		Sync:               audit.SyncMode(a.Sync),
		SyncInterval:       time.Duration(a.SyncInterval),
		CheckpointInterval: a.CheckpointInterval,
		CheckpointPeriod:   time.Duration(a.CheckpointPeriod),
		FailClosed:         a.FailClosed,
		ReadOnly:           lifecycle.ReadOnly,
		Sinks:              sinks,
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
		RunE: func(cmd *cobra.Command, _ []string) error {
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

func newAuditAcceptTruncationCmd() *cobra.Command {
	var dir string
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(dir)
			if err != nil {
				return err
			}
			if !cfg.Audit.Enabled {
				return errors.New("the audit trail is off (audit.enabled: false)")
			}
			o, err := auditOptions(cfg, zerolog.Nop())
			if err != nil {
				return err
			}
			return acceptTruncation(cmd.OutOrStdout(), o, localActor())
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "kmipd directory: the trail and key named by its config")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
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

// refusalLimit bounds the audit records of refused connections and
// messages, so that a flood of bad handshakes or malformed messages cannot
// fill the disk: a token bucket refilled at Rate a second and holding at
// most Burst. What it suppresses is counted in a "refusals_suppressed"
// record written Summary after the first suppressed refusal (and at
// shutdown).
type refusalLimit struct {
	Rate    float64
	Burst   int
	Summary time.Duration
}

var defaultRefusalLimit = refusalLimit{Rate: 10, Burst: 100, Summary: time.Second}

// maxRefusalDetail bounds the detail of one record: it may quote what a
// client sent.
const maxRefusalDetail = 256

// auditObserver is the server's Observer with a trail: it forwards every
// event to next (metrics) and records refused connections and messages in
// the trail. A nil trail returns next.
func auditObserver(trail *audit.Trail, next kmip.Observer) kmip.Observer {
	if trail == nil {
		return next
	}
	return newRefusalAuditor(trail, next, defaultRefusalLimit)
}

// refusalAuditor implements kmip.RefusalObserver. Its methods run on the
// server's connection goroutines and never wait for the disk: records are
// handed to the trail's own goroutine (audit.Trail.Post).
type refusalAuditor struct {
	next  kmip.Observer
	trail *audit.Trail
	limit refusalLimit

	mu          sync.Mutex
	tokens      float64
	last        time.Time
	conns, msgs int       // suppressed since from
	from        time.Time // first suppressed refusal not yet summarized
	timer       *time.Timer
}

func newRefusalAuditor(trail *audit.Trail, next kmip.Observer, limit refusalLimit) *refusalAuditor {
	if limit.Summary <= 0 {
		limit.Summary = time.Second
	}
	a := &refusalAuditor{next: next, trail: trail, limit: limit, tokens: float64(limit.Burst), last: time.Now()}
	// The count of the last suppressed refusals is written before the
	// shutdown checkpoint.
	trail.OnClose(a.flush)
	return a
}

func (a *refusalAuditor) ConnOpened() {
	if a.next != nil {
		a.next.ConnOpened()
	}
}

func (a *refusalAuditor) ConnClosed() {
	if a.next != nil {
		a.next.ConnClosed()
	}
}

func (a *refusalAuditor) HandshakeFailed(reason string) {
	if a.next != nil {
		a.next.HandshakeFailed(reason)
	}
}

func (a *refusalAuditor) ItemServed(op kmip.Operation, status kmip.ResultStatus, reason kmip.ResultReason, d time.Duration) {
	if a.next != nil {
		a.next.ItemServed(op, status, reason, d)
	}
}

func (a *refusalAuditor) ConnectionRefused(remote net.Addr, id *kmip.Identity, reason, detail string) {
	if ro, ok := a.next.(kmip.RefusalObserver); ok {
		ro.ConnectionRefused(remote, id, reason, detail)
	}
	a.record(true, remote, id, audit.EventConnectionRefused, reason, detail)
}

func (a *refusalAuditor) MessageRefused(remote net.Addr, id *kmip.Identity, reason kmip.ResultReason, detail string) {
	if ro, ok := a.next.(kmip.RefusalObserver); ok {
		ro.MessageRefused(remote, id, reason, detail)
	}
	a.record(false, remote, id, audit.EventMessageRefused, reason.String(), detail)
}

func (a *refusalAuditor) record(conn bool, remote net.Addr, id *kmip.Identity, event, reason, detail string) {
	now := time.Now()
	if a.allow(now) {
		if len(detail) > maxRefusalDetail {
			detail = detail[:maxRefusalDetail] + "…"
		}
		rec := &audit.Record{Time: now, Kind: audit.KindEvent, Event: event, Reason: reason, Detail: detail}
		if remote != nil {
			rec.Remote = remote.String()
		}
		if id != nil {
			rec.Identity, rec.Fingerprint = id.Name, hex.EncodeToString(id.Fingerprint[:])
		}
		if a.trail.Post(rec) {
			return
		}
	}
	a.suppressed(now, conn)
}

// allow takes a token from the bucket.
func (a *refusalAuditor) allow(now time.Time) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if d := now.Sub(a.last); d > 0 {
		a.tokens = min(float64(a.limit.Burst), a.tokens+d.Seconds()*a.limit.Rate)
		a.last = now
	}
	if a.tokens < 1 {
		return false
	}
	a.tokens--
	return true
}

func (a *refusalAuditor) suppressed(now time.Time, conn bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if conn {
		a.conns++
	} else {
		a.msgs++
	}
	if a.from.IsZero() {
		a.from = now
	}
	if a.timer == nil {
		a.timer = time.AfterFunc(a.limit.Summary, a.flush)
	}
}

// flush writes the count of suppressed refusals, if any.
func (a *refusalAuditor) flush() {
	a.mu.Lock()
	conns, msgs, from := a.conns, a.msgs, a.from
	a.conns, a.msgs, a.from = 0, 0, time.Time{}
	if a.timer != nil {
		a.timer.Stop()
		a.timer = nil
	}
	a.mu.Unlock()
	if conns+msgs == 0 {
		return
	}
	now := time.Now()
	rec := &audit.Record{Time: now, Kind: audit.KindEvent, Event: audit.EventRefusalsSuppressed,
		Detail: fmt.Sprintf("%d refused connections and %d refused messages were not recorded (at most %g a second, bursts of %d) from %s to %s",
			conns, msgs, a.limit.Rate, a.limit.Burst, from.UTC().Format(time.RFC3339Nano), now.UTC().Format(time.RFC3339Nano))}
	if a.trail.Post(rec) {
		return
	}
	// Counted again: the next suppressed refusal schedules another try.
	a.mu.Lock()
	a.conns, a.msgs = a.conns+conns, a.msgs+msgs
	if a.from.IsZero() || from.Before(a.from) {
		a.from = from
	}
	a.mu.Unlock()
}
