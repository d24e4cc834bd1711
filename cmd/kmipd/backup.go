package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/internal/audit"
	"github.com/kmipd/kmipd/store"
)

// Online backup. A running server holds the store's exclusive file lock
// (bbolt flock), so no other process can open the file, not even
// read-only. serve therefore listens on a Unix socket next to the store
// (STORE.sock, mode 0600, in the kmipd directory, which init makes 0700):
// `kmipd backup` asks it for a snapshot, which the server streams from one
// read transaction (store.DB.Backup: consistent, writers go on). When no
// server answers, backup opens the store itself.
//
// The stream is framed so that a cut-off transfer cannot pass for a
// complete one:
//
//	client: "BACKUP\n"
//	server: 'S' size(8)             expected size, for progress
//	        'D' len(4) bytes ...    data
//	        'Z' total(8) sha256(32) end, or
//	        'E' len(4) message      failure
const (
	controlBackup   = "BACKUP\n"
	controlTimeout  = 30 * time.Second // per read or write on the socket
	progressEvery   = time.Second
	frameChunk      = 256 << 10
	controlSuffix   = ".sock"
	preRestoreInfix = ".pre-restore-"
)

// controlPath is the control socket of the server using cfg's store.
func controlPath(cfg *Config) string { return cfg.path(cfg.Store) + controlSuffix }

// startControl listens on the control socket and returns the function that
// stops it, waiting for backups in progress. Failing to listen only warns:
// the server runs, and backup then needs it stopped.
func startControl(cfg *Config, db *store.DB, trail *audit.Trail, log zerolog.Logger, rot *rotator) func() {
	path := controlPath(cfg)
	// This server holds the store: a socket left there is a dead server's.
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&fs.ModeSocket != 0 {
		os.Remove(path)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		log.Warn().Err(err).Str("path", path).Msg("no control socket: online backup is unavailable (stop kmipd to back up)")
		return func() {}
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		log.Warn().Err(err).Str("path", path).Msg("no control socket: online backup is unavailable")
		return func() {}
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serveControl(c, db, trail, log, rot)
			}()
		}
	}()
	return func() {
		l.Close()
		wg.Wait()
	}
}

// serveControl answers one control connection.
func serveControl(c net.Conn, db *store.DB, trail *audit.Trail, log zerolog.Logger, rot *rotator) {
	c.SetReadDeadline(time.Now().Add(controlTimeout))
	cmd, err := bufio.NewReader(io.LimitReader(c, 64)).ReadString('\n')
	if err != nil {
		return
	}
	if verb, args, _ := strings.Cut(strings.TrimSpace(cmd), " "); verb == controlRotate && rot != nil {
		c.SetDeadline(time.Time{}) // a rotation takes as long as the store is large
		rot.serve(c, args, db, trail, log)
		return
	}
	fw := &frameWriter{conn: c, sum: sha256.New()}
	if cmd != controlBackup {
		fw.fail(fmt.Sprintf("unknown command %q", strings.TrimSpace(cmd)))
		return
	}
	start := time.Now()
	st := db.Stats()
	fw.header('S', uint64(st.FileSize))
	bw := bufio.NewWriterSize(fw, frameChunk)
	n, err := db.Backup(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = fw.end(n)
	}
	if err != nil {
		log.Error().Err(err).Msg("online backup failed")
		fw.fail("backup failed: " + err.Error())
		return
	}
	log.Info().Int64("bytes", n).Int("objects", st.Objects).Dur("took", time.Since(start)).Msg("online backup sent over the control socket")
	if trail != nil {
		if err := trail.Event("backup", "control socket", fmt.Sprintf("online backup of the store: %d bytes, about %d objects, sha256 %x", n, st.Objects, fw.sum.Sum(nil))); err != nil {
			log.Error().Err(err).Msg("the backup could not be recorded in the audit trail")
		}
	}
}

type frameWriter struct {
	conn net.Conn
	sum  hash.Hash
	err  error
}

func (w *frameWriter) write(p []byte) error {
	if w.err != nil {
		return w.err
	}
	w.conn.SetWriteDeadline(time.Now().Add(controlTimeout))
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

// fetchBackup asks the server on conn for a snapshot and writes it to out.
func fetchBackup(conn net.Conn, out io.Writer, p *progress) (int64, error) {
	conn.SetWriteDeadline(time.Now().Add(controlTimeout))
	if _, err := io.WriteString(conn, controlBackup); err != nil {
		return 0, err
	}
	br := bufio.NewReaderSize(conn, frameChunk)
	sum := sha256.New()
	var n int64
	var buf []byte
	for {
		conn.SetReadDeadline(time.Now().Add(controlTimeout))
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
			p.total = int64(binary.BigEndian.Uint64(b[:]))
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
			p.add(int64(size))
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

// progress reports bytes copied, at most once a second, on long runs.
type progress struct {
	w     io.Writer
	what  string
	total int64 // expected, 0 if unknown
	n     int64
	last  time.Time
}

func newProgress(w io.Writer, what string) *progress {
	return &progress{w: w, what: what, last: time.Now()}
}

func (p *progress) add(n int64) {
	p.n += n
	if time.Since(p.last) < progressEvery {
		return
	}
	p.last = time.Now()
	if p.total > 0 {
		fmt.Fprintf(p.w, "%s: %s of ~%s (%d%%)\n", p.what, mib(p.n), mib(p.total), min(100, p.n*100/p.total))
	} else {
		fmt.Fprintf(p.w, "%s: %s\n", p.what, mib(p.n))
	}
}

// Write counts p, for copies that are not framed.
func (p *progress) Write(b []byte) (int, error) { p.add(int64(len(b))); return len(b), nil }

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// checkStoreFile opens a store file and runs the full consistency check.
// It opens the file for writing (store.Open records its schema), so callers
// give it a copy. A corrupt file can make bbolt fault or panic: both become
// errors here.
func checkStoreFile(path string) (st store.Stats, err error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		debug.SetPanicOnFault(true)
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("%w: %v", store.ErrCorrupt, p)
			}
		}()
		// store.Open would make an empty or blank file into a new, empty
		// store: a snapshot must already be one (store/doc.go: bucket "sys").
		if fi, serr := os.Stat(path); serr != nil || fi.Size() < 1024 {
			err = errors.New("not a store file: empty or too small")
			return
		}
		var bdb *bolt.DB
		bdb, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			err = fmt.Errorf("not a bbolt file: %w", err)
			return
		}
		err = bdb.View(func(tx *bolt.Tx) error {
			if tx.Bucket([]byte("sys")) == nil {
				return errors.New("not a kmipd store")
			}
			return nil
		})
		bdb.Close()
		if err != nil {
			return
		}
		var db *store.DB
		db, err = store.Open(path, &store.Options{Timeout: -1, AllowOlder: true})
		if err != nil {
			return
		}
		defer db.Close()
		if err = db.Check(); err == nil {
			st = db.Stats()
		}
	}()
	<-done
	return st, err
}

// verifySnapshot checks a snapshot file through a temporary copy, leaving
// the file itself untouched.
func verifySnapshot(path string) (store.Stats, error) {
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".kmipd-verify-")
	if err != nil {
		return store.Stats{}, err
	}
	defer os.RemoveAll(tmp)
	cp := filepath.Join(tmp, "snapshot.db")
	if err := copyFile(path, cp, io.Discard); err != nil {
		return store.Stats{}, err
	}
	return checkStoreFile(cp)
}

// copyFile copies src to a new file dst (0600) and fsyncs it.
func copyFile(src, dst string, p io.Writer) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.MultiWriter(out, p), in)
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
	}
	return err
}

func syncDirOf(path string) {
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
}

type backupOptions struct {
	dir   string
	out   string
	force bool
}

func newBackupCmd() *cobra.Command {
	o := &backupOptions{}
	cmd := &cobra.Command{
		Use:   "backup --dir DIR --out FILE",
		Short: "Write a consistent snapshot of the store, online or offline",
		Long: `backup writes a consistent snapshot of the store of DIR to FILE (0600).

While kmipd serves, the server streams it from one read transaction over its
control socket (the store file next to it, suffix .sock): clients go on
reading and writing, and the snapshot holds exactly what was committed when
it began. When no server runs, backup opens the store itself. Either way the
snapshot is checked (opened from a temporary copy and run through the full
consistency check) before FILE is put in place. The snapshot holds the
objects as stored, their key material wrapped by the master key: it is no
use without that key, which is not in it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBackup(cmd, o) },
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "kmipd directory")
	cmd.Flags().StringVar(&o.out, "out", "", "snapshot file to write")
	cmd.Flags().BoolVar(&o.force, "force", false, "replace FILE if it exists")
	_ = cmd.MarkFlagRequired("dir")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func runBackup(cmd *cobra.Command, o *backupOptions) error {
	cfg, err := loadConfig(o.dir)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	if _, err := os.Stat(o.out); err == nil && !o.force {
		return fmt.Errorf("%s exists: %w (use --force to replace it)", o.out, fs.ErrExist)
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.out), "."+filepath.Base(o.out)+".tmp-")
	if err != nil {
		return err
	}
	tmpPath := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmpPath)
		}
	}()
	start := time.Now()
	p := newProgress(stderr, "backup")
	var n int64
	var how string
	storePath := cfg.path(cfg.Store)
	conn, err := net.DialTimeout("unix", controlPath(cfg), 2*time.Second)
	online := err == nil
	if online {
		how = "online, from the running server"
		n, err = fetchBackup(conn, tmp, p)
		conn.Close()
		if err != nil {
			return fmt.Errorf("online backup: %w", err)
		}
	} else {
		how = "offline, from the store file"
		if _, err := os.Stat(storePath); err != nil {
			return fmt.Errorf("no store to back up: %w", err)
		}
		db, err := store.Open(storePath, &store.Options{Timeout: -1, AllowOlder: true})
		if errors.Is(err, store.ErrLocked) {
			return fmt.Errorf("a running kmipd holds %s but its control socket %s does not answer: %w", storePath, controlPath(cfg), err)
		}
		if err != nil {
			return err
		}
		p.total = db.Stats().FileSize
		n, err = db.Backup(io.MultiWriter(tmp, p))
		db.Close()
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	st, err := verifySnapshot(tmpPath)
	if err != nil {
		return fmt.Errorf("the snapshot fails its check, %s not written: %w", o.out, err)
	}
	if err := os.Rename(tmpPath, o.out); err != nil {
		return err
	}
	ok = true
	syncDirOf(o.out)
	if !online {
		// Online, the server recorded it.
		auditEvent(cfg, stderr, "backup", fmt.Sprintf("offline backup of the store to %s: %d bytes, %d objects", o.out, n, st.Objects))
	}
	fmt.Fprintf(cmd.OutOrStdout(), "kmipd: backup of %s written to %s (%s): %d bytes, %d objects, checked, in %v\n",
		storePath, o.out, how, n, st.Objects, time.Since(start).Round(time.Millisecond))
	return nil
}

type restoreOptions struct {
	dir string
	in  string
}

func newRestoreCmd() *cobra.Command {
	o := &restoreOptions{}
	cmd := &cobra.Command{
		Use:   "restore --dir DIR --in FILE",
		Short: "Replace the store with a snapshot from kmipd backup (server stopped)",
		Long: `restore replaces the store of DIR with the snapshot FILE. It refuses while a
server uses the store, and checks the snapshot first: a copy of it is put
next to the store, opened and run through the full consistency check; only
then does it replace the store (atomically, by rename). The old store is
kept beside it as STORE.pre-restore-TIME. A snapshot that fails the check
changes nothing. Restore needs the master key the snapshot was made with.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRestore(cmd, o) },
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "kmipd directory")
	cmd.Flags().StringVar(&o.in, "in", "", "snapshot file written by kmipd backup")
	_ = cmd.MarkFlagRequired("dir")
	_ = cmd.MarkFlagRequired("in")
	return cmd
}

func runRestore(cmd *cobra.Command, o *restoreOptions) error {
	cfg, err := loadConfig(o.dir)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	live := cfg.path(cfg.Store)
	if conn, err := net.DialTimeout("unix", controlPath(cfg), time.Second); err == nil {
		conn.Close()
		return fmt.Errorf("kmipd is serving from %s: stop it before restoring", o.dir)
	}
	if _, err := os.Stat(o.in); err != nil {
		return err
	}
	// Hold a shared lock on the current store until the new one is in
	// place: it fails while a server holds the store, and keeps one from
	// starting meanwhile. Read-only, so the old store stays byte for byte
	// as it was.
	_, statErr := os.Stat(live)
	exists := statErr == nil
	if exists {
		held, err := bolt.Open(live, 0o600, &bolt.Options{ReadOnly: true, Timeout: 200 * time.Millisecond})
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return fmt.Errorf("%s is in use by a running kmipd: stop it before restoring", live)
		case err != nil:
			fmt.Fprintf(stderr, "kmipd: warning: the current store does not open (%v); it is kept as it is\n", err)
		default:
			defer held.Close()
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(live), "."+filepath.Base(live)+".restore-")
	if err != nil {
		return err
	}
	tmpPath := tmp.Name()
	tmp.Close()
	os.Remove(tmpPath)
	defer os.Remove(tmpPath)
	p := newProgress(stderr, "restore")
	if fi, err := os.Stat(o.in); err == nil {
		p.total = fi.Size()
	}
	if err := copyFile(o.in, tmpPath, p); err != nil {
		return err
	}
	sum, err := fileSHA256(tmpPath)
	if err != nil {
		return err
	}
	st, err := checkStoreFile(tmpPath)
	if err != nil {
		return fmt.Errorf("%s is not a usable snapshot, nothing was changed: %w", o.in, err)
	}
	kept := ""
	if exists {
		kept = live + preRestoreInfix + time.Now().UTC().Format("20060102T150405Z")
		if err := os.Link(live, kept); err != nil {
			if err := copyFile(live, kept, io.Discard); err != nil {
				return fmt.Errorf("keeping the current store: %w", err)
			}
		}
	}
	if err := os.Rename(tmpPath, live); err != nil {
		return err
	}
	syncDirOf(live)
	detail := fmt.Sprintf("store restored from %s (sha256 %x, %d objects)", o.in, sum, st.Objects)
	if kept != "" {
		detail += "; the previous store is kept as " + kept
	}
	auditEvent(cfg, stderr, "restore", detail)
	fmt.Fprintf(cmd.OutOrStdout(), "kmipd: %s\n", detail)
	return nil
}

func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// rotator runs master-key rotations inside the server, one at a time.
type rotator struct {
	mu      sync.Mutex
	dir     string
	backend hsm.Backend
	forget  func() // drops cached objects, whose blobs name old versions
}

func (r *rotator) serve(c net.Conn, args string, db *store.DB, trail *audit.Trail, log zerolog.Logger) {
	if !r.mu.TryLock() {
		io.WriteString(c, "E a rotation is already running\n")
		return
	}
	defer r.mu.Unlock()
	log.Info().Msg("master-key rotation requested over the control socket")
	err := serveRotate(c, args, r.dir, r.backend, db, r.forget)
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
