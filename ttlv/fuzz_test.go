package ttlv_test

import (
	"bytes"
	"errors"
	"testing"

	"github.com/kmipd/kmipd/ttlv"
)

// fuzzSeeds is how many vector messages seed FuzzDecode.
const fuzzSeeds = 300

// FuzzDecode feeds arbitrary bytes to Check. Whatever Check accepts must
// re-encode exactly with the Builder, print with Format, and survive the XML
// and JSON encodings both ways unchanged.
func FuzzDecode(f *testing.F) {
	if msgs, _, ok := loadVectors(f); ok {
		step := max(1, len(msgs)/fuzzSeeds)
		for i := 0; i < len(msgs); i += step {
			f.Add(msgs[i].TTLV)
		}
	}
	for _, seed := range malformedSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if err := ttlv.Check(data, 0); err != nil {
			var te *ttlv.Error
			if !errors.As(err, &te) {
				t.Fatalf("Check error %v is not a *ttlv.Error", err)
			}
			_ = ttlv.Format(data)
			if _, err := ttlv.AppendXML(nil, data, true); err == nil {
				t.Fatal("AppendXML accepts what Check refuses")
			}
			if _, err := ttlv.AppendJSON(nil, data, false); err == nil {
				t.Fatal("AppendJSON accepts what Check refuses")
			}
			return
		}

		// Re-encode item by item.
		b := ttlv.NewBuilder(nil)
		rebuild(b, ttlv.Value(data))
		out, err := b.Bytes()
		if err != nil {
			t.Fatalf("Builder: %v", err)
		}
		if !bytes.Equal(out, data) {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", out, data)
		}

		if s := ttlv.Format(data); s == "" {
			t.Fatal("Format prints nothing")
		}

		indent := len(data)%2 == 0
		x, err := ttlv.AppendXML(nil, data, indent)
		switch {
		case errors.Is(err, ttlv.ErrNotXMLText):
			// A Text String XML cannot carry; nothing to round-trip.
		case err != nil:
			t.Fatalf("AppendXML: %v", err)
		default:
			back, err := ttlv.ParseXML(x, nil)
			if err != nil {
				t.Fatalf("ParseXML of our XML: %v\n%s", err, x)
			}
			if !bytes.Equal(back, data) {
				t.Fatalf("XML round trip differs:\n%s\n got %x\nwant %x", x, back, data)
			}
		}

		j, err := ttlv.AppendJSON(nil, data, !indent)
		if err != nil {
			t.Fatalf("AppendJSON: %v", err)
		}
		back, err := ttlv.ParseJSON(j, nil)
		if err != nil {
			t.Fatalf("ParseJSON of our JSON: %v\n%s", err, j)
		}
		if !bytes.Equal(back, data) {
			t.Fatalf("JSON round trip differs:\n%s\n got %x\nwant %x", j, back, data)
		}
	})
}

// rebuild re-encodes checked items with the Builder: Begin and End for
// Structures, AddItem for everything else.
func rebuild(b *ttlv.Builder, v ttlv.Value) {
	for !v.Empty() {
		it, ok := v.Next()
		if !ok {
			b.AddRaw([]byte("cursor failed"))
			return
		}
		if it.Type == ttlv.TypeStructure {
			b.Begin(it.Tag)
			rebuild(b, it.Children())
			b.End()
			continue
		}
		b.AddItem(it.Tag, it.Type, it.Data)
	}
}

// malformedSeeds returns hand-made messages, valid and not, that exercise
// the corners the vectors do not reach.
func malformedSeeds() [][]byte {
	item := func(tag uint32, typ byte, val []byte) []byte {
		n := len(val)
		p := cat(hdr(tag, typ, uint32(n)), val)
		for len(p)%8 != 0 {
			p = append(p, 0)
		}
		return p
	}
	u32 := func(v uint32) []byte { return []byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)} }
	u64 := func(v uint64) []byte { return cat(u32(uint32(v>>32)), u32(uint32(v))) }
	msg := func(children ...[]byte) []byte { return wrap(0x420078, children...) }
	return [][]byte{
		nil,
		{0x42},
		hdr(0x420078, 1, 0),
		msg(item(0x540001, 2, u32(0xffffffff))), // extension tag, -1
		msg(item(0x420001, 9, u64(1<<62))),      // Date-Time far beyond 9999
		msg(item(0x420001, 9, u64(0xfffffff000000000))),                                            // before year 1
		msg(item(0x420001, 0x0B, u64(1700000000123456))),                                           // Date-Time Extended
		msg(item(0x420049, 0x0A, u32(4000000000))),                                                 // Interval over 2^31
		msg(item(0x420037, 4, nil)),                                                                // empty Big Integer
		msg(item(0x420037, 4, u64(0xffffffffffffff85))),                                            // negative Big Integer
		msg(item(0x420030, 3, u64(1<<60))),                                                         // Long Integer over 2^52
		msg(item(0x42002C, 2, u32(0x8000000C))),                                                    // mask with unknown bits
		msg(item(0x42002C, 2, u32(0))),                                                             // empty mask
		msg(item(0x42005C, 5, u32(0x80000001))),                                                    // unnamed enumeration
		msg(item(0x420009, 7, []byte("a<b>&\"c'\t\n\r"))),                                          // text needing escapes
		msg(item(0x420009, 7, []byte("\x01"))),                                                     // text XML cannot carry
		msg(item(0x420009, 7, []byte("\u00e9\u2028\U0001F600"))),                                   // non-ASCII text
		msg(item(0x420008, 1, cat(item(0x42000A, 7, []byte("State")), item(0x42000B, 5, u32(2))))), // 1.x Attribute
		msg(item(0x420008, 1, cat(item(0x42000A, 7, []byte("Cryptographic Usage Mask")), item(0x42000B, 2, u32(12))))), // 1.x Attribute mask
		msg(item(uint32(ttlv.TagAttributeReference), 5, u32(0x0042008D))),                                              // Attribute Reference
		msg(item(0x540002, 1, item(0x540003, 8, []byte{1, 2, 3}))),                                                     // extension structure
		msg(item(0x420094, 2, u32(7)), okInt[:12]),                                                                     // truncated child
		cat(msg(okInt), okInt),                                        // trailing data
		nest(ttlv.DefaultMaxDepth),                                    // deepest allowed
		nest(ttlv.DefaultMaxDepth + 1),                                // too deep
		msg(cat(hdr(0x420094, 2, 4), []byte{0, 0, 0, 1, 0, 0, 9, 0})), // bad padding
		msg(cat(hdr(0x420008, 6, 8), u64(2))),                         // bad Boolean
	}
}

// TestCheckDoesNotAllocate: Check allocates only to report an error.
func TestCheckDoesNotAllocate(t *testing.T) {
	msg := nest(8)
	if msgs, _, ok := loadVectors(t); ok {
		for _, m := range msgs {
			if len(m.TTLV) > len(msg) {
				msg = m.TTLV
			}
		}
	}
	if err := ttlv.Check(msg, 0); err != nil {
		t.Fatal(err)
	}
	if n := testing.AllocsPerRun(100, func() {
		if ttlv.Check(msg, 0) != nil {
			panic("Check failed")
		}
	}); n != 0 {
		t.Errorf("Check of a %d-byte message allocates %v times", len(msg), n)
	}
}

// FuzzParseText feeds arbitrary text to ParseXML and ParseJSON. Neither may
// panic; whatever they accept must pass Check and come back unchanged
// through our own encodings.
func FuzzParseText(f *testing.F) {
	f.Add(false, []byte(`<RequestMessage><BatchCount type="Integer" value="1"/><Attribute><AttributeName type="TextString" value="State"/><AttributeValue type="Enumeration" value="Active"/></Attribute></RequestMessage>`))
	f.Add(false, []byte(`<TTLV tag="0x540001"><TTLV tag="0x420001" type="DateTime" value="2001-01-01T10:00:00+10:00"/><G type="BigInteger" value="ff"/></TTLV>`))
	f.Add(true, []byte(`{"tag":"RequestMessage","value":[{"tag":"CryptographicUsageMask","type":"Integer","value":"Encrypt|0x10"},{"tag":"G","type":"BigInteger","value":-5},{"tag":"0x540001","type":"LongInteger","value":"0x0010000000000000"}]}`))
	f.Add(true, []byte(`{"tag":"Attribute","value":[{"tag":"AttributeName","type":"TextString","value":"Cryptographic Usage Mask"},{"tag":"AttributeValue","type":"Integer","value":"Sign"}]}`))
	f.Fuzz(func(t *testing.T, isJSON bool, text []byte) {
		var msg []byte
		var err error
		if isJSON {
			msg, err = ttlv.ParseJSON(text, nil)
		} else {
			msg, err = ttlv.ParseXML(text, nil)
		}
		if err != nil {
			var te *ttlv.TextError
			if !errors.As(err, &te) {
				t.Fatalf("error %v is not a *TextError", err)
			}
			return
		}
		if err := ttlv.Check(msg, 0); err != nil {
			t.Fatalf("accepted text gives invalid TTLV: %v", err)
		}
		if x, err := ttlv.AppendXML(nil, msg, false); err == nil {
			if back, err := ttlv.ParseXML(x, nil); err != nil || !bytes.Equal(back, msg) {
				t.Fatalf("XML round trip: %v\n%s", err, x)
			}
		} else if !errors.Is(err, ttlv.ErrNotXMLText) {
			t.Fatal(err)
		}
		j, err := ttlv.AppendJSON(nil, msg, false)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := ttlv.ParseJSON(j, nil); err != nil || !bytes.Equal(back, msg) {
			t.Fatalf("JSON round trip: %v\n%s", err, j)
		}
	})
}
