package cmac

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"encoding/hex"
	"testing"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// msg is the message of the examples of NIST SP 800-38B appendix D and of
// RFC 4493 §4; each example MACs a prefix of it.
const msg = "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e5130c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710"

// Known answers: AES from NIST SP 800-38B appendix D.1-D.3 (D.1 is also
// RFC 4493 §4), three-key Triple DES from appendix D.4 (Examples 15-18).
var vectors = []struct {
	name, key string
	tdes      bool
	n         int // message bytes
	tag       string
}{
	{"AES-128 Mlen=0", "2b7e151628aed2a6abf7158809cf4f3c", false, 0, "bb1d6929e95937287fa37d129b756746"},
	{"AES-128 Mlen=128", "2b7e151628aed2a6abf7158809cf4f3c", false, 16, "070a16b46b4d4144f79bdd9dd04a287c"},
	{"AES-128 Mlen=320", "2b7e151628aed2a6abf7158809cf4f3c", false, 40, "dfa66747de9ae63030ca32611497c827"},
	{"AES-128 Mlen=512", "2b7e151628aed2a6abf7158809cf4f3c", false, 64, "51f0bebf7e3b9d92fc49741779363cfe"},
	{"AES-192 Mlen=0", "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b", false, 0, "d17ddf46adaacde531cac483de7a9367"},
	{"AES-192 Mlen=128", "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b", false, 16, "9e99a7bf31e710900662f65e617c5184"},
	{"AES-192 Mlen=320", "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b", false, 40, "8a1de5be2eb31aad089a82e6ee908b0e"},
	{"AES-192 Mlen=512", "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b", false, 64, "a1d5df0eed790f794d77589659f39a11"},
	{"AES-256 Mlen=0", "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", false, 0, "028962f61b7bf89efc6b551f4667d983"},
	{"AES-256 Mlen=128", "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", false, 16, "28a7023f452e8f82bd4bf28d8c37c35c"},
	{"AES-256 Mlen=320", "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", false, 40, "aaf3d8f1de5640c232f5b169b9c911e6"},
	{"AES-256 Mlen=512", "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4", false, 64, "e1992190549f6ed5696a2c056c315410"},
	{"TDEA3 Mlen=0", "8aa83bf8cbda10620bc1bf19fbb6cd58bc313d4a371ca8b5", true, 0, "b7a688e122ffaf95"},
	{"TDEA3 Mlen=64", "8aa83bf8cbda10620bc1bf19fbb6cd58bc313d4a371ca8b5", true, 8, "8e8f293136283797"},
	{"TDEA3 Mlen=160", "8aa83bf8cbda10620bc1bf19fbb6cd58bc313d4a371ca8b5", true, 20, "743ddbe0ce2dc2ed"},
	{"TDEA3 Mlen=256", "8aa83bf8cbda10620bc1bf19fbb6cd58bc313d4a371ca8b5", true, 32, "33e6b1092400eae5"},
}

func newBlock(t *testing.T, key []byte, tdes bool) cipher.Block {
	t.Helper()
	var b cipher.Block
	var err error
	if tdes {
		b, err = des.NewTripleDESCipher(key)
	} else {
		b, err = aes.NewCipher(key)
	}
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestKnownAnswers(t *testing.T) {
	for _, v := range vectors {
		m := New(newBlock(t, unhex(t, v.key), v.tdes))
		data := unhex(t, msg)[:v.n]
		if got := hex.EncodeToString(m.Sum(nil)); v.n == 0 && got != v.tag {
			t.Errorf("%s: fresh Sum = %s, want %s", v.name, got, v.tag)
		}
		// Whole, then in every split into two writes, then byte by byte.
		m.Reset()
		m.Write(data)
		if got := hex.EncodeToString(m.Sum(nil)); got != v.tag {
			t.Errorf("%s = %s, want %s", v.name, got, v.tag)
		}
		for cut := 0; cut <= v.n; cut++ {
			m.Reset()
			m.Write(data[:cut])
			m.Write(data[cut:])
			if got := hex.EncodeToString(m.Sum(nil)); got != v.tag {
				t.Errorf("%s split at %d = %s", v.name, cut, got)
			}
		}
		m.Reset()
		for i := range data {
			m.Write(data[i : i+1])
		}
		// Sum does not change the state: a second Sum agrees.
		m.Sum(nil)
		if got := hex.EncodeToString(m.Sum([]byte{})); got != v.tag {
			t.Errorf("%s byte by byte = %s", v.name, got)
		}
		if m.Size() != len(v.tag)/2 || m.BlockSize() != len(v.tag)/2 {
			t.Errorf("%s: Size %d, BlockSize %d", v.name, m.Size(), m.BlockSize())
		}
	}
}

// The subkeys of RFC 4493 §4 (and SP 800-38B D.1).
func TestSubkeys(t *testing.T) {
	m := New(newBlock(t, unhex(t, "2b7e151628aed2a6abf7158809cf4f3c"), false))
	if got := hex.EncodeToString(m.k1[:]); got != "fbeed618357133667c85e08f7236a8de" {
		t.Errorf("K1 = %s", got)
	}
	if got := hex.EncodeToString(m.k2[:]); got != "f7ddac306ae266ccf90bc11ee46d513b" {
		t.Errorf("K2 = %s", got)
	}
}
