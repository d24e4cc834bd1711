package lifecycle

import (
	"crypto/sha256"
	"fmt"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// applyRequestAttrs adds the attributes a client supplied on Create or
// Register to o, refusing those only the server may set (KMIP 2.0 §4,
// "Initially set by").
func applyRequestAttrs(o *objects.Object, list kmip.AttrList) error {
	for {
		a, ok, err := list.Next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		oa, err := objects.FromAttr(a)
		if err != nil {
			return err
		}
		if oa.Tag != 0 {
			info, known := kmip.AttrInfoOf(oa.Tag)
			if !known {
				return kmip.Errorf(kmip.ResultReasonInvalidAttribute, "%s is not an attribute", oa.Tag)
			}
			if oa.Tag == ttlv.TagObjectType {
				if v, _ := enumOf(oa); kmip.ObjectType(v) != o.Type {
					return kmip.Errorf(kmip.ResultReasonInvalidField, "Object Type attribute contradicts the request")
				}
				continue
			}
			if !info.ClientInit {
				return kmip.Errorf(kmip.ResultReasonAttributeReadOnly, "%s is set by the server", oa.Tag)
			}
			if !info.Multi && o.Count(oa.Tag) > 0 {
				return kmip.Errorf(kmip.ResultReasonAttributeSingleValued, "%s given more than once", oa.Tag)
			}
		}
		o.Add(oa)
	}
}

func enumOf(a objects.Attribute) (uint32, bool) {
	it, ok := a.Item()
	if !ok || it.Type != ttlv.TypeEnumeration {
		return 0, false
	}
	return it.Uint32(), true
}

// initServerAttrs sets what the server manages on a new object (KMIP 2.0
// §4): dates, digest, the Sensitive/Extractable history and Fresh, and then
// the state its dates imply.
func initServerAttrs(c *kmip.Call, o *objects.Object, material []byte, kft kmip.KeyFormatType) {
	t := now(c)
	o.SetDate(ttlv.TagInitialDate, t)
	o.SetDate(ttlv.TagLastChangeDate, t)
	if _, ok := o.Date(ttlv.TagOriginalCreationDate); !ok {
		o.SetDate(ttlv.TagOriginalCreationDate, t)
	}
	sensitive, ok := o.Bool(ttlv.TagSensitive)
	if !ok {
		o.SetBool(ttlv.TagSensitive, false)
	}
	extractable, ok := o.Bool(ttlv.TagExtractable)
	if !ok {
		extractable = true
		o.SetBool(ttlv.TagExtractable, true)
	}
	o.SetBool(ttlv.TagAlwaysSensitive, sensitive)
	o.SetBool(ttlv.TagNeverExtractable, !extractable)
	if _, ok := o.Bool(ttlv.TagFresh); !ok {
		o.SetBool(ttlv.TagFresh, true)
	}
	if _, ok := o.Interval(ttlv.TagLeaseTime); !ok {
		o.SetInterval(ttlv.TagLeaseTime, defaultLeaseTime)
	}
	if material != nil {
		o.SetBool(ttlv.TagKeyValuePresent, true)
		o.Set(objects.Digest(material, kft))
		o.SetEnum(ttlv.TagKeyFormatType, uint32(kft))
	}
	suid := sha256.Sum256([]byte(o.ID))
	o.SetBytes(ttlv.TagShortUniqueIdentifier, suid[:])
	o.SetState(kmip.StatePreActive)
	Effective(o, c.Now)
}

// defaultLeaseTime is the Lease Time given to new objects (KMIP 2.0 §4.27:
// how long a client may use the object without asking again). One hour, as
// the OASIS vectors show (SKLC-O-1-21).
const defaultLeaseTime = 3600

// rngAttr describes the generator of server-made key material (KMIP 2.0
// §4.44): the backend's CSPRNG, which KMIP has no closer name for.
func rngAttr() objects.Attribute {
	var b ttlv.Builder
	b.Begin(ttlv.TagRandomNumberGenerator)
	b.AddEnum(ttlv.TagRNGAlgorithm, uint32(kmip.RNGAlgorithmUnspecified))
	b.End()
	raw, _ := b.Bytes()
	return objects.Attribute{Tag: ttlv.TagRandomNumberGenerator, Raw: raw}
}

// quantumSafe reports whether a symmetric key of this algorithm and length
// keeps at least 128-bit strength against Grover's algorithm: only 256-bit
// keys do. Asymmetric algorithms of today are not quantum safe.
func quantumSafe(alg kmip.CryptographicAlgorithm, bits int32) bool {
	switch alg {
	case kmip.CryptographicAlgorithmAES, kmip.CryptographicAlgorithmChaCha20, kmip.CryptographicAlgorithmChaCha20Poly1305:
		return bits >= 256
	case kmip.CryptographicAlgorithmHMAC_SHA256, kmip.CryptographicAlgorithmHMAC_SHA384, kmip.CryptographicAlgorithmHMAC_SHA512:
		return bits >= 256
	}
	return false
}

// keyBytes returns the key size in bytes for a symmetric algorithm and
// length in bits, or false when the combination is not one kmipd generates.
func keyBytes(alg kmip.CryptographicAlgorithm, bits int32) (int, bool) {
	switch alg {
	case kmip.CryptographicAlgorithmAES:
		return int(bits / 8), bits == 128 || bits == 192 || bits == 256
	case kmip.CryptographicAlgorithmDES3:
		// Two-key (112/128) and three-key (168/192) Triple DES.
		switch bits {
		case 112, 128:
			return 16, true
		case 168, 192:
			return 24, true
		}
	case kmip.CryptographicAlgorithmChaCha20, kmip.CryptographicAlgorithmChaCha20Poly1305:
		return 32, bits == 256
	case kmip.CryptographicAlgorithmHMAC_SHA1, kmip.CryptographicAlgorithmHMAC_SHA224,
		kmip.CryptographicAlgorithmHMAC_SHA256, kmip.CryptographicAlgorithmHMAC_SHA384,
		kmip.CryptographicAlgorithmHMAC_SHA512, kmip.CryptographicAlgorithmHMAC_MD5,
		kmip.CryptographicAlgorithmHMAC_SHA3_224, kmip.CryptographicAlgorithmHMAC_SHA3_256,
		kmip.CryptographicAlgorithmHMAC_SHA3_384, kmip.CryptographicAlgorithmHMAC_SHA3_512:
		return int(bits / 8), bits >= 64 && bits <= 4096 && bits%8 == 0
	}
	// Other symmetric ciphers: kmipd computes nothing with them, but a key
	// of a length the cipher defines is just random bytes, which a client
	// may want to hold here and use elsewhere (PyKMIP creates IDEA keys).
	if r, ok := otherSymmetric[alg]; ok && bits%8 == 0 && bits >= r.min && bits <= r.max && (r.step == 0 || (bits-r.min)%r.step == 0) {
		return int(bits / 8), true
	}
	return 0, false
}

// algName is the name of an algorithm as the spec and kmipctl's --help
// write it ("3DES", "HMAC-SHA256").
func algName(a kmip.CryptographicAlgorithm) string { return kmip.SpecName(a.String()) }

// keyLengths says which lengths Create makes for alg, for its error
// message.
func keyLengths(alg kmip.CryptographicAlgorithm) string {
	switch alg {
	case kmip.CryptographicAlgorithmAES:
		return ": AES keys are 128, 192 or 256 bits"
	case kmip.CryptographicAlgorithmDES3:
		return ": 3DES keys are 112 or 128 (two-key), 168 or 192 (three-key) bits"
	case kmip.CryptographicAlgorithmChaCha20, kmip.CryptographicAlgorithmChaCha20Poly1305:
		return ": ChaCha20 keys are 256 bits"
	}
	if _, ok := hmacHash(alg); ok {
		return ": HMAC keys are 64 to 4096 bits, a multiple of 8"
	}
	if r, ok := otherSymmetric[alg]; ok {
		if r.min == r.max {
			return fmt.Sprintf(": %s keys are %d bits", algName(alg), r.min)
		}
		step := r.step
		if step == 0 {
			step = 8
		}
		return fmt.Sprintf(": %s keys are %d to %d bits in steps of %d", algName(alg), r.min, r.max, step)
	}
	return ": Create makes symmetric keys; asymmetric keys come from Create Key Pair"
}

// otherSymmetric are the key lengths in bits of the symmetric algorithms
// kmipd only generates keys for: min to max in steps of step (0: any
// multiple of 8).
var otherSymmetric = map[kmip.CryptographicAlgorithm]struct{ min, max, step int32 }{
	kmip.CryptographicAlgorithmDES:             {64, 64, 0},
	kmip.CryptographicAlgorithmIDEA:            {128, 128, 0},
	kmip.CryptographicAlgorithmBlowfish:        {32, 448, 0},
	kmip.CryptographicAlgorithmCamellia:        {128, 256, 64},
	kmip.CryptographicAlgorithmCAST5:           {40, 128, 0},
	kmip.CryptographicAlgorithmMARS:            {128, 448, 32},
	kmip.CryptographicAlgorithmRC2:             {8, 1024, 0},
	kmip.CryptographicAlgorithmRC4:             {40, 2048, 0},
	kmip.CryptographicAlgorithmRC5:             {8, 2040, 0},
	kmip.CryptographicAlgorithmSKIPJACK:        {80, 80, 0},
	kmip.CryptographicAlgorithmTwofish:         {128, 256, 64},
	kmip.CryptographicAlgorithmPoly1305:        {256, 256, 0},
	kmip.CryptographicAlgorithmARIA:            {128, 256, 64},
	kmip.CryptographicAlgorithmSEED:            {128, 128, 0},
	kmip.CryptographicAlgorithmSM4:             {128, 128, 0},
	kmip.CryptographicAlgorithmGOSTR34_13_2015: {256, 256, 0},
	kmip.CryptographicAlgorithmGOST28147_89:    {256, 256, 0},
}

func (s *Service) create(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.CreateRequest
	if err := req.Decode(c.Item.Payload, c.Version); err != nil {
		return err
	}
	secret := req.ObjectType == kmip.ObjectTypeSecretData
	if req.ObjectType != kmip.ObjectTypeSymmetricKey && !secret {
		return kmip.Errorf(kmip.ResultReasonInvalidObjectType, "Create makes Symmetric Keys and Secret Data; %s is not supported", req.ObjectType)
	}
	var id string
	err := s.updateGrouped(c, func(tx *store.Tx) error {
		var err error
		if id, err = tx.NewID(); err != nil {
			return err
		}
		o := s.newOwned(c, id, req.ObjectType)
		if err := applyRequestAttrs(o, req.Attributes); err != nil {
			return err
		}
		if secret {
			return s.createSecretData(c, tx, o)
		}
		alg, okA := o.Enum(ttlv.TagCryptographicAlgorithm)
		bits, okL := o.Int(ttlv.TagCryptographicLength)
		if !okA || !okL {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "Create needs Cryptographic Algorithm and Cryptographic Length")
		}
		n, ok := keyBytes(kmip.CryptographicAlgorithm(alg), bits)
		if !ok {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "cannot create a %d-bit %s key%s", bits, algName(kmip.CryptographicAlgorithm(alg)), keyLengths(kmip.CryptographicAlgorithm(alg)))
		}
		// A client asking for a quantum-safe key must get one or nothing
		// (KMIP 2.0 §4.43; QS-M-2-21 expects General Failure).
		if qs, _ := o.Bool(ttlv.TagQuantumSafe); qs && !quantumSafe(kmip.CryptographicAlgorithm(alg), bits) {
			return kmip.Errorf(kmip.ResultReasonGeneralFailure, "NOT_SAFE: a %d-bit %s key is not quantum safe", bits, algName(kmip.CryptographicAlgorithm(alg)))
		}
		blob, err := s.cfg.Backend.GenerateSymmetric(c.Context(), id, n)
		if err != nil {
			return err
		}
		material, err := s.cfg.Backend.Open(c.Context(), id, blob, make([]byte, 0, n))
		if err != nil {
			return err
		}
		o.Blob, o.KeyFormat = blob, kmip.KeyFormatTypeRaw
		initServerAttrs(c, o, material, kmip.KeyFormatTypeRaw)
		o.Set(rngAttr())
		s.setStorageMask(o)
		clear(material)
		return s.saveNew(tx, c, o)
	})
	if err != nil {
		return err
	}
	c.Batch.IDPlaceholder = id
	w.AddEnum(ttlv.TagObjectType, uint32(req.ObjectType))
	w.AddText(ttlv.TagUniqueIdentifier, id)
	return nil
}

// createSecretData makes random Secret Data of the requested Cryptographic
// Length (bits), a Password in Opaque format (KMIP 2.0 §6.1.8 allows Create
// of Secret Data; TC-CREATE-SD-1).
func (s *Service) createSecretData(c *kmip.Call, tx *store.Tx, o *objects.Object) error {
	bits, ok := o.Int(ttlv.TagCryptographicLength)
	if !ok || bits < 8 || bits > 4096 || bits%8 != 0 {
		return kmip.Errorf(kmip.ResultReasonInvalidField, "Secret Data needs a Cryptographic Length of 8 to 4096 bits, a multiple of 8")
	}
	n := int(bits / 8)
	blob, err := s.cfg.Backend.GenerateSymmetric(c.Context(), o.ID, n)
	if err != nil {
		return err
	}
	material, err := s.cfg.Backend.Open(c.Context(), o.ID, blob, make([]byte, 0, n))
	if err != nil {
		return err
	}
	defer clear(material)
	o.Blob, o.KeyFormat, o.DataType = blob, kmip.KeyFormatTypeOpaque, uint32(kmip.SecretDataTypePassword)
	initServerAttrs(c, o, material, kmip.KeyFormatTypeOpaque)
	o.Set(rngAttr())
	s.setStorageMask(o)
	return s.saveNew(tx, c, o)
}
