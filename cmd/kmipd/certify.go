package main

import (
	"crypto/x509"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/kmipd/kmipd/internal/pki"
	"github.com/kmipd/kmipd/lifecycle"
)

// certifyConfig is the certify: section: kmipd as a certificate authority
// for the KMIP Certify and Re-certify operations (lifecycle.CertifyPolicy).
// Off by default; Query lists the two operations only when it is on.
type certifyConfig struct {
	Enabled bool `yaml:"enabled"`
	// CACert and CAKey are the CA's PEM certificate and private key
	// (default: the dev CA of `kmipd init`, pki/ca.crt and pki/ca.key).
	// A CA key held in an HSM is not supported.
	CACert string `yaml:"ca_cert,omitempty"`
	CAKey  string `yaml:"ca_key,omitempty"`
	// Certifiers are the identities that may certify (default: the
	// admins). A listed identity that is not an admin may certify only its
	// own name.
	Certifiers []string `yaml:"certifiers,omitempty"`
	// KeyUsages an issued certificate may carry (default
	// digital_signature, key_encipherment, key_agreement).
	KeyUsages []string `yaml:"key_usages,omitempty"`
	// ExtKeyUsages put into every issued certificate (default
	// client_auth).
	ExtKeyUsages []string `yaml:"ext_key_usages,omitempty"`
	// MaxLifetime bounds an issued certificate's validity and is the
	// validity of one that asks for none (default 8760h, a year).
	MaxLifetime Duration `yaml:"max_lifetime,omitempty"`
}

// Defaults of the certify: section.
var (
	defaultCertifyCACert   = "pki/ca.crt"
	defaultCertifyCAKey    = "pki/ca.key"
	defaultCertifyUsages   = []string{"digital_signature", "key_encipherment", "key_agreement"}
	defaultCertifyExtUsage = []string{"client_auth"}
	defaultCertifyLifetime = 365 * 24 * time.Hour
)

var keyUsageNames = map[string]x509.KeyUsage{
	"digital_signature":  x509.KeyUsageDigitalSignature,
	"content_commitment": x509.KeyUsageContentCommitment,
	"key_encipherment":   x509.KeyUsageKeyEncipherment,
	"data_encipherment":  x509.KeyUsageDataEncipherment,
	"key_agreement":      x509.KeyUsageKeyAgreement,
	"cert_sign":          x509.KeyUsageCertSign,
	"crl_sign":           x509.KeyUsageCRLSign,
}

var extKeyUsageNames = map[string]x509.ExtKeyUsage{
	"client_auth":      x509.ExtKeyUsageClientAuth,
	"server_auth":      x509.ExtKeyUsageServerAuth,
	"code_signing":     x509.ExtKeyUsageCodeSigning,
	"email_protection": x509.ExtKeyUsageEmailProtection,
}

func orDefault[T any](v, def []T) []T {
	if len(v) == 0 {
		return def
	}
	return v
}

// validateCertify checks the names and lifetime of the certify: section
// (the CA files are read by serve).
func (c *Config) validateCertify() []error {
	var errs []error
	cc := &c.Certify
	for _, u := range cc.KeyUsages {
		if _, ok := keyUsageNames[u]; !ok {
			errs = append(errs, fmt.Errorf("certify.key_usages %q: want one of %s", u, strings.Join(slices.Sorted(maps.Keys(keyUsageNames)), ", ")))
		}
	}
	for _, u := range cc.ExtKeyUsages {
		if _, ok := extKeyUsageNames[u]; !ok {
			errs = append(errs, fmt.Errorf("certify.ext_key_usages %q: want one of %s", u, strings.Join(slices.Sorted(maps.Keys(extKeyUsageNames)), ", ")))
		}
	}
	if cc.MaxLifetime < 0 {
		errs = append(errs, fmt.Errorf("certify.max_lifetime %v: want a positive duration", time.Duration(cc.MaxLifetime)))
	}
	return errs
}

// certifyPolicy loads the CA of the certify: section; nil when it is off.
func (c *Config) certifyPolicy() (*lifecycle.CertifyPolicy, error) {
	cc := &c.Certify
	if !cc.Enabled {
		return nil, nil
	}
	certPath := c.path(orDefaultStr(cc.CACert, defaultCertifyCACert))
	keyPath := c.path(orDefaultStr(cc.CAKey, defaultCertifyCAKey))
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("certify CA certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("certify CA key: %w", err)
	}
	caCert, caKey, err := pki.LoadCA(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("certify CA %s, %s: %w", certPath, keyPath, err)
	}
	p := &lifecycle.CertifyPolicy{CACert: caCert, CAKey: caKey, Certifiers: cc.Certifiers, MaxLifetime: time.Duration(cc.MaxLifetime)}
	if p.MaxLifetime == 0 {
		p.MaxLifetime = defaultCertifyLifetime
	}
	for _, u := range orDefault(cc.KeyUsages, defaultCertifyUsages) {
		p.KeyUsage |= keyUsageNames[u]
	}
	for _, u := range orDefault(cc.ExtKeyUsages, defaultCertifyExtUsage) {
		p.ExtKeyUsage = append(p.ExtKeyUsage, extKeyUsageNames[u])
	}
	if p.KeyUsage == 0 || len(p.ExtKeyUsage) == 0 {
		return nil, errors.New("certify: no key usages")
	}
	return p, nil
}

func orDefaultStr(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// checkCertify is config check's part for the certify: section: the CA
// loads, its key file is private, and tls.ca (pool) trusts it, without
// which the client certificates it issues cannot connect.
func (c *checker) checkCertify(cfg *Config, pool *x509.CertPool) {
	if !cfg.Certify.Enabled {
		return
	}
	p, err := cfg.certifyPolicy()
	if err != nil {
		c.fail("%v", err)
		return
	}
	c.checkPrivateFile("certify.ca_key", cfg.path(orDefaultStr(cfg.Certify.CAKey, defaultCertifyCAKey)), true)
	if pool == nil {
		return
	}
	if _, err := p.CACert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		c.warn("certify CA %q is not trusted by tls.ca: the client certificates it issues cannot connect", p.CACert.Subject)
		return
	}
	c.ok("certify CA %q, certificates of at most %s", p.CACert.Subject, p.MaxLifetime)
}
