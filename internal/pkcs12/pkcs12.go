// Package pkcs12 puts a private key and its certificate chain into a
// PKCS#12 PFX (RFC 7292) and takes them out of one.
//
// The encoding is software.sslmate.com/src/go-pkcs12, a maintained library
// that reads the PFX files of common tools (PBES2 and the legacy PKCS#12
// PBE schemes) and writes modern ones: PBES2 with AES-256-CBC and
// PBKDF2-HMAC-SHA-256, a SHA-256 MAC. Its salts and IVs are random, so the
// output differs on every call.
package pkcs12

import (
	"crypto/rand"
	"crypto/x509"

	gopkcs12 "software.sslmate.com/src/go-pkcs12"

	"github.com/kmipd/kmipd/kmip"
)

// Encode returns the private key key (PKCS#8 DER) and its certificate
// chain (end-entity first, at least one) as a PFX encrypted under password.
// A key Go cannot use fails with Key Format Type Not Supported.
func Encode(key []byte, chain []*x509.Certificate, password string) ([]byte, error) {
	k, err := x509.ParsePKCS8PrivateKey(key)
	if err != nil {
		return nil, kmip.Errorf(kmip.ResultReasonKeyFormatTypeNotSupported, "this private key cannot be put in a PKCS#12: %v", err)
	}
	pfx, err := gopkcs12.Modern.WithRand(rand.Reader).Encode(k, chain[0], chain[1:], password)
	if err != nil {
		return nil, kmip.Errorf(kmip.ResultReasonKeyFormatTypeNotSupported, "PKCS#12 encoding: %v", err)
	}
	return pfx, nil
}

// Decode takes the private key, as PKCS#8 DER (clear it after use), and
// the certificates, end-entity first, out of a PFX encrypted under
// password. A PFX that does not open fails with Invalid Field.
func Decode(pfx []byte, password string) (key []byte, certs []*x509.Certificate, err error) {
	priv, leaf, cas, err := gopkcs12.DecodeChain(pfx, password)
	if err != nil {
		return nil, nil, kmip.Errorf(kmip.ResultReasonInvalidField, "PKCS#12: %v", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, kmip.Errorf(kmip.ResultReasonKeyFormatTypeNotSupported, "PKCS#12 private key: %v", err)
	}
	return der, append([]*x509.Certificate{leaf}, cas...), nil
}
