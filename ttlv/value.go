package ttlv

import (
	"encoding/binary"
	"math/big"
	"time"
)

// Value is a read cursor over a sequence of encoded TTLV items, in the style
// of cryptobyte.String: each read consumes one item from the front and
// returns false, consuming nothing, when the next item is missing, malformed
// or not what was asked for. Values alias the input; nothing is copied.
//
// The cursor checks bounds and the type and length the read asks for, so it
// is safe on any input; Check validates a whole message (padding, UTF-8,
// Booleans, structure lengths) once up front.
type Value []byte

// Item is one decoded item. Data is the value without padding, aliasing the
// input; Raw is the whole encoded item including header and padding.
type Item struct {
	Tag  Tag
	Type Type
	Data []byte
	Raw  []byte
}

// Empty reports whether no items remain.
func (v Value) Empty() bool { return len(v) == 0 }

// Peek returns the next item without consuming it.
func (v Value) Peek() (Item, bool) {
	it, _, ok := v.next()
	return it, ok
}

// PeekTag returns the tag of the next item, or 0 if there is none.
func (v Value) PeekTag() Tag {
	if len(v) < headerLen {
		return 0
	}
	return Tag(readTag(v))
}

// Next consumes and returns the next item.
func (v *Value) Next() (Item, bool) {
	it, rest, ok := v.next()
	if ok {
		*v = rest
	}
	return it, ok
}

// Skip consumes the next item, whatever it is.
func (v *Value) Skip() bool {
	_, ok := v.Next()
	return ok
}

func (v Value) next() (Item, Value, bool) {
	if len(v) < headerLen {
		return Item{}, nil, false
	}
	n := uint64(binary.BigEndian.Uint32(v[4:8]))
	total := uint64(headerLen) + (n+7)&^7
	if total > uint64(len(v)) {
		return Item{}, nil, false
	}
	it := Item{
		Tag:  Tag(readTag(v)),
		Type: Type(v[3]),
		Data: v[headerLen : headerLen+n : headerLen+n],
		Raw:  v[:total:total],
	}
	return it, v[total:], true
}

// read consumes the next item if it has the given tag and type and, for
// fixed-size types, the exact length.
func (v *Value) read(tag Tag, typ Type) ([]byte, bool) {
	it, rest, ok := v.next()
	if !ok || it.Tag != tag || it.Type != typ {
		return nil, false
	}
	if fl := typ.fixedLen(); fl != 0 && len(it.Data) != fl {
		return nil, false
	}
	*v = rest
	return it.Data, true
}

// ReadStructure reads a Structure with the given tag into out.
func (v *Value) ReadStructure(tag Tag, out *Value) bool {
	d, ok := v.read(tag, TypeStructure)
	if ok {
		*out = d
	}
	return ok
}

// ReadInt32 reads an Integer.
func (v *Value) ReadInt32(tag Tag, out *int32) bool {
	d, ok := v.read(tag, TypeInteger)
	if ok {
		*out = int32(binary.BigEndian.Uint32(d))
	}
	return ok
}

// ReadEnum reads an Enumeration.
func (v *Value) ReadEnum(tag Tag, out *uint32) bool {
	d, ok := v.read(tag, TypeEnumeration)
	if ok {
		*out = binary.BigEndian.Uint32(d)
	}
	return ok
}

// ReadInterval reads an Interval (seconds).
func (v *Value) ReadInterval(tag Tag, out *uint32) bool {
	d, ok := v.read(tag, TypeInterval)
	if ok {
		*out = binary.BigEndian.Uint32(d)
	}
	return ok
}

// ReadLong reads a Long Integer.
func (v *Value) ReadLong(tag Tag, out *int64) bool {
	d, ok := v.read(tag, TypeLongInteger)
	if ok {
		*out = int64(binary.BigEndian.Uint64(d))
	}
	return ok
}

// ReadBool reads a Boolean. A value other than 0 or 1 is refused.
func (v *Value) ReadBool(tag Tag, out *bool) bool {
	c := *v
	d, ok := c.read(tag, TypeBoolean)
	if !ok {
		return false
	}
	x := binary.BigEndian.Uint64(d)
	if x > 1 {
		return false
	}
	*v, *out = c, x == 1
	return true
}

// ReadDateTime reads a Date-Time as seconds since the Unix epoch.
func (v *Value) ReadDateTime(tag Tag, out *int64) bool {
	d, ok := v.read(tag, TypeDateTime)
	if ok {
		*out = int64(binary.BigEndian.Uint64(d))
	}
	return ok
}

// ReadText reads a Text String without copying it.
func (v *Value) ReadText(tag Tag, out *[]byte) bool {
	d, ok := v.read(tag, TypeTextString)
	if ok {
		*out = d
	}
	return ok
}

// ReadBytes reads a Byte String without copying it.
func (v *Value) ReadBytes(tag Tag, out *[]byte) bool {
	d, ok := v.read(tag, TypeByteString)
	if ok {
		*out = d
	}
	return ok
}

// Find returns the first item of the sequence with the given tag, without
// consuming anything.
func (v Value) Find(tag Tag) (Item, bool) {
	for {
		it, ok := v.Next()
		if !ok {
			return Item{}, false
		}
		if it.Tag == tag {
			return it, true
		}
	}
}

// Children returns the items of a Structure (an empty Value for other types).
func (it Item) Children() Value {
	if it.Type != TypeStructure {
		return nil
	}
	return Value(it.Data)
}

// Int32 returns an Integer's value (0 if the item is not 4 bytes long).
func (it Item) Int32() int32 { return int32(it.Uint32()) }

// Uint32 returns the 4-byte value of an Integer, Enumeration or Interval.
func (it Item) Uint32() uint32 {
	if len(it.Data) != 4 {
		return 0
	}
	return binary.BigEndian.Uint32(it.Data)
}

// Int64 returns the 8-byte value of a Long Integer, Date-Time,
// Date-Time Extended or Boolean.
func (it Item) Int64() int64 {
	if len(it.Data) != 8 {
		return 0
	}
	return int64(binary.BigEndian.Uint64(it.Data))
}

// Bool returns a Boolean's value.
func (it Item) Bool() bool { return it.Int64() == 1 }

// Time returns a Date-Time (seconds) or Date-Time Extended (microseconds)
// as a UTC time.
func (it Item) Time() time.Time {
	if it.Type == TypeDateTimeExtended {
		return time.UnixMicro(it.Int64()).UTC()
	}
	return time.Unix(it.Int64(), 0).UTC()
}

// BigInt decodes a Big Integer (two's complement, big-endian). It allocates.
func (it Item) BigInt() *big.Int {
	x := new(big.Int).SetBytes(it.Data)
	if len(it.Data) > 0 && it.Data[0]&0x80 != 0 {
		x.Sub(x, new(big.Int).Lsh(big.NewInt(1), uint(8*len(it.Data))))
	}
	return x
}
