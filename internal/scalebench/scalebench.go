// Package scalebench holds the objects of the store-scale benchmark
// (testdata/bench/scale.sh): the Create request of object i, which both
// `kmipd dev fill` and the probe send, and the Locate requests that find
// them by Name and by custom attribute.
//
// Object i is a 128-bit AES key named Prefix-i with the custom attribute
// x-Attr = "g<i/GroupSize>", so that a Locate by that attribute matches
// GroupSize objects.
package scalebench

import (
	"strconv"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Defaults of the filled objects.
const (
	DefaultPrefix    = "scale"
	DefaultAttr      = "scale-group" // written as the custom attribute x-scale-group
	DefaultGroupSize = 10
)

// Objects names the filled objects.
type Objects struct {
	Prefix    string
	Attr      string // the custom attribute's name without "x-"
	GroupSize int
}

// Default is the object set scale.sh fills.
var Default = Objects{Prefix: DefaultPrefix, Attr: DefaultAttr, GroupSize: DefaultGroupSize}

// Name is the Name of object i.
func (o Objects) Name(i int) string { return o.Prefix + "-" + strconv.Itoa(i) }

// Group is the custom attribute value of object i.
func (o Objects) Group(i int) string { return "g" + strconv.Itoa(i/o.GroupSize) }

// Create writes the KMIP 2.0 Create payload of object i.
func (o Objects) Create(i int) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		b.Begin(ttlv.TagAttributes)
		b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES))
		b.AddInt32(ttlv.TagCryptographicLength, 128)
		b.AddInt32(ttlv.TagCryptographicUsageMask, int32(kmip.CryptographicUsageMaskEncrypt|kmip.CryptographicUsageMaskDecrypt))
		o.name(b, i)
		o.attr(b, i)
		b.End()
	}
}

func (o Objects) name(b *ttlv.Builder, i int) {
	b.Begin(ttlv.TagName)
	b.AddText(ttlv.TagNameValue, o.Name(i))
	b.AddEnum(ttlv.TagNameType, uint32(kmip.NameTypeUninterpretedTextString))
	b.End()
}

func (o Objects) attr(b *ttlv.Builder, i int) {
	b.Begin(ttlv.TagAttribute)
	b.AddText(ttlv.TagVendorIdentification, "x")
	b.AddText(ttlv.TagAttributeName, o.Attr)
	b.AddText(ttlv.TagAttributeValue, o.Group(i))
	b.End()
}

// LocateByName writes the KMIP 2.0 Locate payload that finds object i by
// its Name.
func (o Objects) LocateByName(i int) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		b.Begin(ttlv.TagAttributes)
		o.name(b, i)
		b.End()
	}
}

// LocateByAttr writes the KMIP 2.0 Locate payload that finds the
// GroupSize objects of object i's group by the custom attribute.
func (o Objects) LocateByAttr(i int) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		b.Begin(ttlv.TagAttributes)
		o.attr(b, i)
		b.End()
	}
}
