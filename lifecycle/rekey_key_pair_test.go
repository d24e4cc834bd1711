package lifecycle_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"fmt"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// rkpReKey runs Re-key Key Pair on the private key id ("": through the ID
// Placeholder) with optional further fields, and returns the replacement
// private and public key identifiers (KMIP 2.0 §6.1.43 response: Private
// Key Unique Identifier, Public Key Unique Identifier).
func rkpReKey(t *testing.T, c *kmip.Client, id string, extra ...func(b *ttlv.Builder)) (string, string, error) {
	t.Helper()
	it, err := do(t, c, kmip.OperationReKeyKeyPair, func(b *ttlv.Builder) {
		if id != "" {
			b.AddText(ttlv.TagPrivateKeyUniqueIdentifier, id)
		}
		for _, f := range extra {
			f(b)
		}
	})
	if err != nil {
		return "", "", err
	}
	priv, pub := rkpIDs(t, it.Payload)
	return priv, pub, nil
}

// rkpIDs reads a Re-key Key Pair (or Create Key Pair) response payload.
func rkpIDs(t *testing.T, p ttlv.Value) (string, string) {
	t.Helper()
	var priv, pub []byte
	q := p
	if !q.ReadText(ttlv.TagPrivateKeyUniqueIdentifier, &priv) || !q.ReadText(ttlv.TagPublicKeyUniqueIdentifier, &pub) || !q.Empty() {
		t.Fatalf("key pair response: %s", ttlv.Format(p))
	}
	return string(priv), string(pub)
}

func rkpMust(t *testing.T, c *kmip.Client, id string, extra ...func(b *ttlv.Builder)) (string, string) {
	t.Helper()
	priv, pub, err := rkpReKey(t, c, id, extra...)
	if err != nil {
		t.Fatalf("re-key key pair %s: %v", id, err)
	}
	return priv, pub
}

func rkpOffset(s uint32) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) { b.AddInterval(ttlv.TagOffset, s) }
}

// rkpWantLinks checks that the Links of id are exactly want.
func rkpWantLinks(t *testing.T, c *kmip.Client, id string, want map[kmip.LinkType]string) {
	t.Helper()
	got := kpLinks(t, c, id)
	if len(got) != len(want) {
		t.Errorf("links of %s: %v, want %v", id, got, want)
		return
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("links of %s: %v, want %v", id, got, want)
			return
		}
	}
}

// rkpName returns the first Name Value of id, "" when it has none.
func rkpName(t *testing.T, c *kmip.Client, id string) string {
	t.Helper()
	n, ok := attrsOf(t, c, id)[ttlv.TagName]
	if !ok {
		return ""
	}
	v, _ := n.Children().Find(ttlv.TagNameValue)
	return string(v.Data)
}

// rkpKeys gets the private key as PKCS#8 and the public key as X.509 and
// parses them with crypto/x509.
func rkpKeys(t *testing.T, c *kmip.Client, priv, pub string) (crypto.Signer, crypto.PublicKey) {
	t.Helper()
	_, km, err := kpGet(t, c, priv, kmip.KeyFormatTypePKCS_8)
	if err != nil {
		t.Fatalf("get private %s: %v", priv, err)
	}
	k, err := x509.ParsePKCS8PrivateKey(km.Data)
	if err != nil {
		t.Fatalf("private key %s: %v", priv, err)
	}
	_, km, err = kpGet(t, c, pub, kmip.KeyFormatTypeX_509)
	if err != nil {
		t.Fatalf("get public %s: %v", pub, err)
	}
	p, err := x509.ParsePKIXPublicKey(km.Data)
	if err != nil {
		t.Fatalf("public key %s: %v", pub, err)
	}
	return k.(crypto.Signer), p
}

type rkpCase struct {
	name   string
	common []kpAttr
	check  func(pub crypto.PublicKey) bool // the key is of the pair's kind
	bits   int32
}

func rkpCases() []rkpCase {
	return []rkpCase{
		{"RSA-2048", []kpAttr{kpEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmRSA)), kpInt(ttlv.TagCryptographicLength, 2048)},
			func(p crypto.PublicKey) bool { k, ok := p.(*rsa.PublicKey); return ok && k.N.BitLen() == 2048 }, 2048},
		{"EC-P256", []kpAttr{kpEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmEC)), kpCurve(kmip.RecommendedCurveP_256)},
			func(p crypto.PublicKey) bool { k, ok := p.(*ecdsa.PublicKey); return ok && k.Curve == elliptic.P256() }, 256},
	}
}

// TestReKeyKeyPair_Pairs re-keys RSA-2048 and EC P-256 pairs at 1.4 and
// 2.0. As KMIP 2.0 §6.1.43 and 1.4 §4.5 have it, the replacement is a new
// pair of the same kind whose keys match each other and not the existing
// ones; each replacement key has a Replaced link to its existing key,
// which has a Replacement link to it; the replacement keys are linked to
// each other; the names move to the replacements; the other attributes
// are copied.
func TestReKeyKeyPair_Pairs(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_0} {
		for _, tc := range rkpCases() {
			t.Run(fmt.Sprintf("%s/%s", ver, tc.name), func(t *testing.T) {
				t.Parallel()
				c := e.srv.Dial(t, "alice", ver)
				name := fmt.Sprintf("rkp-%s-%s", ver, tc.name)
				oldPriv, oldPub, err := kpCreate(t, c, tc.common,
					[]kpAttr{kpName(name + "-private"), kpMask(kmip.CryptographicUsageMaskSign)},
					[]kpAttr{kpName(name + "-public"), kpMask(kmip.CryptographicUsageMaskVerify)})
				if err != nil {
					t.Fatal(err)
				}
				oldSigner, oldPubKey := rkpKeys(t, c, oldPriv, oldPub)
				oldAttrs := attrsOf(t, c, oldPriv)

				newPriv, newPub := rkpMust(t, c, oldPriv)
				ids := map[string]bool{oldPriv: true, oldPub: true, newPriv: true, newPub: true}
				if len(ids) != 4 {
					t.Fatalf("identifiers not distinct: %s %s %s %s", oldPriv, oldPub, newPriv, newPub)
				}
				// A new pair of the same kind.
				signer, pubKey := rkpKeys(t, c, newPriv, newPub)
				if !kpSamePublic(signer.Public(), pubKey) {
					t.Error("the replacement private and public keys are not a pair")
				}
				if !tc.check(pubKey) {
					t.Errorf("replacement public key is a %T", pubKey)
				}
				if kpSamePublic(pubKey, oldPubKey) || kpSamePublic(signer.Public(), oldSigner.Public()) {
					t.Error("the replacement pair has the existing key material")
				}
				// The existing pair is unchanged.
				if s, p := rkpKeys(t, c, oldPriv, oldPub); !kpSamePublic(s.Public(), oldSigner.Public()) || !kpSamePublic(p, oldPubKey) {
					t.Error("the existing pair's material changed")
				}
				// Links both ways.
				rkpWantLinks(t, c, newPriv, map[kmip.LinkType]string{kmip.LinkTypePublicKeyLink: newPub, kmip.LinkTypeReplacedObjectLink: oldPriv})
				rkpWantLinks(t, c, newPub, map[kmip.LinkType]string{kmip.LinkTypePrivateKeyLink: newPriv, kmip.LinkTypeReplacedObjectLink: oldPub})
				rkpWantLinks(t, c, oldPriv, map[kmip.LinkType]string{kmip.LinkTypePublicKeyLink: oldPub, kmip.LinkTypeReplacementObjectLink: newPriv})
				rkpWantLinks(t, c, oldPub, map[kmip.LinkType]string{kmip.LinkTypePrivateKeyLink: oldPriv, kmip.LinkTypeReplacementObjectLink: newPub})
				// Names moved.
				for _, x := range []struct{ id, want string }{
					{newPriv, name + "-private"}, {newPub, name + "-public"}, {oldPriv, ""}, {oldPub, ""},
				} {
					if got := rkpName(t, c, x.id); got != x.want {
						t.Errorf("name of %s: %q, want %q", x.id, got, x.want)
					}
				}
				// Attributes of each half copied; dates and state new.
				for _, x := range []struct {
					id   string
					typ  kmip.ObjectType
					mask kmip.CryptographicUsageMask
				}{{newPriv, kmip.ObjectTypePrivateKey, kmip.CryptographicUsageMaskSign}, {newPub, kmip.ObjectTypePublicKey, kmip.CryptographicUsageMaskVerify}} {
					a := attrsOf(t, c, x.id)
					if kmip.ObjectType(a[ttlv.TagObjectType].Uint32()) != x.typ ||
						a[ttlv.TagCryptographicAlgorithm].Uint32() != oldAttrs[ttlv.TagCryptographicAlgorithm].Uint32() ||
						a[ttlv.TagCryptographicLength].Int32() != tc.bits ||
						kmip.CryptographicUsageMask(a[ttlv.TagCryptographicUsageMask].Uint32()) != x.mask ||
						kmip.State(a[ttlv.TagState].Uint32()) != kmip.StatePreActive {
						t.Errorf("%s attributes: type %d alg %d len %d mask %d state %d", x.typ,
							a[ttlv.TagObjectType].Uint32(), a[ttlv.TagCryptographicAlgorithm].Uint32(),
							a[ttlv.TagCryptographicLength].Int32(), a[ttlv.TagCryptographicUsageMask].Uint32(), a[ttlv.TagState].Uint32())
					}
					if a[ttlv.TagInitialDate].Int64() < oldAttrs[ttlv.TagInitialDate].Int64() {
						t.Errorf("%s Initial Date %d before the existing key's %d", x.typ, a[ttlv.TagInitialDate].Int64(), oldAttrs[ttlv.TagInitialDate].Int64())
					}
					if _, ok := a[ttlv.TagDigest]; !ok {
						t.Errorf("%s has no Digest", x.typ)
					}
				}
				// The replacement private key signs; its public key verifies.
				digest := make([]byte, 32)
				rand.Read(digest)
				sig, err := signer.Sign(rand.Reader, digest, crypto.SHA256)
				if err != nil {
					t.Fatal(err)
				}
				switch p := pubKey.(type) {
				case *rsa.PublicKey:
					err = rsa.VerifyPKCS1v15(p, crypto.SHA256, digest, sig)
				case *ecdsa.PublicKey:
					if !ecdsa.VerifyASN1(p, digest, sig) {
						err = fmt.Errorf("ECDSA signature does not verify")
					}
				}
				if err != nil {
					t.Error(err)
				}
			})
		}
	}
}

// TestReKeyKeyPair_Offset: without an Offset the Activation and
// Deactivation Dates are copied; with one, Activation Date = Initial
// Date + Offset and Deactivation Date = DT1 + (AT2 - AT1), on both keys
// (KMIP 2.0 §6.1.43; 1.4 §4.5).
func TestReKeyKeyPair_Offset(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_0} {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			at1 := time.Now().Unix() + 1000
			dt1 := at1 + 10000
			mk := func() string {
				priv, _, err := kpCreate(t, c, []kpAttr{
					kpEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmEC)),
					kpCurve(kmip.RecommendedCurveP_256),
					kpDate(ttlv.TagActivationDate, at1),
					kpDate(ttlv.TagDeactivationDate, dt1),
				}, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				return priv
			}
			// No Offset.
			priv, pub := rkpMust(t, c, mk())
			for _, id := range []string{priv, pub} {
				a := attrsOf(t, c, id)
				if a[ttlv.TagActivationDate].Int64() != at1 || a[ttlv.TagDeactivationDate].Int64() != dt1 ||
					kmip.State(a[ttlv.TagState].Uint32()) != kmip.StatePreActive {
					t.Errorf("no Offset: %s activation %d deactivation %d state %d, want %d %d Pre-Active", id,
						a[ttlv.TagActivationDate].Int64(), a[ttlv.TagDeactivationDate].Int64(), a[ttlv.TagState].Uint32(), at1, dt1)
				}
			}
			// Offset 3600.
			priv, pub = rkpMust(t, c, mk(), rkpOffset(3600))
			for _, id := range []string{priv, pub} {
				a := attrsOf(t, c, id)
				at2 := a[ttlv.TagInitialDate].Int64() + 3600
				if a[ttlv.TagActivationDate].Int64() != at2 || a[ttlv.TagDeactivationDate].Int64() != dt1+(at2-at1) ||
					kmip.State(a[ttlv.TagState].Uint32()) != kmip.StatePreActive {
					t.Errorf("Offset 3600: %s activation %d deactivation %d state %d, want %d %d Pre-Active", id,
						a[ttlv.TagActivationDate].Int64(), a[ttlv.TagDeactivationDate].Int64(), a[ttlv.TagState].Uint32(), at2, dt1+(at2-at1))
				}
			}
			// Offset 0: active at once.
			priv, pub = rkpMust(t, c, mk(), rkpOffset(0))
			for _, id := range []string{priv, pub} {
				a := attrsOf(t, c, id)
				if a[ttlv.TagActivationDate].Int64() != a[ttlv.TagInitialDate].Int64() ||
					kmip.State(a[ttlv.TagState].Uint32()) != kmip.StateActive {
					t.Errorf("Offset 0: %s activation %d initial %d state %d", id, a[ttlv.TagActivationDate].Int64(),
						a[ttlv.TagInitialDate].Int64(), a[ttlv.TagState].Uint32())
				}
			}
		})
	}
}

// TestReKeyKeyPair_Chain creates a pair and re-keys it twice in one batch,
// each Re-key Key Pair acting through the ID Placeholder, which holds the
// replacement private key's identifier (KMIP 2.0 §6.1.43); then once more
// by identifier. Every generation links to the one before and after it.
func TestReKeyKeyPair_Chain(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_0} {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			name := "rkp-chain-" + ver.String()
			items := kpBatch(t, c,
				kpItem{kmip.OperationCreateKeyPair, kpPayload(ver,
					[]kpAttr{kpEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmRSA)), kpInt(ttlv.TagCryptographicLength, 2048)},
					[]kpAttr{kpName(name)}, nil)},
				kpItem{kmip.OperationReKeyKeyPair, func(b *ttlv.Builder) {}},
				kpItem{kmip.OperationReKeyKeyPair, func(b *ttlv.Builder) {}},
				kpItem{kmip.OperationGet, func(b *ttlv.Builder) {}},
			)
			var priv, pub [4]string
			for i, it := range items[:3] {
				if err := it.Err(); err != nil {
					t.Fatalf("item %d: %v", i, err)
				}
				priv[i], pub[i] = rkpIDs(t, it.Payload)
			}
			// The Get acted on the last replacement private key.
			if err := items[3].Err(); err != nil {
				t.Fatal(err)
			}
			if u, _ := items[3].Payload.Find(ttlv.TagUniqueIdentifier); string(u.Data) != priv[2] {
				t.Errorf("ID Placeholder after the chain is %q, want %q", u.Data, priv[2])
			}
			priv[3], pub[3] = rkpMust(t, c, priv[2])
			for i := range 4 {
				wantPriv := map[kmip.LinkType]string{kmip.LinkTypePublicKeyLink: pub[i]}
				wantPub := map[kmip.LinkType]string{kmip.LinkTypePrivateKeyLink: priv[i]}
				if i > 0 {
					wantPriv[kmip.LinkTypeReplacedObjectLink] = priv[i-1]
					wantPub[kmip.LinkTypeReplacedObjectLink] = pub[i-1]
				}
				if i < 3 {
					wantPriv[kmip.LinkTypeReplacementObjectLink] = priv[i+1]
					wantPub[kmip.LinkTypeReplacementObjectLink] = pub[i+1]
				}
				rkpWantLinks(t, c, priv[i], wantPriv)
				rkpWantLinks(t, c, pub[i], wantPub)
				want := ""
				if i == 3 {
					want = name
				}
				if got := rkpName(t, c, priv[i]); got != want {
					t.Errorf("generation %d name %q, want %q", i, got, want)
				}
			}
			// The name finds the newest private key.
			it, err := do(t, c, kmip.OperationLocate, func(b *ttlv.Builder) {
				if ver.V2() {
					b.Begin(ttlv.TagAttributes)
					kpName(name)(b, false)
					b.End()
				} else {
					kpName(name)(b, true)
				}
			})
			if err != nil {
				t.Fatal(err)
			}
			if u, _ := it.Payload.Find(ttlv.TagUniqueIdentifier); string(u.Data) != priv[3] {
				t.Errorf("Locate by name: %s, want %s", ttlv.Format(it.Payload), priv[3])
			}
			// The generations are distinct key material.
			seen := map[string]bool{}
			for i := range 4 {
				_, km, err := kpGet(t, c, pub[i], kmip.KeyFormatTypeX_509)
				if err != nil {
					t.Fatal(err)
				}
				seen[string(km.Data)] = true
			}
			if len(seen) != 4 {
				t.Errorf("%d distinct public keys in 4 generations", len(seen))
			}
		})
	}
}

// TestReKeyKeyPair_RequestAttributes: the Common attributes go onto both
// replacement keys and each key's own attributes onto it, taking
// precedence; a contradiction with the pair's curve is refused.
func TestReKeyKeyPair_RequestAttributes(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_0} {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			name := "rkp-attrs-" + ver.String()
			oldPriv, _, err := kpCreate(t, c,
				[]kpAttr{kpEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmEC)), kpCurve(kmip.RecommendedCurveP_256)},
				[]kpAttr{kpName(name), kpMask(kmip.CryptographicUsageMaskSign)}, []kpAttr{kpMask(kmip.CryptographicUsageMaskVerify)})
			if err != nil {
				t.Fatal(err)
			}
			// Refused: the length contradicts the curve; a server-set
			// attribute; the existing name again.
			readOnly := kmip.ResultReasonAttributeReadOnly
			if !ver.V2() {
				readOnly = kmip.ResultReasonPermissionDenied
			}
			for _, f := range []struct {
				common, private, public []kpAttr
				r                       kmip.ResultReason
			}{
				{[]kpAttr{kpInt(ttlv.TagCryptographicLength, 384)}, nil, nil, kmip.ResultReasonInvalidField},
				{nil, nil, []kpAttr{kpEnum(ttlv.TagState, uint32(kmip.StateActive))}, readOnly},
				{nil, []kpAttr{kpName(name)}, nil, kmip.ResultReasonNonUniqueNameAttribute},
			} {
				if !ver.V2() && f.r == kmip.ResultReasonNonUniqueNameAttribute {
					f.r = kmip.ResultReasonInvalidField
				}
				_, _, err := rkpReKey(t, c, oldPriv, kpPayload(ver, f.common, f.private, f.public))
				wantReason(t, err, f.r)
			}
			if rkpName(t, c, oldPriv) != name {
				t.Fatal("a refused Re-key Key Pair took the name")
			}
			if l := kpLinks(t, c, oldPriv); len(l) != 1 {
				t.Fatalf("a refused Re-key Key Pair left links %v", l)
			}
			// Common mask for both, the private key's own mask for it.
			priv, pub := rkpMust(t, c, oldPriv, kpPayload(ver,
				[]kpAttr{kpMask(kmip.CryptographicUsageMaskSign | kmip.CryptographicUsageMaskVerify)},
				[]kpAttr{kpMask(kmip.CryptographicUsageMaskSign), kpName(name + "-2")}, nil))
			if m := kmip.CryptographicUsageMask(attrsOf(t, c, priv)[ttlv.TagCryptographicUsageMask].Uint32()); m != kmip.CryptographicUsageMaskSign {
				t.Errorf("private key mask %d, want Sign", m)
			}
			if m := kmip.CryptographicUsageMask(attrsOf(t, c, pub)[ttlv.TagCryptographicUsageMask].Uint32()); m != kmip.CryptographicUsageMaskSign|kmip.CryptographicUsageMaskVerify {
				t.Errorf("public key mask %d, want Sign|Verify", m)
			}
			if ver.V2() {
				aoStrings(t, "names", aoNames(aoGet2(t, c, priv, aoRef(ttlv.TagName))), []string{name, name + "-2"})
			}
		})
	}
}

// TestReKeyKeyPair_Errors: an unknown identifier is Object Not Found
// (1.x: Item Not Found), a destroyed key Object Destroyed (1.x: Item Not
// Found), a key that is
// not a private key Illegal Object Type (1.x: Invalid Field), no
// identifier and no ID Placeholder Invalid Field.
func TestReKeyKeyPair_Errors(t *testing.T) {
	e := newEnv(t)
	for _, ver := range []kmip.Version{kmip.V1_4, kmip.V2_0} {
		t.Run(ver.String(), func(t *testing.T) {
			c := e.srv.Dial(t, "alice", ver)
			notFoundR, destroyedR, typeR := kmip.ResultReasonObjectNotFound, kmip.ResultReasonObjectDestroyed, kmip.ResultReasonIllegalObjectType
			if !ver.V2() {
				// 1.x: a destroyed object is Item Not Found (kmip.ReasonFor).
				notFoundR, destroyedR, typeR = kmip.ResultReasonItemNotFound, kmip.ResultReasonItemNotFound, kmip.ResultReasonInvalidField
			}
			common := []kpAttr{kpEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmEC)), kpCurve(kmip.RecommendedCurveP_256)}
			_, _, err := rkpReKey(t, c, "AAABBBCCC")
			wantReason(t, err, notFoundR)
			// A public key, or a symmetric key, in place of a private key.
			priv, pub, err := kpCreate(t, c, common, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = rkpReKey(t, c, pub)
			wantReason(t, err, typeR)
			_, _, err = rkpReKey(t, c, aoCreate(t, c, "", nil))
			wantReason(t, err, typeR)
			if l := kpLinks(t, c, pub); len(l) != 1 {
				t.Errorf("a refused Re-key Key Pair left links %v on the public key", l)
			}
			// A destroyed private key.
			if _, err := do(t, c, kmip.OperationDestroy, byID(priv)); err != nil {
				t.Fatal(err)
			}
			_, _, err = rkpReKey(t, c, priv)
			wantReason(t, err, destroyedR)
			// A pair whose public key is destroyed.
			priv, pub, err = kpCreate(t, c, common, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := do(t, c, kmip.OperationDestroy, byID(pub)); err != nil {
				t.Fatal(err)
			}
			_, _, err = rkpReKey(t, c, priv)
			wantReason(t, err, destroyedR)
			// Another client's key is not found.
			priv, _, err = kpCreate(t, c, common, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = rkpReKey(t, e.srv.Dial(t, "bob", ver), priv)
			wantReason(t, err, notFoundR)
			// No identifier and no ID Placeholder.
			_, _, err = rkpReKey(t, c, "")
			wantReason(t, err, kmip.ResultReasonInvalidField)
			// A 1.x Template-Attribute in a 2.x request and the reverse.
			other := kmip.V1_4
			if !ver.V2() {
				other = kmip.V2_0
			}
			_, _, err = rkpReKey(t, c, priv, kpPayload(other, []kpAttr{kpMask(kmip.CryptographicUsageMaskSign)}, nil, nil))
			wantReason(t, err, kmip.ResultReasonInvalidField)
		})
	}
	// A registered private key with no Public Key Link has no pair to
	// replace.
	c := e.srv.Dial(t, "alice", kmip.V2_0)
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	id := asMustRegister(t, c, kmip.ObjectTypePrivateKey, asKey(kmip.ObjectTypePrivateKey, kmip.KeyFormatTypePKCS_8, 0, 0, der, nil))
	_, _, err = rkpReKey(t, c, id)
	wantReason(t, err, kmip.ResultReasonInvalidField)
}
