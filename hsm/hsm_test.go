package hsm_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/kmipd/kmipd/hsm"
)

func TestBlobFraming(t *testing.T) {
	h := hsm.Header{Kind: hsm.KindPKCS11, KeyVersion: 0x01020304}
	blob := hsm.AppendHeader(nil, h)
	if !bytes.Equal(blob, []byte{0xA1, 0x02, 0x01, 0x02, 0x03, 0x04}) || len(blob) != hsm.HeaderSize {
		t.Fatalf("header bytes %x", blob)
	}
	nonce := bytes.Repeat([]byte{0x11}, hsm.NonceSize)
	sealed := bytes.Repeat([]byte{0x22}, 5+hsm.TagSize)
	blob = append(append(blob, nonce...), sealed...)

	got, n, s, err := hsm.ParseBlob(blob)
	if err != nil {
		t.Fatal(err)
	}
	if got != h || !bytes.Equal(n, nonce) || !bytes.Equal(s, sealed) {
		t.Errorf("ParseBlob = %+v %x %x", got, n, s)
	}

	bad := map[string][]byte{
		"empty":     nil,
		"too short": blob[:hsm.Overhead-1],
		"format":    append([]byte{0xA2}, blob[1:]...),
		"version 0": append(hsm.AppendHeader(nil, hsm.Header{Kind: hsm.KindSoftware}), blob[hsm.HeaderSize:]...),
	}
	for name, b := range bad {
		if _, _, _, err := hsm.ParseBlob(b); !errors.Is(err, hsm.ErrBlobCorrupt) {
			t.Errorf("%s: %v, want ErrBlobCorrupt", name, err)
		}
	}
	// Minimal blob: empty plaintext.
	if _, _, s, err := hsm.ParseBlob(blob[:hsm.Overhead]); err != nil || len(s) != hsm.TagSize {
		t.Errorf("minimal blob: %d bytes sealed, %v", len(s), err)
	}
}

func TestAADAndKind(t *testing.T) {
	if got := string(hsm.AppendAAD([]byte("x"), "uid-1")); got != "xkmipd/v1/uid-1" {
		t.Errorf("AppendAAD = %q", got)
	}
	for k, want := range map[hsm.Kind]string{
		hsm.KindSoftware: "software",
		hsm.KindPKCS11:   "pkcs11",
		hsm.Kind(0x7f):   "kind(0x7f)",
	} {
		if k.String() != want {
			t.Errorf("Kind(%d).String() = %q, want %q", k, k.String(), want)
		}
	}
	for _, e := range []error{hsm.ErrUnavailable, hsm.ErrBlobCorrupt, hsm.ErrKeyVersion} {
		for _, f := range []error{hsm.ErrUnavailable, hsm.ErrBlobCorrupt, hsm.ErrKeyVersion} {
			if (e == f) != errors.Is(e, f) {
				t.Errorf("sentinels %v and %v are not distinct", e, f)
			}
		}
	}
}
