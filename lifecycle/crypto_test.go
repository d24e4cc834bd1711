package lifecycle_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	mrand "math/rand/v2"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/lifecycle/lifecycletest"
	"github.com/kmipd/kmipd/ttlv"
)

// Helpers for the cryptographic operations: a request payload is a list of
// fields, each a function adding items.

type fld func(b *ttlv.Builder)

func pl(fs ...fld) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		for _, f := range fs {
			if f != nil {
				f(b)
			}
		}
	}
}

func fUID(id string) fld   { return func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, id) } }
func fData(d []byte) fld   { return bytesFld(ttlv.TagData, d) }
func fIV(d []byte) fld     { return bytesFld(ttlv.TagIVCounterNonce, d) }
func fAAD(d []byte) fld    { return bytesFld(ttlv.TagAuthenticatedEncryptionAdditionalData, d) }
func fTag(d []byte) fld    { return bytesFld(ttlv.TagAuthenticatedEncryptionTag, d) }
func fCV(d []byte) fld     { return bytesFld(ttlv.TagCorrelationValue, d) }
func fSig(d []byte) fld    { return bytesFld(ttlv.TagSignatureData, d) }
func fMAC(d []byte) fld    { return bytesFld(ttlv.TagMACData, d) }
func fDigest(d []byte) fld { return bytesFld(ttlv.TagDigestedData, d) }
func fInit() fld           { return func(b *ttlv.Builder) { b.AddBool(ttlv.TagInitIndicator, true) } }
func fFinal() fld          { return func(b *ttlv.Builder) { b.AddBool(ttlv.TagFinalIndicator, true) } }

func bytesFld(tag ttlv.Tag, d []byte) fld {
	return func(b *ttlv.Builder) { b.AddBytes(tag, d) }
}

func fEnum(tag ttlv.Tag, v uint32) fld  { return func(b *ttlv.Builder) { b.AddEnum(tag, v) } }
func fInt(tag ttlv.Tag, v int32) fld    { return func(b *ttlv.Builder) { b.AddInt32(tag, v) } }
func fBool(tag ttlv.Tag, v bool) fld    { return func(b *ttlv.Builder) { b.AddBool(tag, v) } }
func fMode(m kmip.BlockCipherMode) fld  { return fEnum(ttlv.TagBlockCipherMode, uint32(m)) }
func fPad(p kmip.PaddingMethod) fld     { return fEnum(ttlv.TagPaddingMethod, uint32(p)) }
func fHash(h kmip.HashingAlgorithm) fld { return fEnum(ttlv.TagHashingAlgorithm, uint32(h)) }
func fAlg(a kmip.CryptographicAlgorithm) fld {
	return fEnum(ttlv.TagCryptographicAlgorithm, uint32(a))
}
func fTagLen(n int32) fld { return fInt(ttlv.TagTagLength, n) }

// fParams wraps fields in Cryptographic Parameters.
func fParams(fs ...fld) fld {
	return func(b *ttlv.Builder) {
		b.Begin(ttlv.TagCryptographicParameters)
		pl(fs...)(b)
		b.End()
	}
}

func unhex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// out returns the Byte String tag of a response payload (nil if absent).
func out(it *kmip.ResponseItem, tag ttlv.Tag) []byte {
	v, ok := it.Payload.Find(tag)
	if !ok {
		return nil
	}
	return append([]byte{}, v.Data...)
}

func has(it *kmip.ResponseItem, tag ttlv.Tag) bool {
	_, ok := it.Payload.Find(tag)
	return ok
}

// validity returns the Validity Indicator of a response.
func validity(t *testing.T, it *kmip.ResponseItem) kmip.ValidityIndicator {
	t.Helper()
	v, ok := it.Payload.Find(ttlv.TagValidityIndicator)
	if !ok {
		t.Fatalf("no Validity Indicator: %s", ttlv.Format(it.Payload))
	}
	return kmip.ValidityIndicator(v.Uint32())
}

// must runs an operation that must succeed.
func must(t *testing.T, c *kmip.Client, op kmip.Operation, fs ...fld) *kmip.ResponseItem {
	t.Helper()
	it, err := do(t, c, op, pl(fs...))
	if err != nil {
		t.Fatalf("%s: %v", op, err)
	}
	return it
}

// fails runs an operation that must fail with reason r.
func fails(t *testing.T, c *kmip.Client, op kmip.Operation, r kmip.ResultReason, fs ...fld) {
	t.Helper()
	_, err := do(t, c, op, pl(fs...))
	wantReason(t, err, r)
}

const encDec = kmip.CryptographicUsageMaskEncrypt | kmip.CryptographicUsageMaskDecrypt

// active is an Activation Date an hour ago, making a new object Active.
func active(ver kmip.Version) fld { return dateAttr(ver, ttlv.TagActivationDate, -time.Hour) }

// dateAttr sets a date attribute relative to now.
func dateAttr(ver kmip.Version, tag ttlv.Tag, d time.Duration) fld {
	return func(b *ttlv.Builder) {
		t := time.Now().Add(d).Unix()
		if ver.V2() {
			b.AddDateTime(tag, t)
			return
		}
		name, _ := ttlv.TagSpecName(tag)
		attr1(b, name, func() { b.AddDateTime(ttlv.TagAttributeValue, t) })
	}
}

// maskAttr sets the Cryptographic Usage Mask.
func maskAttr(ver kmip.Version, m kmip.CryptographicUsageMask) fld {
	return func(b *ttlv.Builder) {
		if ver.V2() {
			b.AddInt32(ttlv.TagCryptographicUsageMask, int32(m))
			return
		}
		attr1(b, "Cryptographic Usage Mask", func() { b.AddInt32(ttlv.TagAttributeValue, int32(m)) })
	}
}

// paramsAttr sets the Cryptographic Parameters attribute.
func paramsAttr(ver kmip.Version, fs ...fld) fld {
	return func(b *ttlv.Builder) {
		if ver.V2() {
			fParams(fs...)(b)
			return
		}
		attr1(b, "Cryptographic Parameters", func() {
			b.Begin(ttlv.TagAttributeValue)
			pl(fs...)(b)
			b.End()
		})
	}
}

// usageLimitsAttr sets Usage Limits {Total, Unit}.
func usageLimitsAttr(ver kmip.Version, total int64, unit kmip.UsageLimitsUnit) fld {
	return func(b *ttlv.Builder) {
		body := func(tag ttlv.Tag) {
			b.Begin(tag)
			b.AddLong(ttlv.TagUsageLimitsTotal, total)
			b.AddEnum(ttlv.TagUsageLimitsUnit, uint32(unit))
			b.End()
		}
		if ver.V2() {
			body(ttlv.TagUsageLimits)
			return
		}
		b.Begin(ttlv.TagAttribute)
		b.AddText(ttlv.TagAttributeName, "Usage Limits")
		body(ttlv.TagAttributeValue)
		b.End()
	}
}

// attrsWrap puts attribute fields in Attributes (2.x) or a
// Template-Attribute (1.x).
func attrsWrap(ver kmip.Version, fs ...fld) fld {
	return func(b *ttlv.Builder) {
		if ver.V2() {
			b.Begin(ttlv.TagAttributes)
		} else {
			b.Begin(ttlv.TagTemplateAttribute)
		}
		pl(fs...)(b)
		b.End()
	}
}

// regSym registers an Active symmetric key with the given usage mask and
// extra attributes.
func regSym(t *testing.T, c *kmip.Client, alg kmip.CryptographicAlgorithm, key []byte, mask kmip.CryptographicUsageMask, extra ...fld) string {
	t.Helper()
	ver := c.Version
	attrs := append([]fld{maskAttr(ver, mask), active(ver)}, extra...)
	it := must(t, c, kmip.OperationRegister,
		fEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey)),
		attrsWrap(ver, attrs...),
		func(b *ttlv.Builder) {
			kmip.WriteSymmetricKey(b, &kmip.KeyBlock{FormatType: kmip.KeyFormatTypeRaw, Material: key,
				CryptographicAlgorithm: alg, CryptographicLength: int32(8 * len(key))})
		})
	return string(out2text(it))
}

// regSecret registers an Active Secret Data object (a Seed, in Opaque
// format).
func regSecret(t *testing.T, c *kmip.Client, secret []byte, mask kmip.CryptographicUsageMask) string {
	t.Helper()
	ver := c.Version
	it := must(t, c, kmip.OperationRegister,
		fEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSecretData)),
		attrsWrap(ver, maskAttr(ver, mask), active(ver)),
		func(b *ttlv.Builder) {
			b.Begin(ttlv.TagSecretData)
			b.AddEnum(ttlv.TagSecretDataType, uint32(kmip.SecretDataTypeSeed))
			kmip.WriteKeyBlock(b, &kmip.KeyBlock{FormatType: kmip.KeyFormatTypeOpaque, Material: secret})
			b.End()
		})
	return string(out2text(it))
}

// regSecretPreActive registers a Secret Data object (a Seed, in Opaque
// format) without an Activation Date: it stays Pre-Active.
func regSecretPreActive(t *testing.T, c *kmip.Client, secret []byte, mask kmip.CryptographicUsageMask) string {
	t.Helper()
	ver := c.Version
	it := must(t, c, kmip.OperationRegister,
		fEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSecretData)),
		attrsWrap(ver, maskAttr(ver, mask)),
		func(b *ttlv.Builder) {
			b.Begin(ttlv.TagSecretData)
			b.AddEnum(ttlv.TagSecretDataType, uint32(kmip.SecretDataTypeSeed))
			kmip.WriteKeyBlock(b, &kmip.KeyBlock{FormatType: kmip.KeyFormatTypeOpaque, Material: secret})
			b.End()
		})
	return string(out2text(it))
}

// fRevocation is a Revocation Reason with the given code.
func fRevocation(code kmip.RevocationReasonCode) fld {
	return func(b *ttlv.Builder) {
		b.Begin(ttlv.TagRevocationReason)
		b.AddEnum(ttlv.TagRevocationReasonCode, uint32(code))
		b.End()
	}
}

func out2text(it *kmip.ResponseItem) []byte {
	v, ok := it.Payload.Find(ttlv.TagUniqueIdentifier)
	if !ok {
		return nil
	}
	return v.Data
}

// encrypt runs a single-part Encrypt and returns Data, the IV (if the
// server made one) and the tag.
func encryptOK(t *testing.T, c *kmip.Client, fs ...fld) (ct, iv, tag []byte) {
	t.Helper()
	it := must(t, c, kmip.OperationEncrypt, fs...)
	return out(it, ttlv.TagData), out(it, ttlv.TagIVCounterNonce), out(it, ttlv.TagAuthenticatedEncryptionTag)
}

func decryptOK(t *testing.T, c *kmip.Client, fs ...fld) []byte {
	t.Helper()
	return out(must(t, c, kmip.OperationDecrypt, fs...), ttlv.TagData)
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// cryptoEnv starts a server and returns a KMIP 2.1 client.
func cryptoEnv(t *testing.T) (*env, *kmip.Client) {
	t.Helper()
	e := newEnv(t)
	return e, e.srv.Dial(t, "alice", kmip.V2_1)
}

// The vectors of the CS-BC profile tests (KMIP Profiles 2.1) for AES-128
// key 0123456789abcdef0123456789abcdef.
func TestCrypto_AESKnownAnswers(t *testing.T) {
	_, c := cryptoEnv(t)
	key := unhex("0123456789abcdef0123456789abcdef")
	id := regSym(t, c, kmip.CryptographicAlgorithmAES, key, encDec)
	pt := unhex("01020304050607080910111213141516")
	pt33 := unhex("010203040506070809101112131415160102030405060708091011121314151601")
	cases := []struct {
		name   string
		params fld
		in, iv []byte
		want   string
	}{
		{"ECB", fParams(fMode(kmip.BlockCipherModeECB)), pt, nil, "d9bcce11b0b437b90239552df3a360c9"},
		{"ECB-PKCS5", fParams(fMode(kmip.BlockCipherModeECB), fPad(kmip.PaddingMethodPKCS5)), pt, nil,
			"d9bcce11b0b437b90239552df3a360c90efb6bfed93b4d1ea2123ba4db075ff6"},
		{"CBC-PKCS5", fParams(fMode(kmip.BlockCipherModeCBC), fPad(kmip.PaddingMethodPKCS5)), pt33, pt,
			"79abc5c23868ad84d388ce61110a62742bda19d694bbcb757dd06617c0d80fb1df2e71864ad9633d7d797e30860df00d"},
		{"CBC-PKCS5-IV2", fParams(fMode(kmip.BlockCipherModeCBC), fPad(kmip.PaddingMethodPKCS5)), pt33,
			unhex("FF020304050607080910111213141516"),
			"e768203ba72b6e157daaad34b1e791d8e88457dc147942f01bfaff7b28a3cdde2203d4d5a4c7928ba9e9cc78b66a6546"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var ivf fld
			if tc.iv != nil {
				ivf = fIV(tc.iv)
			}
			ct, madeIV, _ := encryptOK(t, c, fUID(id), tc.params, fData(tc.in), ivf)
			if hex.EncodeToString(ct) != tc.want || madeIV != nil {
				t.Fatalf("Encrypt = %x (IV %x), want %s", ct, madeIV, tc.want)
			}
			if got := decryptOK(t, c, fUID(id), tc.params, fData(ct), ivf); !bytes.Equal(got, tc.in) {
				t.Fatalf("Decrypt = %x, want %x", got, tc.in)
			}
		})
	}
	// CS-BC-M-11: CBC decryption with the wrong IV garbles the first block
	// only; without an IV it is Invalid Message.
	ct := unhex("e768203ba72b6e157daaad34b1e791d8e88457dc147942f01bfaff7b28a3cdde2203d4d5a4c7928ba9e9cc78b66a6546")
	cbc := fParams(fMode(kmip.BlockCipherModeCBC), fPad(kmip.PaddingMethodPKCS5))
	got := decryptOK(t, c, fUID(id), cbc, fData(ct), fIV(make([]byte, 16)))
	if hex.EncodeToString(got) != "fe0000000000000000000000000000000102030405060708091011121314151601" {
		t.Fatalf("CBC with a zero IV: %x", got)
	}
	fails(t, c, kmip.OperationDecrypt, kmip.ResultReasonInvalidMessage, fUID(id), cbc, fData(ct))
	// Triple DES (TC-STREAM-ENC-2).
	id3 := regSym(t, c, kmip.CryptographicAlgorithmDES3, bytes.Repeat([]byte{1}, 24), encDec)
	ct3, _, _ := encryptOK(t, c, fUID(id3), fParams(fMode(kmip.BlockCipherModeECB)), fData(unhex("0102030405060708")))
	if hex.EncodeToString(ct3) != "cead373db80eabf8" {
		t.Fatalf("3DES ECB = %x", ct3)
	}
}

// gcmVector is a test case of the GCM specification (McGrew and Viega)
// and NIST's CAVP, as the CS-BC-M-GCM-2 profile test uses them.
type gcmVector struct {
	key, iv, aad, pt string
	tagLen           int32
	ct, tag          string
}

var gcmVectors = []gcmVector{
	{"00000000000000000000000000000000", "000000000000000000000000", "", "", 16, "", "58e2fccefa7e3061367f1d57a4e7455a"},
	{"00000000000000000000000000000000", "000000000000000000000000", "", "00000000000000000000000000000000", 16,
		"0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"},
	{"feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", "",
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255", 16,
		"42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
		"4d5c2af327cd64a62cf35abd2ba6fab4"},
	{"feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39", 16,
		"42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
		"5bc94fbc3221a5db94fae95ae7121a47"},
	{"feffe9928665731c6d6a8f9467308308", "cafebabefacedbad", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39", 16,
		"61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c742373806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598",
		"3612d2e79e3b0785561be14aaca2fccb"},
	{"feffe9928665731c6d6a8f9467308308",
		"9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b",
		"feedfacedeadbeeffeedfacedeadbeefabaddad2",
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39", 16,
		"8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca701e4a9a4fba43c90ccdcb281d48c7c6fd62875d2aca417034c34aee5",
		"619cc5aefffe0bfa462af43c1699d050"},
	{"feffe9928665731c6d6a8f9467308308feffe9928665731c", "cafebabefacedbad", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39", 16,
		"0f10f599ae14a154ed24b36e25324db8c566632ef2bbb34f8347280fc4507057fddc29df9a471f75c66541d4d4dad1c9e93a19a58e8b473fa0f062f7",
		"65dcc57fcf623a24094fcca40d3533f8"},
	{"feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39", 16,
		"522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
		"76fc6ece0f4e1768cddf8853bb2d551b"},
	{"6dfa1a07c14f978020ace450ad663d18", "34edfa462a14c6969a680ec1", "2a35c7f5f8578e919a581c60500c04f6", "", 15, "", "751f3098d59cf4ea1d2fb0853bde1c"},
	{"ed6cd876ceba555706674445c229c12d", "92ecbf74b765bc486383ca2e", "95bd10d77dbe0e87fb34217f1a2e5efe",
		"bfaaaea3880d72d4378561e2597a9b35", 14, "bdd2ed6c66fa087dce617d7fd1ff6d93", "ba82e49c55a22ed02ca67da4ec6f"},
	{"a1412ff6f687787fb404a4a9d18511d1", "7e78061027ac22ddad25c930", "e21cfc627452107d55f34f7d06bca88e",
		"abef8c37dfc74ad8b5e59e71ae9a9583", 13, "0d378e6a61589c6f49b739ae374e6fc1", "75ea647ff1318e4a53b55ac0d2"},
	{"5ac0b25cccaaa4bb2375aef5034db959", "65765ef5c5ff39c256af5838", "77d997b514608c0d0b0668cecae21f4a",
		"53b4f37fcb17ecbf88f47f5aa53bfe96", 12, "506959e2cc4929a7047a5bc986854e0e", "c69d14f2e795336f6eb22171"},
}

func TestCrypto_GCMKnownAnswers(t *testing.T) {
	_, c := cryptoEnv(t)
	for i, v := range gcmVectors {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			id := regSym(t, c, kmip.CryptographicAlgorithmAES, unhex(v.key), encDec)
			params := fParams(fMode(kmip.BlockCipherModeGCM), fTagLen(v.tagLen))
			ct, madeIV, tag := encryptOK(t, c, fUID(id), params, fData(unhex(v.pt)), fIV(unhex(v.iv)), fAAD(unhex(v.aad)))
			if hex.EncodeToString(ct) != v.ct || hex.EncodeToString(tag) != v.tag || madeIV != nil {
				t.Fatalf("Encrypt = %x tag %x", ct, tag)
			}
			got := decryptOK(t, c, fUID(id), params, fData(ct), fIV(unhex(v.iv)), fAAD(unhex(v.aad)), fTag(tag))
			if hex.EncodeToString(got) != v.pt {
				t.Fatalf("Decrypt = %x", got)
			}
			// The stream encrypts the same, in pieces.
			ct2, tag2 := streamEncrypt(t, c, id, params, unhex(v.pt), []fld{fIV(unhex(v.iv)), fAAD(unhex(v.aad))}, 7)
			if hex.EncodeToString(ct2) != v.ct || hex.EncodeToString(tag2) != v.tag {
				t.Fatalf("stream Encrypt = %x tag %x", ct2, tag2)
			}
		})
	}
}

// streamEncrypt encrypts data in pieces of at most n bytes (Init carries
// the first) and returns the concatenated Data and the final tag.
func streamEncrypt(t *testing.T, c *kmip.Client, id string, params fld, data []byte, first []fld, n int) (ct, tag []byte) {
	return streamRun(t, c, kmip.OperationEncrypt, id, params, data, first, nil, n)
}

// streamRun drives a multi-part Encrypt or Decrypt; last holds fields for
// the Final request.
func streamRun(t *testing.T, c *kmip.Client, op kmip.Operation, id string, params fld, data []byte, first, last []fld, n int) (outData, tag []byte) {
	t.Helper()
	var cv []byte
	for i := 0; ; i++ {
		k := min(n, len(data))
		fs := []fld{fUID(id)}
		if i == 0 {
			fs = append(fs, params)
		}
		fs = append(fs, fData(data[:k]))
		if i == 0 {
			fs = append(fs, first...)
			fs = append(fs, fInit())
		} else {
			fs = append(fs, fCV(cv))
		}
		data = data[k:]
		final := len(data) == 0 && i > 0
		if final {
			fs = append(fs, fFinal())
			fs = append(fs, last...)
		}
		it := must(t, c, op, fs...)
		outData = append(outData, out(it, ttlv.TagData)...)
		if final {
			if has(it, ttlv.TagCorrelationValue) {
				t.Fatal("the final response carries a Correlation Value")
			}
			return outData, out(it, ttlv.TagAuthenticatedEncryptionTag)
		}
		if cv = out(it, ttlv.TagCorrelationValue); cv == nil {
			t.Fatalf("no Correlation Value: %s", ttlv.Format(it.Payload))
		}
	}
}

// localGCM seals with the standard library, as the reference.
func localGCM(key, iv, aad, pt []byte, tagLen int) (ct, tag []byte) {
	b, _ := aes.NewCipher(key)
	g, _ := cipher.NewGCMWithNonceSize(b, len(iv))
	s := g.Seal(nil, iv, pt, aad)
	return s[:len(pt)], s[len(pt) : len(pt)+tagLen]
}

// The multi-part GCM encryption kmipd implements itself must agree with the
// standard library's for every IV, additional data, message and piece size.
func TestCrypto_GCMStreamMatchesStdlib(t *testing.T) {
	_, c := cryptoEnv(t)
	r := mrand.New(mrand.NewPCG(1, 2))
	for i := range 24 {
		key := randBytes([]int{16, 24, 32}[i%3])
		id := regSym(t, c, kmip.CryptographicAlgorithmAES, key, encDec)
		iv := randBytes(1 + r.IntN(40))
		aad := randBytes(r.IntN(50))
		pt := randBytes(r.IntN(200))
		tagLen := 12 + r.IntN(5)
		wantCT, wantTag := localGCM(key, iv, aad, pt, tagLen)
		params := fParams(fMode(kmip.BlockCipherModeGCM), fTagLen(int32(tagLen)))
		ct, tag := streamEncrypt(t, c, id, params, pt, []fld{fIV(iv), fAAD(aad)}, 1+r.IntN(33))
		if !bytes.Equal(ct, wantCT) || !bytes.Equal(tag, wantTag) {
			t.Fatalf("case %d (iv %d, aad %d, pt %d): got %x/%x, want %x/%x", i, len(iv), len(aad), len(pt), ct, tag, wantCT, wantTag)
		}
		// Multi-part decryption returns nothing before the tag is checked.
		pt2, _ := streamRun(t, c, kmip.OperationDecrypt, id, params, ct, []fld{fIV(iv), fAAD(aad)}, []fld{fTag(tag)}, 1+r.IntN(33))
		if !bytes.Equal(pt2, pt) {
			t.Fatalf("case %d: stream Decrypt = %x", i, pt2)
		}
	}
}

// Modes round-trip through the server and agree with the standard library.
func TestCrypto_SymmetricRoundTrips(t *testing.T) {
	_, c := cryptoEnv(t)
	for _, bits := range []int{128, 192, 256} {
		key := randBytes(bits / 8)
		id := regSym(t, c, kmip.CryptographicAlgorithmAES, key, encDec)
		b, _ := aes.NewCipher(key)
		for _, n := range []int{0, 1, 15, 16, 17, 100} {
			pt := randBytes(n)
			// CBC with PKCS#5 and a server-made IV.
			cbc := fParams(fMode(kmip.BlockCipherModeCBC), fPad(kmip.PaddingMethodPKCS5))
			ct, iv, _ := encryptOK(t, c, fUID(id), cbc, fData(pt))
			if len(iv) != 16 || len(ct) != (n/16+1)*16 {
				t.Fatalf("CBC: %d-byte IV, %d-byte ciphertext", len(iv), len(ct))
			}
			want := append(append([]byte{}, pt...), bytes.Repeat([]byte{byte(16 - n%16)}, 16-n%16)...)
			cipher.NewCBCEncrypter(b, iv).CryptBlocks(want, want)
			if !bytes.Equal(ct, want) {
				t.Fatalf("AES-%d CBC (%d bytes) differs from the standard library", bits, n)
			}
			if got := decryptOK(t, c, fUID(id), cbc, fData(ct), fIV(iv)); !bytes.Equal(got, pt) {
				t.Fatal("CBC round trip")
			}
			// CTR with a client IV.
			ctr := fParams(fMode(kmip.BlockCipherModeCTR))
			iv = randBytes(16)
			ct, made, _ := encryptOK(t, c, fUID(id), ctr, fData(pt), fIV(iv))
			want = make([]byte, n)
			cipher.NewCTR(b, iv).XORKeyStream(want, pt)
			if !bytes.Equal(ct, want) || made != nil {
				t.Fatal("CTR differs from the standard library")
			}
			if got := decryptOK(t, c, fUID(id), ctr, fData(ct), fIV(iv)); !bytes.Equal(got, pt) {
				t.Fatal("CTR round trip")
			}
			// GCM with a server-made IV and additional data.
			gcm := fParams(fMode(kmip.BlockCipherModeGCM))
			aad := randBytes(n % 7)
			ct, iv, tag := encryptOK(t, c, fUID(id), gcm, fData(pt), fAAD(aad))
			wantCT, wantTag := localGCM(key, iv, aad, pt, 16)
			if len(iv) != 12 || !bytes.Equal(ct, wantCT) || !bytes.Equal(tag, wantTag) {
				t.Fatal("GCM differs from the standard library")
			}
			if got := decryptOK(t, c, fUID(id), gcm, fData(ct), fIV(iv), fAAD(aad), fTag(tag)); !bytes.Equal(got, pt) {
				t.Fatal("GCM round trip")
			}
			// ECB without padding needs whole blocks.
			ecb := fParams(fMode(kmip.BlockCipherModeECB))
			if n%16 != 0 {
				fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonBadCryptographicParameters, fUID(id), ecb, fData(pt))
				continue
			}
			ct, _, _ = encryptOK(t, c, fUID(id), ecb, fData(pt))
			if got := decryptOK(t, c, fUID(id), ecb, fData(ct)); !bytes.Equal(got, pt) {
				t.Fatal("ECB round trip")
			}
		}
	}
	// Triple DES CBC, two- and three-key.
	for _, n := range []int{16, 24} {
		key := randBytes(n)
		id := regSym(t, c, kmip.CryptographicAlgorithmDES3, key, encDec)
		pt := randBytes(21)
		cbc := fParams(fMode(kmip.BlockCipherModeCBC), fPad(kmip.PaddingMethodPKCS5))
		ct, iv, _ := encryptOK(t, c, fUID(id), cbc, fData(pt))
		k3 := key
		if n == 16 {
			k3 = append(append([]byte{}, key...), key[:8]...)
		}
		b, _ := des.NewTripleDESCipher(k3)
		want := append(append([]byte{}, pt...), 3, 3, 3)
		cipher.NewCBCEncrypter(b, iv).CryptBlocks(want, want)
		if len(iv) != 8 || !bytes.Equal(ct, want) {
			t.Fatalf("3DES-%d CBC differs from the standard library", 8*n)
		}
		if got := decryptOK(t, c, fUID(id), cbc, fData(ct), fIV(iv)); !bytes.Equal(got, pt) {
			t.Fatal("3DES round trip")
		}
	}
}

// ChaCha20 with the CS-BC-M-CHACHA20 vectors (the original 64-bit-nonce
// ChaCha20) and ChaCha20-Poly1305 with RFC 8439 §2.8.2's.
func TestCrypto_ChaCha(t *testing.T) {
	_, c := cryptoEnv(t)
	zeros := make([]byte, 64)
	for _, v := range []struct{ key, iv, pt, ct string }{
		{"0000000000000000000000000000000000000000000000000000000000000000", "0000000000000000", hex.EncodeToString(zeros),
			"76b8e0ada0f13d90405d6ae55386bd28bdd219b8a08ded1aa836efcc8b770dc7da41597c5157488d7724e03fb8d84a376a43b8f41518a11cc387b669b2ee6586"},
		{"0000000000000000000000000000000000000000000000000000000000000001", "0000000000000000", hex.EncodeToString(zeros),
			"4540f05a9f1fb296d7736e7b208e3c96eb4fe1834688d2604f450952ed432d41bbe2a0b6ea7566d2a5d1e7e20d42af2c53d792b1c43fea817e9ad275ae546963"},
		{"0000000000000000000000000000000000000000000000000000000000000000", "0000000000000001", hex.EncodeToString(zeros[:60]),
			"de9cba7bf3d69ef5e786dc63973f653a0b49e015adbff7134fcb7df137821031e85a050278a7084527214f73efc7fa5b5277062eb7a0433e445f41e3"},
	} {
		id := regSym(t, c, kmip.CryptographicAlgorithmChaCha20, unhex(v.key), encDec)
		ct, _, _ := encryptOK(t, c, fUID(id), fParams(), fData(unhex(v.pt)), fIV(unhex(v.iv)))
		if hex.EncodeToString(ct) != v.ct {
			t.Fatalf("ChaCha20 = %x", ct)
		}
		if got := decryptOK(t, c, fUID(id), fParams(), fData(ct), fIV(unhex(v.iv))); hex.EncodeToString(got) != v.pt {
			t.Fatal("ChaCha20 round trip")
		}
		ct2, _ := streamEncrypt(t, c, id, fParams(), unhex(v.pt), []fld{fIV(unhex(v.iv))}, 5)
		if hex.EncodeToString(ct2) != v.ct {
			t.Fatalf("multi-part ChaCha20 = %x", ct2)
		}
	}
	// A 12-byte nonce counts from the Initial Counter Value: counter 1 of
	// the 8-byte-nonce stream is the second block.
	id := regSym(t, c, kmip.CryptographicAlgorithmChaCha20, make([]byte, 32), encDec)
	ct, _, _ := encryptOK(t, c, fUID(id), fParams(fInt(ttlv.TagInitialCounterValue, 1)), fData(make([]byte, 32)), fIV(make([]byte, 12)))
	if hex.EncodeToString(ct) != "9f07e7be5551387a98ba977c732d080dcb0f29a048e3656912c6533e32ee7aed" {
		t.Fatalf("ChaCha20 from counter 1 = %x", ct)
	}

	key := unhex("808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f")
	pt := []byte("Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.")
	nonce := unhex("070000004041424344454647")
	aad := unhex("50515253c0c1c2c3c4c5c6c7")
	wantCT := "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116"
	wantTag := "1ae10b594f09e26a7e902ecbd0600691"
	id = regSym(t, c, kmip.CryptographicAlgorithmChaCha20Poly1305, key, encDec)
	aead := fParams(fMode(kmip.BlockCipherModeAEAD), fTagLen(16))
	ct, _, tag := encryptOK(t, c, fUID(id), aead, fData(pt), fIV(nonce), fAAD(aad))
	if hex.EncodeToString(ct) != wantCT || hex.EncodeToString(tag) != wantTag {
		t.Fatalf("ChaCha20-Poly1305 = %x / %x", ct, tag)
	}
	if got := decryptOK(t, c, fUID(id), aead, fData(ct), fIV(nonce), fAAD(aad), fTag(tag)); !bytes.Equal(got, pt) {
		t.Fatal("ChaCha20-Poly1305 round trip")
	}
	// Without a Block Cipher Mode, and with a 12-byte tag.
	got := decryptOK(t, c, fUID(id), fParams(fTagLen(12)), fData(ct), fIV(nonce), fAAD(aad), fTag(tag[:12]))
	if !bytes.Equal(got, pt) {
		t.Fatal("ChaCha20-Poly1305 with a short tag")
	}
	// Multi-part: buffered, output at the end.
	ct2, tag2 := streamEncrypt(t, c, id, aead, pt, []fld{fIV(nonce), fAAD(aad)}, 50)
	if hex.EncodeToString(ct2) != wantCT || hex.EncodeToString(tag2) != wantTag {
		t.Fatal("multi-part ChaCha20-Poly1305")
	}
	// XChaCha20-Poly1305 with a server nonce of 24 bytes.
	ct, xn, tag := encryptOK(t, c, fUID(id), fParams(fInt(ttlv.TagIVLength, 192)), fData(pt))
	if len(xn) != 24 {
		t.Fatalf("XChaCha20-Poly1305 nonce of %d bytes", len(xn))
	}
	if got := decryptOK(t, c, fUID(id), fParams(), fData(ct), fIV(xn), fTag(tag)); !bytes.Equal(got, pt) {
		t.Fatal("XChaCha20-Poly1305 round trip")
	}
}

// AEAD tampering is Cryptographic Failure; an invalid Tag Length General
// Failure (CS-BC-M-GCM-1, CS-BC-M-CHACHA20POLY1305-1).
func TestCrypto_AEADTampering(t *testing.T) {
	_, c := cryptoEnv(t)
	for _, tc := range []struct {
		alg  kmip.CryptographicAlgorithm
		mode kmip.BlockCipherMode
		n    int
	}{
		{kmip.CryptographicAlgorithmAES, kmip.BlockCipherModeGCM, 16},
		{kmip.CryptographicAlgorithmChaCha20Poly1305, kmip.BlockCipherModeAEAD, 32},
	} {
		id := regSym(t, c, tc.alg, randBytes(tc.n), encDec)
		params := fParams(fMode(tc.mode), fTagLen(16))
		pt, aad := randBytes(40), randBytes(10)
		iv := randBytes(12)
		ct, _, tag := encryptOK(t, c, fUID(id), params, fData(pt), fIV(iv), fAAD(aad))
		flip := func(b []byte) []byte { b = append([]byte{}, b...); b[0] ^= 0xff; return b }
		for name, fs := range map[string][]fld{
			"tag":  {fData(ct), fIV(iv), fAAD(aad), fTag(flip(tag))},
			"iv":   {fData(ct), fIV(flip(iv)), fAAD(aad), fTag(tag)},
			"data": {fData(flip(ct)), fIV(iv), fAAD(aad), fTag(tag)},
			"aad":  {fData(ct), fIV(iv), fAAD(flip(aad)), fTag(tag)},
		} {
			_, err := do(t, c, kmip.OperationDecrypt, pl(append([]fld{fUID(id), params}, fs...)...))
			if ke, ok := err.(*kmip.Error); !ok || ke.Reason != kmip.ResultReasonCryptographicFailure {
				t.Fatalf("%s %s tampered: %v", tc.alg, name, err)
			}
		}
		// A shortened tag checks, and a tampered short tag does not.
		short := fParams(fMode(tc.mode), fTagLen(12))
		if got := decryptOK(t, c, fUID(id), short, fData(ct), fIV(iv), fAAD(aad), fTag(tag[:12])); !bytes.Equal(got, pt) {
			t.Fatal("12-byte tag")
		}
		fails(t, c, kmip.OperationDecrypt, kmip.ResultReasonCryptographicFailure, fUID(id), short, fData(ct), fIV(iv), fAAD(aad), fTag(flip(tag[:12])))
		for _, n := range []int32{1, 11, 17, 32} {
			fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonGeneralFailure, fUID(id), fParams(fMode(tc.mode), fTagLen(n)), fData(pt), fIV(iv))
		}
		fails(t, c, kmip.OperationDecrypt, kmip.ResultReasonInvalidMessage, fUID(id), params, fData(ct), fIV(iv), fAAD(aad))
	}
}

// Cryptographic Parameters come from the key's attribute when the request
// has none (CS-BC-M-12, -13): Random IV makes the server choose the IV.
func TestCrypto_ParamsFromKey(t *testing.T) {
	e, c := cryptoEnv(t)
	key := unhex("0123456789abcdef0123456789abcdef")
	pt := unhex("010203040506070809101112131415160102030405060708091011121314151601")
	id := regSym(t, c, kmip.CryptographicAlgorithmAES, key, encDec,
		paramsAttr(c.Version, fMode(kmip.BlockCipherModeCBC), fPad(kmip.PaddingMethodPKCS5), fBool(ttlv.TagRandomIV, true)))
	ct, iv, _ := encryptOK(t, c, fUID(id), fData(pt))
	if len(iv) != 16 {
		t.Fatalf("no server IV: %x", iv)
	}
	fails(t, c, kmip.OperationDecrypt, kmip.ResultReasonInvalidMessage, fUID(id), fData(ct))
	if got := decryptOK(t, c, fUID(id), fData(ct), fIV(iv)); !bytes.Equal(got, pt) {
		t.Fatal("round trip with the key's parameters")
	}
	// Random IV forbids a client IV; a request field overrides the key's.
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonBadCryptographicParameters, fUID(id), fData(pt), fIV(iv))
	ct2, iv2, _ := encryptOK(t, c, fUID(id), fParams(fBool(ttlv.TagRandomIV, false)), fData(pt), fIV(iv))
	if iv2 != nil || !bytes.Equal(ct2, ct) {
		t.Fatal("a request's Random IV false with the client's IV")
	}
	// 1.4 clients see the same with the Template-Attribute form.
	c14 := e.srv.Dial(t, "alice", kmip.V1_4)
	id14 := regSym(t, c14, kmip.CryptographicAlgorithmAES, key, encDec, paramsAttr(kmip.V1_4, fMode(kmip.BlockCipherModeECB)))
	ct, _, _ = encryptOK(t, c14, fUID(id14), fData(unhex("01020304050607080910111213141516")))
	if hex.EncodeToString(ct) != "d9bcce11b0b437b90239552df3a360c9" {
		t.Fatalf("1.4 ECB by the key's parameters = %x", ct)
	}
	// No mode at all.
	idn := regSym(t, c, kmip.CryptographicAlgorithmAES, key, encDec)
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonBadCryptographicParameters, fUID(idn), fData(pt))
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonUnsupportedCryptographicParameters, fUID(idn), fParams(fMode(kmip.BlockCipherModeXTS)), fData(pt))
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonInvalidMessage, fUID(idn), fParams(fMode(kmip.BlockCipherModeECB)))
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonObjectNotFound, fUID("nope"), fParams(fMode(kmip.BlockCipherModeECB)), fData(pt))
}

// Usage Limits run out (CS-BC-M-7): Permission Denied, in 2.x and 1.x;
// the count is persisted; only protecting operations count.
func TestCrypto_UsageLimits(t *testing.T) {
	e, c := cryptoEnv(t)
	key := unhex("0123456789abcdef0123456789abcdef")
	ecb := fParams(fMode(kmip.BlockCipherModeECB))
	block := unhex("01020304050607080910111213141516")
	for _, ver := range []kmip.Version{kmip.V2_1, kmip.V2_0, kmip.V1_4} {
		cv := e.srv.Dial(t, "alice", ver)
		id := regSym(t, cv, kmip.CryptographicAlgorithmAES, key, encDec, usageLimitsAttr(ver, 32, kmip.UsageLimitsUnitByte))
		ct, _, _ := encryptOK(t, cv, fUID(id), ecb, fData(block))
		// 32 bytes would exceed the 16 left: refused, nothing consumed.
		fails(t, cv, kmip.OperationEncrypt, kmip.ResultReasonPermissionDenied, fUID(id), ecb, fData(append(block, block...)))
		encryptOK(t, cv, fUID(id), ecb, fData(block))
		fails(t, cv, kmip.OperationEncrypt, kmip.ResultReasonPermissionDenied, fUID(id), ecb, fData(block))
		// Decryption is not limited.
		decryptOK(t, cv, fUID(id), ecb, fData(ct))
		if ver.V2() {
			ul := attrsOf(t, cv, id)[ttlv.TagUsageLimits]
			if cnt, ok := ul.Children().Find(ttlv.TagUsageLimitsCount); !ok || cnt.Int64() != 0 {
				t.Fatalf("%s: Usage Limits after exhaustion: %s", ver, ttlv.Format(ul.Raw))
			}
		}
	}
	// Object units count operations, whatever their size.
	id := regSym(t, c, kmip.CryptographicAlgorithmAES, key, encDec, usageLimitsAttr(c.Version, 2, kmip.UsageLimitsUnitObject))
	encryptOK(t, c, fUID(id), ecb, fData(append(block, block...)))
	encryptOK(t, c, fUID(id), ecb, fData(block))
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonPermissionDenied, fUID(id), ecb, fData(block))
	// Multi-part operations consume bytes as they go...
	id = regSym(t, c, kmip.CryptographicAlgorithmAES, key, encDec, usageLimitsAttr(c.Version, 24, kmip.UsageLimitsUnitByte))
	it := must(t, c, kmip.OperationEncrypt, fUID(id), ecb, fData(block), fInit())
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonPermissionDenied, fUID(id), fData(block), fCV(out(it, ttlv.TagCorrelationValue)))
	// ... and one Object unit for the whole operation.
	id = regSym(t, c, kmip.CryptographicAlgorithmAES, key, encDec, usageLimitsAttr(c.Version, 1, kmip.UsageLimitsUnitObject))
	ct, _ := streamEncrypt(t, c, id, ecb, append(block, block...), nil, 8)
	if len(ct) != 32 {
		t.Fatalf("multi-part encryption under an Object limit: %x", ct)
	}
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonPermissionDenied, fUID(id), ecb, fData(block))
}

// clockEngine is the in-process engine with a clock the test moves.
type clockEngine struct {
	srv  *kmip.Server
	sess *kmip.Session
	now  time.Time
}

func newClockEngine(tb testing.TB) *clockEngine {
	le := lifecycletest.New(tb, &lifecycletest.Options{NoSync: true})
	e := &clockEngine{now: time.Unix(1_800_000_000, 0)}
	e.srv = &kmip.Server{Handler: le.Service, Logger: zerolog.Nop(), Now: func() time.Time { return e.now }}
	e.sess = e.srv.NewSession(kmip.Identity{Name: "alice"}, nil)
	return e
}

func (e *clockEngine) do(tb testing.TB, op kmip.Operation, fs ...fld) *kmip.ResponseItem {
	tb.Helper()
	msg := engineRequest(tb, op, pl(fs...))
	var r kmip.Response
	if err := r.Parse(append([]byte{}, e.srv.Handle(e.sess, msg)...), kmip.Limits{}); err != nil {
		tb.Fatal(err)
	}
	return &r.Items[0]
}

// Multi-part state expires after ten idle minutes, and a client may have
// at most 64 operations open.
func TestCrypto_StreamBounds(t *testing.T) {
	e := newClockEngine(t)
	it := e.do(t, kmip.OperationRegister, fEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey)),
		attrsWrap(kmip.V2_0, maskAttr(kmip.V2_0, encDec), func(b *ttlv.Builder) { b.AddDateTime(ttlv.TagActivationDate, 1_700_000_000) }),
		func(b *ttlv.Builder) {
			kmip.WriteSymmetricKey(b, &kmip.KeyBlock{FormatType: kmip.KeyFormatTypeRaw, Material: randBytes(16),
				CryptographicAlgorithm: kmip.CryptographicAlgorithmAES, CryptographicLength: 128})
		})
	id := string(out2text(it))
	ecb := fParams(fMode(kmip.BlockCipherModeECB))
	start := func() []byte {
		it := e.do(t, kmip.OperationEncrypt, fUID(id), ecb, fData(randBytes(8)), fInit())
		if err := it.Err(); err != nil {
			t.Fatal(err)
		}
		return out(it, ttlv.TagCorrelationValue)
	}
	cv := start()
	e.now = e.now.Add(9 * time.Minute)
	if err := e.do(t, kmip.OperationEncrypt, fUID(id), fData(randBytes(8)), fCV(cv)).Err(); err != nil {
		t.Fatalf("within the idle time: %v", err)
	}
	e.now = e.now.Add(11 * time.Minute)
	wantReason(t, e.do(t, kmip.OperationEncrypt, fUID(id), fData(randBytes(8)), fCV(cv)).Err(), kmip.ResultReasonInvalidCorrelationValue)
	var open [][]byte
	for range 64 {
		open = append(open, start())
	}
	wantReason(t, e.do(t, kmip.OperationEncrypt, fUID(id), ecb, fData(randBytes(8)), fInit()).Err(), kmip.ResultReasonServerLimitExceeded)
	// Ending one makes room; expiry frees them all.
	if err := e.do(t, kmip.OperationEncrypt, fUID(id), fData(randBytes(8)), fCV(open[0]), fFinal()).Err(); err != nil {
		t.Fatal(err)
	}
	start()
	e.now = e.now.Add(time.Hour)
	for range 64 {
		start()
	}
}

// The date windows (CS-BC-M-14): no protection after the Protect Stop Date,
// no processing before the Process Start Date — Wrong Key Lifecycle State,
// which 1.x clients see as Permission Denied. A Pre-Active key is refused
// too.
func TestCrypto_DateWindows(t *testing.T) {
	e, _ := cryptoEnv(t)
	key := unhex("0123456789abcdef0123456789abcdef")
	ecb := fParams(fMode(kmip.BlockCipherModeECB))
	block := unhex("01020304050607080910111213141516")
	for ver, reason := range map[kmip.Version]kmip.ResultReason{
		kmip.V2_1: kmip.ResultReasonWrongKeyLifecycleState,
		kmip.V2_0: kmip.ResultReasonWrongKeyLifecycleState,
		kmip.V1_4: kmip.ResultReasonPermissionDenied,
	} {
		c := e.srv.Dial(t, "alice", ver)
		id := regSym(t, c, kmip.CryptographicAlgorithmAES, key, encDec,
			dateAttr(ver, ttlv.TagProcessStartDate, time.Hour), dateAttr(ver, ttlv.TagProtectStopDate, -time.Hour))
		fails(t, c, kmip.OperationEncrypt, reason, fUID(id), ecb, fData(block))
		fails(t, c, kmip.OperationDecrypt, reason, fUID(id), ecb, fData(block))
		fails(t, c, kmip.OperationEncrypt, reason, fUID(id), ecb, fData(block), fInit())
		// The other way round, both work.
		id = regSym(t, c, kmip.CryptographicAlgorithmAES, key, encDec,
			dateAttr(ver, ttlv.TagProcessStartDate, -time.Minute), dateAttr(ver, ttlv.TagProtectStopDate, time.Hour))
		ct, _, _ := encryptOK(t, c, fUID(id), ecb, fData(block))
		decryptOK(t, c, fUID(id), ecb, fData(ct))
		// Pre-Active.
		pre := create(t, c, "")
		fails(t, c, kmip.OperationEncrypt, reason, fUID(pre), ecb, fData(block))
		// Deactivated (revoked).
		must(t, c, kmip.OperationRevoke, fUID(id), func(b *ttlv.Builder) {
			b.Begin(ttlv.TagRevocationReason)
			b.AddEnum(ttlv.TagRevocationReasonCode, uint32(kmip.RevocationReasonCodeCessationOfOperation))
			b.End()
		})
		fails(t, c, kmip.OperationDecrypt, reason, fUID(id), ecb, fData(ct))
	}
}

// The Cryptographic Usage Mask must allow the operation; a zero mask allows
// nothing.
func TestCrypto_UsageMask(t *testing.T) {
	e, c := cryptoEnv(t)
	key := randBytes(16)
	ecb := fParams(fMode(kmip.BlockCipherModeECB))
	block := randBytes(16)
	id := regSym(t, c, kmip.CryptographicAlgorithmAES, key, kmip.CryptographicUsageMaskDecrypt)
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonIncompatibleCryptographicUsageMask, fUID(id), ecb, fData(block))
	decryptOK(t, c, fUID(id), ecb, fData(block))
	fails(t, c, kmip.OperationMAC, kmip.ResultReasonIncompatibleCryptographicUsageMask, fUID(id), fData(block))
	id = regSym(t, c, kmip.CryptographicAlgorithmAES, key, kmip.CryptographicUsageMaskUnrestricted)
	encryptOK(t, c, fUID(id), ecb, fData(block))
	// Other clients do not see the key at all.
	bob := e.srv.Dial(t, "bob", kmip.V2_1)
	fails(t, bob, kmip.OperationEncrypt, kmip.ResultReasonObjectNotFound, fUID(id), ecb, fData(block))
	id = regSym(t, c, kmip.CryptographicAlgorithmAES, key, 0)
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonIncompatibleCryptographicUsageMask, fUID(id), ecb, fData(block))
}

// Multi-part operations: the TC-STREAM-ENC/ENCDEC shapes, and the misuse
// of Correlation Values.
func TestCrypto_Streaming(t *testing.T) {
	e, c := cryptoEnv(t)
	key := unhex("0123456789abcdef0123456789abcdef")
	id := regSym(t, c, kmip.CryptographicAlgorithmAES, key, encDec)
	cbc := fParams(fMode(kmip.BlockCipherModeCBC), fPad(kmip.PaddingMethodPKCS5))
	iv := unhex("01020304050607080910111213141516")
	pt := unhex("010203040506070809101112131415160102030405060708091011121314151601")
	want := "79abc5c23868ad84d388ce61110a62742bda19d694bbcb757dd06617c0d80fb1df2e71864ad9633d7d797e30860df00d"
	// TC-STREAM-ENCDEC-1: 8 bytes, nothing out; 8 more, one block out.
	it := must(t, c, kmip.OperationEncrypt, fUID(id), cbc, fData(pt[:8]), fIV(iv), fInit())
	if has(it, ttlv.TagData) {
		t.Fatal("output before a whole block")
	}
	cv := out(it, ttlv.TagCorrelationValue)
	it = must(t, c, kmip.OperationEncrypt, fUID(id), fData(pt[8:16]), fCV(cv))
	if hex.EncodeToString(out(it, ttlv.TagData)) != want[:32] {
		t.Fatalf("first block: %s", ttlv.Format(it.Payload))
	}
	// Another client cannot continue it, nor another operation.
	bob := e.srv.Dial(t, "bob", kmip.V2_1)
	fails(t, bob, kmip.OperationEncrypt, kmip.ResultReasonInvalidCorrelationValue, fData(pt[16:]), fCV(cv))
	fails(t, c, kmip.OperationDecrypt, kmip.ResultReasonInvalidCorrelationValue, fUID(id), fData(pt[16:]), fCV(cv))
	it = must(t, c, kmip.OperationEncrypt, fUID(id), fData(pt[16:]), fCV(cv), fFinal())
	if hex.EncodeToString(out(it, ttlv.TagData)) != want[32:] || has(it, ttlv.TagCorrelationValue) {
		t.Fatalf("final: %s", ttlv.Format(it.Payload))
	}
	// Ended: the value is gone.
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonInvalidCorrelationValue, fUID(id), fData(pt), fCV(cv))
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonInvalidCorrelationValue, fUID(id), fData(pt), fCV([]byte("forged")))
	// Decryption with padding holds the last block back.
	ct := unhex(want)
	got, _ := streamRun(t, c, kmip.OperationDecrypt, id, cbc, ct, []fld{fIV(iv)}, nil, 16)
	if !bytes.Equal(got, pt) {
		t.Fatalf("stream Decrypt = %x", got)
	}
	// Init without Data; Final without Data (TC-STREAM-ENC-1).
	ecb := fParams(fMode(kmip.BlockCipherModeECB))
	it = must(t, c, kmip.OperationEncrypt, fUID(id), ecb, fInit())
	cv = out(it, ttlv.TagCorrelationValue)
	it = must(t, c, kmip.OperationEncrypt, fUID(id), fData(pt[:16]), fCV(cv))
	if hex.EncodeToString(out(it, ttlv.TagData)) != "d9bcce11b0b437b90239552df3a360c9" {
		t.Fatal("ECB block")
	}
	it = must(t, c, kmip.OperationEncrypt, fUID(id), fCV(cv), fFinal())
	if has(it, ttlv.TagData) {
		t.Fatal("data out of nothing")
	}
	// A failed request ends the stream: ECB final with half a block.
	it = must(t, c, kmip.OperationEncrypt, fUID(id), ecb, fData(pt[:8]), fInit())
	cv = out(it, ttlv.TagCorrelationValue)
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonBadCryptographicParameters, fUID(id), fCV(cv), fFinal())
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonInvalidCorrelationValue, fUID(id), fCV(cv), fFinal())
	// The stream belongs to its object.
	other := regSym(t, c, kmip.CryptographicAlgorithmAES, key, encDec)
	it = must(t, c, kmip.OperationEncrypt, fUID(id), ecb, fInit())
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonInvalidCorrelationValue, fUID(other), fCV(out(it, ttlv.TagCorrelationValue)))
	// GCM multi-part decryption with a tampered tag fails at the end.
	gcm := fParams(fMode(kmip.BlockCipherModeGCM))
	gpt := randBytes(50)
	gct, giv, gtag := encryptOK(t, c, fUID(id), gcm, fData(gpt))
	gtag[3] ^= 1
	it = must(t, c, kmip.OperationDecrypt, fUID(id), gcm, fData(gct[:30]), fIV(giv), fInit())
	if has(it, ttlv.TagData) {
		t.Fatal("GCM multi-part decryption returned data before the tag was checked")
	}
	fails(t, c, kmip.OperationDecrypt, kmip.ResultReasonCryptographicFailure, fUID(id), fData(gct[30:]), fCV(out(it, ttlv.TagCorrelationValue)), fFinal(), fTag(gtag))
	// Random chunking of every unauthenticated mode matches one shot.
	r := mrand.New(mrand.NewPCG(3, 4))
	for _, m := range []struct {
		params fld
		blocks bool
	}{
		{fParams(fMode(kmip.BlockCipherModeECB), fPad(kmip.PaddingMethodPKCS5)), false},
		{fParams(fMode(kmip.BlockCipherModeCBC), fPad(kmip.PaddingMethodPKCS5)), false},
		{fParams(fMode(kmip.BlockCipherModeCBC)), true},
		{fParams(fMode(kmip.BlockCipherModeCTR)), false},
	} {
		params := m.params
		for range 4 {
			n := r.IntN(90)
			if m.blocks || r.IntN(2) == 0 {
				n = n / 16 * 16
			}
			data := randBytes(n)
			iv := randBytes(16)
			oneCT, _, _ := encryptOK(t, c, fUID(id), params, fData(data), fIV(iv))
			sct, _ := streamRun(t, c, kmip.OperationEncrypt, id, params, data, []fld{fIV(iv)}, nil, 1+r.IntN(20))
			if !bytes.Equal(sct, oneCT) {
				t.Fatalf("multi-part differs from single-part (%d bytes)", n)
			}
			spt, _ := streamRun(t, c, kmip.OperationDecrypt, id, params, oneCT, []fld{fIV(iv)}, nil, 1+r.IntN(20))
			if !bytes.Equal(spt, data) {
				t.Fatalf("multi-part decryption (%d bytes)", n)
			}
		}
	}
}

func TestCrypto_WrongObjects(t *testing.T) {
	_, c := cryptoEnv(t)
	sd := regSecret(t, c, []byte("secret"), kmip.CryptographicUsageMaskEncrypt)
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonInvalidObjectType, fUID(sd), fData([]byte("x")))
	id := regSym(t, c, kmip.CryptographicAlgorithmAES, randBytes(16), encDec)
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonBadCryptographicParameters, fUID(id), fParams(fAlg(kmip.CryptographicAlgorithmChaCha20)), fData([]byte("x")))
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonInvalidField, fUID(id), fParams(fMode(kmip.BlockCipherModeECB)), fData([]byte("x")), fSig([]byte("x")))
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonBadCryptographicParameters, fUID(id), fParams(fMode(kmip.BlockCipherModeCBC)), fData(make([]byte, 16)), fIV(make([]byte, 8)))
}
