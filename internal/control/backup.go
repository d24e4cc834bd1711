package control

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"time"

	"github.com/kmipd/kmipd/internal/progress"
)

// frameWriter writes the server's side of the backup stream.
type frameWriter struct {
	conn net.Conn
	sum  hash.Hash
	err  error
}

func (w *frameWriter) write(p []byte) error {
	if w.err != nil {
		return w.err
	}
	w.conn.SetWriteDeadline(time.Now().Add(timeout))
	_, w.err = w.conn.Write(p)
	return w.err
}

func (w *frameWriter) header(kind byte, v uint64) error {
	return w.write(binary.BigEndian.AppendUint64([]byte{kind}, v))
}

// Write sends p as one data frame.
func (w *frameWriter) Write(p []byte) (int, error) {
	if err := w.write(binary.BigEndian.AppendUint32([]byte{'D'}, uint32(len(p)))); err != nil {
		return 0, err
	}
	if err := w.write(p); err != nil {
		return 0, err
	}
	w.sum.Write(p)
	return len(p), nil
}

func (w *frameWriter) end(n int64) error {
	return w.write(append(binary.BigEndian.AppendUint64([]byte{'Z'}, uint64(n)), w.sum.Sum(nil)...))
}

func (w *frameWriter) fail(msg string) {
	w.err = nil
	w.write(append(binary.BigEndian.AppendUint32([]byte{'E'}, uint32(len(msg))), msg...))
}

// FetchBackup asks the server on conn for a snapshot, writes it to out
// and reports the bytes received to p. It fails unless the stream ends
// complete, with the size and SHA-256 digest the server sent.
func FetchBackup(conn net.Conn, out io.Writer, p *progress.Reporter) (int64, error) {
	conn.SetWriteDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(conn, cmdBackup); err != nil {
		return 0, err
	}
	br := bufio.NewReaderSize(conn, frameChunk)
	sum := sha256.New()
	var n int64
	var buf []byte
	for {
		conn.SetReadDeadline(time.Now().Add(timeout))
		kind, err := br.ReadByte()
		if err != nil {
			return n, fmt.Errorf("the server ended the backup early: %w", err)
		}
		switch kind {
		case 'S':
			var b [8]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return n, err
			}
			p.SetTotal(int64(binary.BigEndian.Uint64(b[:])))
		case 'D', 'E':
			var b [4]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return n, err
			}
			size := binary.BigEndian.Uint32(b[:])
			if size > 64<<20 {
				return n, errors.New("malformed backup stream")
			}
			if cap(buf) < int(size) {
				buf = make([]byte, size)
			}
			if _, err := io.ReadFull(br, buf[:size]); err != nil {
				return n, fmt.Errorf("the server ended the backup early: %w", err)
			}
			if kind == 'E' {
				return n, fmt.Errorf("server: %s", buf[:size])
			}
			if _, err := out.Write(buf[:size]); err != nil {
				return n, err
			}
			sum.Write(buf[:size])
			n += int64(size)
			p.Add(int64(size))
		case 'Z':
			var b [8 + sha256.Size]byte
			if _, err := io.ReadFull(br, b[:]); err != nil {
				return n, err
			}
			if total := int64(binary.BigEndian.Uint64(b[:8])); total != n || string(b[8:]) != string(sum.Sum(nil)) {
				return n, fmt.Errorf("the backup stream is damaged: got %d bytes, the server sent %d", n, total)
			}
			return n, nil
		default:
			return n, errors.New("malformed backup stream")
		}
	}
}
