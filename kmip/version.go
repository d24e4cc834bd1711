package kmip

import (
	"strconv"

	"github.com/kmipd/kmipd/ttlv"
)

// Version is a KMIP protocol version (Protocol Version Major and Minor,
// KMIP 2.0 §7.1). It decides what a response may contain: a server answers
// in the version of the request and never sends a tag or enumeration value
// that version lacks (KMIP 2.0 §9.16; ../shared/guide/users.md lists the
// clients that break otherwise).
type Version struct {
	Major, Minor int32
}

// The versions kmipd speaks.
var (
	V1_0 = Version{1, 0}
	V1_1 = Version{1, 1}
	V1_2 = Version{1, 2}
	V1_3 = Version{1, 3}
	V1_4 = Version{1, 4}
	V2_0 = Version{2, 0}
	V2_1 = Version{2, 1}
)

// SupportedVersions lists the supported versions, most preferred first, as
// Discover Versions answers (KMIP 2.0 §6.1.16).
var SupportedVersions = []Version{V2_1, V2_0, V1_4, V1_3, V1_2, V1_1, V1_0}

// Supported reports whether v is one kmipd speaks.
func (v Version) Supported() bool {
	switch v.Major {
	case 1:
		return v.Minor >= 0 && v.Minor <= 4
	case 2:
		return v.Minor == 0 || v.Minor == 1
	}
	return false
}

// Less orders versions.
func (v Version) Less(w Version) bool {
	return v.Major < w.Major || v.Major == w.Major && v.Minor < w.Minor
}

// AtLeast reports whether v is w or newer.
func (v Version) AtLeast(w Version) bool { return !v.Less(w) }

// V2 reports whether v uses the KMIP 2.x attribute model (Attributes
// instead of TemplateAttribute, Attribute Reference instead of names).
func (v Version) V2() bool { return v.Major >= 2 }

func (v Version) String() string {
	return strconv.Itoa(int(v.Major)) + "." + strconv.Itoa(int(v.Minor))
}

// set returns the generated tables' version bit for v. The tables were taken
// from the 1.4, 2.0 and 2.1 specifications; 1.0–1.3 map onto 1.4's set.
func (v Version) set() ttlv.VersionSet {
	switch {
	case v.Major >= 2 && v.Minor >= 1:
		return ttlv.V2_1
	case v.Major >= 2:
		return ttlv.V2_0
	}
	return ttlv.V1_4
}

// HasTag reports whether tag exists in version v, so encoders can leave out
// what an older client cannot parse. Extension tags (0x54xxxx) are always
// allowed: they are the sender's to define.
func (v Version) HasTag(tag ttlv.Tag) bool {
	if tag>>16 == 0x54 {
		return true
	}
	return ttlv.TagVersions(tag)&v.set() != 0
}

// HasEnum reports whether the enumeration value val of items tagged tag
// exists in version v.
func (v Version) HasEnum(tag ttlv.Tag, val uint32) bool {
	if val&0x80000000 != 0 { // extension values (KMIP 2.0 §10.1.1.3 note)
		return true
	}
	return ttlv.EnumVersions(tag, val)&v.set() != 0
}
