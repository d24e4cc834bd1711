package audit

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// LineError is a line that breaks the trail.
type LineError struct {
	Line int    // 1-based line number
	Seq  uint64 // the seq the line claims (0 when unreadable)
	Msg  string
}

func (e *LineError) Error() string {
	if e.Seq != 0 {
		return fmt.Sprintf("line %d (seq %d): %s", e.Line, e.Seq, e.Msg)
	}
	return fmt.Sprintf("line %d: %s", e.Line, e.Msg)
}

// ErrIncomplete is wrapped by VerifyFile's error for a trail that is intact
// as far as it goes but does not end with a shutdown checkpoint while no
// server holds it: its tail may have been cut off.
var ErrIncomplete = errors.New("audit: trail incomplete")

// Report summarizes a trail.
type Report struct {
	Lines       int // complete lines read
	Records     int // operation and event records
	Checkpoints int
	FirstSeq    uint64
	LastSeq     uint64
	First, Last time.Time
	// LastCheckpointLine is the line of the last checkpoint (0: none);
	// Unsigned counts the records after it, which only the hash chain
	// protects: whoever can write the file can rewrite them undetected.
	LastCheckpointLine int
	Unsigned           int
	// Closed: the last line is a shutdown checkpoint, so nothing after it
	// can have been removed.
	Closed bool
	// Incomplete is the length of a last line without a newline (a record
	// being written, or torn by a crash); it is not checked.
	Incomplete int
	// InUse: a running server holds the trail (VerifyFile only).
	InUse bool
	// Anchored: the trail says it has an anchor (an open checkpoint
	// created one). Anchor is the anchor it was compared with and matched
	// (VerifyFile only; nil when there is none).
	Anchored bool
	Anchor   *Anchor
	// Truncations are the details of the truncations operators accepted.
	Truncations []string
}

// Reader reads a trail line by line, checking the hash chain and the
// checkpoint signatures.
type Reader struct {
	br   *bufio.Reader
	key  []byte
	rep  Report
	prev [32]byte
	seq  uint64
}

// NewReader returns a Reader of the trail in r; key is the checkpoint key.
func NewReader(r io.Reader, key []byte) *Reader {
	return &Reader{br: bufio.NewReaderSize(r, 64<<10), key: key}
}

// Report returns what has been read so far.
func (r *Reader) Report() Report { return r.rep }

// Next returns the next line (without its newline) and its record. A line
// that breaks the trail comes with a *LineError, and with its record when
// it parses; later lines are then checked against it, so reading can go on
// to list everything. Next returns io.EOF at the end.
func (r *Reader) Next() (*Record, []byte, error) {
	line, err := r.br.ReadBytes('\n')
	if err == io.EOF {
		r.rep.Incomplete = len(line)
		return nil, nil, io.EOF
	}
	if err != nil {
		return nil, nil, err
	}
	line = line[:len(line)-1]
	r.rep.Lines++
	n := r.rep.Lines
	bad := func(seq uint64, format string, a ...any) *LineError {
		return &LineError{Line: n, Seq: seq, Msg: fmt.Sprintf(format, a...)}
	}
	p, err := splitLine(line)
	if err != nil {
		return nil, line, bad(0, "%v", err)
	}
	rec := new(Record)
	dec := json.NewDecoder(bytes.NewReader(p.canonical))
	dec.DisallowUnknownFields()
	if err := dec.Decode(rec); err != nil {
		return nil, line, bad(0, "not a valid record: %v", err)
	}
	rec.Hash = fmt.Sprintf("%x", p.hash)
	if p.hasMAC {
		rec.MAC = fmt.Sprintf("%x", p.mac)
	}
	var prev [32]byte
	var lerr *LineError
	switch {
	case !decodeHex(prev[:], []byte(rec.PrevHash)):
		lerr = bad(rec.Seq, "malformed prev_hash")
	case chainHash(&prev, p.canonical) != p.hash:
		lerr = bad(rec.Seq, "the record does not match its hash: it was modified")
	case n == 1 && (rec.Seq != 1 || prev != [32]byte{}):
		msg := "the trail starts at seq %d, not 1: its beginning is missing"
		if rec.Event == EventReopen {
			msg += " (this file continues one that was removed or renamed)"
		}
		lerr = bad(rec.Seq, msg, rec.Seq)
	case n > 1 && rec.Seq != r.seq+1:
		lerr = bad(rec.Seq, "seq %d follows seq %d: records were deleted, inserted or reordered", rec.Seq, r.seq)
	case n > 1 && prev != r.prev:
		lerr = bad(rec.Seq, "prev_hash does not match the line before: a record was deleted, inserted, reordered or modified")
	case rec.Kind == KindCheckpoint && !p.hasMAC:
		lerr = bad(rec.Seq, "checkpoint without a signature")
	case rec.Kind == KindCheckpoint && checkpointMAC(r.key, &p.hash) != p.mac:
		lerr = bad(rec.Seq, "checkpoint signature does not verify: the trail before it was altered, or the key is wrong")
	case rec.Kind != KindCheckpoint && p.hasMAC:
		lerr = bad(rec.Seq, "a %q record carries a signature", rec.Kind)
	}
	r.prev, r.seq = p.hash, rec.Seq
	if r.rep.FirstSeq == 0 {
		r.rep.FirstSeq, r.rep.First = rec.Seq, rec.Time
	}
	r.rep.LastSeq, r.rep.Last = rec.Seq, rec.Time
	if rec.Kind == KindCheckpoint && rec.Event == EventOpen && strings.HasPrefix(rec.Detail, anchorCreated) {
		r.rep.Anchored = true
	}
	if rec.Kind == KindEvent && rec.Event == EventTruncation {
		r.rep.Truncations = append(r.rep.Truncations, rec.Detail)
	}
	if rec.Kind == KindCheckpoint {
		r.rep.Checkpoints++
		r.rep.LastCheckpointLine, r.rep.Unsigned = n, 0
		r.rep.Closed = rec.Event == EventClose
	} else {
		r.rep.Records++
		r.rep.Unsigned++
		r.rep.Closed = false
	}
	if lerr != nil {
		return rec, line, lerr
	}
	return rec, line, nil
}

// Verify reads a whole trail and returns the first line that breaks it.
func Verify(in io.Reader, key []byte) (*Report, error) {
	r := NewReader(in, key)
	for {
		_, _, err := r.Next()
		if err == io.EOF {
			rep := r.Report()
			return &rep, nil
		}
		if err != nil {
			rep := r.Report()
			return &rep, err
		}
	}
}

// VerifyFile verifies the trail at path. Beyond the chain and the
// signatures it compares the trail with its anchor, AnchorPath(path), when
// there is one (see VerifyAnchored), and requires the trail to be
// complete: ending with a shutdown checkpoint, unless a running server
// holds it (Report.InUse), in which case the records after the last
// checkpoint are simply not signed yet.
func VerifyFile(path string, key []byte) (*Report, error) {
	return VerifyAnchored(path, AnchorPath(path), false, key)
}

// VerifyAnchored is VerifyFile with the anchor at anchorPath. A trail that
// ends before its anchor's seq, or holds another record at that seq, fails
// with an error wrapping ErrTruncated that names the missing records; so
// does an anchor that does not verify. A missing anchor is such an error
// when required is set and the trail says it was anchored (a trail from
// before anchors has none until kmipd next opens it).
func VerifyAnchored(path, anchorPath string, required bool, key []byte) (*Report, error) {
	// The anchor first: a running server only moves it to records already
	// in the file, so what is read next reaches it.
	anchor, aerr := ReadAnchor(anchorPath, key)
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	inUse, err := InUse(path)
	if err != nil {
		return nil, err
	}
	r := NewReader(f, key)
	var atAnchor string // hash of the record at the anchor's seq
	for {
		rec, _, err := r.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			rep := r.Report()
			return &rep, err
		}
		if anchor != nil && rec.Seq == anchor.Seq {
			atAnchor = rec.Hash
		}
	}
	rep := r.Report()
	rep.InUse = inUse
	tr := &Truncation{Path: path, AnchorPath: anchorPath, LastSeq: rep.LastSeq, Anchor: anchor}
	switch {
	case aerr == nil:
		if rep.LastSeq < anchor.Seq {
			return &rep, tr
		}
		// A file recreated by a reopen may start after the anchored
		// record: nothing to compare then.
		if atAnchor != "" && atAnchor != hex.EncodeToString(anchor.Hash[:]) {
			tr.Mismatch = true
			return &rep, tr
		}
		rep.Anchor = anchor
	case !errors.Is(aerr, fs.ErrNotExist):
		tr.AnchorErr = aerr
		return &rep, tr
	case required && rep.Anchored:
		tr.AnchorErr = fmt.Errorf("the anchor %s is missing although the trail was anchored", anchorPath)
		return &rep, tr
	}
	if rep.Lines == 0 {
		return &rep, fmt.Errorf("%w: %s is empty", ErrIncomplete, path)
	}
	if !inUse && (!rep.Closed || rep.Incomplete > 0) {
		msg := fmt.Sprintf("the trail does not end with a shutdown checkpoint: %d records after the last checkpoint (line %d) are unsigned", rep.Unsigned, rep.LastCheckpointLine)
		if rep.Incomplete > 0 {
			msg += fmt.Sprintf(", and %d bytes of an incomplete line follow", rep.Incomplete)
		}
		return &rep, fmt.Errorf("%w: %s; its tail may have been cut off (or kmipd was killed or crashed: its next start signs what is there)", ErrIncomplete, msg)
	}
	return &rep, nil
}

// InUse reports whether a running server holds the trail at path.
func InUse(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, fmt.Errorf("audit: %w", err)
	}
	defer f.Close()
	err = lockFile(f, false)
	if errors.Is(err, errLockHeld) {
		return true, nil
	}
	return false, err
}
