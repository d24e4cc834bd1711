package lifecycle_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/hsm/soft"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// kpAttr is one attribute of a Create Key Pair request, written in the
// form of the client's version.
type kpAttr func(b *ttlv.Builder, v1 bool)

func kpEnum(tag ttlv.Tag, v uint32) kpAttr {
	return func(b *ttlv.Builder, v1 bool) {
		if !v1 {
			b.AddEnum(tag, v)
			return
		}
		name, _ := ttlv.TagSpecName(tag)
		attr1(b, name, func() { b.AddEnum(ttlv.TagAttributeValue, v) })
	}
}

func kpInt(tag ttlv.Tag, v int32) kpAttr {
	return func(b *ttlv.Builder, v1 bool) {
		if !v1 {
			b.AddInt32(tag, v)
			return
		}
		name, _ := ttlv.TagSpecName(tag)
		attr1(b, name, func() { b.AddInt32(ttlv.TagAttributeValue, v) })
	}
}

func kpDate(tag ttlv.Tag, v int64) kpAttr {
	return func(b *ttlv.Builder, v1 bool) {
		if !v1 {
			b.AddDateTime(tag, v)
			return
		}
		name, _ := ttlv.TagSpecName(tag)
		attr1(b, name, func() { b.AddDateTime(ttlv.TagAttributeValue, v) })
	}
}

func kpText(tag ttlv.Tag, v string) kpAttr {
	return func(b *ttlv.Builder, v1 bool) {
		if !v1 {
			b.AddText(tag, v)
			return
		}
		name, _ := ttlv.TagSpecName(tag)
		attr1(b, name, func() { b.AddText(ttlv.TagAttributeValue, v) })
	}
}

func kpName(v string) kpAttr {
	return func(b *ttlv.Builder, v1 bool) {
		tag := ttlv.TagName
		if v1 {
			b.Begin(ttlv.TagAttribute)
			b.AddText(ttlv.TagAttributeName, "Name")
			tag = ttlv.TagAttributeValue
		}
		b.Begin(tag)
		b.AddText(ttlv.TagNameValue, v)
		b.AddEnum(ttlv.TagNameType, uint32(kmip.NameTypeUninterpretedTextString))
		b.End()
		if v1 {
			b.End()
		}
	}
}

func kpCurve(c kmip.RecommendedCurve) kpAttr {
	return func(b *ttlv.Builder, v1 bool) {
		tag := ttlv.TagCryptographicDomainParameters
		if v1 {
			b.Begin(ttlv.TagAttribute)
			b.AddText(ttlv.TagAttributeName, "Cryptographic Domain Parameters")
			tag = ttlv.TagAttributeValue
		}
		b.Begin(tag)
		b.AddEnum(ttlv.TagRecommendedCurve, uint32(c))
		b.End()
		if v1 {
			b.End()
		}
	}
}

func kpMask(m kmip.CryptographicUsageMask) kpAttr {
	return kpInt(ttlv.TagCryptographicUsageMask, int32(m))
}

// kpPayload writes a Create Key Pair request payload: Common, Private Key
// and Public Key Attributes (2.x) or Template-Attributes (1.x).
func kpPayload(ver kmip.Version, common, private, public []kpAttr) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		v1 := !ver.V2()
		tags := [3]ttlv.Tag{ttlv.TagCommonAttributes, ttlv.TagPrivateKeyAttributes, ttlv.TagPublicKeyAttributes}
		if v1 {
			tags = [3]ttlv.Tag{ttlv.TagCommonTemplateAttribute, ttlv.TagPrivateKeyTemplateAttribute, ttlv.TagPublicKeyTemplateAttribute}
		}
		for i, list := range [][]kpAttr{common, private, public} {
			if list == nil {
				continue
			}
			b.Begin(tags[i])
			for _, a := range list {
				a(b, v1)
			}
			b.End()
		}
	}
}

// kpCreate runs Create Key Pair and returns the private and public key
// identifiers.
func kpCreate(t *testing.T, c *kmip.Client, common, private, public []kpAttr) (string, string, error) {
	t.Helper()
	it, err := do(t, c, kmip.OperationCreateKeyPair, kpPayload(c.Version, common, private, public))
	if err != nil {
		return "", "", err
	}
	var priv, pub []byte
	p := it.Payload
	if !p.ReadText(ttlv.TagPrivateKeyUniqueIdentifier, &priv) || !p.ReadText(ttlv.TagPublicKeyUniqueIdentifier, &pub) || !p.Empty() {
		t.Fatalf("Create Key Pair response: %s", ttlv.Format(it.Payload))
	}
	return string(priv), string(pub), nil
}

// kpGet runs Get with an optional Key Format Type and returns the format
// and the Key Material item of the key.
func kpGet(t *testing.T, c *kmip.Client, id string, format kmip.KeyFormatType) (kmip.KeyFormatType, ttlv.Item, error) {
	t.Helper()
	it, err := do(t, c, kmip.OperationGet, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		if format != 0 {
			b.AddEnum(ttlv.TagKeyFormatType, uint32(format))
		}
	})
	if err != nil {
		return 0, ttlv.Item{}, err
	}
	p := it.Payload
	var ot uint32
	var uid []byte
	if !p.ReadEnum(ttlv.TagObjectType, &ot) || !p.ReadText(ttlv.TagUniqueIdentifier, &uid) || string(uid) != id {
		t.Fatalf("Get response: %s", ttlv.Format(it.Payload))
	}
	obj, _ := p.Next()
	kb, ok := obj.Children().Find(ttlv.TagKeyBlock)
	if !ok {
		t.Fatalf("Get response without Key Block: %s", ttlv.Format(it.Payload))
	}
	f, _ := kb.Children().Find(ttlv.TagKeyFormatType)
	km, ok := findPath(kb.Children(), ttlv.TagKeyValue, ttlv.TagKeyMaterial)
	if !ok {
		t.Fatalf("Get response without Key Material: %s", ttlv.Format(it.Payload))
	}
	return kmip.KeyFormatType(f.Uint32()), km, nil
}

// kpLinks returns the Links of an object as type → identifier.
func kpLinks(t *testing.T, c *kmip.Client, id string) map[kmip.LinkType]string {
	t.Helper()
	it, err := do(t, c, kmip.OperationGetAttributes, byID(id))
	if err != nil {
		t.Fatal(err)
	}
	out := map[kmip.LinkType]string{}
	var visit func(v ttlv.Value)
	visit = func(v ttlv.Value) {
		for !v.Empty() {
			x, _ := v.Next()
			if x.Tag == ttlv.TagLink || x.Tag == ttlv.TagAttributeValue && x.Type == ttlv.TypeStructure {
				c := x.Children()
				lt, ok1 := c.Find(ttlv.TagLinkType)
				lid, ok2 := c.Find(ttlv.TagLinkedObjectIdentifier)
				if ok1 && ok2 {
					out[kmip.LinkType(lt.Uint32())] = string(lid.Data)
				}
				continue
			}
			if x.Type == ttlv.TypeStructure {
				visit(x.Children())
			}
		}
	}
	visit(it.Payload)
	return out
}

// kpPrivateFormats are the formats a private key of each kind is checked
// in, with a parser for what comes back.
func kpParsePrivate(t *testing.T, f kmip.KeyFormatType, km ttlv.Item) crypto.Signer {
	t.Helper()
	var k any
	var err error
	switch f {
	case kmip.KeyFormatTypePKCS_8:
		k, err = x509.ParsePKCS8PrivateKey(km.Data)
	case kmip.KeyFormatTypePKCS_1:
		k, err = x509.ParsePKCS1PrivateKey(km.Data)
	case kmip.KeyFormatTypeECPrivateKey:
		k, err = x509.ParseECPrivateKey(km.Data)
	case kmip.KeyFormatTypeTransparentRSAPrivateKey:
		k, err = kpTransparentRSAPrivate(km)
	case kmip.KeyFormatTypeTransparentECPrivateKey, kmip.KeyFormatTypeTransparentECDSAPrivateKey:
		k, err = kpTransparentECPrivate(km)
	default:
		t.Fatalf("no parser for %s", f)
	}
	if err != nil {
		t.Fatalf("%s private key: %v", f, err)
	}
	return k.(crypto.Signer)
}

func kpParsePublic(t *testing.T, f kmip.KeyFormatType, km ttlv.Item) crypto.PublicKey {
	t.Helper()
	var k any
	var err error
	switch f {
	case kmip.KeyFormatTypeX_509:
		k, err = x509.ParsePKIXPublicKey(km.Data)
	case kmip.KeyFormatTypePKCS_1:
		k, err = x509.ParsePKCS1PublicKey(km.Data)
	case kmip.KeyFormatTypeTransparentRSAPublicKey:
		c := km.Children()
		n, ok1 := c.Find(ttlv.TagModulus)
		e, ok2 := c.Find(ttlv.TagPublicExponent)
		if !ok1 || !ok2 {
			t.Fatalf("transparent RSA public key: %s", ttlv.Format(km.Raw))
		}
		k = &rsa.PublicKey{N: n.BigInt(), E: int(e.BigInt().Int64())}
	case kmip.KeyFormatTypeTransparentECPublicKey, kmip.KeyFormatTypeTransparentECDSAPublicKey:
		c := km.Children()
		rc, ok1 := c.Find(ttlv.TagRecommendedCurve)
		q, ok2 := c.Find(ttlv.TagQString)
		if !ok1 || !ok2 {
			t.Fatalf("transparent EC public key: %s", ttlv.Format(km.Raw))
		}
		k, err = ecdsa.ParseUncompressedPublicKey(kpCurveOf(kmip.RecommendedCurve(rc.Uint32())), q.Data)
	default:
		t.Fatalf("no parser for %s", f)
	}
	if err != nil {
		t.Fatalf("%s public key: %v", f, err)
	}
	return k
}

func kpCurveOf(c kmip.RecommendedCurve) elliptic.Curve {
	switch c {
	case kmip.RecommendedCurveP_256:
		return elliptic.P256()
	case kmip.RecommendedCurveP_384:
		return elliptic.P384()
	case kmip.RecommendedCurveP_521:
		return elliptic.P521()
	}
	return nil
}

func kpTransparentRSAPrivate(km ttlv.Item) (*rsa.PrivateKey, error) {
	c := km.Children()
	get := func(tag ttlv.Tag) ttlv.Item { it, _ := c.Find(tag); return it }
	k := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: get(ttlv.TagModulus).BigInt(), E: int(get(ttlv.TagPublicExponent).BigInt().Int64())},
		D:         get(ttlv.TagPrivateExponent).BigInt(),
	}
	k.Primes = append(k.Primes, get(ttlv.TagP).BigInt(), get(ttlv.TagQ).BigInt())
	k.Precompute()
	if k.Precomputed.Dp.Cmp(get(ttlv.TagPrimeExponentP).BigInt()) != 0 ||
		k.Precomputed.Dq.Cmp(get(ttlv.TagPrimeExponentQ).BigInt()) != 0 ||
		k.Precomputed.Qinv.Cmp(get(ttlv.TagCRTCoefficient).BigInt()) != 0 {
		return nil, errors.New("CRT values differ")
	}
	return k, k.Validate()
}

func kpTransparentECPrivate(km ttlv.Item) (*ecdsa.PrivateKey, error) {
	c := km.Children()
	rc, _ := c.Find(ttlv.TagRecommendedCurve)
	d, _ := c.Find(ttlv.TagD)
	curve := kpCurveOf(kmip.RecommendedCurve(rc.Uint32()))
	size := (curve.Params().BitSize + 7) / 8
	return ecdsa.ParseRawPrivateKey(curve, d.BigInt().FillBytes(make([]byte, size)))
}

type kpCase struct {
	name     string
	alg      kmip.CryptographicAlgorithm
	bits     int32
	curve    kmip.RecommendedCurve // given as Cryptographic Domain Parameters when set
	private  []kmip.KeyFormatType
	public   []kmip.KeyFormatType
	v2only   bool
	wantDflt [2]kmip.KeyFormatType // default private, public format
	wantBits int32
}

var (
	kpRSAPrivate = []kmip.KeyFormatType{kmip.KeyFormatTypePKCS_1, kmip.KeyFormatTypePKCS_8, kmip.KeyFormatTypeTransparentRSAPrivateKey}
	kpRSAPublic  = []kmip.KeyFormatType{kmip.KeyFormatTypePKCS_1, kmip.KeyFormatTypeX_509, kmip.KeyFormatTypeTransparentRSAPublicKey}
	kpECPrivate  = []kmip.KeyFormatType{kmip.KeyFormatTypePKCS_8, kmip.KeyFormatTypeECPrivateKey, kmip.KeyFormatTypeTransparentECPrivateKey}
	kpECPublic   = []kmip.KeyFormatType{kmip.KeyFormatTypeX_509, kmip.KeyFormatTypeTransparentECPublicKey}
)

func kpCases() []kpCase {
	rsaDflt := [2]kmip.KeyFormatType{kmip.KeyFormatTypePKCS_1, kmip.KeyFormatTypePKCS_1}
	ecDflt := [2]kmip.KeyFormatType{kmip.KeyFormatTypePKCS_8, kmip.KeyFormatTypeX_509}
	return []kpCase{
		{name: "RSA-2048", alg: kmip.CryptographicAlgorithmRSA, bits: 2048, private: kpRSAPrivate, public: kpRSAPublic, wantDflt: rsaDflt, wantBits: 2048},
		{name: "RSA-3072", alg: kmip.CryptographicAlgorithmRSA, bits: 3072, private: kpRSAPrivate, public: kpRSAPublic, wantDflt: rsaDflt, wantBits: 3072},
		{name: "RSA-4096", alg: kmip.CryptographicAlgorithmRSA, bits: 4096, private: kpRSAPrivate, public: kpRSAPublic, wantDflt: rsaDflt, wantBits: 4096},
		{name: "EC-P256-by-length", alg: kmip.CryptographicAlgorithmEC, bits: 256, private: kpECPrivate, public: kpECPublic, wantDflt: ecDflt, wantBits: 256},
		{name: "ECDSA-P384-by-curve", alg: kmip.CryptographicAlgorithmECDSA, curve: kmip.RecommendedCurveP_384, private: kpECPrivate, public: kpECPublic, wantDflt: ecDflt, wantBits: 384},
		{name: "EC-P521-both", alg: kmip.CryptographicAlgorithmEC, bits: 521, curve: kmip.RecommendedCurveP_521, private: kpECPrivate, public: kpECPublic, wantDflt: ecDflt, wantBits: 521},
		{name: "Ed25519", alg: kmip.CryptographicAlgorithmEd25519, private: []kmip.KeyFormatType{kmip.KeyFormatTypePKCS_8},
			public: []kmip.KeyFormatType{kmip.KeyFormatTypeX_509}, v2only: true, wantDflt: ecDflt, wantBits: 255},
	}
}

func kpSamePublic(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// TestCreateKeyPair_AllAlgorithms creates pairs of every supported
// algorithm and size at KMIP 1.4 (Template-Attributes) and 2.0
// (Attributes), checks their attributes and links, and gets both keys in
// every format they convert to, parsing each with crypto/x509 and checking
// that the public key derived from the private one is the public key's.
func TestCreateKeyPair_AllAlgorithms(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_0} {
		for _, tc := range kpCases() {
			if tc.v2only && !ver.V2() {
				continue
			}
			t.Run(fmt.Sprintf("%s/%s", ver, tc.name), func(t *testing.T) {
				t.Parallel()
				c := e.srv.Dial(t, "alice", ver)
				common := []kpAttr{kpEnum(ttlv.TagCryptographicAlgorithm, uint32(tc.alg))}
				if tc.bits != 0 {
					common = append(common, kpInt(ttlv.TagCryptographicLength, tc.bits))
				}
				if tc.curve != 0 {
					common = append(common, kpCurve(tc.curve))
				}
				name := fmt.Sprintf("kp-%s-%s", ver, tc.name)
				priv, pub, err := kpCreate(t, c, common,
					[]kpAttr{kpName(name + "-private"), kpMask(kmip.CryptographicUsageMaskSign)},
					[]kpAttr{kpName(name + "-public"), kpMask(kmip.CryptographicUsageMaskVerify)})
				if err != nil {
					t.Fatal(err)
				}
				if priv == pub {
					t.Fatal("one identifier for both keys")
				}
				if l := kpLinks(t, c, priv); l[kmip.LinkTypePublicKeyLink] != pub || len(l) != 1 {
					t.Errorf("private key links %v, want Public Key Link to %s", l, pub)
				}
				if l := kpLinks(t, c, pub); l[kmip.LinkTypePrivateKeyLink] != priv || len(l) != 1 {
					t.Errorf("public key links %v, want Private Key Link to %s", l, priv)
				}
				for i, x := range []struct {
					id   string
					typ  kmip.ObjectType
					mask kmip.CryptographicUsageMask
				}{{priv, kmip.ObjectTypePrivateKey, kmip.CryptographicUsageMaskSign}, {pub, kmip.ObjectTypePublicKey, kmip.CryptographicUsageMaskVerify}} {
					a := attrsOf(t, c, x.id)
					if kmip.ObjectType(a[ttlv.TagObjectType].Uint32()) != x.typ ||
						kmip.CryptographicAlgorithm(a[ttlv.TagCryptographicAlgorithm].Uint32()) != tc.alg ||
						a[ttlv.TagCryptographicLength].Int32() != tc.wantBits ||
						kmip.CryptographicUsageMask(a[ttlv.TagCryptographicUsageMask].Uint32()) != x.mask ||
						kmip.State(a[ttlv.TagState].Uint32()) != kmip.StatePreActive {
						t.Errorf("%s attributes: type %d alg %d len %d mask %d state %d", x.typ,
							a[ttlv.TagObjectType].Uint32(), a[ttlv.TagCryptographicAlgorithm].Uint32(),
							a[ttlv.TagCryptographicLength].Int32(), a[ttlv.TagCryptographicUsageMask].Uint32(), a[ttlv.TagState].Uint32())
					}
					if _, ok := a[ttlv.TagRandomNumberGenerator]; !ok {
						t.Errorf("%s has no Random Number Generator", x.typ)
					}
					d, ok := a[ttlv.TagDigest]
					if !ok {
						t.Fatalf("%s has no Digest", x.typ)
					}
					dk, _ := d.Children().Find(ttlv.TagKeyFormatType)
					if kmip.KeyFormatType(dk.Uint32()) != tc.wantDflt[i] {
						t.Errorf("%s Digest format %d, want %s", x.typ, dk.Uint32(), tc.wantDflt[i])
					}
					if ver.V2() && kmip.KeyFormatType(a[ttlv.TagKeyFormatType].Uint32()) != tc.wantDflt[i] {
						t.Errorf("%s Key Format Type %d, want %s", x.typ, a[ttlv.TagKeyFormatType].Uint32(), tc.wantDflt[i])
					}
				}
				// The default formats, then every format, both ways.
				if f, _, err := kpGet(t, c, priv, 0); err != nil || f != tc.wantDflt[0] {
					t.Errorf("default private format %s, %v", f, err)
				}
				if f, _, err := kpGet(t, c, pub, 0); err != nil || f != tc.wantDflt[1] {
					t.Errorf("default public format %s, %v", f, err)
				}
				var pubKey crypto.PublicKey
				for _, f := range tc.public {
					got, km, err := kpGet(t, c, pub, f)
					if err != nil || got != f {
						t.Fatalf("Get public as %s: %s, %v", f, got, err)
					}
					k := kpParsePublic(t, f, km)
					if pubKey != nil && !kpSamePublic(pubKey, k) {
						t.Errorf("public key as %s differs", f)
					}
					pubKey = k
				}
				for _, f := range tc.private {
					got, km, err := kpGet(t, c, priv, f)
					if err != nil || got != f {
						t.Fatalf("Get private as %s: %s, %v", f, got, err)
					}
					k := kpParsePrivate(t, f, km)
					if !kpSamePublic(k.Public(), pubKey) {
						t.Errorf("private key as %s does not match the public key", f)
					}
				}
				// A signature by the private key verifies with the public
				// one.
				_, km, _ := kpGet(t, c, priv, kmip.KeyFormatTypePKCS_8)
				signer := kpParsePrivate(t, kmip.KeyFormatTypePKCS_8, km)
				msg := []byte("kmipd key pair")
				var digest []byte
				var opts crypto.SignerOpts = crypto.Hash(0)
				if _, ed := signer.(ed25519.PrivateKey); !ed {
					h := crypto.SHA256.New()
					h.Write(msg)
					digest, opts = h.Sum(nil), crypto.SHA256
				} else {
					digest = msg
				}
				sig, err := signer.Sign(rand.Reader, digest, opts)
				if err != nil {
					t.Fatal(err)
				}
				switch p := pubKey.(type) {
				case *rsa.PublicKey:
					err = rsa.VerifyPKCS1v15(p, crypto.SHA256, digest, sig)
				case *ecdsa.PublicKey:
					if !ecdsa.VerifyASN1(p, digest, sig) {
						err = errors.New("ECDSA signature does not verify")
					}
				case ed25519.PublicKey:
					if !ed25519.Verify(p, digest, sig) {
						err = errors.New("Ed25519 signature does not verify")
					}
				}
				if err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// TestCreateKeyPair_Attributes checks how common and specific attributes
// combine, the ID Placeholder, the state an Activation Date gives, and
// Locate by object type and link.
func TestCreateKeyPair_Attributes(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_0} {
		c := e.srv.Dial(t, "alice", ver)
		past := time.Now().Add(-time.Hour).Unix()
		priv, pub, err := kpCreate(t, c,
			[]kpAttr{
				kpEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmEC)),
				kpInt(ttlv.TagCryptographicLength, 256),
				kpMask(kmip.CryptographicUsageMaskSign | kmip.CryptographicUsageMaskVerify),
				kpText(ttlv.TagObjectGroup, "pairs-"+ver.String()),
				kpDate(ttlv.TagActivationDate, past),
			},
			[]kpAttr{kpName("attrs-private-" + ver.String()), kpMask(kmip.CryptographicUsageMaskSign)},
			nil)
		if err != nil {
			t.Fatal(err)
		}
		pa, pb := attrsOf(t, c, priv), attrsOf(t, c, pub)
		if m := kmip.CryptographicUsageMask(pa[ttlv.TagCryptographicUsageMask].Uint32()); m != kmip.CryptographicUsageMaskSign {
			t.Errorf("%s: private mask %d: the specific attribute must win", ver, m)
		}
		if m := kmip.CryptographicUsageMask(pb[ttlv.TagCryptographicUsageMask].Uint32()); m != kmip.CryptographicUsageMaskSign|kmip.CryptographicUsageMaskVerify {
			t.Errorf("%s: public mask %d: the common attribute applies", ver, m)
		}
		for _, a := range []map[ttlv.Tag]ttlv.Item{pa, pb} {
			if string(a[ttlv.TagObjectGroup].Data) != "pairs-"+ver.String() {
				t.Errorf("%s: Object Group not on both keys", ver)
			}
			if kmip.State(a[ttlv.TagState].Uint32()) != kmip.StateActive || a[ttlv.TagActivationDate].Int64() != past {
				t.Errorf("%s: an Activation Date in the past makes both keys Active", ver)
			}
		}
		if _, ok := pb[ttlv.TagName]; ok {
			t.Errorf("%s: the public key got the private key's Name", ver)
		}
		// Locate by Object Type and Link.
		it, err := do(t, c, kmip.OperationLocate, func(b *ttlv.Builder) {
			link := func(b *ttlv.Builder, tag ttlv.Tag) {
				b.Begin(tag)
				b.AddEnum(ttlv.TagLinkType, uint32(kmip.LinkTypePrivateKeyLink))
				b.AddText(ttlv.TagLinkedObjectIdentifier, priv)
				b.End()
			}
			if ver.V2() {
				b.Begin(ttlv.TagAttributes)
				b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypePublicKey))
				link(b, ttlv.TagLink)
				b.End()
				return
			}
			attr1(b, "Object Type", func() { b.AddEnum(ttlv.TagAttributeValue, uint32(kmip.ObjectTypePublicKey)) })
			b.Begin(ttlv.TagAttribute)
			b.AddText(ttlv.TagAttributeName, "Link")
			link(b, ttlv.TagAttributeValue)
			b.End()
		})
		if err != nil {
			t.Fatal(err)
		}
		if id, ok := it.Payload.Find(ttlv.TagUniqueIdentifier); !ok || string(id.Data) != pub {
			t.Errorf("%s: Locate by Private Key Link: %s", ver, ttlv.Format(it.Payload))
		}
	}
	// The ID Placeholder is the private key: a Get without identifier
	// after Create Key Pair in one batch returns it.
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	items := kpBatch(t, c,
		kpItem{kmip.OperationCreateKeyPair, kpPayload(c.Version,
			[]kpAttr{kpEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmRSA)), kpInt(ttlv.TagCryptographicLength, 2048)}, nil, nil)},
		kpItem{kmip.OperationGet, func(b *ttlv.Builder) {}},
	)
	for _, it := range items {
		if err := it.Err(); err != nil {
			t.Fatalf("batch: %v", err)
		}
	}
	privID, _ := items[0].Payload.Find(ttlv.TagPrivateKeyUniqueIdentifier)
	gotID, _ := items[1].Payload.Find(ttlv.TagUniqueIdentifier)
	gotType, _ := items[1].Payload.Find(ttlv.TagObjectType)
	if string(gotID.Data) != string(privID.Data) || kmip.ObjectType(gotType.Uint32()) != kmip.ObjectTypePrivateKey {
		t.Errorf("ID Placeholder: Get returned %s (%d), want private key %s", gotID.Data, gotType.Uint32(), privID.Data)
	}
	// Under the default policy another pair's private key may have the
	// same name.
	ed := []kpAttr{kpEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmEd25519))}
	if _, _, err := kpCreate(t, c, ed, []kpAttr{kpName("attrs-private-2.0")}, nil); err != nil {
		t.Fatalf("second pair named attrs-private-2.0: %v", err)
	}
	// With names unique per owner a second pair with the same private key
	// name fails and leaves nothing behind.
	eo := newEnvWith(t, namesPerOwner)
	co := eo.srv.Dial(t, "alice", kmip.V2_0)
	if _, _, err := kpCreate(t, co, ed, []kpAttr{kpName("pair-name")}, nil); err != nil {
		t.Fatal(err)
	}
	_, _, err := kpCreate(t, co, ed, []kpAttr{kpName("pair-name")}, nil)
	wantReason(t, err, kmip.ResultReasonNonUniqueNameAttribute)
	if ids, _ := arLocate(t, co, nil); len(ids) != 2 {
		t.Fatalf("%d objects after the refused pair, want the first pair's 2", len(ids))
	}
}

type kpItem struct {
	op      kmip.Operation
	payload func(b *ttlv.Builder)
}

// kpBatch sends one request with several items.
func kpBatch(t *testing.T, c *kmip.Client, items ...kpItem) []kmip.ResponseItem {
	t.Helper()
	var w kmip.RequestWriter
	w.Begin(nil, c.Version, len(items), nil)
	for i, it := range items {
		w.Item(it.op, []byte{byte(i + 1)}, it.payload)
	}
	msg, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.RoundTrip(msg)
	if err != nil {
		t.Fatal(err)
	}
	var r kmip.Response
	if err := r.Parse(append([]byte(nil), out...), kmip.Limits{}); err != nil {
		t.Fatal(err)
	}
	if len(r.Items) != len(items) {
		t.Fatalf("%d response items for %d requests", len(r.Items), len(items))
	}
	return r.Items
}

func TestCreateKeyPair_Errors(t *testing.T) {
	e := newEnv(t)
	alg := func(a kmip.CryptographicAlgorithm) kpAttr { return kpEnum(ttlv.TagCryptographicAlgorithm, uint32(a)) }
	length := func(n int32) kpAttr { return kpInt(ttlv.TagCryptographicLength, n) }
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_0} {
		c := e.srv.Dial(t, "alice", ver)
		for _, tc := range []struct {
			name                    string
			common, private, public []kpAttr
			want                    kmip.ResultReason
		}{
			{"no algorithm", []kpAttr{length(2048)}, nil, nil, kmip.ResultReasonInvalidField},
			{"RSA-1024", []kpAttr{alg(kmip.CryptographicAlgorithmRSA), length(1024)}, nil, nil, kmip.ResultReasonInvalidField},
			{"RSA-2047", []kpAttr{alg(kmip.CryptographicAlgorithmRSA), length(2047)}, nil, nil, kmip.ResultReasonInvalidField},
			{"RSA without length", []kpAttr{alg(kmip.CryptographicAlgorithmRSA)}, nil, nil, kmip.ResultReasonInvalidField},
			{"EC-192", []kpAttr{alg(kmip.CryptographicAlgorithmEC), length(192)}, nil, nil, kmip.ResultReasonInvalidField},
			{"EC on brainpoolP256r1", []kpAttr{alg(kmip.CryptographicAlgorithmEC), kpCurve(kmip.RecommendedCurveBRAINPOOLP256R1)}, nil, nil, kmip.ResultReasonInvalidField},
			{"EC length contradicts curve", []kpAttr{alg(kmip.CryptographicAlgorithmEC), length(384), kpCurve(kmip.RecommendedCurveP_256)}, nil, nil, kmip.ResultReasonInvalidField},
			{"AES pair", []kpAttr{alg(kmip.CryptographicAlgorithmAES), length(256)}, nil, nil, kmip.ResultReasonInvalidField},
			{"DSA pair", []kpAttr{alg(kmip.CryptographicAlgorithmDSA), length(2048)}, nil, nil, kmip.ResultReasonInvalidField},
			{"public algorithm differs", []kpAttr{length(2048)}, []kpAttr{alg(kmip.CryptographicAlgorithmRSA)}, []kpAttr{alg(kmip.CryptographicAlgorithmEC)}, kmip.ResultReasonInvalidField},
			{"public length differs", []kpAttr{alg(kmip.CryptographicAlgorithmRSA)}, []kpAttr{length(2048)}, []kpAttr{length(3072)}, kmip.ResultReasonInvalidField},
			{"server-only attribute", []kpAttr{alg(kmip.CryptographicAlgorithmRSA), length(2048)}, []kpAttr{kpEnum(ttlv.TagState, uint32(kmip.StateActive))}, nil, kmip.ResultReasonAttributeReadOnly},
		} {
			_, _, err := kpCreate(t, c, tc.common, tc.private, tc.public)
			if tc.want == kmip.ResultReasonAttributeReadOnly && !ver.V2() {
				tc.want = kmip.ResultReasonPermissionDenied // 1.x has no Attribute Read Only
			}
			if ke, ok := err.(*kmip.Error); !ok || ke.Reason != tc.want {
				t.Errorf("%s %s: got %v, want %s", ver, tc.name, err, tc.want)
			}
		}
	}
	// A 2.x Create Key Pair with 1.x template attributes is malformed.
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	_, err := do(t, c, kmip.OperationCreateKeyPair, kpPayload(kmip.V1_4, []kpAttr{kpEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmRSA))}, nil, nil))
	wantReason(t, err, kmip.ResultReasonInvalidField)
	// Quantum Safe cannot be honoured by today's asymmetric algorithms.
	_, _, err = kpCreate(t, c, []kpAttr{kpEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmEd25519)),
		func(b *ttlv.Builder, v1 bool) { b.AddBool(ttlv.TagQuantumSafe, true) }}, nil, nil)
	wantReason(t, err, kmip.ResultReasonGeneralFailure)
	// Nothing was stored by the failures.
	it, err := do(t, c, kmip.OperationLocate, func(b *ttlv.Builder) {})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := it.Payload.Find(ttlv.TagUniqueIdentifier); ok {
		t.Errorf("failed Create Key Pair left objects: %s", ttlv.Format(it.Payload))
	}
}

// kpHSM is the software backend plus a key pair generator that counts its
// calls and, like a PKCS#11 token, makes only RSA and NIST-curve pairs.
type kpHSM struct {
	*soft.Backend
	calls atomic.Int32
}

func (h *kpHSM) GenerateKeyPair(ctx context.Context, privateID string, spec hsm.KeyPairSpec) (hsm.KeyPair, error) {
	h.calls.Add(1)
	var priv crypto.Signer
	var err error
	switch spec.Algorithm {
	case hsm.KeyPairRSA:
		priv, err = rsa.GenerateKey(rand.Reader, spec.Bits)
	case hsm.KeyPairEC:
		curve := map[string]elliptic.Curve{"P-256": elliptic.P256(), "P-384": elliptic.P384(), "P-521": elliptic.P521()}[spec.Curve]
		if curve == nil {
			return hsm.KeyPair{}, hsm.ErrNotSupported
		}
		priv, err = ecdsa.GenerateKey(curve, rand.Reader)
	default:
		return hsm.KeyPair{}, hsm.ErrNotSupported
	}
	if err != nil {
		return hsm.KeyPair{}, err
	}
	der, _ := x509.MarshalPKCS8PrivateKey(priv)
	blob, err := h.Seal(ctx, privateID, der)
	if err != nil {
		return hsm.KeyPair{}, err
	}
	pub, _ := x509.MarshalPKIXPublicKey(priv.Public())
	return hsm.KeyPair{PublicKeyDER: pub, PrivateBlob: blob}, nil
}

// TestCreateKeyPair_BackendGenerator checks that a backend that generates
// key pairs is used for the pairs it supports, and the standard library
// for the others.
func TestCreateKeyPair_BackendGenerator(t *testing.T) {
	dir := t.TempDir()
	be := softBackend(t, dir)
	db, err := store.Open(filepath.Join(dir, "kmipd.db"), &store.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	h := &kpHSM{Backend: be}
	svc := lifecycle.NewService(lifecycle.Config{Store: db, Backend: h, Admins: []string{"admin"}, Logger: zerolog.Nop()})
	srv := kmiptest.Start(t, kmiptest.MustPKI(t, "alice"), svc)
	c := srv.Dial(t, "alice", kmip.V2_0)
	for _, tc := range []struct {
		common []kpAttr
		calls  int32
	}{
		{[]kpAttr{kpEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmRSA)), kpInt(ttlv.TagCryptographicLength, 2048)}, 1},
		{[]kpAttr{kpEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmEC)), kpCurve(kmip.RecommendedCurveP_384)}, 2},
		{[]kpAttr{kpEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmEd25519))}, 2},
	} {
		priv, pub, err := kpCreate(t, c, tc.common, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		if n := h.calls.Load(); n != tc.calls {
			t.Errorf("backend generator called %d times, want %d", n, tc.calls)
		}
		_, km, err := kpGet(t, c, priv, kmip.KeyFormatTypePKCS_8)
		if err != nil {
			t.Fatal(err)
		}
		k := kpParsePrivate(t, kmip.KeyFormatTypePKCS_8, km)
		_, km, err = kpGet(t, c, pub, kmip.KeyFormatTypeX_509)
		if err != nil {
			t.Fatal(err)
		}
		if !kpSamePublic(k.Public(), kpParsePublic(t, kmip.KeyFormatTypeX_509, km)) {
			t.Error("backend-made private and public keys do not match")
		}
	}
}
