package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"io"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// material is an object to register, read from a file.
type material struct {
	typ    kmip.ObjectType
	format kmip.KeyFormatType // key objects
	alg    kmip.CryptographicAlgorithm
	bits   int32
	data   []byte
}

// readMaterial reads file in format (raw, pem, der or auto) as an object
// of type typ. Asymmetric keys and certificates are parsed to find their
// Key Format Type, algorithm and length.
func readMaterial(typ kmip.ObjectType, file, format string) (*material, error) {
	data, err := readInput(file, nil)
	if err != nil {
		return nil, err
	}
	label := ""
	switch format {
	case "auto":
		if bytes.HasPrefix(bytes.TrimSpace(data), []byte("-----BEGIN ")) {
			format = "pem"
		} else {
			format = "der"
		}
	case "raw", "der", "pem":
	default:
		return nil, usageErrorf("invalid --format %q: want raw, pem or der", format)
	}
	if format == "pem" {
		blk, _ := pem.Decode(data)
		if blk == nil {
			return nil, usageErrorf("%s: no PEM block", file)
		}
		data, label = blk.Bytes, blk.Type
	}
	m := &material{typ: typ, data: data}
	switch typ {
	case kmip.ObjectTypeSymmetricKey, kmip.ObjectTypeSecretData, kmip.ObjectTypeOpaqueObject:
		if len(data) == 0 {
			return nil, usageErrorf("%s is empty", file)
		}
		m.bits = int32(8 * len(data))
	case kmip.ObjectTypePrivateKey:
		err = m.privateKey(label)
	case kmip.ObjectTypePublicKey:
		err = m.publicKey(label)
	case kmip.ObjectTypeCertificate:
		var c *x509.Certificate
		if c, err = x509.ParseCertificate(data); err == nil {
			m.format = kmip.KeyFormatTypeX_509
			m.alg, m.bits = keyParams(c.PublicKey)
		}
	default:
		return nil, usageErrorf("cannot register a %s", typ)
	}
	if err != nil {
		return nil, usageErrorf("%s: %v", file, err)
	}
	return m, nil
}

func (m *material) privateKey(label string) error {
	switch label {
	case "", "PRIVATE KEY":
		if k, err := x509.ParsePKCS8PrivateKey(m.data); err == nil {
			m.format = kmip.KeyFormatTypePKCS_8
			m.alg, m.bits = keyParams(k)
			return nil
		}
	}
	switch label {
	case "", "RSA PRIVATE KEY":
		if k, err := x509.ParsePKCS1PrivateKey(m.data); err == nil {
			m.format = kmip.KeyFormatTypePKCS_1
			m.alg, m.bits = keyParams(k)
			return nil
		}
	}
	switch label {
	case "", "EC PRIVATE KEY":
		if k, err := x509.ParseECPrivateKey(m.data); err == nil {
			m.format = kmip.KeyFormatTypeECPrivateKey
			m.alg, m.bits = keyParams(k)
			return nil
		}
	}
	return fmt.Errorf("not a PKCS#8, PKCS#1 or EC private key")
}

func (m *material) publicKey(label string) error {
	switch label {
	case "", "PUBLIC KEY":
		if k, err := x509.ParsePKIXPublicKey(m.data); err == nil {
			m.format = kmip.KeyFormatTypeX_509
			m.alg, m.bits = keyParams(k)
			return nil
		}
	}
	switch label {
	case "", "RSA PUBLIC KEY":
		if k, err := x509.ParsePKCS1PublicKey(m.data); err == nil {
			m.format = kmip.KeyFormatTypePKCS_1
			m.alg, m.bits = keyParams(k)
			return nil
		}
	}
	return fmt.Errorf("not an X.509 (SubjectPublicKeyInfo) or PKCS#1 public key")
}

// keyParams returns the KMIP algorithm and length of a parsed key.
func keyParams(k any) (kmip.CryptographicAlgorithm, int32) {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return kmip.CryptographicAlgorithmRSA, int32(k.N.BitLen())
	case *rsa.PublicKey:
		return kmip.CryptographicAlgorithmRSA, int32(k.N.BitLen())
	case *ecdsa.PrivateKey:
		return kmip.CryptographicAlgorithmEC, int32(k.Curve.Params().BitSize)
	case *ecdsa.PublicKey:
		return kmip.CryptographicAlgorithmEC, int32(k.Curve.Params().BitSize)
	case ed25519.PrivateKey, ed25519.PublicKey:
		return kmip.CryptographicAlgorithmEd25519, 255
	}
	return 0, 0
}

// writeObject writes the object structure of a Register request.
func (m *material) writeObject(b *ttlv.Builder, dataType uint32) {
	keyBlock := func(format kmip.KeyFormatType) {
		b.Begin(ttlv.TagKeyBlock)
		b.AddEnum(ttlv.TagKeyFormatType, uint32(format))
		b.Begin(ttlv.TagKeyValue)
		b.AddBytes(ttlv.TagKeyMaterial, m.data)
		b.End()
		if m.alg != 0 {
			b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(m.alg))
		}
		if m.bits != 0 && m.typ != kmip.ObjectTypeSecretData {
			b.AddInt32(ttlv.TagCryptographicLength, m.bits)
		}
		b.End()
	}
	switch m.typ {
	case kmip.ObjectTypeSymmetricKey:
		b.Begin(ttlv.TagSymmetricKey)
		keyBlock(kmip.KeyFormatTypeRaw)
	case kmip.ObjectTypeSecretData:
		b.Begin(ttlv.TagSecretData)
		b.AddEnum(ttlv.TagSecretDataType, dataType)
		keyBlock(kmip.KeyFormatTypeOpaque)
	case kmip.ObjectTypeOpaqueObject:
		b.Begin(ttlv.TagOpaqueObject)
		b.AddEnum(ttlv.TagOpaqueDataType, dataType)
		b.AddBytes(ttlv.TagOpaqueDataValue, m.data)
	case kmip.ObjectTypePrivateKey:
		b.Begin(ttlv.TagPrivateKey)
		keyBlock(m.format)
	case kmip.ObjectTypePublicKey:
		b.Begin(ttlv.TagPublicKey)
		keyBlock(m.format)
	case kmip.ObjectTypeCertificate:
		b.Begin(ttlv.TagCertificate)
		b.AddEnum(ttlv.TagCertificateType, uint32(kmip.CertificateTypeX_509))
		b.AddBytes(ttlv.TagCertificateValue, m.data)
	}
	b.End()
}

// defaultUsage is the usage mask register gives each object type.
var defaultUsage = map[kmip.ObjectType]string{
	kmip.ObjectTypeSymmetricKey: "encrypt,decrypt",
	kmip.ObjectTypePrivateKey:   "sign",
	kmip.ObjectTypePublicKey:    "verify",
	kmip.ObjectTypeCertificate:  "verify",
}

// registerOptions are the flags of register.
type registerOptions struct {
	typ, file, format, alg, secretType, opaqueType string
	af                                             attrFlags
}

func newRegisterCmd() *cobra.Command {
	var o registerOptions
	cmd := &cobra.Command{
		Use:   "register",
		Short: "Register an existing key, secret, opaque object or certificate (KMIP Register)",
		Long: `Register an object read from a file (KMIP Register).

--type symmetric|secret|opaque|private|public|certificate
--format raw: the file's bytes are the key (symmetric, secret, opaque) or DER;
         der: DER (PKCS#8, PKCS#1 or SEC 1 private keys; SubjectPublicKeyInfo
              or PKCS#1 public keys; X.509 certificates);
         pem: the first PEM block; its label picks the key format;
         auto (default): pem if the file starts with -----BEGIN, else der.
Asymmetric keys and certificates are parsed for their Key Format Type,
algorithm and length. --usage defaults to encrypt,decrypt (symmetric), sign
(private), verify (public, certificate) and none otherwise.`,
		Example: `  kmipctl register --type symmetric --file aes.key --algorithm AES --name imported
  kmipctl register --type private --file key.pem --name tls-key
  kmipctl register --type certificate --file cert.pem --format pem
  kmipctl register --type secret --file password.txt --secret-type password`,
		Args: args(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRegister(cmd, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.typ, "type", "", "object type: symmetric, secret, opaque, private, public or certificate")
	f.StringVar(&o.file, "file", "", "file to read the object from")
	f.StringVar(&o.format, "format", "auto", "file format: raw, pem, der or auto")
	f.StringVar(&o.alg, "algorithm", "AES", "Cryptographic Algorithm of a symmetric key (alias --alg)")
	f.StringVar(&o.secretType, "secret-type", "password", "Secret Data Type: password or seed")
	f.StringVar(&o.opaqueType, "opaque-type", "0x80000000", "Opaque Data Type (an extension value)")
	o.af.add(f, "")
	return cmd
}

func runRegister(cmd *cobra.Command, o *registerOptions) error {
	s, err := newSession(cmd)
	if err != nil {
		return err
	}
	defer s.close()
	if o.typ == "" || o.file == "" {
		return usageErrorf("register needs --type and --file")
	}
	otv, err := parseEnum(ttlv.TagObjectType, o.typ)
	if err != nil {
		return err
	}
	ot := kmip.ObjectType(otv)
	m, err := readMaterial(ot, o.file, o.format)
	if err != nil {
		return err
	}
	var dataType uint32
	switch ot {
	case kmip.ObjectTypeSymmetricKey:
		a, err := parseEnum(ttlv.TagCryptographicAlgorithm, o.alg)
		if err != nil {
			return err
		}
		m.alg = kmip.CryptographicAlgorithm(a)
	case kmip.ObjectTypeSecretData:
		if dataType, err = parseEnum(ttlv.TagSecretDataType, o.secretType); err != nil {
			return err
		}
	case kmip.ObjectTypeOpaqueObject:
		v, err := strconv.ParseUint(o.opaqueType, 0, 32)
		if err != nil {
			return usageErrorf("invalid --opaque-type %q", o.opaqueType)
		}
		dataType = uint32(v)
	}
	if !cmd.Flags().Changed("usage") {
		o.af.usage = defaultUsage[ot]
	}
	attrs, err := o.af.attrs()
	if err != nil {
		return err
	}
	var werr error
	p, err := s.do(kmip.OperationRegister, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(ot))
		werr = writeAttrs(b, s.v2(), ttlv.TagAttributes, ttlv.TagTemplateAttribute, attrs)
		m.writeObject(b, dataType)
	})
	if werr != nil {
		return werr
	}
	if err != nil {
		return failed("register", "", err)
	}
	var id []byte
	if !p.ReadText(ttlv.TagUniqueIdentifier, &id) {
		return failed("register", "", fmt.Errorf("response lacks Unique Identifier"))
	}
	res := createdJSON{ID: string(id), ObjectType: ot.String()}
	return emit(cmd, s.opts.json, res, func(w io.Writer) {
		kv(w, "id", res.ID, "object_type", res.ObjectType)
	})
}
