package pki

import (
	"crypto"
	"crypto/x509"
	"errors"
)

// LoadCA parses a PEM CA certificate and its PEM private key (PKCS#8, SEC 1
// or PKCS#1), as kmipd's Certify operation signs with them. The certificate
// must be a CA and the key must match it.
func LoadCA(certPEM, keyPEM []byte) (*x509.Certificate, crypto.Signer, error) {
	cert, err := parseCert(certPEM)
	if err != nil {
		return nil, nil, err
	}
	if !cert.IsCA || !cert.BasicConstraintsValid {
		return nil, nil, errors.New("pki: issuer certificate is not a CA")
	}
	key, err := parseKey(keyPEM)
	if err != nil {
		return nil, nil, err
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := key.Public().(equaler); !ok || !pub.Equal(cert.PublicKey) {
		return nil, nil, errors.New("pki: CA key does not match CA certificate")
	}
	return cert, key, nil
}
