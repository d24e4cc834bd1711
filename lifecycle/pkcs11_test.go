package lifecycle_test

import (
	"bytes"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/lifecycle/lifecycletest"
	"github.com/kmipd/kmipd/ttlv"
)

// p11 calls one PKCS#11 function and returns the response payload items
// after the echoed function: Correlation Value, Output Parameters (nil
// when absent) and Return Code.
func p11(t *testing.T, c *kmip.Client, f kmip.PKCS_11Function, corr, in []byte) (cv, out []byte, rc kmip.PKCS_11ReturnCode, err error) {
	t.Helper()
	it, err := do(t, c, kmip.OperationPKCS_11, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagPKCS_11Function, uint32(f))
		if corr != nil {
			b.AddBytes(ttlv.TagCorrelationValue, corr)
		}
		if in != nil {
			b.AddBytes(ttlv.TagPKCS_11InputParameters, in)
		}
	})
	if err != nil {
		return nil, nil, 0, err
	}
	p := it.Payload
	var fn, code uint32
	if !p.ReadEnum(ttlv.TagPKCS_11Function, &fn) || kmip.PKCS_11Function(fn) != f {
		t.Fatalf("%d: payload %s", f, ttlv.Format(it.Payload))
	}
	p.ReadBytes(ttlv.TagCorrelationValue, &cv)
	p.ReadBytes(ttlv.TagPKCS_11OutputParameters, &out)
	if !p.ReadEnum(ttlv.TagPKCS_11ReturnCode, &code) || !p.Empty() {
		t.Fatalf("%d: payload %s", f, ttlv.Format(it.Payload))
	}
	return cv, out, kmip.PKCS_11ReturnCode(code), nil
}

// The PKCS#11 operation, as PKCS11-M-1-21 runs it: C_Initialize hands out
// a Correlation Value, C_GetInfo under it answers the 76-byte CK_INFO of
// the library (kmipd's own with the software backend), C_Finalize ends it.
// Another identity cannot use the value; a function off the allow-list,
// and one that logs in to the token whatever the configuration, is refused.
func TestPKCS11(t *testing.T) {
	// PKCS#11 acts on the server's token: a server operation, given here
	// to every identity.
	e := newEnvWith(t, &lifecycletest.Options{Configure: func(c *lifecycle.Config) { c.Access = usersWith(t, "pkcs-11") }})
	alice := e.srv.Dial(t, "alice", kmip.V2_1)
	bob := e.srv.Dial(t, "bob", kmip.V2_1)
	cv, _, rc, err := p11(t, alice, lifecycle.P11Initialize, nil, []byte{1})
	if err != nil || rc != lifecycle.CKROK || len(cv) == 0 {
		t.Fatalf("C_Initialize: cv %x rc %#x err %v", cv, rc, err)
	}
	_, out, rc, err := p11(t, alice, lifecycle.P11GetInfo, cv, nil)
	if err != nil || rc != lifecycle.CKROK {
		t.Fatalf("C_GetInfo: rc %#x err %v", rc, err)
	}
	// CK_INFO: cryptokiVersion, manufacturerID[32], flags, libraryDescription[32], libraryVersion.
	if len(out) != 76 || out[0] != 2 || out[1] != 40 || !bytes.HasPrefix(out[2:34], []byte("kmipd ")) {
		t.Errorf("C_GetInfo output %x", out)
	}
	if _, _, rc, _ := p11(t, bob, lifecycle.P11GetInfo, cv, nil); rc != lifecycle.CKRCryptokiNotInitialized {
		t.Errorf("bob's C_GetInfo with alice's correlation value: rc %#x", rc)
	}
	if _, _, rc, _ := p11(t, bob, lifecycle.P11Finalize, cv, nil); rc != lifecycle.CKRCryptokiNotInitialized {
		t.Errorf("bob's C_Finalize of alice's interface: rc %#x", rc)
	}
	if _, _, rc, _ := p11(t, alice, lifecycle.P11Finalize, cv, nil); rc != lifecycle.CKROK {
		t.Errorf("C_Finalize: rc %#x", rc)
	}
	if _, _, rc, _ := p11(t, alice, lifecycle.P11GetInfo, cv, nil); rc != lifecycle.CKRCryptokiNotInitialized {
		t.Errorf("C_GetInfo after C_Finalize: rc %#x", rc)
	}
	_, _, _, err = p11(t, alice, 5 /* C_GetSlotList */, cv, nil)
	wantReason(t, err, kmip.ResultReasonPermissionDenied)

	// Configured: C_GetSlotList allowed but not carried out; C_Login never.
	le := newEnvWith(t, &lifecycletest.Options{Configure: func(c *lifecycle.Config) {
		c.PKCS11Functions = []kmip.PKCS_11Function{lifecycle.P11Initialize, 5, lifecycle.P11Login}
		c.Access = usersWith(t, "pkcs-11")
	}})
	c := le.srv.Dial(t, "alice", kmip.V2_0)
	if _, _, rc, err := p11(t, c, 5, nil, nil); err != nil || rc != lifecycle.CKRFunctionNotSupported {
		t.Errorf("allowed C_GetSlotList: rc %#x err %v", rc, err)
	}
	_, _, _, err = p11(t, c, lifecycle.P11Login, nil, nil)
	wantReason(t, err, kmip.ResultReasonPermissionDenied)
	_, _, _, err = p11(t, c, lifecycle.P11GetInfo, nil, nil)
	wantReason(t, err, kmip.ResultReasonPermissionDenied)

	// An ordinary user without the role is refused.
	_, _, _, err = p11(t, newEnv(t).srv.Dial(t, "alice", kmip.V2_1), lifecycle.P11Initialize, nil, []byte{1})
	wantReason(t, err, kmip.ResultReasonPermissionDenied)

	// The operation exists from KMIP 2.0 on.
	_, err = do(t, e.srv.Dial(t, "alice", kmip.V1_4), kmip.OperationPKCS_11, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagPKCS_11Function, uint32(lifecycle.P11Initialize))
	})
	wantReason(t, err, kmip.ResultReasonOperationNotSupported)
}
