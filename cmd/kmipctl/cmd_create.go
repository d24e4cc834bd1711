package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// attrFlags are the attribute flags of the commands that make objects.
type attrFlags struct {
	names  []string
	usage  string
	groups []string
	extra  []string
}

func (f *attrFlags) add(fs *pflag.FlagSet, defUsage string) {
	fs.StringArrayVar(&f.names, "name", nil, "Name attribute (repeatable)")
	fs.StringVar(&f.usage, "usage", defUsage, "Cryptographic Usage Mask: names separated by commas, e.g. encrypt,decrypt (\"\" for none)")
	fs.StringArrayVar(&f.groups, "group", nil, "Object Group attribute (repeatable)")
	fs.StringArrayVar(&f.extra, "attr", nil, "other attribute NAME=VALUE, e.g. x-owner=ops or ContactInformation=me (repeatable; see \"kmipctl help output\")")
}

// attrs returns the attributes the flags give, after those in first.
func (f *attrFlags) attrs(first ...attribute) ([]attribute, error) {
	out := first
	if strings.TrimSpace(f.usage) != "" {
		a, err := parseAttr("CryptographicUsageMask", f.usage)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	for _, n := range f.names {
		a, err := parseAttr("Name", n)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	for _, g := range f.groups {
		a, err := parseAttr("ObjectGroup", g)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	for _, s := range f.extra {
		a, err := parseAttrArg(s)
		if err != nil {
			return nil, err
		}
		out = append(out, a)
	}
	return out, nil
}

// createdJSON is the output of create, register and import.
type createdJSON struct {
	ID         string `json:"id"`
	ObjectType string `json:"object_type"`
	Method     string `json:"method,omitempty"`
}

// createOptions are the flags of create.
type createOptions struct {
	typ, alg string
	length   int32
	af       attrFlags
}

func newCreateCmd() *cobra.Command {
	var o createOptions
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a symmetric key (KMIP Create)",
		Example: `  kmipctl create --algorithm AES --length 256 --name backup-2025 --usage encrypt,decrypt
  kmipctl create --algorithm HMAC-SHA256 --length 256 --usage mac-generate,mac-verify --attr x-team=payments
  id=$(kmipctl create -o json | jq -r .id)`,
		Args: args(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCreate(cmd, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.typ, "type", "symmetric", "object type to create")
	f.StringVar(&o.alg, "algorithm", "AES", "Cryptographic Algorithm: AES, 3DES, ChaCha20, HMAC-SHA256, ... (alias --alg)")
	f.Int32Var(&o.length, "length", 256, "Cryptographic Length in bits")
	o.af.add(f, "encrypt,decrypt")
	return cmd
}

func runCreate(cmd *cobra.Command, o *createOptions) error {
	s, err := newSession(cmd)
	if err != nil {
		return err
	}
	defer s.close()
	ot, err := parseEnum(ttlv.TagObjectType, o.typ)
	if err != nil {
		return err
	}
	var first []attribute
	if o.alg != "" {
		a, err := parseAttr("CryptographicAlgorithm", o.alg)
		if err != nil {
			return err
		}
		first = append(first, a)
	}
	if o.length > 0 {
		a, err := parseAttr("CryptographicLength", fmt.Sprint(o.length))
		if err != nil {
			return err
		}
		first = append(first, a)
	}
	attrs, err := o.af.attrs(first...)
	if err != nil {
		return err
	}
	var werr error
	p, err := s.do(kmip.OperationCreate, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, ot)
		werr = writeAttrs(b, s.v2(), ttlv.TagAttributes, ttlv.TagTemplateAttribute, attrs)
	})
	if werr != nil {
		return werr
	}
	if err != nil {
		return failed("create", "", err)
	}
	var id []byte
	p.ReadEnum(ttlv.TagObjectType, &ot)
	if !p.ReadText(ttlv.TagUniqueIdentifier, &id) {
		return failed("create", "", fmt.Errorf("response lacks Unique Identifier"))
	}
	res := createdJSON{ID: string(id), ObjectType: kmip.ObjectType(ot).String()}
	return emit(cmd, s.opts.json, res, func(w io.Writer) {
		kv(w, "id", res.ID, "object_type", res.ObjectType)
	})
}

// curveBits are the key lengths of the usual named curves.
var curveBits = map[uint32]int32{
	uint32(kmip.RecommendedCurveP_192): 192, uint32(kmip.RecommendedCurveP_224): 224,
	uint32(kmip.RecommendedCurveP_256): 256, uint32(kmip.RecommendedCurveP_384): 384,
	uint32(kmip.RecommendedCurveP_521): 521, uint32(kmip.RecommendedCurveSECP256K1): 256,
	uint32(kmip.RecommendedCurveCURVE25519): 255, uint32(kmip.RecommendedCurveCURVE448): 448,
}

// keyPairJSON is the output of create-key-pair.
type keyPairJSON struct {
	PrivateKeyID string `json:"private_key_id"`
	PublicKeyID  string `json:"public_key_id"`
}

// createKeyPairOptions are the flags of create-key-pair.
type createKeyPairOptions struct {
	alg, curve, pubName, privUsage, pubUsage string
	length                                   int32
	af                                       attrFlags
}

func newCreateKeyPairCmd() *cobra.Command {
	var o createKeyPairOptions
	cmd := &cobra.Command{
		Use:   "create-key-pair",
		Short: "Create an asymmetric key pair (KMIP Create Key Pair)",
		Long: `Create an asymmetric key pair (KMIP Create Key Pair).

--name names the private key; the public key is named --public-name
(default: the name with ".pub" appended). --group and --attr apply to both
keys (Common Attributes).`,
		Example: `  kmipctl create-key-pair --algorithm RSA --length 2048 --name signer
  kmipctl create-key-pair --curve P-256 --name tls-2025`,
		Args: args(0, 0, ""),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runCreateKeyPair(cmd, &o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.alg, "algorithm", "RSA", "Cryptographic Algorithm: RSA, EC, ECDSA, Ed25519, ... (alias --alg)")
	f.Int32Var(&o.length, "length", 2048, "key length in bits (from the curve with --curve)")
	f.StringVar(&o.curve, "curve", "", "named curve, e.g. P-256, P-384 (implies --algorithm EC)")
	f.StringVar(&o.pubName, "public-name", "", "Name of the public key (default: NAME.pub)")
	f.StringVar(&o.privUsage, "private-usage", "sign", "Cryptographic Usage Mask of the private key")
	f.StringVar(&o.pubUsage, "public-usage", "verify", "Cryptographic Usage Mask of the public key")
	o.af.add(f, "")
	f.Lookup("usage").Hidden = true
	return cmd
}

func runCreateKeyPair(cmd *cobra.Command, o *createKeyPairOptions) error {
	s, err := newSession(cmd)
	if err != nil {
		return err
	}
	defer s.close()
	if o.curve != "" && !cmd.Flags().Changed("algorithm") {
		o.alg = "EC"
	}
	algA, err := parseAttr("CryptographicAlgorithm", o.alg)
	if err != nil {
		return err
	}
	common := []attribute{algA}
	if o.curve != "" {
		dp, err := parseAttr("CryptographicDomainParameters", o.curve)
		if err != nil {
			return err
		}
		if !cmd.Flags().Changed("length") {
			c, _ := parseEnum(ttlv.TagRecommendedCurve, o.curve)
			bits, ok := curveBits[c]
			if !ok {
				return usageErrorf("give --length for curve %s", o.curve)
			}
			o.length = bits
		}
		common = append(common, dp)
	}
	if o.length > 0 {
		la, err := parseAttr("CryptographicLength", fmt.Sprint(o.length))
		if err != nil {
			return err
		}
		common = append(common, la)
	}
	names := o.af.names
	o.af.names = nil
	o.af.usage = ""
	common, err = o.af.attrs(common...)
	if err != nil {
		return err
	}
	side := func(usage string, names []string) ([]attribute, error) {
		f := attrFlags{usage: usage, names: names}
		return f.attrs()
	}
	var pubNames []string
	switch {
	case o.pubName != "":
		pubNames = []string{o.pubName}
	default:
		for _, n := range names {
			pubNames = append(pubNames, n+".pub")
		}
	}
	priv, err := side(o.privUsage, names)
	if err != nil {
		return err
	}
	pub, err := side(o.pubUsage, pubNames)
	if err != nil {
		return err
	}
	var werr error
	p, err := s.do(kmip.OperationCreateKeyPair, func(b *ttlv.Builder) {
		v2 := s.v2()
		for _, e := range []error{
			writeAttrs(b, v2, ttlv.TagCommonAttributes, ttlv.TagCommonTemplateAttribute, common),
			writeAttrs(b, v2, ttlv.TagPrivateKeyAttributes, ttlv.TagPrivateKeyTemplateAttribute, priv),
			writeAttrs(b, v2, ttlv.TagPublicKeyAttributes, ttlv.TagPublicKeyTemplateAttribute, pub),
		} {
			if e != nil && werr == nil {
				werr = e
			}
		}
	})
	if werr != nil {
		return werr
	}
	if err != nil {
		return failed("create-key-pair", "", err)
	}
	var privID, pubID []byte
	if !p.ReadText(ttlv.TagPrivateKeyUniqueIdentifier, &privID) || !p.ReadText(ttlv.TagPublicKeyUniqueIdentifier, &pubID) {
		return failed("create-key-pair", "", fmt.Errorf("response lacks the key identifiers"))
	}
	res := keyPairJSON{PrivateKeyID: string(privID), PublicKeyID: string(pubID)}
	return emit(cmd, s.opts.json, res, func(w io.Writer) {
		kv(w, "private_key_id", res.PrivateKeyID, "public_key_id", res.PublicKeyID)
	})
}
