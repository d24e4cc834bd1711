// Package audittest holds what the tests of the audit trail's sinks
// receive records with: a syslog receiver that parses RFC 5424 messages in
// RFC 6587 octet-counted frames (over TCP or TLS), and a JSON-lines
// receiver (TCP or a unix socket).
package audittest

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is one message received.
type Message struct {
	// Syslog header fields (RFC 5424 §6.2), empty for JSON lines.
	PRI, Version, Timestamp, Hostname, AppName, ProcID, MsgID, SD string
	MSG                                                           string // the record: the trail's line
}

// Receiver accepts connections and collects the messages they carry.
type Receiver struct {
	Addr string // host:port, or the socket's path

	t      testing.TB
	l      net.Listener
	syslog bool

	mu     sync.Mutex
	msgs   []Message
	errs   []error
	conns  int
	closed bool
	wg     sync.WaitGroup
	open   map[net.Conn]bool
}

// Syslog starts a syslog receiver on a loopback TCP port; with cfg, over
// TLS.
func Syslog(t testing.TB, cfg *tls.Config) *Receiver {
	return Listen(t, "tcp", "127.0.0.1:0", cfg, true)
}

// JSONL starts a JSON-lines receiver on network ("tcp": a loopback port,
// "unix": a socket in a temporary directory).
func JSONL(t testing.TB, network string) *Receiver {
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = t.TempDir() + "/audit.sock"
	}
	return Listen(t, network, addr, nil, false)
}

// Listen starts a receiver on network and addr: of syslog frames when
// syslog is set, else of JSON lines; over TLS with cfg.
func Listen(t testing.TB, network, addr string, cfg *tls.Config, syslog bool) *Receiver {
	t.Helper()
	l, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	if cfg != nil {
		l = tls.NewListener(l, cfg)
	}
	r := &Receiver{Addr: l.Addr().String(), t: t, l: l, syslog: syslog, open: map[net.Conn]bool{}}
	r.wg.Add(1)
	go r.accept()
	t.Cleanup(r.Close)
	return r
}

func (r *Receiver) accept() {
	defer r.wg.Done()
	for {
		c, err := r.l.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		if r.closed {
			r.mu.Unlock()
			c.Close()
			return
		}
		r.conns++
		r.open[c] = true
		r.mu.Unlock()
		r.wg.Add(1)
		go r.serve(c)
	}
}

func (r *Receiver) serve(c net.Conn) {
	defer r.wg.Done()
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		var m Message
		var err error
		if r.syslog {
			m, err = readSyslog(br)
		} else {
			var line string
			line, err = br.ReadString('\n')
			if err == nil {
				m.MSG = strings.TrimSuffix(line, "\n")
			} else if line != "" {
				err = fmt.Errorf("a partial line: %q", line)
			}
		}
		r.mu.Lock()
		if err != nil {
			if !errors.Is(err, io.EOF) && !r.closed && !errors.Is(err, net.ErrClosed) {
				r.errs = append(r.errs, err)
			}
			delete(r.open, c)
			r.mu.Unlock()
			return
		}
		r.msgs = append(r.msgs, m)
		r.mu.Unlock()
	}
}

// readSyslog reads one octet-counted frame, MSG-LEN SP SYSLOG-MSG (RFC
// 6587 §3.4.1), and parses its RFC 5424 header.
func readSyslog(br *bufio.Reader) (Message, error) {
	var m Message
	lenText, err := br.ReadString(' ')
	if err != nil {
		if lenText == "" {
			return m, err
		}
		return m, fmt.Errorf("frame length %q: %w", lenText, err)
	}
	n, err := strconv.Atoi(strings.TrimSuffix(lenText, " "))
	if err != nil || n <= 0 || n > 1<<20 || lenText[0] == '0' {
		return m, fmt.Errorf("bad frame length %q", lenText)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(br, buf); err != nil {
		return m, fmt.Errorf("frame of %d octets: %w", n, err)
	}
	return ParseSyslog(string(buf))
}

// ParseSyslog parses an RFC 5424 SYSLOG-MSG whose STRUCTURED-DATA is "-".
func ParseSyslog(s string) (Message, error) {
	var m Message
	if !strings.HasPrefix(s, "<") {
		return m, fmt.Errorf("no PRI: %q", s)
	}
	end := strings.IndexByte(s, '>')
	if end < 2 || end > 4 {
		return m, fmt.Errorf("bad PRI: %q", s)
	}
	m.PRI = s[1:end]
	if p, err := strconv.Atoi(m.PRI); err != nil || p > 191 {
		return m, fmt.Errorf("bad PRI %q", m.PRI)
	}
	f := strings.SplitN(s[end+1:], " ", 8)
	if len(f) != 8 {
		return m, fmt.Errorf("short header: %q", s)
	}
	m.Version, m.Timestamp, m.Hostname, m.AppName, m.ProcID, m.MsgID, m.SD, m.MSG = f[0], f[1], f[2], f[3], f[4], f[5], f[6], f[7]
	if m.Version != "1" {
		return m, fmt.Errorf("version %q, want 1", m.Version)
	}
	if _, err := time.Parse(time.RFC3339Nano, m.Timestamp); err != nil {
		return m, fmt.Errorf("timestamp: %w", err)
	}
	if m.SD != "-" {
		return m, fmt.Errorf("structured data %q, want -", m.SD)
	}
	return m, nil
}

// Messages returns what has been received so far.
func (r *Receiver) Messages() []Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Message(nil), r.msgs...)
}

// Errors returns the framing errors seen.
func (r *Receiver) Errors() []error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]error(nil), r.errs...)
}

// Conns returns how many connections have been accepted.
func (r *Receiver) Conns() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conns
}

// WaitClosed waits until a connection has been accepted and every one has
// been closed by the sender (all it sent has been read), or the timeout.
func (r *Receiver) WaitClosed(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	r.mu.Lock()
	defer r.mu.Unlock()
	for r.conns == 0 || len(r.open) > 0 {
		if time.Now().After(deadline) {
			return false
		}
		r.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
		r.mu.Lock()
	}
	return true
}

// Close stops accepting and closes the connections.
func (r *Receiver) Close() {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return
	}
	r.closed = true
	for c := range r.open {
		c.Close()
	}
	r.mu.Unlock()
	r.l.Close()
	r.wg.Wait()
}
