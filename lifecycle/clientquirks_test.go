package lifecycle_test

import (
	"encoding/hex"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Ensure that an AES key registered with a Key Compression Type, as
// libkmip's register demo sends it (PostgreSQL pg_tde, Percona), is stored
// and usable: compression only concerns EC points.
func TestRegister_KeyCompressionTypeOnAES(t *testing.T) {
	_, c := cryptoEnv(t)
	key := unhex("000102030405060708090a0b0c0d0e0f")
	ver := c.Version
	it := must(t, c, kmip.OperationRegister,
		fEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey)),
		attrsWrap(ver, maskAttr(ver, encDec), active(ver)),
		func(b *ttlv.Builder) {
			b.Begin(ttlv.TagSymmetricKey)
			b.Begin(ttlv.TagKeyBlock)
			b.AddEnum(ttlv.TagKeyFormatType, uint32(kmip.KeyFormatTypeRaw))
			b.AddEnum(ttlv.TagKeyCompressionType, uint32(kmip.KeyCompressionTypeECPublicKeyTypeUncompressed))
			b.Begin(ttlv.TagKeyValue)
			b.AddBytes(ttlv.TagKeyMaterial, key)
			b.End()
			b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES))
			b.AddInt32(ttlv.TagCryptographicLength, 128)
			b.End()
			b.End()
		})
	id := string(out2text(it))
	// FIPS-197 C.1: AES-128 of 00112233...ff under 000102...0f.
	ct, _, _ := encryptOK(t, c, fUID(id), fParams(fMode(kmip.BlockCipherModeECB)), fData(unhex("00112233445566778899aabbccddeeff")))
	if hex.EncodeToString(ct) != "69c4e0d86a7b0430d8cdb78070b4c55a" {
		t.Errorf("Encrypt = %x", ct)
	}
}

// Ensure that an IV Length in bytes where it cannot be bits (ovh/kmip-go
// sends 16 for CBC and 12 for GCM) is read as bytes, and that a length
// that fits neither says KMIP counts bits.
func TestEncrypt_IVLengthInBytes(t *testing.T) {
	_, c := cryptoEnv(t)
	id := regSym(t, c, kmip.CryptographicAlgorithmAES, unhex("000102030405060708090a0b0c0d0e0f"), encDec)
	for _, tc := range []struct {
		mode  kmip.BlockCipherMode
		ivLen int32
		want  int
	}{
		{kmip.BlockCipherModeCBC, 16, 16},
		{kmip.BlockCipherModeCBC, 128, 16},
		{kmip.BlockCipherModeGCM, 12, 12},
		{kmip.BlockCipherModeGCM, 96, 12},
	} {
		_, iv, _ := encryptOK(t, c, fUID(id), fParams(fMode(tc.mode), fPad(kmip.PaddingMethodPKCS5),
			fInt(ttlv.TagIVLength, tc.ivLen)), fData([]byte("sixteen byte msg")))
		if len(iv) != tc.want {
			t.Errorf("%v IV Length %d: made a %d-byte IV, want %d", tc.mode, tc.ivLen, len(iv), tc.want)
		}
	}
	_, err := do(t, c, kmip.OperationEncrypt, pl(fUID(id),
		fParams(fMode(kmip.BlockCipherModeCBC), fInt(ttlv.TagIVLength, 12)), fData([]byte("x"))))
	wantReason(t, err, kmip.ResultReasonBadCryptographicParameters)
	if err == nil || !strings.Contains(err.Error(), "in bits") {
		t.Errorf("error %v does not say IV Length is in bits", err)
	}
}
