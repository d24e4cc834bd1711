package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strconv"
	"time"
	"unicode/utf8"
)

// Record kinds.
const (
	KindOp         = "op"         // one KMIP batch item
	KindCheckpoint = "checkpoint" // a signed checkpoint (carries a MAC)
	KindEvent      = "event"      // something the trail or an operator did: a gap, a backup, a restore
)

// Checkpoint events.
const (
	EventOpen     = "open"     // the server opened the trail
	EventPeriodic = "periodic" // every CheckpointInterval records, or CheckpointPeriod
	EventReopen   = "reopen"   // the file was removed or renamed; a new one continues the chain
	EventClose    = "close"    // clean shutdown: nothing after it may be missing
)

// Events.
const (
	// EventTruncation: an operator accepted a trail that does not reach
	// its anchor (kmipd audit accept-truncation); the detail names the
	// missing records.
	EventTruncation = "truncation"
	// EventConnectionRefused and EventMessageRefused: what the server
	// refused before any operation ran; EventRefusalsSuppressed counts
	// those not recorded, to bound the trail under a flood.
	EventConnectionRefused  = "connection_refused"
	EventMessageRefused     = "message_refused"
	EventRefusalsSuppressed = "refusals_suppressed"
)

// maxUIDs bounds the response identifiers one record lists (a Locate may
// return thousands); MoreUIDs counts the rest.
const maxUIDs = 256

// Record is one line of the trail. Operation records hold who did what to
// which object and with what result, never key material or payload bytes.
type Record struct {
	Seq  uint64    `json:"seq"`            // line number in the chain, from 1
	Node string    `json:"node,omitempty"` // the cluster node that wrote the line (Options.Node)
	Time time.Time `json:"time"`           // when the request was received (UTC)
	Kind string    `json:"kind"`           // KindOp, KindCheckpoint or KindEvent

	Identity    string `json:"identity,omitempty"`    // client certificate subject CN
	Fingerprint string `json:"fingerprint,omitempty"` // SHA-256 of the client certificate, hex
	Remote      string `json:"remote,omitempty"`      // client address
	Version     string `json:"version,omitempty"`     // KMIP protocol version of the request
	// Request is the server's id of the request message (kmip.RequestID),
	// also in its log lines and the Result Message of a failure.
	Request   string `json:"request,omitempty"`
	Operation string `json:"operation,omitempty"`
	// RequestUID is the Unique Identifier the request named, if any.
	RequestUID string `json:"request_uid,omitempty"`
	// ResponseUIDs are the Unique Identifiers (also Private and Public Key
	// Unique Identifiers) of the response payload.
	ResponseUIDs []string `json:"response_uids,omitempty"`
	MoreUIDs     int      `json:"more_uids,omitempty"`
	Status       string   `json:"status,omitempty"` // Success, OperationFailed or OperationUndone
	Reason       string   `json:"reason,omitempty"` // Result Reason of a failure
	// Rule is the access rule that refused the request (Permission Denied,
	// or Object Not Found where existence must not leak): internal/access.
	Rule string `json:"rule,omitempty"`
	// Supersedes is the seq of an earlier record of the same item whose
	// outcome changed after it was written (its transaction failed to
	// commit).
	Supersedes uint64 `json:"supersedes,omitempty"`

	Event  string `json:"event,omitempty"`  // checkpoints and events
	Detail string `json:"detail,omitempty"` // free text of checkpoints and events

	PrevHash string `json:"prev_hash"`     // hash of the previous line, hex; zeros for the first
	Hash     string `json:"hash"`          // SHA-256(prev hash ‖ canonical line), hex
	MAC      string `json:"mac,omitempty"` // checkpoints: HMAC-SHA256(key, domain ‖ hash), hex
}

// timeLayout is RFC 3339 with microseconds, fixed width.
const timeLayout = "2006-01-02T15:04:05.000000Z07:00"

// appendTime appends t in UTC as timeLayout formats it, without parsing the
// layout on every record.
func appendTime(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, timeLayout)
	}
	hour, minute, sec := t.Clock()
	b = appendDigits(b, year, 4)
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, 'T')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, minute, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	b = append(b, '.')
	b = appendDigits(b, t.Nanosecond()/1000, 6)
	return append(b, 'Z')
}

// appendDigits appends v (0 <= v < 10^n) in n decimal digits.
func appendDigits(b []byte, v, n int) []byte {
	var d [6]byte
	for i := n - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:n]...)
}

// appendBody appends the fields between seq and prev_hash, each preceded by
// a comma: the part of a line that is known before it gets its place in the
// chain.
func (r *Record) appendBody(b []byte) []byte {
	b = append(b, `,"time":"`...)
	b = appendTime(b, r.Time)
	b = append(b, `","kind":`...)
	b = appendString(b, r.Kind)
	b = appendField(b, "identity", r.Identity)
	b = appendField(b, "fingerprint", r.Fingerprint)
	b = appendField(b, "remote", r.Remote)
	b = appendField(b, "version", r.Version)
	b = appendField(b, "request", r.Request)
	b = appendField(b, "operation", r.Operation)
	b = appendField(b, "request_uid", r.RequestUID)
	if len(r.ResponseUIDs) > 0 {
		b = append(b, `,"response_uids":[`...)
		for i, u := range r.ResponseUIDs {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, u)
		}
		b = append(b, ']')
	}
	if r.MoreUIDs > 0 {
		b = append(b, `,"more_uids":`...)
		b = strconv.AppendInt(b, int64(r.MoreUIDs), 10)
	}
	b = appendField(b, "status", r.Status)
	b = appendField(b, "reason", r.Reason)
	b = appendField(b, "rule", r.Rule)
	if r.Supersedes > 0 {
		b = append(b, `,"supersedes":`...)
		b = strconv.AppendUint(b, r.Supersedes, 10)
	}
	b = appendField(b, "event", r.Event)
	b = appendField(b, "detail", r.Detail)
	return b
}

func appendField(b []byte, name, v string) []byte {
	if v == "" {
		return b
	}
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return appendString(b, v)
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, so
// that every line is valid JSON whatever a client put in its certificate or
// identifiers.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// Line layout. A line is its canonical form, a JSON object ending in
// `"prev_hash":"…"}`, with `,"hash":"…"` (and for a checkpoint
// `,"mac":"…"`) inserted before the closing brace, then a newline. The hash
// covers the canonical form byte for byte, so nothing in a line can change,
// be added or be reordered without changing it.
const (
	hashKey  = `,"hash":"`
	macKey   = `,"mac":"`
	hexLen   = 2 * sha256.Size
	macLabel = "kmipd audit checkpoint v1\x00"
)

// chainHash is SHA-256(prev ‖ canonical).
func chainHash(prev *[32]byte, canonical []byte) [32]byte {
	h := sha256.New()
	h.Write(prev[:])
	h.Write(canonical)
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// checkpointMAC signs a checkpoint's chain hash, which covers every line
// before it.
func checkpointMAC(key []byte, hash *[32]byte) [32]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(macLabel))
	m.Write(hash[:])
	var out [32]byte
	m.Sum(out[:0])
	return out
}

// parsedLine is a line split into its canonical form, hash and MAC.
type parsedLine struct {
	canonical []byte // a new slice
	hash      [32]byte
	mac       [32]byte
	hasMAC    bool
}

var errNoHash = errors.New("not an audit record: no hash at the end")

// splitLine parses a line without its newline.
func splitLine(line []byte) (parsedLine, error) {
	var p parsedLine
	rest := line
	if tail := len(macKey) + hexLen + 2; len(rest) >= tail && bytes.Equal(rest[len(rest)-tail:len(rest)-tail+len(macKey)], []byte(macKey)) {
		if !decodeHex(p.mac[:], rest[len(rest)-hexLen-2:len(rest)-2]) || !bytes.HasSuffix(rest, []byte(`"}`)) {
			return p, errors.New("malformed mac")
		}
		p.hasMAC = true
		rest = append(rest[:len(rest)-tail:len(rest)-tail], '}')
	}
	tail := len(hashKey) + hexLen + 2
	if len(rest) < tail+1 || !bytes.HasSuffix(rest, []byte(`"}`)) ||
		!bytes.Equal(rest[len(rest)-tail:len(rest)-tail+len(hashKey)], []byte(hashKey)) ||
		!decodeHex(p.hash[:], rest[len(rest)-hexLen-2:len(rest)-2]) {
		return p, errNoHash
	}
	p.canonical = append(append(make([]byte, 0, len(rest)-tail+1), rest[:len(rest)-tail]...), '}')
	return p, nil
}

// decodeHex decodes exactly len(dst) bytes of lower-case hex.
func decodeHex(dst, src []byte) bool {
	if len(src) != 2*len(dst) {
		return false
	}
	for _, c := range src {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	_, err := hex.Decode(dst, src)
	return err == nil
}
