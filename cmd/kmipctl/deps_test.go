package main

import (
	"os/exec"
	"strings"
	"testing"
)

// Ensure that kmipctl, a client, speaks the protocol layer only: it must not
// link the server's object model, operations, store or key backends.
func TestDeps_ProtocolOnly(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		for _, server := range []string{"/objects", "/lifecycle", "/store", "/hsm"} {
			if strings.HasPrefix(dep, "github.com/kmipd/kmipd") && strings.Contains(dep, server) {
				t.Errorf("kmipctl depends on %s", dep)
			}
		}
	}
}
