package main

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
)

// Durability is a property of the system calls: an acknowledged write must
// have reached stable storage, i.e. been fsync'd, before its response left
// the server. SIGKILL tests cannot see a missing fsync (the page cache
// survives), so these tests run the real server under strace and check,
// per acknowledged Create, the order of the calls that make bbolt durable:
//
//	pwrite of the page holding the new object's key (its identifier)
//	fdatasync/fsync of kmipd.db        data pages durable
//	pwrite of a meta page (offset 0 or one page)
//	fdatasync/fsync of kmipd.db        the commit durable
//	write of the response on that client's socket
//
// The order comes from the trace itself, not from clocks: strace reports a
// call's exit before the thread continues, so anything the thread does
// afterwards, or wakes another thread to do, is reported later. The
// response is found on the server's socket by the client's port (-yy) and
// by position: clients send one request at a time and keep their
// connection until the server is SIGKILLed, so the k-th-from-last burst of
// writes on it answers the k-th-from-last request.
//
// The check ties each acknowledgement to its own commit through the page
// carrying its identifier, so a sync of an earlier group cannot stand in
// for a later one (group commit), and an answer sent before its commit
// was written cannot borrow the next commit's sync.

// straceFor returns the strace binary, skipping (failing in CI) when strace
// or ptrace is not available.
func straceFor(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("strace")
	if err == nil {
		// ptrace may be forbidden (containers without CAP_SYS_PTRACE).
		var out []byte
		out, err = exec.Command(bin, "-f", "-qq", "-e", "trace=fdatasync", "true").CombinedOutput()
		if err != nil {
			err = fmt.Errorf("%v: %s", err, out)
		}
	}
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("strace is needed in CI (apt-get install strace): %v", err)
		}
		t.Skipf("strace not usable (apt-get install strace): %v", err)
	}
	return bin
}

// startTraced starts `kmipd serve --dir dir --addr 127.0.0.1:0` like
// startServer, under strace -D (so the server stays this process's child
// and its parent watch works) writing the trace to traceFile. p.done is
// closed only once strace has exited too: it holds the stderr pipe.
func startTraced(t *testing.T, strace, dir, traceFile string, env []string) *serverProcess {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(strace, "-D", "-f", "--seccomp-bpf", "-qq", "-yy", "-x", "-s", "262144",
		"-e", "trace=read,write,pwrite64,fsync,fdatasync", "-e", "signal=none", "-o", traceFile,
		exe, "-test.run=^TestHelperServeProcess$")
	return runServerProcess(t, cmd, "kmipd serve under strace", 60*time.Second, dir, env, []string{"--addr", "127.0.0.1:0"})
}

// sysEvent is one traced system call on a file or socket of interest.
// entry and exit are line numbers in the trace: the order strace saw them.
type sysEvent struct {
	name        string
	entry, exit int
	fd          string // the -yy annotation: a path or TCP:[a->b]
	args        string // arguments after the fd, as printed at entry
	ret         int64
}

var (
	// pid, call, fd and its annotation (a path, or TCP:[a->b], which
	// holds a '>'), the rest.
	reCall    = regexp.MustCompile(`^(\d+)\s+(\w+)\((\d+)<(TCP:\[[^\]]*\]|[^>]*)>(.*)$`)
	reResumed = regexp.MustCompile(`^(\d+)\s+<\.\.\. (\w+) resumed>(.*)$`)
	// The return value ends the line: ") = 4096", ") = -1 EAGAIN (...)";
	// strace pads resumed lines: ")          = 0".
	reRet = regexp.MustCompile(`\)\s+= (-?\d+)(?: E[A-Z0-9]+ \([^)]*\))?$`)
	// pwrite64's length and offset, at the end of its arguments.
	rePwrite = regexp.MustCompile(`, (\d+), (\d+)(?:\)\s+= .*| <unfinished \.\.\.>)$`)
)

// parseTrace returns the calls of an strace -f -yy output file, with
// unfinished calls joined to their resumption.
func parseTrace(t *testing.T, file string) []sysEvent {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var evs []sysEvent
	pending := map[string]int{} // pid -> index in evs of its unfinished call
	ret := func(s string) int64 {
		if m := reRet.FindStringSubmatch(s); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			return n
		}
		return -1
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 8<<20)
	for line := 0; sc.Scan(); line++ {
		s := sc.Text()
		if m := reResumed.FindStringSubmatch(s); m != nil {
			if i, ok := pending[m[1]]; ok && evs[i].name == m[2] {
				evs[i].exit, evs[i].ret = line, ret(m[3])
				delete(pending, m[1])
			}
			continue
		}
		m := reCall.FindStringSubmatch(s)
		if m == nil {
			continue // a call without an fd, or a signal or exit line
		}
		ev := sysEvent{name: m[2], entry: line, exit: line, fd: m[4], args: m[5]}
		if strings.HasSuffix(s, "<unfinished ...>") {
			pending[m[1]] = len(evs)
			ev.exit = -1
		} else {
			ev.ret = ret(m[5])
		}
		evs = append(evs, ev)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return evs
}

// createConn is one client connection that Creates keys one at a time.
type createConn struct {
	port int      // its local port: the server's socket annotation names it
	ids  []string // acknowledged identifiers, in order
}

// runCreates sends the requests (Creates) one at a time on conn, recording
// each acknowledged identifier.
func runCreates(conn *tls.Conn, reqs [][]byte, cc *createConn) error {
	for _, req := range reqs {
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		if _, err := conn.Write(req); err != nil {
			return err
		}
		it, err := readResponse(conn)
		if err != nil {
			return err
		}
		id, err := createdID(it)
		if err != nil {
			return err
		}
		cc.ids = append(cc.ids, id)
	}
	return nil
}

// durabilityFigures are what checkSyncedAcks found.
type durabilityFigures struct {
	acks, dbWrites, dbSyncs, commits, groups, maxGroup int
}

// checkSyncedAcks checks, for every acknowledged Create, that its commit
// was synced before the response was written (see the top of this file).
func checkSyncedAcks(t *testing.T, evs []sysEvent, dbPath string, conns []*createConn) durabilityFigures {
	t.Helper()
	page := int64(os.Getpagesize())
	isDB := func(e sysEvent) bool { return e.fd == dbPath }
	var fig durabilityFigures
	var dbWrites, dbSyncs, metaWrites []int // indices into evs
	for i, e := range evs {
		if !isDB(e) {
			continue
		}
		switch e.name {
		case "pwrite64", "write":
			dbWrites = append(dbWrites, i)
			// pwrite64(fd, "...", len, off): a meta page is one page at
			// offset 0 or one page.
			if m := rePwrite.FindStringSubmatch(e.args); e.name == "pwrite64" && m != nil {
				n, _ := strconv.ParseInt(m[1], 10, 64)
				off, _ := strconv.ParseInt(m[2], 10, 64)
				if n == page && (off == 0 || off == page) {
					metaWrites = append(metaWrites, i)
				}
			}
		case "fsync", "fdatasync":
			if e.ret == 0 && e.exit >= 0 {
				dbSyncs = append(dbSyncs, i)
			}
		}
	}
	fig.dbWrites, fig.dbSyncs, fig.commits = len(dbWrites), len(dbSyncs), len(metaWrites)
	if len(dbWrites) == 0 {
		t.Fatalf("the trace shows no write to %s: wrong path, or strace did not follow the server", dbPath)
	}
	// syncBetween: is there a db sync entered after line a and finished
	// before line b?
	syncBetween := func(a, b int) bool {
		for _, i := range dbSyncs {
			if evs[i].entry > a && evs[i].exit < b {
				return true
			}
		}
		return false
	}
	groupOf := map[int]int{} // meta write -> acknowledgements it carried
	for _, cc := range conns {
		// Response bursts on the server's side of this connection: a run
		// of writes not interrupted by a read that returned data.
		var bursts []int // line of the first write of each burst
		inBurst := false
		suffix := fmt.Sprintf("->127.0.0.1:%d]", cc.port)
		for _, e := range evs {
			if !strings.HasPrefix(e.fd, "TCP:[") || !strings.HasSuffix(e.fd, suffix) {
				continue
			}
			switch {
			case e.name == "write" && !inBurst:
				bursts = append(bursts, e.entry)
				inBurst = true
			case e.name == "read" && e.ret > 0:
				inBurst = false
			}
		}
		if len(bursts) < len(cc.ids) {
			t.Fatalf("client port %d: %d acknowledgements but %d response bursts in the trace", cc.port, len(cc.ids), len(bursts))
		}
		bursts = bursts[len(bursts)-len(cc.ids):]
		for j, id := range cc.ids {
			fig.acks++
			resp := bursts[j]
			// strace -x prints a buffer holding any non-ASCII byte (a page
			// always does) entirely as \xHH escapes.
			var hexID strings.Builder
			for _, c := range []byte(id) {
				fmt.Fprintf(&hexID, "\\x%02x", c)
			}
			w := -1 // first db page write holding the identifier
			for _, i := range dbWrites {
				if strings.Contains(evs[i].args, hexID.String()) || strings.Contains(evs[i].args, id) {
					w = i
					break
				}
			}
			if w < 0 {
				t.Errorf("Create %s acknowledged but no write of it to %s traced", id, dbPath)
				continue
			}
			m := -1 // the meta page write of that commit
			for _, i := range metaWrites {
				if evs[i].entry > evs[w].exit {
					m = i
					break
				}
			}
			switch {
			case evs[w].exit < 0 || evs[w].entry > resp:
				t.Errorf("Create %s acknowledged (trace line %d) before its page was written (line %d)", id, resp+1, evs[w].entry+1)
			case m < 0 || evs[m].entry > resp:
				t.Errorf("Create %s acknowledged (trace line %d) before its commit's meta page was written", id, resp+1)
			case !syncBetween(evs[w].exit, evs[m].entry):
				t.Errorf("Create %s: no fsync of %s between its data page (line %d) and the meta page (line %d)", id, dbPath, evs[w].entry+1, evs[m].entry+1)
			case !syncBetween(evs[m].exit, resp):
				t.Errorf("Create %s acknowledged (trace line %d) with its commit (meta page, line %d) not fsync'd", id, resp+1, evs[m].entry+1)
			default:
				groupOf[m]++
			}
		}
	}
	fig.groups = len(groupOf)
	for _, n := range groupOf {
		fig.maxGroup = max(fig.maxGroup, n)
	}
	return fig
}

// TestFsyncBeforeEveryAck runs the real server under strace while clients
// Create keys, then checks every acknowledgement against the trace: one
// client without and with group commit, and concurrent clients sharing
// commits. It fails if kmipd (or bbolt under it) acknowledges anything it
// has not fsync'd, e.g. with NoSync forced on.
func TestFsyncBeforeEveryAck(t *testing.T) {
	strace := straceFor(t)
	for _, tc := range []struct {
		name             string
		groupCommit      bool
		clients, perConn int
	}{
		{"sequential", false, 1, 20},
		{"sequential-group-commit", true, 1, 20},
		{"concurrent-group-commit", true, 8, 16},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := initDir(t)
			trace := filepath.Join(t.TempDir(), "strace.out")
			srv := startTraced(t, strace, dir, trace, []string{"KMIPD_GROUP_COMMIT=" + strconv.FormatBool(tc.groupCommit)})

			// Connect everyone first, so handshakes are over before the
			// Creates start.
			conns := make([]*createConn, tc.clients)
			tlsConns := make([]*tls.Conn, tc.clients)
			for i := range conns {
				c, err := tls.Dial("tcp", srv.addr, clientTLS(t, dir))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				tlsConns[i] = c
				conns[i] = &createConn{port: c.LocalAddr().(*net.TCPAddr).Port}
			}
			var wg sync.WaitGroup
			errs := make([]error, tc.clients)
			for i := range conns {
				var reqs [][]byte
				for j := range tc.perConn {
					reqs = append(reqs, rawRequest(t, kmip.OperationCreate, createPayload(fmt.Sprintf("fsync-%d-%d", i, j))))
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					errs[i] = runCreates(tlsConns[i], reqs, conns[i])
				}()
			}
			wg.Wait()
			for i, err := range errs {
				if err != nil {
					t.Fatalf("client %d: %v", i, err)
				}
			}
			// SIGKILL with the connections open: nothing more is written on
			// them, so their last write bursts are the responses.
			if err := srv.cmd.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			select {
			case <-srv.done:
			case <-time.After(30 * time.Second):
				t.Fatal("server or strace still running 30s after SIGKILL")
			}

			// strace names files by their resolved path.
			real, err := filepath.EvalSymlinks(dir)
			if err != nil {
				t.Fatal(err)
			}
			dbPath := filepath.Join(real, "kmipd.db")
			fig := checkSyncedAcks(t, parseTrace(t, trace), dbPath, conns)
			t.Logf("%d acknowledged Creates from %d clients; %s: %d writes, %d fsync/fdatasync, %d commits; acknowledged in %d verified commit groups (largest %d)",
				fig.acks, tc.clients, filepath.Base(dbPath), fig.dbWrites, fig.dbSyncs, fig.commits, fig.groups, fig.maxGroup)
			if want := tc.clients * tc.perConn; fig.acks != want {
				t.Errorf("checked %d acknowledgements, want %d", fig.acks, want)
			}
			if fig.dbSyncs < fig.groups {
				t.Errorf("%d syncs of the store for %d commit groups", fig.dbSyncs, fig.groups)
			}
			if tc.clients == 1 && fig.dbSyncs < fig.acks {
				t.Errorf("%d syncs of the store for %d sequential acknowledged Creates", fig.dbSyncs, fig.acks)
			}
		})
	}
}
