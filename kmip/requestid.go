package kmip

import (
	"crypto/rand"
	"encoding/binary"
	"strconv"
	"strings"
)

// RequestID names one request message for the logs, the audit trail and
// the client: a random prefix per Server (so that ids of different server
// runs differ) and a counter. It is a fixed-size value, formatted only when
// it is written out: "4f2a91c3d05e7b12-17".
type RequestID struct {
	Prefix uint64
	N      uint64
}

// IsZero reports whether id was never assigned (a Call built by hand).
func (id RequestID) IsZero() bool { return id == RequestID{} }

// AppendTo appends the id's text form to b.
func (id RequestID) AppendTo(b []byte) []byte {
	const hexDigits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, hexDigits[(id.Prefix>>shift)&0xf])
	}
	b = append(b, '-')
	return strconv.AppendUint(b, id.N, 10)
}

// String returns the id's text form ("" for the zero id).
func (id RequestID) String() string {
	if id.IsZero() {
		return ""
	}
	var buf [40]byte
	return string(id.AppendTo(buf[:0]))
}

// requestIDLabel opens the request id the server appends to the Result
// Message of a failed batch item: "object not found (request 4f2a…-17)".
const requestIDLabel = "(request "

// appendRequestID appends msg and " (request ID)" to b.
func appendRequestID(b []byte, msg string, id RequestID) []byte {
	b = append(b, msg...)
	if msg != "" {
		b = append(b, ' ')
	}
	b = append(b, requestIDLabel...)
	b = id.AppendTo(b)
	return append(b, ')')
}

// SplitRequestID splits the request id a kmipd server appended to a Result
// Message off it. It returns msg unchanged and "" when there is none.
func SplitRequestID(msg string) (text, id string) {
	if !strings.HasSuffix(msg, ")") {
		return msg, ""
	}
	i := strings.LastIndex(msg, requestIDLabel)
	if i < 0 {
		return msg, ""
	}
	id = msg[i+len(requestIDLabel) : len(msg)-1]
	if !validRequestID(id) {
		return msg, ""
	}
	return strings.TrimSuffix(msg[:i], " "), id
}

// validRequestID reports whether s has the form AppendTo writes.
func validRequestID(s string) bool {
	if len(s) < 18 || s[16] != '-' {
		return false
	}
	for i := 0; i < 16; i++ {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	_, err := strconv.ParseUint(s[17:], 10, 64)
	return err == nil
}

// newRequestPrefix draws a server's request id prefix, never zero.
func newRequestPrefix() uint64 {
	var b [8]byte
	rand.Read(b[:])
	if p := binary.BigEndian.Uint64(b[:]); p != 0 {
		return p
	}
	return 1
}

// nextRequestID returns the id of the next request message.
func (s *Server) nextRequestID() RequestID {
	s.baseContext() // draws the prefix
	return RequestID{Prefix: s.reqPrefix, N: s.reqSeq.Add(1)}
}
