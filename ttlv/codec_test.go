package ttlv_test

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/ttlv"
)

// hdr encodes a raw header; the tests build hostile input byte by byte
// rather than with the Builder under test.
func hdr(tag uint32, typ byte, n uint32) []byte {
	b := []byte{byte(tag >> 16), byte(tag >> 8), byte(tag), typ, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[4:], n)
	return b
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

func wrap(tag uint32, children ...[]byte) []byte {
	body := cat(children...)
	return cat(hdr(tag, 1, uint32(len(body))), body)
}

func nest(depth int) []byte {
	m := cat(hdr(0x420094, 2, 4), []byte{0, 0, 0, 1, 0, 0, 0, 0})
	for i := 0; i < depth; i++ {
		m = wrap(0x420078, m)
	}
	return m
}

var okInt = cat(hdr(0x420094, 2, 4), []byte{0, 0, 0, 7, 0, 0, 0, 0})

func TestCheck_Malformed(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want error
		off  int
	}{
		{"empty", nil, ttlv.ErrTruncated, 0},
		{"truncated header", hdr(0x420078, 1, 0)[:5], ttlv.ErrTruncated, 0},
		{"truncated value", cat(hdr(0x420078, 1, 16), okInt[:12]), ttlv.ErrTruncated, 0},
		{"length over input", cat(hdr(0x420078, 1, 1<<20), okInt), ttlv.ErrTruncated, 0},
		{"2^31 length", cat(hdr(0x420078, 1, 1<<31), okInt), ttlv.ErrTruncated, 0},
		{"max uint32 text length", wrap(0x420078, hdr(0x420055, 7, 0xffffffff)), ttlv.ErrLengthMismatch, 8},
		{"integer length 8", wrap(0x420078, cat(hdr(0x420094, 2, 8), make([]byte, 8))), ttlv.ErrBadLength, 8},
		{"enum length 2", wrap(0x420078, cat(hdr(0x42005C, 5, 2), make([]byte, 8))), ttlv.ErrBadLength, 8},
		{"interval length 8", wrap(0x420078, cat(hdr(0x42005C, 0x0A, 8), make([]byte, 8))), ttlv.ErrBadLength, 8},
		{"long length 4", wrap(0x420078, cat(hdr(0x42005C, 3, 4), make([]byte, 8))), ttlv.ErrBadLength, 8},
		{"datetime length 4", wrap(0x420078, cat(hdr(0x420001, 9, 4), make([]byte, 8))), ttlv.ErrBadLength, 8},
		{"datetime ext length 16", wrap(0x420078, cat(hdr(0x420001, 0x0B, 16), make([]byte, 16))), ttlv.ErrBadLength, 8},
		{"boolean length 1", wrap(0x420078, cat(hdr(0x420008, 6, 1), make([]byte, 8))), ttlv.ErrBadLength, 8},
		{"bad boolean", wrap(0x420078, cat(hdr(0x420008, 6, 8), []byte{0, 0, 0, 0, 0, 0, 0, 2})), ttlv.ErrBadBoolean, 8},
		{"bad boolean high byte", wrap(0x420078, cat(hdr(0x420008, 6, 8), []byte{1, 0, 0, 0, 0, 0, 0, 1})), ttlv.ErrBadBoolean, 8},
		{"bigint length 5", wrap(0x420078, cat(hdr(0x420008, 4, 5), make([]byte, 8))), ttlv.ErrBadLength, 8},
		{"non-zero padding int", wrap(0x420078, cat(hdr(0x420094, 2, 4), []byte{0, 0, 0, 1, 0, 0, 9, 0})), ttlv.ErrBadPadding, 8},
		{"non-zero padding text", wrap(0x420078, cat(hdr(0x420055, 7, 3), []byte{'a', 'b', 'c', 0, 0, 0, 0, 1})), ttlv.ErrBadPadding, 8},
		{"missing padding", cat(hdr(0x420078, 1, 16), hdr(0x420055, 7, 3), []byte{'a', 'b', 'c'}), ttlv.ErrTruncated, 0},
		{"bad utf8", wrap(0x420078, cat(hdr(0x420055, 7, 2), []byte{0xff, 0xfe, 0, 0, 0, 0, 0, 0})), ttlv.ErrBadUTF8, 8},
		{"struct length short", wrap(0x420078, cat(hdr(0x420077, 1, 8), okInt)), ttlv.ErrLengthMismatch, 16},
		{"struct length long", wrap(0x420078, cat(hdr(0x420077, 1, 24), okInt, okInt[:8])), ttlv.ErrLengthMismatch, 32},
		{"struct not multiple of 8", cat(hdr(0x420078, 1, 12), okInt[:12]), ttlv.ErrBadLength, 0},
		{"message length short", cat(hdr(0x420078, 1, 8), okInt), ttlv.ErrTrailingData, 16},
		{"trailing data", cat(wrap(0x420078, okInt), okInt), ttlv.ErrTrailingData, 24},
		{"nesting over limit", nest(ttlv.DefaultMaxDepth + 1), ttlv.ErrTooDeep, 8 * ttlv.DefaultMaxDepth},
		{"unknown type 0x0C", wrap(0x420078, cat(hdr(0x420094, 0x0C, 4), make([]byte, 8))), ttlv.ErrBadType, 8},
		{"unknown type 0x00", wrap(0x420078, cat(hdr(0x420094, 0x00, 4), make([]byte, 8))), ttlv.ErrBadType, 8},
		{"tag out of range", wrap(0x430078, okInt), ttlv.ErrBadTag, 0},
		{"child tag out of range", wrap(0x420078, cat(hdr(0x000001, 2, 4), make([]byte, 8))), ttlv.ErrBadTag, 8},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := ttlv.Check(c.in, 0)
			if !errors.Is(err, c.want) {
				t.Fatalf("Check(%x) = %v, want %v", c.in, err, c.want)
			}
			var te *ttlv.Error
			if !errors.As(err, &te) {
				t.Fatalf("error %T is not *ttlv.Error", err)
			}
			if te.Offset != c.off {
				t.Errorf("offset = %d, want %d (%v)", te.Offset, c.off, err)
			}
			if te.ResultReason() != ttlv.ReasonInvalidMessage {
				t.Errorf("reason = %#x, want Invalid Message", te.ResultReason())
			}
			if !strings.HasPrefix(err.Error(), "ttlv: ") {
				t.Errorf("message %q lacks the package prefix", err)
			}
		})
	}
}

func TestCheck_DepthLimitIsConfigurable(t *testing.T) {
	m := nest(5)
	if err := ttlv.Check(m, 5); err != nil {
		t.Fatalf("depth 5 at limit 5: %v", err)
	}
	if err := ttlv.Check(m, 4); !errors.Is(err, ttlv.ErrTooDeep) {
		t.Fatalf("depth 5 at limit 4: %v, want ErrTooDeep", err)
	}
}

func TestCheck_AcceptsEveryType(t *testing.T) {
	m := wrap(0x420078,
		okInt,
		cat(hdr(0x420001, 3, 8), []byte{0, 0, 0, 0, 0, 0, 0, 9}),
		cat(hdr(0x420001, 4, 16), make([]byte, 16)),
		cat(hdr(0x42005C, 5, 4), []byte{0, 0, 0, 1, 0, 0, 0, 0}),
		cat(hdr(0x420008, 6, 8), []byte{0, 0, 0, 0, 0, 0, 0, 1}),
		cat(hdr(0x420055, 7, 7), []byte("héllo!"), make([]byte, 1)),
		cat(hdr(0x420055, 7, 0)),
		cat(hdr(0x420055, 8, 1), []byte{0xAB, 0, 0, 0, 0, 0, 0, 0}),
		cat(hdr(0x420001, 9, 8), []byte{0, 0, 0, 0, 0x5f, 0, 0, 0}),
		cat(hdr(0x420001, 0x0A, 4), []byte{0, 0, 0, 60, 0, 0, 0, 0}),
		cat(hdr(0x420001, 0x0B, 8), []byte{0, 0, 0, 0, 0x5f, 0, 0, 0}),
		cat(hdr(0x540001, 1, 0)),
	)
	if err := ttlv.Check(m, 0); err != nil {
		t.Fatal(err)
	}
}

func TestBuilder_EncodesLikeHandWritten(t *testing.T) {
	var b ttlv.Builder
	b.Reset(make([]byte, 0, 256), 0)
	b.Begin(0x420078)
	b.AddInt32(0x420094, 7)
	b.AddLong(0x420001, 9)
	b.AddBigInt(0x420001, nil)
	b.AddEnum(0x42005C, 1)
	b.AddBool(0x420008, true)
	b.AddText(0x420055, "héllo!")
	b.AddText(0x420055, "")
	b.AddBytes(0x420055, []byte{0xAB})
	b.AddDateTime(0x420001, 0x5f000000)
	b.AddInterval(0x420001, 60)
	b.AddDateTimeExtended(0x420001, 0x5f000000)
	b.Begin(0x540001)
	b.End()
	b.End()
	got, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	want := wrap(0x420078,
		okInt,
		cat(hdr(0x420001, 3, 8), []byte{0, 0, 0, 0, 0, 0, 0, 9}),
		cat(hdr(0x420001, 4, 8), make([]byte, 8)),
		cat(hdr(0x42005C, 5, 4), []byte{0, 0, 0, 1, 0, 0, 0, 0}),
		cat(hdr(0x420008, 6, 8), []byte{0, 0, 0, 0, 0, 0, 0, 1}),
		cat(hdr(0x420055, 7, 7), []byte("héllo!"), make([]byte, 1)),
		cat(hdr(0x420055, 7, 0)),
		cat(hdr(0x420055, 8, 1), []byte{0xAB, 0, 0, 0, 0, 0, 0, 0}),
		cat(hdr(0x420001, 9, 8), []byte{0, 0, 0, 0, 0x5f, 0, 0, 0}),
		cat(hdr(0x420001, 0x0A, 4), []byte{0, 0, 0, 60, 0, 0, 0, 0}),
		cat(hdr(0x420001, 0x0B, 8), []byte{0, 0, 0, 0, 0x5f, 0, 0, 0}),
		cat(hdr(0x540001, 1, 0)),
	)
	if !bytes.Equal(got, want) {
		t.Fatalf("got\n%s\nwant\n%s", hex.Dump(got), hex.Dump(want))
	}
}

func TestBuilder_BigIntSignExtension(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		{"01", "0000000000000001"},
		{"ff", "ffffffffffffffff"},
		{"80", "ffffffffffffff80"},
		{"7fffffffffffffff", "7fffffffffffffff"},
		{"00ffffffffffffffff", "00000000000000" + "00ffffffffffffffff"},
	}
	for _, c := range cases {
		in, _ := hex.DecodeString(c.in)
		var b ttlv.Builder
		b.AddBigInt(0x420001, in)
		out, err := b.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if got := hex.EncodeToString(out[8:]); got != c.want {
			t.Errorf("AddBigInt(%s) = %s, want %s", c.in, got, c.want)
		}
		if err := ttlv.CheckSeq(out, 0); err != nil {
			t.Errorf("AddBigInt(%s) output invalid: %v", c.in, err)
		}
	}
}

func TestBuilder_CapAndRollback(t *testing.T) {
	var b ttlv.Builder
	b.Reset(make([]byte, 0, 64), 48)
	b.Begin(0x42007B)
	b.AddInt32(0x420094, 1) // 8+16 = 24 bytes
	m := b.Mark()
	b.AddText(0x420055, "this text does not fit in the cap")
	if !errors.Is(b.Err(), ttlv.ErrTooLarge) {
		t.Fatalf("err = %v, want ErrTooLarge", b.Err())
	}
	b.AddInt32(0x420094, 2) // sticky: no-op
	b.Rollback(m)
	if b.Err() != nil {
		t.Fatalf("rollback kept error %v", b.Err())
	}
	b.AddInt32(0x420094, 3)
	b.End()
	out, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	if err := ttlv.Check(out, 0); err != nil {
		t.Fatal(err)
	}
	v := ttlv.Value(out)
	var body ttlv.Value
	var x, y int32
	if !v.ReadStructure(0x42007B, &body) || !body.ReadInt32(0x420094, &x) || !body.ReadInt32(0x420094, &y) || !body.Empty() {
		t.Fatalf("unexpected output %x", out)
	}
	if x != 1 || y != 3 {
		t.Fatalf("got %d,%d want 1,3", x, y)
	}
}

func TestBuilder_Unbalanced(t *testing.T) {
	var b ttlv.Builder
	b.Begin(0x420078)
	if _, err := b.Bytes(); !errors.Is(err, ttlv.ErrBuilder) {
		t.Fatalf("open structure: %v", err)
	}
	var c ttlv.Builder
	c.End()
	if _, err := c.Bytes(); !errors.Is(err, ttlv.ErrBuilder) {
		t.Fatalf("stray End: %v", err)
	}
	var d ttlv.Builder
	for i := 0; i <= ttlv.MaxBuilderDepth; i++ {
		d.Begin(0x420078)
	}
	if !errors.Is(d.Err(), ttlv.ErrBuilder) {
		t.Fatalf("over-deep builder: %v", d.Err())
	}
}

func TestValue_ReadsAreTypeAndLengthChecked(t *testing.T) {
	m := cat(
		okInt,
		cat(hdr(0x420008, 6, 8), []byte{0, 0, 0, 0, 0, 0, 0, 2}),
	)
	v := ttlv.Value(m)
	var e uint32
	if v.ReadEnum(0x420094, &e) {
		t.Fatal("ReadEnum accepted an Integer")
	}
	var i int32
	if v.ReadInt32(0x420095, &i) {
		t.Fatal("ReadInt32 accepted the wrong tag")
	}
	if !v.ReadInt32(0x420094, &i) || i != 7 {
		t.Fatal("ReadInt32 failed")
	}
	var bo bool
	if v.ReadBool(0x420008, &bo) {
		t.Fatal("ReadBool accepted 2")
	}
	if v.Empty() {
		t.Fatal("failed read consumed input")
	}
	// A header that claims more than remains never panics.
	w := ttlv.Value(cat(hdr(0x420094, 2, 0xfffffff0), []byte{1}))
	if _, ok := w.Next(); ok {
		t.Fatal("Next accepted an overlong item")
	}
}

type chunkReader struct {
	data []byte
	n    int
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), r.n, len(r.data))
	copy(p, r.data[:k])
	r.data = r.data[k:]
	return k, nil
}

func TestReadMessage(t *testing.T) {
	msg := wrap(0x420078, okInt, okInt, okInt)
	for _, chunk := range []int{1, 3, 8, 1000} {
		got, err := ttlv.ReadMessage(&chunkReader{data: cat(msg, msg), n: chunk}, nil, 1024)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("chunk %d: %x, %v", chunk, got, err)
		}
	}
	r := &chunkReader{data: cat(msg, msg), n: 7}
	buf := make([]byte, 0, 4096)
	for i := 0; i < 2; i++ {
		got, err := ttlv.ReadMessage(r, buf, 1024)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("message %d: %x, %v", i, got, err)
		}
		if &got[0] != &buf[:1][0] {
			t.Fatal("buffer not reused")
		}
	}
	if _, err := ttlv.ReadMessage(r, buf, 1024); err != io.EOF {
		t.Fatalf("at end: %v, want io.EOF", err)
	}

	errCases := []struct {
		name string
		in   []byte
		want error
	}{
		{"partial header", msg[:5], io.ErrUnexpectedEOF},
		{"partial body", msg[:20], io.ErrUnexpectedEOF},
		{"over max", hdr(0x420078, 1, 1024), ttlv.ErrTooLarge},
		{"2^31", hdr(0x420078, 1, 1<<31), ttlv.ErrTooLarge},
		{"not structure", hdr(0x420078, 2, 4), ttlv.ErrNotStructure},
		{"bad tag", hdr(0x000078, 1, 8), ttlv.ErrBadTag},
		{"odd length", hdr(0x420078, 1, 9), ttlv.ErrBadLength},
	}
	for _, c := range errCases {
		_, err := ttlv.ReadMessage(bytes.NewReader(c.in), nil, 1024)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
	}
}

// A peer announcing a large message but sending little must not make the
// reader allocate the announced size.
func TestReadMessage_GrowsOnlyWithData(t *testing.T) {
	in := cat(hdr(0x420078, 1, 1<<20), make([]byte, 100))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for i := 0; i < 10; i++ {
		if _, err := ttlv.ReadMessage(bytes.NewReader(in), make([]byte, 0, 64), 2<<20); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("err = %v", err)
		}
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / 10; per > 4096 {
		t.Fatalf("allocated %d bytes per truncated 1 MiB frame", per)
	}
}
