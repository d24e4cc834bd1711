package lifecycle_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// engineKey registers an object through the in-process engine, Active
// at the engine's clock, and returns its identifier.
func engineKey(tb testing.TB, e *engine, typ kmip.ObjectType, mask kmip.CryptographicUsageMask, object func(b *ttlv.Builder)) string {
	tb.Helper()
	it := e.do(tb, kmip.OperationRegister, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(typ))
		b.Begin(ttlv.TagAttributes)
		b.AddInt32(ttlv.TagCryptographicUsageMask, int32(mask))
		b.AddDateTime(ttlv.TagActivationDate, 1_700_000_000)
		b.End()
		object(b)
	})
	return string(out2text(it))
}

// engineRequest encodes a single-item KMIP 2.0 request.
func engineRequest(tb testing.TB, op kmip.Operation, payload func(b *ttlv.Builder)) []byte {
	var w kmip.RequestWriter
	w.Begin(nil, kmip.V2_0, 1, nil)
	w.Item(op, nil, payload)
	msg, err := w.Finish()
	if err != nil {
		tb.Fatal(err)
	}
	return msg
}

// BenchmarkServeEncryptGCM1K measures a single-part AES-256-GCM Encrypt of
// 1 KiB with a server-made IV through the whole engine: decode, key checks
// (cached object), unsealing of the key, encryption, encoding.
func BenchmarkServeEncryptGCM1K(b *testing.B) {
	e := newEngine(b)
	id := engineKey(b, e, kmip.ObjectTypeSymmetricKey, kmip.CryptographicUsageMaskEncrypt, func(w *ttlv.Builder) {
		kmip.WriteSymmetricKey(w, &kmip.KeyBlock{FormatType: kmip.KeyFormatTypeRaw, Material: randBytes(32),
			CryptographicAlgorithm: kmip.CryptographicAlgorithmAES, CryptographicLength: 256})
	})
	data := randBytes(1024)
	msg := engineRequest(b, kmip.OperationEncrypt, pl(fUID(id), fParams(fMode(kmip.BlockCipherModeGCM)), fData(data)))
	checkEngine(b, e, msg)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.srv.Handle(e.sess, msg)
	}
}

// BenchmarkServeSignECDSAP256 measures a single-part ECDSA P-256 / SHA-256
// Sign of 64 bytes through the whole engine, the PKCS#8 key parsed at each
// request.
func BenchmarkServeSignECDSAP256(b *testing.B) {
	e := newEngine(b)
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		b.Fatal(err)
	}
	id := engineKey(b, e, kmip.ObjectTypePrivateKey, kmip.CryptographicUsageMaskSign, func(w *ttlv.Builder) {
		w.Begin(ttlv.TagPrivateKey)
		w.Begin(ttlv.TagKeyBlock)
		w.AddEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypePKCS_8))
		w.Begin(ttlv.TagKeyValue)
		w.AddBytes(ttlv.TagKeyMaterial, der)
		w.End()
		w.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmEC))
		w.AddInt32(ttlv.TagCryptographicLength, 256)
		w.End()
		w.End()
	})
	msg := engineRequest(b, kmip.OperationSign, pl(fUID(id), fParams(fHash(kmip.HashingAlgorithmSHA_256)), fData(randBytes(64))))
	checkEngine(b, e, msg)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		e.srv.Handle(e.sess, msg)
	}
}

// checkEngine runs msg once and fails unless it succeeds.
func checkEngine(tb testing.TB, e *engine, msg []byte) {
	tb.Helper()
	var r kmip.Response
	if err := r.Parse(e.srv.Handle(e.sess, msg), kmip.Limits{}); err != nil {
		tb.Fatal(err)
	}
	if err := r.Items[0].Err(); err != nil {
		tb.Fatal(err)
	}
}

// TestAllocs_ServeEncrypt guards the allocation budget of a single-part
// AES-GCM Encrypt: the AES key schedule, the GCM state and the IV the
// server makes; everything else reuses pooled buffers.
func TestAllocs_ServeEncrypt(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	e := newEngine(t)
	id := engineKey(t, e, kmip.ObjectTypeSymmetricKey, kmip.CryptographicUsageMaskEncrypt, func(w *ttlv.Builder) {
		kmip.WriteSymmetricKey(w, &kmip.KeyBlock{FormatType: kmip.KeyFormatTypeRaw, Material: randBytes(32),
			CryptographicAlgorithm: kmip.CryptographicAlgorithmAES, CryptographicLength: 256})
	})
	msg := engineRequest(t, kmip.OperationEncrypt, pl(fUID(id), fParams(fMode(kmip.BlockCipherModeGCM)), fData(randBytes(1024))))
	checkEngine(t, e, msg)
	if n := testing.AllocsPerRun(200, func() { e.srv.Handle(e.sess, msg) }); n > 3 {
		t.Fatalf("Encrypt allocates %v times per request, want at most 3", n)
	}
}
