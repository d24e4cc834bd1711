package lifecycle_test

import (
	"bytes"
	"crypto/aes"
	"encoding/hex"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// derive runs Derive Key and returns the new object's identifier.
func derive(t *testing.T, c *kmip.Client, typ kmip.ObjectType, base string, method kmip.DerivationMethod, bits int32, alg kmip.CryptographicAlgorithm, params ...fld) string {
	t.Helper()
	_, it, err := c.Do(kmip.OperationDeriveKey, deriveReq(c.Version, typ, base, method, bits, alg, params...))
	if err != nil {
		t.Fatalf("Derive Key: %v", err)
	}
	return string(out2text(it))
}

func deriveReq(ver kmip.Version, typ kmip.ObjectType, base string, method kmip.DerivationMethod, bits int32, alg kmip.CryptographicAlgorithm, params ...fld) func(b *ttlv.Builder) {
	attrs := []fld{}
	if ver.V2() {
		if alg != 0 {
			attrs = append(attrs, fEnum(ttlv.TagCryptographicAlgorithm, uint32(alg)))
		}
		attrs = append(attrs, fInt(ttlv.TagCryptographicLength, bits))
	} else {
		if alg != 0 {
			attrs = append(attrs, func(b *ttlv.Builder) {
				attr1(b, "Cryptographic Algorithm", func() { b.AddEnum(ttlv.TagAttributeValue, uint32(alg)) })
			})
		}
		attrs = append(attrs, func(b *ttlv.Builder) {
			attr1(b, "Cryptographic Length", func() { b.AddInt32(ttlv.TagAttributeValue, bits) })
		})
	}
	attrs = append(attrs, maskAttr(ver, encDec))
	var baseFld fld
	if base != "" {
		baseFld = fUID(base)
	}
	return pl(
		fEnum(ttlv.TagObjectType, uint32(typ)),
		baseFld,
		fEnum(ttlv.TagDerivationMethod, uint32(method)),
		func(b *ttlv.Builder) {
			b.Begin(ttlv.TagDerivationParameters)
			pl(params...)(b)
			b.End()
		},
		attrsWrap(ver, attrs...),
	)
}

// material returns the key material Get returns for a Symmetric Key or
// Secret Data object.
func material(t *testing.T, c *kmip.Client, id string) []byte {
	t.Helper()
	it := must(t, c, kmip.OperationGet, fUID(id))
	for _, top := range []ttlv.Tag{ttlv.TagSymmetricKey, ttlv.TagSecretData} {
		if km, ok := findPath(it.Payload, top, ttlv.TagKeyBlock, ttlv.TagKeyValue, ttlv.TagKeyMaterial); ok {
			return append([]byte{}, km.Data...)
		}
	}
	t.Fatalf("Get: %s", ttlv.Format(it.Payload))
	return nil
}

const deriveMask = kmip.CryptographicUsageMaskDeriveKey

func fSalt(b []byte) fld           { return bytesFld(ttlv.TagSalt, b) }
func fDerivationData(b []byte) fld { return bytesFld(ttlv.TagDerivationData, b) }
func fIterations(n int32) fld      { return fInt(ttlv.TagIterationCount, n) }

// PBKDF2 with the vectors of RFC 6070 (TC-DERIVEKEY-3/4 use two of them).
func TestDerive_PBKDF2(t *testing.T) {
	e, c := cryptoEnv(t)
	for _, v := range []struct {
		password, salt string
		iter           int32
		want           string
	}{
		{"password", "salt", 1, "0c60c80f961f0e71f3a9b524af6012062fe037a6"},
		{"password", "salt", 2, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"},
		{"password", "salt", 4096, "4b007901b765489abead49d926f721d065a429c1"},
		{"passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096, "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038"},
		{"pass\x00word", "sa\x00lt", 4096, "56fa6aa75548099dcc37d7f03425e0c3"},
	} {
		base := regSecret(t, c, []byte(v.password), deriveMask)
		bits := int32(4 * len(v.want))
		id := derive(t, c, kmip.ObjectTypeSecretData, base, kmip.DerivationMethodPBKDF2, bits, 0, fSalt([]byte(v.salt)), fIterations(v.iter))
		if got := hex.EncodeToString(material(t, c, id)); got != v.want {
			t.Fatalf("PBKDF2(%q, %q, %d) = %s, want %s", v.password, v.salt, v.iter, got, v.want)
		}
	}
	// TC-DERIVEKEY-5: PBKDF2-HMAC-SHA256 to an AES-256 key, with a 1.4
	// client too.
	for _, cl := range []*kmip.Client{c, e.srv.Dial(t, "alice", kmip.V1_4)} {
		base := regSecret(t, cl, []byte("password"), deriveMask)
		id := derive(t, cl, kmip.ObjectTypeSymmetricKey, base, kmip.DerivationMethodPBKDF2, 256, kmip.CryptographicAlgorithmAES,
			fParams(fHash(kmip.HashingAlgorithmSHA_256)), fSalt([]byte("salt")), fIterations(4096))
		if got := hex.EncodeToString(material(t, cl, id)); got != "c5e478d59288c841aa530db6845c4c8d962893a001ce4e11a4963873aa98134a" {
			t.Fatalf("%s: PBKDF2-SHA256 = %s", cl.Version, got)
		}
	}
	base := regSecret(t, c, []byte("password"), deriveMask)
	_, err := do(t, c, kmip.OperationDeriveKey, deriveReq(c.Version, kmip.ObjectTypeSymmetricKey, base, kmip.DerivationMethodPBKDF2, 128, kmip.CryptographicAlgorithmAES, fIterations(1)))
	wantReason(t, err, kmip.ResultReasonInvalidMessage)
	_, err = do(t, c, kmip.OperationDeriveKey, deriveReq(c.Version, kmip.ObjectTypeSymmetricKey, base, kmip.DerivationMethodPBKDF2, 128, kmip.CryptographicAlgorithmAES, fSalt([]byte("s")), fIterations(0)))
	wantReason(t, err, kmip.ResultReasonInvalidField)
}

// HKDF with the SHA-256 vectors of RFC 5869 (cases 1–3).
func TestDerive_HKDF(t *testing.T) {
	_, c := cryptoEnv(t)
	seq := func(from, to int) []byte {
		var b []byte
		for i := from; i < to; i++ {
			b = append(b, byte(i))
		}
		return b
	}
	for i, v := range []struct {
		ikm, salt, info []byte
		want            string
	}{
		{bytes.Repeat([]byte{0x0b}, 22), seq(0, 13), seq(0xf0, 0xfa),
			"3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"},
		{seq(0, 0x50), seq(0x60, 0xb0), seq(0xb0, 0x100),
			"b11e398dc80327a1c8e7f78c596a49344f012eda2d4efad8a050cc4c19afa97c59045a99cac7827271cb41c65e590e09da3275600c2f09b8367793a9aca3db71cc30c58179ec3e87c14c01d5c1f3434f1d87"},
		{bytes.Repeat([]byte{0x0b}, 22), nil, nil,
			"8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8"},
	} {
		base := regSecret(t, c, v.ikm, deriveMask)
		var fs []fld
		if v.salt != nil {
			fs = append(fs, fSalt(v.salt))
		}
		if v.info != nil {
			fs = append(fs, fDerivationData(v.info))
		}
		id := derive(t, c, kmip.ObjectTypeSecretData, base, kmip.DerivationMethodHKDF, int32(4*len(v.want)), 0, fs...)
		if got := hex.EncodeToString(material(t, c, id)); got != v.want {
			t.Fatalf("case %d: HKDF = %s", i+1, got)
		}
	}
}

// HASH and HMAC (TC-DERIVEKEY-1/2), SP 800-108 counter mode (checked
// against an independent implementation) and ENCRYPT.
func TestDerive_Methods(t *testing.T) {
	_, c := cryptoEnv(t)
	key := unhex("00112233445566778899aabbccddeeff")
	base := regSym(t, c, kmip.CryptographicAlgorithmAES, key, encDec|deriveMask)
	sha := fParams(fHash(kmip.HashingAlgorithmSHA_256))
	id := derive(t, c, kmip.ObjectTypeSymmetricKey, base, kmip.DerivationMethodHASH, 128, kmip.CryptographicAlgorithmAES, sha)
	if got := hex.EncodeToString(material(t, c, id)); got != "a8faed6abbf35c12a4b26e40f6feb19d" {
		t.Fatalf("HASH = %s", got)
	}
	id = derive(t, c, kmip.ObjectTypeSymmetricKey, base, kmip.DerivationMethodHMAC, 128, kmip.CryptographicAlgorithmAES, sha, fDerivationData(unhex("0102")))
	if got := hex.EncodeToString(material(t, c, id)); got != "1e15c1f1da233629f770fb0a04a5020e" {
		t.Fatalf("HMAC = %s", got)
	}
	// The derived key works and carries the links; so does the base.
	attrs := attrsOf(t, c, id)
	if attrs[ttlv.TagState].Uint32() == 0 || !has(must(t, c, kmip.OperationGetAttributes, fUID(id), fEnum(ttlv.TagAttributeReference, uint32(ttlv.TagLink))), ttlv.TagAttributes) {
		t.Fatal("derived key attributes")
	}
	link, ok := findPath(must(t, c, kmip.OperationGetAttributes, fUID(id), fEnum(ttlv.TagAttributeReference, uint32(ttlv.TagLink))).Payload,
		ttlv.TagAttributes, ttlv.TagLink, ttlv.TagLinkedObjectIdentifier)
	if !ok || string(link.Data) != base {
		t.Fatal("no Derivation Base Object link")
	}
	link, ok = findPath(must(t, c, kmip.OperationGetAttributes, fUID(base), fEnum(ttlv.TagAttributeReference, uint32(ttlv.TagLink))).Payload,
		ttlv.TagAttributes, ttlv.TagLink, ttlv.TagLinkedObjectIdentifier)
	if !ok || string(link.Data) == "" {
		t.Fatal("no Derived Key link on the base")
	}
	// HASH yields one digest at most.
	_, err := do(t, c, kmip.OperationDeriveKey, deriveReq(c.Version, kmip.ObjectTypeSecretData, base, kmip.DerivationMethodHASH, 512, 0, sha))
	wantReason(t, err, kmip.ResultReasonInvalidField)

	// SP 800-108 counter mode, HMAC-SHA256, 40 bytes.
	kdfKey := unhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	fixed := append([]byte("label\x00context\x00"), 0, 1, 0)
	kb := regSecret(t, c, kdfKey, deriveMask)
	id = derive(t, c, kmip.ObjectTypeSecretData, kb, kmip.DerivationMethodNIST800_108_C, 320, 0, sha, fDerivationData(fixed))
	if got := hex.EncodeToString(material(t, c, id)); got != "303790cfe363abe9682dbfff5941f23b32addc96da72f4c7e5b20e9f59a4e5708c8d6550414c4060" {
		t.Fatalf("SP 800-108 = %s", got)
	}
	// The same with the default PRF (HMAC-SHA256 for a secret).
	id = derive(t, c, kmip.ObjectTypeSecretData, kb, kmip.DerivationMethodNIST800_108_C, 320, 0, fDerivationData(fixed))
	if got := hex.EncodeToString(material(t, c, id)); got[:16] != "303790cfe363abe9" {
		t.Fatalf("SP 800-108 by default = %s", got)
	}

	// ENCRYPT: AES-ECB of the Derivation Data.
	data := unhex("000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	id = derive(t, c, kmip.ObjectTypeSymmetricKey, base, kmip.DerivationMethodENCRYPT, 256, kmip.CryptographicAlgorithmAES,
		fParams(fMode(kmip.BlockCipherModeECB)), fDerivationData(data))
	b, _ := aes.NewCipher(key)
	want := make([]byte, 32)
	b.Encrypt(want[:16], data[:16])
	b.Encrypt(want[16:], data[16:])
	if got := material(t, c, id); !bytes.Equal(got, want) {
		t.Fatalf("ENCRYPT = %x", got)
	}
	// ENCRYPT with CBC needs its IV.
	_, err = do(t, c, kmip.OperationDeriveKey, deriveReq(c.Version, kmip.ObjectTypeSymmetricKey, base, kmip.DerivationMethodENCRYPT, 128,
		kmip.CryptographicAlgorithmAES, fParams(fMode(kmip.BlockCipherModeCBC)), fDerivationData(data)))
	wantReason(t, err, kmip.ResultReasonInvalidMessage)
	id = derive(t, c, kmip.ObjectTypeSymmetricKey, base, kmip.DerivationMethodENCRYPT, 128, kmip.CryptographicAlgorithmAES,
		fParams(fMode(kmip.BlockCipherModeCBC)), fDerivationData(data), bytesFld(ttlv.TagInitializationVector, make([]byte, 16)))
	if got := material(t, c, id); !bytes.Equal(got, want[:16]) {
		t.Fatalf("ENCRYPT CBC = %x", got)
	}
}

// The base object must be Pre-Active or Active and allow Derive Key; the lengths must
// suit the algorithm; the new identifier is the ID Placeholder.
func TestDerive_Checks(t *testing.T) {
	_, c := cryptoEnv(t)
	noDerive := regSecret(t, c, []byte("pw"), kmip.CryptographicUsageMaskEncrypt)
	args := []fld{fSalt([]byte("s")), fIterations(1)}
	_, err := do(t, c, kmip.OperationDeriveKey, deriveReq(c.Version, kmip.ObjectTypeSymmetricKey, noDerive, kmip.DerivationMethodPBKDF2, 128, kmip.CryptographicAlgorithmAES, args...))
	wantReason(t, err, kmip.ResultReasonIncompatibleCryptographicUsageMask)
	base := regSecret(t, c, []byte("pw"), deriveMask)
	_, err = do(t, c, kmip.OperationDeriveKey, deriveReq(c.Version, kmip.ObjectTypeSymmetricKey, base, kmip.DerivationMethodPBKDF2, 100, kmip.CryptographicAlgorithmAES, args...))
	wantReason(t, err, kmip.ResultReasonInvalidField)
	_, err = do(t, c, kmip.OperationDeriveKey, deriveReq(c.Version, kmip.ObjectTypeOpaqueObject, base, kmip.DerivationMethodPBKDF2, 128, 0, args...))
	wantReason(t, err, kmip.ResultReasonInvalidObjectType)
	_, err = do(t, c, kmip.OperationDeriveKey, deriveReq(c.Version, kmip.ObjectTypeSymmetricKey, base, kmip.DerivationMethodAWSSignatureVersion4, 128, kmip.CryptographicAlgorithmAES, args...))
	wantReason(t, err, kmip.ResultReasonFeatureNotSupported)
	// A Triple DES key of 168 bits is 24 bytes long.
	id := derive(t, c, kmip.ObjectTypeSymmetricKey, base, kmip.DerivationMethodPBKDF2, 168, kmip.CryptographicAlgorithmDES3, args...)
	if n := len(material(t, c, id)); n != 24 {
		t.Fatalf("3DES key of %d bytes", n)
	}
	// A Deactivated or Compromised base is refused (Derive Key needs a
	// Pre-Active or Active base).
	for _, code := range []kmip.RevocationReasonCode{kmip.RevocationReasonCodeCessationOfOperation, kmip.RevocationReasonCodeKeyCompromise} {
		revoked := regSecret(t, c, []byte("pw"), deriveMask)
		must(t, c, kmip.OperationRevoke, fUID(revoked), fRevocation(code))
		_, err = do(t, c, kmip.OperationDeriveKey, deriveReq(c.Version, kmip.ObjectTypeSymmetricKey, revoked, kmip.DerivationMethodPBKDF2, 128, kmip.CryptographicAlgorithmAES, args...))
		wantReason(t, err, kmip.ResultReasonWrongKeyLifecycleState)
	}
	// A Pre-Active base derives (as an Active one does): the same
	// password, salt and count give the same key.
	pre := regSecretPreActive(t, c, []byte("pw"), deriveMask)
	if st := aoState(t, c, pre); st != kmip.StatePreActive {
		t.Fatalf("base state %s, want Pre-Active", st)
	}
	fromPre := derive(t, c, kmip.ObjectTypeSymmetricKey, pre, kmip.DerivationMethodPBKDF2, 128, kmip.CryptographicAlgorithmAES, args...)
	fromActive := derive(t, c, kmip.ObjectTypeSymmetricKey, base, kmip.DerivationMethodPBKDF2, 128, kmip.CryptographicAlgorithmAES, args...)
	if a, b := material(t, c, fromPre), material(t, c, fromActive); len(a) != 16 || !bytes.Equal(a, b) {
		t.Fatalf("derived from Pre-Active %x, from Active %x", a, b)
	}
	// A Pre-Active key without Derive Key in its mask is still refused for
	// that.
	noMask := create(t, c, "")
	_, err = do(t, c, kmip.OperationDeriveKey, deriveReq(c.Version, kmip.ObjectTypeSymmetricKey, noMask, kmip.DerivationMethodHMAC, 128, kmip.CryptographicAlgorithmAES))
	wantReason(t, err, kmip.ResultReasonIncompatibleCryptographicUsageMask)
	// A batch: Derive Key, then Get through the ID Placeholder.
	var w kmip.RequestWriter
	w.Begin(nil, c.Version, 2, nil)
	w.Item(kmip.OperationDeriveKey, []byte{1}, deriveReq(c.Version, kmip.ObjectTypeSymmetricKey, base, kmip.DerivationMethodPBKDF2, 128, kmip.CryptographicAlgorithmAES, args...))
	w.Item(kmip.OperationGet, []byte{2}, nil)
	msg, _ := w.Finish()
	raw, err := c.RoundTrip(msg)
	if err != nil {
		t.Fatal(err)
	}
	var r kmip.Response
	if err := r.Parse(append([]byte{}, raw...), kmip.Limits{}); err != nil {
		t.Fatal(err)
	}
	if len(r.Items) != 2 || r.Items[0].Err() != nil || r.Items[1].Err() != nil {
		t.Fatalf("batch: %+v", r.Items)
	}
	if _, ok := findPath(r.Items[1].Payload, ttlv.TagSymmetricKey, ttlv.TagKeyBlock); !ok {
		t.Fatal("Get by ID Placeholder after Derive Key")
	}
}

func TestCrypto_RNG(t *testing.T) {
	e, c := cryptoEnv(t)
	get := func(n int32) []byte {
		return out(must(t, c, kmip.OperationRNGRetrieve, fInt(ttlv.TagDataLength, n)), ttlv.TagData)
	}
	a, b := get(32), get(32)
	if len(a) != 32 || len(b) != 32 || bytes.Equal(a, b) || bytes.Equal(a, make([]byte, 32)) {
		t.Fatalf("RNG Retrieve: %x %x", a, b)
	}
	fails(t, c, kmip.OperationRNGRetrieve, kmip.ResultReasonInvalidField, fInt(ttlv.TagDataLength, 0))
	fails(t, c, kmip.OperationRNGRetrieve, kmip.ResultReasonInvalidField, fInt(ttlv.TagDataLength, 1<<21))
	fails(t, c, kmip.OperationRNGRetrieve, kmip.ResultReasonInvalidMessage)
	// RNG Seed accepts everything (CS-RNG-O-1) and the output stays random.
	seed := unhex("333c06587706225099a67438f263f8f932f64b860c3a7dbb21bc2bd56685d8bc")
	fails(t, c, kmip.OperationRNGSeed, kmip.ResultReasonPermissionDenied, fData(seed)) // a user's
	admin := e.srv.Dial(t, "admin", kmip.V2_1)
	it := must(t, admin, kmip.OperationRNGSeed, fData(seed))
	if n, ok := it.Payload.Find(ttlv.TagDataLength); !ok || n.Int32() != 32 {
		t.Fatalf("RNG Seed: %s", ttlv.Format(it.Payload))
	}
	if x, y := get(64), get(64); len(x) != 64 || bytes.Equal(x, y) {
		t.Fatal("RNG Retrieve after seeding")
	}
	fails(t, admin, kmip.OperationRNGSeed, kmip.ResultReasonInvalidMessage)
}
