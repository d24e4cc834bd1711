package hsm_test

import (
	"errors"
	"testing"

	"github.com/kmipd/kmipd/hsm"
)

func TestBlobKind(t *testing.T) {
	blob := hsm.AppendHeader(nil, hsm.Header{Kind: hsm.KindPKCS11Wrap, KeyVersion: 0x01020304})
	h, err := hsm.BlobKind(append(blob, 1, 2, 3))
	if err != nil || h.Kind != hsm.KindPKCS11Wrap || h.KeyVersion != 0x01020304 {
		t.Fatalf("BlobKind = %+v, %v", h, err)
	}
	for _, bad := range [][]byte{nil, blob[:5], {0xA2, 1, 0, 0, 0, 1}, {hsm.FormatV1, 1, 0, 0, 0, 0}} {
		if _, err := hsm.BlobKind(bad); !errors.Is(err, hsm.ErrBlobCorrupt) {
			t.Errorf("BlobKind(% x): %v, want ErrBlobCorrupt", bad, err)
		}
	}
}
