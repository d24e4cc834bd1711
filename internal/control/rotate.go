package control

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"

	"github.com/kmipd/kmipd/internal/progress"
)

// RequestRotate asks a serving kmipd to rotate and relays its report.
func RequestRotate(conn net.Conn, out, errOut io.Writer, keepOld bool) error {
	keep := "0"
	if keepOld {
		keep = "1"
	}
	if _, err := io.WriteString(conn, cmdRotate+" "+keep+"\n"); err != nil {
		return err
	}
	bar := progress.NewBar(errOut, "re-wrapping")
	defer bar.Finish()
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "P":
			var done, total int
			fmt.Sscanf(rest, "%d %d", &done, &total)
			bar.Update(done, total)
		case "M":
			fmt.Fprintln(out, rest)
		case "OK":
			return nil
		case "E":
			return errors.New("server: " + rest)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New("the server closed the control connection before the rotation ended")
}

// serveRotate runs a rotation inside the server, one at a time, reports on
// c, and records it in the log and the audit trail.
func (s *Server) serveRotate(c net.Conn, args string) {
	trail, log := s.Trail, s.Log
	if !s.rotating.TryLock() {
		io.WriteString(c, "E a rotation is already running\n")
		return
	}
	defer s.rotating.Unlock()
	log.Info().Msg("master-key rotation requested over the control socket")
	err := runRotate(c, args, s.Rotate)
	if err != nil {
		log.Error().Err(err).Msg("master-key rotation failed")
	} else {
		log.Info().Msg("master-key rotation finished")
	}
	if trail != nil {
		what := "master-key rotation finished"
		if err != nil {
			what = "master-key rotation failed: " + err.Error()
		}
		if err := trail.Event("hsm-rotate", "control socket", what); err != nil {
			log.Error().Err(err).Msg("the rotation could not be recorded in the audit trail")
		}
	}
}

// runRotate runs rotate and reports on w in the protocol's lines.
func runRotate(w io.Writer, args string, rotate RotateFunc) error {
	var mu sync.Mutex
	line := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		io.WriteString(w, s+"\n")
	}
	msgs := &lineWriter{emit: func(s string) { line("M " + s) }}
	report := func(done, total int) { line(fmt.Sprintf("P %d %d", done, total)) }
	err := rotate(context.Background(), msgs, report, strings.TrimSpace(args) == "1")
	if err != nil {
		line("E " + strings.ReplaceAll(err.Error(), "\n", " "))
		return err
	}
	line("OK")
	return nil
}

// lineWriter turns writes of whole lines into calls of emit.
type lineWriter struct {
	emit func(string)
	buf  []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.emit(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
}
