package ttlv

import (
	"encoding/binary"
	"errors"
	"io"
)

// ReadMessage reads one TTLV message from r into buf (reusing its capacity)
// and returns it, header included.
//
// The 8-byte header is read and checked first: the tag must be in range,
// the type must be Structure and the declared length, which comes from the
// peer, at most max bytes. Only then is the body read, and buf grows only as
// body bytes actually arrive, so a peer that announces a large message and
// sends nothing costs no memory.
//
// A clean end of stream before any byte returns io.EOF; a stream ending
// inside a message returns io.ErrUnexpectedEOF. A *Error means framing is
// lost and the connection should be closed.
func ReadMessage(r io.Reader, buf []byte, max int) ([]byte, error) {
	if cap(buf) < headerLen {
		buf = make([]byte, 0, 512)
	}
	buf = buf[:headerLen]
	if _, err := io.ReadFull(r, buf); err != nil {
		return nil, err
	}
	tag := Tag(readTag(buf))
	if !ValidTag(tag) {
		return nil, errAt(0, tag, ErrBadTag)
	}
	if Type(buf[3]) != TypeStructure {
		return nil, errAt(0, tag, ErrNotStructure)
	}
	n := binary.BigEndian.Uint32(buf[4:8])
	if n%8 != 0 {
		return nil, errAt(0, tag, ErrBadLength)
	}
	if uint64(n)+headerLen > uint64(max) {
		return nil, errAt(0, tag, ErrTooLarge)
	}
	total := headerLen + int(n)
	for len(buf) < total {
		if len(buf) == cap(buf) {
			nc := min(2*cap(buf), total)
			nb := make([]byte, len(buf), nc)
			copy(nb, buf)
			buf = nb
		}
		end := min(cap(buf), total)
		k, err := io.ReadAtLeast(r, buf[len(buf):end], 1)
		buf = buf[:len(buf)+k]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	return buf, nil
}
