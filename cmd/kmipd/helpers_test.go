package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Environment of the re-executed test binary (see TestHelperServeProcess).
const (
	envServeDir  = "KMIPD_TEST_SERVE_DIR"  // run `kmipd serve --dir` on it
	envServeArgs = "KMIPD_TEST_SERVE_ARGS" // JSON array of further serve arguments
	envParentPID = "KMIPD_TEST_PARENT_PID" // exit when this process goes away
)

// servingMsg is the start of the log message serve writes once it listens.
const servingMsg = "kmipd serving"

// TestHelperServeProcess is not a test: the tests re-execute the test binary
// with envServeDir set to get a real kmipd server process, which they can
// SIGKILL or SIGTERM. It runs main() with os.Args set to
// `kmipd serve --dir DIR ARGS...` and exits with main's status.
func TestHelperServeProcess(t *testing.T) {
	dir := os.Getenv(envServeDir)
	if dir == "" {
		t.Skip("helper process for the tests that run kmipd serve as a child process")
	}
	var extra []string
	if s := os.Getenv(envServeArgs); s != "" {
		if err := json.Unmarshal([]byte(s), &extra); err != nil {
			fmt.Fprintln(os.Stderr, "bad", envServeArgs, err)
			os.Exit(2)
		}
	}
	// Do not outlive the test that started us.
	if ppid, err := strconv.Atoi(os.Getenv(envParentPID)); err == nil {
		go func() {
			for range time.Tick(200 * time.Millisecond) {
				if os.Getppid() != ppid {
					os.Exit(3)
				}
			}
		}()
	}
	os.Args = append([]string{"kmipd", "serve", "--dir", dir}, extra...)
	main() // exits 1 on error
	os.Exit(0)
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// serverProcess is a `kmipd serve` child process.
type serverProcess struct {
	cmd    *exec.Cmd
	addr   string        // bound address, from the "kmipd serving" log line
	stderr *lockedBuffer // everything the process wrote to stderr
	done   chan struct{} // closed when the process has exited
	err    error         // cmd.Wait's result, valid after done
}

// startServer starts `kmipd serve --dir dir args...` as a child process
// (default args: --addr 127.0.0.1:0) with the given extra environment, and
// waits until it listens. The child runs in another working directory, so
// the relative paths of the config must be resolved against dir.
func startServer(t *testing.T, dir string, env []string, args ...string) *serverProcess {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("needs POSIX signals")
	}
	if len(args) == 0 {
		args = []string{"--addr", "127.0.0.1:0"}
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^TestHelperServeProcess$")
	return runServerProcess(t, cmd, "kmipd serve", 20*time.Second, dir, env, args)
}

// runServerProcess starts cmd, which runs this test binary's
// TestHelperServeProcess (directly or through a wrapper such as strace),
// as `kmipd serve --dir dir args...` with the given extra environment, in
// another working directory, and waits up to timeout until it listens.
// what names the process in failure messages. p.done is closed once cmd
// has exited and its stderr pipe is closed.
func runServerProcess(t *testing.T, cmd *exec.Cmd, what string, timeout time.Duration, dir string, env, args []string) *serverProcess {
	t.Helper()
	argJSON, _ := json.Marshal(args)
	cmd.Dir = t.TempDir()
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "KMIPD_") { // keep the parent's settings out
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(cmd.Env,
		envServeDir+"="+dir,
		envServeArgs+"="+string(argJSON),
		envParentPID+"="+strconv.Itoa(os.Getpid()),
		"KMIPD_LOG_FORMAT=json",
		// A race-enabled child would otherwise sleep 1s before exiting.
		"GORACE="+strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"),
	)
	cmd.Env = append(cmd.Env, env...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	p := &serverProcess{cmd: cmd, stderr: new(lockedBuffer), done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addrc := make(chan string, 1)
	scanned := make(chan struct{})
	go func() {
		defer close(scanned)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			line := sc.Bytes()
			p.stderr.Write(append(append([]byte(nil), line...), '\n'))
			var rec struct {
				Message string `json:"message"`
				Addr    string `json:"addr"`
			}
			if json.Unmarshal(line, &rec) == nil && strings.HasPrefix(rec.Message, servingMsg) {
				select {
				case addrc <- rec.Addr:
				default:
				}
			}
		}
		_, _ = io.Copy(p.stderr, stderr)
	}()
	go func() {
		// Wait closes the pipe: read it all first. EOF comes once every
		// process holding the pipe (the server, and a wrapper) has exited.
		<-scanned
		p.err = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("stderr of %s (pid %d):\n%s", what, cmd.Process.Pid, p.stderr)
		}
	})
	select {
	case p.addr = <-addrc:
	case <-p.done:
		t.Fatalf("%s exited before listening: %v\nstderr:\n%s", what, p.err, p.stderr)
	case <-time.After(timeout):
		t.Fatalf("%s did not listen within %ds\nstderr:\n%s", what, int(timeout/time.Second), p.stderr)
	}
	return p
}

// signal sends sig to the process.
func (p *serverProcess) signal(t *testing.T, sig os.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatalf("signal %v: %v", sig, err)
	}
}

// wait waits up to timeout for the process to exit and returns its wait
// status; it fails the test on timeout.
func (p *serverProcess) wait(t *testing.T, timeout time.Duration) syscall.WaitStatus {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("kmipd serve (pid %d) still running after %v\nstderr:\n%s", p.cmd.Process.Pid, timeout, p.stderr)
	}
	ws, ok := p.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if !ok {
		t.Fatalf("no wait status: %v", p.err)
	}
	return ws
}

// stop sends SIGTERM and requires exit status 0 within 10 seconds.
func (p *serverProcess) stop(t *testing.T) {
	t.Helper()
	p.signal(t, syscall.SIGTERM)
	if ws := p.wait(t, 10*time.Second); !ws.Exited() || ws.ExitStatus() != 0 {
		t.Fatalf("kmipd serve after SIGTERM: %v, want exit status 0\nstderr:\n%s", p.err, p.stderr)
	}
}

// initDir runs `kmipd init --dir DIR args...` in a new directory and returns
// DIR.
func initDir(t *testing.T, args ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "kmipd")
	if _, err := runCLI(append([]string{"init", "--dir", dir}, args...)...); err != nil {
		t.Fatalf("kmipd init: %v", err)
	}
	return dir
}

// runCLI runs the kmipd command line in-process and returns its stdout.
func runCLI(args ...string) (string, error) {
	root := newRootCmd()
	var out bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.Execute()
	return out.String(), err
}

// clientTLS is the TLS configuration of the dev client certificate in
// DIR/pki.
func clientTLS(t *testing.T, dir string) *tls.Config {
	t.Helper()
	pkiDir := filepath.Join(dir, "pki")
	cert, err := tls.LoadX509KeyPair(filepath.Join(pkiDir, "client.crt"), filepath.Join(pkiDir, "client.key"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(pkiDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("no CA certificate in ca.crt")
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, ServerName: "127.0.0.1"}
}

// dialKMIP connects a KMIP 2.0 client with the dev client certificate.
func dialKMIP(t *testing.T, dir, addr string) *kmip.Client {
	t.Helper()
	c, err := kmip.Dial(addr, clientTLS(t, dir))
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	c.Version = kmip.V2_0
	c.Timeout = 10 * time.Second
	t.Cleanup(func() { c.Close() })
	return c
}

// createPayload is a KMIP 2.0 Create of an AES-256 key named name.
func createPayload(name string) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		b.Begin(ttlv.TagAttributes)
		b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES))
		b.AddInt32(ttlv.TagCryptographicLength, 256)
		b.AddInt32(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskEncrypt|kmip.CryptographicUsageMaskDecrypt))
		b.Begin(ttlv.TagName)
		b.AddText(ttlv.TagNameValue, name)
		b.AddEnum(ttlv.TagNameType, uint32(kmip.NameTypeUninterpretedTextString))
		b.End()
		b.End()
	}
}

// byID is a payload holding only a Unique Identifier.
func byID(id string) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, id) }
}

// createKey creates an AES-256 key named name and returns its Unique
// Identifier. A transport error is returned as is, a KMIP failure as a
// *kmip.Error.
func createKey(c *kmip.Client, name string) (string, error) {
	_, it, err := c.Do(kmip.OperationCreate, createPayload(name))
	if err != nil {
		return "", err
	}
	return createdID(it)
}

// createdID reads the Unique Identifier of a Create response item.
func createdID(it *kmip.ResponseItem) (string, error) {
	p := it.Payload
	var ot uint32
	var id []byte
	if !p.ReadEnum(ttlv.TagObjectType, &ot) || !p.ReadText(ttlv.TagUniqueIdentifier, &id) || len(id) == 0 {
		return "", fmt.Errorf("malformed Create response: %s", ttlv.Format(it.Payload))
	}
	if kmip.ObjectType(ot) != kmip.ObjectTypeSymmetricKey {
		return "", fmt.Errorf("Create returned object type %v", kmip.ObjectType(ot))
	}
	return string(id), nil
}

// getMaterial runs Get on id and returns the object type, the Key Format
// Type and the Key Material of the object's Key Block (raw bytes).
func getMaterial(c *kmip.Client, id string) (kmip.ObjectType, kmip.KeyFormatType, []byte, error) {
	_, it, err := c.Do(kmip.OperationGet, byID(id))
	if err != nil {
		return 0, 0, nil, err
	}
	p := it.Payload
	var ot, kft uint32
	var uid, key []byte
	var obj, kb, kv ttlv.Value
	if !p.ReadEnum(ttlv.TagObjectType, &ot) || !p.ReadText(ttlv.TagUniqueIdentifier, &uid) {
		return 0, 0, nil, fmt.Errorf("malformed Get response: %s", ttlv.Format(it.Payload))
	}
	if string(uid) != id {
		return 0, 0, nil, fmt.Errorf("Get %s answered for %s", id, uid)
	}
	objItem, ok := p.Next()
	if !ok || objItem.Type != ttlv.TypeStructure {
		return 0, 0, nil, fmt.Errorf("Get response without object: %s", ttlv.Format(it.Payload))
	}
	obj = objItem.Children()
	if kmip.ObjectType(ot) == kmip.ObjectTypeSecretData {
		var sdt uint32
		if !obj.ReadEnum(ttlv.TagSecretDataType, &sdt) {
			return 0, 0, nil, fmt.Errorf("Secret Data without type: %s", ttlv.Format(it.Payload))
		}
	}
	if !obj.ReadStructure(ttlv.TagKeyBlock, &kb) || !kb.ReadEnum(ttlv.TagKeyFormatType, &kft) ||
		!kb.ReadStructure(ttlv.TagKeyValue, &kv) || !kv.ReadBytes(ttlv.TagKeyMaterial, &key) {
		return 0, 0, nil, fmt.Errorf("Get response without raw key material: %s", ttlv.Format(it.Payload))
	}
	return kmip.ObjectType(ot), kmip.KeyFormatType(kft), append([]byte(nil), key...), nil
}

// getKey returns the key material of symmetric key id, in Raw format.
func getKey(c *kmip.Client, id string) ([]byte, error) {
	ot, kft, key, err := getMaterial(c, id)
	if err != nil {
		return nil, err
	}
	if ot != kmip.ObjectTypeSymmetricKey || kft != kmip.KeyFormatTypeRaw {
		return nil, fmt.Errorf("Get %s: %v in format %v, want a Raw symmetric key", id, ot, kft)
	}
	return key, nil
}

// keyAttrs are the attributes the durability tests check.
type keyAttrs struct {
	Name      string
	Algorithm kmip.CryptographicAlgorithm
	Length    int32
	State     kmip.State
}

// getAttrs runs a KMIP 2.0 Get Attributes (all attributes) on id.
func getAttrs(c *kmip.Client, id string) (keyAttrs, error) {
	var a keyAttrs
	_, it, err := c.Do(kmip.OperationGetAttributes, byID(id))
	if err != nil {
		return a, err
	}
	p := it.Payload
	var uid []byte
	var as ttlv.Value
	if !p.ReadText(ttlv.TagUniqueIdentifier, &uid) || string(uid) != id || !p.ReadStructure(ttlv.TagAttributes, &as) {
		return a, fmt.Errorf("malformed Get Attributes response for %s: %s", id, ttlv.Format(it.Payload))
	}
	for !as.Empty() {
		item, _ := as.Next()
		switch item.Tag {
		case ttlv.TagName:
			n := item.Children()
			var v []byte
			if n.ReadText(ttlv.TagNameValue, &v) && a.Name == "" {
				a.Name = string(v)
			}
		case ttlv.TagCryptographicAlgorithm:
			a.Algorithm = kmip.CryptographicAlgorithm(item.Uint32())
		case ttlv.TagCryptographicLength:
			a.Length = item.Int32()
		case ttlv.TagState:
			a.State = kmip.State(item.Uint32())
		}
	}
	return a, nil
}

// isKMIPError reports whether err is a failure the server answered with (as
// opposed to a transport error).
func isKMIPError(err error) bool {
	var ke *kmip.Error
	return errors.As(err, &ke)
}

// freePort returns a loopback address that was free a moment ago.
func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// inProcessServer is serve() running in this process.
type inProcessServer struct {
	addr   string
	logs   *lockedBuffer
	cancel context.CancelFunc
	done   chan error
	err    error
	exited bool
}

// serveInProcess runs serve(ctx, cfg, logs, ready) until stop or the end of
// the test; cfg.Listen should be a :0 address.
func serveInProcess(t *testing.T, cfg *Config) *inProcessServer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &inProcessServer{logs: new(lockedBuffer), cancel: cancel, done: make(chan error, 1)}
	ready := make(chan net.Addr, 1)
	go func() { s.done <- serve(ctx, cfg, s.logs, ready) }()
	t.Cleanup(func() { s.stop() })
	select {
	case a := <-ready:
		s.addr = a.String()
	case err := <-s.done:
		s.exited, s.err = true, err
		t.Fatalf("serve: %v\nlogs:\n%s", err, s.logs)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not listen within 20s")
	}
	return s
}

// stop cancels serve's context and returns what serve returned.
func (s *inProcessServer) stop() error {
	if !s.exited {
		s.cancel()
		s.err = <-s.done
		s.exited = true
	}
	return s.err
}
