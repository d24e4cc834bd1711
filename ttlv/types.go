package ttlv

// Tag is a KMIP tag: three bytes on the wire, 0x42xxxx for the
// specification's tags and 0x54xxxx for extensions (KMIP 2.0 §10.1.1).
type Tag uint32

// Type is the one-byte item type of a TTLV item (KMIP 2.0 §11.23, Item Type).
type Type byte

// Item types.
const (
	TypeStructure        Type = 0x01
	TypeInteger          Type = 0x02
	TypeLongInteger      Type = 0x03
	TypeBigInteger       Type = 0x04
	TypeEnumeration      Type = 0x05
	TypeBoolean          Type = 0x06
	TypeTextString       Type = 0x07
	TypeByteString       Type = 0x08
	TypeDateTime         Type = 0x09
	TypeInterval         Type = 0x0A
	TypeDateTimeExtended Type = 0x0B
)

var typeNames = [...]string{
	TypeStructure:        "Structure",
	TypeInteger:          "Integer",
	TypeLongInteger:      "LongInteger",
	TypeBigInteger:       "BigInteger",
	TypeEnumeration:      "Enumeration",
	TypeBoolean:          "Boolean",
	TypeTextString:       "TextString",
	TypeByteString:       "ByteString",
	TypeDateTime:         "DateTime",
	TypeInterval:         "Interval",
	TypeDateTimeExtended: "DateTimeExtended",
}

// Valid reports whether t is one of the eleven item types.
func (t Type) Valid() bool { return t >= TypeStructure && t <= TypeDateTimeExtended }

// String returns the XML/JSON name of the type (KMIP Profiles 2.1 §5.4.1.4),
// or 0xNN for an unknown byte.
func (t Type) String() string {
	if t.Valid() {
		return typeNames[t]
	}
	const hex = "0123456789abcdef"
	return string([]byte{'0', 'x', hex[t>>4], hex[t&0xf]})
}

// ParseType returns the type named s (as written in XML and JSON).
func ParseType(s string) (Type, bool) {
	for t := TypeStructure; t <= TypeDateTimeExtended; t++ {
		if typeNames[t] == s {
			return t, true
		}
	}
	return 0, false
}

// fixedLen is the exact value length of fixed-size types; 0 means variable.
func (t Type) fixedLen() int {
	switch t {
	case TypeInteger, TypeEnumeration, TypeInterval:
		return 4
	case TypeLongInteger, TypeDateTime, TypeDateTimeExtended, TypeBoolean:
		return 8
	}
	return 0
}

// ValidTag reports whether t lies in the specification (0x42xxxx) or
// extension (0x54xxxx) range.
func ValidTag(t Tag) bool {
	hi := t >> 16
	return hi == 0x42 || hi == 0x54
}
