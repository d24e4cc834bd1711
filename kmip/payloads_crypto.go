package kmip

import (
	"github.com/kmipd/kmipd/ttlv"
)

// Request payloads of the cryptographic operations (KMIP 2.0 §6.1.17
// Encrypt, §6.1.14 Decrypt, §6.1.48 Sign, §6.1.49 Signature Verify,
// §6.1.30 MAC, §6.1.31 MAC Verify, §6.1.23 Hash, §6.1.44 RNG Retrieve,
// §6.1.45 RNG Seed, §6.1.11 Derive Key; the same fields in KMIP 1.4 §4.29–
// §4.38 and §4.6). The decoders are zero-copy: byte slices alias the
// request, so a handler that keeps one beyond its call must copy it.

// The fields of a Cryptographic Parameters structure (KMIP 2.0 §7.6), as
// bits of CryptoParams.Set.
const (
	ParamBlockCipherMode uint32 = 1 << iota
	ParamPaddingMethod
	ParamHashingAlgorithm
	ParamKeyRoleType
	ParamDigitalSignatureAlgorithm
	ParamCryptographicAlgorithm
	ParamRandomIV
	ParamIVLength
	ParamTagLength
	ParamFixedFieldLength
	ParamInvocationFieldLength
	ParamCounterLength
	ParamInitialCounterValue
	ParamSaltLength
	ParamMaskGenerator
	ParamMaskGeneratorHashingAlgorithm
	ParamPSource
	ParamTrailerField
)

// CryptoParams is a Cryptographic Parameters structure (KMIP 2.0 §7.6,
// KMIP 1.4 §2.1.5), from a request or from a key's Cryptographic
// Parameters attribute. Set tells which fields were present; an absent
// field has its zero value.
type CryptoParams struct {
	Set                           uint32
	BlockCipherMode               BlockCipherMode
	PaddingMethod                 PaddingMethod
	HashingAlgorithm              HashingAlgorithm
	KeyRoleType                   KeyRoleType
	DigitalSignatureAlgorithm     DigitalSignatureAlgorithm
	CryptographicAlgorithm        CryptographicAlgorithm
	RandomIV                      bool
	IVLength                      int32 // bits
	TagLength                     int32 // bytes
	FixedFieldLength              int32 // bits
	InvocationFieldLength         int32 // bits
	CounterLength                 int32 // bits
	InitialCounterValue           int32
	SaltLength                    int32 // bytes
	MaskGenerator                 MaskGenerator
	MaskGeneratorHashingAlgorithm HashingAlgorithm
	PSource                       []byte
	TrailerField                  int32
}

// Has reports whether every field in the bit set f was present.
func (p *CryptoParams) Has(f uint32) bool { return p.Set&f == f }

// Decode reads the children of a Cryptographic Parameters structure. The
// fields may come in any order; an unknown or mistyped field is Invalid
// Field.
func (p *CryptoParams) Decode(v ttlv.Value) error {
	*p = CryptoParams{}
	for !v.Empty() {
		it, ok := v.Next()
		if !ok {
			return Errorf(ResultReasonInvalidMessage, "malformed Cryptographic Parameters")
		}
		var bit uint32
		want := ttlv.TypeEnumeration
		switch it.Tag {
		case ttlv.TagBlockCipherMode:
			bit, p.BlockCipherMode = ParamBlockCipherMode, BlockCipherMode(it.Uint32())
		case ttlv.TagPaddingMethod:
			bit, p.PaddingMethod = ParamPaddingMethod, PaddingMethod(it.Uint32())
		case ttlv.TagHashingAlgorithm:
			bit, p.HashingAlgorithm = ParamHashingAlgorithm, HashingAlgorithm(it.Uint32())
		case ttlv.TagKeyRoleType:
			bit, p.KeyRoleType = ParamKeyRoleType, KeyRoleType(it.Uint32())
		case ttlv.TagDigitalSignatureAlgorithm:
			bit, p.DigitalSignatureAlgorithm = ParamDigitalSignatureAlgorithm, DigitalSignatureAlgorithm(it.Uint32())
		case ttlv.TagCryptographicAlgorithm:
			bit, p.CryptographicAlgorithm = ParamCryptographicAlgorithm, CryptographicAlgorithm(it.Uint32())
		case ttlv.TagMaskGenerator:
			bit, p.MaskGenerator = ParamMaskGenerator, MaskGenerator(it.Uint32())
		case ttlv.TagMaskGeneratorHashingAlgorithm:
			bit, p.MaskGeneratorHashingAlgorithm = ParamMaskGeneratorHashingAlgorithm, HashingAlgorithm(it.Uint32())
		case ttlv.TagRandomIV:
			bit, want, p.RandomIV = ParamRandomIV, ttlv.TypeBoolean, it.Bool()
		case ttlv.TagIVLength:
			bit, want, p.IVLength = ParamIVLength, ttlv.TypeInteger, it.Int32()
		case ttlv.TagTagLength:
			bit, want, p.TagLength = ParamTagLength, ttlv.TypeInteger, it.Int32()
		case ttlv.TagFixedFieldLength:
			bit, want, p.FixedFieldLength = ParamFixedFieldLength, ttlv.TypeInteger, it.Int32()
		case ttlv.TagInvocationFieldLength:
			bit, want, p.InvocationFieldLength = ParamInvocationFieldLength, ttlv.TypeInteger, it.Int32()
		case ttlv.TagCounterLength:
			bit, want, p.CounterLength = ParamCounterLength, ttlv.TypeInteger, it.Int32()
		case ttlv.TagInitialCounterValue:
			bit, want, p.InitialCounterValue = ParamInitialCounterValue, ttlv.TypeInteger, it.Int32()
		case ttlv.TagSaltLength:
			bit, want, p.SaltLength = ParamSaltLength, ttlv.TypeInteger, it.Int32()
		case ttlv.TagTrailerField:
			bit, want, p.TrailerField = ParamTrailerField, ttlv.TypeInteger, it.Int32()
		case ttlv.TagPSource:
			bit, want, p.PSource = ParamPSource, ttlv.TypeByteString, it.Data
		default:
			return Errorf(ResultReasonInvalidField, "unexpected %s in Cryptographic Parameters", it.Tag)
		}
		if it.Type != want {
			return Errorf(ResultReasonInvalidField, "invalid %s in Cryptographic Parameters", it.Tag)
		}
		if p.Set&bit != 0 {
			return Errorf(ResultReasonInvalidField, "%s given twice in Cryptographic Parameters", it.Tag)
		}
		p.Set |= bit
	}
	return nil
}

// Merge fills the fields absent from p with those of def: a request's
// Cryptographic Parameters take precedence field by field over the key's
// Cryptographic Parameters attribute.
func (p *CryptoParams) Merge(def *CryptoParams) {
	missing := def.Set &^ p.Set
	if missing == 0 {
		return
	}
	take := func(bit uint32) bool { return missing&bit != 0 }
	if take(ParamBlockCipherMode) {
		p.BlockCipherMode = def.BlockCipherMode
	}
	if take(ParamPaddingMethod) {
		p.PaddingMethod = def.PaddingMethod
	}
	if take(ParamHashingAlgorithm) {
		p.HashingAlgorithm = def.HashingAlgorithm
	}
	if take(ParamKeyRoleType) {
		p.KeyRoleType = def.KeyRoleType
	}
	if take(ParamDigitalSignatureAlgorithm) {
		p.DigitalSignatureAlgorithm = def.DigitalSignatureAlgorithm
	}
	if take(ParamCryptographicAlgorithm) {
		p.CryptographicAlgorithm = def.CryptographicAlgorithm
	}
	if take(ParamRandomIV) {
		p.RandomIV = def.RandomIV
	}
	if take(ParamIVLength) {
		p.IVLength = def.IVLength
	}
	if take(ParamTagLength) {
		p.TagLength = def.TagLength
	}
	if take(ParamFixedFieldLength) {
		p.FixedFieldLength = def.FixedFieldLength
	}
	if take(ParamInvocationFieldLength) {
		p.InvocationFieldLength = def.InvocationFieldLength
	}
	if take(ParamCounterLength) {
		p.CounterLength = def.CounterLength
	}
	if take(ParamInitialCounterValue) {
		p.InitialCounterValue = def.InitialCounterValue
	}
	if take(ParamSaltLength) {
		p.SaltLength = def.SaltLength
	}
	if take(ParamMaskGenerator) {
		p.MaskGenerator = def.MaskGenerator
	}
	if take(ParamMaskGeneratorHashingAlgorithm) {
		p.MaskGeneratorHashingAlgorithm = def.MaskGeneratorHashingAlgorithm
	}
	if take(ParamPSource) {
		p.PSource = def.PSource
	}
	if take(ParamTrailerField) {
		p.TrailerField = def.TrailerField
	}
	p.Set |= missing
}

// CryptoRequest is the request payload of Encrypt, Decrypt, Sign,
// Signature Verify, MAC, MAC Verify and Hash, which share their fields.
// A byte-string field is nil when it was absent and non-nil (possibly
// empty) when present.
type CryptoRequest struct {
	UniqueID  UniqueID
	Params    CryptoParams
	HasParams bool

	Data          []byte
	DigestedData  []byte // Sign, Signature Verify
	IV            []byte // IV/Counter/Nonce: Encrypt, Decrypt
	AAD           []byte // Authenticated Encryption Additional Data: Encrypt, Decrypt
	AuthTag       []byte // Authenticated Encryption Tag: Decrypt
	SignatureData []byte // Signature Verify
	MACData       []byte // MAC Verify

	// Streaming (KMIP 2.0 §6.1 "multi-part" operations).
	CorrelationValue []byte
	Init, Final      bool
}

// The optional fields of a CryptoRequest, by operation.
const (
	fldParams uint16 = 1 << iota
	fldData
	fldDigested
	fldIV
	fldAAD
	fldTag
	fldSignature
	fldMAC
	fldStream
	fldUID
)

func cryptoFields(op Operation) (uint16, bool) {
	common := fldUID | fldParams | fldData | fldStream
	switch op {
	case OperationEncrypt:
		return common | fldIV | fldAAD, true
	case OperationDecrypt:
		return common | fldIV | fldAAD | fldTag, true
	case OperationSign:
		return common | fldDigested, true
	case OperationSignatureVerify:
		return common | fldDigested | fldSignature, true
	case OperationMAC:
		return common, true
	case OperationMACVerify:
		return common | fldMAC, true
	case OperationHash:
		return fldParams | fldData | fldStream, true
	}
	return 0, false
}

// Decode reads the payload of a request for op. Fields may come in any
// order after the Unique Identifier; a field op does not take, a mistyped
// or a repeated one is Invalid Field.
func (r *CryptoRequest) Decode(v ttlv.Value, op Operation) error {
	*r = CryptoRequest{}
	allowed, ok := cryptoFields(op)
	if !ok {
		return Errorf(ResultReasonOperationNotSupported, "%s is not a cryptographic operation", op)
	}
	if allowed&fldUID != 0 {
		if err := ReadUniqueID(&v, &r.UniqueID); err != nil {
			return err
		}
	}
	for !v.Empty() {
		it, ok := v.Next()
		if !ok {
			return Errorf(ResultReasonInvalidMessage, "malformed %s request", op)
		}
		var fld uint16
		var dst *[]byte
		want := ttlv.TypeByteString
		switch it.Tag {
		case ttlv.TagCryptographicParameters:
			fld, want = fldParams, ttlv.TypeStructure
		case ttlv.TagData:
			fld, dst = fldData, &r.Data
		case ttlv.TagDigestedData:
			fld, dst = fldDigested, &r.DigestedData
		case ttlv.TagIVCounterNonce:
			fld, dst = fldIV, &r.IV
		case ttlv.TagAuthenticatedEncryptionAdditionalData:
			fld, dst = fldAAD, &r.AAD
		case ttlv.TagAuthenticatedEncryptionTag:
			fld, dst = fldTag, &r.AuthTag
		case ttlv.TagSignatureData:
			fld, dst = fldSignature, &r.SignatureData
		case ttlv.TagMACData:
			fld, dst = fldMAC, &r.MACData
		case ttlv.TagCorrelationValue:
			fld, dst = fldStream, &r.CorrelationValue
		case ttlv.TagInitIndicator, ttlv.TagFinalIndicator:
			fld, want = fldStream, ttlv.TypeBoolean
		}
		if fld == 0 || allowed&fld == 0 || it.Type != want {
			return Errorf(ResultReasonInvalidField, "unexpected %s in %s request", it.Tag, op)
		}
		switch {
		case it.Tag == ttlv.TagCryptographicParameters:
			if r.HasParams {
				return Errorf(ResultReasonInvalidField, "Cryptographic Parameters given twice")
			}
			if err := r.Params.Decode(it.Children()); err != nil {
				return err
			}
			r.HasParams = true
		case it.Tag == ttlv.TagInitIndicator:
			r.Init = it.Bool()
		case it.Tag == ttlv.TagFinalIndicator:
			r.Final = it.Bool()
		default:
			if *dst != nil {
				return Errorf(ResultReasonInvalidField, "%s given twice", it.Tag)
			}
			*dst = it.Data
			if *dst == nil {
				*dst = []byte{}
			}
		}
	}
	if r.Data != nil && r.DigestedData != nil {
		return Errorf(ResultReasonInvalidField, "%s takes Data or Digested Data, not both", op)
	}
	return nil
}

// Streaming reports whether the request is part of a multi-part operation:
// it starts one (Init Indicator), continues one (Correlation Value) or ends
// one (Final Indicator with a Correlation Value).
func (r *CryptoRequest) Streaming() bool {
	return r.Init || r.CorrelationValue != nil
}

// RNGRetrieveRequest is the RNG Retrieve request payload (KMIP 2.0
// §6.1.44).
type RNGRetrieveRequest struct {
	DataLength int32
}

// Decode reads the payload.
func (r *RNGRetrieveRequest) Decode(v ttlv.Value) error {
	*r = RNGRetrieveRequest{}
	if !v.ReadInt32(ttlv.TagDataLength, &r.DataLength) {
		return Errorf(ResultReasonInvalidMessage, "RNG Retrieve request lacks Data Length")
	}
	if !v.Empty() {
		return Errorf(ResultReasonInvalidField, "unexpected item in RNG Retrieve request")
	}
	return nil
}

// RNGSeedRequest is the RNG Seed request payload (KMIP 2.0 §6.1.45).
type RNGSeedRequest struct {
	Data []byte
}

// Decode reads the payload.
func (r *RNGSeedRequest) Decode(v ttlv.Value) error {
	*r = RNGSeedRequest{}
	if !v.ReadBytes(ttlv.TagData, &r.Data) {
		return Errorf(ResultReasonInvalidMessage, "RNG Seed request lacks Data")
	}
	if !v.Empty() {
		return Errorf(ResultReasonInvalidField, "unexpected item in RNG Seed request")
	}
	return nil
}

// DerivationParameters is a Derivation Parameters structure (KMIP 2.0
// §6.1.11, table 154). Byte strings are nil when absent.
type DerivationParameters struct {
	Params               CryptoParams
	HasParams            bool
	InitializationVector []byte
	DerivationData       []byte
	Salt                 []byte
	IterationCount       int32
	HasIterationCount    bool
}

// Decode reads the children of a Derivation Parameters structure.
func (d *DerivationParameters) Decode(v ttlv.Value) error {
	*d = DerivationParameters{}
	for !v.Empty() {
		it, ok := v.Next()
		if !ok {
			return Errorf(ResultReasonInvalidMessage, "malformed Derivation Parameters")
		}
		var dst *[]byte
		switch {
		case it.Tag == ttlv.TagCryptographicParameters && it.Type == ttlv.TypeStructure && !d.HasParams:
			if err := d.Params.Decode(it.Children()); err != nil {
				return err
			}
			d.HasParams = true
			continue
		case it.Tag == ttlv.TagIterationCount && it.Type == ttlv.TypeInteger && !d.HasIterationCount:
			d.IterationCount, d.HasIterationCount = it.Int32(), true
			continue
		case it.Tag == ttlv.TagInitializationVector && it.Type == ttlv.TypeByteString:
			dst = &d.InitializationVector
		case it.Tag == ttlv.TagDerivationData && it.Type == ttlv.TypeByteString:
			dst = &d.DerivationData
		case it.Tag == ttlv.TagSalt && it.Type == ttlv.TypeByteString:
			dst = &d.Salt
		}
		if dst == nil || *dst != nil {
			return Errorf(ResultReasonInvalidField, "unexpected %s in Derivation Parameters", it.Tag)
		}
		*dst = it.Data
		if *dst == nil {
			*dst = []byte{}
		}
	}
	return nil
}

// DeriveKeyRequest is the Derive Key request payload (KMIP 2.0 §6.1.11;
// KMIP 1.4 §4.6 carries the attributes in a Template-Attribute).
type DeriveKeyRequest struct {
	ObjectType             ObjectType
	UniqueIDs              []UniqueID // the base object first, then any others
	Method                 DerivationMethod
	Derivation             DerivationParameters
	Attributes             AttrList
	ProtectionStorageMasks ttlv.Value // 2.x, raw
}

// Decode reads the payload in the form of version ver.
func (r *DeriveKeyRequest) Decode(v ttlv.Value, ver Version) error {
	ids := r.UniqueIDs[:0]
	*r = DeriveKeyRequest{}
	var ot uint32
	if !v.ReadEnum(ttlv.TagObjectType, &ot) {
		return Errorf(ResultReasonInvalidMessage, "Derive Key request lacks Object Type")
	}
	r.ObjectType = ObjectType(ot)
	for v.PeekTag() == ttlv.TagUniqueIdentifier {
		var u UniqueID
		if err := readUniqueID(&v, ttlv.TagUniqueIdentifier, &u); err != nil {
			return err
		}
		ids = append(ids, u)
	}
	r.UniqueIDs = ids
	var m uint32
	if !v.ReadEnum(ttlv.TagDerivationMethod, &m) {
		return Errorf(ResultReasonInvalidMessage, "Derive Key request lacks Derivation Method")
	}
	r.Method = DerivationMethod(m)
	var dp ttlv.Value
	if !v.ReadStructure(ttlv.TagDerivationParameters, &dp) {
		return Errorf(ResultReasonInvalidMessage, "Derive Key request lacks Derivation Parameters")
	}
	if err := r.Derivation.Decode(dp); err != nil {
		return err
	}
	for !v.Empty() {
		it, _ := v.Next()
		switch {
		case it.Tag == ttlv.TagAttributes && it.Type == ttlv.TypeStructure && ver.V2():
			r.Attributes = NewAttrList(it.Children(), false)
		case it.Tag == ttlv.TagTemplateAttribute && it.Type == ttlv.TypeStructure && !ver.V2():
			r.Attributes = NewAttrList(it.Children(), true)
		case it.Tag == ttlv.TagProtectionStorageMasks && it.Type == ttlv.TypeStructure:
			r.ProtectionStorageMasks = it.Children()
		default:
			return Errorf(ResultReasonInvalidField, "unexpected %s in Derive Key request", it.Tag)
		}
	}
	if len(r.UniqueIDs) == 0 {
		// The ID Placeholder stands for the base object (KMIP 2.0 §6.1).
		r.UniqueIDs = append(r.UniqueIDs, UniqueID{})
	}
	return nil
}
