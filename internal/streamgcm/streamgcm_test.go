package streamgcm

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	mrand "math/rand/v2"
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

// vectors are published known answers: test cases 1-6, 10 (AES-192) and
// 16 (AES-256) of the GCM specification (McGrew and Viega, "The Galois/
// Counter Mode of Operation", appendix B), then NIST CAVP gcmEncryptExtIV
// vectors with 120-, 112-, 104- and 96-bit tags.
var vectors = []struct {
	name             string
	key, iv, aad, pt string
	tagLen           int
	ct, tag          string
}{
	{"GCM spec case 1", "00000000000000000000000000000000", "000000000000000000000000", "", "", 16, "", "58e2fccefa7e3061367f1d57a4e7455a"},
	{"GCM spec case 2", "00000000000000000000000000000000", "000000000000000000000000", "", "00000000000000000000000000000000", 16,
		"0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"},
	{"GCM spec case 3", "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", "",
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255", 16,
		"42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985",
		"4d5c2af327cd64a62cf35abd2ba6fab4"},
	{"GCM spec case 4", "feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39", 16,
		"42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
		"5bc94fbc3221a5db94fae95ae7121a47"},
	{"GCM spec case 5 (64-bit IV)", "feffe9928665731c6d6a8f9467308308", "cafebabefacedbad", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39", 16,
		"61353b4c2806934a777ff51fa22a4755699b2a714fcdc6f83766e5f97b6c742373806900e49f24b22b097544d4896b424989b5e1ebac0f07c23f4598",
		"3612d2e79e3b0785561be14aaca2fccb"},
	{"GCM spec case 6 (480-bit IV)", "feffe9928665731c6d6a8f9467308308",
		"9313225df88406e555909c5aff5269aa6a7a9538534f7da1e4c303d2a318a728c3c0c95156809539fcf0e2429a6b525416aedbf5a0de6a57a637b39b",
		"feedfacedeadbeeffeedfacedeadbeefabaddad2",
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39", 16,
		"8ce24998625615b603a033aca13fb894be9112a5c3a211a8ba262a3cca7e2ca701e4a9a4fba43c90ccdcb281d48c7c6fd62875d2aca417034c34aee5",
		"619cc5aefffe0bfa462af43c1699d050"},
	{"GCM spec case 10 (AES-192)", "feffe9928665731c6d6a8f9467308308feffe9928665731c", "cafebabefacedbad", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39", 16,
		"0f10f599ae14a154ed24b36e25324db8c566632ef2bbb34f8347280fc4507057fddc29df9a471f75c66541d4d4dad1c9e93a19a58e8b473fa0f062f7",
		"65dcc57fcf623a24094fcca40d3533f8"},
	{"GCM spec case 16 (AES-256)", "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888", "feedfacedeadbeeffeedfacedeadbeefabaddad2",
		"d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39", 16,
		"522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
		"76fc6ece0f4e1768cddf8853bb2d551b"},
	{"CAVP Tlen=120", "6dfa1a07c14f978020ace450ad663d18", "34edfa462a14c6969a680ec1", "2a35c7f5f8578e919a581c60500c04f6", "", 15, "", "751f3098d59cf4ea1d2fb0853bde1c"},
	{"CAVP Tlen=112", "ed6cd876ceba555706674445c229c12d", "92ecbf74b765bc486383ca2e", "95bd10d77dbe0e87fb34217f1a2e5efe",
		"bfaaaea3880d72d4378561e2597a9b35", 14, "bdd2ed6c66fa087dce617d7fd1ff6d93", "ba82e49c55a22ed02ca67da4ec6f"},
	{"CAVP Tlen=104", "a1412ff6f687787fb404a4a9d18511d1", "7e78061027ac22ddad25c930", "e21cfc627452107d55f34f7d06bca88e",
		"abef8c37dfc74ad8b5e59e71ae9a9583", 13, "0d378e6a61589c6f49b739ae374e6fc1", "75ea647ff1318e4a53b55ac0d2"},
	{"CAVP Tlen=96", "5ac0b25cccaaa4bb2375aef5034db959", "65765ef5c5ff39c256af5838", "77d997b514608c0d0b0668cecae21f4a",
		"53b4f37fcb17ecbf88f47f5aa53bfe96", 12, "506959e2cc4929a7047a5bc986854e0e", "c69d14f2e795336f6eb22171"},
}

// seal encrypts pt with a Sealer, in pieces of chunk bytes.
func seal(t *testing.T, key, iv, aad, pt []byte, tagLen, chunk int) (ct, tag []byte) {
	t.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	g := New(b, iv, aad, tagLen)
	defer g.Wipe()
	for len(pt) > 0 {
		n := min(chunk, len(pt))
		if ct, err = g.Update(ct, pt[:n]); err != nil {
			t.Fatal(err)
		}
		pt = pt[n:]
	}
	return ct, g.Tag()
}

// stdlib seals pt with crypto/cipher's one-shot GCM; a short tag is the
// leading bytes of the full one (SP 800-38D §5.2.1.2).
func stdlib(t *testing.T, key, iv, aad, pt []byte, tagLen int) (ct, tag []byte) {
	t.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	a, err := cipher.NewGCMWithNonceSize(b, len(iv))
	if err != nil {
		t.Fatal(err)
	}
	s := a.Seal(nil, iv, pt, aad)
	return s[:len(pt)], s[len(pt) : len(pt)+tagLen]
}

var chunks = []int{1, 3, 7, 15, 16, 17, 31, 64, 1 << 20}

func TestKnownAnswers(t *testing.T) {
	for _, v := range vectors {
		key, iv, aad, pt := unhex(t, v.key), unhex(t, v.iv), unhex(t, v.aad), unhex(t, v.pt)
		wantCT, wantTag := unhex(t, v.ct), unhex(t, v.tag)
		if ct, tag := stdlib(t, key, iv, aad, pt, v.tagLen); !bytes.Equal(ct, wantCT) || !bytes.Equal(tag, wantTag) {
			t.Fatalf("%s: the standard library disagrees with the vector", v.name)
		}
		for _, chunk := range chunks {
			ct, tag := seal(t, key, iv, aad, pt, v.tagLen, chunk)
			if !bytes.Equal(ct, wantCT) || !bytes.Equal(tag, wantTag) {
				t.Errorf("%s, pieces of %d: %x / %x, want %s / %s", v.name, chunk, ct, tag, v.ct, v.tag)
			}
		}
	}
}

// Random keys, IVs, additional data, messages and tag lengths agree with
// the standard library in every piece size.
func TestMatchesStdlib(t *testing.T) {
	r := mrand.New(mrand.NewPCG(1, 2))
	rnd := func(n int) []byte {
		b := make([]byte, n)
		rand.Read(b)
		return b
	}
	for i := range 60 {
		key := rnd([]int{16, 24, 32}[i%3])
		iv := rnd(1 + r.IntN(40))
		aad := rnd(r.IntN(50))
		pt := rnd(r.IntN(300))
		tagLen := 12 + r.IntN(5)
		wantCT, wantTag := stdlib(t, key, iv, aad, pt, tagLen)
		for _, chunk := range append(chunks, 1+r.IntN(40)) {
			ct, tag := seal(t, key, iv, aad, pt, tagLen, chunk)
			if !bytes.Equal(ct, wantCT) || !bytes.Equal(tag, wantTag) {
				t.Fatalf("case %d (iv %d, aad %d, pt %d), pieces of %d: differs from crypto/cipher", i, len(iv), len(aad), len(pt), chunk)
			}
		}
	}
}

// Update appends to dst, and Init resets a Sealer fully.
func TestAppendAndInit(t *testing.T) {
	v := vectors[3]
	key, iv, aad, pt := unhex(t, v.key), unhex(t, v.iv), unhex(t, v.aad), unhex(t, v.pt)
	b, _ := aes.NewCipher(key)
	var g Sealer
	g.Init(b, iv, aad, 16)
	g.Update(nil, []byte("something else"))
	g.Init(b, iv, aad, 16)
	out, err := g.Update([]byte("prefix"), pt)
	if err != nil || string(out[:6]) != "prefix" || hex.EncodeToString(out[6:]) != v.ct {
		t.Fatalf("Update after Init: %x, %v", out, err)
	}
	if hex.EncodeToString(g.Tag()) != v.tag {
		t.Fatal("tag after Init")
	}
}

// The plaintext limit of SP 800-38D, 2^36 - 32 bytes.
func TestTooLong(t *testing.T) {
	b, _ := aes.NewCipher(make([]byte, 16))
	g := New(b, make([]byte, 12), nil, 16)
	g.ctLen = 1<<36 - 32 - 4
	if _, err := g.Update(nil, make([]byte, 4)); err != nil {
		t.Fatalf("at the limit: %v", err)
	}
	dst := []byte("kept")
	out, err := g.Update(dst, make([]byte, 1))
	if !errors.Is(err, ErrTooLong) || string(out) != "kept" {
		t.Fatalf("past the limit: %q, %v", out, err)
	}
}
