package lifecycle

import (
	"github.com/kmipd/kmipd/internal/secretsplit"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// Create Split Key and Join Split Key (KMIP 2.0 §6.1.10, §6.1.26; 1.4
// §4.38, §4.39) and the Split Key object (2.0 §2.2.5).
//
// Create Split Key splits the key material of a Symmetric Key or Secret
// Data object (the request's Unique Identifier, else the ID Placeholder)
// into Split Key Parts new Split Key objects, any Split Key Threshold of
// which rebuild it. Each part holds, besides its Key Block (Raw format, the
// Cryptographic Algorithm and Length of the split key), the Split Key
// Parts, its Key Part Identifier (1, 2, ...), the Split Key Threshold, the
// Split Key Method and, for the prime field method, the Prime Field Size.
// The parts take the request's attributes and the split key's Sensitive
// and Extractable (so that splitting opens no way around them), and answer
// Get like any key. The response lists the parts' identifiers in order;
// the ID Placeholder becomes the first part's. The Split Key Methods are
// those of internal/secretsplit.
//
// Join Split Key takes the identifiers of at least Split Key Threshold
// parts of one split (same method, parts, threshold, prime and length;
// distinct Key Part Identifiers) and makes a new object of the request's
// Object Type (Symmetric Key, or Secret Data of the request's Secret Data
// Type, Seed by default) from the joined material, with the request's
// attributes and the parts' Cryptographic Algorithm and Length unless the
// request names them. Fewer parts than the threshold, or parts that do not
// belong together, fail with Cryptographic Failure (TC-SJ-1..4). The new
// object's identifier becomes the ID Placeholder.

// createSplitKeyRequest is the Create Split Key request payload.
type createSplitKeyRequest struct {
	uid    kmip.UniqueID
	fields secretsplit.Fields
	attrs  kmip.AttrList
}

func (r *createSplitKeyRequest) decode(v ttlv.Value, ver kmip.Version) error {
	var ot uint32
	if !v.ReadEnum(ttlv.TagObjectType, &ot) {
		return kmip.Errorf(kmip.ResultReasonInvalidMessage, "Create Split Key request lacks Object Type")
	}
	if kmip.ObjectType(ot) != kmip.ObjectTypeSplitKey {
		return kmip.Errorf(kmip.ResultReasonInvalidObjectType, "Create Split Key makes Split Keys, not %s", kmip.ObjectType(ot))
	}
	if err := kmip.ReadUniqueID(&v, &r.uid); err != nil {
		return err
	}
	var seen int
	for !v.Empty() {
		it, ok := v.Next()
		if !ok {
			return kmip.ErrInvalidMessage
		}
		switch {
		case it.Tag == ttlv.TagSplitKeyParts && it.Type == ttlv.TypeInteger:
			r.fields.Parts, seen = it.Int32(), seen|1
		case it.Tag == ttlv.TagSplitKeyThreshold && it.Type == ttlv.TypeInteger:
			r.fields.Threshold, seen = it.Int32(), seen|2
		case it.Tag == ttlv.TagSplitKeyMethod && it.Type == ttlv.TypeEnumeration:
			r.fields.Method, seen = kmip.SplitKeyMethod(it.Uint32()), seen|4
		case it.Tag == ttlv.TagPrimeFieldSize && it.Type == ttlv.TypeBigInteger:
			r.fields.Prime = it.BigInt()
		case it.Tag == ttlv.TagAttributes && it.Type == ttlv.TypeStructure && ver.V2():
			r.attrs = kmip.NewAttrList(it.Children(), false)
		case it.Tag == ttlv.TagTemplateAttribute && it.Type == ttlv.TypeStructure && !ver.V2():
			r.attrs = kmip.NewAttrList(it.Children(), true)
		case it.Tag == ttlv.TagProtectionStorageMasks && ver.V2():
		default:
			return kmip.Errorf(kmip.ResultReasonInvalidField, "unexpected %s in Create Split Key request", it.Tag)
		}
	}
	if seen != 7 {
		return kmip.Errorf(kmip.ResultReasonInvalidMessage, "Create Split Key needs Split Key Parts, Split Key Threshold and Split Key Method")
	}
	return r.fields.Check()
}

// splittable reports whether o's material may be split.
func splittable(o *objects.Object) error {
	if o.Type != kmip.ObjectTypeSymmetricKey && o.Type != kmip.ObjectTypeSecretData {
		return kmip.Errorf(kmip.ResultReasonInvalidObjectType, "a %s cannot be split (Symmetric Keys and Secret Data can)", o.Type)
	}
	return Allowed(kmip.OperationGet, o.State())
}

func (s *Service) createSplitKey(c *kmip.Call, w *ttlv.Builder) error {
	var req createSplitKeyRequest
	if err := req.decode(c.Item.Payload, c.Version); err != nil {
		return err
	}
	baseID, err := resolveID(c, req.uid)
	if err != nil {
		return err
	}
	ids := make([]string, req.fields.Parts)
	err = s.update(c, func(tx *store.Tx) error {
		base, err := s.load(tx, c, baseID, true)
		if err != nil {
			return err
		}
		if err := splittable(base); err != nil {
			return err
		}
		var shares [][]byte
		defer func() {
			for _, sh := range shares {
				clear(sh)
			}
		}()
		f := req.fields
		err = s.withMaterial(c.Context(), base, func(secret []byte) error {
			var err error
			shares, f.Prime, err = secretsplit.Split(secret, &f)
			return err
		})
		if err != nil {
			return err
		}
		alg, hasAlg := base.Enum(ttlv.TagCryptographicAlgorithm)
		bits, hasLen := base.Int(ttlv.TagCryptographicLength)
		for i := range ids {
			if ids[i], err = tx.NewID(); err != nil {
				return err
			}
			// The parts are the base key's owner's, in its tenant, as a
			// Re-key's replacement is: a grantee of Create Split Key must
			// not come away with parts it could join into a key it owns.
			o := objects.New(ids[i], kmip.ObjectTypeSplitKey, base.Owner)
			o.Tenant = base.Tenant
			if err := applyRequestAttrs(o, req.attrs); err != nil {
				return err
			}
			if _, ok := o.Enum(ttlv.TagCryptographicAlgorithm); !ok && hasAlg {
				o.SetEnum(ttlv.TagCryptographicAlgorithm, alg)
			}
			if _, ok := o.Int(ttlv.TagCryptographicLength); !ok && hasLen {
				o.SetInt(ttlv.TagCryptographicLength, bits)
			}
			if v, ok := base.Bool(ttlv.TagSensitive); ok && v && o.Count(ttlv.TagSensitive) == 0 {
				o.SetBool(ttlv.TagSensitive, true)
			}
			if v, ok := base.Bool(ttlv.TagExtractable); ok && !v && o.Count(ttlv.TagExtractable) == 0 {
				o.SetBool(ttlv.TagExtractable, false)
			}
			part := f
			part.ID = int32(i + 1)
			blob, err := s.cfg.Backend.Seal(c.Context(), ids[i], shares[i])
			if err != nil {
				return err
			}
			o.Blob, o.KeyFormat, o.Extra = blob, kmip.KeyFormatTypeRaw, part.Encode()
			initServerAttrs(c, o, shares[i], kmip.KeyFormatTypeRaw)
			o.Set(rngAttr())
			s.setStorageMask(o)
			if err := s.saveNew(tx, c, o); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.Batch.IDPlaceholder = ids[0]
	for _, id := range ids {
		w.AddText(ttlv.TagUniqueIdentifier, id)
	}
	return nil
}

// joinSplitKeyRequest is the Join Split Key request payload.
type joinSplitKeyRequest struct {
	objectType kmip.ObjectType
	uids       []kmip.UniqueID
	secretType uint32
	attrs      kmip.AttrList
}

func (r *joinSplitKeyRequest) decode(v ttlv.Value, ver kmip.Version) error {
	var ot uint32
	if !v.ReadEnum(ttlv.TagObjectType, &ot) {
		return kmip.Errorf(kmip.ResultReasonInvalidMessage, "Join Split Key request lacks Object Type")
	}
	r.objectType = kmip.ObjectType(ot)
	for v.PeekTag() == ttlv.TagUniqueIdentifier {
		var u kmip.UniqueID
		if err := kmip.ReadUniqueID(&v, &u); err != nil {
			return err
		}
		r.uids = append(r.uids, u)
	}
	for !v.Empty() {
		it, ok := v.Next()
		if !ok {
			return kmip.ErrInvalidMessage
		}
		switch {
		case it.Tag == ttlv.TagSecretDataType && it.Type == ttlv.TypeEnumeration:
			r.secretType = it.Uint32()
		case it.Tag == ttlv.TagAttributes && it.Type == ttlv.TypeStructure && ver.V2():
			r.attrs = kmip.NewAttrList(it.Children(), false)
		case it.Tag == ttlv.TagTemplateAttribute && it.Type == ttlv.TypeStructure && !ver.V2():
			r.attrs = kmip.NewAttrList(it.Children(), true)
		case it.Tag == ttlv.TagProtectionStorageMasks && ver.V2():
		default:
			return kmip.Errorf(kmip.ResultReasonInvalidField, "unexpected %s in Join Split Key request", it.Tag)
		}
	}
	switch r.objectType {
	case kmip.ObjectTypeSymmetricKey, kmip.ObjectTypeSecretData:
	default:
		return kmip.Errorf(kmip.ResultReasonInvalidObjectType, "Join Split Key makes Symmetric Keys and Secret Data, not %s", r.objectType)
	}
	if len(r.uids) == 0 {
		return kmip.Errorf(kmip.ResultReasonInvalidMessage, "Join Split Key needs the Unique Identifiers of the parts")
	}
	return nil
}

func errJoin(format string, a ...any) error {
	return kmip.Errorf(kmip.ResultReasonCryptographicFailure, format, a...)
}

func (s *Service) joinSplitKey(c *kmip.Call, w *ttlv.Builder) error {
	var req joinSplitKeyRequest
	if err := req.decode(c.Item.Payload, c.Version); err != nil {
		return err
	}
	partIDs := make([]string, len(req.uids))
	for i, u := range req.uids {
		var err error
		if partIDs[i], err = resolveID(c, u); err != nil {
			return err
		}
	}
	var id string
	err := s.update(c, func(tx *store.Tx) error {
		var (
			first  *secretsplit.Fields
			xs     []int32
			shares [][]byte
			alg    uint32
			bits   int32
		)
		defer func() {
			for _, sh := range shares {
				clear(sh)
			}
		}()
		for _, pid := range partIDs {
			p, err := s.load(tx, c, pid, false)
			if err != nil {
				return err
			}
			if p.Type != kmip.ObjectTypeSplitKey {
				return kmip.Errorf(kmip.ResultReasonInvalidObjectType, "object %q is a %s, not a Split Key", pid, p.Type)
			}
			if err := Allowed(kmip.OperationGet, p.State()); err != nil {
				return err
			}
			f, ok := secretsplit.ParseFields(p.Extra)
			if !ok {
				return errJoin("object %q lacks its Split Key fields", pid)
			}
			if first == nil {
				first = f
				alg, _ = p.Enum(ttlv.TagCryptographicAlgorithm)
				bits, _ = p.Int(ttlv.TagCryptographicLength)
			} else if f.Parts != first.Parts || f.Threshold != first.Threshold || f.Method != first.Method ||
				(f.Prime == nil) != (first.Prime == nil) || f.Prime != nil && f.Prime.Cmp(first.Prime) != 0 {
				return errJoin("the parts do not belong to one split")
			}
			for _, x := range xs {
				if x == f.ID {
					return errJoin("key part %d is given twice", f.ID)
				}
			}
			if p.Blob == nil {
				return kmip.Errorf(kmip.ResultReasonKeyValueNotPresent, "object %q has no key material", pid)
			}
			sh, err := s.cfg.Backend.Open(c.Context(), p.ID, p.Blob, nil)
			if err != nil {
				return err
			}
			shares = append(shares, sh)
			xs = append(xs, f.ID)
		}
		if err := first.Check(); err != nil {
			return errJoin("the parts describe an invalid split: %v", err)
		}
		if len(shares) < int(first.Threshold) {
			return errJoin("%d parts given, the threshold is %d", len(shares), first.Threshold)
		}
		want := 0 // the length of the split material, when the parts tell
		if n, known := keyBytes(kmip.CryptographicAlgorithm(alg), bits); known {
			want = n
		} else if bits > 0 && bits%8 == 0 {
			want = int(bits / 8)
		}
		secret, err := secretsplit.Join(first, xs, shares, want)
		if err != nil {
			return err
		}
		defer clear(secret)
		if id, err = tx.NewID(); err != nil {
			return err
		}
		o := s.newOwned(c, id, req.objectType)
		if err := applyRequestAttrs(o, req.attrs); err != nil {
			return err
		}
		if _, ok := o.Enum(ttlv.TagCryptographicAlgorithm); !ok && alg != 0 {
			o.SetEnum(ttlv.TagCryptographicAlgorithm, alg)
		}
		if _, ok := o.Int(ttlv.TagCryptographicLength); !ok && bits != 0 {
			o.SetInt(ttlv.TagCryptographicLength, bits)
		}
		if l, ok := o.Int(ttlv.TagCryptographicLength); ok && req.objectType == kmip.ObjectTypeSymmetricKey {
			a, _ := o.Enum(ttlv.TagCryptographicAlgorithm)
			if n, known := keyBytes(kmip.CryptographicAlgorithm(a), l); known && n != len(secret) {
				return errJoin("the joined key has %d bytes, not the %d of a %d-bit %s key", len(secret), n, l, kmip.CryptographicAlgorithm(a))
			}
		}
		kft := kmip.KeyFormatTypeRaw
		if req.objectType == kmip.ObjectTypeSecretData {
			kft = kmip.KeyFormatTypeOpaque
			o.DataType = req.secretType
			if o.DataType == 0 {
				o.DataType = uint32(kmip.SecretDataTypeSeed)
			}
		}
		blob, err := s.cfg.Backend.Seal(c.Context(), id, secret)
		if err != nil {
			return err
		}
		o.Blob, o.KeyFormat = blob, kft
		initServerAttrs(c, o, secret, kft)
		s.setStorageMask(o)
		return s.saveNew(tx, c, o)
	})
	if err != nil {
		return err
	}
	c.Batch.IDPlaceholder = id
	w.AddText(ttlv.TagUniqueIdentifier, id)
	return nil
}
