package rsapss

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1"
	_ "crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/internal/rsapss/rsapsstest"
)

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func digest(h crypto.Hash, msg []byte) []byte {
	d := h.New()
	d.Write(msg)
	return d.Sum(nil)
}

func pubKey(t *testing.T, n string) *rsa.PublicKey {
	return &rsa.PublicKey{N: new(big.Int).SetBytes(unhex(t, n)), E: 65537}
}

// RSA Laboratories, PKCS #1 v2.1 test vectors (pkcs-1v2-1-vec.zip,
// pss-vect.txt, the vectors RFC 8017 refers to), Example 1: a 1024-bit
// key; SHA-1, MGF1 with SHA-1, 20-byte salt.
const (
	ex1N = `a5 6e 4a 0e 70 10 17 58 9a 51 87 dc 7e a8 41 d1 56 f2 ec 0e 36 ad 52 a4 4d fe b1 e6 1f 7a d9 91
		d8 c5 10 56 ff ed b1 62 b4 c0 f2 83 a1 2a 88 a3 94 df f5 26 ab 72 91 cb b3 07 ce ab fc e0 b1 df
		d5 cd 95 08 09 6d 5b 2b 8b 6d f5 d6 71 ef 63 77 c0 92 1c b2 3c 27 0a 70 e2 59 8e 6f f8 9d 19 f1
		05 ac c2 d3 f0 cb 35 f2 92 80 e1 38 6b 6f 64 c4 ef 22 e1 e1 f2 0d 0c e8 cf fb 22 49 bd 9a 21 37`
	ex1D = `33 a5 04 2a 90 b2 7d 4f 54 51 ca 9b bb d0 b4 47 71 a1 01 af 88 43 40 ae f9 88 5f 2a 4b be 92 e8
		94 a7 24 ac 3c 56 8c 8f 97 85 3a d0 7c 02 66 c8 c6 a3 ca 09 29 f1 e8 f1 12 31 88 44 29 fc 4d 9a
		e5 5f ee 89 6a 10 ce 70 7c 3e d7 e7 34 e4 47 27 a3 95 74 50 1a 53 26 83 10 9c 2a ba ca ba 28 3c
		31 b4 bd 2f 53 c3 ee 37 e3 52 ce e3 4f 9e 50 3b d8 0c 06 22 ad 79 c6 dc ee 88 35 47 c6 a3 b3 25`
)

var ex1 = []struct{ name, msg, salt, sig string }{
	{"1.1",
		`cd c8 7d a2 23 d7 86 df 3b 45 e0 bb bc 72 13 26 d1 ee 2a f8 06 cc 31 54 75 cc 6f 0d 9c 66 e1 b6
		23 71 d4 5c e2 39 2e 1a c9 28 44 c3 10 10 2f 15 6a 0d 8d 52 c1 f4 c4 0b a3 aa 65 09 57 86 cb 76
		97 57 a6 56 3b a9 58 fe d0 bc c9 84 e8 b5 17 a3 d5 f5 15 b2 3b 8a 41 e7 4a a8 67 69 3f 90 df b0
		61 a6 e8 6d fa ae e6 44 72 c0 0e 5f 20 94 57 29 cb eb e7 7f 06 ce 78 e0 8f 40 98 fb a4 1f 9d 61
		93 c0 31 7e 8b 60 d4 b6 08 4a cb 42 d2 9e 38 08 a3 bc 37 2d 85 e3 31 17 0f cb f7 cc 72 d0 b7 1c
		29 66 48 b3 a4 d1 0f 41 62 95 d0 80 7a a6 25 ca b2 74 4f d9 ea 8f d2 23 c4 25 37 02 98 28 bd 16
		be 02 54 6f 13 0f d2 e3 3b 93 6d 26 76 e0 8a ed 1b 73 31 8b 75 0a 01 67 d0`,
		`de e9 59 c7 e0 64 11 36 14 20 ff 80 18 5e d5 7f 3e 67 76 af`,
		`90 74 30 8f b5 98 e9 70 1b 22 94 38 8e 52 f9 71 fa ac 2b 60 a5 14 5a f1 85 df 52 87 b5 ed 28 87
		e5 7c e7 fd 44 dc 86 34 e4 07 c8 e0 e4 36 0b c2 26 f3 ec 22 7f 9d 9e 54 63 8e 8d 31 f5 05 12 15
		df 6e bb 9c 2f 95 79 aa 77 59 8a 38 f9 14 b5 b9 c1 bd 83 c4 e2 f9 f3 82 a0 d0 aa 35 42 ff ee 65
		98 4a 60 1b c6 9e b2 8d eb 27 dc a1 2c 82 c2 d4 c3 f6 6c d5 00 f1 ff 2b 99 4d 8a 4e 30 cb b3 3c`},
	{"1.4",
		`bc 65 67 47 fa 9e af b3 f0`,
		`05 6f 00 98 5d e1 4d 8e f5 ce a9 e8 2f 8c 27 be f7 20 33 5e`,
		`46 09 79 3b 23 e9 d0 93 62 dc 21 bb 47 da 0b 4f 3a 76 22 64 9a 47 d4 64 01 9b 9a ea fe 53 35 9c
		17 8c 91 cd 58 ba 6b cb 78 be 03 46 a7 bc 63 7f 4b 87 3d 4b ab 38 ee 66 1f 19 96 34 c5 47 a1 ad
		84 42 e0 3d a0 15 b1 36 e5 43 f7 ab 07 c0 c1 3e 42 25 b8 de 8c ce 25 d4 f6 eb 84 00 f8 1f 7e 18
		33 b7 ee 6e 33 4d 37 09 64 ca 79 fd b8 72 b4 d7 52 23 b5 ee b0 81 01 59 1f b5 32 d1 55 a6 de 87`},
}

// TestRSALabsExample1 signs with the published salt and must produce the
// published signature; verification needs exactly that salt length and
// MGF1 hash.
func TestRSALabsExample1(t *testing.T) {
	pub := pubKey(t, ex1N)
	priv := &rsa.PrivateKey{PublicKey: *pub, D: new(big.Int).SetBytes(unhex(t, ex1D))}
	for _, v := range ex1 {
		d := digest(crypto.SHA1, unhex(t, v.msg))
		want := unhex(t, v.sig)
		got, err := Sign(bytes.NewReader(unhex(t, v.salt)), priv, crypto.SHA1, crypto.SHA1, d, 20)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("Example %s: Sign = %x, %v; want %x", v.name, got, err, want)
		}
		if err := Verify(pub, crypto.SHA1, crypto.SHA1, d, want, 20); err != nil {
			t.Fatalf("Example %s: %v", v.name, err)
		}
		for _, bad := range []struct {
			mgf  crypto.Hash
			salt int
		}{{crypto.SHA1, 0}, {crypto.SHA1, 19}, {crypto.SHA1, 21}, {crypto.SHA256, 20}} {
			if err := Verify(pub, crypto.SHA1, bad.mgf, d, want, bad.salt); !errors.Is(err, ErrVerification) {
				t.Fatalf("Example %s with MGF1-%v and a %d-byte salt: %v, want ErrVerification", v.name, bad.mgf, bad.salt, err)
			}
		}
		bad := append([]byte(nil), want...)
		bad[len(bad)-1] ^= 1
		if err := Verify(pub, crypto.SHA1, crypto.SHA1, d, bad, 20); !errors.Is(err, ErrVerification) {
			t.Fatalf("Example %s, altered signature: %v", v.name, err)
		}
	}
}

// Project Wycheproof (github.com/C2SP/wycheproof), testvectors_v1:
// rsapsstest's vectors and two more with their keys.
var wycheproof = []struct {
	name      string
	key       string // PKCS#1 DER, hex
	hash, mgf crypto.Hash
	salt      int
	msg, sig  string
}{
	{"mgf1_0 tcId 1", rsapsstest.Salt0Key, crypto.SHA256, crypto.SHA256, 0, "",
		`20081f8894a1330c4d503f642880e3c30e398fc6235c24f1be752e2d49cd9493ac0cf999e275c4f89ff08f0d9ba4e264a332525a616d336bd9e822f41ab3f4fae2f48ec66c2e52642ed93b7cb944396fbaa727cbfdfc1f20aace99a6f2a74475c338f8d9f22a38cb5bc51752076503b3aef1e65e5a8f8583d9ae7378ded038cf516898ad06beb90a42b85764526fcea44f74258fa4efb1da253d337f65619181ceb832dfe285ce78ae6b15f204e23bab274e87445d9f5df97f41dc8e3a97736b62591d075744b2552f90bcf1b1393e1e7627ef1f985f2bbabd52e43a35d0ddf4c67126e391f922ef7b1bb1911cd6e1b303cb2910dd70672bbfb62ea4eaad725c`},
	{"mgf1_0 tcId 3", rsapsstest.Salt0Key, crypto.SHA256, crypto.SHA256, 0, rsapsstest.Salt0Msg, rsapsstest.Salt0Sig},
	{"misc tcId 1", rsapsstest.MiscKey, crypto.SHA1, crypto.SHA1, 0, "313233343030",
		`88f4676b502e365dfd82805ac1db27d1107d1516431ab4f71107b62625b6275af4a5dbfd8314fae255820c0cb577ee2457f510851d2678e4ed3e6839848aca8b67c9ce52c5bf57a01b6683828d03470034b136e6ab1914adbb1d918fdc31f7cef6f44b0b0ba0dbd6c1d3c8d7699ce374dc86c28beb3bee8f81f41162344e688af0d91297da0dd5e8104a5440add89bdc6c05d20a164c0f079b78654f038d443743f94bc45762501034a32b5d05bb86e75dd9a171c81dbe43edf50b2e1fc24297375331d78a8f0399d4aebbeeed911f6d964049e67d89eec0e95443af2ceb37125ea8431cbad2d8416fc15fb9cbed9142fb8cb06dc7ceafac056cc1f6696e3d93`},
	{"misc tcId 64", rsapsstest.MiscKey, crypto.SHA256, crypto.SHA1, 32, rsapsstest.MiscMsg, rsapsstest.MGF1SHA1Sig},
	{"misc tcId 76", rsapsstest.MiscKey, crypto.SHA256, crypto.SHA256, 32, rsapsstest.MiscMsg, rsapsstest.Salt32Sig},
	{"misc tcId 77", rsapsstest.MiscKey, crypto.SHA256, crypto.SHA256, 48, rsapsstest.MiscMsg, rsapsstest.Salt48Sig},
}

// TestWycheproof verifies the published valid signatures with exactly
// their parameters, and finds them Invalid with another salt length or
// MGF1 hash.
func TestWycheproof(t *testing.T) {
	for _, v := range wycheproof {
		pub, err := x509.ParsePKCS1PublicKey(unhex(t, v.key))
		if err != nil {
			t.Fatal(err)
		}
		d := digest(v.hash, unhex(t, v.msg))
		sig := unhex(t, v.sig)
		if err := Verify(pub, v.hash, v.mgf, d, sig, v.salt); err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		otherMGF := crypto.SHA256
		if v.mgf == crypto.SHA256 {
			otherMGF = crypto.SHA1
		}
		for _, bad := range []struct {
			mgf  crypto.Hash
			salt int
		}{{v.mgf, v.salt + 1}, {v.mgf, v.hash.Size()}, {v.mgf, 20}, {otherMGF, v.salt}} {
			if bad.mgf == v.mgf && bad.salt == v.salt {
				continue
			}
			if err := Verify(pub, v.hash, bad.mgf, d, sig, bad.salt); !errors.Is(err, ErrVerification) {
				t.Fatalf("%s with MGF1-%v and a %d-byte salt: %v, want ErrVerification", v.name, bad.mgf, bad.salt, err)
			}
		}
	}
}

// TestAgainstCryptoRSA checks Sign and Verify against crypto/rsa, an
// independent implementation, where both can do the scheme, and that a
// salt-less signature is deterministic.
func TestAgainstCryptoRSA(t *testing.T) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	d := digest(crypto.SHA256, []byte("message"))
	for _, salt := range []int{1, 20, 32, 222} {
		sig, err := Sign(rand.Reader, k, crypto.SHA256, crypto.SHA256, d, salt)
		if err != nil {
			t.Fatal(err)
		}
		if err := rsa.VerifyPSS(&k.PublicKey, crypto.SHA256, d, sig, &rsa.PSSOptions{SaltLength: salt}); err != nil {
			t.Fatalf("%d-byte salt: crypto/rsa rejects ours: %v", salt, err)
		}
		sig, err = rsa.SignPSS(rand.Reader, k, crypto.SHA256, d, &rsa.PSSOptions{SaltLength: salt})
		if err != nil {
			t.Fatal(err)
		}
		if err := Verify(&k.PublicKey, crypto.SHA256, crypto.SHA256, d, sig, salt); err != nil {
			t.Fatalf("%d-byte salt: crypto/rsa's rejected: %v", salt, err)
		}
	}
	a, err := Sign(rand.Reader, k, crypto.SHA256, crypto.SHA1, d, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Sign(rand.Reader, k, crypto.SHA256, crypto.SHA1, d, 0)
	if !bytes.Equal(a, b) {
		t.Fatal("two salt-less signatures differ")
	}
	if err := Verify(&k.PublicKey, crypto.SHA256, crypto.SHA1, d, a, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := Sign(rand.Reader, k, crypto.SHA256, crypto.SHA256, d, 223); err == nil {
		t.Fatal("a salt longer than the key allows was accepted")
	}
}

// TestBadKeys: keys a client could register that bigmod cannot use fail
// verification (an even modulus would make it panic).
func TestBadKeys(t *testing.T) {
	d := digest(crypto.SHA256, nil)
	even := new(big.Int).Lsh(big.NewInt(1), 1023)
	even.Add(even, big.NewInt(2))
	sig := make([]byte, 128)
	sig[127] = 3
	for _, pub := range []*rsa.PublicKey{
		{N: even, E: 65537},
		{N: new(big.Int).Add(even, big.NewInt(1)), E: 1},
		{N: big.NewInt(0), E: 65537},
		{N: big.NewInt(15), E: 3},
	} {
		if err := Verify(pub, crypto.SHA256, crypto.SHA1, d, sig[:(pub.N.BitLen()+7)/8], 0); !errors.Is(err, ErrVerification) {
			t.Fatalf("N=%v E=%d: %v", pub.N, pub.E, err)
		}
		if _, err := Sign(rand.Reader, &rsa.PrivateKey{PublicKey: *pub, D: big.NewInt(3)}, crypto.SHA256, crypto.SHA1, d, 0); err == nil {
			t.Fatalf("N=%v E=%d: signed", pub.N, pub.E)
		}
	}
}

// FuzzVerify: any signature, salt length and MGF1 hash is an answer, never
// a panic.
func FuzzVerify(f *testing.F) {
	f.Add(unhexF(rsapsstest.MGF1SHA1Sig), 32, true)
	f.Add([]byte{1, 2, 3}, 0, false)
	f.Add(make([]byte, 256), 300, true)
	pub, err := x509.ParsePKCS1PublicKey(unhexF(rsapsstest.MiscKey))
	if err != nil {
		f.Fatal(err)
	}
	d := digest(crypto.SHA256, unhexF(rsapsstest.MiscMsg))
	f.Fuzz(func(t *testing.T, sig []byte, salt int, sha1 bool) {
		mgf := crypto.SHA256
		if sha1 {
			mgf = crypto.SHA1
		}
		err := Verify(pub, crypto.SHA256, mgf, d, sig, salt)
		if err != nil && !errors.Is(err, ErrVerification) {
			t.Fatal(err)
		}
	})
}

func unhexF(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}
