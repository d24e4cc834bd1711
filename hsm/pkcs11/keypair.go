//go:build cgo

package pkcs11

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/asn1"
	"fmt"
	"math/big"

	"github.com/miekg/pkcs11"

	"github.com/kmipd/kmipd/hsm"
)

// Named curves: the Go curve and the DER of its OID (CKA_EC_PARAMS).
var curves = map[string]struct {
	curve  elliptic.Curve
	params []byte
}{
	"P-256": {elliptic.P256(), mustOID(asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7})},
	"P-384": {elliptic.P384(), mustOID(asn1.ObjectIdentifier{1, 3, 132, 0, 34})},
	"P-521": {elliptic.P521(), mustOID(asn1.ObjectIdentifier{1, 3, 132, 0, 35})},
}

func mustOID(oid asn1.ObjectIdentifier) []byte {
	b, err := asn1.Marshal(oid)
	if err != nil {
		panic(err)
	}
	return b
}

// GenerateKeyPair generates an RSA or EC key pair inside the HSM as
// session objects. The private key (sensitive, extractable only wrapped) is
// wrapped with CKM_AES_KEY_WRAP_PAD under the wrap KEK as PKCS#8 and bound
// to privateID; Open of the blob yields the PKCS#8 DER. The public key is
// returned as SubjectPublicKeyInfo DER. Both objects are destroyed.
func (b *Backend) GenerateKeyPair(ctx context.Context, privateID string, spec hsm.KeyPairSpec) (hsm.KeyPair, error) {
	var (
		mech          []*pkcs11.Mechanism
		pubTmpl, priv []*pkcs11.Attribute
		keyType       byte
	)
	common := func(class, ckk uint) []*pkcs11.Attribute {
		return []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_CLASS, class),
			pkcs11.NewAttribute(pkcs11.CKA_KEY_TYPE, ckk),
			pkcs11.NewAttribute(pkcs11.CKA_TOKEN, false),
		}
	}
	privAttrs := []*pkcs11.Attribute{
		pkcs11.NewAttribute(pkcs11.CKA_PRIVATE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SENSITIVE, true),
		pkcs11.NewAttribute(pkcs11.CKA_EXTRACTABLE, true),
		pkcs11.NewAttribute(pkcs11.CKA_SIGN, true),
	}
	switch spec.Algorithm {
	case hsm.KeyPairRSA:
		switch spec.Bits {
		case 2048, 3072, 4096:
		default:
			return hsm.KeyPair{}, fmt.Errorf("%w: RSA key of %d bits (want 2048, 3072 or 4096)", hsm.ErrNotSupported, spec.Bits)
		}
		mech = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil)}
		pubTmpl = append(common(pkcs11.CKO_PUBLIC_KEY, pkcs11.CKK_RSA),
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS_BITS, spec.Bits),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}),
			pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true),
			pkcs11.NewAttribute(pkcs11.CKA_ENCRYPT, true))
		priv = append(append(common(pkcs11.CKO_PRIVATE_KEY, pkcs11.CKK_RSA), privAttrs...),
			pkcs11.NewAttribute(pkcs11.CKA_DECRYPT, true))
		keyType = keyTypeRSA
	case hsm.KeyPairEC:
		c, ok := curves[spec.Curve]
		if !ok {
			return hsm.KeyPair{}, fmt.Errorf("%w: EC curve %q (want P-256, P-384 or P-521)", hsm.ErrNotSupported, spec.Curve)
		}
		mech = []*pkcs11.Mechanism{pkcs11.NewMechanism(pkcs11.CKM_EC_KEY_PAIR_GEN, nil)}
		pubTmpl = append(common(pkcs11.CKO_PUBLIC_KEY, pkcs11.CKK_EC),
			pkcs11.NewAttribute(pkcs11.CKA_EC_PARAMS, c.params),
			pkcs11.NewAttribute(pkcs11.CKA_VERIFY, true))
		priv = append(append(common(pkcs11.CKO_PRIVATE_KEY, pkcs11.CKK_EC), privAttrs...),
			pkcs11.NewAttribute(pkcs11.CKA_DERIVE, true))
		keyType = keyTypeEC
	default:
		return hsm.KeyPair{}, fmt.Errorf("%w: key-pair algorithm %d", hsm.ErrNotSupported, spec.Algorithm)
	}
	var kp hsm.KeyPair
	err := b.do(ctx, false, func(o *op) error {
		v := o.b.current
		k, err := o.kek(v)
		if err != nil {
			return err
		}
		pubH, privH, err := o.p.GenerateKeyPair(o.s, mech, pubTmpl, priv)
		if err != nil {
			return call("C_GenerateKeyPair", err)
		}
		defer o.destroy(pubH)
		defer o.destroy(privH)
		pub, err := o.publicKey(pubH, spec)
		if err != nil {
			return err
		}
		if kp.PublicKeyDER, err = x509.MarshalPKIXPublicKey(pub); err != nil {
			return fmt.Errorf("pkcs11: public key: %w", err)
		}
		wrapped, err := o.p.WrapKey(o.s, mechKWP, k.wrap, privH)
		if err != nil {
			return call("C_WrapKey", err)
		}
		kp.PrivateBlob, err = o.sealWrapped(v, privateID, keyType, privateKeyLen, wrapped)
		return err
	})
	if err != nil {
		return hsm.KeyPair{}, err
	}
	return kp, nil
}

// publicKey reads the public key object h.
func (o *op) publicKey(h pkcs11.ObjectHandle, spec hsm.KeyPairSpec) (any, error) {
	if spec.Algorithm == hsm.KeyPairRSA {
		attrs, err := o.p.GetAttributeValue(o.s, h, []*pkcs11.Attribute{
			pkcs11.NewAttribute(pkcs11.CKA_MODULUS, nil),
			pkcs11.NewAttribute(pkcs11.CKA_PUBLIC_EXPONENT, nil),
		})
		if err != nil {
			return nil, call("C_GetAttributeValue", err)
		}
		e := new(big.Int).SetBytes(attrs[1].Value)
		if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
			return nil, fmt.Errorf("pkcs11: RSA public exponent %v", e)
		}
		return &rsa.PublicKey{N: new(big.Int).SetBytes(attrs[0].Value), E: int(e.Int64())}, nil
	}
	attrs, err := o.p.GetAttributeValue(o.s, h, []*pkcs11.Attribute{pkcs11.NewAttribute(pkcs11.CKA_EC_POINT, nil)})
	if err != nil {
		return nil, call("C_GetAttributeValue", err)
	}
	// CKA_EC_POINT is a DER OCTET STRING around the uncompressed point.
	var point []byte
	if rest, err := asn1.Unmarshal(attrs[0].Value, &point); err != nil || len(rest) != 0 {
		point = attrs[0].Value // some tokens return the bare point
	}
	pub, err := ecdsa.ParseUncompressedPublicKey(curves[spec.Curve].curve, point)
	if err != nil {
		return nil, fmt.Errorf("pkcs11: EC public key: %w", err)
	}
	return pub, nil
}
