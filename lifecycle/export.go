package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

// export is the Export operation (KMIP 2.0 §6.1.18, 1.4 §4.41): the object
// with all its attributes. The response is Object Type, Unique Identifier,
// the attributes (an Attributes structure in 2.x, Attribute items in 1.x)
// and the object (TC-IMPEXP-1..5-20).
//
// Key Format Type, Key Wrap Type, Key Compression Type and Key Wrapping
// Specification have the semantics of Get (wrap.go), and so do Extractable
// and Sensitive (guide §3.4: Export's error table omits them, but Export
// must not become a way around them). Unlike Get, Export leaves Fresh alone
// (KMIP 2.0 §4.24 flips it on Get only; the vectors show Fresh true in the
// Export response).
//
// A destroyed object is exported without key material, as §6.1.18 has it
// ("the key material ... SHALL not be returned"): its metadata, and the
// object structure without its Key Value (the form of a metadata-only
// object, TC-MDO-1-20), so that it can be imported elsewhere as such.
// Export sets the ID Placeholder.
func (s *Service) export(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.ExportRequest
	if err := req.Decode(c.Item.Payload); err != nil {
		return err
	}
	o, err := s.lookup(c, req.UniqueID)
	if err != nil {
		return err
	}
	if err := errIfArchived(o); err != nil {
		return err
	}
	if req.KeyCompressionType != 0 {
		return kmip.Errorf(kmip.ResultReasonKeyCompressionTypeNotSupported, "key compression is not supported")
	}
	format, err := outputFormat(o, req.KeyFormatType)
	if err != nil {
		return err
	}
	if destroyed(o.State()) || o.Blob == nil {
		if req.KeyWrappingSpecification != nil {
			return kmip.Errorf(kmip.ResultReasonKeyValueNotPresent, "the object has no key material to wrap")
		}
		writeExportHead(w, c, o)
		writeMetadataObject(w, o, format)
		c.Batch.IDPlaceholder = o.ID
		return nil
	}
	if err := Allowed(kmip.OperationExport, o.State()); err != nil {
		return err
	}
	// KMIP 2.0 §4.23: Extractable false forbids retrieval altogether.
	if x, ok := o.Bool(ttlv.TagExtractable); ok && !x {
		return kmip.Errorf(kmip.ResultReasonNotExtractable, "object is not extractable")
	}
	// The object as Get writes it (Object Type, Unique Identifier, then the
	// object, of which Export keeps the last part): wrapped under another
	// managed key, or as registered wrapped, or, unless Sensitive (§4.48),
	// in the clear.
	var obj ttlv.Builder
	if req.KeyWrapType == kmip.KeyWrapTypeAsRegistered && req.KeyWrappingSpecification == nil {
		value, kwd, ok := registeredWrapped(o)
		if !ok {
			return kmip.Errorf(kmip.ResultReasonKeyWrapTypeNotSupported, "object %q was not registered wrapped", o.ID)
		}
		writeWrappedObject(&obj, o, format, value, func(w *ttlv.Builder) { w.AddRaw(kwd) })
	} else if err := s.exportMaterial(c, &obj, o, &req, format); err != nil {
		return err
	}
	raw, err := obj.Bytes()
	defer clear(raw)
	if err != nil {
		return err
	}
	body := ttlv.Value(raw)
	body.Skip() // Object Type
	body.Skip() // Unique Identifier
	writeExportHead(w, c, o)
	w.AddRaw(body)
	c.Batch.IDPlaceholder = o.ID
	return nil
}

// exportMaterial writes what Get writes for o with its key material in the
// clear or wrapped by the request's Key Wrapping Specification.
func (s *Service) exportMaterial(c *kmip.Call, obj *ttlv.Builder, o *objects.Object, req *kmip.ExportRequest, format kmip.KeyFormatType) error {
	var (
		ws  *wrapSpec
		kek *objects.Object
		err error
	)
	if req.KeyWrappingSpecification != nil {
		if !wrappable(o) {
			return kmip.Errorf(kmip.ResultReasonKeyWrapTypeNotSupported, "a %s has no key block to wrap", o.Type)
		}
		if ws, err = parseWrapSpec(req.KeyWrappingSpecification); err != nil {
			return err
		}
		if kek, err = s.wrappingKey(c, ws, kmip.CryptographicUsageMaskWrapKey); err != nil {
			return err
		}
	} else if sens, ok := o.Bool(ttlv.TagSensitive); ok && sens {
		return kmip.Errorf(kmip.ResultReasonSensitive, "object is sensitive: it can only be exported wrapped")
	}
	if ws != nil {
		// As for Get: an HSM re-wraps a key it holds itself.
		wrapped, handled, err := s.rewrapInBackend(c.Context(), o, kek, ws, format)
		if err != nil {
			return err
		}
		if handled {
			writeWrappedObject(obj, o, format, wrappedKeyValue(o, wrapped), ws.writeWrappingData)
			return nil
		}
	}
	material, err := s.cfg.Backend.Open(c.Context(), o.ID, o.Blob, nil)
	if err != nil {
		return err
	}
	defer clear(material)
	km, err := keyMaterialItem(o, material, format)
	if err != nil {
		return err
	}
	defer clear(km)
	return s.writeKeyObject(c.Context(), obj, o, material, km, format, ws, kek)
}

// writeExportHead writes Object Type, Unique Identifier and the attributes
// of an Export response.
func writeExportHead(w *ttlv.Builder, c *kmip.Call, o *objects.Object) {
	w.AddEnum(ttlv.TagObjectType, uint32(o.Type))
	w.AddText(ttlv.TagUniqueIdentifier, o.ID)
	objects.AppendAttributes(w, o, c.Version, nil)
}

// writeMetadataObject writes the object structure of o without key
// material: a Key Block holding only its Key Format Type, Cryptographic
// Algorithm and Length (KMIP 2.0 §2.1.3 makes Key Value optional; this is
// what Get returns for a metadata-only object, TC-MDO-1-20), or for an
// Opaque Object or Certificate only its type field.
func writeMetadataObject(w *ttlv.Builder, o *objects.Object, format kmip.KeyFormatType) {
	keyBlock := func() {
		w.Begin(ttlv.TagKeyBlock)
		if format != 0 {
			w.AddEnum(ttlv.TagKeyFormatType, uint32(format))
		}
		if alg, ok := o.Enum(ttlv.TagCryptographicAlgorithm); ok && o.Type != kmip.ObjectTypeSecretData {
			w.AddEnum(ttlv.TagCryptographicAlgorithm, alg)
		}
		if bits, ok := o.Int(ttlv.TagCryptographicLength); ok && o.Type != kmip.ObjectTypeSecretData {
			w.AddInt32(ttlv.TagCryptographicLength, bits)
		}
		w.End()
	}
	switch o.Type {
	case kmip.ObjectTypeOpaqueObject:
		w.Begin(ttlv.TagOpaqueObject)
		w.AddEnum(ttlv.TagOpaqueDataType, o.DataType)
		w.End()
	case kmip.ObjectTypeCertificate:
		w.Begin(ttlv.TagCertificate)
		w.AddEnum(ttlv.TagCertificateType, o.DataType)
		w.End()
	case kmip.ObjectTypeSecretData:
		w.Begin(ttlv.TagSecretData)
		w.AddEnum(ttlv.TagSecretDataType, o.DataType)
		keyBlock()
		w.End()
	case kmip.ObjectTypePGPKey, kmip.ObjectTypeSplitKey:
		w.Begin(kmip.ObjectTag(o.Type))
		w.AddRaw(o.Extra)
		keyBlock()
		w.End()
	default: // Symmetric, Private and Public Keys
		w.Begin(kmip.ObjectTag(o.Type))
		keyBlock()
		w.End()
	}
}
