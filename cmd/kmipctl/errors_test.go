package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
)

// requestSuffix is the request id kmipctl appends to a server's failure.
var requestSuffix = regexp.MustCompile(` \[request [0-9a-f]{16}-[0-9]+\]\n$`)

// Ensure that a missing object gives exit status 5 and the message
// "get ID: object not found (KMIP ObjectNotFound) [request RID]", and a
// JSON error document with --output json.
func TestErrors_NotFound(t *testing.T) {
	e := newCtlEnv(t)
	out, errOut, code := e.run("get", "1234")
	if code != 5 || out != "" || !requestSuffix.MatchString(errOut) ||
		requestSuffix.ReplaceAllString(errOut, "") != "kmipctl: get 1234: object not found (KMIP ObjectNotFound)" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	for _, args := range [][]string{
		{"attrs", "get", "1234"}, {"activate", "1234"}, {"revoke", "1234"}, {"destroy", "1234"},
		{"rekey", "1234"}, {"export", "1234"}, {"get", "1234", "--format", "pem"},
		{"attrs", "set", "1234", "ContactInformation", "x"},
	} {
		if _, errOut, code := e.run(args...); code != 5 || !strings.Contains(errOut, " 1234: object not found (KMIP ObjectNotFound)") {
			t.Errorf("%v: exit %d, %s", args, code, errOut)
		}
	}
	out, _, code = e.run("get", "1234", "-o", "json")
	var doc jsonError
	if err := json.Unmarshal([]byte(out), &doc); err != nil || code != 5 {
		t.Fatalf("json error: exit %d, %q", code, out)
	}
	if doc.RequestID == "" || !strings.Contains(doc.Error, "[request "+doc.RequestID+"]") {
		t.Errorf("json error without the request id: %q", out)
	}
	if doc.Reason != "ObjectNotFound" || doc.ExitCode != 5 || doc.Error != "get 1234: object not found (KMIP ObjectNotFound) [request "+doc.RequestID+"]" {
		t.Errorf("json error %+v", doc)
	}
	// KMIP 1.x says Item Not Found.
	_, errOut, code = e.run("get", "1234", "--version", "1.4")
	if code != 5 || !strings.Contains(errOut, "item not found (KMIP ItemNotFound)") {
		t.Errorf("1.4: exit %d, %s", code, errOut)
	}
}

// Ensure that the server's message is kept when it says more than the
// reason, and that KMIP failures exit with status 4.
func TestErrors_KMIPFailure(t *testing.T) {
	e := newCtlEnv(t)
	_, errOut, code := e.run("create", "--length", "100")
	if code != 4 || !strings.HasPrefix(errOut, "kmipctl: create: invalid field (KMIP InvalidField): ") || !strings.Contains(errOut, "100-bit") {
		t.Errorf("exit %d, %s", code, errOut)
	}
	if !strings.Contains(errOut, "AES keys are 128, 192 or 256 bits") {
		t.Errorf("the message does not say which lengths AES takes: %s", errOut)
	}
	// An object's names are distinct (objects may share one by default).
	id := e.create("--name", "dup")
	e.create("--name", "dup")
	_, errOut, code = e.run("attrs", "add", id, "Name", "dup")
	if code != 4 || !strings.Contains(errOut, "(KMIP NonUniqueNameAttribute)") {
		t.Errorf("duplicate name: exit %d, %s", code, errOut)
	}
}

// Ensure that command-line mistakes exit with status 2 before connecting.
func TestErrors_Usage(t *testing.T) {
	e := newCtlEnv(t)
	for _, args := range [][]string{
		{"get"},
		{"get", "a", "b"},
		{"get", "a", "--format", "nonsense"},
		{"create", "--length", "many"},
		{"create", "--nonsense"},
		{"create", "--alg", "rot13"},
		{"create", "--usage", "encrypt,fly"},
		{"create", "--attr", "novalue"},
		{"create", "--attr", "NoSuchAttribute=1"},
		{"create", "--attr", "CryptographicLength=long"},
		{"query", "-o", "yaml"},
		{"query", "--version", "3.0"},
		{"query", "--functions", "everything"},
		{"nosuchcommand"},
		{"locate", "--max", "-1"},
		{"register", "--type", "symmetric"},
		{"revoke", "x", "--reason", "boredom"},
		{"attrs", "set", "x", "Name"},
		{"attrs", "set", "x", "ContactInformation", "me", "--version", "1.4"},
		{"ttlv", "decode", "--in", "morse"},
		{"bench", "--conns", "0"},
		{"bench", "--duration", "1h"},
		{"bench", "--mix", "everything"},
		{"ping", "--count", "0"},
		{"register", "--type", "symmetric", "--file", "/nonexistent/key"},
		{"import", "--file", "/nonexistent/doc.json"},
		{"ttlv", "decode", "/nonexistent/msg.hex"},
	} {
		out, errOut, code := e.run(args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s%s", args, code, out, errOut)
		}
	}
}

// Ensure that connection and TLS failures exit with status 3.
func TestErrors_Connection(t *testing.T) {
	e := newCtlEnv(t)
	// Nothing listens on port 1.
	_, errOut, code := runCtl("", "get", "x", "--server", "127.0.0.1:1", "--ca", filepath.Join(e.pki, "ca.crt"))
	if code != 3 || !strings.Contains(errOut, "get x: connect to 127.0.0.1:1") {
		t.Errorf("refused: exit %d, %s", code, errOut)
	}
	// A server certificate from another CA.
	other := writePKI(t, kmiptest.MustPKI(t))
	_, errOut, code = runCtl("", "get", "x", "--server", e.addr, "--ca", filepath.Join(other, "ca.crt"),
		"--cert", filepath.Join(e.pki, "client.crt"), "--key", filepath.Join(e.pki, "client.key"))
	if code != 3 || !strings.Contains(errOut, "certificate") {
		t.Errorf("unknown CA: exit %d, %s", code, errOut)
	}
	// A client certificate the server does not trust.
	_, errOut, code = runCtl("", "get", "x", "--server", e.addr, "--ca", filepath.Join(e.pki, "ca.crt"),
		"--cert", filepath.Join(other, "client.crt"), "--key", filepath.Join(other, "client.key"))
	if code != 3 {
		t.Errorf("untrusted client: exit %d, %s", code, errOut)
	}
	// No client certificate at all.
	_, errOut, code = runCtl("", "query", "--server", e.addr, "--ca", filepath.Join(e.pki, "ca.crt"))
	if code != 3 {
		t.Errorf("no client certificate: exit %d, %s", code, errOut)
	}
	// A CA file that is not there.
	_, errOut, code = runCtl("", "query", "--server", e.addr, "--ca", filepath.Join(t.TempDir(), "missing.crt"))
	if code != 3 || !strings.Contains(errOut, "--ca") {
		t.Errorf("missing CA: exit %d, %s", code, errOut)
	}
}

// Ensure that exitCode maps each kind of failure, however wrapped.
func TestExitCode(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want int
	}{
		{nil, 0},
		{errors.New("boom"), 1},
		{usageErrorf("bad flag"), 2},
		{fmt.Errorf("unknown command %q for %q", "x", "kmipctl"), 2},
		{connError{errors.New("refused")}, 3},
		{failed("get", "1", io.EOF), 3},
		{failed("get", "1", &os.PathError{Op: "open", Path: "x", Err: os.ErrNotExist}), 1},
		{failed("get", "1", &os.PathError{Op: "open", Path: "x", Err: syscall.ENOENT}), 1},
		{failed("get", "1", &os.SyscallError{Syscall: "read", Err: syscall.ECONNRESET}), 3},
		{failed("get", "1", kmip.ErrPermissionDenied), 4},
		{failed("get", "1", &kmip.Error{Reason: kmip.ResultReasonOperationNotSupported}), 4},
		{failed("get", "1", kmip.ErrObjectNotFound), 5},
		{failed("get", "1", kmip.ErrItemNotFound), 5},
		{failed("attrs get", "1", &kmip.Error{Reason: kmip.ResultReasonAttributeNotFound}), 5},
	} {
		if got := exitCode(tc.err); got != tc.want {
			t.Errorf("exitCode(%v) = %d, want %d", tc.err, got, tc.want)
		}
	}
}

// Ensure that result reasons read as words and the server's message is
// added only when it says more.
func TestDescribe(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want string
	}{
		{kmip.ErrObjectNotFound, "object not found (KMIP ObjectNotFound)"},
		{kmip.Errorf(kmip.ResultReasonObjectNotFound, `object "1234" not found`), "object not found (KMIP ObjectNotFound)"},
		{kmip.Errorf(kmip.ResultReasonInvalidField, "bad length"), "invalid field (KMIP InvalidField): bad length"},
		{&kmip.Error{Reason: kmip.ResultReasonInvalidCSR}, "invalid CSR (KMIP InvalidCSR)"},
		{&kmip.Error{Reason: kmip.ResultReasonPKCS_11CodecError}, "PKCS 11 codec error (KMIP PKCS_11CodecError)"},
		{&kmip.Error{Reason: kmip.ResultReasonNonUniqueNameAttribute}, "non unique name attribute (KMIP NonUniqueNameAttribute)"},
		{errors.New("plain"), "plain"},
	} {
		if got := describe(tc.err); got != tc.want {
			t.Errorf("describe(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
