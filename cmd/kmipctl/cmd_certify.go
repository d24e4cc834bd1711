package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// certifyJSON is what certify and issue-client-cert print with -o json.
type certifyJSON struct {
	ID          string `json:"id"`
	Subject     string `json:"subject"`
	NotAfter    string `json:"not_after"`
	Certificate string `json:"certificate,omitempty"` // PEM, when not written to a file
	CertFile    string `json:"cert_file,omitempty"`
	KeyFile     string `json:"key_file,omitempty"`
}

type certifyOptions struct {
	csr      string
	out      string
	cn       string
	lifetime time.Duration
}

func newCertifyCmd() *cobra.Command {
	var o certifyOptions
	cmd := &cobra.Command{
		Use:   "certify [PUBLIC-KEY-ID] [--csr FILE]",
		Short: "Have the server issue a certificate (KMIP Certify)",
		Long: `Have the server, acting as a certificate authority, issue an X.509 certificate
(KMIP Certify) for a PKCS#10 request (--csr, PEM or DER; "-" reads standard
input) or for a public key it holds (PUBLIC-KEY-ID). The certificate is
registered on the server and printed as PEM, or written to --out.
--cn sets the subject CN; --lifetime asks for a validity (the server's
certify policy bounds it).`,
		Example: `  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout app.key -subj /CN=app -out app.csr
  kmipctl certify --csr app.csr --out app.crt
  kmipctl certify 7d0e... --cn device-7 --lifetime 720h`,
		Args: args(0, 1, "PUBLIC-KEY-ID"),
		RunE: func(cmd *cobra.Command, a []string) error {
			return runCertify(cmd, &o, a)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.csr, "csr", "", "PKCS#10 certificate request file (PEM or DER; - for standard input)")
	f.StringVar(&o.out, "out", "", "write the certificate (PEM) to this file instead of printing it")
	f.StringVar(&o.cn, "cn", "", "subject CN of the certificate (Certificate Subject CN)")
	f.DurationVar(&o.lifetime, "lifetime", 0, "validity asked for (Deactivation Date now + this); default: the server's")
	return cmd
}

func runCertify(cmd *cobra.Command, o *certifyOptions, a []string) error {
	if (o.csr == "") == (len(a) == 0) {
		return usageErrorf("give either a PUBLIC-KEY-ID or --csr FILE")
	}
	var csr []byte
	if o.csr != "" {
		data, err := readInput(o.csr, cmd.InOrStdin())
		if err != nil {
			return err
		}
		if csr, err = csrDER(data); err != nil {
			return usageErrorf("%s: %v", o.csr, err)
		}
	}
	s, err := newSession(cmd)
	if err != nil {
		return err
	}
	defer s.close()
	pubID := ""
	if len(a) == 1 {
		pubID = a[0]
	}
	id, cert, err := certifyOn(s, pubID, csr, o.cn, o.lifetime)
	if err != nil {
		return err
	}
	res := certifyJSON{ID: id, Subject: cert.Subject.String(), NotAfter: cert.NotAfter.UTC().Format(time.RFC3339)}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	if o.out != "" {
		if err := os.WriteFile(o.out, certPEM, 0o644); err != nil {
			return err
		}
		res.CertFile = o.out
	} else {
		res.Certificate = string(certPEM)
	}
	return emit(cmd, s.opts.json, res, func(w io.Writer) {
		kv(w, "id", res.ID, "subject", res.Subject, "not_after", res.NotAfter)
		if res.CertFile != "" {
			kv(w, "cert_file", res.CertFile)
		} else {
			fmt.Fprint(w, res.Certificate)
		}
	})
}

// csrDER returns the DER of a PKCS#10 request given as PEM or DER.
func csrDER(data []byte) ([]byte, error) {
	if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN ")) {
		blk, _ := pem.Decode(data)
		if blk == nil || (blk.Type != "CERTIFICATE REQUEST" && blk.Type != "NEW CERTIFICATE REQUEST") {
			return nil, errors.New("no CERTIFICATE REQUEST PEM block")
		}
		data = blk.Bytes
	}
	if _, err := x509.ParseCertificateRequest(data); err != nil {
		return nil, err
	}
	return data, nil
}

// certifyOn runs Certify for a public key (pubID) or a PKCS#10 request,
// then Get of the new certificate.
func certifyOn(s *session, pubID string, csr []byte, cn string, lifetime time.Duration) (string, *x509.Certificate, error) {
	var attrs []attribute
	if cn != "" {
		at, err := parseAttr("CertificateSubjectCN", cn)
		if err != nil {
			return "", nil, err
		}
		attrs = append(attrs, at)
	}
	if lifetime < 0 {
		return "", nil, usageErrorf("--lifetime must not be negative")
	}
	if lifetime > 0 {
		at, err := parseAttr("DeactivationDate", time.Now().Add(lifetime).UTC().Format(time.RFC3339))
		if err != nil {
			return "", nil, err
		}
		attrs = append(attrs, at)
	}
	var werr error
	p, err := s.do(kmip.OperationCertify, func(b *ttlv.Builder) {
		if pubID != "" {
			b.AddText(ttlv.TagUniqueIdentifier, pubID)
		}
		if s.v2() && len(attrs) > 0 {
			werr = writeAttrs(b, true, ttlv.TagAttributes, ttlv.TagTemplateAttribute, attrs)
		}
		if csr != nil {
			b.AddEnum(ttlv.TagCertificateRequestType, uint32(kmip.CertificateRequestTypePKCS_10))
			if s.v2() {
				b.AddBytes(ttlv.TagCertificateRequestValue, csr)
			} else {
				b.AddBytes(ttlv.TagCertificateRequest, csr)
			}
		}
		if !s.v2() && len(attrs) > 0 {
			werr = writeAttrs(b, false, ttlv.TagAttributes, ttlv.TagTemplateAttribute, attrs)
		}
	})
	if werr != nil {
		return "", nil, werr
	}
	if err != nil {
		return "", nil, failed("certify", pubID, err)
	}
	var id []byte
	if !p.ReadText(ttlv.TagUniqueIdentifier, &id) {
		return "", nil, failed("certify", pubID, errors.New("response lacks Unique Identifier"))
	}
	gp, err := s.do(kmip.OperationGet, func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, string(id)) })
	if err != nil {
		return "", nil, failed("get", string(id), err)
	}
	obj, err := readObject(gp, nil)
	if err != nil {
		return "", nil, failed("get", string(id), err)
	}
	cert, err := x509.ParseCertificate(obj.Material)
	if err != nil {
		return "", nil, failed("get", string(id), fmt.Errorf("certificate: %w", err))
	}
	return string(id), cert, nil
}

type issueOptions struct {
	name     string
	out      string
	alg      string
	lifetime time.Duration
}

func newIssueClientCertCmd() *cobra.Command {
	var o issueOptions
	cmd := &cobra.Command{
		Use:   "issue-client-cert --name NAME --out DIR",
		Short: "Make a key pair here and have the server certify it as a client certificate",
		Long: `Generate a key pair locally (the private key never leaves this machine), build
a PKCS#10 request with subject CN=NAME and have the server certify it (KMIP
Certify). Writes DIR/NAME.crt and DIR/NAME.key (PKCS#8, mode 0600); it never
overwrites. With the server's default identity source (the CN), the
certificate connects as identity NAME.`,
		Example: `  kmipctl issue-client-cert --name backup-agent --out ./pki
  kmipctl --cert pki/backup-agent.crt --key pki/backup-agent.key query`,
		Args: args(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runIssueClientCert(cmd, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.name, "name", "", "subject CN of the client certificate (and the files' base name)")
	f.StringVar(&o.out, "out", ".", "directory to write NAME.crt and NAME.key into")
	f.StringVar(&o.alg, "key-type", "ec", "key type: ec (P-256) or rsa (3072 bits)")
	f.DurationVar(&o.lifetime, "lifetime", 0, "validity asked for; default: the server's")
	_ = cmd.MarkFlagRequired("name")
	return cmd
}

func runIssueClientCert(cmd *cobra.Command, o *issueOptions) error {
	if o.name == "" || o.name != filepath.Base(o.name) || o.name == "." || o.name == ".." {
		return usageErrorf("--name %q: want a name usable as a file name", o.name)
	}
	certFile, keyFile := filepath.Join(o.out, o.name+".crt"), filepath.Join(o.out, o.name+".key")
	for _, p := range []string{certFile, keyFile} {
		if _, err := os.Stat(p); err == nil {
			return usageErrorf("%s exists: %v", p, fs.ErrExist)
		}
	}
	var key crypto.Signer
	var err error
	switch o.alg {
	case "ec":
		key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case "rsa":
		key, err = rsa.GenerateKey(rand.Reader, 3072)
	default:
		return usageErrorf("invalid --key-type %q: want ec or rsa", o.alg)
	}
	if err != nil {
		return err
	}
	csr, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: o.name}}, key)
	if err != nil {
		return err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return err
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	clear(keyDER)
	s, err := newSession(cmd)
	if err != nil {
		return err
	}
	defer s.close()
	id, cert, err := certifyOn(s, "", csr, "", o.lifetime)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.out, 0o700); err != nil {
		return err
	}
	if err := writeNew(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeNew(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}), 0o644); err != nil {
		os.Remove(keyFile)
		return err
	}
	res := certifyJSON{ID: id, Subject: cert.Subject.String(), NotAfter: cert.NotAfter.UTC().Format(time.RFC3339), CertFile: certFile, KeyFile: keyFile}
	return emit(cmd, s.opts.json, res, func(w io.Writer) {
		kv(w, "id", res.ID, "subject", res.Subject, "not_after", res.NotAfter, "cert_file", res.CertFile, "key_file", res.KeyFile)
	})
}

// writeNew writes a file that must not exist yet.
func writeNew(name string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(name)
		return err
	}
	return f.Close()
}
