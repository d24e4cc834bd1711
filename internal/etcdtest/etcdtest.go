// Package etcdtest runs real etcd clusters for tests: n members of the etcd
// binary on free loopback ports, each with its own data directory.
//
// The binary is $ETCD_BIN, or etcd on PATH. Start skips the test when it is
// missing, and fails it when the environment variable CI is "true".
package etcdtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// HealthyTimeout bounds the wait for a started or restarted cluster to
// answer on every member (measured: up to 3 s on two cores).
var HealthyTimeout = 30 * time.Second

// ErrNoBinary is returned by Launch when no etcd binary is found.
var ErrNoBinary = errors.New("etcdtest: no etcd binary ($ETCD_BIN or etcd on PATH)")

// Cluster is a running etcd cluster. Its methods are safe for concurrent use.
type Cluster struct {
	bin     string
	dir     string
	token   string
	initial string // --initial-cluster

	mu      sync.Mutex
	members []*member
}

type member struct {
	name, client, peer, data, log string
	cmd                           *exec.Cmd
	done                          chan struct{} // closed when the process has exited
}

// Binary returns the etcd binary to run, or "" if there is none.
func Binary() string {
	if b := os.Getenv("ETCD_BIN"); b != "" {
		return b
	}
	b, _ := exec.LookPath("etcd")
	return b
}

// Start starts an n-member cluster with its data under t.TempDir() and
// waits until every member is healthy. The members are killed when the test
// ends.
func Start(t testing.TB, n int) *Cluster {
	t.Helper()
	c, err := Launch(t.TempDir(), n)
	if errors.Is(err, ErrNoBinary) {
		if os.Getenv("CI") == "true" {
			t.Fatal(err)
		}
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Stop)
	return c
}

// Launch is Start for callers without a testing.TB (TestMain): the caller
// must call Stop.
func Launch(dir string, n int) (*Cluster, error) {
	bin := Binary()
	if bin == "" {
		return nil, ErrNoBinary
	}
	if n < 1 {
		return nil, fmt.Errorf("etcdtest: %d members", n)
	}
	c := &Cluster{bin: bin, dir: dir, token: fmt.Sprintf("kmipd-test-%d", time.Now().UnixNano())}
	ports, err := freePorts(2 * n)
	if err != nil {
		return nil, err
	}
	var initial []string
	for i := range n {
		m := &member{
			name:   fmt.Sprintf("m%d", i+1),
			client: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
			peer:   fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
		}
		m.data = filepath.Join(dir, m.name)
		m.log = filepath.Join(dir, m.name+".log")
		c.members = append(c.members, m)
		initial = append(initial, m.name+"="+m.peer)
	}
	c.initial = strings.Join(initial, ",")
	for i := range c.members {
		if err := c.launch(i, "new"); err != nil {
			c.Stop()
			return nil, err
		}
	}
	if err := c.WaitHealthy(HealthyTimeout); err != nil {
		c.Stop()
		return nil, err
	}
	return c, nil
}

// freePorts reserves n loopback ports by listening and closing at once.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	ports := make([]int, n)
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ls = append(ls, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports, nil
}

func (c *Cluster) launch(i int, state string) error {
	m := c.members[i]
	logf, err := os.OpenFile(m.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(c.bin,
		"--name", m.name, "--data-dir", m.data,
		"--listen-client-urls", m.client, "--advertise-client-urls", m.client,
		"--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer,
		"--initial-cluster", c.initial, "--initial-cluster-token", c.token,
		"--initial-cluster-state", state, "--logger", "zap", "--log-outputs", "stderr")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("etcdtest: start %s: %w", m.name, err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	c.mu.Lock()
	m.cmd, m.done = cmd, done
	c.mu.Unlock()
	return nil
}

// Endpoints returns the client URLs of all members, in member order.
func (c *Cluster) Endpoints() []string {
	out := make([]string, len(c.members))
	for i, m := range c.members {
		out[i] = m.client
	}
	return out
}

// Endpoint returns member i's client URL.
func (c *Cluster) Endpoint(i int) string { return c.members[i].client }

// Size returns the number of members.
func (c *Cluster) Size() int { return len(c.members) }

// running reports whether member i's process is alive.
func (c *Cluster) running(i int) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := c.members[i]
	if m.done == nil {
		return false
	}
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// status asks member i alone for its status.
func (c *Cluster) status(i int, timeout time.Duration) (*clientv3.StatusResponse, error) {
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{c.members[i].client}, DialTimeout: timeout, Logger: zap.NewNop()})
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	st, err := cli.Status(ctx, c.members[i].client)
	if err != nil {
		return nil, err
	}
	// A linearizable read proves the member is part of a working quorum.
	if _, err := cli.Get(ctx, "etcdtest-health"); err != nil {
		return nil, err
	}
	return st, nil
}

// WaitHealthy polls every running member until each answers a linearizable
// read and knows a leader, or timeout passes.
func (c *Cluster) WaitHealthy(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for i := range c.members {
		for {
			if !c.running(i) {
				break
			}
			st, err := c.status(i, time.Second)
			if err == nil && st.Leader != 0 {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("etcdtest: member %s not healthy after %v: %v\n%s", c.members[i].name, timeout, err, c.logTail(i))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return nil
}

// Leader returns the index of the current leader, or -1 if no running
// member reports one.
func (c *Cluster) Leader() int {
	for i := range c.members {
		if !c.running(i) {
			continue
		}
		st, err := c.status(i, time.Second)
		if err != nil || st.Leader == 0 {
			continue
		}
		for j := range c.members {
			if !c.running(j) {
				continue
			}
			if sj, err := c.status(j, time.Second); err == nil && sj.Header.MemberId == st.Leader {
				return j
			}
		}
	}
	return -1
}

// Kill sends SIGKILL to member i and waits for it to exit.
func (c *Cluster) Kill(i int) {
	c.mu.Lock()
	m := c.members[i]
	cmd, done := m.cmd, m.done
	c.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Restart starts a killed member i again on its data directory
// (--initial-cluster-state existing) and waits until the cluster is healthy.
func (c *Cluster) Restart(i int) error {
	if c.running(i) {
		return fmt.Errorf("etcdtest: member %s is running", c.members[i].name)
	}
	if err := c.launch(i, "existing"); err != nil {
		return err
	}
	return c.WaitHealthy(HealthyTimeout)
}

// Stop kills every member and waits for them to exit.
func (c *Cluster) Stop() {
	for i := range c.members {
		c.Kill(i)
	}
}

// logTail returns the end of member i's log, for failure messages.
func (c *Cluster) logTail(i int) string {
	b, _ := os.ReadFile(c.members[i].log)
	if len(b) > 4096 {
		b = b[len(b)-4096:]
	}
	return string(bytes.TrimSpace(b))
}
