package main

import (
	"encoding/hex"
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Attribute names on the command line: the tag name
// (CryptographicAlgorithm), the specification name ("Cryptographic
// Algorithm"), either in any case and without blanks or dashes
// (cryptographic-algorithm), a short alias (alg, length, usage, group),
// x-NAME or y-NAME for a custom attribute, VENDOR:NAME for a vendor one.

var attrAliases = map[string]ttlv.Tag{
	"alg":         ttlv.TagCryptographicAlgorithm,
	"algorithm":   ttlv.TagCryptographicAlgorithm,
	"length":      ttlv.TagCryptographicLength,
	"len":         ttlv.TagCryptographicLength,
	"usage":       ttlv.TagCryptographicUsageMask,
	"usagemask":   ttlv.TagCryptographicUsageMask,
	"group":       ttlv.TagObjectGroup,
	"type":        ttlv.TagObjectType,
	"contact":     ttlv.TagContactInformation,
	"curve":       ttlv.TagCryptographicDomainParameters,
	"appspecific": ttlv.TagApplicationSpecificInformation,
}

// attrByNorm maps normalised tag and specification names of every
// standard attribute to its tag.
var attrByNorm = func() map[string]ttlv.Tag {
	m := make(map[string]ttlv.Tag)
	for _, info := range kmip.AttrInfos() {
		m[norm(info.Tag.String())] = info.Tag
		m[norm(info.SpecName())] = info.Tag
	}
	for k, v := range attrAliases {
		m[k] = v
	}
	return m
}()

// norm lower-cases s and drops everything but letters and digits.
func norm(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// lookupAttr resolves an attribute name; the result has no value yet.
func lookupAttr(name string) (attribute, error) {
	name = strings.TrimSpace(name)
	switch {
	case name == "":
		return attribute{}, usageErrorf("empty attribute name")
	case len(name) > 2 && (name[0] == 'x' || name[0] == 'y') && name[1] == '-':
		return attribute{Vendor: name[:1], Name: name[2:]}, nil
	}
	if tag, ok := ttlv.TagByName(name); ok {
		if info, ok := kmip.AttrInfoOf(tag); ok {
			return attribute{Tag: tag, Type: info.Type}, nil
		}
	}
	if tag, ok := ttlv.TagBySpecName(name); ok {
		if info, ok := kmip.AttrInfoOf(tag); ok {
			return attribute{Tag: tag, Type: info.Type}, nil
		}
	}
	if tag, ok := attrByNorm[norm(name)]; ok {
		info, _ := kmip.AttrInfoOf(tag)
		return attribute{Tag: tag, Type: info.Type}, nil
	}
	if v, n, ok := strings.Cut(name, ":"); ok && v != "" && n != "" {
		return attribute{Vendor: v, Name: n}, nil
	}
	return attribute{}, usageErrorf("unknown attribute %q (custom attributes are x-NAME, vendor attributes VENDOR:NAME)", name)
}

// parseAttrArg parses NAME=VALUE.
func parseAttrArg(s string) (attribute, error) {
	name, value, ok := strings.Cut(s, "=")
	if !ok {
		return attribute{}, usageErrorf("invalid attribute %q: want NAME=VALUE", s)
	}
	return parseAttr(name, value)
}

// parseAttr parses an attribute's name and value.
func parseAttr(name, value string) (attribute, error) {
	a, err := lookupAttr(name)
	if err != nil {
		return a, err
	}
	if err := a.parseValue(value); err != nil {
		return a, usageErrorf("attribute %s: %v", a.label(), err)
	}
	return a, nil
}

// parseValue sets the value from its command-line form. A value starting
// with '{' is an item in the KMIP JSON encoding, whatever its tag, e.g.
//
//	{"tag":"CryptographicParameters","value":[{"tag":"BlockCipherMode","type":"Enumeration","value":"GCM"}]}
//
// Otherwise the form depends on the attribute's type: enumerations by name
// in any case (AES, p-256, pre-active) or number; masks as names separated
// by commas or '|'; integers in decimal; booleans true/false; byte strings
// in hex; dates as RFC 3339, Unix seconds, "now" or now±DURATION
// (now+720h); intervals as seconds or a duration (90d is not one: 2160h).
// Structures: Name takes the name; Link TYPE:ID (parent:1234);
// Application Specific Information NAMESPACE:DATA; Cryptographic Domain
// Parameters a curve (P-256). Vendor and custom attributes are text unless
// prefixed int:, long:, bool:, hex:, date: or text:.
func (a *attribute) parseValue(s string) error {
	if strings.HasPrefix(strings.TrimSpace(s), "{") {
		raw, err := ttlv.ParseJSON([]byte(s), nil)
		if err != nil {
			return err
		}
		it, _ := ttlv.Value(raw).Peek()
		if a.Tag != 0 && it.Type != a.Type {
			return fmt.Errorf("value is a %s, want a %s", it.Type, a.Type)
		}
		a.Type, a.Data = it.Type, append([]byte(nil), it.Data...)
		return nil
	}
	if a.Tag == 0 {
		return a.parseVendorValue(s)
	}
	return a.parseTyped(a.Tag, a.Type, s)
}

func (a *attribute) parseVendorValue(s string) error {
	prefix, rest, ok := strings.Cut(s, ":")
	typ := ttlv.TypeTextString
	if ok {
		switch prefix {
		case "int":
			typ = ttlv.TypeInteger
		case "long":
			typ = ttlv.TypeLongInteger
		case "bool":
			typ = ttlv.TypeBoolean
		case "hex", "bytes":
			typ = ttlv.TypeByteString
		case "date":
			typ = ttlv.TypeDateTime
		case "text":
		default:
			rest = s
		}
	} else {
		rest = s
	}
	return a.parseTyped(ttlv.TagAttributeValue, typ, rest)
}

// parseTyped parses s as a value of type typ for items tagged tag.
func (a *attribute) parseTyped(tag ttlv.Tag, typ ttlv.Type, s string) error {
	b := ttlv.NewBuilder(nil)
	switch typ {
	case ttlv.TypeEnumeration:
		v, err := parseEnum(tag, s)
		if err != nil {
			return err
		}
		b.AddEnum(tag, v)
	case ttlv.TypeInteger:
		if ttlv.IsMask(tag) {
			v, err := parseMask(tag, s)
			if err != nil {
				return err
			}
			b.AddInt32(tag, int32(v))
			break
		}
		v, err := strconv.ParseInt(strings.TrimSpace(s), 0, 32)
		if err != nil {
			return fmt.Errorf("invalid integer %q", s)
		}
		b.AddInt32(tag, int32(v))
	case ttlv.TypeLongInteger:
		v, err := strconv.ParseInt(strings.TrimSpace(s), 0, 64)
		if err != nil {
			return fmt.Errorf("invalid long integer %q", s)
		}
		b.AddLong(tag, v)
	case ttlv.TypeBigInteger:
		x, ok := new(big.Int).SetString(strings.TrimSpace(s), 0)
		if !ok {
			return fmt.Errorf("invalid big integer %q", s)
		}
		b.AddBigIntValue(tag, x)
	case ttlv.TypeBoolean:
		v, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("invalid boolean %q: want true or false", s)
		}
		b.AddBool(tag, v)
	case ttlv.TypeTextString:
		b.AddText(tag, s)
	case ttlv.TypeByteString:
		v, err := parseHex(s)
		if err != nil {
			return err
		}
		b.AddBytes(tag, v)
	case ttlv.TypeDateTime:
		t, err := parseTime(s)
		if err != nil {
			return err
		}
		b.AddDateTime(tag, t.Unix())
	case ttlv.TypeDateTimeExtended:
		t, err := parseTime(s)
		if err != nil {
			return err
		}
		b.AddDateTimeExtended(tag, t.UnixMicro())
	case ttlv.TypeInterval:
		v, err := parseInterval(s)
		if err != nil {
			return err
		}
		b.AddInterval(tag, v)
	case ttlv.TypeStructure:
		if err := structShorthand(b, tag, s); err != nil {
			return err
		}
	default:
		return fmt.Errorf("cannot parse a %s", typ)
	}
	raw, err := b.Bytes()
	if err != nil {
		return err
	}
	it, _ := ttlv.Value(raw).Peek()
	a.Type, a.Data = it.Type, it.Data
	return nil
}

// structShorthand writes the structured attributes that have a short
// command-line form.
func structShorthand(b *ttlv.Builder, tag ttlv.Tag, s string) error {
	switch tag {
	case ttlv.TagName:
		b.Begin(ttlv.TagName)
		b.AddText(ttlv.TagNameValue, s)
		b.AddEnum(ttlv.TagNameType, uint32(kmip.NameTypeUninterpretedTextString))
		b.End()
	case ttlv.TagLink:
		typ, id, ok := strings.Cut(s, ":")
		if !ok || id == "" {
			return fmt.Errorf("invalid link %q: want TYPE:ID, e.g. parent:1234", s)
		}
		lt, err := parseEnum(ttlv.TagLinkType, typ)
		if err != nil {
			return err
		}
		b.Begin(ttlv.TagLink)
		b.AddEnum(ttlv.TagLinkType, lt)
		b.AddText(ttlv.TagLinkedObjectIdentifier, id)
		b.End()
	case ttlv.TagApplicationSpecificInformation:
		ns, data, _ := strings.Cut(s, ":")
		b.Begin(ttlv.TagApplicationSpecificInformation)
		b.AddText(ttlv.TagApplicationNamespace, ns)
		b.AddText(ttlv.TagApplicationData, data)
		b.End()
	case ttlv.TagCryptographicDomainParameters:
		c, err := parseEnum(ttlv.TagRecommendedCurve, s)
		if err != nil {
			return err
		}
		b.Begin(ttlv.TagCryptographicDomainParameters)
		b.AddEnum(ttlv.TagRecommendedCurve, c)
		b.End()
	default:
		return fmt.Errorf(`give %s as a KMIP JSON item: {"tag":"%s","value":[...]}`, tag, tag)
	}
	return nil
}

// enumAliases are extra command-line names of enumeration values, keyed by
// their normalised form.
var enumAliases = map[ttlv.Tag]map[string]uint32{
	ttlv.TagObjectType: {
		"symmetric":   uint32(kmip.ObjectTypeSymmetricKey),
		"secret":      uint32(kmip.ObjectTypeSecretData),
		"opaque":      uint32(kmip.ObjectTypeOpaqueObject),
		"private":     uint32(kmip.ObjectTypePrivateKey),
		"public":      uint32(kmip.ObjectTypePublicKey),
		"cert":        uint32(kmip.ObjectTypeCertificate),
		"pgp":         uint32(kmip.ObjectTypePGPKey),
		"split":       uint32(kmip.ObjectTypeSplitKey),
		"csr":         uint32(kmip.ObjectTypeCertificateRequest),
		"certrequest": uint32(kmip.ObjectTypeCertificateRequest),
	},
	ttlv.TagRevocationReasonCode: {
		"compromise":  uint32(kmip.RevocationReasonCodeKeyCompromise),
		"cessation":   uint32(kmip.RevocationReasonCodeCessationOfOperation),
		"affiliation": uint32(kmip.RevocationReasonCodeAffiliationChanged),
		"privilege":   uint32(kmip.RevocationReasonCodePrivilegeWithdrawn),
	},
	ttlv.TagCryptographicAlgorithm: {
		"3des": uint32(kmip.CryptographicAlgorithmDES3),
		"tdes": uint32(kmip.CryptographicAlgorithmDES3),
	},
}

// parseEnum parses an enumeration value: its name in any case and
// without separators, an alias, a LinkType without "Link", or a number.
func parseEnum(tag ttlv.Tag, s string) (uint32, error) {
	s = strings.TrimSpace(s)
	if v, ok := ttlv.EnumValue(tag, s); ok {
		return v, nil
	}
	n := norm(s)
	if v, ok := enumAliases[tag][n]; ok {
		return v, nil
	}
	var names []string
	for v, name := range ttlv.Enums(tag) {
		if nn := norm(name); nn == n || nn == n+"link" && tag == ttlv.TagLinkType {
			return v, nil
		}
		names = append(names, name)
	}
	if v, err := strconv.ParseUint(s, 0, 32); err == nil && s != "" {
		return uint32(v), nil
	}
	if len(names) > 12 {
		names = append(names[:12], "...")
	}
	return 0, usageErrorf("invalid %s %q (one of %s)", tag, s, strings.Join(names, ", "))
}

// parseMask parses mask names (any case) or hex separated by commas, '|'
// or blanks, or a decimal number.
func parseMask(tag ttlv.Tag, s string) (uint32, error) {
	if v, err := strconv.ParseUint(strings.TrimSpace(s), 10, 32); err == nil {
		return uint32(v), nil
	}
	var mask uint32
	for _, item := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == '|' || r == ' ' }) {
		if v, ok := ttlv.ParseMask(tag, item, '|'); ok {
			mask |= v
			continue
		}
		n := norm(item)
		found := false
		for v, name := range ttlv.Enums(tag) {
			if norm(name) == n {
				mask |= v
				found = true
				break
			}
		}
		if !found {
			var names []string
			for _, name := range ttlv.Enums(tag) {
				names = append(names, name)
			}
			return 0, usageErrorf("invalid %s %q (names: %s)", tag, item, strings.Join(names, ", "))
		}
	}
	return mask, nil
}

// parseHex decodes hex, ignoring blanks, colons and a 0x prefix.
func parseHex(s string) ([]byte, error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "0x")
	s = strings.Map(func(r rune) rune {
		if r == ' ' || r == ':' || r == '\n' || r == '\t' || r == '\r' {
			return -1
		}
		return r
	}, s)
	v, err := hex.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("invalid hex: %v", err)
	}
	return v, nil
}

// parseTime reads RFC 3339, Unix seconds, "now" or now±DURATION.
func parseTime(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	now := time.Now()
	switch {
	case s == "now":
		return now, nil
	case strings.HasPrefix(s, "now+") || strings.HasPrefix(s, "now-"):
		d, err := time.ParseDuration(s[3:])
		if err != nil {
			return time.Time{}, fmt.Errorf("invalid date %q: %v", s, err)
		}
		return now.Add(d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if sec, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(sec, 0), nil
	}
	return time.Time{}, fmt.Errorf("invalid date %q: want RFC 3339 (2030-01-01T00:00:00Z), Unix seconds, now or now+DURATION", s)
}

// parseInterval reads seconds or a Go duration.
func parseInterval(s string) (uint32, error) {
	s = strings.TrimSpace(s)
	if v, err := strconv.ParseUint(s, 10, 32); err == nil {
		return uint32(v), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 || d.Seconds() > float64(^uint32(0)) {
		return 0, fmt.Errorf("invalid interval %q: want seconds or a duration such as 24h", s)
	}
	return uint32(d / time.Second), nil
}

// sortedKeys returns the keys of m in order, for stable listings.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
