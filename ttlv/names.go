package ttlv

import (
	"iter"
	"sort"
)

//go:generate go run ./internal/gentables

// The tag and enumeration tables (ztags.go, zenums.go) are generated from
// the KMIP 1.4, 2.0 and 2.1 specification tables by internal/gentables;
// each is the union of the three versions. Names are the XML CamelCase forms
// (KMIP Profiles 2.1 §5.4.1.1), which the JSON encoding shares. Where the
// specifications renamed a value, the newest name is the one returned and
// the older ones are still accepted; where the OASIS test cases spell a
// value differently from the specification (MGF1 for "MFG1", NotAuthorized
// for "Not Authorised"), their spelling is returned and both are accepted.

// VersionSet is a set of KMIP versions, as recorded in the tables.
type VersionSet uint8

// The versions of the tables. V1_4 stands for all of 1.0–1.4: only the 1.4
// tables were extracted, and 1.x only ever added to them.
const (
	V1_4 VersionSet = 1 << iota
	V2_0
	V2_1
)

// String lists the versions, e.g. "1.4|2.0".
func (s VersionSet) String() string {
	if s == 0 {
		return "none"
	}
	var b []byte
	for i, n := range [...]string{"1.4", "2.0", "2.1"} {
		if s&(1<<i) != 0 {
			if b != nil {
				b = append(b, '|')
			}
			b = append(b, n...)
		}
	}
	if rest := s &^ (V1_4 | V2_0 | V2_1); rest != 0 {
		if b != nil {
			b = append(b, '|')
		}
		b = namesAppendHex(b, uint32(rest), 2)
	}
	return string(b)
}

// Kind tells how the value of items with a given tag is named.
type Kind uint8

const (
	// KindNone: the tag's values have no names.
	KindNone Kind = iota
	// KindEnum: an Enumeration whose values are named by a table.
	KindEnum
	// KindMask: an Integer bit mask whose bits are named by a table.
	KindMask
	// KindTagEnum: an Enumeration whose value is a tag, named as the tag
	// (Attribute Reference, KMIP 2.0 §5.5: State is 0x0042008D).
	KindTagEnum
)

func (k Kind) String() string {
	switch k {
	case KindNone:
		return "none"
	case KindEnum:
		return "enum"
	case KindMask:
		return "mask"
	case KindTagEnum:
		return "tag-enum"
	}
	return "Kind(" + string(namesAppendHex(nil, uint32(k), 2)) + ")"
}

type tagInfo struct {
	tag  Tag
	name string // XML name
	spec string // specification name
	vers VersionSet
	kind Kind
	tbl  uint8 // index into enumTables for KindEnum and KindMask
}

type enumValue struct {
	v    uint32
	name string
	vers VersionSet
}

type nameAlias struct {
	name string
	v    uint32
}

type enumTable struct {
	name    string      // the specification's table name
	values  []enumValue // ascending
	aliases []nameAlias // further accepted names
}

type enumKey struct {
	tbl  uint8
	name string
}

var (
	// tagIndex maps the low 16 bits of a 0x42xxxx tag to 1 + its index in
	// tagList, or 0.
	tagIndex = func() (idx [tagLowMax + 1]uint16) {
		for i, ti := range tagList {
			idx[ti.tag&0xffff] = uint16(i + 1)
		}
		return idx
	}()

	tagByName = func() map[string]Tag {
		m := make(map[string]Tag, len(tagList)+len(tagAliases))
		for _, ti := range tagList {
			m[ti.name] = ti.tag
		}
		for _, a := range tagAliases {
			m[a.name] = Tag(a.v)
		}
		return m
	}()

	tagBySpec = func() map[string]Tag {
		m := make(map[string]Tag, len(tagList))
		for _, ti := range tagList {
			m[ti.spec] = ti.tag
		}
		return m
	}()

	enumByName = func() map[enumKey]uint32 {
		m := make(map[enumKey]uint32)
		for i := range enumTables {
			t := &enumTables[i]
			for _, e := range t.values {
				m[enumKey{uint8(i), e.name}] = e.v
			}
			for _, a := range t.aliases {
				m[enumKey{uint8(i), a.name}] = a.v
			}
		}
		return m
	}()
)

func lookupTag(t Tag) *tagInfo {
	if t>>16 != 0x42 || t&0xffff > tagLowMax {
		return nil
	}
	i := tagIndex[t&0xffff]
	if i == 0 {
		return nil
	}
	return &tagList[i-1]
}

// String returns the tag's XML name, or 0x followed by six lowercase hex
// digits if the tag is not in the tables.
func (t Tag) String() string {
	if ti := lookupTag(t); ti != nil {
		return ti.name
	}
	n := 6
	if t > 0xffffff {
		n = 8
	}
	return string(namesAppendHex(make([]byte, 0, 10), uint32(t), n))
}

// TagByName returns the tag with the XML name s, or the tag written as 0x
// and six hex digits (any tag value, known or not; see ValidTag).
func TagByName(s string) (Tag, bool) {
	if t, ok := tagByName[s]; ok {
		return t, true
	}
	if len(s) == 8 && s[0] == '0' && s[1] == 'x' {
		if v, ok := namesParseHex(s[2:]); ok {
			return Tag(v), true
		}
	}
	return 0, false
}

// TagBySpecName returns the tag with the specification name s, e.g.
// "Cryptographic Algorithm", the form KMIP 1.x uses for Attribute Name.
// Custom attribute names ("x-…", "y-…") are not tags.
func TagBySpecName(s string) (Tag, bool) {
	t, ok := tagBySpec[s]
	return t, ok
}

// TagBySpecNameBytes is TagBySpecName for a name held in a byte slice; it
// does not allocate.
func TagBySpecNameBytes(b []byte) (Tag, bool) {
	t, ok := tagBySpec[string(b)]
	return t, ok
}

// TagSpecName returns the specification name of t, e.g. "Cryptographic
// Algorithm" for TagCryptographicAlgorithm.
func TagSpecName(t Tag) (string, bool) {
	if ti := lookupTag(t); ti != nil {
		return ti.spec, true
	}
	return "", false
}

// TagVersions returns the versions that define t, 0 if none does.
func TagVersions(t Tag) VersionSet {
	if ti := lookupTag(t); ti != nil {
		return ti.vers
	}
	return 0
}

// TagKind tells how the values of items tagged t are named.
func TagKind(t Tag) Kind {
	if ti := lookupTag(t); ti != nil {
		return ti.kind
	}
	return KindNone
}

// IsMask reports whether items tagged t are Integer bit masks with named
// bits (Cryptographic Usage Mask, Storage Status Mask, Protection Storage
// Mask).
func IsMask(t Tag) bool { return TagKind(t) == KindMask }

// enumTableOf returns the enumeration table of t, if it has one.
func enumTableOf(t Tag) (*tagInfo, *enumTable) {
	ti := lookupTag(t)
	if ti == nil || ti.tbl == 0 {
		return ti, nil
	}
	return ti, &enumTables[ti.tbl]
}

func (et *enumTable) find(v uint32) *enumValue {
	vals := et.values
	i := sort.Search(len(vals), func(i int) bool { return vals[i].v >= v })
	if i < len(vals) && vals[i].v == v {
		return &vals[i]
	}
	return nil
}

// EnumName returns the name of value v of the enumeration (or mask bit)
// used by items tagged t: the newest version's name. For KindTagEnum tags it
// is the name of tag v. It reports false for values and tags the tables lack.
func EnumName(t Tag, v uint32) (string, bool) {
	ti, et := enumTableOf(t)
	switch {
	case et != nil:
		if e := et.find(v); e != nil {
			return e.name, true
		}
	case ti != nil && ti.kind == KindTagEnum:
		if x := lookupTag(Tag(v)); x != nil {
			return x.name, true
		}
	}
	return "", false
}

// EnumValue returns the value named name in the enumeration (or mask) used
// by items tagged t. It accepts every version's name and the spellings of
// the OASIS test cases; it does not parse hex. For KindTagEnum tags the
// names are tag names.
func EnumValue(t Tag, name string) (uint32, bool) {
	ti := lookupTag(t)
	if ti == nil {
		return 0, false
	}
	switch ti.kind {
	case KindEnum, KindMask:
		v, ok := enumByName[enumKey{ti.tbl, name}]
		return v, ok
	case KindTagEnum:
		v, ok := tagByName[name]
		return uint32(v), ok
	}
	return 0, false
}

// EnumVersions returns the versions that define value v of the enumeration
// (or mask bit) used by items tagged t, 0 if none does.
func EnumVersions(t Tag, v uint32) VersionSet {
	ti, et := enumTableOf(t)
	switch {
	case et != nil:
		if e := et.find(v); e != nil {
			return e.vers
		}
	case ti != nil && ti.kind == KindTagEnum:
		return TagVersions(Tag(v))
	}
	return 0
}

// Tags yields every tag in the tables, ascending.
func Tags() iter.Seq[Tag] {
	return func(yield func(Tag) bool) {
		for i := range tagList {
			if !yield(tagList[i].tag) {
				return
			}
		}
	}
}

// Enums yields the values and names of the enumeration (or mask bits) used
// by items tagged t, ascending; for KindTagEnum tags, every tag.
func Enums(t Tag) iter.Seq2[uint32, string] {
	return func(yield func(uint32, string) bool) {
		ti, et := enumTableOf(t)
		switch {
		case et != nil:
			for _, e := range et.values {
				if !yield(e.v, e.name) {
					return
				}
			}
		case ti != nil && ti.kind == KindTagEnum:
			for i := range tagList {
				if !yield(uint32(tagList[i].tag), tagList[i].name) {
					return
				}
			}
		}
	}
}

// AppendMask appends the names of the bits set in v, ascending, separated
// by sep (' ' in XML, '|' in JSON), to dst. Bits the table of t does not
// name are appended last as one 0x%08x item; zero, and any value of a tag
// that is not a mask, is appended as hex.
func AppendMask(dst []byte, t Tag, v uint32, sep byte) []byte {
	ti, et := enumTableOf(t)
	if et == nil || ti.kind != KindMask || v == 0 {
		return namesAppendHex(dst, v, 8)
	}
	rest, first := v, true
	for _, e := range et.values {
		if v&e.v == e.v {
			if !first {
				dst = append(dst, sep)
			}
			dst = append(dst, e.name...)
			rest &^= e.v
			first = false
		}
	}
	if rest != 0 {
		if !first {
			dst = append(dst, sep)
		}
		dst = namesAppendHex(dst, rest, 8)
	}
	return dst
}

// ParseMask parses a mask written as names and 0x hex items separated by
// sep, ORing them; blanks around items are ignored. For a tag that is not a
// mask only hex items parse. A plain decimal integer is not a mask item:
// callers try it first.
func ParseMask(t Tag, s string, sep byte) (uint32, bool) {
	ti := lookupTag(t)
	var v uint32
	n := 0
	for s != "" {
		item := s
		s = ""
		for i := 0; i < len(item); i++ {
			if item[i] == sep {
				item, s = item[:i], item[i+1:]
				break
			}
		}
		item = namesTrim(item)
		if item == "" {
			continue
		}
		n++
		if len(item) > 2 && item[0] == '0' && item[1] == 'x' && len(item) <= 10 {
			x, ok := namesParseHex(item[2:])
			if !ok {
				return 0, false
			}
			v |= x
			continue
		}
		if ti == nil || ti.kind != KindMask {
			return 0, false
		}
		x, ok := enumByName[enumKey{ti.tbl, item}]
		if !ok {
			return 0, false
		}
		v |= x
	}
	return v, n > 0
}

func namesTrim(s string) string {
	for s != "" && namesBlank(s[0]) {
		s = s[1:]
	}
	for s != "" && namesBlank(s[len(s)-1]) {
		s = s[:len(s)-1]
	}
	return s
}

func namesBlank(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// namesAppendHex appends 0x and v as n lowercase hex digits.
func namesAppendHex(dst []byte, v uint32, n int) []byte {
	const digits = "0123456789abcdef"
	dst = append(dst, '0', 'x')
	for i := n - 1; i >= 0; i-- {
		dst = append(dst, digits[v>>(4*uint(i))&0xf])
	}
	return dst
}

// namesParseHex parses 1 to 8 hex digits of either case.
func namesParseHex(s string) (uint32, bool) {
	if s == "" || len(s) > 8 {
		return 0, false
	}
	var v uint32
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		v = v<<4 | uint32(c)
	}
	return v, true
}
