package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// keyBlock is the part of a Key Block kmipd interprets on Register.
type keyBlock struct {
	format   kmip.KeyFormatType
	material []byte
	alg      uint32
	length   int32
	hasAlg   bool
	hasLen   bool
	attrs    ttlv.Value // 1.x attributes inside the Key Value
}

func parseKeyBlock(v ttlv.Value) (*keyBlock, error) {
	kb := &keyBlock{}
	bad := func(m string) error { return kmip.Errorf(kmip.ResultReasonInvalidField, "Key Block: %s", m) }
	for !v.Empty() {
		it, _ := v.Next()
		switch it.Tag {
		case ttlv.TagKeyFormatType:
			kb.format = kmip.KeyFormatType(it.Uint32())
		case ttlv.TagKeyCompressionType:
			return nil, kmip.Errorf(kmip.ResultReasonKeyCompressionTypeNotSupported, "compressed keys are not supported")
		case ttlv.TagKeyValue:
			if it.Type == ttlv.TypeByteString {
				return nil, kmip.Errorf(kmip.ResultReasonFeatureNotSupported, "registering wrapped key material is not supported yet")
			}
			kv := it.Children()
			km, ok := kv.Next()
			if !ok || km.Tag != ttlv.TagKeyMaterial {
				return nil, bad("Key Value lacks Key Material")
			}
			switch km.Type {
			case ttlv.TypeByteString:
				kb.material = km.Data
			case ttlv.TypeStructure:
				// Transparent Symmetric Key {Key} (KMIP 2.0 §2.1.7.1).
				c := km.Children()
				if !c.ReadBytes(ttlv.TagKey, &kb.material) || !c.Empty() {
					return nil, bad("unsupported transparent key material")
				}
			default:
				return nil, bad("invalid Key Material")
			}
			kb.attrs = kv
		case ttlv.TagCryptographicAlgorithm:
			kb.alg, kb.hasAlg = it.Uint32(), true
		case ttlv.TagCryptographicLength:
			kb.length, kb.hasLen = it.Int32(), true
		case ttlv.TagKeyWrappingData:
			return nil, kmip.Errorf(kmip.ResultReasonFeatureNotSupported, "registering wrapped key material is not supported yet")
		default:
			return nil, bad("unexpected " + it.Tag.String())
		}
	}
	if kb.material == nil {
		return nil, bad("no key material")
	}
	return kb, nil
}

func (s *Service) register(c *kmip.Call, w *ttlv.Builder) error {
	v := c.Item.Payload
	var ot uint32
	if !v.ReadEnum(ttlv.TagObjectType, &ot) {
		return kmip.Errorf(kmip.ResultReasonInvalidMessage, "Register request lacks Object Type")
	}
	typ := kmip.ObjectType(ot)
	var attrs kmip.AttrList
	var objItem ttlv.Item
	for !v.Empty() {
		it, _ := v.Next()
		switch {
		case it.Tag == ttlv.TagAttributes && c.Version.V2():
			attrs = kmip.NewAttrList(it.Children(), false)
		case it.Tag == ttlv.TagTemplateAttribute && !c.Version.V2():
			attrs = kmip.NewAttrList(it.Children(), true)
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
	var (
		material []byte
		kft      kmip.KeyFormatType
		dataType uint32
		kb       *keyBlock
	)
	body := objItem.Children()
	switch {
	case typ == kmip.ObjectTypeSymmetricKey && objItem.Tag == ttlv.TagSymmetricKey:
		var kbv ttlv.Value
		if !body.ReadStructure(ttlv.TagKeyBlock, &kbv) {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "Symmetric Key lacks Key Block")
		}
		var err error
		if kb, err = parseKeyBlock(kbv); err != nil {
			return err
		}
		if kb.format != kmip.KeyFormatTypeRaw && kb.format != kmip.KeyFormatTypeTransparentSymmetricKey {
			return kmip.Errorf(kmip.ResultReasonKeyFormatTypeNotSupported, "symmetric keys are registered in Raw or Transparent Symmetric Key format")
		}
		material, kft = kb.material, kmip.KeyFormatTypeRaw
	case typ == kmip.ObjectTypeSecretData && objItem.Tag == ttlv.TagSecretData:
		var kbv ttlv.Value
		if !body.ReadEnum(ttlv.TagSecretDataType, &dataType) || !body.ReadStructure(ttlv.TagKeyBlock, &kbv) {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "Secret Data needs Secret Data Type and Key Block")
		}
		var err error
		if kb, err = parseKeyBlock(kbv); err != nil {
			return err
		}
		material, kft = kb.material, kb.format
	case typ == kmip.ObjectTypeOpaqueObject && objItem.Tag == ttlv.TagOpaqueObject:
		if !body.ReadEnum(ttlv.TagOpaqueDataType, &dataType) || !body.ReadBytes(ttlv.TagOpaqueDataValue, &material) {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "Opaque Object needs Opaque Data Type and Opaque Data Value")
		}
		kft = kmip.KeyFormatTypeOpaque
	default:
		return kmip.Errorf(kmip.ResultReasonInvalidObjectType, "registering %s objects is not supported", typ)
	}
	if !body.Empty() {
		return kmip.Errorf(kmip.ResultReasonInvalidField, "unexpected items in %s", objItem.Tag)
	}

	var id string
	err := s.update(c, func(tx *store.Tx) error {
		var err error
		if id, err = tx.NewID(); err != nil {
			return err
		}
		o := objects.New(id, typ, c.Identity.Name)
		if err := applyRequestAttrs(o, attrs); err != nil {
			return err
		}
		if kb != nil {
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
		if typ == kmip.ObjectTypeSymmetricKey {
			if _, ok := o.Int(ttlv.TagCryptographicLength); !ok {
				o.SetInt(ttlv.TagCryptographicLength, int32(8*len(material)))
			}
		}
		blob, err := s.cfg.Backend.Seal(s.ctx(), id, material)
		if err != nil {
			return err
		}
		o.Blob, o.KeyFormat, o.DataType = blob, kft, dataType
		switch typ {
		case kmip.ObjectTypeSecretData:
			o.SetEnum(ttlv.TagSecretDataType, dataType)
		case kmip.ObjectTypeOpaqueObject:
			o.SetEnum(ttlv.TagOpaqueDataType, dataType)
		}
		initServerAttrs(c, o, material, kft)
		return nameConflict(s.save(tx, o))
	})
	if err != nil {
		return err
	}
	c.Batch.IDPlaceholder = id
	w.AddText(ttlv.TagUniqueIdentifier, id)
	return nil
}
