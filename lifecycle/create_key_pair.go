package lifecycle

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"errors"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/internal/keyform"
	"github.com/kmipd/kmipd/internal/secp256k1"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// createKeyPairRequest is the Create Key Pair request payload (KMIP 2.0
// §6.1.9: Common, Private Key and Public Key Attributes and Protection
// Storage Masks; KMIP 1.4 §4.2: Common, Private Key and Public Key
// Template-Attributes).
type createKeyPairRequest struct {
	common, private, public kmip.AttrList
}

func (r *createKeyPairRequest) decode(v ttlv.Value, ver kmip.Version) error {
	var seen [3]bool
	for !v.Empty() {
		it, ok := v.Next()
		if !ok {
			return kmip.ErrInvalidMessage
		}
		i := -1
		switch {
		case it.Type != ttlv.TypeStructure:
		case ver.V2() && it.Tag == ttlv.TagCommonAttributes, !ver.V2() && it.Tag == ttlv.TagCommonTemplateAttribute:
			i = 0
		case ver.V2() && it.Tag == ttlv.TagPrivateKeyAttributes, !ver.V2() && it.Tag == ttlv.TagPrivateKeyTemplateAttribute:
			i = 1
		case ver.V2() && it.Tag == ttlv.TagPublicKeyAttributes, !ver.V2() && it.Tag == ttlv.TagPublicKeyTemplateAttribute:
			i = 2
		case ver.V2() && (it.Tag == ttlv.TagCommonProtectionStorageMasks ||
			it.Tag == ttlv.TagPrivateProtectionStorageMasks || it.Tag == ttlv.TagPublicProtectionStorageMasks):
			continue
		}
		if i < 0 || seen[i] {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "unexpected %s in Create Key Pair request", it.Tag)
		}
		seen[i] = true
		l := kmip.NewAttrList(it.Children(), !ver.V2())
		switch i {
		case 0:
			r.common = l
		case 1:
			r.private = l
		case 2:
			r.public = l
		}
	}
	return nil
}

// keyPairSpec is the key pair a request asks for.
type keyPairSpec struct {
	alg   kmip.CryptographicAlgorithm // as requested (EC keys: EC, ECDSA or ECDH)
	bits  int32                       // RSA modulus or curve size: the Cryptographic Length
	curve *keyform.Curve              // EC keys
}

// hsmSpec returns the spec in the backend's terms, false when the backend
// interface cannot express it (Ed25519).
func (k keyPairSpec) hsmSpec() (hsm.KeyPairSpec, bool) {
	switch {
	case k.alg == kmip.CryptographicAlgorithmRSA:
		return hsm.KeyPairSpec{Algorithm: hsm.KeyPairRSA, Bits: int(k.bits)}, true
	case k.curve != nil:
		name := map[kmip.RecommendedCurve]string{
			kmip.RecommendedCurveP_256: "P-256", kmip.RecommendedCurveP_384: "P-384", kmip.RecommendedCurveP_521: "P-521",
		}[k.curve.Name]
		return hsm.KeyPairSpec{Algorithm: hsm.KeyPairEC, Curve: name}, name != ""
	}
	return hsm.KeyPairSpec{}, false
}

// keyPairSpecOf reads the algorithm, length and curve from the attributes
// of the private key (which hold the common ones): RSA of 2048, 3072 or
// 4096 bits; EC (or ECDSA, ECDH) on P-256, P-384 or P-521, named by
// Cryptographic Domain Parameters or implied by the Cryptographic Length,
// or on secp256k1 named by Cryptographic Domain Parameters; Ed25519.
// Anything else fails with Invalid Field.
func keyPairSpecOf(o *objects.Object) (keyPairSpec, error) {
	a, okA := o.Enum(ttlv.TagCryptographicAlgorithm)
	bits, okL := o.Int(ttlv.TagCryptographicLength)
	alg := kmip.CryptographicAlgorithm(a)
	if !okA {
		return keyPairSpec{}, kmip.Errorf(kmip.ResultReasonInvalidField, "Create Key Pair needs a Cryptographic Algorithm")
	}
	var rc kmip.RecommendedCurve
	if dp := o.All(ttlv.TagCryptographicDomainParameters); len(dp) > 0 {
		if it, ok := dp[0].Item(); ok {
			if c, ok := it.Children().Find(ttlv.TagRecommendedCurve); ok {
				rc = kmip.RecommendedCurve(c.Uint32())
			}
		}
	}
	spec := keyPairSpec{alg: alg, bits: bits}
	switch alg {
	case kmip.CryptographicAlgorithmRSA:
		if !okL {
			return spec, kmip.Errorf(kmip.ResultReasonInvalidField, "an RSA key pair needs a Cryptographic Length")
		}
		switch bits {
		case 2048, 3072, 4096:
			return spec, nil
		}
		return spec, kmip.Errorf(kmip.ResultReasonInvalidField, "cannot create a %d-bit RSA key pair (2048, 3072 or 4096)", bits)
	case kmip.CryptographicAlgorithmEC, kmip.CryptographicAlgorithmECDSA, kmip.CryptographicAlgorithmECDH:
		c, ok := keyform.HintCurve(keyform.Hints{Curve: rc, Bits: bits})
		if !ok || (c.Name != kmip.RecommendedCurveP_256 && c.Name != kmip.RecommendedCurveP_384 &&
			c.Name != kmip.RecommendedCurveP_521 && !secp256k1.IsCurve(c)) {
			return spec, kmip.Errorf(kmip.ResultReasonInvalidField, "cannot create an EC key pair on curve %s / %d bits (P-256, P-384, P-521 or SECP256K1)", rc, bits)
		}
		if okL && bits != c.Bits {
			return spec, kmip.Errorf(kmip.ResultReasonInvalidField, "Cryptographic Length %d does not match curve %s", bits, c.Name)
		}
		spec.curve, spec.bits = c, c.Bits
		return spec, nil
	case kmip.CryptographicAlgorithmEd25519:
		if rc != 0 && rc != kmip.RecommendedCurveCURVE25519 || okL && bits != 255 && bits != 256 {
			return spec, kmip.Errorf(kmip.ResultReasonInvalidField, "an Ed25519 key pair is on Curve25519, 255 bits")
		}
		if !okL {
			spec.bits = 255
		}
		return spec, nil
	}
	return spec, kmip.Errorf(kmip.ResultReasonInvalidField, "cannot create a %s key pair", alg)
}

// generateInGo makes a key pair with the standard library, as PKCS#8 and
// SubjectPublicKeyInfo DER.
func generateInGo(spec keyPairSpec) (privDER, pubDER []byte, err error) {
	if secp256k1.IsCurve(spec.curve) {
		return secp256k1.Generate(spec.curve)
	}
	var priv crypto.Signer
	switch {
	case spec.alg == kmip.CryptographicAlgorithmRSA:
		priv, err = rsa.GenerateKey(rand.Reader, int(spec.bits))
	case spec.curve != nil:
		curve := map[kmip.RecommendedCurve]elliptic.Curve{
			kmip.RecommendedCurveP_256: elliptic.P256(), kmip.RecommendedCurveP_384: elliptic.P384(),
			kmip.RecommendedCurveP_521: elliptic.P521(),
		}[spec.curve.Name]
		priv, err = ecdsa.GenerateKey(curve, rand.Reader)
	default:
		_, priv, err = ed25519.GenerateKey(rand.Reader)
	}
	if err != nil {
		return nil, nil, kmip.Errorf(kmip.ResultReasonCryptographicFailure, "key generation: %v", err)
	}
	if privDER, err = x509.MarshalPKCS8PrivateKey(priv); err != nil {
		return nil, nil, err
	}
	if pubDER, err = x509.MarshalPKIXPublicKey(priv.Public()); err != nil {
		return nil, nil, err
	}
	return privDER, pubDER, nil
}

// mergeKeyAttrs applies the common attributes and then the specific ones
// to o: an attribute given in the specific list replaces all instances the
// common list gave (KMIP 2.0 §6.1.9: the specific value takes precedence).
func mergeKeyAttrs(o *objects.Object, common, specific kmip.AttrList) error {
	spec := objects.New("", o.Type, "")
	if err := applyRequestAttrs(spec, specific); err != nil {
		return err
	}
	if err := applyRequestAttrs(o, common); err != nil {
		return err
	}
	var done []objects.Attribute
	for _, a := range spec.Attrs {
		first := true
		for _, d := range done {
			if d.SameAttribute(a) {
				first = false
			}
		}
		if first {
			done = append(done, a)
			if a.Tag != 0 {
				o.Remove(a.Tag)
			} else {
				o.RemoveVendor(a.VendorID, a.Name)
			}
		}
		o.Add(a)
	}
	return nil
}

// createKeyPair implements Create Key Pair (KMIP 2.0 §6.1.9; 1.4 §4.2).
//
// Each key gets the common attributes and its own (which take
// precedence), the algorithm and length of the pair, the server-set
// attributes of any new object, a Random Number Generator, and a Link to
// the other key: a Public Key Link on the private key, a Private Key Link
// on the public key. Their state follows from the Activation Date, as for
// Create. The private key is sealed as PKCS#8, the public key as an X.509
// SubjectPublicKeyInfo; the Key Format Type attribute, the Digest and
// what Get returns by default is PKCS#1 for RSA keys (as the AKLC vectors
// show), PKCS#8 and X.509 for the others.
//
// A backend that generates key pairs itself (hsm.KeyPairGenerator) makes
// RSA and NIST-curve pairs; other pairs, and every pair with a backend that
// cannot, are generated by the standard library (secp256k1 pairs by the
// curve library of internal/secp256k1) and sealed. The private
// key's identifier goes into the ID Placeholder.
func (s *Service) createKeyPair(c *kmip.Call, w *ttlv.Builder) error {
	var req createKeyPairRequest
	if err := req.decode(c.Item.Payload, c.Version); err != nil {
		return err
	}
	// Validate the request before any key is generated: the attributes are
	// checked again on the real objects below.
	probe := objects.New("", kmip.ObjectTypePrivateKey, "")
	if err := mergeKeyAttrs(probe, req.common, req.private); err != nil {
		return err
	}
	spec, err := keyPairSpecOf(probe)
	if err != nil {
		return err
	}
	pubProbe := objects.New("", kmip.ObjectTypePublicKey, "")
	if err := mergeKeyAttrs(pubProbe, req.common, req.public); err != nil {
		return err
	}
	if err := pairAttrs(pubProbe, spec); err != nil {
		return err
	}
	if qs, _ := probe.Bool(ttlv.TagQuantumSafe); qs {
		return kmip.Errorf(kmip.ResultReasonGeneralFailure, "NOT_SAFE: a %s key pair is not quantum safe", spec.alg)
	}
	goPriv, goPub, err := s.pregenerate(spec)
	if err != nil {
		return err
	}
	defer clear(goPriv)
	var privID, pubID string
	err = s.update(c, func(tx *store.Tx) error {
		var err error
		if privID, pubID, err = newPairIDs(tx); err != nil {
			return err
		}
		priv := s.newOwned(c, privID, kmip.ObjectTypePrivateKey)
		pub := s.newOwned(c, pubID, kmip.ObjectTypePublicKey)
		if err := mergeKeyAttrs(priv, req.common, req.private); err != nil {
			return err
		}
		if err := mergeKeyAttrs(pub, req.common, req.public); err != nil {
			return err
		}
		for _, o := range []*objects.Object{priv, pub} {
			if err := pairAttrs(o, spec); err != nil {
				return err
			}
		}
		return s.storeKeyPair(c, tx, priv, pub, spec, goPriv, goPub)
	})
	if err != nil {
		return err
	}
	c.Batch.IDPlaceholder = privID
	w.AddText(ttlv.TagPrivateKeyUniqueIdentifier, privID)
	w.AddText(ttlv.TagPublicKeyUniqueIdentifier, pubID)
	return nil
}

// backendMakesPair reports whether the backend generates pairs like spec
// itself (hsm.KeyPairGenerator): RSA and NIST-curve pairs.
func (s *Service) backendMakesPair(spec keyPairSpec) bool {
	_, gen := s.cfg.Backend.(hsm.KeyPairGenerator)
	_, ok := spec.hsmSpec()
	return gen && ok
}

// storeKeyPair gives the new keys priv and pub (their attributes set, pair
// attributes included) their material and saves them. goPriv and goPub are
// a pair the standard library made beforehand, or nil: the backend then
// generates the pair if it can, else the standard library does. Each key
// is sealed, linked to the other (Public Key Link on the private key,
// Private Key Link on the public key) and given the server-set attributes
// of a new object, a Random Number Generator and a Protection Storage Mask.
func (s *Service) storeKeyPair(c *kmip.Call, tx *store.Tx, priv, pub *objects.Object, spec keyPairSpec, goPriv, goPub []byte) error {
	privID, pubID := priv.ID, pub.ID
	gen, useHSM := s.cfg.Backend.(hsm.KeyPairGenerator)
	hspec, ok := spec.hsmSpec()
	useHSM = useHSM && ok && goPriv == nil
	var privBlob, pubDER []byte
	var err error
	if useHSM {
		kp, err := gen.GenerateKeyPair(c.Context(), privID, hspec)
		switch {
		case errors.Is(err, hsm.ErrNotSupported):
			useHSM = false
		case err != nil:
			return err
		default:
			privBlob, pubDER = kp.PrivateBlob, kp.PublicKeyDER
		}
	}
	if !useHSM {
		if goPriv == nil {
			// None was made beforehand, or the backend declined this pair
			// after all.
			if goPriv, goPub, err = generateInGo(spec); err != nil {
				return err
			}
			defer clear(goPriv)
		}
		if privBlob, err = s.cfg.Backend.Seal(c.Context(), privID, goPriv); err != nil {
			return err
		}
		pubDER = goPub
	}
	pubBlob, err := s.cfg.Backend.Seal(c.Context(), pubID, pubDER)
	if err != nil {
		return err
	}
	// The Digests are of the keys in their presentation format: the
	// private key is opened for it, as Create opens a new symmetric key.
	privDER, err := s.cfg.Backend.Open(c.Context(), privID, privBlob, nil)
	if err != nil {
		return err
	}
	defer clear(privDER)
	for _, x := range []struct {
		o       *objects.Object
		der     []byte
		blob    []byte
		private bool
		link    kmip.LinkType
		other   string
	}{
		{priv, privDER, privBlob, true, kmip.LinkTypePublicKeyLink, pubID},
		{pub, pubDER, pubBlob, false, kmip.LinkTypePrivateKeyLink, privID},
	} {
		k, err := keyform.Parse(x.der, x.private)
		if err != nil {
			return err
		}
		format := createdFormat(spec.alg, x.private)
		digested, err := k.Presentation(format)
		if err != nil {
			return err
		}
		x.o.Blob = x.blob
		x.o.KeyFormat = kmip.KeyFormatTypeX_509
		if x.private {
			x.o.KeyFormat = kmip.KeyFormatTypePKCS_8
		}
		x.o.Add(objects.LinkAttr(x.link, x.other))
		initServerAttrs(c, x.o, digested, format)
		clear(digested)
		x.o.Set(rngAttr())
		s.setStorageMask(x.o)
		if err := s.saveNew(tx, c, x.o); err != nil {
			return err
		}
	}
	return nil
}

// pairAttrs gives a key of the pair the pair's Cryptographic Algorithm
// (unless it names another of the same family, ECDSA for an EC pair) and
// Cryptographic Length; a contradicting value fails with Invalid Field.
func pairAttrs(o *objects.Object, spec keyPairSpec) error {
	if a, ok := o.Enum(ttlv.TagCryptographicAlgorithm); !ok {
		o.SetEnum(ttlv.TagCryptographicAlgorithm, uint32(spec.alg))
	} else if !sameFamily(kmip.CryptographicAlgorithm(a), familyOf(spec.alg)) {
		return kmip.Errorf(kmip.ResultReasonInvalidField, "the %s's Cryptographic Algorithm %s contradicts the pair's %s",
			o.Type, kmip.CryptographicAlgorithm(a), spec.alg)
	}
	if l, ok := o.Int(ttlv.TagCryptographicLength); ok && l != spec.bits {
		return kmip.Errorf(kmip.ResultReasonInvalidField, "the %s's Cryptographic Length %d contradicts the pair's %d", o.Type, l, spec.bits)
	}
	o.SetInt(ttlv.TagCryptographicLength, spec.bits)
	return nil
}

// familyOf maps a requested EC algorithm to the key family.
func familyOf(alg kmip.CryptographicAlgorithm) kmip.CryptographicAlgorithm {
	switch alg {
	case kmip.CryptographicAlgorithmECDSA, kmip.CryptographicAlgorithmECDH:
		return kmip.CryptographicAlgorithmEC
	}
	return alg
}

// createdFormat is the presentation format of a generated key (its Key
// Format Type attribute, Digest format and Get default): PKCS#1 for RSA
// keys, as the AKLC vectors expect, PKCS#8 and X.509 for the others.
func createdFormat(alg kmip.CryptographicAlgorithm, private bool) kmip.KeyFormatType {
	switch {
	case alg == kmip.CryptographicAlgorithmRSA:
		return kmip.KeyFormatTypePKCS_1
	case private:
		return kmip.KeyFormatTypePKCS_8
	}
	return kmip.KeyFormatTypeX_509
}

// setStorageMask records where the backend keeps o's material (KMIP 2.0
// §4.42 Protection Storage Mask) unless the client gave it: in software for
// the software backend, in hardware for an HSM. The vectors show the
// attribute on every new object (AKLC-O-1-21, TC-CERTATTR-1-20).
func (s *Service) setStorageMask(o *objects.Object) {
	if o.Count(ttlv.TagProtectionStorageMask) > 0 {
		return
	}
	m := kmip.ProtectionStorageMaskSoftware
	if s.cfg.Backend.Name() == "pkcs11" {
		m = kmip.ProtectionStorageMaskHardware
	}
	o.SetInt(ttlv.TagProtectionStorageMask, int32(m))
}

// pregenerate makes the pair of spec in Go, before the store transaction
// (large RSA keys take a while), unless the key backend makes it; the
// caller clears priv.
func (s *Service) pregenerate(spec keyPairSpec) (priv, pub []byte, err error) {
	if s.backendMakesPair(spec) {
		return nil, nil, nil
	}
	return generateInGo(spec)
}

// newPairIDs allocates the identifiers of a new private and public key.
func newPairIDs(tx *store.Tx) (priv, pub string, err error) {
	if priv, err = tx.NewID(); err != nil {
		return "", "", err
	}
	pub, err = tx.NewID()
	return priv, pub, err
}
