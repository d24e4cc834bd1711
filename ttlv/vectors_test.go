package ttlv_test

import (
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kmipd/kmipd/ttlv"
	"github.com/kmipd/kmipd/ttlv/internal/oasis"
)

var vectorOpts = oasis.Options

// vectorMsg is one message of a test-case file, converted to TTLV.
type vectorMsg = oasis.Message

var vectorCache struct {
	once sync.Once
	msgs []vectorMsg
	n    int // files
	err  error
}

// loadVectors converts every message of every test-case file. It reports
// ok false when the test cases are absent.
func loadVectors(tb testing.TB) (msgs []vectorMsg, files int, ok bool) {
	tb.Helper()
	if _, err := os.Stat(testCaseDir); errors.Is(err, fs.ErrNotExist) {
		return nil, 0, false
	} else if err != nil {
		tb.Fatal(err)
	}
	c := &vectorCache
	c.once.Do(func() { c.msgs, c.n, c.err = oasis.Load(testCaseDir) })
	if c.err != nil {
		tb.Fatal(c.err)
	}
	return c.msgs, c.n, true
}

// scanVectorFile counts, independently of XMLDecoder, the messages of a
// test-case file and the elements inside them.
func scanVectorFile(path string) (msgs, elems int, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	depth := 0
	for {
		tok, err := d.Token()
		if err != nil {
			return 0, 0, err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
			switch {
			case depth == 2:
				msgs++
				elems++
			case depth > 2:
				elems++
			}
		case xml.EndElement:
			depth--
			if depth == 0 { // the end of <KMIP>; a duplicated </KMIP> follows in one file
				return msgs, elems, nil
			}
		}
	}
}

// countItems counts the items of a checked message.
func countItems(v ttlv.Value) int {
	n := 0
	for !v.Empty() {
		it, _ := v.Next()
		n++
		n += countItems(it.Children())
	}
	return n
}

// TestVectors converts every message of every OASIS test-case file to TTLV
// and round-trips it through XML and JSON.
func TestVectors(t *testing.T) {
	msgs, files, ok := loadVectors(t)
	if !ok {
		t.Skipf("%s not present", testCaseDir)
	}
	if files == 0 || len(msgs) == 0 {
		t.Fatalf("%d files, %d messages", files, len(msgs))
	}

	// Nothing was skipped: the messages and items of each file are those
	// a plain XML scan finds.
	perFile := map[string][]vectorMsg{}
	for _, m := range msgs {
		perFile[m.File] = append(perFile[m.File], m)
	}
	if len(perFile) != files {
		t.Errorf("%d files hold messages, want %d", len(perFile), files)
	}
	items := 0
	for file, ms := range perFile {
		wantMsgs, wantElems, err := scanVectorFile(filepath.Join(testCaseDir, file))
		if err != nil {
			t.Errorf("%s: %v", file, err)
			continue
		}
		gotElems := 0
		for _, m := range ms {
			gotElems += countItems(ttlv.Value(m.TTLV))
		}
		if len(ms) != wantMsgs || gotElems != wantElems {
			t.Errorf("%s: decoded %d messages with %d items, the file has %d with %d elements", file, len(ms), gotElems, wantMsgs, wantElems)
		}
		items += gotElems
	}

	var xmlTrips, genericTrips, jsonTrips, requests, responses int
	for i, m := range msgs {
		where := m.File + ":" + strconv.Itoa(m.Line) + " " + m.Elem
		switch m.Elem {
		case "RequestMessage":
			requests++
		case "ResponseMessage":
			responses++
		default:
			t.Errorf("%s: unexpected message element", where)
		}
		if err := ttlv.Check(m.TTLV, 0); err != nil {
			t.Errorf("%s: Check: %v", where, err)
			continue
		}
		indent := i%2 == 0
		x, err := ttlv.AppendXML(nil, m.TTLV, indent)
		if err != nil {
			t.Errorf("%s: AppendXML: %v", where, err)
			continue
		}
		back, err := ttlv.ParseXML(x, vectorOpts)
		if err != nil {
			t.Errorf("%s: ParseXML of our XML: %v\n%s", where, err, x)
			continue
		}
		if !bytes.Equal(back, m.TTLV) {
			t.Errorf("%s: XML round trip differs\nfirst:\n%s\nagain:\n%s", where, ttlv.Format(m.TTLV), ttlv.Format(back))
			continue
		}
		xmlTrips++
		g, err := toGenericXML(x)
		if err != nil {
			t.Fatalf("%s: %v", where, err)
		}
		back, err = ttlv.ParseXML(g, vectorOpts)
		if err != nil || !bytes.Equal(back, m.TTLV) {
			t.Errorf("%s: the generic XML form does not round-trip (%v)\n%s", where, err, g)
			continue
		}
		genericTrips++
		j, err := ttlv.AppendJSON(nil, m.TTLV, !indent)
		if err != nil {
			t.Errorf("%s: AppendJSON: %v", where, err)
			continue
		}
		back, err = ttlv.ParseJSON(j, nil)
		if err != nil {
			t.Errorf("%s: ParseJSON of our JSON: %v\n%s", where, err, j)
			continue
		}
		if !bytes.Equal(back, m.TTLV) {
			t.Errorf("%s: JSON round trip differs\nfirst:\n%s\nagain:\n%s", where, ttlv.Format(m.TTLV), ttlv.Format(back))
			continue
		}
		jsonTrips++
	}
	t.Logf("%d files, %d messages (%d requests, %d responses), %d items; %d XML, %d generic XML and %d JSON round trips",
		files, len(msgs), requests, responses, items, xmlTrips, genericTrips, jsonTrips)
	if xmlTrips != len(msgs) || genericTrips != len(msgs) || jsonTrips != len(msgs) {
		t.Errorf("only %d XML, %d generic XML and %d JSON round trips of %d messages", xmlTrips, genericTrips, jsonTrips, len(msgs))
	}
}

// toGenericXML rewrites XML in the specific form, <Name type=… value=…>,
// into the generic form, <TTLV tag="0x42…" name="Name" type=… value=…>.
func toGenericXML(specific []byte) ([]byte, error) {
	var out bytes.Buffer
	d := xml.NewDecoder(bytes.NewReader(specific))
	e := xml.NewEncoder(&out)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			tag, ok := ttlv.TagByName(t.Name.Local)
			if !ok {
				return nil, fmt.Errorf("element %s: no such tag", t.Name.Local)
			}
			attrs := []xml.Attr{
				{Name: xml.Name{Local: "tag"}, Value: fmt.Sprintf("0x%06x", uint32(tag))},
				{Name: xml.Name{Local: "name"}, Value: t.Name.Local},
			}
			tok = xml.StartElement{Name: xml.Name{Local: "TTLV"}, Attr: append(attrs, t.Attr...)}
		case xml.EndElement:
			tok = xml.EndElement{Name: xml.Name{Local: "TTLV"}}
		}
		if err := e.EncodeToken(tok); err != nil {
			return nil, err
		}
	}
	if err := e.Flush(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// TestVectorsFormat prints every vector message; Format must name every
// tag, enumeration and mask it meets.
func TestVectorsFormat(t *testing.T) {
	msgs, _, ok := loadVectors(t)
	if !ok {
		t.Skipf("%s not present", testCaseDir)
	}
	for _, m := range msgs {
		s := ttlv.Format(m.TTLV)
		if strings.Contains(s, "!!") {
			t.Errorf("%s:%d: Format reports a problem:\n%s", m.File, m.Line, s)
		}
		if strings.Count(s, "\n") != countItems(ttlv.Value(m.TTLV)) {
			t.Errorf("%s:%d: Format prints %d lines for %d items", m.File, m.Line, strings.Count(s, "\n"), countItems(ttlv.Value(m.TTLV)))
		}
	}
}

// TestVectorsXMLMatchesSource compares our XML of each vector message,
// element by element, with the file's own: the same element names, and the
// same type and value attributes wherever the source has no placeholder and
// spells the value as we do (a mask's names may come in another order, an
// enumeration in hex, a date in another zone).
func TestVectorsXMLMatchesSource(t *testing.T) {
	msgs, _, ok := loadVectors(t)
	if !ok {
		t.Skipf("%s not present", testCaseDir)
	}
	type elem struct{ name, typ, value string }
	flatten := func(b []byte, stopAtWrapperEnd bool) ([][]elem, error) {
		var out [][]elem
		d := xml.NewDecoder(bytes.NewReader(b))
		depth, base := 0, 0
		for {
			tok, err := d.Token()
			if err == io.EOF {
				return out, nil
			}
			if err != nil {
				return nil, err
			}
			switch t := tok.(type) {
			case xml.StartElement:
				depth++
				if t.Name.Local == "KMIP" && depth == 1 {
					base = 1
					continue
				}
				e := elem{name: t.Name.Local}
				for _, a := range t.Attr {
					switch a.Name.Local {
					case "type":
						e.typ = a.Value
					case "value":
						e.value = a.Value
					}
				}
				if depth == base+1 {
					out = append(out, nil)
				}
				out[len(out)-1] = append(out[len(out)-1], e)
			case xml.EndElement:
				depth--
				if depth == 0 && stopAtWrapperEnd {
					return out, nil
				}
			}
		}
	}
	byFile := map[string][]vectorMsg{}
	var files []string
	for _, m := range msgs {
		if byFile[m.File] == nil {
			files = append(files, m.File)
		}
		byFile[m.File] = append(byFile[m.File], m)
	}
	same, compared := 0, 0
	for _, file := range files {
		src, err := os.ReadFile(filepath.Join(testCaseDir, file))
		if err != nil {
			t.Fatal(err)
		}
		want, err := flatten(src, true)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		ms := byFile[file]
		if len(want) != len(ms) {
			t.Errorf("%s: %d messages in the source, %d decoded", file, len(want), len(ms))
			continue
		}
		for i, m := range ms {
			x, err := ttlv.AppendXML(nil, m.TTLV, false)
			if err != nil {
				t.Fatal(err)
			}
			got, err := flatten(x, false)
			if err != nil || len(got) != 1 || len(got[0]) != len(want[i]) {
				t.Errorf("%s:%d: our XML has another shape (%v)", file, m.Line, err)
				continue
			}
			for k, w := range want[i] {
				g := got[0][k]
				if g.name != w.name || g.typ != w.typ {
					t.Errorf("%s:%d: element %d is <%s type=%q>, the source has <%s type=%q>", file, m.Line, k, g.name, g.typ, w.name, w.typ)
					break
				}
				if w.typ == "" || strings.HasPrefix(w.value, "$") {
					continue
				}
				compared++
				if g.value == w.value {
					same++
					continue
				}
				if !sameMeaning(w.name, w.typ, g.value, w.value) {
					t.Errorf("%s:%d: <%s type=%q> value %q, the source has %q", file, m.Line, w.name, w.typ, g.value, w.value)
				}
			}
		}
	}
	t.Logf("%d values compared, %d spelled exactly as in the source", compared, same)
}

// sameMeaning reports whether two spellings of the value of an element
// mean the same: hex in either case, mask bits in any order and by any of
// their names, a date-time in any zone, and the PKCS#11 names that
// oasis.Substitute turns into hex.
func sameMeaning(elem, typ, a, b string) bool {
	switch typ {
	case "ByteString", "BigInteger":
		return strings.EqualFold(a, b)
	case "Integer":
		// A mask: of the element's tag, or for an Attribute Value of any.
		for tag := range ttlv.Tags() {
			if !ttlv.IsMask(tag) || elem != "AttributeValue" && elem != tag.String() {
				continue
			}
			va, ok1 := ttlv.ParseMask(tag, a, ' ')
			vb, ok2 := ttlv.ParseMask(tag, b, ' ')
			if ok1 && ok2 && va == vb {
				return true
			}
		}
	case "DateTime":
		ta, err1 := time.Parse(time.RFC3339, a)
		tb, err2 := time.Parse(time.RFC3339, b)
		return err1 == nil && err2 == nil && ta.Equal(tb)
	case "Enumeration":
		for _, m := range oasis.PKCS11Names {
			if x, ok := m[b]; ok {
				return a == fmt.Sprintf("0x%08x", x)
			}
		}
	}
	return false
}
