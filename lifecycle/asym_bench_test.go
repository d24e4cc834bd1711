package lifecycle_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// The asymmetric paths through the whole engine: Sign, Signature Verify
// and Get of Private and Public Keys, as clients use them. Keys are
// registered as Go marshals them (PKCS#8, SubjectPublicKeyInfo); the
// signatures Verify checks are made by Go, not by the server.

// asymKey is one registered key pair and Go's own copy of it.
type asymKey struct {
	name       string
	alg        kmip.CryptographicAlgorithm
	bits       int32
	priv       crypto.Signer
	privID     string
	pubID      string
	params     []fld // the request's Cryptographic Parameters
	hash       crypto.Hash
	pss        bool
	digestSign bool // Go signs the SHA-256 digest (false: the message)
}

var asymBenchKeys = struct {
	rsa *rsa.PrivateKey
	ec  *ecdsa.PrivateKey
	ed  ed25519.PrivateKey
}{}

// benchKeys returns the benchmarked key pairs, registered in e. The RSA key
// is generated once per process: 2048-bit generation takes a while.
func benchKeys(tb testing.TB, e *engine) []*asymKey {
	tb.Helper()
	if asymBenchKeys.rsa == nil {
		var err error
		if asymBenchKeys.rsa, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			tb.Fatal(err)
		}
		if asymBenchKeys.ec, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			tb.Fatal(err)
		}
		if _, asymBenchKeys.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
			tb.Fatal(err)
		}
	}
	sha := fHash(kmip.HashingAlgorithmSHA_256)
	keys := []*asymKey{
		{name: "ECDSA-P256", alg: kmip.CryptographicAlgorithmECDSA, bits: 256, priv: asymBenchKeys.ec,
			params: []fld{sha}, hash: crypto.SHA256, digestSign: true},
		{name: "RSA2048-PKCS1v15", alg: kmip.CryptographicAlgorithmRSA, bits: 2048, priv: asymBenchKeys.rsa,
			params: []fld{fPad(kmip.PaddingMethodPKCS1V1_5), sha}, hash: crypto.SHA256, digestSign: true},
		{name: "RSA2048-PSS", alg: kmip.CryptographicAlgorithmRSA, bits: 2048, priv: asymBenchKeys.rsa,
			params: []fld{fPad(kmip.PaddingMethodPSS), sha, fMGF1(kmip.HashingAlgorithmSHA_256), fSaltLen(32)},
			hash:   crypto.SHA256, pss: true, digestSign: true},
		{name: "Ed25519", alg: kmip.CryptographicAlgorithmEd25519, bits: 256, priv: asymBenchKeys.ed},
	}
	for _, k := range keys {
		der, err := x509.MarshalPKCS8PrivateKey(k.priv)
		if err != nil {
			tb.Fatal(err)
		}
		spki, err := x509.MarshalPKIXPublicKey(k.priv.Public())
		if err != nil {
			tb.Fatal(err)
		}
		mask := kmip.CryptographicUsageMaskSign
		k.privID = engineKey(tb, e, kmip.ObjectTypePrivateKey, mask, asymObject(ttlv.TagPrivateKey, kmip.KeyFormatTypePKCS_8, k.alg, k.bits, der))
		k.pubID = engineKey(tb, e, kmip.ObjectTypePublicKey, kmip.CryptographicUsageMaskVerify, asymObject(ttlv.TagPublicKey, kmip.KeyFormatTypeX_509, k.alg, k.bits, spki))
	}
	return keys
}

func asymObject(tag ttlv.Tag, f kmip.KeyFormatType, alg kmip.CryptographicAlgorithm, bits int32, der []byte) func(w *ttlv.Builder) {
	return func(w *ttlv.Builder) {
		w.Begin(tag)
		w.Begin(ttlv.TagKeyBlock)
		w.AddEnum(ttlv.TagKeyFormatType, uint32(f))
		w.Begin(ttlv.TagKeyValue)
		w.AddBytes(ttlv.TagKeyMaterial, der)
		w.End()
		w.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(alg))
		w.AddInt32(ttlv.TagCryptographicLength, bits)
		w.End()
		w.End()
	}
}

// goSign signs data with Go's copy of the key, as k's parameters say.
func (k *asymKey) goSign(tb testing.TB, data []byte) []byte {
	tb.Helper()
	var sig []byte
	var err error
	switch {
	case k.pss:
		d := sha256.Sum256(data)
		sig, err = rsa.SignPSS(rand.Reader, k.priv.(*rsa.PrivateKey), crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: 32})
	case k.digestSign:
		d := sha256.Sum256(data)
		sig, err = k.priv.Sign(rand.Reader, d[:], crypto.SHA256)
	default:
		sig, err = k.priv.Sign(rand.Reader, data, crypto.Hash(0))
	}
	if err != nil {
		tb.Fatal(err)
	}
	return sig
}

// asymRequests returns the Sign and Signature Verify requests of k, each
// checked once to succeed (and Verify to answer Valid).
func asymRequests(tb testing.TB, e *engine, k *asymKey) (sign, verify []byte) {
	tb.Helper()
	data := randBytes(64)
	sign = engineRequest(tb, kmip.OperationSign, pl(fUID(k.privID), fParams(k.params...), fData(data)))
	verify = engineRequest(tb, kmip.OperationSignatureVerify, pl(fUID(k.pubID), fParams(k.params...), fData(data), fSig(k.goSign(tb, data))))
	checkEngine(tb, e, sign)
	var r kmip.Response
	if err := r.Parse(e.srv.Handle(e.sess, verify), kmip.Limits{}); err != nil {
		tb.Fatal(err)
	}
	if err := r.Items[0].Err(); err != nil {
		tb.Fatal(err)
	}
	if v, ok := r.Items[0].Payload.Find(ttlv.TagValidityIndicator); !ok || kmip.ValidityIndicator(v.Uint32()) != kmip.ValidityIndicatorValid {
		tb.Fatalf("%s: Signature Verify of Go's signature is not Valid", k.name)
	}
	return sign, verify
}

// getKeyCase is a Get of one key in one Key Format Type.
type getKeyCase struct {
	name    string
	private bool
	key     string // asymKey name
	format  kmip.KeyFormatType
}

var getKeyCases = []getKeyCase{
	{"RSA2048-private-PKCS1", true, "RSA2048-PKCS1v15", kmip.KeyFormatTypePKCS_1},
	{"RSA2048-private-PKCS8", true, "RSA2048-PKCS1v15", kmip.KeyFormatTypePKCS_8},
	{"RSA2048-private-Transparent", true, "RSA2048-PKCS1v15", kmip.KeyFormatTypeTransparentRSAPrivateKey},
	{"RSA2048-public-SPKI", false, "RSA2048-PKCS1v15", kmip.KeyFormatTypeX_509},
	{"RSA2048-public-PKCS1", false, "RSA2048-PKCS1v15", kmip.KeyFormatTypePKCS_1},
	{"ECDSA-P256-private-PKCS8", true, "ECDSA-P256", kmip.KeyFormatTypePKCS_8},
	{"ECDSA-P256-private-Transparent", true, "ECDSA-P256", kmip.KeyFormatTypeTransparentECPrivateKey},
	{"ECDSA-P256-public-SPKI", false, "ECDSA-P256", kmip.KeyFormatTypeX_509},
	{"Ed25519-private-PKCS8", true, "Ed25519", kmip.KeyFormatTypePKCS_8},
	{"Ed25519-public-SPKI", false, "Ed25519", kmip.KeyFormatTypeX_509},
}

// getKeyRequest returns c's Get request, checked once to succeed.
func getKeyRequest(tb testing.TB, e *engine, keys []*asymKey, c getKeyCase) []byte {
	tb.Helper()
	for _, k := range keys {
		if k.name != c.key {
			continue
		}
		id := k.pubID
		if c.private {
			id = k.privID
		}
		msg := engineRequest(tb, kmip.OperationGet, pl(fUID(id), fEnum(ttlv.TagKeyFormatType, uint32(c.format))))
		checkEngine(tb, e, msg)
		return msg
	}
	tb.Fatalf("no key %s", c.key)
	return nil
}

func runEngine(b *testing.B, e *engine, msg []byte) {
	b.ReportAllocs()
	for b.Loop() {
		e.srv.Handle(e.sess, msg)
	}
}

// BenchmarkServeAsym measures single-part Sign and Signature Verify of 64
// bytes, and Get of Private and Public Keys in the formats clients ask
// for, through the whole engine.
func BenchmarkServeAsym(b *testing.B) {
	e := newEngine(b)
	keys := benchKeys(b, e)
	for _, k := range keys {
		sign, verify := asymRequests(b, e, k)
		b.Run("Sign/"+k.name, func(b *testing.B) { runEngine(b, e, sign) })
		b.Run("Verify/"+k.name, func(b *testing.B) { runEngine(b, e, verify) })
	}
	for _, c := range getKeyCases {
		msg := getKeyRequest(b, e, keys, c)
		b.Run("Get/"+c.name, func(b *testing.B) { runEngine(b, e, msg) })
	}
}

// TestSign_ParsedKeyFollowsTheObject checks that the parsed key kept for a
// cached private key is dropped when the object changes: after Import
// with Replace Existing puts another key under the same identifier, Sign
// uses the new key.
func TestSign_ParsedKeyFollowsTheObject(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	ka, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("which key signs")
	digest := sha256.Sum256(msg)
	sign := func(id string) []byte {
		t.Helper()
		return out(must(t, c, kmip.OperationSign, fUID(id), fParams(fHash(kmip.HashingAlgorithmSHA_256)), fData(msg)), ttlv.TagSignatureData)
	}
	a := regAsym(t, c, ka, true, signMask)
	for range 2 { // parsed, then from the cache
		if sig := sign(a); !ecdsa.VerifyASN1(&ka.PublicKey, digest[:], sig) {
			t.Fatal("Sign did not use the registered key")
		}
	}
	b := regAsym(t, c, kb, true, signMask)
	x, err := ieExport(t, c, byID(b))
	if err != nil {
		t.Fatal(err)
	}
	// B's attributes but its identifier.
	attrs := ttlv.NewBuilder(nil)
	attrs.Begin(ttlv.TagAttributes)
	for _, at := range x.attrs {
		if at.Tag != ttlv.TagUniqueIdentifier {
			attrs.AddRaw(at.Raw)
		}
	}
	attrs.End()
	raw, err := attrs.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ieImport(t, c, a, kmip.ObjectTypePrivateKey, &ieTrue, 0, raw, x.obj.Raw); err != nil {
		t.Fatalf("import: %v", err)
	}
	sig := sign(a)
	if ecdsa.VerifyASN1(&ka.PublicKey, digest[:], sig) || !ecdsa.VerifyASN1(&kb.PublicKey, digest[:], sig) {
		t.Fatal("after the import, Sign still used the replaced key")
	}
	if _, err := do(t, c, kmip.OperationRevoke, pl(fUID(a), fRevocation(kmip.RevocationReasonCodeKeyCompromise))); err != nil {
		t.Fatal(err)
	}
	if _, err := do(t, c, kmip.OperationSign, pl(fUID(a), fParams(fHash(kmip.HashingAlgorithmSHA_256)), fData(msg))); err == nil {
		t.Fatal("Sign with a compromised key succeeded")
	}
}

// libOp is what Go's crypto library alone does for a benchmarked request:
// the allocations it makes are not kmipd's to remove.
func libOp(tb testing.TB, k *asymKey, verify bool) func() {
	tb.Helper()
	data := randBytes(64)
	d := sha256.Sum256(data)
	sig := k.goSign(tb, data)
	switch priv := k.priv.(type) {
	case *ecdsa.PrivateKey:
		if verify {
			return func() { ecdsa.VerifyASN1(&priv.PublicKey, d[:], sig) }
		}
		return func() { ecdsa.SignASN1(rand.Reader, priv, d[:]) }
	case *rsa.PrivateKey:
		switch {
		case k.pss && verify:
			return func() { rsa.VerifyPSS(&priv.PublicKey, crypto.SHA256, d[:], sig, &rsa.PSSOptions{SaltLength: 32}) }
		case k.pss:
			return func() { rsa.SignPSS(rand.Reader, priv, crypto.SHA256, d[:], &rsa.PSSOptions{SaltLength: 32}) }
		case verify:
			return func() { rsa.VerifyPKCS1v15(&priv.PublicKey, crypto.SHA256, d[:], sig) }
		}
		return func() { rsa.SignPKCS1v15(nil, priv, crypto.SHA256, d[:]) }
	case ed25519.PrivateKey:
		if verify {
			pub := priv.Public().(ed25519.PublicKey)
			return func() { ed25519.Verify(pub, data, sig) }
		}
		return func() { ed25519.Sign(priv, data) }
	}
	tb.Fatalf("no library operation for %s", k.name)
	return nil
}

// TestAllocs_ServeAsym guards the allocations of Sign, Signature Verify and
// Get of asymmetric keys through the engine. Keys are parsed once per cached
// object and Get writes the stored DER, so what is left is Go's crypto
// library (measured alone beside each request: ECDSA's hedged nonce and
// ASN.1 signature, RSA's blinding) plus at most ours: kmipd's own share
// is bounded separately so that a library change does not hide ours.
func TestAllocs_ServeAsym(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	e := newEngine(t)
	keys := benchKeys(t, e)
	// total: the request at most; ours: the request minus the library alone.
	// Measured with go1.26.8 (total/library): Sign ECDSA 59/59, RSA PKCS#1
	// 2/2, PSS 7/7, Ed25519 1/0 (the signature, which the library makes on
	// the stack when its caller keeps it there); Verify ECDSA 10/10, RSA
	// PKCS#1 9/9, PSS 13/13, Ed25519 0/0. The totals leave one or two for
	// the library's randomness (an ECDSA nonce retry, big.Int growth); ours
	// is at most one, the Ed25519 signature.
	type bound struct{ total, ours float64 }
	sign := map[string]bound{"ECDSA-P256": {61, 1}, "RSA2048-PKCS1v15": {3, 1}, "RSA2048-PSS": {8, 1}, "Ed25519": {1, 1}}
	verify := map[string]bound{"ECDSA-P256": {11, 1}, "RSA2048-PKCS1v15": {10, 1}, "RSA2048-PSS": {14, 1}, "Ed25519": {0, 1}}
	for _, k := range keys {
		signReq, verifyReq := asymRequests(t, e, k)
		for _, c := range []struct {
			op  string
			msg []byte
			lib func()
			b   bound
		}{{"Sign", signReq, libOp(t, k, false), sign[k.name]}, {"Verify", verifyReq, libOp(t, k, true), verify[k.name]}} {
			e.srv.Handle(e.sess, c.msg)
			total := testing.AllocsPerRun(100, func() { e.srv.Handle(e.sess, c.msg) })
			lib := testing.AllocsPerRun(100, c.lib)
			t.Logf("%s %s: %v allocations, %v of them the library's", c.op, k.name, total, lib)
			if total > c.b.total || total-lib > c.b.ours {
				t.Errorf("%s %s allocates %v times per request (the library %v), want at most %v (ours at most %v)",
					c.op, k.name, total, lib, c.b.total, c.b.ours)
			}
		}
	}
	// Get in a DER format kmipd stores, or as a Transparent RSA key, is
	// written from the stored DER: no allocation. Transparent EC keys still
	// convert through keyform (measured: 24 to 26 with the key drawn, as
	// big.Int sizes vary).
	getBound := map[kmip.KeyFormatType]float64{kmip.KeyFormatTypeTransparentECPrivateKey: 28}
	for _, c := range getKeyCases {
		msg := getKeyRequest(t, e, keys, c)
		e.srv.Handle(e.sess, msg)
		n := testing.AllocsPerRun(100, func() { e.srv.Handle(e.sess, msg) })
		t.Logf("Get %s: %v allocations", c.name, n)
		if n > getBound[c.format] {
			t.Errorf("Get %s allocates %v times per request, want at most %v", c.name, n, getBound[c.format])
		}
	}
}
