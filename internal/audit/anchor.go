package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// The anchor keeps the trail's length and head outside the trail, so that
// a cut-off tail is found even when what is left is a valid chain: the
// file alone cannot tell (see the package documentation).

// ErrTruncated is wrapped by the errors of Open and VerifyFile for a trail
// that does not reach its anchor: records were cut off (or rewritten).
var ErrTruncated = errors.New("audit: trail truncated")

// ErrNotTruncated: Options.AcceptTruncation was set but the trail matches
// its anchor, so there is nothing to accept (and nothing is written).
var ErrNotTruncated = errors.New("audit: the trail matches its anchor: there is no truncation to accept")

// anchorCreated starts the detail of the open checkpoint written when an
// anchor is created; a trail holding it must have an anchor from then on.
const anchorCreated = "anchor created"

// anchorMarker is how anchorCreated appears in a line. Client-given values
// cannot contain it: their quotes are escaped.
var anchorMarker = []byte(`,"event":"` + EventOpen + `","detail":"` + anchorCreated)

const anchorLabel = "kmipd audit anchor v1\x00"

// AnchorPath is where the anchor of the trail at path is kept.
func AnchorPath(path string) string { return path + ".anchor" }

// Anchor is the last durable record the trail is known to have had: its
// seq and chain hash.
type Anchor struct {
	Seq  uint64
	Hash [32]byte
	Time time.Time // when the anchor was written
}

// anchorJSON is the file's form; MAC = HMAC-SHA256(key, anchorLabel ‖
// the JSON without its mac field).
type anchorJSON struct {
	V    int       `json:"v"`
	Seq  uint64    `json:"seq"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
	MAC  string    `json:"mac,omitempty"`
}

func anchorMAC(key, canonical []byte) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(anchorLabel))
	m.Write(canonical)
	return m.Sum(nil)
}

func (a *Anchor) canonical() []byte {
	b := []byte(`{"v":1,"seq":`)
	b = strconv.AppendUint(b, a.Seq, 10)
	b = append(b, `,"hash":"`...)
	b = hex.AppendEncode(b, a.Hash[:])
	b = append(b, `","time":"`...)
	b = a.Time.UTC().AppendFormat(b, timeLayout)
	return append(b, `"}`...)
}

// ReadAnchor reads and authenticates the anchor file at path. A missing
// file gives an error wrapping fs.ErrNotExist.
func ReadAnchor(path string, key []byte) (*Anchor, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: anchor: %w", err)
	}
	data = bytes.TrimSuffix(data, []byte("\n"))
	var j anchorJSON
	if err := json.Unmarshal(data, &j); err != nil || j.V != 1 {
		return nil, fmt.Errorf("audit: anchor %s is malformed", path)
	}
	a := &Anchor{Seq: j.Seq, Time: j.Time}
	mac, merr := hex.DecodeString(j.MAC)
	if !decodeHex(a.Hash[:], []byte(j.Hash)) || merr != nil || !hmac.Equal(mac, anchorMAC(key, a.canonical())) {
		return nil, fmt.Errorf("audit: the signature of the anchor %s does not verify: it was altered, or the key is wrong", path)
	}
	return a, nil
}

// writeAnchor replaces the anchor atomically: a crash leaves the old one
// or the new one, never a torn file.
func writeAnchor(path string, key []byte, a *Anchor) error {
	c := a.canonical()
	b := append(c[:len(c)-1:len(c)-1], `,"mac":"`...)
	b = hex.AppendEncode(b, anchorMAC(key, c))
	b = append(b, "\"}\n"...)
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("audit: anchor: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("audit: anchor: %w", err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// Truncation is a trail that does not match its anchor.
type Truncation struct {
	Path, AnchorPath string
	Anchor           *Anchor // nil when missing or unreadable
	LastSeq          uint64  // the trail's last seq (0: empty)
	// Mismatch: the trail has a record at Anchor.Seq, but not the
	// anchored one: it was cut and rewritten at or before it.
	Mismatch bool
	// AnchorErr: the anchor is missing although the trail says it was
	// anchored, or it does not verify.
	AnchorErr error
	// Replaced: the records from the anchored one to the end do not form
	// a chain (the file was replaced or edited after it).
	Replaced string
}

// Missing names the records known to be missing ("records 201 to 254").
func (tr *Truncation) Missing() string {
	switch {
	case tr.AnchorErr != nil:
		return "records after the last anchored one may be missing"
	case tr.Replaced != "":
		return fmt.Sprintf("the records after the anchored seq %d were replaced: %s", tr.Anchor.Seq, tr.Replaced)
	case tr.Mismatch:
		return fmt.Sprintf("the record at seq %d is not the one anchored: records up to seq %d were cut off and rewritten", tr.Anchor.Seq, tr.Anchor.Seq)
	case tr.LastSeq+1 == tr.Anchor.Seq:
		return fmt.Sprintf("record %d is missing", tr.Anchor.Seq)
	}
	return fmt.Sprintf("records %d to %d are missing", tr.LastSeq+1, tr.Anchor.Seq)
}

func (tr *Truncation) Error() string {
	if tr.AnchorErr != nil {
		return fmt.Sprintf("%v (trail %s ends at seq %d): %s", tr.AnchorErr, tr.Path, tr.LastSeq, tr.Missing())
	}
	return fmt.Sprintf("%s: %s; the trail ends at seq %d but its anchor %s recorded seq %d at %s",
		tr.Path, tr.Missing(), tr.LastSeq, tr.AnchorPath, tr.Anchor.Seq, tr.Anchor.Time.UTC().Format(time.RFC3339))
}

func (tr *Truncation) Unwrap() error { return ErrTruncated }

// checkAnchor compares the trail in f (size bytes of complete lines, last
// its last line: nil when empty) with the anchor. It returns the anchor to
// continue from (nil: none yet), whether the trail had none and one is to
// be created, and the truncation found; err is for what cannot be read.
func checkAnchor(f *os.File, size int64, last *lastInfo, anchorPath string, key []byte) (a *Anchor, create bool, tr *Truncation, err error) {
	tr = &Truncation{Path: f.Name(), AnchorPath: anchorPath}
	if last != nil {
		tr.LastSeq = last.seq
	}
	a, err = ReadAnchor(anchorPath, key)
	if errors.Is(err, fs.ErrNotExist) {
		if last == nil {
			return nil, true, nil, nil // a new trail
		}
		anchored, err := hasMarker(f)
		if err != nil {
			return nil, false, nil, err
		}
		if !anchored {
			return nil, true, nil, nil // written before anchors existed
		}
		tr.AnchorErr = fmt.Errorf("the anchor %s is missing although the trail was anchored", anchorPath)
		return nil, false, tr, nil
	}
	if err != nil {
		tr.AnchorErr = err
		return nil, false, tr, nil
	}
	tr.Anchor = a
	switch {
	case last == nil || last.seq < a.Seq:
		return a, false, tr, nil
	case last.seq == a.Seq:
		if last.hash != a.Hash {
			tr.Mismatch = true
			return a, false, tr, nil
		}
		return a, false, nil, nil
	}
	h, found, err := hashAtSeq(f, size, a.Seq, key)
	var te tailError
	if errors.As(err, &te) {
		tr.Replaced = string(te)
		return a, false, tr, nil
	}
	if err != nil {
		return nil, false, nil, fmt.Errorf("%s: %w", f.Name(), err)
	}
	if found && h != a.Hash {
		tr.Mismatch = true
		return a, false, tr, nil
	}
	return a, false, nil, nil
}

// hasMarker reports whether the trail holds an open checkpoint that
// created an anchor. It reads the whole file, which only happens when the
// anchor is missing.
func hasMarker(f *os.File) (bool, error) {
	buf := make([]byte, 256<<10)
	keep := 0 // bytes kept from the previous chunk, for a marker across chunks
	for off := int64(0); ; {
		n, err := f.ReadAt(buf[keep:], off)
		if bytes.Contains(buf[:keep+n], anchorMarker) {
			return true, nil
		}
		if err == io.EOF {
			return false, nil
		}
		if err != nil {
			return false, err
		}
		off += int64(n)
		data := buf[:keep+n]
		keep = min(len(anchorMarker)-1, len(data))
		copy(buf, data[len(data)-keep:])
	}
}

// tailError: the lines after the anchored record are not the chain kmipd
// wrote.
type tailError string

func (e tailError) Error() string { return string(e) }

func tailErrorf(format string, a ...any) error { return tailError(fmt.Sprintf(format, a...)) }

// hashAtSeq walks back from the end of the trail to the line with seq and
// returns its hash, checking that the lines after it form a chain (they
// are what the next open checkpoint will sign). found is false when the
// file starts after seq with a signed "reopen" checkpoint (kmipd recreated
// it after the anchor was written); any other start after seq is an error,
// or a forged file could start past the anchor.
func hashAtSeq(f *os.File, size int64, seq uint64, key []byte) (h [32]byte, found bool, err error) {
	const chunk = 64 << 10
	var (
		buf      []byte // file bytes [pos, end)
		pos, end = size, size
		later    struct {
			seq  uint64
			prev [32]byte
		}
	)
	for {
		// The line ending at end-1 starts after the last newline before it.
		i := bytes.LastIndexByte(buf[:len(buf)-min(len(buf), 1)], '\n')
		if i < 0 && pos > 0 {
			n := min(int64(chunk), pos)
			pos -= n
			nb := make([]byte, int(n)+len(buf))
			if _, err := f.ReadAt(nb[:n], pos); err != nil {
				return h, false, err
			}
			copy(nb[n:], buf)
			buf = nb
			continue
		}
		line := buf[i+1 : len(buf)-1]
		p, err := splitLine(line)
		if err != nil {
			return h, false, tailErrorf("the record before seq %d: %v", later.seq, err)
		}
		var r struct {
			Seq      uint64 `json:"seq"`
			Kind     string `json:"kind"`
			Event    string `json:"event"`
			PrevHash string `json:"prev_hash"`
		}
		var prev [32]byte
		if err := json.Unmarshal(p.canonical, &r); err != nil || !decodeHex(prev[:], []byte(r.PrevHash)) {
			return h, false, tailErrorf("the record before seq %d is malformed", later.seq)
		}
		if chainHash(&prev, p.canonical) != p.hash {
			return h, false, tailErrorf("seq %d does not match its hash: it was modified", r.Seq)
		}
		if later.seq != 0 && (r.Seq+1 != later.seq || p.hash != later.prev) {
			return h, false, tailErrorf("seq %d does not chain to seq %d: the records after the anchored one were altered", r.Seq, later.seq)
		}
		if r.Seq <= seq {
			if r.Seq < seq {
				return h, false, tailErrorf("no record with seq %d", seq)
			}
			return p.hash, true, nil
		}
		later.seq, later.prev = r.Seq, prev
		end = pos + int64(i) + 1
		buf = buf[:end-pos]
		if end == 0 {
			if later.seq == seq+1 {
				// The first line chains to the anchored record.
				return later.prev, true, nil
			}
			if r.Kind != KindCheckpoint || r.Event != EventReopen || !p.hasMAC || checkpointMAC(key, &p.hash) != p.mac {
				return h, false, tailErrorf("the trail starts at seq %d, after the anchored seq %d, without a signed reopen checkpoint", r.Seq, seq)
			}
			return h, false, nil
		}
	}
}
