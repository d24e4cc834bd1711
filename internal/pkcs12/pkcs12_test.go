package pkcs12

import (
	"bytes"
	"crypto/x509"
	"encoding/asn1"
	"encoding/pem"
	"os"
	"testing"
)

// The files under testdata were made with OpenSSL 3.0:
//
//	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
//	  -keyout ca-key.pem -out ca.pem -days 36500 -subj "/CN=kmipd test CA"
//	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
//	  -keyout leaf-key.pem -out leaf.csr -subj "/CN=kmipd test leaf"
//	openssl x509 -req -in leaf.csr -CA ca.pem -CAkey ca-key.pem \
//	  -CAcreateserial -out leaf.pem -days 36500
//	openssl pkcs12 -export -inkey leaf-key.pem -in leaf.pem -certfile ca.pem \
//	  -passout pass:kmipd-test -out aes.p12
//	openssl pkcs12 -export -inkey leaf-key.pem -in leaf.pem -certfile ca.pem \
//	  -passout pass:kmipd-test -keypbe PBE-SHA1-3DES -certpbe PBE-SHA1-3DES \
//	  -macalg sha1 -out 3des.p12
//
// (ca-key.pem is not kept.) aes.p12 is OpenSSL 3's default PFX (PBES2,
// AES-256-CBC, PBKDF2-HMAC-SHA-256, SHA-256 MAC); 3des.p12 the legacy
// PKCS#12 PBE with a SHA-1 MAC that older tools write.
const password = "kmipd-test"

func pemBlock(t *testing.T, name string) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(raw)
	if b == nil {
		t.Fatalf("%s: no PEM block", name)
	}
	return b.Bytes
}

// Both OpenSSL files give the key of leaf-key.pem and the chain leaf, CA;
// a wrong password opens neither.
func TestDecode_OpenSSL(t *testing.T) {
	key, leaf, ca := pemBlock(t, "leaf-key.pem"), pemBlock(t, "leaf.pem"), pemBlock(t, "ca.pem")
	for _, name := range []string{"aes.p12", "3des.p12"} {
		pfx, err := os.ReadFile("testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		gotKey, certs, err := Decode(pfx, password)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(gotKey, key) {
			t.Fatalf("%s: key %x, want %x", name, gotKey, key)
		}
		if len(certs) != 2 || !bytes.Equal(certs[0].Raw, leaf) || !bytes.Equal(certs[1].Raw, ca) {
			t.Fatalf("%s: %d certificates, not leaf then CA", name, len(certs))
		}
		if _, _, err := Decode(pfx, "wrong"); err == nil {
			t.Fatalf("%s opened with a wrong password", name)
		}
	}
	if _, _, err := Decode([]byte("not a PFX"), password); err == nil {
		t.Fatal("decoded garbage")
	}
}

// Encode makes a PFX that decodes to what went in, protected by PBES2 with
// AES-256-CBC and PBKDF2 (their identifiers: RFC 8018 §A.4, §B.2.5;
// NIST CSOR for id-aes256-CBC), with fresh randomness each time.
func TestEncode_RoundTrip(t *testing.T) {
	key := pemBlock(t, "leaf-key.pem")
	var chain []*x509.Certificate
	for _, name := range []string{"leaf.pem", "ca.pem"} {
		c, err := x509.ParseCertificate(pemBlock(t, name))
		if err != nil {
			t.Fatal(err)
		}
		chain = append(chain, c)
	}
	pfx, err := Encode(key, chain, password)
	if err != nil {
		t.Fatal(err)
	}
	for _, oid := range []asn1.ObjectIdentifier{
		{1, 2, 840, 113549, 1, 5, 13},     // id-PBES2
		{1, 2, 840, 113549, 1, 5, 12},     // id-PBKDF2
		{2, 16, 840, 1, 101, 3, 4, 1, 42}, // id-aes256-CBC
		{1, 2, 840, 113549, 2, 9},         // hmacWithSHA256
	} {
		der, _ := asn1.Marshal(oid)
		if !bytes.Contains(pfx, der) {
			t.Fatalf("the PFX does not use %v", oid)
		}
	}
	gotKey, certs, err := Decode(pfx, password)
	if err != nil || !bytes.Equal(gotKey, key) || len(certs) != 2 || !certs[0].Equal(chain[0]) || !certs[1].Equal(chain[1]) {
		t.Fatalf("round trip: %v", err)
	}
	again, err := Encode(key, chain, password)
	if err != nil || bytes.Equal(again, pfx) {
		t.Fatalf("a second encoding is the same: %v", err)
	}
	if _, err := Encode([]byte("not a key"), chain, password); err == nil {
		t.Fatal("encoded a malformed key")
	}
}
