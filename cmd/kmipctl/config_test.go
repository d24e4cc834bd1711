package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Ensure that the config file supplies the connection, version and output
// settings, below flags and environment variables.
func TestConfig_File(t *testing.T) {
	e := newCtlEnv(t)
	// Relative paths are relative to the file: pki/ sits next to it.
	cfg := filepath.Join(filepath.Dir(e.pki), "kmipctl.yaml")
	os.WriteFile(cfg, []byte("server: "+e.addr+"\nca: pki/ca.crt\ncert: pki/client.crt\nkey: pki/client.key\nversion: \"1.4\"\noutput: json\n"), 0o600)

	out, errOut, code := runCtl("", "get", "nope", "--config", cfg)
	// Version 1.4 says Item Not Found; output json gives a JSON error.
	if code != 5 || !strings.Contains(errOut, "KMIP ItemNotFound") || !strings.Contains(out, `"exit_code": 5`) {
		t.Fatalf("exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = runCtl("", "discover-versions", "--config", cfg)
	if code != 0 || !strings.Contains(out, `"versions"`) {
		t.Fatalf("discover-versions: exit %d %s", code, out)
	}
	// Flags win.
	out, _, code = runCtl("", "discover-versions", "--config", cfg, "-o", "table")
	if code != 0 || strings.Contains(out, "{") {
		t.Errorf("-o table: %s", out)
	}
	// So do environment variables, and KMIPCTL_CONFIG names the file.
	t.Setenv("KMIPCTL_OUTPUT", "table")
	t.Setenv("KMIPCTL_CONFIG", cfg)
	out, _, code = runCtl("", "discover-versions")
	if code != 0 || strings.Contains(out, "{") || !strings.Contains(out, "2.1") {
		t.Errorf("KMIPCTL_OUTPUT=table: exit %d %s", code, out)
	}
	t.Setenv("KMIPCTL_OUTPUT", "")
	t.Setenv("KMIPCTL_CONFIG", "")

	// The default file, ~/.config/kmipctl/config.yaml (XDG_CONFIG_HOME).
	xdg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", xdg)
	os.MkdirAll(filepath.Join(xdg, "kmipctl"), 0o700)
	os.WriteFile(filepath.Join(xdg, "kmipctl", "config.yaml"), []byte(
		"server: "+e.addr+"\nca: "+filepath.Join(e.pki, "ca.crt")+"\ncert: "+filepath.Join(e.pki, "client.crt")+
			"\nkey: "+filepath.Join(e.pki, "client.key")+"\n"), 0o600)
	var v versionsJSON
	out, errOut, code = runCtl("", "discover-versions", "-o", "json")
	if code != 0 || jsonUnmarshal(out, &v) != nil || len(v.Versions) == 0 {
		t.Fatalf("default config file: exit %d %s%s", code, out, errOut)
	}
}

// Ensure that a broken config file is a usage error, and that a missing
// default file is not an error.
func TestConfig_Errors(t *testing.T) {
	isolateEnv(t)
	dir := t.TempDir()
	for name, content := range map[string]string{
		"unknown.yaml": "server: a:1\ncolour: blue\n",
		"broken.yaml":  "server: [\n",
		"badout.yaml":  "output: yaml\n",
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(content), 0o600)
		if _, errOut, code := runCtl("", "query", "--config", p); code != 2 {
			t.Errorf("%s: exit %d %s", name, code, errOut)
		}
	}
	if _, errOut, code := runCtl("", "query", "--config", filepath.Join(dir, "missing.yaml")); code != 2 || !strings.Contains(errOut, "config file") {
		t.Errorf("missing --config: exit %d %s", code, errOut)
	}
	// No default file: only the connection fails (nothing on port 1).
	if _, errOut, code := runCtl("", "query", "--server", "127.0.0.1:1"); code != 3 {
		t.Errorf("no config file: exit %d %s", code, errOut)
	}
	// An empty file is fine.
	empty := filepath.Join(dir, "empty.yaml")
	os.WriteFile(empty, nil, 0o600)
	if _, errOut, code := runCtl("", "query", "--config", empty, "--server", "127.0.0.1:1"); code != 3 {
		t.Errorf("empty config file: exit %d %s", code, errOut)
	}
}
