package lifecycle

import (
	"crypto/sha256"
	"errors"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// importObject is the Import operation (KMIP 2.0 §6.1.24, 1.4 §4.40): it
// stores an object, typically one Export returned, under the Unique
// Identifier the request gives.
//
//   - Every attribute supplied is stored as given: the "initially set by"
//     and "when implicitly set" rules are not applied (guide §3.4), so the
//     State, the dates, Fresh, Digest... of an exported object survive the
//     round trip (TC-IMPEXP-2/4/5-20). The Unique Identifier and Object Type
//     attributes must agree with the request. Attributes the request lacks
//     and that kmipd keeps on every object (Initial Date, State, Digest,
//     Short Unique Identifier, ...) get the values Register would give.
//   - Identifiers are limited to those the caller may own. Admins
//     (Config.Admins) may import under any identifier. Other clients may
//     choose only identifiers of the form the server gives (a random UUID,
//     store.IsNewIDForm), so that they cannot take a name another client's
//     configuration expects; an identifier held by an object of another
//     owner gets the same Permission Denied as a malformed one, so the
//     answer does not tell whether it exists (Get answers Object Not
//     Found).
//   - An existing object under that identifier is replaced when Replace
//     Existing is true, keeping its owner; otherwise the Import fails with
//     Object Already Exists (TC-IMPEXP-3-20).
//   - Key material is sealed by the key backend as on Register. Material
//     wrapped by a key kmipd manages (Key Wrapping Data, Wrapping Method
//     Encrypt: AES Key Wrap, RFC 3394 or 5649, under a managed AES key, or
//     RSA-OAEP; wrap.go) is unwrapped first, and any other wrapping is Key
//     Wrap Type Not Supported. kmipd always stores the material unwrapped
//     (sealed by the backend); with Key Wrap Type Not Wrapped that is all,
//     otherwise it also keeps the wrapped form, as Register does, so that
//     Get and Export with Key Wrap Type As Registered return it as given.
//   - An object without key material (a Key Block without Key Value, as
//     Export writes for a destroyed object) is stored as metadata only.
//
// Import sets the ID Placeholder.
func (s *Service) importObject(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.ImportRequest
	if err := req.Decode(c.Item.Payload, c.Version); err != nil {
		return err
	}
	id := string(req.UniqueID)
	if len(id) > store.MaxIDLen {
		return kmip.Errorf(kmip.ResultReasonInvalidField, "Unique Identifier longer than %d bytes", store.MaxIDLen)
	}
	if !s.globalAdmin(c.Identity.Name) && !store.IsNewIDForm(id) {
		return errImportID(id)
	}
	attrs, err := importAttrs(&req, id)
	if err != nil {
		return err
	}
	var r *regObject
	metadataOnly := isMetadataOnly(req.Object)
	if !metadataOnly {
		// Material supplied wrapped is unwrapped (wrap.go); the wrapped
		// form is kept for Get As Registered unless Key Wrap Type is Not
		// Wrapped.
		objItem, wrapped, err := s.unwrapObjectItem(c, req.Object)
		if err != nil {
			return err
		}
		if r, err = parseRegObject(req.ObjectType, objItem); err != nil {
			return err
		}
		if r.kb != nil && r.kb.wrapped {
			// Register keeps such a key as registered; Import restores an
			// object this server (or another) exported, whose material it
			// must be able to hold in the clear.
			return kmip.Errorf(kmip.ResultReasonWrappingObjectNotFound, "the wrapping key of the imported object is not held by this server")
		}
		if wrapped != nil && req.KeyWrapType != kmip.KeyWrapTypeNotWrapped {
			if r.extra != nil {
				return kmip.Errorf(kmip.ResultReasonKeyWrapTypeNotSupported, "a %s cannot be kept wrapped as registered", req.ObjectType)
			}
			r.extra = wrapped
		}
	}
	err = s.update(c, func(tx *store.Tx) error {
		owner, tenant := c.Identity.Name, s.subject(c).StoredTenant()
		var grants []objects.Grant
		wasArchived := false
		old, err := tx.Get(id)
		switch {
		case err == nil:
			// One answer for an object of another tenant or one the caller
			// may not replace, and for a malformed identifier.
			if s.otherTenant(c, old.Owner) {
				return errImportID(id)
			}
			prev := new(objects.Object)
			if err := prev.UnmarshalBinary(old.Data); err != nil {
				return err
			}
			prev.Owner, prev.Tenant = splitOwnerKey(old.Owner)
			if s.mayUse(c, prev) != nil {
				return errImportID(id)
			}
			if !req.ReplaceExisting {
				return kmip.Errorf(kmip.ResultReasonObjectAlreadyExists, "an object %q already exists", id)
			}
			owner, tenant, grants = prev.Owner, prev.Tenant, prev.Grants
			wasArchived = isArchived(prev)
		case !errors.Is(err, store.ErrNotFound):
			return err
		}
		o := objects.New(id, req.ObjectType, owner)
		o.Tenant, o.Grants = tenant, grants
		for _, a := range attrs {
			o.Add(a)
		}
		if metadataOnly {
			if err := importMetadataOnly(o, req.Object); err != nil {
				return err
			}
		} else if err := s.importMaterial(c, o, r); err != nil {
			return err
		}
		s.importDefaults(c, o, r)
		if isArchived(o) {
			s.mayArchive()
		}
		if d := boolInt(isArchived(o)) - boolInt(wasArchived); d != 0 {
			if err := addArchivedCount(tx, d); err != nil {
				return err
			}
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

// errImportID refuses an identifier the caller may not import under, in
// the same words whether or not an object has it.
func errImportID(id string) error {
	return kmip.Errorf(kmip.ResultReasonPermissionDenied,
		"identifier %q cannot be imported by this client: choose a new UUID (lowercase, version 4) or leave it to the server", id)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// importAttrs converts the request's attributes, checking the identity
// attributes against the request and dropping them (Object.ID and
// Object.Type hold them).
func importAttrs(req *kmip.ImportRequest, id string) ([]objects.Attribute, error) {
	var out []objects.Attribute
	list := req.Attributes
	for {
		a, ok, err := list.Next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil
		}
		oa, err := importAttr(a)
		if err != nil {
			return nil, err
		}
		switch oa.Tag {
		case ttlv.TagUniqueIdentifier:
			if it, _ := oa.Item(); it.Type != ttlv.TypeTextString || string(it.Data) != id {
				return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "the Unique Identifier attribute contradicts the request")
			}
			continue
		case ttlv.TagObjectType:
			if v, _ := enumOf(oa); kmip.ObjectType(v) != req.ObjectType {
				return nil, kmip.Errorf(kmip.ResultReasonInvalidField, "the Object Type attribute contradicts the request")
			}
			continue
		}
		if oa.Tag != 0 {
			if info, known := kmip.AttrInfoOf(oa.Tag); known && !info.Multi {
				for _, x := range out {
					if x.Tag == oa.Tag {
						return nil, kmip.Errorf(kmip.ResultReasonAttributeSingleValued, "%s given more than once", attrName(oa))
					}
				}
			}
		}
		out = append(out, oa)
	}
}

// importAttr converts one request attribute. Beyond what objects.FromAttr
// accepts, an item whose tag is no attribute kmipd knows is kept as it is,
// as long as it is well formed for the request's form (2.x: an item
// tagged with its own tag; 1.x: an Attribute Value): Export writes such
// items when an object carries them (earlier kmipd releases kept the Secret
// Data Type as one, for example), and Import stores every attribute as given. Such an
// attribute is returned to the versions that know its tag.
func importAttr(a kmip.Attr) (objects.Attribute, error) {
	if a.Tag == 0 {
		return objects.FromAttr(a)
	}
	if _, known := kmip.AttrInfoOf(a.Tag); known || a.Value.Raw == nil {
		return objects.FromAttr(a)
	}
	if a.Value.Tag == a.Tag {
		return objects.Attribute{Tag: a.Tag, Raw: append([]byte(nil), a.Value.Raw...)}, nil
	}
	var b ttlv.Builder
	b.AddItem(a.Tag, a.Value.Type, a.Value.Data)
	raw, err := b.Bytes()
	if err != nil {
		return objects.Attribute{}, kmip.Errorf(kmip.ResultReasonInvalidField, "malformed %s attribute", a.Tag)
	}
	return objects.Attribute{Tag: a.Tag, Raw: raw}, nil
}

// importMaterial seals the material of r into o, with what Register takes
// from the object (Cryptographic Algorithm and Length from the Key Block,
// the data type, the canonical form of an asymmetric key). Attributes the
// request gave are kept: a certificate's derived attributes are only added
// when missing.
func (s *Service) importMaterial(c *kmip.Call, o *objects.Object, r *regObject) error {
	if kb := r.kb; kb != nil {
		if kb.attrs != nil && !c.Version.V2() {
			// KMIP 1.x may carry attributes inside the Key Value.
			l := kmip.NewAttrList(kb.attrs, true)
			for {
				a, ok, err := l.Next()
				if err != nil {
					return err
				}
				if !ok {
					break
				}
				oa, err := objects.FromAttr(a)
				if err != nil {
					return err
				}
				o.Add(oa)
			}
		}
		if _, ok := o.Enum(ttlv.TagCryptographicAlgorithm); !ok && kb.hasAlg {
			o.SetEnum(ttlv.TagCryptographicAlgorithm, kb.alg)
		}
		if _, ok := o.Int(ttlv.TagCryptographicLength); !ok && kb.hasLen {
			o.SetInt(ttlv.TagCryptographicLength, kb.length)
		}
	}
	if o.Type == kmip.ObjectTypeCertificate {
		derived, err := certAttributes(kmip.CertificateType(r.dataType), r.material)
		if err != nil {
			return err
		}
		for _, a := range derived {
			if o.Count(a.Tag) == 0 {
				o.Add(a)
			}
		}
	} else if r.finish != nil {
		if err := r.finish(o); err != nil {
			return err
		}
	}
	if r.wipe {
		defer clear(r.material)
		defer clear(r.digested)
	}
	blob, err := s.cfg.Backend.Seal(c.Context(), o.ID, r.material)
	if err != nil {
		return err
	}
	o.Blob, o.KeyFormat, o.DataType, o.Extra = blob, r.keyFormat, r.dataType, r.extra
	if o.Count(ttlv.TagDigest) == 0 && r.digested != nil {
		o.Add(objects.Digest(r.digested, r.presentKFT))
		for _, d := range r.digests {
			o.Add(d)
		}
	}
	if o.Count(ttlv.TagKeyFormatType) == 0 && r.presentKFT != 0 {
		o.SetEnum(ttlv.TagKeyFormatType, uint32(r.presentKFT))
	}
	if o.Count(ttlv.TagKeyValuePresent) == 0 {
		o.SetBool(ttlv.TagKeyValuePresent, true)
	}
	return nil
}

// importDefaults gives o what kmipd keeps on every object and the request
// did not supply, with the values Register gives (initServerAttrs), then
// the state its dates imply.
func (s *Service) importDefaults(c *kmip.Call, o *objects.Object, r *regObject) {
	t := now(c)
	missing := func(tag ttlv.Tag) bool { return o.Count(tag) == 0 }
	for _, tag := range []ttlv.Tag{ttlv.TagInitialDate, ttlv.TagLastChangeDate, ttlv.TagOriginalCreationDate} {
		if missing(tag) {
			o.SetDate(tag, t)
		}
	}
	sensitive, ok := o.Bool(ttlv.TagSensitive)
	if !ok && missing(ttlv.TagSensitive) {
		o.SetBool(ttlv.TagSensitive, false)
	}
	extractable, ok := o.Bool(ttlv.TagExtractable)
	if !ok && missing(ttlv.TagExtractable) {
		extractable = true
		o.SetBool(ttlv.TagExtractable, true)
	}
	if missing(ttlv.TagAlwaysSensitive) {
		o.SetBool(ttlv.TagAlwaysSensitive, sensitive)
	}
	if missing(ttlv.TagNeverExtractable) {
		o.SetBool(ttlv.TagNeverExtractable, !extractable)
	}
	if missing(ttlv.TagFresh) {
		o.SetBool(ttlv.TagFresh, true)
	}
	if missing(ttlv.TagLeaseTime) {
		o.SetInterval(ttlv.TagLeaseTime, defaultLeaseTime)
	}
	if o.Type == kmip.ObjectTypeOpaqueObject && missing(ttlv.TagOpaqueDataType) && o.DataType != 0 {
		o.SetEnum(ttlv.TagOpaqueDataType, o.DataType)
	}
	if r == nil && missing(ttlv.TagKeyValuePresent) {
		o.SetBool(ttlv.TagKeyValuePresent, false)
	}
	if missing(ttlv.TagShortUniqueIdentifier) {
		suid := sha256.Sum256([]byte(o.ID))
		o.SetBytes(ttlv.TagShortUniqueIdentifier, suid[:])
	}
	if missing(ttlv.TagState) {
		o.SetState(kmip.StatePreActive)
	}
	s.setStorageMask(o)
	Effective(o, c.Now)
}

// objectKeyBlock returns the children of the Key Block of an object
// structure, if it has one.
func objectKeyBlock(obj ttlv.Item) (ttlv.Value, bool) {
	kb, ok := obj.Children().Find(ttlv.TagKeyBlock)
	if !ok || kb.Type != ttlv.TypeStructure {
		return nil, false
	}
	return kb.Children(), true
}

// isMetadataOnly reports whether an object structure carries no value: a
// Key Block without Key Value, or an Opaque Object or Certificate without
// its value field.
func isMetadataOnly(obj ttlv.Item) bool {
	switch obj.Tag {
	case ttlv.TagOpaqueObject:
		_, ok := obj.Children().Find(ttlv.TagOpaqueDataValue)
		return !ok
	case ttlv.TagCertificate:
		_, ok := obj.Children().Find(ttlv.TagCertificateValue)
		return !ok
	}
	kb, ok := objectKeyBlock(obj)
	if !ok {
		return false
	}
	_, hasValue := kb.Find(ttlv.TagKeyValue)
	return !hasValue
}

// importMetadataOnly takes from a valueless object structure what kmipd
// keeps in Object fields: the data type, the Key Format Type, the PGP Key
// Version or Split Key fields, and Cryptographic Algorithm and Length when
// the attributes lack them.
func importMetadataOnly(o *objects.Object, obj ttlv.Item) error {
	wantTag := map[kmip.ObjectType]ttlv.Tag{
		kmip.ObjectTypeSymmetricKey: ttlv.TagSymmetricKey, kmip.ObjectTypePrivateKey: ttlv.TagPrivateKey,
		kmip.ObjectTypePublicKey: ttlv.TagPublicKey, kmip.ObjectTypeSecretData: ttlv.TagSecretData,
		kmip.ObjectTypeOpaqueObject: ttlv.TagOpaqueObject, kmip.ObjectTypeCertificate: ttlv.TagCertificate,
		kmip.ObjectTypePGPKey: ttlv.TagPGPKey, kmip.ObjectTypeSplitKey: ttlv.TagSplitKey,
	}[o.Type]
	if wantTag == 0 || obj.Tag != wantTag {
		return kmip.Errorf(kmip.ResultReasonInvalidObjectType, "cannot import a %s as %s", obj.Tag, o.Type)
	}
	body := obj.Children()
	var extra []byte
	for !body.Empty() {
		it, ok := body.Next()
		if !ok {
			return kmip.ErrInvalidMessage
		}
		switch it.Tag {
		case ttlv.TagSecretDataType, ttlv.TagOpaqueDataType, ttlv.TagCertificateType:
			if it.Type != ttlv.TypeEnumeration {
				return kmip.Errorf(kmip.ResultReasonInvalidField, "invalid %s", it.Tag)
			}
			o.DataType = it.Uint32()
		case ttlv.TagKeyBlock:
			kb := it.Children()
			for !kb.Empty() {
				f, _ := kb.Next()
				switch f.Tag {
				case ttlv.TagKeyFormatType:
					o.KeyFormat = kmip.KeyFormatType(f.Uint32())
				case ttlv.TagCryptographicAlgorithm:
					if o.Count(ttlv.TagCryptographicAlgorithm) == 0 {
						o.SetEnum(ttlv.TagCryptographicAlgorithm, f.Uint32())
					}
				case ttlv.TagCryptographicLength:
					if o.Count(ttlv.TagCryptographicLength) == 0 {
						o.SetInt(ttlv.TagCryptographicLength, f.Int32())
					}
				default:
					return kmip.Errorf(kmip.ResultReasonInvalidField, "unexpected %s in a Key Block without Key Value", f.Tag)
				}
			}
		case ttlv.TagPGPKeyVersion, ttlv.TagSplitKeyParts, ttlv.TagKeyPartIdentifier, ttlv.TagSplitKeyThreshold,
			ttlv.TagSplitKeyMethod, ttlv.TagPrimeFieldSize:
			extra = append(extra, it.Raw...)
		default:
			return kmip.Errorf(kmip.ResultReasonInvalidField, "unexpected %s in %s", it.Tag, obj.Tag)
		}
	}
	o.Extra = extra
	return nil
}
