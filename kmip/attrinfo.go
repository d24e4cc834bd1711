package kmip

import (
	"github.com/kmipd/kmipd/ttlv"
)

// AttrInfo describes a standard attribute: its value type, whether it may
// have several instances, which protocol versions define it, and what a
// client may do with it.
//
// The properties come from the attribute tables of KMIP 2.0 §4 (rows "SHALL
// always have a value", "Initially set by", "Modifiable by client",
// "Deletable by client", "Multiple instances permitted"; §4.50 State, §4.49
// Short Unique Identifier, §4.24 Fresh, ...) and, for the attributes KMIP
// 2.0 dropped, KMIP 1.4 §3 (Operation Policy Name, Certificate Identifier,
// Certificate Subject, Certificate Issuer). The 1.x version in which each
// attribute first appeared is from the 1.0–1.4 specifications' attribute
// lists (1.1 added Fresh, Certificate Length, Digital Signature Algorithm
// and the X.509 certificate attributes; 1.2 Alternative Name, Key Value
// Present, Key Value Location, Original Creation Date; 1.3 Random Number
// Generator; 1.4 Sensitive, Always Sensitive, Extractable, Never
// Extractable, Description, Comment, PKCS#12 Friendly Name and the
// Certificate Subject/Issuer CN, O, ... attributes).
type AttrInfo struct {
	Tag  ttlv.Tag
	Type ttlv.Type // item type of the value

	// Multi: more than one instance is permitted ("Multiple instances
	// permitted: Yes"). Name, Object Group, Link, Application Specific
	// Information, Alternative Name, Key Value Location, Digest and
	// Cryptographic Parameters are multi-valued.
	Multi bool

	// Always: the attribute SHALL always have a value (for the object types
	// it applies to), so it can never be deleted.
	Always bool

	// ClientInit: a client may supply the attribute when the object is
	// created (Create, Create Key Pair, Register, Derive Key, ...):
	// "Initially set by: Client" or "Server or Client". When false the
	// server alone sets it.
	ClientInit bool

	// ClientModify: "Modifiable by client" — a client may change it after
	// creation with Add, Set, Modify or Adjust Attribute (state-dependent
	// restrictions such as Activation Date only while Pre-Active are the
	// lifecycle's). When false the attribute is read-only for clients.
	ClientModify bool

	// ClientDelete: "Deletable by client".
	ClientDelete bool

	// Since1 is the KMIP 1.x minor version that introduced the attribute
	// (0 for 1.0), or -1 when KMIP 1.x has no such attribute.
	Since1 int8

	// V2 reports whether KMIP 2.x defines the attribute. Those only in 2.1
	// (the Rotate attributes) are told apart by the tag table.
	V2 bool

	fields []field // children of a Structure value; nil: not checked
}

// ReadOnly reports whether clients may not modify the attribute.
func (i *AttrInfo) ReadOnly() bool { return !i.ClientModify }

// InVersion reports whether version v defines the attribute.
func (i *AttrInfo) InVersion(v Version) bool {
	if !v.HasTag(i.Tag) {
		return false
	}
	if v.V2() {
		return i.V2
	}
	return i.Since1 >= 0 && v.Major == 1 && v.Minor >= int32(i.Since1)
}

// SpecName returns the attribute's name as KMIP 1.x writes it in Attribute
// Name, e.g. "Cryptographic Algorithm".
func (i *AttrInfo) SpecName() string {
	s, _ := ttlv.TagSpecName(i.Tag)
	return s
}

// AttrInfoOf returns the properties of the standard attribute tag; false
// if tag is not a KMIP attribute of any version.
func AttrInfoOf(tag ttlv.Tag) (*AttrInfo, bool) {
	i, ok := infoByTag[tag]
	return i, ok
}

// AttrInfos returns the properties of every standard attribute, ordered by
// tag. The slice is shared: do not modify it.
func AttrInfos() []AttrInfo { return attrTable }

// typeSet is a set of item types, one bit per ttlv.Type.
type typeSet uint16

func types(ts ...ttlv.Type) typeSet {
	var s typeSet
	for _, t := range ts {
		s |= 1 << t
	}
	return s
}

func (s typeSet) has(t ttlv.Type) bool { return t < 16 && s&(1<<t) != 0 }

// field is one child of a structured attribute value.
type field struct {
	tag   ttlv.Tag
	types typeSet
	req   bool // must be present
	multi bool // may repeat
}

var (
	tText  = types(ttlv.TypeTextString)
	tEnum  = types(ttlv.TypeEnumeration)
	tInt   = types(ttlv.TypeInteger)
	tLong  = types(ttlv.TypeLongInteger)
	tBool  = types(ttlv.TypeBoolean)
	tBytes = types(ttlv.TypeByteString)
	// A Linked Object Identifier may be a Text String, or in 2.x an ID
	// Placeholder Enumeration or an Integer batch index (KMIP 2.0 §4.31).
	tUID = types(ttlv.TypeTextString, ttlv.TypeEnumeration, ttlv.TypeInteger)
)

func req(tag ttlv.Tag, ts typeSet) field { return field{tag: tag, types: ts, req: true} }
func opt(tag ttlv.Tag, ts typeSet) field { return field{tag: tag, types: ts} }
func rep(tag ttlv.Tag, ts typeSet) field { return field{tag: tag, types: ts, multi: true} }

// Property flags for the table below.
const (
	fMulti  = 1 << iota // multiple instances permitted
	fAlways             // SHALL always have a value
	fInit               // client may set on creation
	fMod                // client may modify
	fDel                // client may delete
	fV1only             // not in KMIP 2.x
	fV2only             // not in KMIP 1.x
)

// Shorthands for common combinations.
const (
	server     = 0                   // set by the server only, read-only
	serverReq  = fAlways             // set by the server, always present
	clientOnce = fInit               // client may give it on creation only
	clientReq  = fInit | fAlways     // ... and it always has a value
	clientMod  = fInit | fMod        // client may set and modify, not delete
	clientAll  = fInit | fMod | fDel // client may set, modify and delete
)

func attr(tag ttlv.Tag, typ ttlv.Type, since1 int8, flags int, fields ...field) AttrInfo {
	i := AttrInfo{
		Tag: tag, Type: typ,
		Multi:        flags&fMulti != 0,
		Always:       flags&fAlways != 0,
		ClientInit:   flags&fInit != 0,
		ClientModify: flags&fMod != 0,
		ClientDelete: flags&fDel != 0,
		Since1:       since1,
		V2:           flags&fV1only == 0,
		fields:       fields,
	}
	if flags&fV2only != 0 {
		i.Since1 = -1
	}
	return i
}

// Item types, abbreviated for the table.
const (
	tyS  = ttlv.TypeStructure
	tyI  = ttlv.TypeInteger
	tyE  = ttlv.TypeEnumeration
	tyB  = ttlv.TypeBoolean
	tyT  = ttlv.TypeTextString
	tyBS = ttlv.TypeByteString
	tyDT = ttlv.TypeDateTime
	tyIV = ttlv.TypeInterval
)

// attrTable lists the standard attributes of KMIP 1.0–1.4, 2.0 and 2.1.
// The 2.x-only ones pass since1 = -1 along with fV2only for clarity.
var attrTable = []AttrInfo{
	attr(ttlv.TagActivationDate, tyDT, 0, clientMod),
	attr(ttlv.TagApplicationSpecificInformation, tyS, 0, fMulti|clientAll,
		req(ttlv.TagApplicationNamespace, tText), opt(ttlv.TagApplicationData, tText)),
	attr(ttlv.TagArchiveDate, tyDT, 0, server),
	attr(ttlv.TagCertificateIdentifier, tyS, 0, serverReq|fV1only,
		req(ttlv.TagIssuer, tText), req(ttlv.TagSerialNumber, tText)),
	attr(ttlv.TagCertificateIssuer, tyS, 0, serverReq|fV1only,
		req(ttlv.TagCertificateIssuerDistinguishedName, tText), rep(ttlv.TagCertificateIssuerAlternativeName, tText)),
	attr(ttlv.TagCertificateSubject, tyS, 0, serverReq|fV1only,
		req(ttlv.TagCertificateSubjectDistinguishedName, tText), rep(ttlv.TagCertificateSubjectAlternativeName, tText)),
	attr(ttlv.TagCertificateType, tyE, 0, serverReq),
	attr(ttlv.TagCompromiseDate, tyDT, 0, server),
	attr(ttlv.TagCompromiseOccurrenceDate, tyDT, 0, server),
	attr(ttlv.TagContactInformation, tyT, 0, clientAll),
	attr(ttlv.TagCryptographicAlgorithm, tyE, 0, clientReq),
	attr(ttlv.TagCryptographicDomainParameters, tyS, 0, clientOnce,
		opt(ttlv.TagQlength, tInt), opt(ttlv.TagRecommendedCurve, tEnum)),
	attr(ttlv.TagCryptographicLength, tyI, 0, clientReq),
	attr(ttlv.TagCryptographicParameters, tyS, 0, fMulti|clientAll,
		opt(ttlv.TagBlockCipherMode, tEnum), opt(ttlv.TagPaddingMethod, tEnum),
		opt(ttlv.TagHashingAlgorithm, tEnum), opt(ttlv.TagKeyRoleType, tEnum),
		opt(ttlv.TagDigitalSignatureAlgorithm, tEnum), opt(ttlv.TagCryptographicAlgorithm, tEnum),
		opt(ttlv.TagRandomIV, tBool), opt(ttlv.TagIVLength, tInt), opt(ttlv.TagTagLength, tInt),
		opt(ttlv.TagFixedFieldLength, tInt), opt(ttlv.TagInvocationFieldLength, tInt),
		opt(ttlv.TagCounterLength, tInt), opt(ttlv.TagInitialCounterValue, tInt),
		opt(ttlv.TagSaltLength, tInt), opt(ttlv.TagMaskGenerator, tEnum),
		opt(ttlv.TagMaskGeneratorHashingAlgorithm, tEnum), opt(ttlv.TagPSource, tBytes),
		opt(ttlv.TagTrailerField, tInt)),
	attr(ttlv.TagCryptographicUsageMask, tyI, 0, clientReq),
	attr(ttlv.TagDeactivationDate, tyDT, 0, clientMod),
	attr(ttlv.TagDestroyDate, tyDT, 0, server),
	attr(ttlv.TagDigest, tyS, 0, fMulti|serverReq,
		req(ttlv.TagHashingAlgorithm, tEnum), opt(ttlv.TagDigestValue, tBytes), opt(ttlv.TagKeyFormatType, tEnum)),
	attr(ttlv.TagInitialDate, tyDT, 0, serverReq),
	attr(ttlv.TagKeyFormatType, tyE, -1, serverReq|fV2only),
	attr(ttlv.TagLastChangeDate, tyDT, 0, serverReq),
	attr(ttlv.TagLeaseTime, tyIV, 0, server),
	attr(ttlv.TagLink, tyS, 0, fMulti|clientAll,
		req(ttlv.TagLinkType, tEnum), req(ttlv.TagLinkedObjectIdentifier, tUID)),
	attr(ttlv.TagName, tyS, 0, fMulti|clientAll,
		req(ttlv.TagNameValue, tText), req(ttlv.TagNameType, tEnum)),
	attr(ttlv.TagObjectGroup, tyT, 0, fMulti|clientAll),
	attr(ttlv.TagObjectType, tyE, 0, serverReq),
	attr(ttlv.TagOpaqueDataType, tyE, -1, clientOnce|fV2only),
	attr(ttlv.TagOperationPolicyName, tyT, 0, clientAll|fV1only),
	attr(ttlv.TagProcessStartDate, tyDT, 0, clientMod),
	attr(ttlv.TagProtectStopDate, tyDT, 0, clientMod),
	attr(ttlv.TagRevocationReason, tyS, 0, server,
		req(ttlv.TagRevocationReasonCode, tEnum), opt(ttlv.TagRevocationMessage, tText)),
	attr(ttlv.TagState, tyE, 0, serverReq),
	attr(ttlv.TagUniqueIdentifier, tyT, 0, serverReq),
	attr(ttlv.TagUsageLimits, tyS, 0, clientAll,
		req(ttlv.TagUsageLimitsTotal, tLong), opt(ttlv.TagUsageLimitsCount, tLong), req(ttlv.TagUsageLimitsUnit, tEnum)),
	attr(ttlv.TagFresh, tyB, 1, clientOnce), // a client may only give False, on Register or Import (KMIP 2.0 §4.24)
	attr(ttlv.TagCertificateLength, tyI, 1, serverReq),
	attr(ttlv.TagDigitalSignatureAlgorithm, tyE, 1, serverReq),
	attr(ttlv.TagX_509CertificateIdentifier, tyS, 1, serverReq,
		req(ttlv.TagIssuerDistinguishedName, tBytes), req(ttlv.TagCertificateSerialNumber, tBytes)),
	attr(ttlv.TagX_509CertificateIssuer, tyS, 1, serverReq,
		req(ttlv.TagIssuerDistinguishedName, tBytes), rep(ttlv.TagIssuerAlternativeName, tBytes)),
	attr(ttlv.TagX_509CertificateSubject, tyS, 1, serverReq,
		req(ttlv.TagSubjectDistinguishedName, tBytes), rep(ttlv.TagSubjectAlternativeName, tBytes)),
	attr(ttlv.TagAlternativeName, tyS, 2, fMulti|clientAll,
		req(ttlv.TagAlternativeNameValue, tText), req(ttlv.TagAlternativeNameType, tEnum)),
	attr(ttlv.TagKeyValuePresent, tyB, 2, server),
	attr(ttlv.TagKeyValueLocation, tyS, 2, fMulti|clientOnce,
		req(ttlv.TagKeyValueLocationValue, tText), req(ttlv.TagKeyValueLocationType, tEnum)),
	attr(ttlv.TagOriginalCreationDate, tyDT, 2, clientOnce),
	attr(ttlv.TagRandomNumberGenerator, tyS, 3, clientOnce,
		req(ttlv.TagRNGAlgorithm, tEnum), opt(ttlv.TagCryptographicAlgorithm, tEnum),
		opt(ttlv.TagCryptographicLength, tInt), opt(ttlv.TagHashingAlgorithm, tEnum),
		opt(ttlv.TagDRBGAlgorithm, tEnum), opt(ttlv.TagRecommendedCurve, tEnum),
		opt(ttlv.TagFIPS186Variation, tEnum), opt(ttlv.TagPredictionResistance, tBool)),
	attr(ttlv.TagPKCS_12FriendlyName, tyT, 4, clientAll),
	attr(ttlv.TagDescription, tyT, 4, clientAll),
	attr(ttlv.TagComment, tyT, 4, clientAll),
	// Certificate Attributes (KMIP 2.0 §4.5): server-derived from
	// the certificate; a distinguished name may repeat a component.
	attr(ttlv.TagCertificateSubjectCN, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateSubjectO, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateSubjectOU, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateSubjectEmail, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateSubjectC, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateSubjectST, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateSubjectL, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateSubjectUID, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateSubjectSerialNumber, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateSubjectTitle, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateSubjectDC, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateSubjectDNQualifier, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateIssuerCN, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateIssuerO, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateIssuerOU, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateIssuerEmail, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateIssuerC, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateIssuerST, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateIssuerL, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateIssuerUID, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateIssuerSerialNumber, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateIssuerTitle, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateIssuerDC, tyT, 4, fMulti|server),
	attr(ttlv.TagCertificateIssuerDNQualifier, tyT, 4, fMulti|server),
	attr(ttlv.TagSensitive, tyB, 4, clientMod),
	attr(ttlv.TagAlwaysSensitive, tyB, 4, server),
	attr(ttlv.TagExtractable, tyB, 4, clientMod),
	attr(ttlv.TagNeverExtractable, tyB, 4, server),
	attr(ttlv.TagShortUniqueIdentifier, tyBS, -1, serverReq|fV2only),
	attr(ttlv.TagNISTKeyType, tyE, -1, clientOnce|fV2only),
	attr(ttlv.TagProtectionLevel, tyE, -1, clientAll|fV2only),
	attr(ttlv.TagProtectionPeriod, tyIV, -1, clientAll|fV2only),
	attr(ttlv.TagQuantumSafe, tyB, -1, clientMod|fV2only),
	attr(ttlv.TagProtectionStorageMask, tyI, -1, clientOnce|fV2only),
	// KMIP 2.1 key rotation: the client configures the rotation, the server
	// records where it stands.
	attr(ttlv.TagRotateInterval, tyIV, -1, clientAll|fV2only),
	attr(ttlv.TagRotateAutomatic, tyB, -1, clientAll|fV2only),
	attr(ttlv.TagRotateOffset, tyIV, -1, clientAll|fV2only),
	attr(ttlv.TagRotateDate, tyDT, -1, server|fV2only),
	attr(ttlv.TagRotateGeneration, tyI, -1, server|fV2only),
	attr(ttlv.TagRotateName, tyS, -1, clientAll|fV2only,
		req(ttlv.TagRotateNameValue, tText), req(ttlv.TagRotateNameType, tEnum)),
	attr(ttlv.TagRotateLatest, tyB, -1, server|fV2only),
}

var infoByTag = func() map[ttlv.Tag]*AttrInfo {
	m := make(map[ttlv.Tag]*AttrInfo, len(attrTable))
	for i := range attrTable {
		m[attrTable[i].Tag] = &attrTable[i]
	}
	return m
}()

// CheckValue validates the type, and for structures the children, of a
// standard attribute's value item; a mismatch is an Invalid Field *Error.
func (i *AttrInfo) CheckValue(it ttlv.Item) error {
	if it.Type != i.Type {
		return Errorf(ResultReasonInvalidField, "%s must be %s, not %s", i.SpecName(), i.Type, it.Type)
	}
	if i.fields == nil {
		return nil
	}
	var seen [32]int
	c := it.Children()
	for !c.Empty() {
		ch, ok := c.Next()
		if !ok {
			return Errorf(ResultReasonInvalidField, "malformed %s", i.SpecName())
		}
		k := -1
		for j := range i.fields {
			if i.fields[j].tag == ch.Tag {
				k = j
				break
			}
		}
		if k < 0 {
			return Errorf(ResultReasonInvalidField, "%s may not contain %s", i.SpecName(), ch.Tag)
		}
		f := &i.fields[k]
		if !f.types.has(ch.Type) {
			return Errorf(ResultReasonInvalidField, "%s in %s has type %s", ch.Tag, i.SpecName(), ch.Type)
		}
		if seen[k]++; seen[k] > 1 && !f.multi {
			return Errorf(ResultReasonInvalidField, "%s repeated in %s", ch.Tag, i.SpecName())
		}
	}
	for k := range i.fields {
		if i.fields[k].req && seen[k] == 0 {
			return Errorf(ResultReasonInvalidField, "%s lacks %s", i.SpecName(), i.fields[k].tag)
		}
	}
	return nil
}
