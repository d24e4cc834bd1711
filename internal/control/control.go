// Package control is kmipd's control socket: a Unix socket next to the
// store (STORE.sock, mode 0600, in the kmipd directory, which init makes
// 0700) on which a serving kmipd answers the commands that need the store
// it holds. A running server holds the store's exclusive file lock (bbolt
// flock), so no other process can open the file, not even read-only:
// `kmipd backup` asks the server for a snapshot, which it streams from one
// read transaction (store.DB.Backup: consistent, writers go on), and
// `kmipd hsm rotate` has it rotate the master key while it serves.
//
// The backup stream is framed so that a cut-off transfer cannot pass for a
// complete one:
//
//	client: "BACKUP\n"
//	server: 'S' size(8)             expected size, for progress
//	        'D' len(4) bytes ...    data
//	        'Z' total(8) sha256(32) end, or
//	        'E' len(4) message      failure
//
// A rotation is asked for with "ROTATE 0\n" or "ROTATE 1\n" (keep old
// versions); the server answers with text lines: "P done total" progress,
// "M message", then "OK" or "E error".
package control

import (
	"bufio"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/internal/audit"
	"github.com/kmipd/kmipd/store"
)

const (
	cmdBackup  = "BACKUP\n"
	cmdRotate  = "ROTATE"
	timeout    = 30 * time.Second // per read or write on the socket
	frameChunk = 256 << 10
	suffix     = ".sock" // after the store file's name
)

// SocketPath is the control socket of the server using the store at
// storePath.
func SocketPath(storePath string) string { return storePath + suffix }

// RotateFunc rotates the master key inside the server, writing messages to
// out and reporting blobs re-wrapped to progress.
type RotateFunc func(ctx context.Context, out io.Writer, progress func(done, total int), keepOld bool) error

// Server answers the control socket of a serving kmipd.
type Server struct {
	DB     *store.DB
	Trail  *audit.Trail // records backups and rotations; nil when off
	Log    zerolog.Logger
	Rotate RotateFunc // nil: no online rotation

	rotating sync.Mutex // one rotation at a time
}

// Start listens on the control socket at path and returns the function
// that stops it, waiting for backups in progress. Failing to listen only
// warns: the server runs, and backup then needs it stopped.
func (s *Server) Start(path string) func() {
	log := s.Log
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
				s.serve(c)
			}()
		}
	}()
	return func() {
		l.Close()
		wg.Wait()
	}
}

// serve answers one control connection.
func (s *Server) serve(c net.Conn) {
	db, trail, log := s.DB, s.Trail, s.Log
	c.SetReadDeadline(time.Now().Add(timeout))
	cmd, err := bufio.NewReader(io.LimitReader(c, 64)).ReadString('\n')
	if err != nil {
		return
	}
	if verb, args, _ := strings.Cut(strings.TrimSpace(cmd), " "); verb == cmdRotate && s.Rotate != nil {
		c.SetDeadline(time.Time{}) // a rotation takes as long as the store is large
		s.serveRotate(c, args)
		return
	}
	fw := &frameWriter{conn: c, sum: sha256.New()}
	if cmd != cmdBackup {
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
