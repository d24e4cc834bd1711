package objects

import (
	"crypto/sha256"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Digest returns a Digest attribute (KMIP 2.0 §4.17): {Hashing Algorithm
// SHA-256, Digest Value, Key Format Type}. material is the object's value
// as encoded in Key Format Type kft — for a key in Raw format the key bytes,
// for a certificate the certificate bytes — and the Digest Value is its
// SHA-256, the algorithm the specification says a server SHALL use by
// default. kft 0 leaves Key Format Type out, for objects that have none
// (certificates, opaque objects).
func Digest(material []byte, kft kmip.KeyFormatType) Attribute {
	sum := sha256.Sum256(material)
	return Attribute{Tag: ttlv.TagDigest, Raw: encode(func(b *ttlv.Builder) {
		b.Begin(ttlv.TagDigest)
		b.AddEnum(ttlv.TagHashingAlgorithm, uint32(kmip.HashingAlgorithmSHA_256))
		b.AddBytes(ttlv.TagDigestValue, sum[:])
		if kft != 0 {
			b.AddEnum(ttlv.TagKeyFormatType, uint32(kft))
		}
		b.End()
	})}
}

// ShortUniqueIdentifier returns the Short Unique Identifier attribute (KMIP
// 2.0 §4.49) of the object with Unique Identifier id: the SHA-256 of the
// identifier, 32 bytes, as the specification recommends.
func ShortUniqueIdentifier(id string) Attribute {
	sum := sha256.Sum256([]byte(id))
	return BytesAttr(ttlv.TagShortUniqueIdentifier, sum[:])
}
