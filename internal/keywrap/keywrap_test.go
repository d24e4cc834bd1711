package keywrap_test

import (
	"bytes"
	"crypto/aes"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/internal/keywrap"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 3394 §4 test vectors.
var rfc3394Vectors = []struct {
	name, kek, key, wrapped string
}{
	{
		"4.1 128-bit key data, 128-bit KEK",
		"000102030405060708090A0B0C0D0E0F",
		"00112233445566778899AABBCCDDEEFF",
		"1FA68B0A8112B447 AEF34BD8FB5A7B82 9D3E862371D2CFE5",
	},
	{
		"4.2 128-bit key data, 192-bit KEK",
		"000102030405060708090A0B0C0D0E0F1011121314151617",
		"00112233445566778899AABBCCDDEEFF",
		"96778B25AE6CA435 F92B5B97C050AED2 468AB8A17AD84E5D",
	},
	{
		"4.3 128-bit key data, 256-bit KEK",
		"000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
		"00112233445566778899AABBCCDDEEFF",
		"64E8C3F9CE0F5BA2 63E9777905818A2A 93C8191E7D6E8AE7",
	},
	{
		"4.4 192-bit key data, 192-bit KEK",
		"000102030405060708090A0B0C0D0E0F1011121314151617",
		"00112233445566778899AABBCCDDEEFF0001020304050607",
		"031D33264E15D332 68F24EC260743EDC E1C6C7DDEE725A93 6BA814915C6762D2",
	},
	{
		"4.5 192-bit key data, 256-bit KEK",
		"000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
		"00112233445566778899AABBCCDDEEFF0001020304050607",
		"A8F9BC1612C68B3F F6E6F4FBE30E71E4 769C8B80A32CB895 8CD5D17D6B254DA1",
	},
	{
		"4.6 256-bit key data, 256-bit KEK",
		"000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F",
		"00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F",
		"28C9F404C4B810F4 CBCCB35CFB87F826 3F5786E2D80ED326 CBC7F0E71A99F43B FB988B9B7A02DD21",
	},
}

// RFC 5649 §6 test vectors.
var rfc5649Vectors = []struct {
	name, kek, key, wrapped string
}{
	{
		"20 octets, 192-bit KEK",
		"5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8",
		"c37b7e6492584340 bed1220780894115 5068f738",
		"138bdeaa9b8fa7fc 61f97742e72248ee 5ae6ae5360d1ae6a 5f54f373fa543b6a",
	},
	{
		"7 octets, 192-bit KEK",
		"5840df6e29b02af1 ab493b705bf16ea1 ae8338f4dcc176a8",
		"466f7250617369",
		"afbeb0f07dfbf541 9200f2ccb50bb24f",
	},
}

// tamperEach flips every bit position class of every byte of c and checks
// that unwrap rejects each variant with ErrUnwrap.
func tamperEach(t *testing.T, name string, kek, c []byte, unwrap func(kek, c []byte) ([]byte, error)) {
	t.Helper()
	for i := range c {
		for _, mask := range []byte{0x01, 0x80} {
			bad := bytes.Clone(c)
			bad[i] ^= mask
			if p, err := unwrap(kek, bad); !errors.Is(err, keywrap.ErrUnwrap) || p != nil {
				t.Errorf("%s: byte %d ^ %#x: got %x, %v; want ErrUnwrap", name, i, mask, p, err)
			}
		}
	}
	// Truncated, extended, wrong KEK.
	if _, err := unwrap(kek, c[:len(c)-8]); err == nil {
		t.Errorf("%s: truncated ciphertext accepted", name)
	}
	if _, err := unwrap(kek, append(bytes.Clone(c), make([]byte, 8)...)); err == nil {
		t.Errorf("%s: extended ciphertext accepted", name)
	}
	if _, err := unwrap(kek, c[:len(c)-1]); err == nil {
		t.Errorf("%s: ciphertext of odd length accepted", name)
	}
	wrongKEK := bytes.Clone(kek)
	wrongKEK[0] ^= 1
	if _, err := unwrap(wrongKEK, c); !errors.Is(err, keywrap.ErrUnwrap) {
		t.Errorf("%s: wrong KEK: %v, want ErrUnwrap", name, err)
	}
}

func TestKeyWrapRFC3394Vectors(t *testing.T) {
	for _, v := range rfc3394Vectors {
		kek, key, want := unhex(t, v.kek), unhex(t, v.key), unhex(t, v.wrapped)
		got, err := keywrap.WrapKey(kek, key)
		if err != nil {
			t.Fatalf("%s: WrapKey: %v", v.name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: WrapKey = %X, want %X", v.name, got, want)
		}
		back, err := keywrap.UnwrapKey(kek, want)
		if err != nil {
			t.Fatalf("%s: UnwrapKey: %v", v.name, err)
		}
		if !bytes.Equal(back, key) {
			t.Errorf("%s: UnwrapKey = %X, want %X", v.name, back, key)
		}
		tamperEach(t, v.name, kek, want, keywrap.UnwrapKey)
		// A KW blob is not a valid KWP blob (different initial value).
		if _, err := keywrap.UnwrapKeyPad(kek, want); !errors.Is(err, keywrap.ErrUnwrap) {
			t.Errorf("%s: UnwrapKeyPad accepted a KW blob: %v", v.name, err)
		}
	}
}

func TestKeyWrapRFC5649Vectors(t *testing.T) {
	for _, v := range rfc5649Vectors {
		kek, key, want := unhex(t, v.kek), unhex(t, v.key), unhex(t, v.wrapped)
		got, err := keywrap.WrapKeyPad(kek, key)
		if err != nil {
			t.Fatalf("%s: WrapKeyPad: %v", v.name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: WrapKeyPad = %x, want %x", v.name, got, want)
		}
		back, err := keywrap.UnwrapKeyPad(kek, want)
		if err != nil {
			t.Fatalf("%s: UnwrapKeyPad: %v", v.name, err)
		}
		if !bytes.Equal(back, key) {
			t.Errorf("%s: UnwrapKeyPad = %x, want %x", v.name, back, key)
		}
		tamperEach(t, v.name, kek, want, keywrap.UnwrapKeyPad)
		if len(want) >= 24 {
			if _, err := keywrap.UnwrapKey(kek, want); !errors.Is(err, keywrap.ErrUnwrap) {
				t.Errorf("%s: UnwrapKey accepted a KWP blob: %v", v.name, err)
			}
		}
	}
}

func TestKeyWrapPadRoundTripAllLengths(t *testing.T) {
	for _, kekLen := range []int{16, 24, 32} {
		kek := make([]byte, kekLen)
		rand.Read(kek)
		for n := 1; n <= 80; n++ {
			p := make([]byte, n)
			rand.Read(p)
			c, err := keywrap.WrapKeyPad(kek, p)
			if err != nil {
				t.Fatal(err)
			}
			if want := (n+7)/8*8 + 8; len(c) != want {
				t.Fatalf("len %d: wrapped length %d, want %d", n, len(c), want)
			}
			back, err := keywrap.UnwrapKeyPad(kek, c)
			if err != nil || !bytes.Equal(back, p) {
				t.Fatalf("KEK %d, len %d: round trip %x, %v", kekLen, n, back, err)
			}
			if n%8 == 0 && n >= 16 {
				c, err := keywrap.WrapKey(kek, p)
				if err != nil {
					t.Fatal(err)
				}
				back, err := keywrap.UnwrapKey(kek, c)
				if err != nil || !bytes.Equal(back, p) {
					t.Fatalf("KW KEK %d, len %d: round trip %x, %v", kekLen, n, back, err)
				}
			}
		}
	}
}

// kwpSingleBlock builds a one-block KWP ciphertext with a chosen message
// length indicator and payload, to test the checks an honest wrapper never
// violates.
func kwpSingleBlock(t *testing.T, kek []byte, mli uint32, payload [8]byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(kek)
	if err != nil {
		t.Fatal(err)
	}
	var b [16]byte
	binary.BigEndian.PutUint32(b[0:4], 0xA65959A6)
	binary.BigEndian.PutUint32(b[4:8], mli)
	copy(b[8:], payload[:])
	block.Encrypt(b[:], b[:])
	return b[:]
}

func TestKeyWrapPadRejectsBadMLIAndPadding(t *testing.T) {
	kek := make([]byte, 16)
	rand.Read(kek)

	good := kwpSingleBlock(t, kek, 5, [8]byte{1, 2, 3, 4, 5})
	if p, err := keywrap.UnwrapKeyPad(kek, good); err != nil || !bytes.Equal(p, []byte{1, 2, 3, 4, 5}) {
		t.Fatalf("crafted good block: %x, %v", p, err)
	}
	for name, c := range map[string][]byte{
		"mli 0":           kwpSingleBlock(t, kek, 0, [8]byte{}),
		"mli 9":           kwpSingleBlock(t, kek, 9, [8]byte{1}),
		"mli 2^32-1":      kwpSingleBlock(t, kek, 0xffffffff, [8]byte{1}),
		"nonzero padding": kwpSingleBlock(t, kek, 5, [8]byte{1, 2, 3, 4, 5, 0, 7, 0}),
		"last pad byte":   kwpSingleBlock(t, kek, 7, [8]byte{1, 2, 3, 4, 5, 6, 7, 8}),
	} {
		if p, err := keywrap.UnwrapKeyPad(kek, c); !errors.Is(err, keywrap.ErrUnwrap) || p != nil {
			t.Errorf("%s: got %x, %v; want ErrUnwrap", name, p, err)
		}
	}
}

func TestKeyWrapRejectsBadInput(t *testing.T) {
	kek := make([]byte, 32)
	for _, n := range []int{0, 8, 15, 17, 23} {
		if _, err := keywrap.WrapKey(kek, make([]byte, n)); err == nil {
			t.Errorf("WrapKey accepted %d bytes", n)
		}
	}
	if _, err := keywrap.WrapKeyPad(kek, nil); err == nil {
		t.Error("WrapKeyPad accepted empty plaintext")
	}
	for _, n := range []int{0, 8, 15, 16, 20} {
		if _, err := keywrap.UnwrapKey(kek, make([]byte, n)); err == nil {
			t.Errorf("UnwrapKey accepted %d bytes", n)
		}
	}
	for _, n := range []int{0, 8, 15, 17} {
		if _, err := keywrap.UnwrapKeyPad(kek, make([]byte, n)); err == nil {
			t.Errorf("UnwrapKeyPad accepted %d bytes", n)
		}
	}
	for _, k := range []int{0, 15, 20, 33} {
		if _, err := keywrap.WrapKey(make([]byte, k), make([]byte, 16)); err == nil {
			t.Errorf("WrapKey accepted a %d-byte KEK", k)
		}
		if _, err := keywrap.WrapKeyPad(make([]byte, k), make([]byte, 16)); err == nil {
			t.Errorf("WrapKeyPad accepted a %d-byte KEK", k)
		}
	}
}

func BenchmarkWrapKeyPad32(b *testing.B) {
	kek, key := make([]byte, 32), make([]byte, 32)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := keywrap.WrapKeyPad(kek, key); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUnwrapKeyPad32(b *testing.B) {
	kek, key := make([]byte, 32), make([]byte, 32)
	c, _ := keywrap.WrapKeyPad(kek, key)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := keywrap.UnwrapKeyPad(kek, c); err != nil {
			b.Fatal(err)
		}
	}
}
