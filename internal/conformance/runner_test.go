package conformance_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/internal/conformance"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/lifecycle/lifecycletest"
	"github.com/kmipd/kmipd/ttlv"
)

// newService returns kmipd's real service (bbolt store, software backend)
// with Interop enabled for the "admin" identity.
func newService(t testing.TB) *lifecycle.Service {
	t.Helper()
	return lifecycletest.New(t, nil).Service
}

// startServer runs h over mutual TLS and returns a runner that dials it
// afresh for every file, as the admin.
func startServer(t testing.TB, h kmip.Handler) *conformance.Runner {
	t.Helper()
	p := kmiptest.MustPKI(t, "admin", "alice")
	srv := kmiptest.Start(t, p, h)
	cfg := p.ClientTLS(t, "admin")
	return &conformance.Runner{
		Reset: true,
		Dial: func(string) (conformance.Transport, error) {
			return conformance.DialTTLV(srv.Addr, cfg)
		},
		Logf: t.Logf,
	}
}

func mustPass(t *testing.T, res conformance.FileResult) {
	t.Helper()
	if !res.Passed {
		f := res.Failure
		t.Fatalf("%s: %s\n%s", res.File, f, conformance.SideBySide("expected", f.ExpectedTree, "actual", f.ActualTree, 60))
	}
}

func mustFail(t *testing.T, res conformance.FileResult, step int, path, reason string) {
	t.Helper()
	if res.Passed {
		t.Fatalf("%s passed; want a failure at step %d %s", res.File, step, path)
	}
	f := res.Failure
	if f.Step != step || f.Path != path || !strings.Contains(f.Reason, reason) {
		t.Fatalf("%s: failure at step %d %s: %s; want step %d %s: %s", res.File, f.Step, f.Path, f.Reason, step, path, reason)
	}
}

// Ensure that the runner passes kmipd on the fixture files, in 2.1, 1.4
// and 2.0 (the lifecycle file expects Permission Denied, kmipd answers
// Wrong Key Lifecycle State: accepted under 2.0 only).
func TestRunner_RealServer(t *testing.T) {
	r := startServer(t, newService(t))
	mustPass(t, r.Run("testdata/basic-21.xml"))
	mustPass(t, r.Run("testdata/basic-14.xml"))
	mustPass(t, r.Run("testdata/lifecycle-20.xml"))

	v20 := kmip.V2_0
	r.VersionOverride = &v20
	res := r.Run("testdata/basic-21.xml")
	mustPass(t, res)
	if res.Version != "2.0" {
		t.Fatalf("version %q", res.Version)
	}
	v21 := kmip.V2_1
	r.VersionOverride = &v21
	mustFail(t, r.Run("testdata/lifecycle-20.xml"), 2, "ResponseMessage/BatchItem[0]/ResultReason", `expected "PermissionDenied", got "WrongKeyLifecycleState"`)
}

// Ensure that the Interop Reset isolates files: a file that registers a
// named key, leaves it and then locates its name runs again only after a
// reset (without one, Locate also finds the key the previous run left).
func TestRunner_Reset(t *testing.T) {
	r := startServer(t, newService(t))
	mustPass(t, r.Run("testdata/basic-21.xml"))
	// Keep the key this time: skip the Destroy step by running a copy
	// without it.
	data, err := os.ReadFile("testdata/basic-21.xml")
	if err != nil {
		t.Fatal(err)
	}
	v, err := conformance.Parse("keep.xml", data)
	if err != nil {
		t.Fatal(err)
	}
	v.Steps = v.Steps[:2]
	mustPass(t, r.RunVector(v))
	r.Reset = false
	res := r.RunVector(v)
	// The Register succeeds (names need not be unique), but the Locate by
	// the name answers a second identifier: the key kept from the run
	// before.
	mustFail(t, res, 1, "ResponseMessage/BatchItem[0]/ResponsePayload/UniqueIdentifier[1]", "unexpected element")
	if res.Failure.Operation != "Locate" || res.Failure.Result != "Success" {
		t.Fatalf("operation %q, result %q", res.Failure.Operation, res.Failure.Result)
	}
	r.Reset = true
	mustPass(t, r.RunVector(v))
}

// Ensure that a server without Interop fails the reset with a hint.
func TestRunner_ResetRefused(t *testing.T) {
	mux := kmip.NewServeMux()
	r := startServer(t, mux)
	res := r.Run("testdata/basic-21.xml")
	if res.Passed || res.Failure.Step != -1 || !strings.Contains(res.Failure.Reason, "--no-reset") {
		t.Fatalf("result %+v", res.Failure)
	}
}

// tamper is a fixture server: kmipd, except that one operation's response
// has one value changed.
type tamper struct {
	h   kmip.Handler
	op  kmip.Operation
	tag ttlv.Tag
	fn  func(data []byte) []byte
}

func (t *tamper) ServeKMIP(c *kmip.Call, w *ttlv.Builder) error {
	if c.Item.Operation != t.op {
		return t.h.ServeKMIP(c, w)
	}
	var b ttlv.Builder
	if err := t.h.ServeKMIP(c, &b); err != nil {
		return err
	}
	out, err := b.Bytes()
	if err != nil {
		return err
	}
	t.rewrite(w, ttlv.Value(out))
	return nil
}

func (t *tamper) rewrite(w *ttlv.Builder, v ttlv.Value) {
	for !v.Empty() {
		it, _ := v.Next()
		switch {
		case it.Type == ttlv.TypeStructure:
			w.Begin(it.Tag)
			t.rewrite(w, it.Children())
			w.End()
		case it.Tag == t.tag:
			w.AddItem(it.Tag, it.Type, t.fn(append([]byte(nil), it.Data...)))
		default:
			w.AddItem(it.Tag, it.Type, it.Data)
		}
	}
}

// Ensure that deliberately wrong responses are caught at the right step
// and path.
func TestRunner_WrongResponses(t *testing.T) {
	flip := func(b []byte) []byte { b[len(b)-1] ^= 1; return b }
	for _, tc := range []struct {
		name string
		op   kmip.Operation
		tag  ttlv.Tag
		fn   func([]byte) []byte
		step int
		path string
		why  string
	}{
		{"key material", kmip.OperationGet, ttlv.TagKeyMaterial, flip, 2,
			"ResponseMessage/BatchItem[0]/ResponsePayload/SymmetricKey/KeyBlock/KeyValue/KeyMaterial", `expected "00112233445566778899aabbccddeeff", got "00112233445566778899aabbccddeefe"`},
		{"located identifier", kmip.OperationLocate, ttlv.TagUniqueIdentifier, flip, 1,
			"ResponseMessage/BatchItem[0]/ResponsePayload/UniqueIdentifier", "bound earlier"},
		{"state", kmip.OperationGetAttributes, ttlv.TagState, func([]byte) []byte { return []byte{0, 0, 0, 2} }, 3,
			"ResponseMessage/BatchItem[0]/ResponsePayload/Attributes/State", `expected "PreActive", got "Active"`},
		{"usage mask", kmip.OperationGetAttributes, ttlv.TagCryptographicUsageMask, func([]byte) []byte { return []byte{0, 0, 0, 4} }, 3,
			"ResponseMessage/BatchItem[0]/ResponsePayload/Attributes/CryptographicUsageMask", "value differs"},
		{"name", kmip.OperationGetAttributes, ttlv.TagNameValue, flip, 3,
			"ResponseMessage/BatchItem[0]/ResponsePayload/Attributes/Name/NameValue", "value differs"},
		{"destroyed identifier", kmip.OperationDestroy, ttlv.TagUniqueIdentifier, flip, 4,
			"ResponseMessage/BatchItem[0]/ResponsePayload/UniqueIdentifier", "bound earlier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := startServer(t, &tamper{h: newService(t), op: tc.op, tag: tc.tag, fn: tc.fn})
			res := r.Run("testdata/basic-21.xml")
			mustFail(t, res, tc.step, tc.path, tc.why)
			if res.Failure.ExpectedTree == "" || res.Failure.ActualTree == "" {
				t.Fatalf("no trees: %+v", res.Failure)
			}
		})
	}
	// In the 1.x form the attribute is found by its name.
	t.Run("1.x state", func(t *testing.T) {
		r := startServer(t, &tamper{h: newService(t), op: kmip.OperationGetAttributes, tag: ttlv.TagAttributeValue, fn: func(b []byte) []byte {
			if len(b) == 4 && b[3] == 1 { // State PreActive → Active
				b[3] = 2
			}
			return b
		}})
		mustFail(t, r.Run("testdata/basic-14.xml"), 2, "ResponseMessage/BatchItem[0]/ResponsePayload/Attribute[2]/AttributeValue", `expected "PreActive", got "Active"`)
	})
}

// Ensure that an operation the server lacks is reported with the server's
// result.
func TestRunner_UnsupportedOperation(t *testing.T) {
	svc := newService(t)
	h := kmip.HandlerFunc(func(c *kmip.Call, w *ttlv.Builder) error {
		if c.Item.Operation == kmip.OperationGetAttributeList {
			return kmip.Errorf(kmip.ResultReasonOperationNotSupported, "no")
		}
		return svc.ServeKMIP(c, w)
	})
	r := startServer(t, h)
	res := r.Run("testdata/basic-21.xml")
	mustFail(t, res, 3, "ResponseMessage/BatchItem[1]/ResultStatus", `expected "Success", got "OperationFailed"`)
	if res.Failure.Operation != "GetAttributeList" || res.Failure.Result != "OperationFailed/OperationNotSupported" {
		t.Fatalf("failure %+v", res.Failure)
	}
}

// Ensure that RunAll runs directories and that a continuation file keeps
// its predecessor's objects.
func TestRunner_RunAll(t *testing.T) {
	r := startServer(t, newService(t))
	results, err := r.RunAll("testdata")
	if err != nil {
		t.Fatal(err)
	}
	passed, failed := conformance.Summary(results)
	if passed != len(results) || failed != 0 {
		for _, res := range results {
			if !res.Passed {
				t.Errorf("%s: %s", res.File, res.Failure)
			}
		}
	}
}

// oasis lists OASIS profile files kmipd passes today; the runner must pass
// them (their leniencies are needed: generated key material and digests,
// server-set dates, extra attributes, reordered masks).
var oasis = []string{
	"2.1/profiles/mandatory/SKLC-M-1-21.xml",
	"2.1/profiles/mandatory/SKLC-M-2-21.xml",
	"2.1/profiles/mandatory/SKFF-M-1-21.xml",
	"2.1/profiles/mandatory/SKFF-M-5-21.xml",
	"2.1/profiles/mandatory/OMOS-M-1-21.xml",
	"2.1/profiles/mandatory/BL-M-4-21.xml",
	"2.1/profiles/mandatory/SASED-M-2-21.xml",
	"2.1/profiles/mandatory/SASED-M-3-21.xml",
	"1.4/profiles/mandatory/SKLC-M-1-14.xml",
	"1.4/profiles/mandatory/SKLC-M-2-14.xml",
	"1.4/profiles/mandatory/SKFF-M-5-14.xml",
}

func TestRunner_OASISFiles(t *testing.T) {
	dir := conformance.CasesDir(filepath.Join("..", "..", "..", "shared", "kmip-testcases"))
	if _, err := os.Stat(dir); err != nil {
		t.Skipf("OASIS test cases not found at %s", dir)
	}
	r := startServer(t, newService(t))
	for _, f := range oasis {
		mustPass(t, r.Run(filepath.Join(dir, f)))
	}
	v20 := kmip.V2_0
	r.VersionOverride = &v20
	for _, f := range oasis[:8] {
		mustPass(t, r.Run(filepath.Join(dir, f)))
	}
}

// Ensure that a transport error is reported at its step.
func TestRunner_TransportError(t *testing.T) {
	r := &conformance.Runner{Transport: brokenTransport{}}
	res := r.Run("testdata/basic-21.xml")
	if res.Passed || res.Failure.Step != 0 || !strings.Contains(res.Failure.Reason, "transport: broken") {
		t.Fatalf("%+v", res.Failure)
	}
}

type brokenTransport struct{}

func (brokenTransport) RoundTrip([]byte) ([]byte, error) { return nil, errBroken }

var errBroken = errors.New("broken")
