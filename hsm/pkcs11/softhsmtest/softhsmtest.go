// Package softhsmtest gives a test process a private SoftHSM2 token
// directory, so that tests of the PKCS#11 backend never touch the system's
// tokens and never share state with another test process.
//
// Setup must run before the PKCS#11 module is initialised in the process
// (SoftHSM reads SOFTHSM2_CONF at C_Initialize and does not see tokens
// created afterwards until it is initialised again), typically from
// TestMain or a sync.Once. Child processes inherit SOFTHSM2_CONF.
//
// When SoftHSM is not installed, tests skip, except when the environment
// variable CI is set: there a missing module fails the test, so that a
// broken install step cannot turn the PKCS#11 tests into silent skips.
package softhsmtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// PINs of every token Setup initialises.
const (
	UserPIN = "1234"
	SOPIN   = "5678"
)

// modulePaths are where Debian and others install SoftHSM2's module.
var modulePaths = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib64/pkcs11/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
	"/opt/homebrew/lib/softhsm/libsofthsm2.so",
}

// Module returns the path of the SoftHSM2 module: $SOFTHSM2_MODULE if set,
// else the first of the usual install locations that exists.
func Module() (string, error) {
	if p := os.Getenv("SOFTHSM2_MODULE"); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("SOFTHSM2_MODULE: %w", err)
		}
		return p, nil
	}
	for _, p := range modulePaths {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("SoftHSM2 module libsofthsm2.so not found (apt-get install softhsm2)")
}

// Env is a private SoftHSM2 set-up.
type Env struct {
	Dir    string // holds softhsm2.conf and tokens/
	Conf   string // path of softhsm2.conf, also in $SOFTHSM2_CONF
	Module string
	tokens map[string]string // label → token directory
}

// Setup creates a private token directory in a new temporary directory,
// sets SOFTHSM2_CONF to it, and initialises one token per label with
// UserPIN and SOPIN.
func Setup(labels ...string) (*Env, error) {
	mod, err := Module()
	if err != nil {
		return nil, err
	}
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		return nil, fmt.Errorf("softhsm2-util not found (apt-get install softhsm2): %w", err)
	}
	dir, err := os.MkdirTemp("", "kmipd-softhsm-")
	if err != nil {
		return nil, err
	}
	e := &Env{Dir: dir, Conf: filepath.Join(dir, "softhsm2.conf"), Module: mod, tokens: map[string]string{}}
	tokens := filepath.Join(dir, "tokens")
	conf := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n"
	if err := os.Mkdir(tokens, 0o700); err != nil {
		e.Close()
		return nil, err
	}
	if err := os.WriteFile(e.Conf, []byte(conf), 0o600); err != nil {
		e.Close()
		return nil, err
	}
	os.Setenv("SOFTHSM2_CONF", e.Conf)
	for _, l := range labels {
		before, _ := os.ReadDir(tokens)
		cmd := exec.Command(util, "--init-token", "--free", "--label", l, "--pin", UserPIN, "--so-pin", SOPIN)
		cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+e.Conf)
		if out, err := cmd.CombinedOutput(); err != nil {
			e.Close()
			return nil, fmt.Errorf("softhsm2-util --init-token --label %s: %v\n%s", l, err, bytes.TrimSpace(out))
		}
		after, _ := os.ReadDir(tokens)
		seen := map[string]bool{}
		for _, d := range before {
			seen[d.Name()] = true
		}
		for _, d := range after {
			if !seen[d.Name()] {
				e.tokens[l] = filepath.Join(tokens, d.Name())
			}
		}
	}
	return e, nil
}

// TokenDir returns the directory holding the files of the token labelled
// label (delete it to simulate a token removed at run time).
func (e *Env) TokenDir(label string) string { return e.tokens[label] }

// Close removes the directory.
func (e *Env) Close() { os.RemoveAll(e.Dir) }

// Unavailable skips t because SoftHSM could not be set up (err), or fails
// it when the environment variable CI is set.
func Unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("CI") != "" {
		t.Fatalf("SoftHSM2 is required in CI (.ci/run installs softhsm2): %v", err)
	}
	t.Skipf("SoftHSM2 not available, skipping the PKCS#11 tests: %v", err)
}
