package lifecycle

import (
	"github.com/kmipd/kmipd/internal/keyform"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// keyBlock is the part of a Key Block kmipd interprets on Register.
type keyBlock struct {
	format   kmip.KeyFormatType
	material []byte    // a Byte String Key Material, or the Key of a Transparent Symmetric Key
	km       ttlv.Item // the Key Material item as received
	alg      uint32
	length   int32
	hasAlg   bool
	hasLen   bool
	attrs    ttlv.Value // 1.x attributes inside the Key Value
	// metadataOnly: the block has no Key Value, as for a key kept
	// elsewhere (Key Value Location; KMIP 2.0 §4.30, TC-MDO).
	metadataOnly bool
	// wrapped: the block carries Key Wrapping Data, so its Key Value is
	// wrapped. Register reaches parseKeyBlock with a wrapped block only
	// when the wrapping key is not held here (unwrapObjectItem): the key is
	// then kept as registered, wrapped.
	wrapped bool
}

// noMaterial: the block gives kmipd no plaintext to keep.
func (kb *keyBlock) noMaterial() bool { return kb.metadataOnly || kb.wrapped }

func parseKeyBlock(v ttlv.Value) (*keyBlock, error) {
	kb := &keyBlock{}
	sawValue := false
	bad := func(m string) error { return kmip.Errorf(kmip.ResultReasonInvalidField, "Key Block: %s", m) }
	for !v.Empty() {
		it, _ := v.Next()
		switch it.Tag {
		case ttlv.TagKeyFormatType:
			kb.format = kmip.KeyFormatType(it.Uint32())
		case ttlv.TagKeyCompressionType:
			// Only EC points can be compressed (KMIP 2.0 §11.27): on other
			// keys the field says nothing about the bytes, and libkmip sends
			// it on AES keys. The material is kept as sent either way; an EC
			// key kmipd cannot read is kept as given (keepAsGiven).
		case ttlv.TagKeyValue:
			sawValue = true
			if it.Type == ttlv.TypeByteString && kb.format == kmip.KeyFormatTypePKCS_12 {
				// KMIP 1.x sends a PKCS#12 PFX as a Byte String Key
				// Value (TC-PKCS12-2-14).
				kb.km, kb.material = it, it.Data
				continue
			}
			if it.Type == ttlv.TypeByteString || kb.wrapped {
				kb.km = it // the wrapped Key Value, kept as registered
				continue
			}
			kv := it.Children()
			km, ok := kv.Next()
			if !ok || km.Tag != ttlv.TagKeyMaterial {
				return nil, bad("Key Value lacks Key Material")
			}
			kb.km = km
			switch {
			case km.Type == ttlv.TypeByteString:
				kb.material = km.Data
			case km.Type == ttlv.TypeStructure && kb.format == kmip.KeyFormatTypeTransparentSymmetricKey:
				// Transparent Symmetric Key {Key} (KMIP 2.0 §2.1.7.1).
				c := km.Children()
				if !c.ReadBytes(ttlv.TagKey, &kb.material) || !c.Empty() {
					return nil, bad("unsupported transparent key material")
				}
			case km.Type == ttlv.TypeStructure:
				// Transparent asymmetric keys: read by keyform.Import.
			default:
				return nil, bad("invalid Key Material")
			}
			kb.attrs = kv
		case ttlv.TagCryptographicAlgorithm:
			kb.alg, kb.hasAlg = it.Uint32(), true
		case ttlv.TagCryptographicLength:
			kb.length, kb.hasLen = it.Int32(), true
		case ttlv.TagKeyWrappingData:
			kb.wrapped = true
		default:
			return nil, bad("unexpected " + it.Tag.String())
		}
	}
	if kb.wrapped {
		if kb.km.Raw == nil {
			return nil, bad("a wrapped Key Block needs its Key Value")
		}
		kb.material = nil
		return kb, nil
	}
	if kb.km.Raw == nil && !sawValue {
		kb.metadataOnly = true
		return kb, nil
	}
	if kb.km.Raw == nil {
		return nil, bad("no key material")
	}
	return kb, nil
}

// readKeyBlock reads the Key Block that ends an object structure.
func readKeyBlock(body *ttlv.Value, what string) (*keyBlock, error) {
	var kbv ttlv.Value
	if !body.ReadStructure(ttlv.TagKeyBlock, &kbv) {
		return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "%s lacks Key Block", what)
	}
	return parseKeyBlock(kbv)
}

// symmetricMaterial returns the key bytes of a Key Block in Raw or
// Transparent Symmetric Key format.
func (kb *keyBlock) symmetricMaterial(what string) ([]byte, error) {
	if kb.format != kmip.KeyFormatTypeRaw && kb.format != kmip.KeyFormatTypeTransparentSymmetricKey || kb.material == nil {
		return nil, kmip.Errorf(kmip.ResultReasonKeyFormatTypeNotSupported, "%s is registered in Raw or Transparent Symmetric Key format", what)
	}
	return kb.material, nil
}

// regObject is what the object of a Register request contributes to the
// new managed object.
type regObject struct {
	material  []byte             // sealed into Object.Blob
	keyFormat kmip.KeyFormatType // Object.KeyFormat
	dataType  uint32             // Object.DataType
	extra     []byte             // Object.Extra
	kb        *keyBlock

	// digested is the object's value in presentKFT, the Key Format Type
	// attribute and the format of the Digest (initServerAttrs).
	digested   []byte
	presentKFT kmip.KeyFormatType
	digests    []objects.Attribute // further Digests, in other formats

	// finish runs once the request attributes are on o: it derives what
	// depends on them and on the material, and sets the derived
	// attributes.
	finish func(o *objects.Object) error
	wipe   bool // material and digested hold private key material
}

// splitAttrs separates the request attributes (the children of Attributes
// or of a 1.x Template-Attribute) for which take holds from the others.
func splitAttrs(items ttlv.Value, v1 bool, take func(ttlv.Tag) bool) (rest ttlv.Value, taken []objects.Attribute, err error) {
	rest = ttlv.Value{}
	for !items.Empty() {
		it, ok := items.Next()
		if !ok {
			return nil, nil, kmip.ErrInvalidMessage
		}
		l := kmip.NewAttrList(ttlv.Value(it.Raw), v1)
		a, ok, err := l.Next()
		if err != nil {
			return nil, nil, err
		}
		if ok && a.Tag != 0 && take(a.Tag) {
			oa, err := objects.FromAttr(a)
			if err != nil {
				return nil, nil, err
			}
			taken = append(taken, oa)
			continue
		}
		rest = append(rest, it.Raw...)
	}
	return rest, taken, nil
}

func (s *Service) register(c *kmip.Call, w *ttlv.Builder) error {
	v := c.Item.Payload
	var ot uint32
	if !v.ReadEnum(ttlv.TagObjectType, &ot) {
		return kmip.Errorf(kmip.ResultReasonInvalidMessage, "Register request lacks Object Type")
	}
	typ := kmip.ObjectType(ot)
	var (
		attrItems ttlv.Value
		v1        bool
		objItem   ttlv.Item
	)
	for !v.Empty() {
		it, _ := v.Next()
		switch {
		case it.Tag == ttlv.TagAttributes && c.Version.V2():
			attrItems = it.Children()
		case it.Tag == ttlv.TagTemplateAttribute && !c.Version.V2():
			attrItems, v1 = it.Children(), true
		case it.Tag == ttlv.TagProtectionStorageMasks:
		case it.Type == ttlv.TypeStructure && objItem.Raw == nil:
			objItem = it
		default:
			return kmip.Errorf(kmip.ResultReasonInvalidField, "unexpected %s in Register request", it.Tag)
		}
	}
	if objItem.Raw == nil {
		return kmip.Errorf(kmip.ResultReasonInvalidMessage, "Register request lacks the object")
	}
	// Material supplied wrapped is unwrapped before storage (KMIP 2.0
	// §6.1.40); the wrapped form is kept for Get As Registered.
	objItem, wrapped, err := s.unwrapObjectItem(c, objItem)
	if err != nil {
		return err
	}
	r, err := parseRegObject(typ, objItem)
	if err != nil {
		return err
	}
	if wrapped != nil {
		if r.extra != nil {
			return kmip.Errorf(kmip.ResultReasonKeyWrapTypeNotSupported, "a %s cannot be registered wrapped", typ)
		}
		r.extra = wrapped
	}
	// Attributes derived from a certificate are the server's: the client's
	// copies (the vectors send Certificate Type) are taken apart.
	var clientDerived []objects.Attribute
	if typ == kmip.ObjectTypeCertificate {
		if attrItems, clientDerived, err = splitAttrs(attrItems, v1, func(t ttlv.Tag) bool { return certDerived[t] }); err != nil {
			return err
		}
		for _, a := range clientDerived {
			if v, ok := enumOf(a); a.Tag == ttlv.TagCertificateType && (!ok || v != r.dataType) {
				return kmip.Errorf(kmip.ResultReasonInvalidField, "Certificate Type attribute contradicts the certificate")
			}
		}
	}
	attrs := kmip.NewAttrList(attrItems, v1)
	if typ == kmip.ObjectTypePrivateKey && r.kb != nil && r.kb.format == kmip.KeyFormatTypePKCS_12 {
		if wrapped != nil {
			return kmip.Errorf(kmip.ResultReasonKeyWrapTypeNotSupported, "a PKCS#12 cannot be registered wrapped")
		}
		return s.registerPKCS12(c, w, attrs, r.kb.material)
	}

	var id string
	err = s.update(c, func(tx *store.Tx) error {
		var err error
		if id, err = tx.NewID(); err != nil {
			return err
		}
		o := s.newOwned(c, id, typ)
		if err := applyRequestAttrs(o, attrs); err != nil {
			return err
		}
		if kb := r.kb; kb != nil {
			if kb.attrs != nil && !c.Version.V2() {
				// KMIP 1.x may carry attributes inside the Key Value.
				if err := applyRequestAttrs(o, kmip.NewAttrList(kb.attrs, true)); err != nil {
					return err
				}
			}
			if _, ok := o.Enum(ttlv.TagCryptographicAlgorithm); !ok && kb.hasAlg {
				o.SetEnum(ttlv.TagCryptographicAlgorithm, kb.alg)
			}
			if _, ok := o.Int(ttlv.TagCryptographicLength); !ok && kb.hasLen {
				o.SetInt(ttlv.TagCryptographicLength, kb.length)
			}
		}
		if r.finish != nil {
			if err := r.finish(o); err != nil {
				return err
			}
		}
		if r.wipe {
			defer clear(r.material)
			defer clear(r.digested)
		}
		for _, a := range clientDerived {
			if o.Count(a.Tag) == 0 {
				o.Add(a) // not derivable from this certificate: kept as given
			}
		}
		var blob []byte
		if r.kb == nil || !r.kb.noMaterial() {
			if blob, err = s.cfg.Backend.Seal(c.Context(), id, r.material); err != nil {
				return err
			}
		}
		o.Blob, o.KeyFormat, o.DataType, o.Extra = blob, r.keyFormat, r.dataType, r.extra
		switch typ {
		case kmip.ObjectTypeOpaqueObject:
			o.SetEnum(ttlv.TagOpaqueDataType, r.dataType)
		}
		initServerAttrs(c, o, r.digested, r.presentKFT)
		switch {
		case r.kb != nil && r.kb.wrapped:
			// Held as registered, wrapped under a key kmipd does not have:
			// the value is present, kmipd just cannot read it.
			o.SetBool(ttlv.TagKeyValuePresent, true)
			o.SetEnum(ttlv.TagKeyFormatType, uint32(r.kb.format))
		case blob == nil:
			o.SetBool(ttlv.TagKeyValuePresent, false)
		}
		s.setStorageMask(o)
		for _, d := range r.digests {
			o.Add(d)
		}
		return s.saveNew(tx, c, o)
	})
	if err != nil {
		return err
	}
	c.Batch.IDPlaceholder = id
	w.AddText(ttlv.TagUniqueIdentifier, id)
	return nil
}

// parseRegObject reads the object structure of a Register request.
func parseRegObject(typ kmip.ObjectType, objItem ttlv.Item) (*regObject, error) {
	r := &regObject{}
	body := objItem.Children()
	var err error
	switch {
	case typ == kmip.ObjectTypeSymmetricKey && objItem.Tag == ttlv.TagSymmetricKey:
		if r.kb, err = readKeyBlock(&body, "Symmetric Key"); err != nil {
			return nil, err
		}
		if r.kb.noMaterial() {
			r.keyFormat = r.kb.format
			break
		}
		if r.material, err = r.kb.symmetricMaterial("a symmetric key"); err != nil {
			return nil, err
		}
		// Get returns the format the key was registered in unless asked
		// for another (BL-M-3-21).
		r.keyFormat = r.kb.format
		r.finish = func(o *objects.Object) error {
			if _, ok := o.Int(ttlv.TagCryptographicLength); !ok {
				o.SetInt(ttlv.TagCryptographicLength, int32(8*len(r.material)))
			}
			return nil
		}
	case typ == kmip.ObjectTypeSecretData && objItem.Tag == ttlv.TagSecretData:
		if !body.ReadEnum(ttlv.TagSecretDataType, &r.dataType) {
			return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "Secret Data needs Secret Data Type and Key Block")
		}
		if r.kb, err = readKeyBlock(&body, "Secret Data"); err != nil {
			return nil, err
		}
		if r.kb.wrapped {
			r.keyFormat = r.kb.format
			break
		}
		if r.kb.material == nil {
			return nil, kmip.Errorf(kmip.ResultReasonKeyFormatTypeNotSupported, "Secret Data material must be a Byte String")
		}
		r.material, r.keyFormat = r.kb.material, r.kb.format
	case typ == kmip.ObjectTypeOpaqueObject && objItem.Tag == ttlv.TagOpaqueObject:
		if !body.ReadEnum(ttlv.TagOpaqueDataType, &r.dataType) || !body.ReadBytes(ttlv.TagOpaqueDataValue, &r.material) {
			return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "Opaque Object needs Opaque Data Type and Opaque Data Value")
		}
		r.keyFormat = kmip.KeyFormatTypeOpaque
	case typ == kmip.ObjectTypePrivateKey && objItem.Tag == ttlv.TagPrivateKey,
		typ == kmip.ObjectTypePublicKey && objItem.Tag == ttlv.TagPublicKey:
		if r.kb, err = readKeyBlock(&body, objItem.Tag.String()); err != nil {
			return nil, err
		}
		if r.kb.wrapped {
			r.keyFormat = r.kb.format
			break
		}
		r.finish = func(o *objects.Object) error { return r.finishAsym(o, typ == kmip.ObjectTypePrivateKey) }
	case typ == kmip.ObjectTypeCertificate && objItem.Tag == ttlv.TagCertificate:
		if !body.ReadEnum(ttlv.TagCertificateType, &r.dataType) || !body.ReadBytes(ttlv.TagCertificateValue, &r.material) {
			return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "Certificate needs Certificate Type and Certificate Value")
		}
		derived, err := certAttributes(kmip.CertificateType(r.dataType), r.material)
		if err != nil {
			return nil, err
		}
		// The Digest is of the certificate's bytes, in Raw format, as the
		// vectors show (TC-CERTATTR-1).
		r.digested, r.presentKFT = r.material, kmip.KeyFormatTypeRaw
		r.finish = func(o *objects.Object) error {
			for _, a := range derived {
				o.Remove(a.Tag)
			}
			for _, a := range derived {
				o.Add(a)
			}
			return nil
		}
	case typ == kmip.ObjectTypePGPKey && objItem.Tag == ttlv.TagPGPKey:
		it, ok := body.Next()
		if !ok || it.Tag != ttlv.TagPGPKeyVersion || it.Type != ttlv.TypeInteger {
			return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "PGP Key needs PGP Key Version and Key Block")
		}
		r.extra = it.Raw
		if r.kb, err = readKeyBlock(&body, "PGP Key"); err != nil {
			return nil, err
		}
		if r.kb.material == nil {
			return nil, kmip.Errorf(kmip.ResultReasonKeyFormatTypeNotSupported, "PGP Key material must be a Byte String")
		}
		r.material, r.keyFormat = r.kb.material, r.kb.format
	case typ == kmip.ObjectTypeSplitKey && objItem.Tag == ttlv.TagSplitKey:
		// Split Key Parts, Key Part Identifier, Split Key Threshold, Split
		// Key Method and the optional Prime Field Size are kept verbatim.
		start := body
		for body.PeekTag() != ttlv.TagKeyBlock && !body.Empty() {
			it, _ := body.Next()
			switch it.Tag {
			case ttlv.TagSplitKeyParts, ttlv.TagKeyPartIdentifier, ttlv.TagSplitKeyThreshold,
				ttlv.TagSplitKeyMethod, ttlv.TagPrimeFieldSize:
			default:
				return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "unexpected %s in Split Key", it.Tag)
			}
		}
		r.extra = start[:len(start)-len(body)]
		if len(r.extra) == 0 {
			return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "Split Key lacks its fields")
		}
		if r.kb, err = readKeyBlock(&body, "Split Key"); err != nil {
			return nil, err
		}
		if r.material, err = r.kb.symmetricMaterial("a split key"); err != nil {
			return nil, err
		}
		r.keyFormat = kmip.KeyFormatTypeRaw
	default:
		return nil, kmip.Errorf(kmip.ResultReasonInvalidObjectType, "registering %s objects is not supported", typ)
	}
	if !body.Empty() {
		return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "unexpected items in %s", objItem.Tag)
	}
	if r.digested == nil && typ != kmip.ObjectTypePrivateKey && typ != kmip.ObjectTypePublicKey {
		// The Digest of a key or data in the format it is kept in.
		r.digested, r.presentKFT = r.material, r.keyFormat
	}
	return r, nil
}

// finishAsym converts a registered Private or Public Key to its canonical
// encoding (internal/keyform), keeping the registered format as the Key Format Type
// attribute, which Get returns by default. Cryptographic Algorithm and
// Length are derived from the key when the request did not give them.
func (r *regObject) finishAsym(o *objects.Object, private bool) error {
	var h keyform.Hints
	if dp := o.All(ttlv.TagCryptographicDomainParameters); len(dp) > 0 {
		if it, ok := dp[0].Item(); ok {
			if rc, ok := it.Children().Find(ttlv.TagRecommendedCurve); ok {
				h.Curve = kmip.RecommendedCurve(rc.Uint32())
			}
		}
	}
	h.Bits, _ = o.Int(ttlv.TagCryptographicLength)
	k, err := keyform.Import(private, r.kb.format, r.kb.km, h)
	if err != nil {
		return r.keepAsGiven(o, private, err)
	}
	if !k.Encrypted {
		if alg, ok := o.Enum(ttlv.TagCryptographicAlgorithm); ok && !sameFamily(kmip.CryptographicAlgorithm(alg), k.Alg) {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "Cryptographic Algorithm %s does not match the %s key", kmip.CryptographicAlgorithm(alg), k.Alg)
		} else if !ok {
			o.SetEnum(ttlv.TagCryptographicAlgorithm, uint32(k.Alg))
		}
		if _, ok := o.Int(ttlv.TagCryptographicLength); !ok {
			o.SetInt(ttlv.TagCryptographicLength, k.Bits)
		}
	}
	r.material, r.wipe = k.DER, private
	r.keyFormat = kmip.KeyFormatTypeX_509
	if private {
		r.keyFormat = kmip.KeyFormatTypePKCS_8
	}
	r.presentKFT = r.kb.format
	if r.digested, err = k.Presentation(r.presentKFT); err != nil {
		return err
	}
	// RSA keys also carry the Digest of their PKCS#1 form, which is how
	// kmipd creates them (the reference server does the same, TC-IMPEXP-4).
	if k.Alg == kmip.CryptographicAlgorithmRSA && r.presentKFT != kmip.KeyFormatTypePKCS_1 {
		d, err := keyDigest(k, kmip.KeyFormatTypePKCS_1)
		if err != nil {
			return err
		}
		r.digests = append(r.digests, d)
	}
	return nil
}

// sameFamily reports whether a Cryptographic Algorithm attribute fits a key
// of algorithm key: EC keys may be declared EC, ECDSA, ECDH or ECMQV.
func sameFamily(attr, key kmip.CryptographicAlgorithm) bool {
	if key == kmip.CryptographicAlgorithmEC {
		switch attr {
		case kmip.CryptographicAlgorithmEC, kmip.CryptographicAlgorithmECDSA,
			kmip.CryptographicAlgorithmECDH, kmip.CryptographicAlgorithmECMQV:
			return true
		}
		return false
	}
	return attr == key
}

// keepAsGiven stores a registered key whose bytes kmipd cannot read as the
// format they are labelled with (a private key in Raw format, or PKCS#1
// bytes labelled PKCS#8, as PyKMIP registers them), rather than refusing
// it: KMIP does not require the server to understand the material it
// keeps. The bytes are kept exactly, with the registered Key Format Type
// (Object.KeyFormat Opaque marks them uninterpreted); Get returns them as
// registered, and an operation that needs the key parses what it can
// (parsePrivateKey accepts PKCS#8, PKCS#1 and SEC 1) or says why it cannot.
// cause is the parse error, returned when there are no bytes to keep.
func (r *regObject) keepAsGiven(o *objects.Object, private bool, cause error) error {
	if r.kb.km.Type != ttlv.TypeByteString || len(r.kb.km.Data) == 0 {
		return cause
	}
	if _, ok := o.Enum(ttlv.TagCryptographicAlgorithm); !ok {
		return cause // nothing would say what the key is for
	}
	r.material, r.wipe = append([]byte(nil), r.kb.km.Data...), private
	r.keyFormat = kmip.KeyFormatTypeOpaque
	r.presentKFT = r.kb.format
	r.digested = append([]byte(nil), r.material...)
	return nil
}
