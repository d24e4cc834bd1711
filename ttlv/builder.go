package ttlv

import (
	"encoding/binary"
	"math/big"
	"time"
)

// MaxBuilderDepth bounds how deeply a Builder nests structures; its stack of
// open structures is a fixed array so that building allocates nothing.
const MaxBuilderDepth = 32

// Builder appends TTLV items to a caller's buffer. Structures are opened
// with Begin and closed with End, which backpatches their length, so no
// item is ever encoded twice. Errors are sticky: after the first one every
// call is a no-op and Bytes reports it.
//
// A Builder allocates nothing as long as the buffer it was given has room;
// a zero Builder is ready to use with an empty buffer.
type Builder struct {
	buf   []byte
	max   int // 0: no cap
	err   error
	depth int
	open  [MaxBuilderDepth]int
}

// Mark is a position in a Builder to roll back to.
type Mark struct {
	n, depth int
	err      error
}

// NewBuilder returns a Builder appending to buf[:0] with no size cap.
func NewBuilder(buf []byte) *Builder {
	b := new(Builder)
	b.Reset(buf, 0)
	return b
}

// Reset makes b append to buf[:0], capping the output at max bytes
// (0 means no cap; KMIP's Maximum Response Size is such a cap).
func (b *Builder) Reset(buf []byte, max int) {
	b.buf, b.max, b.err, b.depth = buf[:0], max, nil, 0
}

// Bytes returns the encoded items, or the first error. Open structures are an
// error.
func (b *Builder) Bytes() ([]byte, error) {
	if b.err != nil {
		return nil, b.err
	}
	if b.depth != 0 {
		return nil, ErrBuilder
	}
	return b.buf, nil
}

// Err returns the sticky error, if any.
func (b *Builder) Err() error { return b.err }

// Len returns the number of bytes written so far.
func (b *Builder) Len() int { return len(b.buf) }

// Mark records the current position.
func (b *Builder) Mark() Mark { return Mark{n: len(b.buf), depth: b.depth, err: b.err} }

// Rollback discards everything written since m, including an error raised
// since then, so that a failed batch item can be replaced by an error item.
func (b *Builder) Rollback(m Mark) {
	if m.n <= len(b.buf) {
		b.buf = b.buf[:m.n]
	}
	b.depth, b.err = m.depth, m.err
}

// grow reserves n bytes and returns them, or nil after an error.
func (b *Builder) grow(n int) []byte {
	if b.err != nil {
		return nil
	}
	l := len(b.buf)
	if b.max > 0 && l+n > b.max {
		b.err = ErrTooLarge
		return nil
	}
	if cap(b.buf)-l < n {
		nb := make([]byte, l, 2*cap(b.buf)+n)
		copy(nb, b.buf)
		b.buf = nb
	}
	b.buf = b.buf[:l+n]
	return b.buf[l:]
}

func putHeader(p []byte, tag Tag, typ Type, n int) {
	p[0], p[1], p[2], p[3] = byte(tag>>16), byte(tag>>8), byte(tag), byte(typ)
	binary.BigEndian.PutUint32(p[4:8], uint32(n))
}

// Begin opens a Structure.
func (b *Builder) Begin(tag Tag) {
	if b.err != nil {
		return
	}
	if b.depth == MaxBuilderDepth {
		b.err = ErrBuilder
		return
	}
	start := len(b.buf)
	p := b.grow(headerLen)
	if p == nil {
		return
	}
	putHeader(p, tag, TypeStructure, 0)
	b.open[b.depth] = start
	b.depth++
}

// End closes the innermost open Structure and backpatches its length.
func (b *Builder) End() {
	if b.err != nil {
		return
	}
	if b.depth == 0 {
		b.err = ErrBuilder
		return
	}
	b.depth--
	start := b.open[b.depth]
	binary.BigEndian.PutUint32(b.buf[start+4:start+8], uint32(len(b.buf)-start-headerLen))
}

func (b *Builder) fixed4(tag Tag, typ Type, v uint32) {
	if p := b.grow(16); p != nil {
		putHeader(p, tag, typ, 4)
		binary.BigEndian.PutUint32(p[8:12], v)
		clear(p[12:16])
	}
}

func (b *Builder) fixed8(tag Tag, typ Type, v uint64) {
	if p := b.grow(16); p != nil {
		putHeader(p, tag, typ, 8)
		binary.BigEndian.PutUint64(p[8:16], v)
	}
}

// AddInt32 appends an Integer.
func (b *Builder) AddInt32(tag Tag, v int32) { b.fixed4(tag, TypeInteger, uint32(v)) }

// AddEnum appends an Enumeration.
func (b *Builder) AddEnum(tag Tag, v uint32) { b.fixed4(tag, TypeEnumeration, v) }

// AddInterval appends an Interval (seconds).
func (b *Builder) AddInterval(tag Tag, v uint32) { b.fixed4(tag, TypeInterval, v) }

// AddLong appends a Long Integer.
func (b *Builder) AddLong(tag Tag, v int64) { b.fixed8(tag, TypeLongInteger, uint64(v)) }

// AddBool appends a Boolean.
func (b *Builder) AddBool(tag Tag, v bool) {
	var x uint64
	if v {
		x = 1
	}
	b.fixed8(tag, TypeBoolean, x)
}

// AddDateTime appends a Date-Time given in seconds since the Unix epoch.
func (b *Builder) AddDateTime(tag Tag, unix int64) { b.fixed8(tag, TypeDateTime, uint64(unix)) }

// AddTime appends a Date-Time; sub-second precision is dropped.
func (b *Builder) AddTime(tag Tag, t time.Time) { b.AddDateTime(tag, t.Unix()) }

// AddDateTimeExtended appends a Date-Time Extended (microseconds, KMIP 2.x).
func (b *Builder) AddDateTimeExtended(tag Tag, micros int64) {
	b.fixed8(tag, TypeDateTimeExtended, uint64(micros))
}

func (b *Builder) variable(tag Tag, typ Type, n int) []byte {
	padded := (n + 7) &^ 7
	p := b.grow(headerLen + padded)
	if p == nil {
		return nil
	}
	putHeader(p, tag, typ, n)
	clear(p[headerLen+n:])
	return p[headerLen : headerLen+n]
}

// AddText appends a Text String.
func (b *Builder) AddText(tag Tag, s string) {
	if p := b.variable(tag, TypeTextString, len(s)); p != nil {
		copy(p, s)
	}
}

// AddTextBytes appends a Text String held in a byte slice.
func (b *Builder) AddTextBytes(tag Tag, s []byte) {
	if p := b.variable(tag, TypeTextString, len(s)); p != nil {
		copy(p, s)
	}
}

// AddBytes appends a Byte String.
func (b *Builder) AddBytes(tag Tag, v []byte) {
	if p := b.variable(tag, TypeByteString, len(v)); p != nil {
		copy(p, v)
	}
}

// AddBigInt appends a Big Integer from big-endian two's-complement bytes,
// sign-extending them to a multiple of 8 bytes (KMIP 2.0 §10.1.1.3). An
// empty slice encodes zero.
func (b *Builder) AddBigInt(tag Tag, twos []byte) {
	n := len(twos)
	if n == 0 {
		n = 8
	}
	padded := (n + 7) &^ 7
	p := b.grow(headerLen + padded)
	if p == nil {
		return
	}
	putHeader(p, tag, TypeBigInteger, padded)
	var fill byte
	if len(twos) > 0 && twos[0]&0x80 != 0 {
		fill = 0xff
	}
	v := p[headerLen:]
	ext := padded - len(twos)
	for i := 0; i < ext; i++ {
		v[i] = fill
	}
	copy(v[ext:], twos)
}

// AddBigIntValue appends x as a Big Integer. It allocates.
func (b *Builder) AddBigIntValue(tag Tag, x *big.Int) {
	b.AddBigInt(tag, twosComplement(x))
}

func twosComplement(x *big.Int) []byte {
	if x.Sign() >= 0 {
		bs := x.Bytes()
		if len(bs) > 0 && bs[0]&0x80 != 0 {
			bs = append([]byte{0}, bs...)
		}
		return bs
	}
	// -x in n bytes is 2^(8n) - |x|; choose n so the top bit is set.
	n := (x.BitLen() + 8) / 8
	m := new(big.Int).Lsh(big.NewInt(1), uint(8*n))
	m.Add(m, x)
	bs := m.Bytes()
	for len(bs) < n {
		bs = append([]byte{0}, bs...)
	}
	return bs
}

// AddRaw appends already encoded items verbatim (for example an Item's Raw
// bytes taken from a validated request).
func (b *Builder) AddRaw(raw []byte) {
	if p := b.grow(len(raw)); p != nil {
		copy(p, raw)
	}
}

// AddItem appends an item with the given tag, type and unpadded value,
// computing the padding. It is how generic converters (XML, JSON) write.
// A Big Integer whose length is not a multiple of 8 is sign-extended as by
// AddBigInt; one that is, including an empty one, is copied as it is, so
// that any checked item can be re-encoded exactly.
func (b *Builder) AddItem(tag Tag, typ Type, data []byte) {
	if typ == TypeBigInteger && len(data)%8 != 0 {
		b.AddBigInt(tag, data)
		return
	}
	if p := b.variable(tag, typ, len(data)); p != nil {
		copy(p, data)
	}
}

// Marshaler is implemented by values that encode themselves as TTLV.
type Marshaler interface {
	MarshalTTLV(b *Builder)
}

// PatchUint32 overwrites the 4-byte value of the Integer or Enumeration item
// whose header starts at off (a Len taken just before the item was added).
// It lets a writer fix a count or a status once later items are known.
func (b *Builder) PatchUint32(off int, v uint32) {
	if b.err != nil || off < 0 || off+12 > len(b.buf) {
		return
	}
	binary.BigEndian.PutUint32(b.buf[off+8:off+12], v)
}
