package control

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/internal/audit"
	"github.com/kmipd/kmipd/internal/progress"
	"github.com/kmipd/kmipd/store"
)

func TestBackupStreamFraming(t *testing.T) {
	serve := func(frames func(w *frameWriter)) (int64, []byte, error) {
		srvConn, cliConn := net.Pipe()
		go func() {
			defer srvConn.Close()
			bufio.NewReader(srvConn).ReadString('\n')
			frames(&frameWriter{conn: srvConn, sum: sha256.New()})
		}()
		var out bytes.Buffer
		n, err := FetchBackup(cliConn, &out, progress.NewBytes(io.Discard, "backup"))
		return n, out.Bytes(), err
	}
	n, data, err := serve(func(w *frameWriter) {
		w.header('S', 6)
		w.Write([]byte("abc"))
		w.Write([]byte("def"))
		w.end(6)
	})
	if err != nil || n != 6 || string(data) != "abcdef" {
		t.Fatalf("complete stream: %d %q %v", n, data, err)
	}
	if _, _, err := serve(func(w *frameWriter) { w.header('S', 6); w.Write([]byte("abc")) }); err == nil || !strings.Contains(err.Error(), "early") {
		t.Fatalf("cut-off stream: %v", err)
	}
	if _, _, err := serve(func(w *frameWriter) { w.Write([]byte("abc")); w.end(4) }); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("stream with a wrong total: %v", err)
	}
	if _, _, err := serve(func(w *frameWriter) { w.Write([]byte("abc")); w.fail("disk on fire") }); err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("failed stream: %v", err)
	}
}

// startServer runs a control server on a store holding n records, with an
// audit trail, and returns its socket path and the trail's path.
func startServer(t *testing.T, n int, rotate RotateFunc) (sock string, db *store.DB, trailPath string) {
	t.Helper()
	dir := t.TempDir()
	db, err := store.Open(filepath.Join(dir, "kmipd.db"), &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	err = db.Update(func(tx *store.Tx) error {
		for i := range n {
			if err := tx.Put(&store.Record{ID: fmt.Sprint("id-", i), Data: bytes.Repeat([]byte{byte(i)}, 100)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	trailPath = filepath.Join(dir, "audit", "audit.log")
	trail, err := audit.Open(audit.Options{Path: trailPath, KeyPath: filepath.Join(dir, "audit", "audit.key")})
	if err != nil {
		t.Fatal(err)
	}
	sock = SocketPath(filepath.Join(dir, "kmipd.db"))
	stop := (&Server{DB: db, Trail: trail, Log: zerolog.Nop(), Rotate: rotate}).Start(sock)
	t.Cleanup(func() {
		stop()
		trail.Close()
	})
	return sock, db, trailPath
}

func dial(t *testing.T, sock string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// trailHas waits for the audit trail at path to hold want.
func trailHas(t *testing.T, path, want string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		data, _ := os.ReadFile(path)
		if strings.Contains(string(data), want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the audit trail lacks %q:\n%s", want, data)
		}
	}
}

func TestOnlineBackup(t *testing.T) {
	sock, db, trailPath := startServer(t, 200, nil)
	if fi, err := os.Stat(sock); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket: %v, %v; want mode 0600", fi, err)
	}
	snap := filepath.Join(t.TempDir(), "snapshot.db")
	f, err := os.Create(snap)
	if err != nil {
		t.Fatal(err)
	}
	n, err := FetchBackup(dial(t, sock), f, progress.NewBytes(io.Discard, "backup"))
	f.Close()
	// The store file, then the data keys of its secrets (store.DB.Backup).
	if err != nil || n <= db.Stats().FileSize {
		t.Fatalf("FetchBackup = %d, %v; want more than the store file's %d bytes", n, err, db.Stats().FileSize)
	}
	st, err := store.VerifySnapshot(snap)
	if err != nil || st.Objects != 200 {
		t.Fatalf("the snapshot: %+v, %v; want 200 objects", st, err)
	}
	trailHas(t, trailPath, "online backup of the store: ")
}

func TestUnknownCommand(t *testing.T) {
	sock, _, _ := startServer(t, 1, nil)
	for _, cmd := range []string{"RESTORE\n", "ROTATE 0\n"} { // no RotateFunc: ROTATE is unknown too
		_, err := FetchBackup(&sendAs{dial(t, sock), cmd}, io.Discard, progress.NewBytes(io.Discard, "backup"))
		if err == nil || !strings.Contains(err.Error(), "unknown command") {
			t.Errorf("%q: %v, want unknown command", cmd, err)
		}
	}
}

// sendAs replaces the BACKUP command FetchBackup sends by cmd.
type sendAs struct {
	net.Conn
	cmd string
}

func (s *sendAs) Write(p []byte) (int, error) {
	if string(p) == cmdBackup {
		_, err := io.WriteString(s.Conn, s.cmd)
		return len(p), err
	}
	return s.Conn.Write(p)
}

func TestStartReplacesAStaleSocketAndStops(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kmipd.db.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close() // a dead server's socket is left behind
	db, err := store.Open(filepath.Join(t.TempDir(), "kmipd.db"), &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	stop := (&Server{DB: db, Log: zerolog.Nop()}).Start(path)
	if _, err := FetchBackup(dial(t, path), io.Discard, progress.NewBytes(io.Discard, "backup")); err != nil {
		t.Fatalf("backup over a socket that replaced a stale one: %v", err)
	}
	stop()
	if _, err := net.DialTimeout("unix", path, time.Second); err == nil {
		t.Fatal("the control socket answers after stop")
	}
	// Somewhere it cannot listen, Start only warns.
	(&Server{DB: db, Log: zerolog.Nop()}).Start(filepath.Join(t.TempDir(), "missing", "x.sock"))()
}

func TestOnlineRotation(t *testing.T) {
	started, release := make(chan struct{}, 1), make(chan struct{})
	var keep []bool
	rotate := func(ctx context.Context, out io.Writer, progress func(done, total int), keepOld bool) error {
		keep = append(keep, keepOld)
		fmt.Fprintln(out, "kmipd: created master-key version 2 and made it current")
		progress(0, 2)
		started <- struct{}{}
		<-release
		progress(2, 2)
		fmt.Fprint(out, "kmipd: 2 blobs ")
		fmt.Fprintln(out, "re-wrapped under master-key version 2")
		if len(keep) == 2 {
			return errors.New("token gone\nfor good")
		}
		return nil
	}
	sock, _, trailPath := startServer(t, 1, rotate)

	var out, bar bytes.Buffer
	errc := make(chan error, 1)
	go func() { errc <- RequestRotate(dial(t, sock), &out, &bar, true) }()
	<-started
	// A second request while one runs is refused.
	if err := RequestRotate(dial(t, sock), io.Discard, io.Discard, false); err == nil || err.Error() != "server: a rotation is already running" {
		t.Errorf("a second rotation while one runs: %v", err)
	}
	close(release)
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	want := "kmipd: created master-key version 2 and made it current\nkmipd: 2 blobs re-wrapped under master-key version 2\n"
	if out.String() != want {
		t.Errorf("relayed messages\n%q\nwant\n%q", out.String(), want)
	}
	if !strings.HasSuffix(bar.String(), "] 2/2 100%\n") {
		t.Errorf("progress %q", bar.String())
	}
	trailHas(t, trailPath, "master-key rotation finished")

	// The server records the end of a rotation in the trail just before
	// it takes the next one.
	err := RequestRotate(dial(t, sock), io.Discard, io.Discard, false)
	for i := 0; err != nil && strings.Contains(err.Error(), "already running") && i < 100; i++ {
		time.Sleep(10 * time.Millisecond)
		err = RequestRotate(dial(t, sock), io.Discard, io.Discard, false)
	}
	if err == nil || err.Error() != "server: token gone for good" {
		t.Errorf("failed rotation: %v", err)
	}
	trailHas(t, trailPath, "master-key rotation failed: token gone")
	if len(keep) != 2 || !keep[0] || keep[1] {
		t.Errorf("keepOld passed as %v, want [true false]", keep)
	}
}

func TestRequestRotateServerGone(t *testing.T) {
	srv, cli := net.Pipe()
	go func() {
		bufio.NewReader(srv).ReadString('\n')
		io.WriteString(srv, "P 1 4\nM kmipd: half-way\n")
		srv.Close()
	}()
	var out bytes.Buffer
	err := RequestRotate(cli, &out, io.Discard, false)
	if err == nil || !strings.Contains(err.Error(), "closed the control connection before the rotation ended") || out.String() != "kmipd: half-way\n" {
		t.Errorf("RequestRotate when the server goes away: %v, output %q", err, out.String())
	}
}
