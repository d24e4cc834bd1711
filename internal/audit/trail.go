package audit

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/kmip"
)

// SyncMode says when records reach stable storage.
type SyncMode string

// Sync modes.
const (
	// SyncAlways makes every record durable (fsync) before the operation is
	// answered. Concurrent records share one fsync (group commit).
	SyncAlways SyncMode = "always"
	// SyncInterval writes every record at once (it survives a crash of
	// kmipd) and fsyncs every Options.SyncInterval, at checkpoints and at
	// Close: a power failure can lose the last interval.
	SyncInterval SyncMode = "interval"
	// SyncNone leaves flushing to the operating system, except at
	// checkpoints and Close.
	SyncNone SyncMode = "none"
)

// Defaults of Options.
const (
	DefaultSyncInterval       = time.Second
	DefaultCheckpointInterval = 1000
	DefaultCheckpointPeriod   = time.Minute
	DefaultAnchorPeriod       = time.Second
)

// Options configures Open.
type Options struct {
	Path    string // the trail, JSON lines; created 0600, its directory 0700
	KeyPath string // the checkpoint key, created 0600 with a new trail
	// AnchorPath keeps the trail's last durable seq and hash, signed with
	// the key, so that a cut-off tail is detected (default
	// AnchorPath(Path)).
	AnchorPath string
	// AnchorPeriod is how often the anchor follows the durable head
	// between checkpoints (default 1s, negative: only at checkpoints and
	// Close). The anchor is written by the trail's goroutine, never on an
	// operation's path.
	AnchorPeriod time.Duration
	// AcceptTruncation, when set, names the operator who accepts that the
	// trail does not reach its anchor: Open records the loss in a
	// "truncation" event and continues. Open fails with ErrNotTruncated
	// when there is nothing to accept.
	AcceptTruncation string

	Sync         SyncMode      // default SyncAlways
	SyncInterval time.Duration // for SyncInterval; default 1s
	// CheckpointInterval is the number of records between signed
	// checkpoints (default 1000); CheckpointPeriod signs pending records
	// at least this often (default 1m, negative: never). A checkpoint is
	// also written when the trail is opened and closed.
	CheckpointInterval int
	CheckpointPeriod   time.Duration
	// FailClosed makes the middleware refuse operations with General
	// Failure while records cannot be written, and commit an operation's
	// changes only once its record is written (see Wrap). Otherwise the
	// failure is logged and operations go on unrecorded; the next record
	// written says how many were lost.
	FailClosed bool
	// ReadOnly reports the operations that change no object, which the
	// fail-closed middleware serves outside a transaction (kmipd passes
	// lifecycle.ReadOnly, its operation table's). Nil means Discover
	// Versions, Query, Get, Get Attributes, Get Attribute List and Locate.
	ReadOnly func(kmip.Operation) bool

	Logger zerolog.Logger
	Now    func() time.Time // default time.Now
}

// Errors.
var (
	// ErrLocked: another process (a running kmipd) has the trail open.
	ErrLocked = errors.New("audit: the trail is in use by another process")
	// ErrClosed: the trail has been closed.
	ErrClosed = errors.New("audit: trail closed")

	errLockHeld = errors.New("lock held")
)

// Trail is an append-only, hash-chained, periodically signed audit file.
// Its methods are safe for concurrent use.
type Trail struct {
	opts Options
	key  []byte
	log  zerolog.Logger
	now  func() time.Time

	mu              sync.Mutex // orders lines: everything below up to written
	f               *os.File
	id              os.FileInfo // what f is, to notice the file being removed or replaced
	old             []*os.File  // files left behind by a reopen, closed by Close
	size            int64       // bytes of f known to be good
	seq             uint64      // of the last line written
	prev            [32]byte    // its hash
	sinceCheckpoint int         // lines since the last checkpoint
	lastCheckpoint  time.Time
	lost            int    // records not written since the last one that was
	lostErr         string // why the first of them was not
	lastErrLog      time.Time
	closed          bool
	line            []byte // reused line buffer
	truncation      string // what AcceptTruncation accepted

	failWrite func(f *os.File, b []byte) (int, error) // tests: replaces f.Write

	written atomic.Uint64          // seq of the last line written
	broken  atomic.Pointer[string] // sticky failure: fsync failed, or a bad write could not be undone

	smu        sync.Mutex // group commit
	scond      *sync.Cond
	synced     uint64   // seq known durable
	syncedHash [32]byte // its hash
	syncing    bool

	amu      sync.Mutex // writes the anchor
	anchored uint64     // seq in the anchor file

	pmu     sync.Mutex   // Post: queue and onClose
	queue   chan *Record // records Posted, written by loop
	posting bool         // Post accepts records
	onClose []func()

	kick      chan struct{}
	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Open opens (or creates) the trail at o.Path, continues its hash chain and
// writes a signed "open" checkpoint, which notes when the previous run did
// not end with a clean shutdown. It fails with ErrLocked when a running
// server holds the trail, when the trail's last line is not intact, and
// with ErrTruncated when the trail does not reach its anchor (unless
// o.AcceptTruncation).
func Open(o Options) (*Trail, error) {
	if o.Path == "" || o.KeyPath == "" {
		return nil, errors.New("audit: a trail needs a path and a key path")
	}
	switch o.Sync {
	case "":
		o.Sync = SyncAlways
	case SyncAlways, SyncInterval, SyncNone:
	default:
		return nil, fmt.Errorf("audit: sync mode %q: want always, interval or none", o.Sync)
	}
	if o.SyncInterval <= 0 {
		o.SyncInterval = DefaultSyncInterval
	}
	if o.CheckpointInterval <= 0 {
		o.CheckpointInterval = DefaultCheckpointInterval
	}
	if o.CheckpointPeriod == 0 {
		o.CheckpointPeriod = DefaultCheckpointPeriod
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.AnchorPath == "" {
		o.AnchorPath = AnchorPath(o.Path)
	}
	if o.AnchorPeriod == 0 {
		o.AnchorPeriod = DefaultAnchorPeriod
	}
	dir := filepath.Dir(o.Path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	f, err := os.OpenFile(o.Path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			f.Close()
		}
	}()
	if err := lockFile(f, true); err != nil {
		if errors.Is(err, errLockHeld) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, o.Path)
		}
		return nil, fmt.Errorf("audit: lock %s: %w", o.Path, err)
	}
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	line, torn, err := lastLine(f, fi.Size())
	if err != nil {
		return nil, fmt.Errorf("audit: %s: %w", o.Path, err)
	}
	size := fi.Size() - torn
	if torn > 0 {
		// A write cut short by a crash (or bytes appended by hand): it was
		// never a complete record. The open checkpoint notes it.
		if err := f.Truncate(size); err != nil {
			return nil, fmt.Errorf("audit: %w", err)
		}
	}
	key, err := loadKey(o.KeyPath, size == 0)
	if err != nil {
		return nil, err
	}
	if size == 0 {
		syncDir(dir)
	}
	t := &Trail{
		opts: o, key: key, log: o.Logger, now: o.Now,
		f: f, id: fi, size: size,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	t.scond = sync.NewCond(&t.smu)
	t.queue, t.posting = make(chan *Record, postQueue), true
	var notes []string
	var last *lastInfo
	if line != nil {
		l, err := parseLast(line, key)
		if err != nil {
			return nil, fmt.Errorf("audit: the last record of %s is not intact (%v): check the trail with `kmipd audit verify`, and move it aside to start a new one", o.Path, err)
		}
		last = &l
		t.seq, t.prev = last.seq, last.hash
		t.synced, t.syncedHash = last.seq, last.hash
	}
	// The chain cannot show a cut-off tail: the anchor can. Only an
	// operator may continue a trail that does not reach it.
	anchor, create, trunc, err := checkAnchor(f, size, last, o.AnchorPath, key)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	switch {
	case trunc != nil && o.AcceptTruncation == "":
		return nil, fmt.Errorf("audit: %w: kmipd refuses to continue it. `kmipd audit verify` checks the trail; keep a copy of it, and run `kmipd audit accept-truncation` to record the loss in the trail and go on", trunc)
	case trunc == nil && o.AcceptTruncation != "":
		return nil, ErrNotTruncated
	case create || trunc != nil:
		// First in the detail: it marks the trail as anchored.
		notes = append(notes, anchorCreated+": "+o.AnchorPath)
	}
	if anchor != nil {
		t.anchored = anchor.Seq
	}
	if last != nil && !last.closed {
		notes = append(notes, "the previous run ended without a shutdown checkpoint (crash or kill): this checkpoint signs what it left unsigned")
	}
	if torn > 0 {
		notes = append(notes, fmt.Sprintf("discarded %d bytes of an incomplete last line", torn))
	}
	t.written.Store(t.seq)
	t.mu.Lock()
	if trunc != nil {
		t.truncation = trunc.Error()
		ev := Record{Time: t.now(), Kind: KindEvent, Event: EventTruncation, Identity: o.AcceptTruncation,
			Detail: "truncation accepted by the operator: " + t.truncation}
		if _, err := t.writeLocked(ev.appendBody(nil), false); err != nil {
			t.mu.Unlock()
			return nil, err
		}
		// The anchor now follows this trail: older anchors say more.
		t.anchored = 0
	}
	seq, err := t.checkpointLocked(EventOpen, strings.Join(notes, "; "))
	t.mu.Unlock()
	if err == nil {
		err = t.syncTo(seq)
	}
	if err == nil {
		err = t.anchorDurable()
	}
	if err != nil {
		if o.FailClosed {
			return nil, err
		}
		t.log.Error().Err(err).Str("path", o.Path).Msg("audit trail cannot be written; operations continue unrecorded (audit.fail_closed is false)")
	}
	ok = true
	go t.loop()
	return t, nil
}

// lastLine returns the last complete line of f (without its newline), nil
// for an empty file, and the number of bytes after it that do not end in a
// newline.
func lastLine(f *os.File, size int64) (line []byte, torn int64, err error) {
	const chunk = 64 << 10
	const maxLine = 16 << 20
	var buf []byte // the bytes [pos, size)
	pos := size
	for {
		if lastNL := lastIndex(buf, len(buf)); lastNL >= 0 {
			torn = int64(len(buf) - lastNL - 1)
			if prevNL := lastIndex(buf, lastNL); prevNL >= 0 {
				return buf[prevNL+1 : lastNL], torn, nil
			} else if pos == 0 {
				return buf[:lastNL], torn, nil
			}
		} else if pos == 0 {
			return nil, size, nil
		}
		if size-pos > maxLine {
			return nil, 0, errors.New("last line longer than 16 MiB: not an audit trail")
		}
		n := int64(min(chunk, pos))
		pos -= n
		nb := make([]byte, int(n)+len(buf))
		if _, err := f.ReadAt(nb[:n], pos); err != nil {
			return nil, 0, err
		}
		copy(nb[n:], buf)
		buf = nb
	}
}

func lastIndex(b []byte, end int) int {
	for i := end - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return i
		}
	}
	return -1
}

type lastInfo struct {
	seq    uint64
	hash   [32]byte
	closed bool // a close checkpoint
}

// parseLast checks that the last line is intact by itself: its hash matches
// its content and prev_hash, and a checkpoint's signature holds.
func parseLast(line, key []byte) (lastInfo, error) {
	p, err := splitLine(line)
	if err != nil {
		return lastInfo{}, err
	}
	var r Record
	if err := json.Unmarshal(p.canonical, &r); err != nil {
		return lastInfo{}, err
	}
	var prev [32]byte
	if !decodeHex(prev[:], []byte(r.PrevHash)) {
		return lastInfo{}, errors.New("malformed prev_hash")
	}
	if chainHash(&prev, p.canonical) != p.hash {
		return lastInfo{}, errors.New("hash does not match the record")
	}
	if r.Kind == KindCheckpoint {
		if !p.hasMAC || checkpointMAC(key, &p.hash) != p.mac {
			return lastInfo{}, errors.New("checkpoint signature does not verify (wrong key?)")
		}
	}
	return lastInfo{seq: r.Seq, hash: p.hash, closed: r.Kind == KindCheckpoint && r.Event == EventClose}, nil
}

// loadKey reads the checkpoint key, creating it when create is set (a new
// trail) and it does not exist.
func loadKey(path string, create bool) ([]byte, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) && create {
		key := make([]byte, 32)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := writeKey(path, key); err != nil {
			return nil, fmt.Errorf("audit: create key: %w", err)
		}
		return key, nil
	}
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("audit: the key %s is missing but the trail already has records: restore the key (a new one cannot verify the old checkpoints), or move the trail aside to start a new one", path)
	}
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return ParseKey(data)
}

// ParseKey decodes the contents of a key file: at least 32 bytes, in hex.
func ParseKey(data []byte) ([]byte, error) {
	key, err := hex.DecodeString(strings.TrimSpace(string(data)))
	if err != nil || len(key) < 32 {
		return nil, errors.New("audit: malformed key file: want 64 hex digits")
	}
	return key, nil
}

// ReadKey reads a key file.
func ReadKey(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: %w", err)
	}
	return ParseKey(data)
}

func writeKey(path string, key []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(hex.EncodeToString(key) + "\n")
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return err
	}
	syncDir(filepath.Dir(path))
	return nil
}

// syncDir makes a new directory entry durable; it is best effort (not every
// system can fsync a directory).
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
}

// Path returns the trail's file.
func (t *Trail) Path() string { return t.opts.Path }

// FailClosed reports whether the trail was opened fail-closed.
func (t *Trail) FailClosed() bool { return t != nil && t.opts.FailClosed }

// Append writes r as the next record and, with SyncAlways, waits until it
// is on stable storage. It returns the record's seq. Seq, PrevHash, Hash
// and MAC of r are ignored; a zero Time means now.
func (t *Trail) Append(r *Record) (uint64, error) {
	if r.Time.IsZero() {
		r.Time = t.now()
	}
	bp := bufPool.Get().(*[]byte)
	body := r.appendBody((*bp)[:0])
	t.mu.Lock()
	seq, err := t.appendLocked(body)
	t.mu.Unlock()
	*bp = body[:0]
	bufPool.Put(bp)
	if err != nil {
		return 0, err
	}
	return seq, t.durable(seq)
}

// appendAll writes records in order and makes them durable together. It
// stops at the first failure.
func (t *Trail) appendAll(rs []*Record) ([]uint64, error) {
	seqs := make([]uint64, 0, len(rs))
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	var err error
	for _, r := range rs {
		if r.Time.IsZero() {
			r.Time = t.now()
		}
		body := r.appendBody((*bp)[:0])
		*bp = body[:0]
		t.mu.Lock()
		var seq uint64
		seq, err = t.appendLocked(body)
		if err != nil {
			// The records after it are lost too.
			t.lost += len(rs) - len(seqs) - 1
			t.mu.Unlock()
			break
		}
		t.mu.Unlock()
		seqs = append(seqs, seq)
	}
	if len(seqs) > 0 {
		if serr := t.durable(seqs[len(seqs)-1]); serr != nil {
			return nil, serr
		}
	}
	return seqs, err
}

// Event writes a KindEvent record (an operator action such as a backup).
func (t *Trail) Event(event, actor, detail string) error {
	_, err := t.Append(&Record{Kind: KindEvent, Event: event, Identity: actor, Detail: detail})
	return err
}

// Check reports whether a record could be written now: the trail is open,
// not broken, and its file is still in place (it is recreated if it was
// removed). Fail-closed handlers call it before serving.
func (t *Trail) Check() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	err := t.readyLocked()
	if err != nil {
		t.failedLocked(err)
	}
	return err
}

func (t *Trail) appendLocked(body []byte) (uint64, error) {
	if err := t.readyLocked(); err != nil {
		t.failedLocked(err)
		return 0, err
	}
	seq, err := t.writeLocked(body, false)
	if err != nil {
		t.failedLocked(err)
		return 0, err
	}
	if t.sinceCheckpoint >= t.opts.CheckpointInterval {
		// The record is written: a failed checkpoint is retried with the
		// next record.
		if _, err := t.checkpointLocked(EventPeriodic, ""); err != nil {
			t.logFailure(err)
		}
	}
	return seq, nil
}

// readyLocked checks that a line can be written, and first writes the gap
// record owed for records lost to an earlier failure.
func (t *Trail) readyLocked() error {
	if t.closed {
		return ErrClosed
	}
	if b := t.broken.Load(); b != nil {
		return errors.New(*b)
	}
	if err := t.checkFileLocked(); err != nil {
		return err
	}
	if t.lost > 0 {
		what := "operations were not recorded"
		if t.opts.FailClosed {
			what = "operations were refused or rolled back"
		}
		gap := Record{Time: t.now(), Kind: KindEvent, Event: "gap",
			Detail: fmt.Sprintf("%d %s because the trail could not be written: %s", t.lost, what, t.lostErr)}
		if _, err := t.writeLocked(gap.appendBody(nil), false); err != nil {
			return err
		}
		t.log.Warn().Int("lost", t.lost).Str("path", t.opts.Path).Msg("audit trail writable again")
		t.lost, t.lostErr = 0, ""
	}
	return nil
}

// failedLocked counts a record that could not be written.
func (t *Trail) failedLocked(err error) {
	if t.closed && errors.Is(err, ErrClosed) {
		return
	}
	if t.lost == 0 {
		t.lostErr = err.Error()
	}
	t.lost++
	t.logFailure(err)
}

// logFailure logs at most once a second.
func (t *Trail) logFailure(err error) {
	if now := time.Now(); now.Sub(t.lastErrLog) >= time.Second {
		t.lastErrLog = now
		ev := t.log.Error().Err(err).Str("path", t.opts.Path).Int("lost", t.lost)
		if t.opts.FailClosed {
			ev.Msg("audit trail cannot be written: refusing operations (audit.fail_closed)")
		} else {
			ev.Msg("audit trail cannot be written: operations continue unrecorded")
		}
	}
}

func (t *Trail) setBroken(err error) {
	s := err.Error()
	t.broken.CompareAndSwap(nil, &s)
}

// checkFileLocked makes sure the path still names the open file. A file
// that was removed or renamed away is recreated, its first line a "reopen"
// checkpoint continuing the chain (verify of the new file then reports the
// records before it as missing, which they are from that file). A file
// replaced by another is never written to.
func (t *Trail) checkFileLocked() error {
	fi, err := os.Stat(t.opts.Path)
	if err == nil {
		if os.SameFile(fi, t.id) {
			return nil
		}
		return fmt.Errorf("audit: %s has been replaced by another file: remove it to let kmipd start a new one", t.opts.Path)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("audit: %w", err)
	}
	f, err := os.OpenFile(t.opts.Path, os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("audit: %s was removed and cannot be recreated: %w", t.opts.Path, err)
	}
	fi, err = f.Stat()
	if err == nil {
		err = lockFile(f, true)
	}
	if err == nil {
		err = t.f.Sync()
		if err != nil {
			t.setBroken(fmt.Errorf("audit: fsync %s: %w", t.opts.Path, err))
		}
	}
	if err != nil {
		f.Close()
		os.Remove(t.opts.Path)
		return fmt.Errorf("audit: recreate %s: %w", t.opts.Path, err)
	}
	t.old = append(t.old, t.f)
	t.f, t.id, t.size = f, fi, 0
	syncDir(filepath.Dir(t.opts.Path))
	_, err = t.checkpointLocked(EventReopen, fmt.Sprintf("%s was removed or renamed: records up to seq %d are in the old file", filepath.Base(t.opts.Path), t.seq))
	return err
}

// writeLocked appends one line: seq, the body, prev_hash, hash and, when
// sign is set, the MAC.
func (t *Trail) writeLocked(body []byte, sign bool) (uint64, error) {
	seq := t.seq + 1
	b := append(t.line[:0], `{"seq":`...)
	b = strconv.AppendUint(b, seq, 10)
	b = append(b, body...)
	b = append(b, `,"prev_hash":"`...)
	b = hex.AppendEncode(b, t.prev[:])
	b = append(b, '"', '}')
	h := chainHash(&t.prev, b)
	b = append(b[:len(b)-1], hashKey...)
	b = hex.AppendEncode(b, h[:])
	b = append(b, '"')
	if sign {
		m := checkpointMAC(t.key, &h)
		b = append(b, macKey...)
		b = hex.AppendEncode(b, m[:])
		b = append(b, '"')
	}
	b = append(b, '}', '\n')
	t.line = b
	var n int
	var err error
	if t.failWrite != nil {
		n, err = t.failWrite(t.f, b)
	} else {
		n, err = t.f.Write(b)
	}
	if err != nil {
		if n > 0 {
			// Take the partial line back so the chain stays intact.
			if terr := t.f.Truncate(t.size); terr != nil {
				t.setBroken(fmt.Errorf("audit: a partial record could not be removed from %s: %w", t.opts.Path, terr))
			}
		}
		return 0, fmt.Errorf("audit: write %s: %w", t.opts.Path, err)
	}
	t.size += int64(n)
	t.seq, t.prev = seq, h
	t.sinceCheckpoint++
	t.written.Store(seq)
	return seq, nil
}

// checkpointLocked writes a signed checkpoint.
func (t *Trail) checkpointLocked(event, detail string) (uint64, error) {
	now := t.now()
	cp := Record{Time: now, Kind: KindCheckpoint, Event: event, Detail: detail}
	seq, err := t.writeLocked(cp.appendBody(nil), true)
	if err != nil {
		return 0, err
	}
	t.sinceCheckpoint, t.lastCheckpoint = 0, now
	// The loop makes it durable (unless SyncAlways already does) and
	// moves the anchor to it.
	select {
	case t.kick <- struct{}{}:
	default:
	}
	return seq, nil
}

// durable waits, with SyncAlways, until seq is on stable storage.
func (t *Trail) durable(seq uint64) error {
	if t.opts.Sync != SyncAlways {
		return nil
	}
	return t.syncTo(seq)
}

// syncTo fsyncs until every line up to seq is durable. One caller fsyncs
// at a time, for every line written so far; the others wait for it.
func (t *Trail) syncTo(seq uint64) error {
	t.smu.Lock()
	defer t.smu.Unlock()
	for t.synced < seq {
		if b := t.broken.Load(); b != nil {
			return errors.New(*b)
		}
		if t.syncing {
			t.scond.Wait()
			continue
		}
		t.syncing = true
		t.smu.Unlock()
		t.mu.Lock()
		f, target, hash := t.f, t.seq, t.prev
		t.mu.Unlock()
		err := f.Sync()
		if err != nil {
			// After a failed fsync the kernel may have dropped the pages:
			// nothing written can be trusted to be there.
			t.setBroken(fmt.Errorf("audit: fsync %s: %w (restart kmipd once the storage is fixed)", t.opts.Path, err))
		}
		t.smu.Lock()
		t.syncing = false
		if err == nil && target > t.synced {
			t.synced, t.syncedHash = target, hash
		}
		t.scond.Broadcast()
	}
	return nil
}

// anchorDurable moves the anchor to the last durable record. Only what is
// on disk is anchored, so a power cut cannot leave the trail shorter than
// its anchor.
func (t *Trail) anchorDurable() error {
	t.smu.Lock()
	seq, hash := t.synced, t.syncedHash
	t.smu.Unlock()
	t.amu.Lock()
	defer t.amu.Unlock()
	if seq <= t.anchored {
		return nil
	}
	if err := writeAnchor(t.opts.AnchorPath, t.key, &Anchor{Seq: seq, Hash: hash, Time: t.now()}); err != nil {
		return err
	}
	t.anchored = seq
	return nil
}

func (t *Trail) anchorLogged() {
	if err := t.anchorDurable(); err != nil {
		t.mu.Lock()
		t.logFailure(err)
		t.mu.Unlock()
	}
}

// postQueue bounds the records Posted and not yet written.
const postQueue = 1024

// Post queues r to be written by the trail's goroutine, for callers that
// must not wait for a write (the server's connection goroutines). It
// reports false, and writes nothing, when the queue is full or the trail
// is closing; the caller counts what it could not record.
func (t *Trail) Post(r *Record) bool {
	if r.Time.IsZero() {
		r.Time = t.now()
	}
	t.pmu.Lock()
	defer t.pmu.Unlock()
	if !t.posting {
		return false
	}
	select {
	case t.queue <- r:
		return true
	default:
		return false
	}
}

// OnClose registers fn to run at the start of Close, while Post still
// works: a caller's last summary reaches the trail before the shutdown
// checkpoint.
func (t *Trail) OnClose(fn func()) {
	t.pmu.Lock()
	t.onClose = append(t.onClose, fn)
	t.pmu.Unlock()
}

// Truncation describes the truncation Options.AcceptTruncation accepted
// ("" when none).
func (t *Trail) Truncation() string { return t.truncation }

// loop syncs (SyncInterval, and after checkpoints), writes periodic
// checkpoints, Posted records and the anchor.
func (t *Trail) loop() {
	defer close(t.done)
	var syncC, cpC, anchorC <-chan time.Time
	if t.opts.AnchorPeriod > 0 {
		tk := time.NewTicker(t.opts.AnchorPeriod)
		defer tk.Stop()
		anchorC = tk.C
	}
	if t.opts.Sync == SyncInterval {
		tk := time.NewTicker(t.opts.SyncInterval)
		defer tk.Stop()
		syncC = tk.C
	}
	if t.opts.CheckpointPeriod > 0 {
		tk := time.NewTicker(t.opts.CheckpointPeriod)
		defer tk.Stop()
		cpC = tk.C
	}
	for {
		select {
		case <-t.stop:
			return
		case <-syncC:
			t.syncTo(t.written.Load())
		case <-t.kick:
			t.syncTo(t.written.Load())
			t.anchorLogged()
		case <-anchorC:
			t.anchorLogged()
		case r := <-t.queue:
			t.Append(r)
		case <-cpC:
			t.mu.Lock()
			if t.sinceCheckpoint > 0 && !t.closed && t.readyLocked() == nil {
				if _, err := t.checkpointLocked(EventPeriodic, ""); err != nil {
					t.logFailure(err)
				}
			}
			t.mu.Unlock()
			t.syncTo(t.written.Load())
		}
	}
}

// Close writes the "close" checkpoint, which marks the trail complete, and
// closes the file. A nil Trail is a no-op.
func (t *Trail) Close() error {
	if t == nil {
		return nil
	}
	t.pmu.Lock()
	hooks := t.onClose
	t.onClose = nil
	t.pmu.Unlock()
	for _, fn := range hooks {
		fn()
	}
	t.pmu.Lock()
	t.posting = false
	t.pmu.Unlock()
	t.closeOnce.Do(func() { close(t.stop) })
	<-t.done
	var errs []error
	for len(t.queue) > 0 {
		if _, err := t.Append(<-t.queue); err != nil {
			errs = append(errs, err)
			break
		}
	}
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		return ErrClosed
	}
	err := t.readyLocked()
	if err == nil {
		_, err = t.checkpointLocked(EventClose, "")
	}
	errs = append(errs, err)
	t.closed = true
	files := append(t.old, t.f)
	t.mu.Unlock()
	errs = append(errs, t.syncTo(t.written.Load()))
	errs = append(errs, t.anchorDurable())
	for _, f := range files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
