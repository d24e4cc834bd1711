package audit

import (
	"errors"
	"fmt"
	"hash"
	"os"
	"path/filepath"
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
	// kmipd) and fsyncs every Options.SyncInterval, at checkpoints (at
	// most every 100 ms: checkpoints close together share one) and at
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

	// Node names the server writing the trail among the nodes of a
	// cluster; every line then carries it ("node"), inside the hash chain.
	Node string

	Sync         SyncMode      // default SyncAlways
	SyncInterval time.Duration // for SyncInterval; default 1s
	// WALSize is the size in bytes of the write-ahead ring (WALPath) that
	// holds the lines not yet in the file (default DefaultWALSize, from
	// MinWALSize to MaxWALSize). An operation is answered once its line
	// is in the ring (durable, with SyncAlways); when the ring is full it
	// waits for the flusher to make room.
	WALSize int
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
	// lifecycle.ReadOnly, its operation table's). Nil means none: every
	// operation then runs in a transaction.
	ReadOnly func(kmip.Operation) bool

	// Sinks stream every line written, besides the file (see
	// SinkOptions). Fail-closed, an operation is answered only once its
	// record has been sent to every sink within the sink's Timeout, else
	// it is refused like when the file cannot be written; fail-open, what
	// a sink could not take is counted (SinkStats) and logged.
	Sinks []SinkOptions

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
	// nodeField is `,"node":"NAME"` when Options.Node is set: every line
	// then says which node of a cluster wrote it.
	nodeField []byte
	key       []byte
	log       zerolog.Logger
	now       func() time.Time

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
	sinks           []*sink
	unstreamed      uint64 // seq of the last line a sink did not take

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

	// The write-ahead ring (under mu) and its flusher. Lock order: fmu,
	// then mu.
	w          *wal
	space      *sync.Cond    // on mu: lines waiting for room in the ring
	flushErr   error         // under mu: why the last write of the ring failed
	ringWaits  uint64        // under mu: lines that waited for room
	noWait     bool          // under mu: the flusher is writing a line
	whead      atomic.Uint64 // w.head, read by the flusher without mu
	fidle      atomic.Bool   // the flusher waits for fkick
	fkick      chan struct{}
	fstop      chan struct{}
	fdone      chan struct{}
	fmu        sync.Mutex // writes to the file; the fields below
	ringClosed bool       // Close has unmapped the ring
	fileSeq    uint64     // the file's last line
	fileHash   [32]byte
	writes     uint64 // writes of the ring, and the lines in them
	batched    uint64
	cpath      []byte    // Path, NUL-terminated, for pathIsFile
	hasher     hash.Hash // under mu
	who        whoCache
	sum        [32]byte

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
	switch {
	case o.WALSize == 0:
		o.WALSize = DefaultWALSize
	case o.WALSize < MinWALSize || o.WALSize > MaxWALSize:
		return nil, fmt.Errorf("audit: write-ahead ring size %d: want %d to %d bytes", o.WALSize, MinWALSize, MaxWALSize)
	}
	o.Sinks = append([]SinkOptions(nil), o.Sinks...)
	for i := range o.Sinks {
		if err := validateSink(&o.Sinks[i]); err != nil {
			return nil, err
		}
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
	var t *Trail
	defer func() {
		if !ok {
			f.Close()
			if t != nil {
				t.closeSinks()
			}
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
	t = &Trail{
		opts: o, key: key, log: o.Logger, now: o.Now,
		f: f, id: fi, size: size,
		kick: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}),
	}
	t.scond = sync.NewCond(&t.smu)
	t.queue, t.posting = make(chan *Record, postQueue), true
	t.space = sync.NewCond(&t.mu)
	t.fkick, t.fstop, t.fdone = make(chan struct{}, 1), make(chan struct{}), make(chan struct{})
	t.cpath = append([]byte(o.Path), 0)
	if o.Node != "" {
		t.nodeField = appendString(append([]byte(nil), `,"node":`...), o.Node)
	}
	var notes []string
	var last *lastInfo
	if line != nil {
		l, err := parseLast(line, key)
		if err != nil {
			return nil, fmt.Errorf("audit: the last record of %s is not intact (%v): check the trail with `kmipd audit verify`, and move it aside to start a new one", o.Path, err)
		}
		last = &l
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
	// A crash of the previous run may have left lines in the write-ahead
	// ring that the file lacks: they come next (the anchor, which follows
	// only what was fsynced in the file, was checked without them).
	walPath := WALPath(o.Path)
	last, size, rp, err := replayWAL(walPath, f, size, last, key)
	if err != nil {
		return nil, fmt.Errorf("audit: %w: move the write-ahead ring aside to start without its records", err)
	}
	t.size = size
	if last != nil {
		t.seq, t.prev = last.seq, last.hash
		t.synced, t.syncedHash = last.seq, last.hash
		t.fileSeq, t.fileHash = last.seq, last.hash
	}
	if t.w, err = createWAL(walPath, o.WALSize); err != nil {
		return nil, fmt.Errorf("audit: write-ahead ring: %w", err)
	}
	defer func() {
		if !ok {
			t.w.close()
		}
	}()
	if last != nil && !last.closed {
		notes = append(notes, "the previous run ended without a shutdown checkpoint (crash or kill): this checkpoint signs what it left unsigned")
	}
	if torn > 0 {
		notes = append(notes, fmt.Sprintf("discarded %d bytes of an incomplete last line", torn))
	}
	if rp.lines > 0 {
		notes = append(notes, fmt.Sprintf("appended %d records the previous run had left in the write-ahead ring", rp.lines))
	}
	if rp.note != "" {
		notes = append(notes, rp.note)
	}
	t.written.Store(t.seq)
	// The sinks take every line from the first one this run writes.
	for _, so := range o.Sinks {
		t.sinks = append(t.sinks, newSink(t, so))
	}
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
	go t.flusher()
	return t, nil
}

// Path returns the trail's file.
func (t *Trail) Path() string { return t.opts.Path }

// FailClosed reports whether the trail was opened fail-closed.
func (t *Trail) FailClosed() bool { return t != nil && t.opts.FailClosed }

// Truncation describes the truncation Options.AcceptTruncation accepted
// ("" when none).
func (t *Trail) Truncation() string { return t.truncation }

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
		if _, err := t.append(<-t.queue, false); err != nil {
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
	t.space.Broadcast()
	t.mu.Unlock()
	close(t.fstop)
	<-t.fdone
	serr := t.syncTo(t.written.Load())
	errs = append(errs, serr)
	errs = append(errs, t.anchorDurable())
	t.closeSinks()
	t.fmu.Lock()
	t.mu.Lock()
	if serr == nil && t.w.head == t.w.tail {
		// Everything is in the file: the next run has nothing to replay.
		t.w.reset()
	}
	errs = append(errs, t.w.close())
	t.ringClosed = true
	files := append(t.old, t.f)
	t.mu.Unlock()
	t.fmu.Unlock()
	for _, f := range files {
		errs = append(errs, f.Close())
	}
	return errors.Join(errs...)
}
