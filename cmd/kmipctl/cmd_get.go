package main

import (
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// object is a managed object as Get (or Export) returns it.
type object struct {
	ID         string
	Type       kmip.ObjectType
	Format     kmip.KeyFormatType // key objects
	Alg        kmip.CryptographicAlgorithm
	Bits       int32
	Material   []byte // key material, opaque data or certificate value
	Structured []byte // Key Material that is a Structure (transparent keys), encoded
	DataType   uint32 // Secret Data Type, Opaque Data Type
	CertType   kmip.CertificateType
	Wrapped    bool // Key Value is wrapped: Material is the wrapped bytes
	Item       []byte
}

// readObject reads the Object Type, Unique Identifier and object of a Get
// or Export response payload; attrs receives the Attributes of Export.
func readObject(p ttlv.Value, attrs *[]attribute) (*object, error) {
	o := &object{}
	for !p.Empty() {
		it, ok := p.Next()
		if !ok {
			return nil, fmt.Errorf("malformed response payload")
		}
		switch {
		case it.Tag == ttlv.TagObjectType:
			o.Type = kmip.ObjectType(it.Uint32())
		case it.Tag == ttlv.TagUniqueIdentifier:
			o.ID = string(it.Data)
		case it.Tag == ttlv.TagAttributes && attrs != nil:
			a, err := readAttrs2(it.Children())
			if err != nil {
				return nil, err
			}
			*attrs = a
		case it.Type == ttlv.TypeStructure && o.Item == nil:
			o.Item = append([]byte(nil), it.Raw...)
			if err := o.readBody(it); err != nil {
				return nil, err
			}
		}
	}
	if o.Item == nil {
		return nil, fmt.Errorf("response has no object")
	}
	return o, nil
}

func (o *object) readBody(it ttlv.Item) error {
	c := it.Children()
	for !c.Empty() {
		f, ok := c.Next()
		if !ok {
			return fmt.Errorf("malformed %s", it.Tag)
		}
		switch f.Tag {
		case ttlv.TagKeyBlock:
			if err := o.readKeyBlock(f.Children()); err != nil {
				return err
			}
		case ttlv.TagSecretDataType, ttlv.TagOpaqueDataType:
			o.DataType = f.Uint32()
		case ttlv.TagOpaqueDataValue, ttlv.TagCertificateValue:
			o.Material = append([]byte(nil), f.Data...)
		case ttlv.TagCertificateType:
			o.CertType = kmip.CertificateType(f.Uint32())
		}
	}
	return nil
}

func (o *object) readKeyBlock(kb ttlv.Value) error {
	for !kb.Empty() {
		f, ok := kb.Next()
		if !ok {
			return fmt.Errorf("malformed Key Block")
		}
		switch f.Tag {
		case ttlv.TagKeyFormatType:
			o.Format = kmip.KeyFormatType(f.Uint32())
		case ttlv.TagCryptographicAlgorithm:
			o.Alg = kmip.CryptographicAlgorithm(f.Uint32())
		case ttlv.TagCryptographicLength:
			o.Bits = f.Int32()
		case ttlv.TagKeyWrappingData:
			o.Wrapped = true
		case ttlv.TagKeyValue:
			if f.Type == ttlv.TypeByteString {
				o.Wrapped = true
				o.Material = append([]byte(nil), f.Data...)
				continue
			}
			kv := f.Children()
			km, ok := kv.Next()
			if !ok || km.Tag != ttlv.TagKeyMaterial {
				return fmt.Errorf("the Key Value lacks Key Material")
			}
			if km.Type == ttlv.TypeByteString {
				o.Material = append([]byte(nil), km.Data...)
				continue
			}
			o.Structured = append([]byte(nil), km.Raw...)
			// A Transparent Symmetric Key is {Key}.
			kc := km.Children()
			var key []byte
			if kc.ReadBytes(ttlv.TagKey, &key) && kc.Empty() {
				o.Material = append([]byte(nil), key...)
			}
		}
	}
	return nil
}

// getJSON is the output of get.
type getJSON struct {
	ID              string `json:"id"`
	ObjectType      string `json:"object_type"`
	KeyFormat       string `json:"key_format,omitempty"`
	Algorithm       string `json:"algorithm,omitempty"`
	Length          int32  `json:"length,omitempty"`
	KeyHex          string `json:"key_hex,omitempty"`
	KeyMaterial     any    `json:"key_material,omitempty"`
	DataType        string `json:"data_type,omitempty"`
	CertificateType string `json:"certificate_type,omitempty"`
	Wrapped         bool   `json:"wrapped,omitempty"`
	File            string `json:"file,omitempty"`
	Bytes           int    `json:"bytes,omitempty"`
}

func (o *object) json() getJSON {
	r := getJSON{ID: o.ID, ObjectType: o.Type.String(), Length: o.Bits, Wrapped: o.Wrapped}
	if o.Format != 0 {
		r.KeyFormat = o.Format.String()
	}
	if o.Alg != 0 {
		r.Algorithm = o.Alg.String()
	}
	if o.Material != nil {
		r.KeyHex = hex.EncodeToString(o.Material)
	} else if o.Structured != nil {
		r.KeyMaterial = itemValue(o.Structured)
	}
	switch o.Type {
	case kmip.ObjectTypeSecretData:
		r.DataType = kmip.SecretDataType(o.DataType).String()
	case kmip.ObjectTypeOpaqueObject:
		r.DataType = kmip.OpaqueDataType(o.DataType).String()
	case kmip.ObjectTypeCertificate:
		r.CertificateType = o.CertType.String()
	}
	return r
}

// getFormats maps --format onto the Key Format Type to ask for; pem and
// transparent depend on the object type, found first.
var getFormats = map[string]kmip.KeyFormatType{
	"":       0,
	"raw":    kmip.KeyFormatTypeRaw,
	"pkcs1":  kmip.KeyFormatTypePKCS_1,
	"pkcs8":  kmip.KeyFormatTypePKCS_8,
	"x509":   kmip.KeyFormatTypeX_509,
	"ec":     kmip.KeyFormatTypeECPrivateKey,
	"opaque": kmip.KeyFormatTypeOpaque,
}

// transparentFormat is the transparent Key Format Type of an object.
func transparentFormat(t kmip.ObjectType, alg kmip.CryptographicAlgorithm) (kmip.KeyFormatType, bool) {
	private := t == kmip.ObjectTypePrivateKey
	switch {
	case t == kmip.ObjectTypeSymmetricKey:
		return kmip.KeyFormatTypeTransparentSymmetricKey, true
	case alg == kmip.CryptographicAlgorithmRSA && private:
		return kmip.KeyFormatTypeTransparentRSAPrivateKey, true
	case alg == kmip.CryptographicAlgorithmRSA && t == kmip.ObjectTypePublicKey:
		return kmip.KeyFormatTypeTransparentRSAPublicKey, true
	case (alg == kmip.CryptographicAlgorithmEC || alg == kmip.CryptographicAlgorithmECDSA) && private:
		return kmip.KeyFormatTypeTransparentECPrivateKey, true
	case (alg == kmip.CryptographicAlgorithmEC || alg == kmip.CryptographicAlgorithmECDSA) && t == kmip.ObjectTypePublicKey:
		return kmip.KeyFormatTypeTransparentECPublicKey, true
	case alg == kmip.CryptographicAlgorithmDSA && private:
		return kmip.KeyFormatTypeTransparentDSAPrivateKey, true
	case alg == kmip.CryptographicAlgorithmDSA && t == kmip.ObjectTypePublicKey:
		return kmip.KeyFormatTypeTransparentDSAPublicKey, true
	}
	return 0, false
}

// pemBlock returns the PEM encoding of an object's material.
func (o *object) pemBlock() ([]byte, error) {
	label := ""
	switch {
	case o.Wrapped || o.Material == nil:
	case o.Type == kmip.ObjectTypeCertificate:
		label = "CERTIFICATE"
	case o.Format == kmip.KeyFormatTypePKCS_8:
		label = "PRIVATE KEY"
	case o.Format == kmip.KeyFormatTypePKCS_1 && o.Type == kmip.ObjectTypePrivateKey:
		label = "RSA PRIVATE KEY"
	case o.Format == kmip.KeyFormatTypePKCS_1 && o.Type == kmip.ObjectTypePublicKey:
		label = "RSA PUBLIC KEY"
	case o.Format == kmip.KeyFormatTypeX_509 && o.Type == kmip.ObjectTypePublicKey:
		label = "PUBLIC KEY"
	case o.Format == kmip.KeyFormatTypeECPrivateKey:
		label = "EC PRIVATE KEY"
	}
	if label == "" {
		return nil, usageErrorf("a %s in %s format has no PEM form", o.Type, o.Format)
	}
	return pem.EncodeToMemory(&pem.Block{Type: label, Bytes: o.Material}), nil
}

// getObject sends Get for id asking for format (0: the server's choice),
// wrapped when wrap writes a Key Wrapping Specification.
func getObject(s *session, id string, format kmip.KeyFormatType, wrap func(b *ttlv.Builder)) (*object, error) {
	p, err := s.do(kmip.OperationGet, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		if format != 0 {
			b.AddEnum(ttlv.TagKeyFormatType, uint32(format))
		}
		if wrap != nil {
			wrap(b)
		}
	})
	if err != nil {
		return nil, err
	}
	return readObject(p, nil)
}

// objectKind asks for the Object Type and Cryptographic Algorithm of id.
func objectKind(s *session, id string) (kmip.ObjectType, kmip.CryptographicAlgorithm, error) {
	attrs, err := getAttributes(s, id, []attribute{{Tag: ttlv.TagObjectType}, {Tag: ttlv.TagCryptographicAlgorithm}})
	if err != nil {
		return 0, 0, err
	}
	var t kmip.ObjectType
	var alg kmip.CryptographicAlgorithm
	for _, a := range attrs {
		it, _ := ttlv.Value(a.item()).Peek()
		switch a.Tag {
		case ttlv.TagObjectType:
			t = kmip.ObjectType(it.Uint32())
		case ttlv.TagCryptographicAlgorithm:
			alg = kmip.CryptographicAlgorithm(it.Uint32())
		}
	}
	return t, alg, nil
}

// getOptions are the flags of get.
type getOptions struct {
	format, out string
	wf          wrapFlags
}

func newGetCmd() *cobra.Command {
	var opt getOptions
	cmd := &cobra.Command{
		Use:   "get ID",
		Short: "Retrieve an object's key material (KMIP Get)",
		Long: `Retrieve an object (KMIP Get) and show or save its key material.

--format raw|transparent|pkcs1|pkcs8|x509|ec|pem asks the server for that Key
Format Type (transparent: the one for the object's type; pem: PKCS#8 for
private keys, X.509 for public keys, the certificate itself, PEM-encoded
here). Without --format the server picks. --out FILE writes the material
(bytes, DER or PEM) to FILE (mode 0600) instead of showing it.

--wrap-key ID returns the key wrapped under the managed key ID (a Key
Wrapping Specification): --wrap-method encrypt (default) or mac-sign,
--encoding no-encoding (default: the key bytes are wrapped) or ttlv (the
TTLV-encoded Key Value is), --wrap-mode for a symmetric wrapping key.`,
		Example: `  kmipctl get 7d0e...
  kmipctl get 7d0e... --wrap-key 41f2... --out aes.wrapped
  kmipctl get 7d0e... --out aes.key
  kmipctl get 7d0e... --format pem --out key.pem
  kmipctl get 7d0e... -o json | jq -r .key_hex`,
		Args: args(1, 1, "ID"),
		RunE: onObject(func(cmd *cobra.Command, s *session, id string, a []string) error {
			return runGet(cmd, &opt, s, id)
		}),
	}
	cmd.Flags().StringVar(&opt.format, "format", "", "Key Format Type: raw, transparent, pkcs1, pkcs8, x509, ec or pem")
	cmd.Flags().StringVar(&opt.out, "out", "", "write the material to this file")
	opt.wf.add(cmd.Flags(), "encoding")
	return cmd
}

func runGet(cmd *cobra.Command, opt *getOptions, s *session, id string) error {
	kft, known := getFormats[opt.format]
	if !known && opt.format != "transparent" && opt.format != "pem" {
		return usageErrorf("invalid --format %q: want raw, transparent, pkcs1, pkcs8, x509, ec or pem", opt.format)
	}
	if opt.format == "transparent" || opt.format == "pem" {
		t, alg, err := objectKind(s, id)
		if err != nil {
			return failed("get", id, err)
		}
		switch {
		case opt.format == "transparent":
			f, ok := transparentFormat(t, alg)
			if !ok {
				return usageErrorf("no transparent format for a %s %s", alg, t)
			}
			kft = f
		case t == kmip.ObjectTypePrivateKey:
			kft = kmip.KeyFormatTypePKCS_8
		case t == kmip.ObjectTypePublicKey:
			kft = kmip.KeyFormatTypeX_509
		case t != kmip.ObjectTypeCertificate:
			return usageErrorf("a %s has no PEM form", t)
		}
	}
	wrap, err := opt.wf.spec(cmd.Flags(), "encoding")
	if err != nil {
		return err
	}
	o, err := getObject(s, id, kft, wrap)
	if err != nil {
		return failed("get", id, err)
	}
	res := o.json()
	if opt.out != "" {
		data := o.Material
		switch {
		case opt.format == "pem":
			if data, err = o.pemBlock(); err != nil {
				return err
			}
		case data == nil && o.Structured != nil:
			if data, err = ttlv.AppendJSON(nil, o.Structured, true); err != nil {
				return err
			}
		case data == nil:
			return failed("get", id, fmt.Errorf("the response has no material to write"))
		}
		if err := os.WriteFile(opt.out, data, 0o600); err != nil {
			return err
		}
		res.File, res.Bytes, res.KeyHex, res.KeyMaterial = opt.out, len(data), "", nil
	}
	return emit(cmd, s.opts.json, res, func(w io.Writer) {
		kv(w, "id", res.ID, "object_type", res.ObjectType, "key_format", res.KeyFormat,
			"algorithm", res.Algorithm, "length", lengthText(res.Length), "data_type", res.DataType,
			"certificate_type", res.CertificateType, "key_hex", res.KeyHex)
		if res.KeyMaterial != nil {
			kv(w, "key_material", itemText(o.Structured))
		}
		if res.Wrapped {
			kv(w, "wrapped", "true")
		}
		if res.File != "" {
			kv(w, "file", fmt.Sprintf("%s (%d bytes)", res.File, res.Bytes))
		}
	})
}

func lengthText(n int32) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprint(n)
}
