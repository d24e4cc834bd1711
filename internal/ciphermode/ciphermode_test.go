package ciphermode_test

import (
	"bytes"
	"crypto/aes"
	"encoding/hex"
	"testing"

	"github.com/kmipd/kmipd/internal/ciphermode"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ECB: NIST SP 800-38A appendix F.1.1-F.1.6 (ECB-AES128, -AES192,
// -AES256; the decryption examples are the same blocks reversed).
func TestECBKnownAnswers(t *testing.T) {
	pt := unhex(t, "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710")
	for _, v := range []struct{ name, key, ct string }{
		{"F.1.1 ECB-AES128", "2b7e151628aed2a6abf7158809cf4f3c",
			"3ad77bb40d7a3660a89ecaf32466ef97f5d3d58503b9699de785895a96fdbaaf43b1cd7f598ece23881b00e3ed0306887b0c785e27e8ad3f8223207104725dd4"},
		{"F.1.3 ECB-AES192", "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
			"bd334f1d6e45f25ff712a214571fa5cc974104846d0ad3ad7734ecb3ecee4eefef7afd2270e2e60adce0ba2face6444e9a4b41ba738d6c72fb16691603c18e0e"},
		{"F.1.5 ECB-AES256", "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
			"f3eed1bdb5d2a03c064b5a7e3db181f8591ccb10d410ed26dc5ba74a31362870b6ed21b99ca6f4f9f153e7b1beafed1d23304b7a39f9f3ff067d8d8f9e24ecc7"},
	} {
		b, err := aes.NewCipher(unhex(t, v.key))
		if err != nil {
			t.Fatal(err)
		}
		enc, dec := ciphermode.NewECBEncrypter(b), ciphermode.NewECBDecrypter(b)
		if enc.BlockSize() != 16 || dec.BlockSize() != 16 {
			t.Fatal("block size")
		}
		ct := make([]byte, len(pt))
		enc.CryptBlocks(ct, pt)
		if hex.EncodeToString(ct) != v.ct {
			t.Errorf("%s encrypt = %x", v.name, ct)
		}
		back := make([]byte, len(ct))
		dec.CryptBlocks(back, ct)
		if !bytes.Equal(back, pt) {
			t.Errorf("%s decrypt = %x", v.name, back)
		}
		// In place, a block at a time.
		buf := bytes.Clone(pt)
		for i := 0; i < len(buf); i += 16 {
			enc.CryptBlocks(buf[i:i+16], buf[i:i+16])
		}
		if hex.EncodeToString(buf) != v.ct {
			t.Errorf("%s in place = %x", v.name, buf)
		}
	}
}

func TestPadPKCS5(t *testing.T) {
	for _, bs := range []int{8, 16} {
		for n := range bs {
			in := bytes.Repeat([]byte{0xee}, n)
			got := ciphermode.PadPKCS5(in, bs)
			want := append(bytes.Repeat([]byte{0xee}, n), bytes.Repeat([]byte{byte(bs - n)}, bs-n)...)
			if !bytes.Equal(got, want) {
				t.Errorf("bs %d, %d bytes: %x", bs, n, got)
			}
			if p, ok := ciphermode.UnpadPKCS5(got); !ok || p != bs-n {
				t.Errorf("bs %d, %d bytes: unpad %d, %v", bs, n, p, ok)
			}
		}
	}
}

func TestUnpadPKCS5Rejects(t *testing.T) {
	for name, block := range map[string]string{
		"zero":               "00112233445566778899aabbccddee00",
		"longer than block":  "11111111111111111111111111111111",
		"inner byte differs": "00112233445566778899aabbcc030203",
		"first byte differs": "00112233445566778899aa0504050505",
		"all wrong":          "00112233445566778899aabbccddee08",
	} {
		b := unhex(t, block)
		if n, ok := ciphermode.UnpadPKCS5(b); ok {
			t.Errorf("%s: %x accepted as %d bytes of padding", name, b, n)
		}
	}
	for _, block := range []string{"00112233445566778899aabbcc030303", "10101010101010101010101010101010"} {
		b := unhex(t, block)
		if n, ok := ciphermode.UnpadPKCS5(b); !ok || n != int(b[15]) {
			t.Errorf("%s: %d, %v", block, n, ok)
		}
	}
}
