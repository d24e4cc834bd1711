package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/hsm/soft"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/store"
)

const fixtures = "../../internal/conformance/testdata"

// kmipdService is kmipd's service with Interop enabled for "admin".
func kmipdService(t *testing.T) kmip.Handler {
	t.Helper()
	dir := t.TempDir()
	mk := filepath.Join(dir, "master.key")
	if err := soft.CreateMasterKey(mk); err != nil {
		t.Fatal(err)
	}
	be, err := soft.Open(mk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { be.Close() })
	db, err := store.Open(filepath.Join(dir, "kmipd.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return lifecycle.NewService(lifecycle.Config{Store: db, Backend: be, Admins: []string{"admin"}, Interop: true, Logger: zerolog.Nop()})
}

// runKmipctl runs kmipctl with args against a server running h, and
// returns its output and error.
func runKmipctl(t *testing.T, h kmip.Handler, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	p := kmiptest.MustPKI(t)
	srv := kmiptest.Start(t, p, h)
	dir := writePKI(t, p)
	t.Setenv("KMIPCTL_SERVER", srv.Addr)
	t.Setenv("KMIPCTL_CA", filepath.Join(dir, "ca.crt"))
	root := newRootCmd()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append(args, "--cert", filepath.Join(dir, "client.crt"), "--key", filepath.Join(dir, "client.key")))
	err = root.Execute()
	return out.String(), errOut.String(), err
}

// Ensure that conformance run passes kmipd on the fixtures and writes the
// JSON results.
func TestConformanceRun_Pass(t *testing.T) {
	jf := filepath.Join(t.TempDir(), "results.json")
	out, _, err := runKmipctl(t, kmipdService(t), "conformance", "run", "--json", jf, fixtures)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "PASS "+filepath.Join(fixtures, "basic-21.xml")+" (5 steps)") || !strings.HasSuffix(out, "3 passed, 0 failed\n") {
		t.Fatalf("output:\n%s", out)
	}
	var rep conformanceReport
	data, err := os.ReadFile(jf)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Passed != 3 || rep.Failed != 0 || len(rep.Results) != 3 || !rep.Results[0].Passed || rep.Results[0].Steps == 0 {
		t.Fatalf("report %+v", rep)
	}
}

// Ensure that the 2.0 override runs the 2.1 fixture as 2.0.
func TestConformanceRun_VersionOverride(t *testing.T) {
	jf := filepath.Join(t.TempDir(), "results.json")
	out, _, err := runKmipctl(t, kmipdService(t), "conformance", "run", "--version-override", "2.0", "--json", jf, filepath.Join(fixtures, "basic-21.xml"))
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	data, _ := os.ReadFile(jf)
	if !strings.Contains(string(data), `"version": "2.0"`) {
		t.Fatalf("report:\n%s", data)
	}
}

// Ensure that a failure prints the step, path and both trees, the summary,
// and makes the command fail.
func TestConformanceRun_Fail(t *testing.T) {
	// A server without Interop and without Register.
	jf := filepath.Join(t.TempDir(), "results.json")
	out, errOut, err := runKmipctl(t, kmip.NewServeMux(), "conformance", "run", "--no-reset", "--json", jf, filepath.Join(fixtures, "basic-21.xml"))
	if err == nil {
		t.Fatalf("no error; output:\n%s", out)
	}
	if !strings.Contains(errOut, "warning: --no-reset") {
		t.Fatalf("stderr:\n%s", errOut)
	}
	for _, want := range []string{
		"FAIL " + filepath.Join(fixtures, "basic-21.xml") + ": step 0 (Register): ResponseMessage/BatchItem[0]/ResultStatus: value differs",
		"[server: OperationFailed/OperationNotSupported]",
		"expected", "actual",
		`<ResultStatus type="Enumeration" value="Success"/>`,
		`<ResultReason type="Enumeration" value="OperationNotSupported"/>`,
		"0 passed, 1 failed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	var rep conformanceReport
	data, _ := os.ReadFile(jf)
	if err := json.Unmarshal(data, &rep); err != nil {
		t.Fatal(err)
	}
	f := rep.Results[0].Failure
	if rep.Failed != 1 || f == nil || f.Step != 0 || f.Path != "ResponseMessage/BatchItem[0]/ResultStatus" || f.Expected == "" || f.Actual == "" {
		t.Fatalf("report %s", data)
	}
	// Without --no-reset the Interop Reset fails first.
	out, _, err = runKmipctl(t, kmip.NewServeMux(), "conformance", "run", filepath.Join(fixtures, "basic-21.xml"))
	if err == nil || !strings.Contains(out, "Interop Reset") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
}

func TestConformanceRun_BadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--version-override", "9.9"},
		{"--version-override", "2"},
		{"--transport", "carrier-pigeon"},
	} {
		_, _, err := runKmipctl(t, kmip.NewServeMux(), append(append([]string{"conformance", "run"}, args...), fixtures)...)
		if err == nil || !strings.Contains(err.Error(), "invalid") {
			t.Errorf("%v: err = %v", args, err)
		}
	}
	if _, _, err := runKmipctl(t, kmip.NewServeMux(), "conformance", "run", "no/such/file.xml"); err == nil {
		t.Error("no error for a missing file")
	}
}
