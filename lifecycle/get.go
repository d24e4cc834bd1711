package lifecycle

import (
	"sync"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// materialPool recycles the buffers key material is unsealed into, so a
// Get allocates nothing for it; buffers are zeroed before they go back.
var materialPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

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
		return kmip.Errorf(kmip.ResultReasonKeyValueNotPresent, "object has no key material")
	}
	// KMIP 2.0 §4.23: Extractable false forbids retrieval altogether;
	// §4.48: Sensitive forbids it unless wrapped.
	if x, ok := o.Bool(ttlv.TagExtractable); ok && !x {
		return kmip.Errorf(kmip.ResultReasonNotExtractable, "object is not extractable")
	}
	if req.KeyWrappingSpecification != nil {
		return kmip.Errorf(kmip.ResultReasonFeatureNotSupported, "key wrapping on Get is not supported yet")
	}
	if sens, ok := o.Bool(ttlv.TagSensitive); ok && sens {
		return kmip.Errorf(kmip.ResultReasonSensitive, "object is sensitive: it can only be retrieved wrapped")
	}
	if req.KeyCompressionType != 0 {
		return kmip.Errorf(kmip.ResultReasonKeyCompressionTypeNotSupported, "key compression is not supported")
	}
	format, err := outputFormat(o, req.KeyFormatType)
	if err != nil {
		return err
	}
	buf := materialPool.Get().(*[]byte)
	material, err := s.cfg.Backend.Open(s.ctx(), o.ID, o.Blob, (*buf)[:0])
	defer func() {
		clear(material)
		if cap(material) <= 64<<10 {
			*buf = material[:0]
		}
		materialPool.Put(buf)
	}()
	if err != nil {
		return err
	}
	if fresh, _ := o.Bool(ttlv.TagFresh); fresh {
		// KMIP 2.0 §4.24: Fresh becomes false once served by Get. Only this
		// first Get writes (and waits for the disk).
		err := s.update(c, func(tx *store.Tx) error {
			cur, err := s.load(tx, c, o.ID, true)
			if err != nil {
				return err
			}
			cur.SetBool(ttlv.TagFresh, false)
			return s.save(tx, cur)
		})
		if err != nil {
			return err
		}
	}
	writeObject(w, o, material, format)
	return nil
}

// outputFormat picks the Key Format Type of a Get response: the stored one
// unless the client asked for another that kmipd converts to (Raw and
// Transparent Symmetric Key for symmetric keys, KMIP 2.0 §6.1.19).
func outputFormat(o *objects.Object, want kmip.KeyFormatType) (kmip.KeyFormatType, error) {
	have := o.KeyFormat
	if want == 0 || want == have {
		return have, nil
	}
	if o.Type == kmip.ObjectTypeSymmetricKey &&
		(want == kmip.KeyFormatTypeRaw || want == kmip.KeyFormatTypeTransparentSymmetricKey) {
		return want, nil
	}
	return 0, kmip.Errorf(kmip.ResultReasonKeyFormatTypeNotSupported, "cannot return a %s as %s", o.Type, want)
}

// writeObject writes Object Type, Unique Identifier and the object.
func writeObject(w *ttlv.Builder, o *objects.Object, material []byte, format kmip.KeyFormatType) {
	w.AddEnum(ttlv.TagObjectType, uint32(o.Type))
	w.AddText(ttlv.TagUniqueIdentifier, o.ID)
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
	default:
		alg, _ := o.Enum(ttlv.TagCryptographicAlgorithm)
		bits, _ := o.Int(ttlv.TagCryptographicLength)
		kmip.WriteSymmetricKey(w, &kmip.KeyBlock{
			FormatType:             format,
			Material:               material,
			CryptographicAlgorithm: kmip.CryptographicAlgorithm(alg),
			CryptographicLength:    bits,
		})
	}
}
