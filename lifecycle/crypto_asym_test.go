package lifecycle_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

var testRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// regAsym registers an Active private (PKCS#8) or public (SPKI) key.
func regAsym(t testing.TB, c *kmip.Client, key any, private bool, mask kmip.CryptographicUsageMask, extra ...fld) string {
	t.Helper()
	var der []byte
	var err error
	typ, tag, format := kmip.ObjectTypePublicKey, ttlv.TagPublicKey, kmip.KeyFormatTypeX_509
	if private {
		typ, tag, format = kmip.ObjectTypePrivateKey, ttlv.TagPrivateKey, kmip.KeyFormatTypePKCS_8
		der, err = x509.MarshalPKCS8PrivateKey(key)
	} else {
		der, err = x509.MarshalPKIXPublicKey(key)
	}
	if err != nil {
		t.Fatal(err)
	}
	alg, bits := asymAlg(key)
	ver := c.Version
	attrs := append([]fld{maskAttr(ver, mask), active(ver)}, extra...)
	_, it, err := c.Do(kmip.OperationRegister, pl(
		fEnum(ttlv.TagObjectType, uint32(typ)),
		attrsWrap(ver, attrs...),
		func(b *ttlv.Builder) {
			b.Begin(tag)
			b.Begin(ttlv.TagKeyBlock)
			b.AddEnum(ttlv.TagKeyFormatType, uint32(format))
			b.Begin(ttlv.TagKeyValue)
			b.AddBytes(ttlv.TagKeyMaterial, der)
			b.End()
			b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(alg))
			b.AddInt32(ttlv.TagCryptographicLength, bits)
			b.End()
			b.End()
		}))
	if err != nil {
		t.Fatalf("register %T: %v", key, err)
	}
	return string(out2text(it))
}

func asymAlg(key any) (kmip.CryptographicAlgorithm, int32) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return kmip.CryptographicAlgorithmRSA, int32(k.N.BitLen())
	case *rsa.PublicKey:
		return kmip.CryptographicAlgorithmRSA, int32(k.N.BitLen())
	case *ecdsa.PrivateKey:
		return kmip.CryptographicAlgorithmEC, int32(k.Curve.Params().BitSize)
	case *ecdsa.PublicKey:
		return kmip.CryptographicAlgorithmEC, int32(k.Curve.Params().BitSize)
	case ed25519.PrivateKey, ed25519.PublicKey:
		return kmip.CryptographicAlgorithmEd25519, 256
	}
	panic("unknown key")
}

// regPKCS1 registers an Active RSA key given in PKCS#1 DER, as the OASIS
// vectors do.
func regPKCS1(t *testing.T, c *kmip.Client, der []byte, private bool, mask kmip.CryptographicUsageMask, extra ...fld) string {
	t.Helper()
	typ, tag := kmip.ObjectTypePublicKey, ttlv.TagPublicKey
	if private {
		typ, tag = kmip.ObjectTypePrivateKey, ttlv.TagPrivateKey
	}
	ver := c.Version
	it := must(t, c, kmip.OperationRegister,
		fEnum(ttlv.TagObjectType, uint32(typ)),
		attrsWrap(ver, append([]fld{maskAttr(ver, mask), active(ver)}, extra...)...),
		func(b *ttlv.Builder) {
			b.Begin(tag)
			b.Begin(ttlv.TagKeyBlock)
			b.AddEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypePKCS_1))
			b.Begin(ttlv.TagKeyValue)
			b.AddBytes(ttlv.TagKeyMaterial, der)
			b.End()
			b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmRSA))
			b.AddInt32(ttlv.TagCryptographicLength, 2048)
			b.End()
			b.End()
		})
	return string(out2text(it))
}

const (
	signMask   = kmip.CryptographicUsageMaskSign
	verifyMask = kmip.CryptographicUsageMaskVerify
)

// The OASIS vectors: CS-AC-M-2 (RSA-PSS SHA-256 verification) and
// CS-AC-M-OAEP-10 (OAEP SHA-384, MGF1-SHA-256, with a label).
const (
	oasisPub = "3082010a0282010100ab7f161c0042496ccd6c6d4dadb919973435357776003acf54b7af1e440afb80b64a8755f8002cfeba6b184540a2d66086d74648346d75b8d71812b205387c0f6583bc4d7dc7ec114f3b176b7957c422e7d03fc6267fa2a6f89b9bee9e60a1d7c2d833e5a5f4bb0b1434f4e795a41100f8aa214900df8b65089f98135b1c67b701675abdbc7d5721aac9d14a7f081fcec80b64e8a0ecc8295353c795328abf70e1b42e7bb8b7f4e8ac8c810cdb66e3d21126eba8da7d0ca34142cb76f91f013da809e9c1b7ae64c54130fbc21d80e9c2cb06c5c8d7cce8946a9ac99b1c2815c3612a29a82d73a1f99374fe30e54951662a6eda29c6fc411335d5dc7426b0f6050203010001"
	oasisSig = "2925ebf8c6c9d0585c36a44491dd28f8ffd1098d2275a505a0eba7af452e9496472fd5c4a515d1c0db16c7c59ef76863b571cbf498fb8178ffeb75667e6e51b9b9bbf09d55bba54b42acb947aa5a81dc62751727d7cad4616c0c0bf1dd666f8266f24262c5fa9cbbdc424ef5f5e345e633d111e66eb4afc4001bb02e158b2d5d4573c614655f21a688bee0e9dbde6a58324c08f42ae69697e0c51803f9de6b3df242d2915d9b1a8110ad28143ab7855ef92ede48971b484172de3b0b8957f493a74b3372ee2200f2233607735f90d0b180968ab20d74841fd3dba4fb1f225ea5c6c87f99c2a238db72a536e68be202a092cd032337d451477e568f9a48b638cb"
	oaepPriv = "308204a4020100028201010096ed9882e639115e6502348aed486317b6d8cbed47d4250a7261a829b2b1ef9a0dabc35861b9d599d8d2761364128976425e166a8e7fcc99f4a225b171b6887ce29031d114cd6b3b9b87f0443f4c327905458f72e326874fd9af16986477b33c43a20f8c9653b2cce47492d9e63cf6713c3a9026d000ebd19310168d209ebfa7b58138c580e8c80954d0f5dd65fa24be9f5d0b5d79f8eb65eb84eb4a14ff97851f1c7630802bd106d8dcc2096989d02c7a67f05552e394827d19929a3ff9adb1d73f26dc3c98ce376f5bf888e82aa5868c2e0e7fe1cab6d691009da7ee0e483157158c280222acdbec0e1646750614d310929113e2560a108bf1299bdcd7747d020301000102820100117275e6ebe63cf3c48974b97aa49b8fea3b3597c06dedba3f6eba99d7666a644ca0467cb90f5a79e66eade79ff1e4a21f19f14d701ba5f3462c585f22de0ef920d7ba6a8915160855fa68f3fabd3c38713b91519ea09d93c57e50065dd6d88966e81d140b6cb186ae022bd7b49de77f3f8f258ad710c431fde626353a481faf7e01c10fedd103ea5e2a20c86067ef323fbc0353d41d63adc51355d8698f34c9d084f3d93ea5f9461ef66a6401abea4566f5bc11551d11152123917706d78ab95668b673b0c73f3fe480659a047a71ef63313bc8935ae0bc3959939a0193835024e39b1c816d63de8dbda1a0a728fc1cba8c66fc079c8b07f39559af6ca42f0102818100c499b8f60d5989746b60939ae5d6466962197aef212a0db5eb618f07fe0e35e21bf6d445bd5e571b71c83a3e4cb84f683918a0b87adcd6d7beeb3fca9b87d9437d78f694557bc3d47e96e8ff83c958018ec70bfec998804d41eb21db99f6bd07cf3621dd6e70f4907a259ea2199208613bc655a804ca9c6ec1c5ff8918d12b0902818100c4874b4f5aa8538d8af15d945e9be842e4a7c08dfe7a42aee4cc375df415640904451cfa15d1cdda5d31f34d45e928986ba52c3b373c539fdacfe428d70b52a4eb2419277d50f1466debeab0ca24886390fae9d7e611a2b2993a59e2dc6bb874225f8ce3b2fcf6563421cc4ffd0dc119bff1c17d36bbba40c9fd4d0df4d4f6d50281810081befd8d0cc4616d7e8bcefdf3ded4bb29adad2ef191225943cd2faad3a4a734e0c5a5d39ca50d11a4a6c2a168da5e356730f4a8ab14e188a28bf89e8ac43dc347a433ff32e72a172bb00676d28f675027dcfef29832d7c1a4d63b9304ea0c58820cb48ec11b349bc0b0e11f13870796bbef298a68171ae41167cd3bba30189902818100aafdc033aa003cba3142b2160e7efe057da6cb2d805565c17fc68301d705e984c2d7534ff03e1c2a3adde3ffbead0faa16369f166287b586a73e2c18b089e47d232dc4490c8aa9728adf31d261fe89407ffb200cbddb6840967b238bf4163165b2268a91eec093a00b39c0e773984d039772c3d3ab14890827f6a0dd5cc112850281805205e5b103124de9aa55980b26c6fbd93b7d3b9ec3ad5df3a7eff2d51f6a14902137ce532bb10a2d1b52ea72a51b3c516cec5d8000282b87552f9eab4f18dc6756c4d18caeda4edeb4cb9ce510a0e0d636ff43177d768281830c7cd826d242348bfdb982827365a3d8cdb8f58336377e9ff9ce9f7c4d1b8f2c6a8c93bcbaecd1"
	oaepCT   = "513154e0e97ee30cd8848ef9b7e077a49aba39da94425c64ef1badf197d7721024598082d7b925105510c98549d632d37ce73ee85d86d0a79b418903fa51cd65289d5fb19a5fc28b926f268e47328dfeb378ad021b01964094ed5898b95a284c43ec0dae6759c1da85b8ab5a73fd617aa2867619939dd4f707b934adf4671a387d7ba15c469fb89b0d99ed472b8eacdcd9cb71411c8d6c13b85101ab6949d464da020ac23c1cf1d76e037d1aecbed87718496a573d87720a7f4c5e4512769d3ddcd191194270499ea31f107202dc134cd08c41f09ad3cc83cf03b93bea7c06a0c2fd40afa16cf9b074bbb278de2a5aae374346d262eec88618f4c4b844c003b7"
	oaepPT   = "6628194e12073db03ba94cda9ef9532397d50dba79b987004afefe34"
)

func TestCrypto_RSAKnownAnswers(t *testing.T) {
	_, c := cryptoEnv(t)
	pss := []fld{fPad(kmip.PaddingMethodPSS), fHash(kmip.HashingAlgorithmSHA_256), fAlg(kmip.CryptographicAlgorithmRSA)}
	pub := regPKCS1(t, c, unhex(oasisPub), false, verifyMask, paramsAttr(c.Version, pss...))
	msg := unhex("01020304050607080910111213141516")
	sig := unhex(oasisSig)
	if v := validity(t, must(t, c, kmip.OperationSignatureVerify, fUID(pub), fData(msg), fSig(sig))); v != kmip.ValidityIndicatorValid {
		t.Fatalf("CS-AC-M-2 signature: %s", v)
	}
	bad := append([]byte{0xff}, msg[1:]...)
	if v := validity(t, must(t, c, kmip.OperationSignatureVerify, fUID(pub), fData(bad), fSig(sig))); v != kmip.ValidityIndicatorInvalid {
		t.Fatalf("tampered data: %s", v)
	}
	// The same signature with SHA-1 parameters is Invalid (CS-AC-M-3).
	sha1 := fParams(fPad(kmip.PaddingMethodPSS), fHash(kmip.HashingAlgorithmSHA_1), fAlg(kmip.CryptographicAlgorithmRSA))
	if v := validity(t, must(t, c, kmip.OperationSignatureVerify, fUID(pub), sha1, fData(msg), fSig(sig))); v != kmip.ValidityIndicatorInvalid {
		t.Fatalf("SHA-1 parameters: %s", v)
	}
	// Multi-part verification (TC-STREAM-SIGNVFY-1).
	it := must(t, c, kmip.OperationSignatureVerify, fUID(pub), fData(msg[:2]), fSig(sig), fInit())
	if has(it, ttlv.TagValidityIndicator) {
		t.Fatal("a Validity Indicator before the end")
	}
	cv := out(it, ttlv.TagCorrelationValue)
	must(t, c, kmip.OperationSignatureVerify, fUID(pub), fData(msg[2:14]), fCV(cv))
	if v := validity(t, must(t, c, kmip.OperationSignatureVerify, fUID(pub), fData(msg[14:]), fCV(cv), fFinal())); v != kmip.ValidityIndicatorValid {
		t.Fatalf("multi-part verification: %s", v)
	}

	priv := regPKCS1(t, c, unhex(oaepPriv), true, kmip.CryptographicUsageMaskDecrypt, paramsAttr(c.Version,
		fPad(kmip.PaddingMethodOAEP), fHash(kmip.HashingAlgorithmSHA_384), fAlg(kmip.CryptographicAlgorithmRSA),
		fEnum(ttlv.TagMaskGenerator, uint32(kmip.MaskGeneratorMGF1)),
		fEnum(ttlv.TagMaskGeneratorHashingAlgorithm, uint32(kmip.HashingAlgorithmSHA_256)),
		bytesFld(ttlv.TagPSource, unhex("4b696c726f79207761732068657265"))))
	if got := decryptOK(t, c, fUID(priv), fData(unhex(oaepCT))); hex.EncodeToString(got) != oaepPT {
		t.Fatalf("CS-AC-M-OAEP-10 = %x", got)
	}
	// A wrong label is a Cryptographic Failure.
	fails(t, c, kmip.OperationDecrypt, kmip.ResultReasonCryptographicFailure, fUID(priv),
		fParams(bytesFld(ttlv.TagPSource, []byte("other"))), fData(unhex(oaepCT)))
}

func TestCrypto_RSAEncryption(t *testing.T) {
	_, c := cryptoEnv(t)
	k := testRSAKey()
	pub := regAsym(t, c, &k.PublicKey, false, kmip.CryptographicUsageMaskEncrypt)
	priv := regAsym(t, c, k, true, kmip.CryptographicUsageMaskDecrypt)
	msg := []byte("attack at dawn")
	for _, tc := range []struct {
		name   string
		params fld
		check  func(ct []byte) ([]byte, error)
	}{
		{"OAEP-default", nil, func(ct []byte) ([]byte, error) {
			return rsa.DecryptOAEP(crypto.SHA1.New(), nil, k, ct, nil)
		}},
		{"OAEP-SHA256", fParams(fPad(kmip.PaddingMethodOAEP), fHash(kmip.HashingAlgorithmSHA_256),
			fEnum(ttlv.TagMaskGeneratorHashingAlgorithm, uint32(kmip.HashingAlgorithmSHA_256))), func(ct []byte) ([]byte, error) {
			return rsa.DecryptOAEP(sha256.New(), nil, k, ct, nil)
		}},
		{"OAEP-SHA256-label", fParams(fPad(kmip.PaddingMethodOAEP), fHash(kmip.HashingAlgorithmSHA_256),
			bytesFld(ttlv.TagPSource, []byte("label"))), func(ct []byte) ([]byte, error) {
			return k.Decrypt(nil, ct, &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA1, Label: []byte("label")})
		}},
		{"PKCS1v15", fParams(fPad(kmip.PaddingMethodPKCS1V1_5)), func(ct []byte) ([]byte, error) {
			//lint:ignore SA1019 checking the server's PKCS#1 v1.5 output.
			return rsa.DecryptPKCS1v15(nil, k, ct)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct, iv, _ := encryptOK(t, c, fUID(pub), tc.params, fData(msg))
			if iv != nil || len(ct) != 256 {
				t.Fatalf("ciphertext of %d bytes", len(ct))
			}
			if got, err := tc.check(ct); err != nil || !bytes.Equal(got, msg) {
				t.Fatalf("local decryption: %v", err)
			}
			if got := decryptOK(t, c, fUID(priv), tc.params, fData(ct)); !bytes.Equal(got, msg) {
				t.Fatalf("server decryption: %x", got)
			}
		})
	}
	// The private key does not encrypt, the public one does not decrypt.
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonIncompatibleCryptographicUsageMask, fUID(priv), fData(msg))
	fails(t, c, kmip.OperationDecrypt, kmip.ResultReasonIncompatibleCryptographicUsageMask, fUID(pub), fData(msg))
	fails(t, c, kmip.OperationEncrypt, kmip.ResultReasonUnsupportedCryptographicParameters, fUID(pub), fParams(fPad(kmip.PaddingMethodPSS)), fData(msg))
	fails(t, c, kmip.OperationDecrypt, kmip.ResultReasonCryptographicFailure, fUID(priv), fData(make([]byte, 256)))
	// PKCS#1 v1.5 decryption of a bad ciphertext answers a synthetic
	// message, the same each time, rather than an error (no padding
	// oracle).
	v15 := fParams(fPad(kmip.PaddingMethodPKCS1V1_5))
	junk := randBytes(256)
	junk[0] = 0
	a := decryptOK(t, c, fUID(priv), v15, fData(junk))
	if b := decryptOK(t, c, fUID(priv), v15, fData(junk)); !bytes.Equal(a, b) || len(a) > 245 {
		t.Fatalf("implicit rejection: %x / %x", a, b)
	}
	fails(t, c, kmip.OperationDecrypt, kmip.ResultReasonCryptographicFailure, fUID(priv), v15, fData(junk[:100]))
}

func TestCrypto_SignVerify(t *testing.T) {
	_, c := cryptoEnv(t)
	rk := testRSAKey()
	ec256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	ec384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	edPub, edPriv, _ := ed25519.GenerateKey(rand.Reader)
	msg := []byte("the message to sign")
	h256 := sha256.Sum256(msg)
	h384 := sha512.Sum384(msg)
	h512 := sha512.Sum512(msg)
	type signCase struct {
		name     string
		priv     crypto.Signer
		params   fld
		digested []byte
		// check verifies the signature locally.
		check func(sig []byte) bool
	}
	cases := []signCase{
		{"RSA-PKCS1-default", rk, nil, nil, func(sig []byte) bool {
			return rsa.VerifyPKCS1v15(&rk.PublicKey, crypto.SHA256, h256[:], sig) == nil
		}},
		{"RSA-PKCS1-SHA384", rk, fParams(fPad(kmip.PaddingMethodPKCS1V1_5), fHash(kmip.HashingAlgorithmSHA_384)), nil, func(sig []byte) bool {
			return rsa.VerifyPKCS1v15(&rk.PublicKey, crypto.SHA384, h384[:], sig) == nil
		}},
		{"RSA-SHA512WithRSA", rk, fParams(fEnum(ttlv.TagDigitalSignatureAlgorithm, uint32(kmip.DigitalSignatureAlgorithmSHA_512WithRSAEncryption))), nil, func(sig []byte) bool {
			return rsa.VerifyPKCS1v15(&rk.PublicKey, crypto.SHA512, h512[:], sig) == nil
		}},
		{"RSA-PSS-SHA256", rk, fParams(fPad(kmip.PaddingMethodPSS), fHash(kmip.HashingAlgorithmSHA_256)), nil, func(sig []byte) bool {
			return rsa.VerifyPSS(&rk.PublicKey, crypto.SHA256, h256[:], sig, &rsa.PSSOptions{SaltLength: 32}) == nil
		}},
		{"RSA-PSS-maxsalt", rk, fParams(fPad(kmip.PaddingMethodPSS), fHash(kmip.HashingAlgorithmSHA_256), fInt(ttlv.TagSaltLength, 222)), nil, func(sig []byte) bool {
			return rsa.VerifyPSS(&rk.PublicKey, crypto.SHA256, h256[:], sig, &rsa.PSSOptions{SaltLength: 222}) == nil
		}},
		{"RSA-PSS-digested", rk, fParams(fPad(kmip.PaddingMethodPSS), fHash(kmip.HashingAlgorithmSHA_256)), h256[:], func(sig []byte) bool {
			return rsa.VerifyPSS(&rk.PublicKey, crypto.SHA256, h256[:], sig, nil) == nil
		}},
		{"RSA-PKCS1-digested-raw", rk, fParams(fAlg(kmip.CryptographicAlgorithmRSA)), msg[:16], func(sig []byte) bool {
			return rsa.VerifyPKCS1v15(&rk.PublicKey, 0, msg[:16], sig) == nil
		}},
		{"ECDSA-P256", ec256, fParams(fAlg(kmip.CryptographicAlgorithmECDSA), fHash(kmip.HashingAlgorithmSHA_256)), nil, func(sig []byte) bool {
			return ecdsa.VerifyASN1(&ec256.PublicKey, h256[:], sig)
		}},
		{"ECDSA-P256-digested", ec256, nil, h256[:], func(sig []byte) bool {
			return ecdsa.VerifyASN1(&ec256.PublicKey, h256[:], sig)
		}},
		{"ECDSA-P384-default", ec384, nil, nil, func(sig []byte) bool {
			return ecdsa.VerifyASN1(&ec384.PublicKey, h384[:], sig)
		}},
		{"ECDSAWithSHA256", ec384, fParams(fEnum(ttlv.TagDigitalSignatureAlgorithm, uint32(kmip.DigitalSignatureAlgorithmECDSAWithSHA256))), nil, func(sig []byte) bool {
			return ecdsa.VerifyASN1(&ec384.PublicKey, h256[:], sig)
		}},
		{"Ed25519", edPriv, nil, nil, func(sig []byte) bool {
			return ed25519.Verify(edPub, msg, sig)
		}},
		{"Ed25519ph", edPriv, nil, h512[:], func(sig []byte) bool {
			return ed25519.VerifyWithOptions(edPub, h512[:], sig, &ed25519.Options{Hash: crypto.SHA512}) == nil
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			priv := regAsym(t, c, tc.priv, true, signMask)
			pub := regAsym(t, c, tc.priv.Public(), false, verifyMask)
			in := fData(msg)
			if tc.digested != nil {
				in = fDigest(tc.digested)
			}
			sig := out(must(t, c, kmip.OperationSign, fUID(priv), tc.params, in), ttlv.TagSignatureData)
			if !tc.check(sig) {
				t.Fatalf("the signature does not verify locally: %x", sig)
			}
			if v := validity(t, must(t, c, kmip.OperationSignatureVerify, fUID(pub), tc.params, in, fSig(sig))); v != kmip.ValidityIndicatorValid {
				t.Fatalf("server verification: %s", v)
			}
			bad := append([]byte{}, sig...)
			bad[len(bad)/2] ^= 1
			if v := validity(t, must(t, c, kmip.OperationSignatureVerify, fUID(pub), tc.params, in, fSig(bad))); v != kmip.ValidityIndicatorInvalid {
				t.Fatalf("tampered signature: %s", v)
			}
			// Multi-part, in pieces.
			if tc.digested == nil {
				it := must(t, c, kmip.OperationSign, fUID(priv), tc.params, fData(msg[:5]), fInit())
				cv := out(it, ttlv.TagCorrelationValue)
				must(t, c, kmip.OperationSign, fUID(priv), fData(msg[5:9]), fCV(cv))
				sig2 := out(must(t, c, kmip.OperationSign, fUID(priv), fData(msg[9:]), fCV(cv), fFinal()), ttlv.TagSignatureData)
				if !tc.check(sig2) {
					t.Fatal("the multi-part signature does not verify")
				}
				it = must(t, c, kmip.OperationSignatureVerify, fUID(pub), tc.params, fData(msg[:3]), fSig(sig2), fInit())
				cv = out(it, ttlv.TagCorrelationValue)
				if v := validity(t, must(t, c, kmip.OperationSignatureVerify, fUID(pub), fData(msg[3:]), fCV(cv), fFinal())); v != kmip.ValidityIndicatorValid {
					t.Fatalf("multi-part verification: %s", v)
				}
			}
		})
	}
	// An X.509 certificate verifies with its public key.
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "signer"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	certDER, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &ec256.PublicKey, ec256)
	if err != nil {
		t.Fatal(err)
	}
	cert := string(out2text(must(t, c, kmip.OperationRegister,
		fEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeCertificate)),
		attrsWrap(c.Version, maskAttr(c.Version, verifyMask), active(c.Version)),
		func(b *ttlv.Builder) {
			b.Begin(ttlv.TagCertificate)
			b.AddEnum(ttlv.TagCertificateType, uint32(kmip.CertificateTypeX_509))
			b.AddBytes(ttlv.TagCertificateValue, certDER)
			b.End()
		})))
	ecSig, _ := ecdsa.SignASN1(rand.Reader, ec256, h256[:])
	if v := validity(t, must(t, c, kmip.OperationSignatureVerify, fUID(cert), fData(msg), fSig(ecSig))); v != kmip.ValidityIndicatorValid {
		t.Fatalf("verification with a certificate: %s", v)
	}
	// Parameters for another algorithm: Invalid on verification
	// (TC-ECDSA-SIGN-DIGESTEDDATA-1), refused on signing.
	priv := regAsym(t, c, ec256, true, signMask)
	pub := regAsym(t, c, &ec256.PublicKey, false, verifyMask)
	rsaPSS := fParams(fPad(kmip.PaddingMethodPSS), fHash(kmip.HashingAlgorithmSHA_1), fAlg(kmip.CryptographicAlgorithmRSA))
	sig := out(must(t, c, kmip.OperationSign, fUID(priv), fData(msg)), ttlv.TagSignatureData)
	if v := validity(t, must(t, c, kmip.OperationSignatureVerify, fUID(pub), rsaPSS, fData(msg), fSig(sig))); v != kmip.ValidityIndicatorInvalid {
		t.Fatalf("RSA parameters on an EC key: %s", v)
	}
	fails(t, c, kmip.OperationSign, kmip.ResultReasonBadCryptographicParameters, fUID(priv), rsaPSS, fData(msg))
	// The public key cannot sign; masks apply.
	fails(t, c, kmip.OperationSign, kmip.ResultReasonIncompatibleCryptographicUsageMask, fUID(pub), fData(msg))
	fails(t, c, kmip.OperationSignatureVerify, kmip.ResultReasonIncompatibleCryptographicUsageMask, fUID(priv), fData(msg), fSig(sig))
	// Digested Data of the wrong size for the hash.
	fails(t, c, kmip.OperationSign, kmip.ResultReasonBadCryptographicParameters, fUID(priv), fParams(fHash(kmip.HashingAlgorithmSHA_256)), fDigest(msg[:5]))
	fails(t, c, kmip.OperationSign, kmip.ResultReasonInvalidField, fUID(priv), fData(msg), fDigest(h256[:]))
}

// CS-AC-M-8: the date windows stop signing and verifying.
func TestCrypto_SignWindows(t *testing.T) {
	e, _ := cryptoEnv(t)
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for ver, reason := range map[kmip.Version]kmip.ResultReason{
		kmip.V2_1: kmip.ResultReasonWrongKeyLifecycleState,
		kmip.V1_4: kmip.ResultReasonPermissionDenied,
	} {
		c := e.srv.Dial(t, "alice", ver)
		windows := []fld{dateAttr(ver, ttlv.TagProcessStartDate, 3600e9), dateAttr(ver, ttlv.TagProtectStopDate, -3600e9)}
		priv := regAsym(t, c, k, true, signMask, windows...)
		pub := regAsym(t, c, &k.PublicKey, false, verifyMask, windows...)
		fails(t, c, kmip.OperationSign, reason, fUID(priv), fData([]byte("m")))
		fails(t, c, kmip.OperationSignatureVerify, reason, fUID(pub), fData([]byte("m")), fSig([]byte("s")))
	}
}
