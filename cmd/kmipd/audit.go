package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"sync"
	"time"

	"github.com/rs/zerolog"

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
	if a.WALSize != 0 && (a.WALSize < audit.MinWALSize || a.WALSize > audit.MaxWALSize) {
		errs = append(errs, fmt.Errorf("audit.wal_size %d: want %d (64 KiB) to %d (1 GiB) bytes", a.WALSize, audit.MinWALSize, audit.MaxWALSize))
	}
	if a.SyncInterval < 0 {
		errs = append(errs, fmt.Errorf("audit.sync_interval %v: want a positive duration", time.Duration(a.SyncInterval)))
	}
	sinks, err := auditSinks(cfg)
	errs = append(errs, err)
	return audit.Options{
		Path:               cfg.auditPath(),
		Node:               cfg.clusterNode(),
		KeyPath:            cfg.path(a.Key),
		Sync:               audit.SyncMode(a.Sync),
		SyncInterval:       time.Duration(a.SyncInterval),
		CheckpointInterval: a.CheckpointInterval,
		CheckpointPeriod:   time.Duration(a.CheckpointPeriod),
		WALSize:            a.WALSize,
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
