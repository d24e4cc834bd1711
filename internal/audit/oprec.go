package audit

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// opRec is the record of one operation: fixed size, pooled, and referring
// to the request's and the response's bytes instead of copying them, until
// appendOp formats its line.
type opRec struct {
	time    time.Time
	id      *kmip.Identity
	remote  net.Addr
	version kmip.Version
	request kmip.RequestID
	op      kmip.Operation
	hasOp   bool
	reqUID  []byte // the Unique Identifier the request named
	resp    []byte // a successful response's payload, for its identifiers
	status  kmip.ResultStatus
	reason  kmip.ResultReason // of a failure
	rule    string
}

var opPool = sync.Pool{New: func() any { return new(opRec) }}

// newOp starts the record of a batch item: who asked for what.
func newOp(c *kmip.Call) *opRec {
	r := opPool.Get().(*opRec)
	r.time, r.id, r.remote, r.version, r.request = c.Now, c.Identity, c.RemoteAddr, c.Version, c.RequestID
	if c.Item != nil {
		r.op, r.hasOp = c.Item.Operation, true
		if it, ok := c.Item.Payload.Find(ttlv.TagUniqueIdentifier); ok && it.Type == ttlv.TypeTextString {
			r.reqUID = it.Data
		}
	}
	return r
}

func putOp(r *opRec) {
	*r = opRec{}
	opPool.Put(r)
}

// outcome is Record.outcome; the response's identifiers are read when the
// line is formatted.
func (r *opRec) outcome(err error, w *ttlv.Builder, mark int) {
	if err == nil {
		r.status, r.resp = kmip.ResultStatusSuccess, w.Since(mark)
		return
	}
	var pending *kmip.Pending
	if errors.As(err, &pending) {
		r.status = kmip.ResultStatusOperationPending
		return
	}
	r.status = kmip.ResultStatusOperationFailed
	r.reason, _ = kmip.ResultOf(err)
	var d interface{ DeniedBy() string }
	if errors.As(err, &d) {
		r.rule = d.DeniedBy()
	}
}

// generalFailure is the outcome of a handler that panicked.
func (r *opRec) generalFailure() {
	r.status, r.reason, r.resp, r.rule = kmip.ResultStatusOperationFailed, kmip.ResultReasonGeneralFailure, nil, ""
}

// record returns r as a Record (without the response's identifiers), for
// the rare paths that need one.
func (r *opRec) record() *Record {
	rec := &Record{Time: r.time, Kind: KindOp, Version: r.version.String(), Request: r.request.String(),
		RequestUID: string(r.reqUID), Status: r.status.String(), Rule: r.rule}
	if r.hasOp {
		rec.Operation = r.op.String()
	}
	if r.status == kmip.ResultStatusOperationFailed {
		rec.Reason = r.reason.String()
	}
	if r.id != nil {
		rec.Identity = r.id.Name
		if r.id.Fingerprint != [32]byte{} {
			rec.Fingerprint = hex.EncodeToString(r.id.Fingerprint[:])
		}
	}
	if r.remote != nil {
		rec.Remote = r.remote.String()
	}
	return rec
}

// appendBody is Record.appendBody of the same record, field for field. The
// fields that name the client are taken from who when it has them.
func (r *opRec) appendBody(b []byte, who *whoCache) []byte {
	b = append(b, `,"time":"`...)
	b = appendTime(b, r.time)
	b = append(b, `","kind":"`+KindOp+`"`...)
	b = who.append(b, r.id, r.remote)
	b = append(b, `,"version":"`...)
	b = strconv.AppendInt(b, int64(r.version.Major), 10)
	b = append(b, '.')
	b = strconv.AppendInt(b, int64(r.version.Minor), 10)
	b = append(b, '"')
	if !r.request.IsZero() {
		b = append(b, `,"request":"`...)
		b = r.request.AppendTo(b)
		b = append(b, '"')
	}
	if r.hasOp {
		b = appendField(b, "operation", r.op.String())
	}
	if len(r.reqUID) > 0 {
		b = append(b, `,"request_uid":`...)
		b = appendBytes(b, r.reqUID)
	}
	b = r.appendResponseUIDs(b)
	b = appendField(b, "status", r.status.String())
	if r.status == kmip.ResultStatusOperationFailed {
		b = appendField(b, "reason", r.reason.String())
	}
	return appendField(b, "rule", r.rule)
}

// appendResponseUIDs lists the identifiers of a successful response, as
// Record.outcome does.
func (r *opRec) appendResponseUIDs(b []byte) []byte {
	payload := ttlv.Value(r.resp)
	n, more := 0, 0
	for uid, ok := nextResponseUID(&payload); ok; uid, ok = nextResponseUID(&payload) {
		if n == maxUIDs {
			more++
			continue
		}
		if n == 0 {
			b = append(b, `,"response_uids":[`...)
		} else {
			b = append(b, ',')
		}
		b = appendBytes(b, uid)
		n++
	}
	if n > 0 {
		b = append(b, ']')
	}
	if more > 0 {
		b = append(b, `,"more_uids":`...)
		b = strconv.AppendInt(b, int64(more), 10)
	}
	return b
}

// appendBytes is appendString of s, without converting plain text.
func appendBytes(b, s []byte) []byte {
	for _, c := range s {
		if c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			return appendString(b, string(s))
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// appendAddr appends the "remote" field: a TCP address as its String
// method formats it.
func appendAddr(b []byte, a net.Addr) []byte {
	if ta, ok := a.(*net.TCPAddr); ok && (len(ta.IP) == net.IPv4len || len(ta.IP) == net.IPv6len) {
		ap := ta.AddrPort()
		b = append(b, `,"remote":"`...)
		b = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).AppendTo(b)
		return append(b, '"')
	}
	return appendField(b, "remote", a.String())
}

// appendOp writes r as the next line (into the write-ahead ring: a memory
// copy, see wal.go) and, with SyncAlways, waits until it is durable; with
// streamed, also until every sink has sent it. The line is formatted before
// the trail's lock is taken: only its chaining is serialised.
func (t *Trail) appendOp(r *opRec, streamed bool) (uint64, error) {
	if r.time.IsZero() {
		r.time = t.now()
	}
	bp := bufPool.Get().(*[]byte)
	seq, missed, err := t.putBody(bp, r.appendBody((*bp)[:0], &t.who))
	if err != nil {
		return 0, err
	}
	if err := t.settle(seq); err != nil {
		return seq, err
	}
	if streamed {
		return seq, t.streamed(seq, missed)
	}
	return seq, nil
}

// whoCache keeps the "identity", "fingerprint" and "remote" fields of the
// latest connections formatted: they are the same for most requests of a
// connection. An entry is used only when the identity's name and
// fingerprint are the ones it was made from (a session reuses one Identity
// for the credentials of successive requests) and the address is the same
// value: its connection's, which the entry refers to so that it cannot be
// freed and its address reused while it is cached.
type whoCache [256]atomic.Pointer[whoEntry]

type whoEntry struct {
	id          *kmip.Identity
	name        string
	fingerprint [32]byte
	remote      *net.TCPAddr
	fields      []byte
}

// append appends the fields naming id and remote (a nil cache formats
// them).
func (c *whoCache) append(b []byte, id *kmip.Identity, remote net.Addr) []byte {
	ta, ok := remote.(*net.TCPAddr)
	if c == nil || !ok || id == nil {
		return appendWho(b, id, remote)
	}
	h := (uintptr(unsafe.Pointer(id))>>4 ^ uintptr(unsafe.Pointer(ta))>>4*31) % uintptr(len(c))
	if e := c[h].Load(); e != nil && e.id == id && e.remote == ta && e.name == id.Name && e.fingerprint == id.Fingerprint {
		return append(b, e.fields...)
	}
	start := len(b)
	b = appendWho(b, id, remote)
	c[h].Store(&whoEntry{id: id, name: id.Name, fingerprint: id.Fingerprint, remote: ta, fields: bytes.Clone(b[start:])})
	return b
}

// appendWho is Record.appendBody's fields that name the client.
func appendWho(b []byte, id *kmip.Identity, remote net.Addr) []byte {
	if id != nil {
		b = appendField(b, "identity", id.Name)
		if id.Fingerprint != [32]byte{} {
			b = append(b, `,"fingerprint":"`...)
			b = hex.AppendEncode(b, id.Fingerprint[:])
			b = append(b, '"')
		}
	}
	if remote != nil {
		b = appendAddr(b, remote)
	}
	return b
}
