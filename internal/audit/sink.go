package audit

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"
)

// Sink types.
const (
	// SinkSyslog streams records as RFC 5424 syslog messages over TCP (TLS
	// when SinkOptions.TLS is set), octet-counted (RFC 6587 §3.4.1).
	SinkSyslog = "syslog"
	// SinkJSONL streams records as JSON lines over TCP or a unix socket.
	SinkJSONL = "jsonl"
)

// What a sink does with a record when its queue is full.
const (
	// OnFullDrop does not stream the record (the default).
	OnFullDrop = "drop"
	// OnFullBlock makes the trail wait up to the sink's Timeout for room:
	// every record waits with it, so the trail goes at the sink's pace.
	OnFullBlock = "block"
)

// Defaults of SinkOptions.
const (
	DefaultSinkQueue   = 1024
	DefaultSinkTimeout = 5 * time.Second
)

// sinkBackoff bounds the wait between connection attempts.
const (
	sinkBackoffMin = 100 * time.Millisecond
	sinkBackoffMax = 10 * time.Second
	sinkBatch      = 256 // records written to the connection at once
)

// SinkOptions configures one stream of the trail's records, besides the
// file. Each streamed record is the trail's line as written, so it carries
// its seq and chain hash and can be checked against the file
// (VerifyCopy).
type SinkOptions struct {
	Name    string      // in logs and SinkStats (default type:address)
	Type    string      // SinkSyslog or SinkJSONL
	Network string      // "tcp" (default) or "unix" (jsonl only)
	Address string      // host:port, or the socket's path
	TLS     *tls.Config // syslog over TLS when set (RFC 5425)
	// Queue bounds the records waiting to be sent (default 1024).
	Queue int
	// Timeout bounds a connection attempt, a write, a fail-closed
	// operation's wait for its record to be sent, the wait for room in a
	// full queue (OnFullBlock), and the draining of the queue at Close
	// (default 5s).
	Timeout time.Duration
	OnFull  string // OnFullDrop (default) or OnFullBlock
}

// SinkStats are a sink's counters (metrics).
type SinkStats struct {
	Name       string
	Connected  bool
	Queued     int    // records waiting
	Sent       uint64 // records written to the connection
	Dropped    uint64 // records never sent: queue full, or left at Close
	Reconnects uint64 // connections made after the first
	Delivered  uint64 // seq of the last record sent
}

// ErrSink wraps the failure to stream a record that is in the file: with
// Options.FailClosed the operation is refused.
var ErrSink = errors.New("audit: record not streamed")

// sinkEntry is a record waiting to be sent.
type sinkEntry struct {
	seq  uint64
	line []byte // the trail's line, without its newline
}

type sink struct {
	o     SinkOptions
	t     *Trail
	host  string // syslog HOSTNAME
	procs string // syslog PROCID

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced when the state below changes and someone waits
	sleepers  int           // goroutines waiting on changed
	queue     []sinkEntry
	delivered uint64
	connected bool
	down      error     // why the last connection attempt or write failed; nil once connected
	closeBy   time.Time // set by close: drain until then
	stats     SinkStats
	dropLog   time.Time // last drop logged
	dropSince uint64    // drops since
	done      chan struct{}
}

// CheckSink fills in o's defaults and checks it, as Open does.
func CheckSink(o *SinkOptions) error { return validateSink(o) }

func validateSink(o *SinkOptions) error {
	switch o.Type {
	case SinkSyslog, SinkJSONL:
	default:
		return fmt.Errorf("audit sink: type %q: want %s or %s", o.Type, SinkSyslog, SinkJSONL)
	}
	switch o.Network {
	case "":
		o.Network = "tcp"
	case "tcp":
	case "unix":
		if o.Type != SinkJSONL || o.TLS != nil {
			return fmt.Errorf("audit sink: network unix is for %s sinks without TLS", SinkJSONL)
		}
	default:
		return fmt.Errorf("audit sink: network %q: want tcp or unix", o.Network)
	}
	if o.TLS != nil && o.Type != SinkSyslog {
		return errors.New("audit sink: tls is for syslog sinks")
	}
	if o.Address == "" {
		return errors.New("audit sink: no address")
	}
	switch o.OnFull {
	case "":
		o.OnFull = OnFullDrop
	case OnFullDrop, OnFullBlock:
	default:
		return fmt.Errorf("audit sink: on_full %q: want %s or %s", o.OnFull, OnFullDrop, OnFullBlock)
	}
	if o.Queue <= 0 {
		o.Queue = DefaultSinkQueue
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultSinkTimeout
	}
	if o.Name == "" {
		o.Name = o.Type + ":" + o.Address
	}
	return nil
}

func newSink(t *Trail, o SinkOptions) *sink {
	host, _ := os.Hostname()
	s := &sink{o: o, t: t, host: syslogToken(host, 255), procs: strconv.Itoa(os.Getpid()),
		changed: make(chan struct{}), done: make(chan struct{})}
	s.stats.Name = o.Name
	go s.run()
	return s
}

// notifyLocked wakes everything waiting for a change.
func (s *sink) notifyLocked() {
	if s.sleepers > 0 {
		close(s.changed)
		s.changed = make(chan struct{})
	}
}

// waitLocked waits for a change or the deadline (none when zero); false
// once the deadline has passed.
func (s *sink) waitLocked(deadline time.Time) bool {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return false
		}
		tm := time.NewTimer(d)
		defer tm.Stop()
		timeout = tm.C
	}
	ch := s.changed
	s.sleepers++
	s.mu.Unlock()
	select {
	case <-ch:
	case <-timeout:
	}
	s.mu.Lock()
	s.sleepers--
	return true
}

// offer queues a line; the trail calls it in seq order, holding t.mu. It
// reports false when the record will not be streamed.
func (s *sink) offer(seq uint64, line []byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Block only for a sink that is connected and draining: waiting on one
	// known down would hold the trail (and every operation) for nothing.
	if len(s.queue) >= s.o.Queue && s.o.OnFull == OnFullBlock && s.closeBy.IsZero() && s.down == nil {
		deadline := time.Now().Add(s.o.Timeout)
		for len(s.queue) >= s.o.Queue && s.closeBy.IsZero() && s.waitLocked(deadline) {
		}
	}
	if len(s.queue) >= s.o.Queue || !s.closeBy.IsZero() {
		s.dropLocked(1, "queue full")
		return false
	}
	s.queue = append(s.queue, sinkEntry{seq: seq, line: append([]byte(nil), line...)})
	s.notifyLocked()
	return true
}

// dropLocked counts records that will not be streamed, and logs at most
// once a second.
func (s *sink) dropLocked(n int, why string) {
	s.stats.Dropped += uint64(n)
	s.dropSince += uint64(n)
	if now := time.Now(); now.Sub(s.dropLog) >= time.Second {
		s.dropLog = now
		s.t.log.Warn().Str("sink", s.o.Name).Uint64("dropped", s.dropSince).Uint64("dropped_total", s.stats.Dropped).
			Str("why", why).Msg("audit sink: records not streamed")
		s.dropSince = 0
	}
}

// wait waits until the record seq has been sent, for a fail-closed
// operation. A sink that is known down fails at once.
func (s *sink) wait(seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	deadline := time.Now().Add(s.o.Timeout)
	for s.delivered < seq {
		if s.down != nil {
			return fmt.Errorf("%w to %s: %v", ErrSink, s.o.Name, s.down)
		}
		if !s.waitLocked(deadline) {
			return fmt.Errorf("%w to %s within %v", ErrSink, s.o.Name, s.o.Timeout)
		}
	}
	return nil
}

// close stops taking records, gives the sender until Timeout to send what
// is queued, then drops the rest.
func (s *sink) close() {
	s.mu.Lock()
	s.closeBy = time.Now().Add(s.o.Timeout)
	s.notifyLocked()
	s.mu.Unlock()
	<-s.done
}

func (s *sink) stat() SinkStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.Connected, st.Queued, st.Delivered = s.connected, len(s.queue), s.delivered
	return st
}

// run sends queued records, connecting and reconnecting with backoff. A
// batch whose write fails is sent again on the next connection, so a
// receiver may see a record twice (same seq, same line), never out of
// order.
func (s *sink) run() {
	defer close(s.done)
	var conn net.Conn
	defer func() {
		if conn != nil {
			conn.Close()
		}
	}()
	backoff := sinkBackoffMin
	var buf []byte
	everConnected := false
	for {
		s.mu.Lock()
		for len(s.queue) == 0 && s.closeBy.IsZero() {
			s.waitLocked(time.Time{})
		}
		closing := !s.closeBy.IsZero()
		if len(s.queue) == 0 || closing && time.Now().After(s.closeBy) {
			if n := len(s.queue); n > 0 {
				s.dropLocked(n, "not sent by shutdown")
				s.queue = nil
			}
			s.mu.Unlock()
			return
		}
		n := min(len(s.queue), sinkBatch)
		batch := s.queue[:n:n]
		closeBy := s.closeBy
		s.mu.Unlock()

		if conn == nil {
			c, err := s.dial()
			if err != nil {
				s.failed(err)
				s.sleep(backoff, closeBy)
				backoff = min(2*backoff, sinkBackoffMax)
				continue
			}
			conn = c
			backoff = sinkBackoffMin
			s.mu.Lock()
			s.connected, s.down = true, nil
			if everConnected {
				s.stats.Reconnects++
			}
			s.notifyLocked()
			s.mu.Unlock()
			if everConnected {
				s.t.log.Info().Str("sink", s.o.Name).Msg("audit sink connected again")
			}
			everConnected = true
		}
		buf = buf[:0]
		for _, e := range batch {
			buf = s.frame(buf, e.line)
		}
		conn.SetWriteDeadline(time.Now().Add(s.o.Timeout))
		if _, err := conn.Write(buf); err != nil {
			conn.Close()
			conn = nil
			s.failed(err)
			continue
		}
		s.mu.Lock()
		s.queue = s.queue[n:]
		if len(s.queue) == 0 {
			s.queue = nil // let the sent lines go
		}
		s.delivered = batch[n-1].seq
		s.stats.Sent += uint64(n)
		s.notifyLocked()
		s.mu.Unlock()
	}
}

// failed marks the sink down; the first failure after a connection is
// logged, the retries are not.
func (s *sink) failed(err error) {
	s.mu.Lock()
	first := s.down == nil
	s.connected, s.down = false, err
	s.notifyLocked()
	s.mu.Unlock()
	if first {
		s.t.log.Error().Err(err).Str("sink", s.o.Name).Bool("fail_closed", s.t.opts.FailClosed).
			Msg("audit sink unreachable: retrying with backoff")
	}
}

// sleep waits d (the backoff), or until close starts, or until closeBy
// when it has.
func (s *sink) sleep(d time.Duration, closeBy time.Time) {
	deadline := time.Now().Add(d)
	if !closeBy.IsZero() && closeBy.Before(deadline) {
		deadline = closeBy
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.closeBy.Equal(closeBy) && s.waitLocked(deadline) {
	}
}

func (s *sink) dial() (net.Conn, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.o.Timeout)
	defer cancel()
	d := &net.Dialer{}
	if s.o.TLS != nil {
		td := &tls.Dialer{NetDialer: d, Config: s.o.TLS}
		return td.DialContext(ctx, s.o.Network, s.o.Address)
	}
	return d.DialContext(ctx, s.o.Network, s.o.Address)
}

// syslogPRI is facility 13, "log audit" (RFC 5424 §6.2.1), severity 6,
// Informational: 13*8 + 6.
const syslogPRI = "<110>"

// frame appends one record as the sink sends it.
func (s *sink) frame(b, line []byte) []byte {
	if s.o.Type == SinkJSONL {
		b = append(b, line...)
		return append(b, '\n')
	}
	// RFC 5424: <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID SD MSG,
	// octet-counted: MSG-LEN SP SYSLOG-MSG (RFC 6587 §3.4.1). The MSG is
	// the trail's line.
	var hdr [128]byte
	h := append(hdr[:0], syslogPRI...)
	h = append(h, "1 "...)
	h = time.Now().UTC().AppendFormat(h, "2006-01-02T15:04:05.000000Z")
	h = append(h, ' ')
	h = append(h, s.host...)
	h = append(h, " kmipd "...)
	h = append(h, s.procs...)
	h = append(h, " audit - "...)
	b = strconv.AppendInt(b, int64(len(h)+len(line)), 10)
	b = append(b, ' ')
	b = append(b, h...)
	return append(b, line...)
}

// syslogToken makes s a syslog header field: printable US-ASCII without
// spaces, at most n characters, "-" when empty (RFC 5424 §6).
func syslogToken(s string, n int) string {
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s) && len(b) < n; i++ {
		if c := s[i]; c > 32 && c < 127 {
			b = append(b, c)
		}
	}
	if len(b) == 0 {
		return "-"
	}
	return string(b)
}
