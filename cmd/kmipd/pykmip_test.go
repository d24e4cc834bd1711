package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// startDevServer runs `kmipd init` and `kmipd serve` in-process on a free
// loopback port and returns the directory and address.
func startDevServer(t *testing.T) (string, string) {
	t.Helper()
	dir := t.TempDir()
	root := newRootCmd()
	root.SetArgs([]string{"init", "--dir", dir})
	root.SetOut(new(bytes.Buffer))
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	return dir, serveDir(t, dir)
}

// TestPyKMIP drives the server with the real PyKMIP client at KMIP 1.2, 1.4
// and 2.0. PyKMIP is a system package (python3-pykmip); CI installs it.
func TestPyKMIP(t *testing.T) {
	const py = "/usr/bin/python3"
	if err := exec.Command(py, "-c", "import kmip.pie.client").Run(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("PyKMIP missing in CI: %v", err)
		}
		t.Skip("python3-pykmip not installed (apt-get install python3-pykmip)")
	}
	dir, addr := startDevServer(t)
	host, port, _ := net.SplitHostPort(addr)
	script, _ := filepath.Abs("../../testdata/pykmip/lifecycle.py")
	pkiDir := filepath.Join(dir, "pki")
	for _, ver := range []string{"1.2", "1.4", "2.0"} {
		t.Run("KMIP"+ver, func(t *testing.T) {
			cmd := exec.Command(py, script, host, port, filepath.Join(pkiDir, "ca.crt"),
				filepath.Join(pkiDir, "client.crt"), filepath.Join(pkiDir, "client.key"), ver)
			cmd.Dir = os.TempDir() // keep our kmip/ directory off Python's path
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			passed, failed := 0, 0
			sc := bufio.NewScanner(bytes.NewReader(out))
			for sc.Scan() {
				var step struct {
					Step   string `json:"step"`
					OK     bool   `json:"ok"`
					Detail string `json:"detail"`
					Error  string `json:"error"`
				}
				if json.Unmarshal(sc.Bytes(), &step) != nil {
					continue
				}
				if step.OK {
					passed++
					t.Logf("ok   %s", step.Step)
				} else {
					failed++
					t.Errorf("FAIL %s: %s%s", step.Step, step.Detail, step.Error)
				}
			}
			if err != nil || failed > 0 || passed < 14 {
				t.Fatalf("PyKMIP %s: %d steps passed, %d failed, exit %v\nstderr:\n%s", ver, passed, failed, err, stderr.String())
			}
			t.Logf("PyKMIP %s: %d steps passed", ver, passed)
		})
	}
}
