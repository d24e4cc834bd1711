package kdf_test

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/hmac"
	"crypto/rand"
	_ "crypto/sha1"
	_ "crypto/sha256"
	"encoding/hex"
	"hash"
	"testing"

	"golang.org/x/crypto/pbkdf2"

	"github.com/kmipd/kmipd/internal/cmac"
	"github.com/kmipd/kmipd/internal/kdf"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// PBKDF2-HMAC-SHA1: the vectors of RFC 6070 §2 (the 16,777,216-iteration
// one left out for time); PBKDF2-HMAC-SHA256: RFC 7914 §11, first vector.
func TestPBKDF2KnownAnswers(t *testing.T) {
	for _, v := range []struct {
		h              crypto.Hash
		password, salt string
		iter           int
		want           string
	}{
		{crypto.SHA1, "password", "salt", 1, "0c60c80f961f0e71f3a9b524af6012062fe037a6"},
		{crypto.SHA1, "password", "salt", 2, "ea6c014dc72d6f8ccd1ed92ace1d41f0d8de8957"},
		{crypto.SHA1, "password", "salt", 4096, "4b007901b765489abead49d926f721d065a429c1"},
		{crypto.SHA1, "passwordPASSWORDpassword", "saltSALTsaltSALTsaltSALTsaltSALTsalt", 4096, "3d2eec4fe41c849b80c8d83662c0e44a8b291a964cf2f07038"},
		{crypto.SHA1, "pass\x00word", "sa\x00lt", 4096, "56fa6aa75548099dcc37d7f03425e0c3"},
		{crypto.SHA256, "passwd", "salt", 1, "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783"},
	} {
		got := kdf.PBKDF2(v.h, []byte(v.password), []byte(v.salt), v.iter, len(v.want)/2)
		if hex.EncodeToString(got) != v.want {
			t.Errorf("PBKDF2-%s(%q, %q, %d) = %x, want %s", v.h, v.password, v.salt, v.iter, got, v.want)
		}
		if len(got) != cap(got) {
			t.Errorf("PBKDF2 result has spare capacity %d", cap(got)-len(got))
		}
	}
}

// PBKDF2 agrees with golang.org/x/crypto/pbkdf2 for lengths around the
// digest boundaries.
func TestPBKDF2MatchesXCrypto(t *testing.T) {
	password, salt := make([]byte, 13), make([]byte, 9)
	rand.Read(password)
	rand.Read(salt)
	for _, h := range []crypto.Hash{crypto.SHA1, crypto.SHA256} {
		for _, n := range []int{1, h.Size() - 1, h.Size(), h.Size() + 1, 3 * h.Size()} {
			got := kdf.PBKDF2(h, password, salt, 3, n)
			if want := pbkdf2.Key(password, salt, 3, n, h.New); !bytes.Equal(got, want) {
				t.Errorf("%s, %d bytes: %x, want %x", h, n, got, want)
			}
		}
	}
}

// Counter mode with the first vectors of the NIST CAVP KBKDF file
// KDFCTR_gen.rsp (CAVS 14.4), CTRLOCATION=BEFORE_FIXED, RLEN=32_BITS: the
// layout Counter implements (a 32-bit counter before the fixed input).
func TestCounterKnownAnswers(t *testing.T) {
	hmacPRF := func(h crypto.Hash) func(k []byte) hash.Hash {
		return func(k []byte) hash.Hash { return hmac.New(h.New, k) }
	}
	cmacPRF := func(k []byte) hash.Hash {
		b, err := aes.NewCipher(k)
		if err != nil {
			t.Fatal(err)
		}
		return cmac.New(b)
	}
	for _, v := range []struct {
		name          string
		prf           func(k []byte) hash.Hash
		ki, fixed, ko string
	}{
		{"HMAC_SHA1 COUNT=0", hmacPRF(crypto.SHA1), "f7591733c856593565130975351954d0155abf3c",
			"8e347ef55d5f5e99eab6de706b51de7ce004f3882889e259ff4e5cff102167a5a4bd711578d4ce17dd9abe56e51c1f2df950e2fc812ec1b217ca08d6",
			"34fe44b0d8c41b93f5fa64fb96f00e5b"},
		{"HMAC_SHA256 COUNT=0", hmacPRF(crypto.SHA256), "dd1d91b7d90b2bd3138533ce92b272fbf8a369316aefe242e659cc0ae238afe0",
			"01322b96b30acd197979444e468e1c5c6859bf1b1cf951b7e725303e237e46b864a145fab25e517b08f8683d0315bb2911d80a0e8aba17f3b413faac",
			"10621342bfb0fd40046c0e29f2cfdbf0"},
		{"CMAC_AES128 COUNT=0", cmacPRF, "c10b152e8c97b77e18704e0f0bd38305",
			"98cd4cbbbebe15d17dc86e6dbad800a2dcbd64f7c7ad0e78e9cf94ffdba89d03e97eadf6c4f7b806caf52aa38f09d0eb71d71f497bcc6906b48d36c4",
			"26faf61908ad9ee881b8305c221db53f"},
		{"CMAC_AES128 COUNT=10 (L=256)", cmacPRF, "695f1b1a16c949cea51cdf2554ec9d42",
			"4fce5942832a390aa1cbe8a0bf9d202cb799e986c9d6b51f45e4d597a6b57f06a4ebfec6467335d116b7f5f9c5b954062f661820f5db2a5bbb3e0625",
			"d34b601ec18c34dfa0f9e0b7523e218bdddb9befe8d08b6c0202d75ace0dba89"},
		{"CMAC_AES256 COUNT=0", cmacPRF, "d0b1b3b70b2393c48ca05159e7e28cbeadea93f28a7cdae964e5136070c45d5c",
			"dd2f151a3f173492a6fbbb602189d51ddf8ef79fc8e96b8fcbe6dabe73a35b48104f9dff2d63d48786d2b3af177091d646a9efae005bdfacb61a1214",
			"8c449fb474d1c1d4d2a33827103b656a"},
	} {
		want := unhex(t, v.ko)
		got := kdf.Counter(v.prf(unhex(t, v.ki)), unhex(t, v.fixed), len(want))
		if !bytes.Equal(got, want) {
			t.Errorf("%s: %x, want %x", v.name, got, want)
		}
		// A shorter output is a prefix, and the cut-off bytes are gone.
		if short := kdf.Counter(v.prf(unhex(t, v.ki)), unhex(t, v.fixed), 5); !bytes.Equal(short, want[:5]) || cap(short) != 5 {
			t.Errorf("%s: 5 bytes: %x (cap %d)", v.name, short, cap(short))
		}
	}
}
