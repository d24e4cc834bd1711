package lifecycle

import (
	"context"
	"strconv"
	"sync"
	"time"

	"github.com/kmipd/kmipd/internal/keyform"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// materialPool recycles the buffers key material is unsealed into, so a
// Get allocates nothing for it; buffers are zeroed before they go back.
var materialPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

// openMaterial unseals o's key material into a buffer of materialPool;
// releaseMaterial (deferred by the caller) wipes it and returns the buffer.
func (s *Service) openMaterial(ctx context.Context, o *objects.Object) (*[]byte, []byte, error) {
	buf := materialPool.Get().(*[]byte)
	material, err := s.cfg.Backend.Open(ctx, o.ID, o.Blob, (*buf)[:0])
	return buf, material, err
}

func releaseMaterial(buf *[]byte, material []byte) {
	clear(material)
	if cap(material) <= 64<<10 {
		*buf = material[:0]
	}
	materialPool.Put(buf)
}

func (s *Service) get(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.GetRequest
	if err := req.Decode(c.Item.Payload); err != nil {
		return err
	}
	o, err := s.lookup(c, req.UniqueID)
	if err != nil {
		return err
	}
	if err := Allowed(kmip.OperationGet, o.State()); err != nil {
		return err
	}
	if o.Blob == nil {
		if _, _, ok := registeredWrapped(o); ok {
			// Registered wrapped under a key kmipd does not hold: served
			// as registered, the only form kmipd has.
			if req.KeyWrappingSpecification != nil || req.KeyWrapType == kmip.KeyWrapTypeNotWrapped {
				return errNoPlaintext(o)
			}
			if req.KeyFormatType != 0 && req.KeyFormatType != o.KeyFormat {
				return kmip.Errorf(kmip.ResultReasonKeyFormatTypeNotSupported,
					"object %q is held wrapped as registered, in %s: it cannot be converted to %s", o.ID, kmip.SpecName(o.KeyFormat.String()), kmip.SpecName(req.KeyFormatType.String()))
			}
			req.KeyWrapType = kmip.KeyWrapTypeAsRegistered
		} else {
			// Registered without its Key Value (kept elsewhere, Key Value
			// Location): the Key Block is all there is (TC-MDO-1).
			if o.Type != kmip.ObjectTypeSymmetricKey || req.KeyWrappingSpecification != nil {
				return errNoPlaintext(o)
			}
			w.AddEnum(ttlv.TagObjectType, uint32(o.Type))
			w.AddText(ttlv.TagUniqueIdentifier, o.ID)
			writeMetadataObject(w, o, o.KeyFormat)
			return nil
		}
	}
	// KMIP 2.0 §4.23: Extractable false forbids retrieval altogether;
	// §4.48: Sensitive forbids it unless wrapped.
	if x, ok := o.Bool(ttlv.TagExtractable); ok && !x {
		return kmip.Errorf(kmip.ResultReasonNotExtractable, "object is not extractable")
	}
	// KMIP 2.0 §6.1.19: a Key Wrapping Specification wraps the key under
	// another managed key; Key Wrap Type As Registered returns a key
	// registered wrapped as it came.
	var (
		ws  *wrapSpec
		kek *objects.Object
	)
	switch {
	case req.KeyWrappingSpecification != nil:
		if !wrappable(o) {
			return kmip.Errorf(kmip.ResultReasonKeyWrapTypeNotSupported, "a %s has no key block to wrap", o.Type)
		}
		if ws, err = parseWrapSpec(req.KeyWrappingSpecification); err != nil {
			return err
		}
		if kek, err = s.wrappingKey(c, ws, kmip.CryptographicUsageMaskWrapKey); err != nil {
			return err
		}
	case req.KeyWrapType == kmip.KeyWrapTypeAsRegistered:
		value, kwd, ok := registeredWrapped(o)
		if !ok {
			return kmip.Errorf(kmip.ResultReasonKeyWrapTypeNotSupported, "object %q was not registered wrapped", o.ID)
		}
		format, err := outputFormat(o, req.KeyFormatType)
		if err != nil {
			return err
		}
		writeWrappedObject(w, o, format, value, func(w *ttlv.Builder) { w.AddRaw(kwd) })
		return nil
	default:
		if sens, ok := o.Bool(ttlv.TagSensitive); ok && sens {
			return kmip.Errorf(kmip.ResultReasonSensitive, "object is sensitive: it can only be retrieved wrapped")
		}
	}
	if req.KeyCompressionType != 0 {
		return kmip.Errorf(kmip.ResultReasonKeyCompressionTypeNotSupported, "key compression is not supported")
	}
	format, err := outputFormat(o, req.KeyFormatType)
	if err != nil {
		return err
	}
	if ws != nil {
		// An HSM re-wraps a key it holds without the plaintext ever leaving
		// it (hsm.KeyExporter); a Sensitive key in the HSM is served no other
		// way.
		wrapped, handled, err := s.rewrapInBackend(c.Context(), o, kek, ws, format)
		if err != nil {
			return err
		}
		if handled {
			s.clearFresh(c, o)
			writeWrappedObject(w, o, format, wrappedKeyValue(o, wrapped), ws.writeWrappingData)
			return nil
		}
	}
	buf, material, err := s.openMaterial(c.Context(), o)
	defer releaseMaterial(buf, material)
	if err != nil {
		return err
	}
	if format == kmip.KeyFormatTypePKCS_12 {
		// The key with its certificate chain under its linked password
		// (pkcs12.go); not wrapped further.
		if ws != nil {
			return kmip.Errorf(kmip.ResultReasonKeyFormatTypeNotSupported, "a PKCS#12 is not returned wrapped")
		}
		pfx, err := s.encodePKCS12(c, o, material)
		if err != nil {
			return err
		}
		s.clearFresh(c, o)
		writePKCS12(c, w, o, pfx)
		return nil
	}
	if ws == nil {
		if der, ok := derMaterial(o, material, format); ok {
			s.clearFresh(c, o)
			writeObject(w, o, der, nil, format)
			return nil
		}
		if format == kmip.KeyFormatTypeTransparentRSAPrivateKey || format == kmip.KeyFormatTypeTransparentRSAPublicKey {
			scratch := getScratch()
			km, ok := transparentRSA(o, material, format, (*scratch)[:0])
			if ok {
				s.clearFresh(c, o)
				writeObject(w, o, material, km, format)
				clear(km)
			}
			clear((*scratch)[:cap(*scratch)]) // it may hold private key material
			scratchPool.Put(scratch)
			if ok {
				return nil
			}
		}
	}
	// An asymmetric key is converted before anything changes, so that a
	// format it cannot take fails the Get without side effects.
	km, err := keyMaterialItem(o, material, format)
	if err != nil {
		return err
	}
	defer clear(km)
	s.clearFresh(c, o)
	return s.writeKeyObject(c.Context(), w, o, material, km, format, ws, kek)
}

// writeKeyObject writes the object structure of o holding material (km:
// its Key Material item) in format, wrapped under kek when ws is not nil.
func (s *Service) writeKeyObject(ctx context.Context, w *ttlv.Builder, o *objects.Object, material, km []byte, format kmip.KeyFormatType, ws *wrapSpec, kek *objects.Object) error {
	if ws == nil {
		writeObject(w, o, material, km, format)
		return nil
	}
	data, err := wrappedValue(ws, material, km)
	if err != nil {
		return err
	}
	defer clear(data)
	wrapped, err := s.wrap(ctx, kek, ws, data)
	if err != nil {
		return err
	}
	writeWrappedObject(w, o, format, wrappedKeyValue(o, wrapped), ws.writeWrappingData)
	return nil
}

// clearFresh records that o has been served: KMIP 2.0 §4.24, Fresh becomes
// false once the object is served by Get. Only this first Get writes (and
// waits for the disk). The write is best effort: the object and its
// material are fine, so a store that cannot commit (a full disk) must not
// fail the Get. Fresh then stays true in the store and the next Get tries
// again; the state change the dates made, which the write would also have
// persisted (load), is what the Get already went by, computed in memory.
func (s *Service) clearFresh(c *kmip.Call, o *objects.Object) {
	if fresh, _ := o.Bool(ttlv.TagFresh); !fresh {
		return
	}
	err := s.update(c, func(tx *store.Tx) error {
		cur, err := s.load(tx, c, o.ID, true)
		if err != nil {
			return err
		}
		cur.SetBool(ttlv.TagFresh, false)
		return s.save(tx, cur)
	})
	if err != nil {
		s.lostWrite(o.ID, "Fresh", err)
	}
}

// lostWrite counts a best-effort write that could not be persisted and
// logs it, at most once a second: a full disk would otherwise flood the
// log, which is often on the same disk.
func (s *Service) lostWrite(id, what string, err error) {
	n := s.lostWrites.Add(1)
	t := time.Now().Unix()
	if last := s.lostLogged.Load(); t > last && s.lostLogged.CompareAndSwap(last, t) {
		s.cfg.Logger.Warn().Err(err).Str("id", id).Str("change", what).Uint64("lost_writes", n).
			Msg("could not persist a best-effort change; the request was served")
	}
}

// LostWrites returns how many best-effort writes (Fresh becoming false on
// a first Get, with any state change the dates made) could not be
// persisted because the store failed.
func (s *Service) LostWrites() uint64 { return s.lostWrites.Load() }

// errNoPlaintext is Key Value Not Present for an object whose plaintext
// kmipd does not have, saying why.
func errNoPlaintext(o *objects.Object) error {
	if _, kwd, ok := registeredWrapped(o); ok && o.Blob == nil {
		id := "an unnamed key"
		v := ttlv.Value(kwd)
		if it, ok := v.Next(); ok {
			if eki, ok := it.Children().Find(ttlv.TagEncryptionKeyInformation); ok {
				if u, ok := eki.Children().Find(ttlv.TagUniqueIdentifier); ok {
					id = "key " + strconv.Quote(string(u.Data))
				}
			}
		}
		return kmip.Errorf(kmip.ResultReasonKeyValueNotPresent,
			"object %q was registered wrapped under %s, which this server does not hold: it keeps the key only as registered (Get without a Key Wrapping Specification returns that)", o.ID, id)
	}
	return kmip.Errorf(kmip.ResultReasonKeyValueNotPresent, "object %q was registered without key material", o.ID)
}

// asymmetric reports whether o is a Private or Public Key held in kmipd's
// canonical encodings (internal/keyform).
func asymmetric(o *objects.Object) bool {
	return o.Type == kmip.ObjectTypePrivateKey && o.KeyFormat == kmip.KeyFormatTypePKCS_8 ||
		o.Type == kmip.ObjectTypePublicKey && o.KeyFormat == kmip.KeyFormatTypeX_509
}

// defaultFormat is the Key Format Type a Get without one returns: the
// format the object was registered in (kept as the Key Format Type
// attribute; PKCS#1 for the RSA keys kmipd generates), else the stored one.
func defaultFormat(o *objects.Object) kmip.KeyFormatType {
	if asymmetric(o) || keptAsGiven(o) {
		if f, ok := o.Enum(ttlv.TagKeyFormatType); ok && f != 0 {
			return kmip.KeyFormatType(f)
		}
	}
	return o.KeyFormat
}

// keptAsGiven reports whether o is a Private or Public Key whose bytes kmipd
// could not read in their registered format and keeps exactly as given
// (keepAsGiven); its Key Format Type attribute is the registered label.
func keptAsGiven(o *objects.Object) bool {
	return (o.Type == kmip.ObjectTypePrivateKey || o.Type == kmip.ObjectTypePublicKey) && o.KeyFormat == kmip.KeyFormatTypeOpaque
}

// outputFormat picks the Key Format Type of a Get response: the default
// one unless the client asked for another that kmipd converts to (Raw and
// Transparent Symmetric Key for symmetric keys; for asymmetric keys the
// formats of internal/keyform, checked against the key itself when it is opened;
// KMIP 2.0 §6.1.19). Certificates are returned as registered; a Key Format
// Type other than X.509 for an X.509 certificate is refused.
func outputFormat(o *objects.Object, want kmip.KeyFormatType) (kmip.KeyFormatType, error) {
	have := defaultFormat(o)
	if want == 0 || want == have {
		return have, nil
	}
	switch {
	case o.Type == kmip.ObjectTypeSymmetricKey &&
		(want == kmip.KeyFormatTypeRaw || want == kmip.KeyFormatTypeTransparentSymmetricKey):
		return want, nil
	case asymmetric(o):
		return want, nil
	case keptAsGiven(o):
		return 0, kmip.Errorf(kmip.ResultReasonKeyFormatTypeNotSupported,
			"object %q is kept as registered, as %s bytes that kmipd cannot convert: ask for %s or no Key Format Type", o.ID, kmip.SpecName(have.String()), kmip.SpecName(have.String()))
	case o.Type == kmip.ObjectTypeCertificate && want == kmip.KeyFormatTypeX_509 &&
		kmip.CertificateType(o.DataType) == kmip.CertificateTypeX_509:
		return 0, nil
	}
	return 0, kmip.Errorf(kmip.ResultReasonKeyFormatTypeNotSupported, "cannot return a %s as %s", o.Type, want)
}

// keyMaterialItem returns the encoded Key Material item of an asymmetric
// key in format (nil for other objects, whose material is written as
// stored). It may hold private key material: clear it after use.
func keyMaterialItem(o *objects.Object, material []byte, format kmip.KeyFormatType) ([]byte, error) {
	if !asymmetric(o) {
		return nil, nil
	}
	k, err := keyform.Parse(material, o.Type == kmip.ObjectTypePrivateKey)
	if err != nil {
		return nil, err
	}
	item, _, err := k.MaterialIn(format)
	return item, err
}

// writeObject writes Object Type, Unique Identifier and the object: its
// material as opened from the backend, in format (which outputFormat
// chose). For an asymmetric key km is its Key Material item in that format,
// from keyMaterialItem, which fails with Key Format Type Not Supported for
// a format the key cannot take; call it before writing anything.
func writeObject(w *ttlv.Builder, o *objects.Object, material, km []byte, format kmip.KeyFormatType) {
	w.AddEnum(ttlv.TagObjectType, uint32(o.Type))
	w.AddText(ttlv.TagUniqueIdentifier, o.ID)
	alg, _ := o.Enum(ttlv.TagCryptographicAlgorithm)
	bits, _ := o.Int(ttlv.TagCryptographicLength)
	keyBlock := func() {
		w.Begin(ttlv.TagKeyBlock)
		w.AddEnum(ttlv.TagKeyFormatType, uint32(format))
		w.Begin(ttlv.TagKeyValue)
		if km != nil {
			w.AddRaw(km)
		} else {
			w.AddBytes(ttlv.TagKeyMaterial, material)
		}
		w.End()
		if alg != 0 {
			w.AddEnum(ttlv.TagCryptographicAlgorithm, alg)
		}
		if bits != 0 {
			w.AddInt32(ttlv.TagCryptographicLength, bits)
		}
		w.End()
	}
	switch o.Type {
	case kmip.ObjectTypeOpaqueObject:
		w.Begin(ttlv.TagOpaqueObject)
		w.AddEnum(ttlv.TagOpaqueDataType, o.DataType)
		w.AddBytes(ttlv.TagOpaqueDataValue, material)
		w.End()
	case kmip.ObjectTypeSecretData:
		w.Begin(ttlv.TagSecretData)
		w.AddEnum(ttlv.TagSecretDataType, o.DataType)
		kmip.WriteKeyBlock(w, &kmip.KeyBlock{FormatType: format, Material: material})
		w.End()
	case kmip.ObjectTypeCertificate:
		w.Begin(ttlv.TagCertificate)
		w.AddEnum(ttlv.TagCertificateType, o.DataType)
		w.AddBytes(ttlv.TagCertificateValue, material)
		w.End()
	case kmip.ObjectTypePrivateKey, kmip.ObjectTypePublicKey:
		w.Begin(kmip.ObjectTag(o.Type))
		keyBlock()
		w.End()
	case kmip.ObjectTypePGPKey, kmip.ObjectTypeSplitKey:
		// The PGP Key Version, or the Split Key fields, then the Key Block.
		w.Begin(kmip.ObjectTag(o.Type))
		w.AddRaw(o.Extra)
		keyBlock()
		w.End()
	default:
		kmip.WriteSymmetricKey(w, &kmip.KeyBlock{
			FormatType:             format,
			Material:               material,
			CryptographicAlgorithm: kmip.CryptographicAlgorithm(alg),
			CryptographicLength:    bits,
		})
	}
}
