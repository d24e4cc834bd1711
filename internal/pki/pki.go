// Package pki creates a small development public-key infrastructure for
// kmipd: one self-signed CA, one server certificate and any number of client
// certificates, all with ECDSA P-256 keys.
//
// It backs `kmipd init` (which writes the files with [Bundle.WriteDir]) and
// tests that need real mutual TLS. It is not meant for production PKI: there
// is no revocation, no name constraints and the CA key is written next to the
// leaf keys.
//
// All certificates and keys are PEM-encoded. Certificates use the block type
// "CERTIFICATE"; private keys are PKCS#8 ("PRIVATE KEY"). [IssueClient] also
// accepts SEC 1 ("EC PRIVATE KEY") and PKCS#1 ("RSA PRIVATE KEY") CA keys.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
	"unicode"
)

// Defaults used when the corresponding [Options] field is zero.
const (
	// DefaultLeafValidity is the lifetime of server and client certificates.
	DefaultLeafValidity = 825 * 24 * time.Hour
	// DefaultCAYears is the lifetime of the CA certificate in years. The CA
	// is extended if a longer leaf validity is requested, so that a leaf never
	// outlives its issuer.
	DefaultCAYears = 10
	// DefaultClientName is the client issued when Options.ClientNames is empty.
	DefaultClientName = "admin"
	// Organization is the subject O of every certificate this package makes.
	Organization = "kmipd dev"
)

// backdate is how far NotBefore lies before "now", to tolerate clock skew.
const backdate = time.Hour

// File modes used by [Bundle.WriteDir].
const (
	dirMode  fs.FileMode = 0o700
	keyMode  fs.FileMode = 0o600
	certMode fs.FileMode = 0o644
)

// Options for a dev PKI.
type Options struct {
	// Hosts are the DNS names and IP addresses put into the server
	// certificate's subject alternative names. Entries that parse as an IP
	// address become IP SANs, everything else a DNS SAN. Default:
	// 127.0.0.1, ::1, localhost and os.Hostname().
	Hosts []string
	// ClientNames are the subject common names of the client certificates to
	// issue. Each must be usable as a file name (see [Bundle.WriteDir]) and
	// must not be "ca", "server" or "client". Default: {"admin"}.
	ClientNames []string
	// Validity is the lifetime of the server and client certificates.
	// Default 825 days. The CA is valid for 10 years, or longer if Validity
	// needs it.
	Validity time.Duration
	// Now returns the current time; default time.Now. NotBefore of every
	// certificate is Now()-1h.
	Now func() time.Time
}

// Bundle is a generated dev PKI. All fields are PEM-encoded.
type Bundle struct {
	CACert, CAKey         []byte
	ServerCert, ServerKey []byte
	Clients               map[string]KeyPair // by subject CN

	// clientOrder is the order of Options.ClientNames, used by WriteDir to
	// pick the default client when there is no "admin".
	clientOrder []string
}

// KeyPair is a PEM-encoded certificate and its PEM-encoded PKCS#8 private key.
type KeyPair struct{ Cert, Key []byte }

// Generate creates a new CA, a server certificate for opts.Hosts and one
// client certificate per opts.ClientNames.
//
// All keys are ECDSA P-256 and all serial numbers are random 128-bit values.
// The CA has BasicConstraints CA:true with MaxPathLen 0 and key usage
// CertSign|CRLSign. The server certificate has extended key usages serverAuth
// and clientAuth; client certificates have clientAuth only.
func Generate(opts Options) (*Bundle, error) {
	now := time.Now
	if opts.Now != nil {
		now = opts.Now
	}
	t := now()

	validity := opts.Validity
	if validity == 0 {
		validity = DefaultLeafValidity
	}
	if validity < 0 {
		return nil, fmt.Errorf("pki: negative validity %v", validity)
	}

	hosts := opts.Hosts
	if len(hosts) == 0 {
		hosts = defaultHosts()
	}
	dnsNames, ips, err := splitHosts(hosts)
	if err != nil {
		return nil, err
	}

	names := opts.ClientNames
	if len(names) == 0 {
		names = []string{DefaultClientName}
	}
	seen := make(map[string]bool, len(names))
	for _, cn := range names {
		if err := checkClientName(cn); err != nil {
			return nil, err
		}
		key := strings.ToLower(cn) // file names may be case-insensitive
		if seen[key] {
			return nil, fmt.Errorf("pki: duplicate client name %q", cn)
		}
		seen[key] = true
	}

	notBefore := t.Add(-backdate)
	leafNotAfter := t.Add(validity)
	caNotAfter := t.AddDate(DefaultCAYears, 0, 0)
	if leafNotAfter.After(caNotAfter) {
		caNotAfter = leafNotAfter
	}

	// CA.
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("pki: generate CA key: %w", err)
	}
	caSerial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	caTmpl := &x509.Certificate{
		SerialNumber: caSerial,
		Subject: pkix.Name{
			Organization: []string{Organization},
			CommonName:   "kmipd dev CA",
		},
		NotBefore:             notBefore,
		NotAfter:              caNotAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("pki: create CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("pki: parse CA certificate: %w", err)
	}
	caKeyPEM, err := encodeKey(caKey)
	if err != nil {
		return nil, err
	}

	b := &Bundle{
		CACert:      encodeCert(caDER),
		CAKey:       caKeyPEM,
		Clients:     make(map[string]KeyPair, len(names)),
		clientOrder: slices.Clone(names),
	}

	// Server.
	serverCN := "kmipd"
	if len(dnsNames) > 0 {
		serverCN = dnsNames[0]
	}
	server, err := issue(caCert, caKey, &x509.Certificate{
		Subject: pkix.Name{
			Organization: []string{Organization},
			CommonName:   serverCN,
		},
		NotBefore:   notBefore,
		NotAfter:    leafNotAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:    dnsNames,
		IPAddresses: ips,
	})
	if err != nil {
		return nil, err
	}
	b.ServerCert, b.ServerKey = server.Cert, server.Key

	// Clients.
	for _, cn := range names {
		kp, err := issue(caCert, caKey, &x509.Certificate{
			Subject: pkix.Name{
				Organization: []string{Organization},
				CommonName:   cn,
			},
			NotBefore:   notBefore,
			NotAfter:    leafNotAfter,
			KeyUsage:    x509.KeyUsageDigitalSignature,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		})
		if err != nil {
			return nil, err
		}
		b.Clients[cn] = kp
	}
	return b, nil
}

// IssueClient issues a new leaf certificate with a fresh ECDSA P-256 key,
// signed by the given CA. It is meant for tests and `kmipd` admin tooling.
//
// The subject is CN=cn, O="kmipd dev" and one OU per element of ous. The
// extended key usages are eku; a nil eku means {clientAuth}, while an empty
// non-nil eku omits the extension altogether (a certificate valid for any
// purpose, as some appliances send). Pass e.g. {serverAuth} to mimic a client
// that presents a server certificate, as vCenter does.
//
// validity 0 means [DefaultLeafValidity]; NotBefore is one hour ago. NotAfter
// is capped at the CA's NotAfter.
//
// The CA key may be PKCS#8, SEC 1 or PKCS#1 PEM and must match the CA
// certificate, which must be a CA.
func IssueClient(caCertPEM, caKeyPEM []byte, cn string, ous []string, eku []x509.ExtKeyUsage, validity time.Duration) (KeyPair, error) {
	if cn == "" {
		return KeyPair{}, errors.New("pki: empty common name")
	}
	if validity < 0 {
		return KeyPair{}, fmt.Errorf("pki: negative validity %v", validity)
	}
	if validity == 0 {
		validity = DefaultLeafValidity
	}
	if eku == nil {
		eku = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	}
	caCert, err := parseCert(caCertPEM)
	if err != nil {
		return KeyPair{}, err
	}
	if !caCert.IsCA || !caCert.BasicConstraintsValid {
		return KeyPair{}, errors.New("pki: issuer certificate is not a CA")
	}
	caKey, err := parseKey(caKeyPEM)
	if err != nil {
		return KeyPair{}, err
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if pub, ok := caKey.Public().(equaler); !ok || !pub.Equal(caCert.PublicKey) {
		return KeyPair{}, errors.New("pki: CA key does not match CA certificate")
	}

	subject, err := subjectDER(cn, ous)
	if err != nil {
		return KeyPair{}, err
	}
	t := time.Now()
	notAfter := t.Add(validity)
	if notAfter.After(caCert.NotAfter) {
		notAfter = caCert.NotAfter
	}
	return issue(caCert, caKey, &x509.Certificate{
		Subject:     pkix.Name{CommonName: cn}, // informational; RawSubject wins
		RawSubject:  subject,
		NotBefore:   t.Add(-backdate),
		NotAfter:    notAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: slices.Clone(eku),
	})
}

// subjectDER encodes O=kmipd dev, then one RDN per OU (in order), then CN=cn.
// pkix.Name would put all OUs into one multi-valued RDN whose DER SET
// encoding reorders them.
func subjectDER(cn string, ous []string) ([]byte, error) {
	var (
		oidO  = asn1.ObjectIdentifier{2, 5, 4, 10}
		oidOU = asn1.ObjectIdentifier{2, 5, 4, 11}
		oidCN = asn1.ObjectIdentifier{2, 5, 4, 3}
	)
	rdns := pkix.RDNSequence{{{Type: oidO, Value: Organization}}}
	for _, ou := range ous {
		if ou == "" {
			return nil, errors.New("pki: empty organizational unit")
		}
		rdns = append(rdns, pkix.RelativeDistinguishedNameSET{{Type: oidOU, Value: ou}})
	}
	rdns = append(rdns, pkix.RelativeDistinguishedNameSET{{Type: oidCN, Value: cn}})
	der, err := asn1.Marshal(rdns)
	if err != nil {
		return nil, fmt.Errorf("pki: encode subject: %w", err)
	}
	return der, nil
}

// issue fills in the serial number and key of tmpl, signs it with caKey and
// returns the PEM-encoded result.
func issue(ca *x509.Certificate, caKey crypto.Signer, tmpl *x509.Certificate) (KeyPair, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return KeyPair{}, fmt.Errorf("pki: generate key: %w", err)
	}
	tmpl.SerialNumber, err = randomSerial()
	if err != nil {
		return KeyPair{}, err
	}
	tmpl.BasicConstraintsValid = true // CA:false, stated explicitly
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return KeyPair{}, fmt.Errorf("pki: create certificate for %q: %w", tmpl.Subject.CommonName, err)
	}
	keyPEM, err := encodeKey(key)
	if err != nil {
		return KeyPair{}, err
	}
	return KeyPair{Cert: encodeCert(der), Key: keyPEM}, nil
}

// randomSerial returns a uniformly random, non-zero 128-bit serial number.
func randomSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	for {
		n, err := rand.Int(rand.Reader, limit)
		if err != nil {
			return nil, fmt.Errorf("pki: serial number: %w", err)
		}
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func encodeKey(key crypto.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: marshal private key: %w", err)
	}
	out := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	clear(der)
	return out, nil
}

func parseCert(certPEM []byte) (*x509.Certificate, error) {
	for rest := certPEM; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return nil, errors.New("pki: no CERTIFICATE PEM block found")
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pki: parse certificate: %w", err)
		}
		return c, nil
	}
}

func parseKey(keyPEM []byte) (crypto.Signer, error) {
	for rest := keyPEM; ; {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			return nil, errors.New("pki: no private key PEM block found")
		}
		var (
			k   any
			err error
		)
		switch blk.Type {
		case "PRIVATE KEY":
			k, err = x509.ParsePKCS8PrivateKey(blk.Bytes)
		case "EC PRIVATE KEY":
			k, err = x509.ParseECPrivateKey(blk.Bytes)
		case "RSA PRIVATE KEY":
			k, err = x509.ParsePKCS1PrivateKey(blk.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("pki: parse %s: %w", strings.ToLower(blk.Type), err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("pki: unsupported private key type %T", k)
		}
		return s, nil
	}
}

// defaultHosts returns 127.0.0.1, ::1, localhost and the host name, if it is
// usable as a DNS SAN.
func defaultHosts() []string {
	hosts := []string{"127.0.0.1", "::1", "localhost"}
	if h, err := os.Hostname(); err == nil && validDNSName(h) && !strings.EqualFold(h, "localhost") {
		hosts = append(hosts, h)
	}
	return hosts
}

// splitHosts sorts hosts into DNS names and IP addresses, dropping duplicates.
func splitHosts(hosts []string) ([]string, []net.IP, error) {
	var (
		dns  []string
		ips  []net.IP
		seen = make(map[string]bool, len(hosts))
	)
	for _, h := range hosts {
		h = strings.TrimSpace(h)
		if ip := net.ParseIP(h); ip != nil {
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			if !seen[ip.String()] {
				seen[ip.String()] = true
				ips = append(ips, ip)
			}
			continue
		}
		if !validDNSName(h) {
			return nil, nil, fmt.Errorf("pki: invalid host %q", h)
		}
		h = strings.ToLower(h)
		if !seen[h] {
			seen[h] = true
			dns = append(dns, h)
		}
	}
	if len(dns) == 0 && len(ips) == 0 {
		return nil, nil, errors.New("pki: no server hosts")
	}
	return dns, ips, nil
}

// validDNSName reports whether h looks like a (possibly wildcard) DNS name:
// printable ASCII without spaces, no empty labels.
func validDNSName(h string) bool {
	if h == "" || len(h) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(h, "."), ".") {
		if label == "" || len(label) > 63 {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r == '_' || r == '*' ||
				'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9') {
				return false
			}
		}
	}
	return true
}

// reservedNames are the base names WriteDir uses for its own files.
var reservedNames = []string{"ca", "server", "client"}

// checkClientName reports whether cn can be written as <cn>.crt/<cn>.key.
func checkClientName(cn string) error {
	switch {
	case cn == "":
		return errors.New("pki: empty client name")
	case cn == "." || cn == ".." || strings.HasPrefix(cn, "."):
		return fmt.Errorf("pki: client name %q cannot start with a dot", cn)
	case strings.ContainsAny(cn, `/\:`) || filepath.Base(cn) != cn:
		return fmt.Errorf("pki: client name %q contains a path separator", cn)
	case slices.ContainsFunc(reservedNames, func(r string) bool { return strings.EqualFold(r, cn) }):
		return fmt.Errorf("pki: client name %q is reserved", cn)
	}
	for _, r := range cn {
		if !unicode.IsPrint(r) {
			return fmt.Errorf("pki: client name %q contains a non-printable character", cn)
		}
	}
	return nil
}

// defaultClient returns the client written as client.crt/client.key: "admin"
// if present, otherwise the first of Options.ClientNames, otherwise (for a
// hand-made Bundle) the lexically smallest name.
func (b *Bundle) defaultClient() (string, bool) {
	if _, ok := b.Clients[DefaultClientName]; ok {
		return DefaultClientName, true
	}
	for _, cn := range b.clientOrder {
		if _, ok := b.Clients[cn]; ok {
			return cn, true
		}
	}
	if len(b.Clients) == 0 {
		return "", false
	}
	names := make([]string, 0, len(b.Clients))
	for cn := range b.Clients {
		names = append(names, cn)
	}
	slices.Sort(names)
	return names[0], true
}

// WriteDir writes the bundle into dir:
//
//	ca.crt, ca.key             the CA
//	server.crt, server.key     the server certificate
//	client.crt, client.key     the "admin" client, or else the first client
//	<cn>.crt, <cn>.key         every client, by common name
//
// dir is created with mode 0700 if it does not exist (an existing directory
// keeps its mode). Keys are written with mode 0600 and certificates with mode
// 0644, regardless of the umask.
//
// WriteDir never overwrites: if any of the files already exists it writes
// nothing and returns an error wrapping [fs.ErrExist]. If writing fails
// midway, the files it created are removed again.
func (b *Bundle) WriteDir(dir string) error {
	type file struct {
		name string
		data []byte
		mode fs.FileMode
	}
	if len(b.CACert) == 0 || len(b.CAKey) == 0 || len(b.ServerCert) == 0 || len(b.ServerKey) == 0 {
		return errors.New("pki: incomplete bundle")
	}
	files := []file{
		{"ca.crt", b.CACert, certMode},
		{"ca.key", b.CAKey, keyMode},
		{"server.crt", b.ServerCert, certMode},
		{"server.key", b.ServerKey, keyMode},
	}
	if def, ok := b.defaultClient(); ok {
		kp := b.Clients[def]
		files = append(files, file{"client.crt", kp.Cert, certMode}, file{"client.key", kp.Key, keyMode})
	}
	names := make([]string, 0, len(b.Clients))
	for cn := range b.Clients {
		names = append(names, cn)
	}
	slices.Sort(names)
	seen := make(map[string]bool, len(names))
	for _, cn := range names {
		if err := checkClientName(cn); err != nil {
			return err
		}
		if seen[strings.ToLower(cn)] {
			return fmt.Errorf("pki: client names differ only in case: %q", cn)
		}
		seen[strings.ToLower(cn)] = true
		kp := b.Clients[cn]
		if len(kp.Cert) == 0 || len(kp.Key) == 0 {
			return fmt.Errorf("pki: client %q has no certificate or key", cn)
		}
		files = append(files, file{cn + ".crt", kp.Cert, certMode}, file{cn + ".key", kp.Key, keyMode})
	}

	if err := os.Mkdir(dir, dirMode); err == nil {
		if err := os.Chmod(dir, dirMode); err != nil { // undo any umask
			return fmt.Errorf("pki: %w", err)
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("pki: %w", err)
	} else if fi, err := os.Stat(dir); err != nil {
		return fmt.Errorf("pki: %w", err)
	} else if !fi.IsDir() {
		return fmt.Errorf("pki: %s is not a directory", dir)
	}

	// Check everything first so that a clash leaves the directory untouched;
	// O_EXCL below still catches a file that appears in between.
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if _, err := os.Lstat(p); err == nil {
			return fmt.Errorf("pki: refusing to overwrite %s: %w", p, fs.ErrExist)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("pki: %w", err)
		}
	}

	var created []string
	for _, f := range files {
		p := filepath.Join(dir, f.name)
		if err := writeNew(p, f.data, f.mode); err != nil {
			for _, c := range created {
				os.Remove(c)
			}
			return err
		}
		created = append(created, p)
	}
	return syncDir(dir)
}

// writeNew creates path exclusively with exactly the given mode and writes
// data to it durably.
func writeNew(path string, data []byte, mode fs.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("pki: refusing to overwrite %s: %w", path, err)
		}
		return fmt.Errorf("pki: %w", err)
	}
	err = f.Chmod(mode) // the umask may have cleared bits
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	return nil
}

// syncDir makes the new directory entries durable, on a best-effort basis:
// not every file system can fsync a directory.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	_ = d.Sync()
	return d.Close()
}
