package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/ttlv"
)

// enableCertify appends a certify: section to DIR/kmipd.yaml.
func enableCertify(t *testing.T, dir, section string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, ConfigFile), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString("certify:\n  enabled: true\n" + section); err != nil {
		t.Fatal(err)
	}
}

// queryOps returns the operations Query lists.
func queryOps(t *testing.T, c *kmip.Client) []kmip.Operation {
	t.Helper()
	_, it, err := c.Do(kmip.OperationQuery, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagQueryFunction, uint32(kmip.QueryFunctionQueryOperations))
	})
	if err != nil {
		t.Fatal(err)
	}
	var ops []kmip.Operation
	p := it.Payload
	for !p.Empty() {
		x, _ := p.Next()
		if x.Tag == ttlv.TagOperation {
			ops = append(ops, kmip.Operation(x.Uint32()))
		}
	}
	return ops
}

// With certify enabled on the dev CA of `kmipd init`, kmipd serve lists and
// serves Certify: a certificate it issues for a PKCS#10 request connects
// and gets the identity of its CN (Who Am I); it validates as Valid.
// Without the section, Certify is neither listed nor served.
func TestServe_CertifyIssuesClientCertificates(t *testing.T) {
	clearKMIPDEnv(t)
	plain := initDir(t)
	p := startServer(t, plain, nil)
	c := dialKMIP(t, plain, p.addr)
	if slices.Contains(queryOps(t, c), kmip.OperationCertify) {
		t.Error("Query lists Certify without a certify: section")
	}
	if !slices.Contains(queryOps(t, c), kmip.OperationValidate) {
		t.Error("Query does not list Validate")
	}
	p.stop(t)

	dir := initDir(t)
	enableCertify(t, dir, "  max_lifetime: 240h\n")
	p = startServer(t, dir, nil)
	c = dialKMIP(t, dir, p.addr)
	ops := queryOps(t, c)
	if !slices.Contains(ops, kmip.OperationCertify) || !slices.Contains(ops, kmip.OperationReCertify) {
		t.Errorf("Query lists %v, without Certify and Re-certify", ops)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "robot-1"}}, key)
	if err != nil {
		t.Fatal(err)
	}
	_, it, err := c.Do(kmip.OperationCertify, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagCertificateRequestType, uint32(kmip.CertificateRequestTypePKCS_10))
		b.AddBytes(ttlv.TagCertificateRequestValue, csr)
	})
	if err != nil {
		t.Fatalf("Certify: %v", err)
	}
	var idb []byte
	if pl := it.Payload; !pl.ReadText(ttlv.TagUniqueIdentifier, &idb) {
		t.Fatalf("Certify response %s", ttlv.Format(it.Payload))
	}
	id := string(idb)
	_, it, err = c.Do(kmip.OperationGet, byID(id))
	if err != nil {
		t.Fatal(err)
	}
	obj, _ := it.Payload.Find(ttlv.TagCertificate)
	val, _ := obj.Children().Find(ttlv.TagCertificateValue)
	cert, err := x509.ParseCertificate(val.Data)
	if err != nil {
		t.Fatal(err)
	}
	if life := cert.NotAfter.Sub(cert.NotBefore); life > 241*time.Hour {
		t.Errorf("lifetime %s beyond certify.max_lifetime", life)
	}
	cfg := clientTLS(t, dir)
	cfg.Certificates = []tls.Certificate{{Certificate: [][]byte{cert.Raw}, PrivateKey: key}}
	rc, err := kmip.Dial(p.addr, cfg)
	if err != nil {
		t.Fatalf("dial with the issued certificate: %v", err)
	}
	defer rc.Close()
	rc.Version = kmip.V2_0
	_, it, err = rc.Do(lifecycle.OperationWhoAmI, nil)
	if err != nil {
		t.Fatal(err)
	}
	var name []byte
	pl := it.Payload
	if !pl.ReadText(lifecycle.TagWhoAmIIdentity, &name) || string(name) != "robot-1" {
		t.Errorf("issued certificate connects as %q, want robot-1", name)
	}
	_, it, err = c.Do(kmip.OperationValidate, byID(id))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := it.Payload.Find(ttlv.TagValidityIndicator); !ok || kmip.ValidityIndicator(v.Uint32()) != kmip.ValidityIndicatorValid {
		t.Errorf("Validate: %s", ttlv.Format(it.Payload))
	}
}

// The certify: section's names are checked, and a CA key that does not
// match its certificate stops serve.
func TestConfig_Certify(t *testing.T) {
	clearKMIPDEnv(t)
	dir := initDir(t)
	enableCertify(t, dir, "  key_usages: [digital_signature, bogus]\n  ext_key_usages: [nope]\n")
	_, err := loadConfig(dir)
	if err == nil || !strings.Contains(err.Error(), "certify.key_usages \"bogus\"") || !strings.Contains(err.Error(), "certify.ext_key_usages \"nope\"") {
		t.Errorf("loadConfig: %v", err)
	}
	dir = initDir(t)
	enableCertify(t, dir, "  ca_key: pki/server.key\n")
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cfg.certifyPolicy(); err == nil || !strings.Contains(err.Error(), "does not match") {
		t.Errorf("certifyPolicy with the server key: %v", err)
	}
}

// config check reports the certify CA: ok for the dev CA, a warning for a
// CA that tls.ca does not trust, a failure for one that does not load.
func TestConfigCheck_Certify(t *testing.T) {
	clearKMIPDEnv(t)
	dir := initDir(t)
	enableCertify(t, dir, "")
	out, err := runCLI("config", "check", "--dir", dir)
	if err != nil || !strings.Contains(out, "ok    certify CA") {
		t.Errorf("dev CA: %v\n%s", err, out)
	}
	other := initDir(t)
	dir = initDir(t)
	enableCertify(t, dir, "  ca_cert: "+filepath.Join(other, "pki", "ca.crt")+"\n  ca_key: "+filepath.Join(other, "pki", "ca.key")+"\n")
	out, _ = runCLI("config", "check", "--dir", dir)
	if !strings.Contains(out, "WARN  certify CA") {
		t.Errorf("foreign CA:\n%s", out)
	}
	dir = initDir(t)
	enableCertify(t, dir, "  ca_key: pki/server.key\n")
	out, err = runCLI("config", "check", "--dir", dir)
	if err == nil || !strings.Contains(out, "FAIL  certify CA") {
		t.Errorf("mismatched key: %v\n%s", err, out)
	}
}
