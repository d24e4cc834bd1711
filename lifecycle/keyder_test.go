package lifecycle

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"testing"

	"github.com/kmipd/kmipd/internal/keyform"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
)

// TestGetDER_SameAsKeyform checks that Get's direct paths (derMaterial,
// transparentRSA) write exactly what internal/keyform's conversion writes,
// for keys whose numbers do and do not need a sign byte.
func TestGetDER_SameAsKeyform(t *testing.T) {
	formats := []kmip.KeyFormatType{kmip.KeyFormatTypePKCS_1, kmip.KeyFormatTypePKCS_8, kmip.KeyFormatTypeX_509,
		kmip.KeyFormatTypeTransparentRSAPrivateKey, kmip.KeyFormatTypeTransparentRSAPublicKey}
	direct := 0
	for range 12 {
		k, err := rsa.GenerateKey(rand.Reader, 1024)
		if err != nil {
			t.Fatal(err)
		}
		priv, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range []struct {
			obj *objects.Object
			der []byte
		}{
			{&objects.Object{Type: kmip.ObjectTypePrivateKey, KeyFormat: kmip.KeyFormatTypePKCS_8}, priv},
			{&objects.Object{Type: kmip.ObjectTypePublicKey, KeyFormat: kmip.KeyFormatTypeX_509}, pub},
		} {
			for _, f := range formats {
				want, werr := keyMaterialItem(o.obj, o.der, f)
				var got []byte
				if der, ok := derMaterial(o.obj, o.der, f); ok {
					got = kmipBytesItem(t, der)
				} else if item, ok := transparentRSA(o.obj, o.der, f, nil); ok {
					got = item
				} else {
					continue
				}
				direct++
				if werr != nil {
					t.Fatalf("%s as %s: keyform refuses (%v), the direct path serves it", o.obj.Type, f, werr)
				}
				if !bytes.Equal(got, want) {
					t.Fatalf("%s as %s:\ndirect  %x\nkeyform %x", o.obj.Type, f, got, want)
				}
			}
		}
	}
	if direct != 12*6 { // private: PKCS#1, PKCS#8, Transparent; public: PKCS#1, SPKI, Transparent
		t.Fatalf("%d conversions took the direct path, want %d", direct, 12*6)
	}
}

// kmipBytesItem encodes der as the Key Material Byte String keyform makes.
func kmipBytesItem(t *testing.T, der []byte) []byte {
	t.Helper()
	k := &keyform.Key{Private: true, DER: der}
	item, _, err := k.MaterialIn(kmip.KeyFormatTypePKCS_8)
	if err != nil {
		t.Fatal(err)
	}
	return item
}
