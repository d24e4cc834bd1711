package lifecycle_test

import (
	"bytes"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Tests of the behaviour that accommodates real clients: the Name policies,
// keys kept as registered (wrapped under an unknown key, or unreadable in
// their labelled format), other symmetric algorithms and Blowfish, HKDF
// for HMAC derivation, Get Attributes in the requested order, Operation
// Policy Name "default" and Secret Data Type as no attribute. Expected
// values come from the specifications and RFCs cited, or are computed
// here independently of the server's code.

// nameFilter writes a Locate filter on one Name in the form of ver.
func nameFilter(ver kmip.Version, name string) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		if ver.V2() {
			b.Begin(ttlv.TagAttributes)
			aoName(name)(b)
			b.End()
			return
		}
		aoV1("Name", -1, aoV1NameValue(name))(b)
	}
}

// TestNames_DefaultPerObject: by default different objects of one owner
// may share a Name, Locate by the Name returns them all (newest first),
// and only a Name the object already has is refused.
func TestNames_DefaultPerObject(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_1} {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			name := "shared-" + ver.String()
			first := create(t, c, name)
			second := create(t, c, name)
			if first == second {
				t.Fatal("one identifier for two objects")
			}
			// A third object of the name, registered.
			third, err := registerKeyV(t, c, name)
			if err != nil {
				t.Fatalf("Register with a name another object has: %v", err)
			}
			ids, _ := arLocate(t, c, nameFilter(ver, name))
			aoStrings(t, "located by name", ids, []string{third, second, first})
			// Adding the name to an object that has it is still refused
			// (1.x has no Non Unique Name Attribute: Invalid Field).
			want := kmip.ResultReasonNonUniqueNameAttribute
			var again func(b *ttlv.Builder)
			if ver.V2() {
				again = aoPayload(byID(first), aoNew(aoName(name)))
			} else {
				want = kmip.ResultReasonInvalidField
				again = aoPayload(byID(first), aoV1("Name", -1, aoV1NameValue(name)))
			}
			aoFail(t, c, kmip.OperationAddAttribute, again, want)
		})
	}
}

// registerKeyV registers an AES-128 key named name, in the form of c's
// version.
func registerKeyV(t *testing.T, c *kmip.Client, name string) (string, error) {
	t.Helper()
	it, err := do(t, c, kmip.OperationRegister, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		symAttrs(c.Version, kmip.CryptographicAlgorithmAES, 128, name, nil)(b)
		kmip.WriteSymmetricKey(b, &kmip.KeyBlock{FormatType: kmip.KeyFormatTypeRaw, Material: bytes.Repeat([]byte{0x42}, 16),
			CryptographicAlgorithm: kmip.CryptographicAlgorithmAES, CryptographicLength: 128})
	})
	if err != nil {
		return "", err
	}
	return string(out2text(it)), nil
}

// TestNames_PerOwner: with NamesPerOwner a name belongs to one live object
// of its owner, whatever operation gives it; a Destroyed or Destroyed
// Compromised object releases it, a Deactivated or Compromised one does
// not.
func TestNames_PerOwner(t *testing.T) {
	e := newEnvWith(t, namesPerOwner)
	c := e.srv.Dial(t, "alice", kmip.V2_1)
	first := create(t, c, "owned")
	_, err := do(t, c, kmip.OperationCreate, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		symAttrs(c.Version, kmip.CryptographicAlgorithmAES, 256, "owned", nil)(b)
	})
	wantReason(t, err, kmip.ResultReasonNonUniqueNameAttribute)
	_, err = registerKeyV(t, c, "owned")
	wantReason(t, err, kmip.ResultReasonNonUniqueNameAttribute)
	other := create(t, c, "")
	aoFail(t, c, kmip.OperationAddAttribute, aoPayload(byID(other), aoNew(aoName("owned"))), kmip.ResultReasonNonUniqueNameAttribute)
	aoFail(t, c, kmip.OperationSetAttribute, aoPayload(byID(other), aoNew(aoName("owned"))), kmip.ResultReasonNonUniqueNameAttribute)
	// 1.x has no Non Unique Name Attribute: Invalid Field.
	c14 := e.srv.Dial(t, "alice", kmip.V1_4)
	_, err = do(t, c14, kmip.OperationCreate, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		symAttrs(c14.Version, kmip.CryptographicAlgorithmAES, 256, "owned", nil)(b)
	})
	wantReason(t, err, kmip.ResultReasonInvalidField)

	// Active, then Deactivated: still the name's holder.
	must(t, c, kmip.OperationActivate, fUID(first))
	must(t, c, kmip.OperationRevoke, fUID(first), fRevocation(kmip.RevocationReasonCodeCessationOfOperation))
	_, err = registerKeyV(t, c, "owned")
	wantReason(t, err, kmip.ResultReasonNonUniqueNameAttribute)
	// Destroyed: the name is free again.
	must(t, c, kmip.OperationDestroy, fUID(first))
	reused := create(t, c, "owned")
	ids, _ := arLocate(t, c, nameFilter(c.Version, "owned"))
	aoStrings(t, "live objects named owned", ids, []string{reused})
	// Locate by Name with the Destroyed storage bit still finds the old one.
	ids, _ = arLocate(t, c, arMask(kmip.StorageStatusMaskDestroyedStorage, nameFilter(c.Version, "owned")))
	aoStrings(t, "destroyed objects named owned", ids, []string{first})
	// And the new holder keeps it.
	_, err = registerKeyV(t, c, "owned")
	wantReason(t, err, kmip.ResultReasonNonUniqueNameAttribute)

	// A Pre-Active object is destroyed directly, and frees its name.
	pre := create(t, c, "pre-owned")
	aoFail(t, c, kmip.OperationAddAttribute, aoPayload(byID(other), aoNew(aoName("pre-owned"))), kmip.ResultReasonNonUniqueNameAttribute)
	must(t, c, kmip.OperationDestroy, fUID(pre))
	aoOK(t, c, kmip.OperationAddAttribute, other, aoPayload(byID(other), aoNew(aoName("pre-owned"))))

	// Compromised holds the name; Destroyed Compromised frees it.
	comp := create(t, c, "compromised")
	must(t, c, kmip.OperationRevoke, fUID(comp), fRevocation(kmip.RevocationReasonCodeKeyCompromise))
	if st := aoState(t, c, comp); st != kmip.StateCompromised {
		t.Fatalf("state %s", st)
	}
	_, err = registerKeyV(t, c, "compromised")
	wantReason(t, err, kmip.ResultReasonNonUniqueNameAttribute)
	must(t, c, kmip.OperationDestroy, fUID(comp))
	if st := aoState(t, c, comp); st != kmip.StateDestroyedCompromised {
		t.Fatalf("state %s", st)
	}
	if _, err := registerKeyV(t, c, "compromised"); err != nil {
		t.Fatalf("name of a Destroyed Compromised object: %v", err)
	}
}

// TestNames_PerOwnerOtherOwner: with NamesPerOwner another owner may use a
// name, and is held to it among its own objects.
func TestNames_PerOwnerOtherOwner(t *testing.T) {
	e := newEnvWith(t, namesPerOwner)
	alice := e.srv.Dial(t, "alice", kmip.V2_1)
	bob := e.srv.Dial(t, "bob", kmip.V2_1)
	a := create(t, alice, "team-key")
	b := create(t, bob, "team-key")
	_, err := registerKeyV(t, bob, "team-key")
	wantReason(t, err, kmip.ResultReasonNonUniqueNameAttribute)
	ids, _ := arLocate(t, alice, nameFilter(alice.Version, "team-key"))
	aoStrings(t, "alice's team-key", ids, []string{a})
	ids, _ = arLocate(t, bob, nameFilter(bob.Version, "team-key"))
	aoStrings(t, "bob's team-key", ids, []string{b})
	// Alice destroying hers frees the name for her only.
	must(t, alice, kmip.OperationDestroy, fUID(a))
	if _, err := registerKeyV(t, alice, "team-key"); err != nil {
		t.Fatalf("alice reuses her freed name: %v", err)
	}
	_, err = registerKeyV(t, bob, "team-key")
	wantReason(t, err, kmip.ResultReasonNonUniqueNameAttribute)
}

// TestRegister_WrappedUnknownKEK: a key whose Key Wrapping Data names a
// wrapping key this server does not hold is kept as registered, wrapped;
// Get returns it so, and what needs the plaintext is Key Value Not Present.
func TestRegister_WrappedUnknownKEK(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_1)
	// RFC 3394 §4.1: 00112233...ff wrapped under 000102...0f, a key this
	// server has never seen.
	wrapped := unhex("1fa68b0a8112b447aef34bd8fb5a7b829d3e862371d2cfe5")
	it := must(t, c, kmip.OperationRegister,
		fEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey)),
		attrsWrap(c.Version, maskAttr(c.Version, encDec)),
		ieWrapped("client-kek", kmip.BlockCipherModeNISTKeyWrap, wrapped))
	id := string(out2text(it))
	if id == "" {
		t.Fatalf("Register: %s", ttlv.Format(it.Payload))
	}
	checkWrapped := func(what string, it *kmip.ResponseItem) {
		t.Helper()
		kb, ok := findPath(it.Payload, ttlv.TagSymmetricKey, ttlv.TagKeyBlock)
		if !ok {
			t.Fatalf("%s: %s", what, ttlv.Format(it.Payload))
		}
		c := kb.Children()
		f, _ := c.Find(ttlv.TagKeyFormatType)
		kv, _ := c.Find(ttlv.TagKeyValue)
		u, okU := findPath(c, ttlv.TagKeyWrappingData, ttlv.TagEncryptionKeyInformation, ttlv.TagUniqueIdentifier)
		m, okM := findPath(c, ttlv.TagKeyWrappingData, ttlv.TagEncryptionKeyInformation, ttlv.TagCryptographicParameters, ttlv.TagBlockCipherMode)
		if kmip.KeyFormatType(f.Uint32()) != kmip.KeyFormatTypeRaw || kv.Type != ttlv.TypeByteString || !bytes.Equal(kv.Data, wrapped) ||
			!okU || string(u.Data) != "client-kek" || !okM || kmip.BlockCipherMode(m.Uint32()) != kmip.BlockCipherModeNISTKeyWrap {
			t.Fatalf("%s: not the key as registered: %s", what, ttlv.Format(it.Payload))
		}
	}
	checkWrapped("Get", must(t, c, kmip.OperationGet, fUID(id)))
	checkWrapped("Get As Registered", must(t, c, kmip.OperationGet, fUID(id), fEnum(ttlv.TagKeyWrapType, uint32(kmip.KeyWrapTypeAsRegistered))))
	// Its attributes say so.
	a := attrsOf(t, c, id)
	if !a[ttlv.TagKeyValuePresent].Bool() || kmip.KeyFormatType(a[ttlv.TagKeyFormatType].Uint32()) != kmip.KeyFormatTypeRaw ||
		kmip.CryptographicAlgorithm(a[ttlv.TagCryptographicAlgorithm].Uint32()) != kmip.CryptographicAlgorithmAES ||
		a[ttlv.TagCryptographicLength].Int32() != 128 {
		t.Fatalf("attributes: Key Value Present %v, Key Format Type %d, algorithm %d, length %d",
			a[ttlv.TagKeyValuePresent].Bool(), a[ttlv.TagKeyFormatType].Uint32(), a[ttlv.TagCryptographicAlgorithm].Uint32(), a[ttlv.TagCryptographicLength].Int32())
	}
	// Wrapping it under a key the server holds needs the plaintext.
	kek := wrapKEK(t, c, bytes.Repeat([]byte{0x11}, 16), kmip.CryptographicUsageMaskWrapKey|kmip.CryptographicUsageMaskUnwrapKey, false)
	_, err := getWrapped(t, c, id, kek, kmip.BlockCipherModeNISTKeyWrap, kmip.EncodingOptionNoEncoding, 0)
	wantReason(t, err, kmip.ResultReasonKeyValueNotPresent)
	// So does encrypting with it, once Active.
	must(t, c, kmip.OperationActivate, fUID(id))
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonKeyValueNotPresent, fUID(id),
		fParams(fMode(kmip.BlockCipherModeECB)), fData(make([]byte, 16)))
	// A 1.4 client gets it as registered too.
	c14 := e.srv.Dial(t, "alice", kmip.V1_4)
	checkWrapped("Get at 1.4", must(t, c14, kmip.OperationGet, fUID(id)))
}

// TestRegister_KeptAsGiven: a Private Key whose bytes cannot be read in
// the format they are labelled with is kept exactly as given, under that
// label; Get returns it so and refuses other formats; an RSA key in
// PKCS#1 labelled PKCS#8 still signs.
func TestRegister_KeptAsGiven(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V2_1)
	rk := testRSAKey()
	pkcs1 := x509.MarshalPKCS1PrivateKey(rk)
	register := func(label kmip.KeyFormatType, alg kmip.CryptographicAlgorithm) (string, error) {
		t.Helper()
		return asRegister(t, c, kmip.ObjectTypePrivateKey, func(b *ttlv.Builder) {
			b.AddInt32(ttlv.TagCryptographicUsageMask, int32(signMask))
			active(c.Version)(b)
		}, asKey(kmip.ObjectTypePrivateKey, label, alg, 2048, pkcs1, nil))
	}
	for _, label := range []kmip.KeyFormatType{kmip.KeyFormatTypePKCS_8, kmip.KeyFormatTypeRaw} {
		t.Run(label.String(), func(t *testing.T) {
			id, err := register(label, kmip.CryptographicAlgorithmRSA)
			if err != nil {
				t.Fatalf("Register PKCS#1 bytes labelled %s: %v", label, err)
			}
			for _, ask := range []kmip.KeyFormatType{0, label} {
				f, km, err := kpGet(t, c, id, ask)
				if err != nil {
					t.Fatalf("Get (format %s): %v", ask, err)
				}
				if f != label || km.Type != ttlv.TypeByteString || !bytes.Equal(km.Data, pkcs1) {
					t.Fatalf("Get (format %s): format %s, material %x", ask, f, km.Data)
				}
			}
			if f := kmip.KeyFormatType(attrsOf(t, c, id)[ttlv.TagKeyFormatType].Uint32()); f != label {
				t.Fatalf("Key Format Type attribute %s, want %s", f, label)
			}
			for _, other := range []kmip.KeyFormatType{kmip.KeyFormatTypePKCS_1, kmip.KeyFormatTypePKCS_8, kmip.KeyFormatTypeTransparentRSAPrivateKey} {
				if other == label {
					continue
				}
				_, _, err := kpGet(t, c, id, other)
				wantReason(t, err, kmip.ResultReasonKeyFormatTypeNotSupported)
			}
		})
	}
	// Sign with the PKCS#1-labelled-PKCS#8 key: PKCS#1 v1.5 with SHA-256
	// by default, checked here with crypto/rsa.
	id, err := register(kmip.KeyFormatTypePKCS_8, kmip.CryptographicAlgorithmRSA)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("kept as given, and still usable")
	sig := out(must(t, c, kmip.OperationSign, fUID(id), fData(msg)), ttlv.TagSignatureData)
	h := sha256.Sum256(msg)
	if err := rsa.VerifyPKCS1v15(&rk.PublicKey, crypto.SHA256, h[:], sig); err != nil {
		t.Fatalf("signature of the kept key: %v", err)
	}
	// Without a Cryptographic Algorithm nothing says what the bytes are:
	// refused as before.
	if _, err := register(kmip.KeyFormatTypePKCS_8, 0); err == nil {
		t.Fatal("unreadable key without a Cryptographic Algorithm accepted")
	}
}

// TestCreate_OtherSymmetric: Create makes keys of the symmetric algorithms
// kmipd computes nothing with, in the lengths those algorithms define.
func TestCreate_OtherSymmetric(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_1} {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			mk := func(alg kmip.CryptographicAlgorithm, bits int32) (string, error) {
				it, err := do(t, c, kmip.OperationCreate, func(b *ttlv.Builder) {
					b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
					symAttrs(ver, alg, bits, "", nil)(b)
				})
				if err != nil {
					return "", err
				}
				return string(out2text(it)), nil
			}
			for _, ok := range []struct {
				alg  kmip.CryptographicAlgorithm
				bits int32
			}{
				{kmip.CryptographicAlgorithmIDEA, 128},
				{kmip.CryptographicAlgorithmBlowfish, 32},
				{kmip.CryptographicAlgorithmBlowfish, 128},
				{kmip.CryptographicAlgorithmBlowfish, 448},
				{kmip.CryptographicAlgorithmCamellia, 128},
				{kmip.CryptographicAlgorithmCamellia, 192},
				{kmip.CryptographicAlgorithmCamellia, 256},
				{kmip.CryptographicAlgorithmCAST5, 40},
				{kmip.CryptographicAlgorithmSKIPJACK, 80},
			} {
				id, err := mk(ok.alg, ok.bits)
				if err != nil {
					t.Fatalf("Create %s %d: %v", ok.alg, ok.bits, err)
				}
				if k := getKey(t, c, id); len(k) != int(ok.bits/8) {
					t.Fatalf("%s %d: key of %d bytes", ok.alg, ok.bits, len(k))
				}
				a := attrsOf(t, c, id)
				if kmip.CryptographicAlgorithm(a[ttlv.TagCryptographicAlgorithm].Uint32()) != ok.alg || a[ttlv.TagCryptographicLength].Int32() != ok.bits {
					t.Fatalf("%s %d: attributes %d %d", ok.alg, ok.bits, a[ttlv.TagCryptographicAlgorithm].Uint32(), a[ttlv.TagCryptographicLength].Int32())
				}
			}
			for _, bad := range []struct {
				alg  kmip.CryptographicAlgorithm
				bits int32
			}{
				{kmip.CryptographicAlgorithmIDEA, 64},
				{kmip.CryptographicAlgorithmIDEA, 256},
				{kmip.CryptographicAlgorithmBlowfish, 24},
				{kmip.CryptographicAlgorithmBlowfish, 36},
				{kmip.CryptographicAlgorithmBlowfish, 456},
				{kmip.CryptographicAlgorithmCamellia, 160},
				{kmip.CryptographicAlgorithmSKIPJACK, 128},
			} {
				_, err := mk(bad.alg, bad.bits)
				wantReason(t, err, kmip.ResultReasonInvalidField)
			}
		})
	}
}

// Blowfish with the classic vectors of Eric Young's test set: key
// 0123456789ABCDEFF0E1D2C3B4A59687, IV FEDCBA9876543210, plaintext
// "7654321 Now is the time for " and a 0x00 byte (29 bytes). The CBC and
// ECB values with zero padding to 32 bytes are the published ones; the
// PKCS#5 and CTR values were computed with Python's cryptography package
// (CTR as ECB of the big-endian counter IV, IV+1, ...).
func TestCrypto_BlowfishKnownAnswers(t *testing.T) {
	_, c := cryptoEnv(t)
	id := regSym(t, c, kmip.CryptographicAlgorithmBlowfish, unhex("0123456789ABCDEFF0E1D2C3B4A59687"), encDec)
	iv := unhex("FEDCBA9876543210")
	pt := append([]byte("7654321 Now is the time for "), 0)
	pt32 := append(append([]byte{}, pt...), 0, 0, 0)
	for _, tc := range []struct {
		name   string
		params fld
		in, iv []byte
		want   string
	}{
		{"CBC", fParams(fMode(kmip.BlockCipherModeCBC), fPad(kmip.PaddingMethodNone)), pt32, iv,
			"6b77b4d63006dee605b156e27403979358deb9e7154616d959f1652bd5ff92cc"},
		{"ECB", fParams(fMode(kmip.BlockCipherModeECB)), pt32, nil,
			"2afd7daa60626ba38616468cc29cf6e1291e817cc740982d6f87ac5f171aabea"},
		{"CBC-PKCS5", fParams(fMode(kmip.BlockCipherModeCBC), fPad(kmip.PaddingMethodPKCS5)), pt, iv,
			"6b77b4d63006dee605b156e27403979358deb9e7154616d9749decbec05d264b"},
		{"CTR", fParams(fMode(kmip.BlockCipherModeCTR)), pt, iv,
			"e73214a2822139ca60254740dd8c5b8acf5e9569c4affeb944b8fc020e"},
	} {
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
	// Blowfish has no GCM.
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonUnsupportedCryptographicParameters, fUID(id),
		fParams(fMode(kmip.BlockCipherModeGCM)), fData(pt), fIV(make([]byte, 12)))
}

// TestDerive_HMACasHKDF: Derive Key with method HMAC is HKDF (RFC 5869)
// when the request has a Salt or asks for more than one hash output, and
// one truncated HMAC otherwise.
func TestDerive_HMACasHKDF(t *testing.T) {
	_, c := cryptoEnv(t)
	// RFC 5869 test case 7: SHA-1, IKM 22 bytes of 0x0c, no salt, no info,
	// L = 42 (more than SHA-1's 20 bytes).
	const tc7 = "2c91117204d745f3500d636a62f64f0ab3bae548aa53d423b0d1f27ebba6f5e5673a081d70cce7acfc48"
	sha1 := fParams(fHash(kmip.HashingAlgorithmSHA_1))
	base := regSecret(t, c, bytes.Repeat([]byte{0x0c}, 22), deriveMask)
	id := derive(t, c, kmip.ObjectTypeSecretData, base, kmip.DerivationMethodHMAC, 42*8, 0, sha1)
	if got := hex.EncodeToString(material(t, c, id)); got != tc7 {
		t.Fatalf("HMAC (no salt, L=42) = %s, want RFC 5869 case 7 %s", got, tc7)
	}
	// An empty Salt is the same as none (RFC 5869 §2.2).
	id = derive(t, c, kmip.ObjectTypeSecretData, base, kmip.DerivationMethodHMAC, 42*8, 0, sha1, fSalt([]byte{}))
	if got := hex.EncodeToString(material(t, c, id)); got != tc7 {
		t.Fatalf("HMAC (empty salt, L=42) = %s, want %s", got, tc7)
	}
	// A Salt makes it HKDF even within one hash output: RFC 5869 case 1
	// (SHA-256) cut to 32 bytes, the first 32 of its OKM.
	seq := func(from, to int) []byte {
		var b []byte
		for i := from; i < to; i++ {
			b = append(b, byte(i))
		}
		return b
	}
	ikm1 := bytes.Repeat([]byte{0x0b}, 22)
	base1 := regSecret(t, c, ikm1, deriveMask)
	id = derive(t, c, kmip.ObjectTypeSecretData, base1, kmip.DerivationMethodHMAC, 256, 0,
		fParams(fHash(kmip.HashingAlgorithmSHA_256)), fSalt(seq(0, 13)), fDerivationData(seq(0xf0, 0xfa)))
	if got := hex.EncodeToString(material(t, c, id)); got != "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf" {
		t.Fatalf("HMAC with a Salt = %s, want RFC 5869 case 1", got)
	}
	// Without a Salt and within one output: HMAC(key, Derivation Data),
	// truncated.
	id = derive(t, c, kmip.ObjectTypeSecretData, base1, kmip.DerivationMethodHMAC, 128, 0,
		fParams(fHash(kmip.HashingAlgorithmSHA_256)), fDerivationData(seq(0xf0, 0xfa)))
	m := hmac.New(sha256.New, ikm1)
	m.Write(seq(0xf0, 0xfa))
	if got, want := material(t, c, id), m.Sum(nil)[:16]; !bytes.Equal(got, want) {
		t.Fatalf("HMAC = %x, want %x", got, want)
	}
	// HASH still yields one digest at most.
	_, err := do(t, c, kmip.OperationDeriveKey, deriveReq(c.Version, kmip.ObjectTypeSecretData, base, kmip.DerivationMethodHASH, 42*8, 0, sha1))
	wantReason(t, err, kmip.ResultReasonInvalidField)
}

// TestDerive_UndefinedLength: a symmetric key of a length its algorithm
// does not define (a 160-bit AES key, as PyKMIP derives) is derived as
// asked; using it for AES is refused then.
func TestDerive_UndefinedLength(t *testing.T) {
	_, c := cryptoEnv(t)
	base := regSecret(t, c, []byte("password"), deriveMask)
	id := derive(t, c, kmip.ObjectTypeSymmetricKey, base, kmip.DerivationMethodPBKDF2, 160, kmip.CryptographicAlgorithmAES,
		fParams(fHash(kmip.HashingAlgorithmSHA_1)), fSalt([]byte("salt")), fIterations(1))
	// RFC 6070: PBKDF2-HMAC-SHA1("password", "salt", 1, 20).
	if got := hex.EncodeToString(material(t, c, id)); got != "0c60c80f961f0e71f3a9b524af6012062fe037a6" {
		t.Fatalf("160-bit AES key %s", got)
	}
	a := attrsOf(t, c, id)
	if kmip.CryptographicAlgorithm(a[ttlv.TagCryptographicAlgorithm].Uint32()) != kmip.CryptographicAlgorithmAES || a[ttlv.TagCryptographicLength].Int32() != 160 {
		t.Fatalf("attributes %d %d", a[ttlv.TagCryptographicAlgorithm].Uint32(), a[ttlv.TagCryptographicLength].Int32())
	}
	must(t, c, kmip.OperationActivate, fUID(id))
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonBadCryptographicParameters, fUID(id),
		fParams(fMode(kmip.BlockCipherModeECB)), fData(make([]byte, 16)))
}

// TestGetAttributes_RequestedOrder: Get Attributes answers in the order
// the client named the attributes, each once.
func TestGetAttributes_RequestedOrder(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_0} {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			id := create(t, c, "")
			for _, order := range [][]ttlv.Tag{
				{ttlv.TagCryptographicLength, ttlv.TagCryptographicAlgorithm},
				{ttlv.TagCryptographicAlgorithm, ttlv.TagCryptographicLength},
				{ttlv.TagCryptographicLength, ttlv.TagCryptographicAlgorithm, ttlv.TagCryptographicLength},
			} {
				var got []ttlv.Tag
				if ver.V2() {
					var refs []func(b *ttlv.Builder)
					for _, tag := range order {
						refs = append(refs, aoRef(tag))
					}
					for _, it := range aoGet2(t, c, id, refs...) {
						got = append(got, it.Tag)
					}
				} else {
					var names []string
					for _, tag := range order {
						n, _ := ttlv.TagSpecName(tag)
						names = append(names, n)
					}
					for _, a := range aoGet1(t, c, id, names...) {
						if a.Index != 0 {
							t.Fatalf("%s: Attribute Index %d, want 0", a.Name, a.Index)
						}
						tag, _ := ttlv.TagBySpecName(a.Name)
						got = append(got, tag)
					}
				}
				want := order[:2]
				if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
					t.Fatalf("asked for %v, got %v", order, got)
				}
			}
		})
	}
}

// TestLocate_DefaultOperationPolicyName: at 1.x, a filter of Operation
// Policy Name "default" matches objects without an Operation Policy Name,
// and those that have "default"; another name matches only its own.
func TestLocate_DefaultOperationPolicyName(t *testing.T) {
	e := newEnv(t)
	c := e.srv.Dial(t, "alice", kmip.V1_4)
	policy := func(name string) func(b *ttlv.Builder) {
		return func(b *ttlv.Builder) {
			attr1(b, "Operation Policy Name", func() { b.AddText(ttlv.TagAttributeValue, name) })
		}
	}
	mk := func(p func(b *ttlv.Builder)) string {
		t.Helper()
		it := must(t, c, kmip.OperationCreate, func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
			symAttrs(c.Version, kmip.CryptographicAlgorithmAES, 128, "", p)(b)
		})
		return string(out2text(it))
	}
	none := mk(nil)
	if _, has := attrsOf(t, c, none)[ttlv.TagOperationPolicyName]; has {
		t.Fatal("the key without a policy has an Operation Policy Name")
	}
	explicit := mk(policy("default"))
	custom := mk(policy("custom"))
	ids, _ := arLocate(t, c, policy("default"))
	aoStrings(t, `Operation Policy Name "default"`, ids, []string{explicit, none})
	ids, _ = arLocate(t, c, policy("custom"))
	aoStrings(t, `Operation Policy Name "custom"`, ids, []string{custom})
	ids, _ = arLocate(t, c, policy("other"))
	aoStrings(t, `Operation Policy Name "other"`, ids, nil)
}

// TestSecretData_TypeIsNoAttribute: the Secret Data Type is a field of the
// Secret Data object, sent with it by Get, never as an attribute.
func TestSecretData_TypeIsNoAttribute(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_1} {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			registered := regSecret(t, c, []byte("s3cret"), deriveMask)
			created := string(out2text(must(t, c, kmip.OperationCreate,
				fEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSecretData)),
				attrsWrap(ver, func(b *ttlv.Builder) {
					if ver.V2() {
						b.AddInt32(ttlv.TagCryptographicLength, 128)
						return
					}
					attr1(b, "Cryptographic Length", func() { b.AddInt32(ttlv.TagAttributeValue, 128) })
				}))))
			// Import stores every attribute as given: one carrying Secret
			// Data Type as an attribute, as earlier kmipd releases stored
			// it, keeps it to itself.
			imported := uuidFor("sd-imported-" + ver.String())
			must(t, c, kmip.OperationImport, fUID(imported), fEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSecretData)),
				func(b *ttlv.Builder) {
					if ver.V2() {
						b.Begin(ttlv.TagAttributes)
						b.AddEnum(ttlv.TagSecretDataType, uint32(kmip.SecretDataTypeSeed))
						b.End()
						return
					}
					attr1(b, "Secret Data Type", func() { b.AddEnum(ttlv.TagAttributeValue, uint32(kmip.SecretDataTypeSeed)) })
				},
				func(b *ttlv.Builder) {
					b.Begin(ttlv.TagSecretData)
					b.AddEnum(ttlv.TagSecretDataType, uint32(kmip.SecretDataTypeSeed))
					kmip.WriteKeyBlock(b, &kmip.KeyBlock{FormatType: kmip.KeyFormatTypeOpaque, Material: []byte("imported")})
					b.End()
				})
			for id, typ := range map[string]kmip.SecretDataType{registered: kmip.SecretDataTypeSeed, created: kmip.SecretDataTypePassword,
				imported: kmip.SecretDataTypeSeed} {
				if _, has := attrsOf(t, c, id)[ttlv.TagSecretDataType]; has {
					t.Fatalf("%s: Secret Data Type among the attributes", id)
				}
				it := must(t, c, kmip.OperationGetAttributeList, fUID(id))
				p := it.Payload
				for !p.Empty() {
					x, _ := p.Next()
					if x.Tag == ttlv.TagAttributeName && string(x.Data) == "Secret Data Type" ||
						x.Tag == ttlv.TagAttributeReference && ttlv.Tag(x.Uint32()) == ttlv.TagSecretDataType {
						t.Fatalf("%s: Get Attribute List names Secret Data Type: %s", id, ttlv.Format(it.Payload))
					}
				}
				sdt, ok := findPath(must(t, c, kmip.OperationGet, fUID(id)).Payload, ttlv.TagSecretData, ttlv.TagSecretDataType)
				if !ok || kmip.SecretDataType(sdt.Uint32()) != typ {
					t.Fatalf("%s: Get's Secret Data Type %v (present %v), want %s", id, sdt.Uint32(), ok, typ)
				}
			}
		})
	}
}

// TestStateMessages_Wire: the Result Message of a Wrong Key Lifecycle
// State refusal reaches the client in the specification's words.
func TestStateMessages_Wire(t *testing.T) {
	_, c := cryptoEnv(t)
	base := regSecret(t, c, []byte("pw"), deriveMask)
	must(t, c, kmip.OperationRevoke, fUID(base), fRevocation(kmip.RevocationReasonCodeCessationOfOperation))
	_, err := do(t, c, kmip.OperationDeriveKey, deriveReq(c.Version, kmip.ObjectTypeSecretData, base, kmip.DerivationMethodPBKDF2, 128, 0,
		fSalt([]byte("s")), fIterations(1)))
	ke, ok := err.(*kmip.Error)
	const want = "Derive Key is not permitted on an object in state Deactivated (it needs Pre-Active or Active)"
	if !ok || ke.Reason != kmip.ResultReasonWrongKeyLifecycleState || ke.Message != want {
		t.Fatalf("got %v, want Wrong Key Lifecycle State %q", err, want)
	}
	key := create(t, c, "")
	must(t, c, kmip.OperationActivate, fUID(key))
	_, err = do(t, c, kmip.OperationDestroy, fUID(key))
	ke, ok = err.(*kmip.Error)
	if !ok || ke.Reason != kmip.ResultReasonWrongKeyLifecycleState || ke.Message != "Destroy is not permitted on an object in state Active: Revoke it first (any reason deactivates it), then Destroy" {
		t.Fatalf("Destroy of an Active key: %v", err)
	}
}
