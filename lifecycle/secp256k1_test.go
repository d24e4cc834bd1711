package lifecycle_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
	"time"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	k1ecdsa "github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

var oidSecp256k1 = asn1.ObjectIdentifier{1, 3, 132, 0, 10}

// k1Pair creates an Active secp256k1 (or other curve) key pair with the
// given usage masks.
func k1Pair(t *testing.T, c *kmip.Client, curve kmip.RecommendedCurve, privMask, pubMask kmip.CryptographicUsageMask) (priv, pub string) {
	t.Helper()
	priv, pub, err := kpCreate(t, c,
		[]kpAttr{kpEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmEC)), kpCurve(curve),
			kpDate(ttlv.TagActivationDate, time.Now().Add(-time.Hour).Unix())},
		[]kpAttr{kpMask(privMask)}, []kpAttr{kpMask(pubMask)})
	if err != nil {
		t.Fatalf("Create Key Pair on %s: %v", curve, err)
	}
	return priv, pub
}

// k1Keys reads a secp256k1 key pair back through Get and parses it with
// the curve library.
func k1Keys(t *testing.T, c *kmip.Client, privID, pubID string) (*secp256k1.PrivateKey, *secp256k1.PublicKey) {
	t.Helper()
	f, km, err := kpGet(t, c, privID, kmip.KeyFormatTypeECPrivateKey)
	if err != nil || f != kmip.KeyFormatTypeECPrivateKey {
		t.Fatalf("Get ECPrivateKey: %v %s", err, f)
	}
	var e struct {
		Version    int
		PrivateKey []byte
		Curve      asn1.ObjectIdentifier `asn1:"optional,explicit,tag:0"`
		PublicKey  asn1.BitString        `asn1:"optional,explicit,tag:1"`
	}
	if _, err := asn1.Unmarshal(km.Data, &e); err != nil || !e.Curve.Equal(oidSecp256k1) {
		t.Fatalf("ECPrivateKey %x: %v, curve %v", km.Data, err, e.Curve)
	}
	priv := secp256k1.PrivKeyFromBytes(e.PrivateKey)
	f, km, err = kpGet(t, c, pubID, 0)
	if err != nil || f != kmip.KeyFormatTypeX_509 {
		t.Fatalf("Get public key: %v %s", err, f)
	}
	var spki struct {
		Algo      pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(km.Data, &spki); err != nil {
		t.Fatal(err)
	}
	var curve asn1.ObjectIdentifier
	if _, err := asn1.Unmarshal(spki.Algo.Parameters.FullBytes, &curve); err != nil || !curve.Equal(oidSecp256k1) {
		t.Fatalf("SubjectPublicKeyInfo curve %v: %v", curve, err)
	}
	pub, err := secp256k1.ParsePubKey(spki.PublicKey.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if !pub.IsEqual(priv.PubKey()) || !bytes.Equal(e.PublicKey.Bytes, pub.SerializeUncompressed()) {
		t.Fatal("the public key is not the private key's")
	}
	return priv, pub
}

func TestSecp256k1_SignVerify(t *testing.T) {
	msg := []byte("KMIP on the Bitcoin curve")
	h := sha256.Sum256(msg)
	ecdsaParams := fParams(fAlg(kmip.CryptographicAlgorithmECDSA), fHash(kmip.HashingAlgorithmSHA_256))
	for _, ver := range []kmip.Version{kmip.V2_1, kmip.V1_4} {
		t.Run(ver.String(), func(t *testing.T) {
			e := newEnv(t)
			c := e.srv.Dial(t, "alice", ver)
			privID, pubID := k1Pair(t, c, kmip.RecommendedCurveSECP256K1,
				kmip.CryptographicUsageMaskSign, kmip.CryptographicUsageMaskVerify)
			priv, pub := k1Keys(t, c, privID, pubID)

			sig := out(must(t, c, kmip.OperationSign, fUID(privID), ecdsaParams, fData(msg)), ttlv.TagSignatureData)
			s, err := k1ecdsa.ParseDERSignature(sig)
			if err != nil || !s.Verify(h[:], pub) {
				t.Fatalf("the server's signature %x does not verify: %v", sig, err)
			}
			if v := validity(t, must(t, c, kmip.OperationSignatureVerify, fUID(pubID), ecdsaParams, fData(msg), fSig(sig))); v != kmip.ValidityIndicatorValid {
				t.Fatalf("own signature: %s", v)
			}
			local := k1ecdsa.Sign(priv, h[:]).Serialize()
			if v := validity(t, must(t, c, kmip.OperationSignatureVerify, fUID(pubID), ecdsaParams, fData(msg), fSig(local))); v != kmip.ValidityIndicatorValid {
				t.Fatalf("local signature: %s", v)
			}
			if v := validity(t, must(t, c, kmip.OperationSignatureVerify, fUID(pubID), ecdsaParams, fData(append(msg, '!')), fSig(local))); v != kmip.ValidityIndicatorInvalid {
				t.Fatalf("tampered message: %s", v)
			}
			// Digested Data, and the private key verifying its own.
			dsig := out(must(t, c, kmip.OperationSign, fUID(privID), ecdsaParams, fDigest(h[:])), ttlv.TagSignatureData)
			if v := validity(t, must(t, c, kmip.OperationSignatureVerify, fUID(pubID), ecdsaParams, fData(msg), fSig(dsig))); v != kmip.ValidityIndicatorValid {
				t.Fatalf("signature of the digest: %s", v)
			}
			// Parameters for RSA do not verify an ECDSA signature.
			rsaParams := fParams(fAlg(kmip.CryptographicAlgorithmRSA), fHash(kmip.HashingAlgorithmSHA_256))
			if v := validity(t, must(t, c, kmip.OperationSignatureVerify, fUID(pubID), rsaParams, fData(msg), fSig(sig))); v != kmip.ValidityIndicatorInvalid {
				t.Fatalf("RSA parameters: %s", v)
			}
		})
	}
}

// deriveECDH runs Derive Key with the Asymmetric Key method on two keys.
func deriveECDH(t *testing.T, c *kmip.Client, a, b string, bits int32) (string, error) {
	t.Helper()
	it, err := do(t, c, kmip.OperationDeriveKey, pl(
		fEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey)),
		fUID(a), fUID(b),
		fEnum(ttlv.TagDerivationMethod, uint32(kmip.DerivationMethodAsymmetricKey)),
		func(bb *ttlv.Builder) {
			bb.Begin(ttlv.TagDerivationParameters)
			fParams(fAlg(kmip.CryptographicAlgorithmECDH))(bb)
			bb.End()
		},
		attrsWrap(c.Version, fAlg(kmip.CryptographicAlgorithmAES), fInt(ttlv.TagCryptographicLength, bits), maskAttr(c.Version, encDec))))
	if err != nil {
		return "", err
	}
	return string(out2text(it)), nil
}

func TestDeriveKey_ECDH(t *testing.T) {
	_, c := cryptoEnv(t)
	const derive = kmip.CryptographicUsageMaskDeriveKey
	// secp256k1: both sides agree, and on the curve library's secret.
	aPriv, aPub := k1Pair(t, c, kmip.RecommendedCurveSECP256K1, derive|kmip.CryptographicUsageMaskSign, derive)
	bPriv, bPub := k1Pair(t, c, kmip.RecommendedCurveSECP256K1, derive, derive)
	ka, _ := k1Keys(t, c, aPriv, aPub)
	_, pb := k1Keys(t, c, bPriv, bPub)
	ab, err := deriveECDH(t, c, aPriv, bPub, 256)
	if err != nil {
		t.Fatal(err)
	}
	ba, err := deriveECDH(t, c, bPub, aPriv, 256) // either order
	if err != nil {
		t.Fatal(err)
	}
	ba2, err := deriveECDH(t, c, bPriv, aPub, 256)
	if err != nil {
		t.Fatal(err)
	}
	want := secp256k1.GenerateSharedSecret(ka, pb)
	for _, id := range []string{ab, ba, ba2} {
		if got := material(t, c, id); !bytes.Equal(got, want) {
			t.Fatalf("secp256k1 ECDH: %x, want %x", got, want)
		}
	}
	if short, err := deriveECDH(t, c, aPriv, bPub, 128); err != nil || !bytes.Equal(material(t, c, short), want[:16]) {
		t.Fatalf("128-bit key: %v", err)
	}

	// P-256 through crypto/ecdh.
	pPriv, pPub := k1Pair(t, c, kmip.RecommendedCurveP_256, derive, derive)
	qPriv, qPub := k1Pair(t, c, kmip.RecommendedCurveP_256, derive, derive)
	pq, err := deriveECDH(t, c, pPriv, qPub, 256)
	if err != nil {
		t.Fatal(err)
	}
	qp, err := deriveECDH(t, c, qPriv, pPub, 256)
	if err != nil {
		t.Fatal(err)
	}
	_, km, _ := kpGet(t, c, pPriv, kmip.KeyFormatTypePKCS_8)
	pk, err := x509.ParsePKCS8PrivateKey(km.Data)
	if err != nil {
		t.Fatal(err)
	}
	_, km, _ = kpGet(t, c, qPub, kmip.KeyFormatTypeX_509)
	qk, err := x509.ParsePKIXPublicKey(km.Data)
	if err != nil {
		t.Fatal(err)
	}
	pe, _ := pk.(*ecdsa.PrivateKey).ECDH()
	qe, _ := qk.(*ecdsa.PublicKey).ECDH()
	z, err := pe.ECDH(qe)
	if err != nil || !bytes.Equal(material(t, c, pq), z) || !bytes.Equal(material(t, c, qp), z) {
		t.Fatalf("P-256 ECDH differs from crypto/ecdh (%v)", err)
	}

	// Errors.
	if _, err := deriveECDH(t, c, aPriv, qPub, 256); err == nil {
		t.Fatal("keys on different curves agreed")
	} else {
		wantReason(t, err, kmip.ResultReasonBadCryptographicParameters)
	}
	_, err = deriveECDH(t, c, aPriv, bPriv, 256)
	wantReason(t, err, kmip.ResultReasonInvalidObjectType)
	_, err = deriveECDH(t, c, aPub, bPub, 256)
	wantReason(t, err, kmip.ResultReasonInvalidObjectType)
	noDerive, _ := k1Pair(t, c, kmip.RecommendedCurveSECP256K1, kmip.CryptographicUsageMaskSign, derive)
	_, err = deriveECDH(t, c, noDerive, bPub, 256)
	wantReason(t, err, kmip.ResultReasonIncompatibleCryptographicUsageMask)
	_, err = do(t, c, kmip.OperationDeriveKey, pl(
		fEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey)), fUID(aPriv),
		fEnum(ttlv.TagDerivationMethod, uint32(kmip.DerivationMethodAsymmetricKey)),
		func(bb *ttlv.Builder) { bb.Begin(ttlv.TagDerivationParameters); bb.End() },
		attrsWrap(c.Version, fAlg(kmip.CryptographicAlgorithmAES), fInt(ttlv.TagCryptographicLength, 256))))
	wantReason(t, err, kmip.ResultReasonInvalidField)
}
