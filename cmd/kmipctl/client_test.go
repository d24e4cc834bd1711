package main

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/lifecycle/lifecycletest"
)

// ctlEnv is a real kmipd service behind a mutual-TLS server, and the PEM
// files kmipctl needs to reach it as the admin.
type ctlEnv struct {
	t    *testing.T
	addr string
	pki  string // ca.crt, client.crt, client.key
	in   string // standard input of the next run
}

func newCtlEnv(t *testing.T) *ctlEnv {
	t.Helper()
	isolateEnv(t)
	le := lifecycletest.New(t, nil)
	p := kmiptest.MustPKI(t, "admin")
	srv := kmiptest.Start(t, p, le.Service)
	return &ctlEnv{t: t, addr: srv.Addr, pki: writePKI(t, p)}
}

// isolateEnv keeps the developer's config file and KMIPCTL_* variables
// out of a test.
func isolateEnv(t *testing.T) {
	t.Helper()
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	for _, v := range []string{"KMIPCTL_SERVER", "KMIPCTL_CA", "KMIPCTL_CERT", "KMIPCTL_KEY", "KMIPCTL_VERSION", "KMIPCTL_OUTPUT", "KMIPCTL_CONFIG"} {
		t.Setenv(v, "")
	}
}

func (e *ctlEnv) connArgs() []string {
	return []string{"--server", e.addr, "--ca", filepath.Join(e.pki, "ca.crt"),
		"--cert", filepath.Join(e.pki, "client.crt"), "--key", filepath.Join(e.pki, "client.key")}
}

// run runs kmipctl with the connection flags and args as main does, and
// returns its outputs and exit status.
func (e *ctlEnv) run(args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	return runCtl(e.in, append(e.connArgs(), args...)...)
}

// runCtl runs kmipctl with args as main does.
func runCtl(stdin string, args ...string) (stdout, stderr string, code int) {
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetIn(strings.NewReader(stdin))
	root.SetArgs(args)
	err := root.Execute()
	if err != nil {
		fmt.Fprintln(&errOut, "kmipctl:", err)
	}
	return out.String(), errOut.String(), exitCode(err)
}

// ok runs kmipctl and fails the test unless it succeeds.
func (e *ctlEnv) ok(args ...string) string {
	e.t.Helper()
	out, errOut, code := e.run(args...)
	if code != 0 {
		e.t.Fatalf("kmipctl %s: exit %d\n%s%s", strings.Join(args, " "), code, out, errOut)
	}
	return out
}

// json runs kmipctl -o json and decodes its output into v.
func (e *ctlEnv) json(v any, args ...string) {
	e.t.Helper()
	out := e.ok(append(args, "-o", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		e.t.Fatalf("kmipctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// create makes an AES-256 key and returns its identifier.
func (e *ctlEnv) create(args ...string) string {
	e.t.Helper()
	var res createdJSON
	e.json(&res, append([]string{"create"}, args...)...)
	if res.ID == "" || res.ObjectType != "SymmetricKey" {
		e.t.Fatalf("create: %+v", res)
	}
	return res.ID
}

// attr returns the value of the named attribute (the first instance) as
// attrs get -o json shows it, and whether it is there.
func (e *ctlEnv) attr(id, name string, extra ...string) (any, bool) {
	e.t.Helper()
	var res attrsJSON
	e.json(&res, append([]string{"attrs", "get", id}, extra...)...)
	if res.ID != id {
		e.t.Fatalf("attrs get returned id %q", res.ID)
	}
	for _, a := range res.Attributes {
		if a.Name == name {
			return a.Value, true
		}
	}
	return nil, false
}

func (e *ctlEnv) state(id string, extra ...string) string {
	e.t.Helper()
	v, ok := e.attr(id, "State", extra...)
	if !ok {
		e.t.Fatalf("%s has no State", id)
	}
	return fmt.Sprint(v)
}

// supports reports whether the server lists op in Query Operations.
func (e *ctlEnv) supports(op string) bool {
	e.t.Helper()
	var q queryJSON
	e.json(&q, "query", "--functions", "operations")
	return slices.Contains(q.Operations, op)
}

// Ensure that a key goes through its lifecycle with kmipctl, every step
// visible in JSON output: create, get, attrs get, locate, activate,
// revoke, destroy.
func TestClient_KeyLifecycle(t *testing.T) {
	e := newCtlEnv(t)
	id := e.create("--alg", "AES", "--length", "256", "--name", "life-1", "--usage", "encrypt,decrypt",
		"--group", "payments", "--attr", "x-team=ops", "--attr", "ContactInformation=ops@example.com")

	var g getJSON
	e.json(&g, "get", id)
	if key, err := hex.DecodeString(g.KeyHex); err != nil || len(key) != 32 {
		t.Fatalf("get: key_hex %q (%v)", g.KeyHex, err)
	}
	if g.ID != id || g.ObjectType != "SymmetricKey" || g.Algorithm != "AES" || g.Length != 256 || g.KeyFormat != "Raw" {
		t.Fatalf("get: %+v", g)
	}

	if st := e.state(id); st != "PreActive" {
		t.Fatalf("new key state %s", st)
	}
	for name, want := range map[string]string{
		"CryptographicUsageMask": "Encrypt|Decrypt",
		"ObjectGroup":            "payments",
		"x-team":                 "ops",
		"ContactInformation":     "ops@example.com",
		"Name":                   "map[NameType:UninterpretedTextString NameValue:life-1]",
	} {
		if v, ok := e.attr(id, name); !ok || fmt.Sprint(v) != want {
			t.Errorf("attribute %s = %v, want %s", name, v, want)
		}
	}
	// Asking for some attributes returns those only.
	var some attrsJSON
	e.json(&some, "attrs", "get", id, "state", "x-team")
	if len(some.Attributes) != 2 {
		t.Fatalf("attrs get state x-team: %+v", some)
	}

	other := e.create("--name", "life-2")
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"--name", "life-1"}, []string{id}},
		{[]string{"--group", "payments"}, []string{id}},
		{[]string{"--attr", "x-team=ops"}, []string{id}},
		{[]string{"--type", "symmetric", "--state", "pre-active", "--alg", "aes", "--length", "256"}, []string{other, id}},
		{[]string{"--max", "1"}, []string{other}},
		{[]string{"--max", "1", "--offset", "1"}, []string{id}},
		{[]string{"--name", "nothing-has-this"}, []string{}},
	} {
		var l locateJSON
		e.json(&l, append([]string{"locate"}, tc.args...)...)
		if !slices.Equal(l.IDs, tc.want) || l.Count != len(tc.want) {
			t.Errorf("locate %v: %+v, want %v", tc.args, l, tc.want)
		}
	}
	// Table output of locate is one identifier a line.
	if out := e.ok("locate", "--name", "life-1"); out != id+"\n" {
		t.Errorf("locate table output %q", out)
	}

	var st stateJSON
	e.json(&st, "activate", id)
	if st.ID != id || st.Operation != "Activate" {
		t.Fatalf("activate: %+v", st)
	}
	if s := e.state(id); s != "Active" {
		t.Fatalf("after activate: %s", s)
	}
	// An active key cannot be destroyed: a KMIP failure, exit status 4.
	_, errOut, code := e.run("destroy", id)
	if code != 4 || !strings.Contains(errOut, "destroy "+id+": wrong key lifecycle state (KMIP WrongKeyLifecycleState)") {
		t.Fatalf("destroy active key: exit %d, %s", code, errOut)
	}
	e.json(&st, "revoke", id, "--reason", "superseded", "--message", "rotated")
	if s := e.state(id); s != "Deactivated" {
		t.Fatalf("after revoke: %s", s)
	}
	if v, _ := e.attr(id, "RevocationReason"); fmt.Sprint(v) != "map[RevocationMessage:rotated RevocationReasonCode:Superseded]" {
		t.Errorf("revocation reason %v", v)
	}
	e.json(&st, "destroy", id)
	if s := e.state(id); s != "Destroyed" {
		t.Fatalf("after destroy: %s", s)
	}
	_, errOut, code = e.run("get", id)
	if code != 4 || !strings.Contains(errOut, "KMIP ObjectDestroyed") {
		t.Fatalf("get destroyed key: exit %d, %s", code, errOut)
	}
	// Destroyed objects are located only on request.
	var l locateJSON
	e.json(&l, "locate", "--name", "life-1")
	if l.Count != 0 {
		t.Errorf("destroyed key located: %v", l.IDs)
	}
	e.json(&l, "locate", "--name", "life-1", "--destroyed")
	if !slices.Equal(l.IDs, []string{id}) {
		t.Errorf("locate --destroyed: %v", l.IDs)
	}
}

// Ensure that the table output shows what the JSON does.
func TestClient_TableOutput(t *testing.T) {
	e := newCtlEnv(t)
	out := e.ok("create", "--name", "tab")
	fields := strings.Fields(out)
	if len(fields) != 4 || fields[0] != "id" || fields[2] != "object_type" || fields[3] != "SymmetricKey" {
		t.Fatalf("create table output %q", out)
	}
	id := fields[1]
	out = e.ok("get", id)
	if !strings.Contains(out, "key_hex") || !strings.Contains(out, "AES") {
		t.Errorf("get table output %q", out)
	}
	out = e.ok("attrs", "get", id)
	for _, want := range []string{"ATTRIBUTE", "State", "PreActive", "Name", "NameValue=tab, NameType=UninterpretedTextString"} {
		if !strings.Contains(out, want) {
			t.Errorf("attrs get table output lacks %q:\n%s", want, out)
		}
	}
}

// Ensure that every command speaks KMIP 1.x too (Template-Attribute,
// Attribute Name, Item Not Found).
func TestClient_Versions(t *testing.T) {
	e := newCtlEnv(t)
	for _, v := range []string{"1.2", "1.4", "2.0", "2.1"} {
		t.Run(v, func(t *testing.T) {
			e.t = t
			id := e.create("--version", v, "--name", "ver-"+v, "--attr", "x-ver="+v)
			var g getJSON
			e.json(&g, "get", id, "--version", v)
			if len(g.KeyHex) != 64 {
				t.Fatalf("get: %+v", g)
			}
			if val, ok := e.attr(id, "x-ver", "--version", v); !ok || val != v {
				t.Errorf("x-ver = %v", val)
			}
			var l locateJSON
			e.json(&l, "locate", "--name", "ver-"+v, "--version", v)
			if !slices.Equal(l.IDs, []string{id}) {
				t.Errorf("locate: %+v", l)
			}
			e.ok("activate", id, "--version", v)
			e.ok("revoke", id, "--reason", "cessation", "--version", v)
			e.ok("destroy", id, "--version", v)
			if s := e.state(id, "--version", v); s != "Destroyed" {
				t.Errorf("state %s", s)
			}
			_, errOut, code := e.run("get", "no-such-key", "--version", v)
			if code != 5 {
				t.Errorf("get unknown: exit %d %s", code, errOut)
			}
		})
	}
}

func jsonUnmarshal(s string, v any) error { return json.Unmarshal([]byte(s), v) }
