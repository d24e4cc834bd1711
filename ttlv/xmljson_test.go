package ttlv_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/kmipd/kmipd/ttlv"
)

// build returns the TTLV that f writes inside a RequestMessage.
func build(t *testing.T, f func(b *ttlv.Builder)) []byte {
	t.Helper()
	b := ttlv.NewBuilder(nil)
	b.Begin(ttlv.TagRequestMessage)
	f(b)
	b.End()
	out, err := b.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func xmlMsg(body string) string  { return "<RequestMessage>" + body + "</RequestMessage>" }
func jsonMsg(body string) string { return `{"tag":"RequestMessage","value":[` + body + `]}` }

// TestTextDecode checks the value forms of both encodings against TTLV
// built by hand.
func TestTextDecode(t *testing.T) {
	neg123, _ := hex.DecodeString("ffffffffffffff85")
	pos128, _ := hex.DecodeString("0000000000000080")
	cases := []struct {
		name      string
		xml, json string // either may be empty
		want      func(b *ttlv.Builder)
	}{
		{
			name: "negative Integer as hex",
			xml:  `<BatchCount type="Integer" value="0xffffffff"/>`,
			json: `{"tag":"BatchCount","type":"Integer","value":"0xffffffff"}`,
			want: func(b *ttlv.Builder) { b.AddInt32(ttlv.TagBatchCount, -1) },
		},
		{
			name: "negative Integer in decimal",
			xml:  `<BatchCount type="Integer" value="-2147483648"/>`,
			json: `{"tag":"BatchCount","type":"Integer","value":-2147483648}`,
			want: func(b *ttlv.Builder) { b.AddInt32(ttlv.TagBatchCount, -1<<31) },
		},
		{
			name: "mask by names, hex and in any order",
			xml:  `<CryptographicUsageMask type="Integer" value="0x80000000 Decrypt Encrypt"/>`,
			json: `{"tag":"CryptographicUsageMask","type":"Integer","value":"0x80000000|Decrypt|Encrypt"}`,
			want: func(b *ttlv.Builder) { b.AddInt32(ttlv.TagCryptographicUsageMask, -0x80000000|0x0C) },
		},
		{
			name: "mask in decimal",
			xml:  `<CryptographicUsageMask type="Integer" value="12"/>`,
			json: `{"tag":"CryptographicUsageMask","type":"Integer","value":12}`,
			want: func(b *ttlv.Builder) { b.AddInt32(ttlv.TagCryptographicUsageMask, 12) },
		},
		{
			name: "Long Integer beyond 2^52",
			xml:  `<DerivationData type="LongInteger" value="1152921504606846976"/>`,
			json: `{"tag":"DerivationData","type":"LongInteger","value":"0x1000000000000000"}`,
			want: func(b *ttlv.Builder) { b.AddLong(ttlv.TagDerivationData, 1<<60) },
		},
		{
			name: "Big Integer sign-extended",
			xml:  `<G type="BigInteger" value="ff85"/>`,
			json: `{"tag":"G","type":"BigInteger","value":-123}`,
			want: func(b *ttlv.Builder) { b.AddItem(ttlv.TagG, ttlv.TypeBigInteger, neg123) },
		},
		{
			name: "Big Integer positive with high bit",
			xml:  `<G type="BigInteger" value="0080"/>`,
			json: `{"tag":"G","type":"BigInteger","value":"0x0080"}`,
			want: func(b *ttlv.Builder) { b.AddItem(ttlv.TagG, ttlv.TypeBigInteger, pos128) },
		},
		{
			name: "Big Integer as a JSON hex string, sign bit set",
			json: `{"tag":"G","type":"BigInteger","value":"0xff85"}`,
			want: func(b *ttlv.Builder) { b.AddItem(ttlv.TagG, ttlv.TypeBigInteger, neg123) },
		},
		{
			name: "Big Integer short JSON hex, sign-extended from its first byte",
			json: `{"tag":"G","type":"BigInteger","value":"0x80"}`,
			want: func(b *ttlv.Builder) { b.AddBigInt(ttlv.TagG, []byte{0x80}) },
		},
		{
			name: "Date-Time in +10:00",
			xml:  `<ActivationDate type="DateTime" value="2001-01-01T10:00:00+10:00"/>`,
			json: `{"tag":"ActivationDate","type":"DateTime","value":"2001-01-01T10:00:00+10:00"}`,
			want: func(b *ttlv.Builder) {
				b.AddTime(ttlv.TagActivationDate, time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC))
			},
		},
		{
			name: "Date-Time fractional seconds truncated",
			json: `{"tag":"ActivationDate","type":"DateTime","value":"2001-01-01T00:00:00.999Z"}`,
			want: func(b *ttlv.Builder) {
				b.AddTime(ttlv.TagActivationDate, time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC))
			},
		},
		{
			name: "Date-Time as hex",
			json: `{"tag":"ActivationDate","type":"DateTime","value":"0x0000000000000100"}`,
			want: func(b *ttlv.Builder) { b.AddDateTime(ttlv.TagActivationDate, 256) },
		},
		{
			name: "Enumeration in hex, short and long",
			xml:  `<Operation type="Enumeration" value="0x1"/><Operation type="Enumeration" value="0x00000002"/>`,
			json: `{"tag":"Operation","type":"Enumeration","value":"0x1"},{"tag":"Operation","type":"Enumeration","value":2}`,
			want: func(b *ttlv.Builder) { b.AddEnum(ttlv.TagOperation, 1); b.AddEnum(ttlv.TagOperation, 2) },
		},
		{
			name: "Attribute Reference by tag name",
			xml:  `<AttributeReference type="Enumeration" value="State"/>`,
			json: `{"tag":"AttributeReference","type":"Enumeration","value":"State"}`,
			want: func(b *ttlv.Builder) { b.AddEnum(ttlv.TagAttributeReference, uint32(ttlv.TagState)) },
		},
		{
			name: "1.x Attribute Value named by Attribute Name",
			xml: `<Attribute><AttributeName type="TextString" value="Cryptographic Algorithm"/><AttributeValue type="Enumeration" value="AES"/></Attribute>` +
				`<Attribute><AttributeName type="TextString" value="Cryptographic Usage Mask"/><AttributeValue type="Integer" value="Encrypt Decrypt"/></Attribute>`,
			json: `{"tag":"Attribute","value":[{"tag":"AttributeName","type":"TextString","value":"Cryptographic Algorithm"},{"tag":"AttributeValue","type":"Enumeration","value":"AES"}]},` +
				`{"tag":"Attribute","value":[{"tag":"AttributeName","type":"TextString","value":"Cryptographic Usage Mask"},{"tag":"AttributeValue","type":"Integer","value":"Encrypt|Decrypt"}]}`,
			want: func(b *ttlv.Builder) {
				b.Begin(ttlv.TagAttribute)
				b.AddText(ttlv.TagAttributeName, "Cryptographic Algorithm")
				b.AddEnum(ttlv.TagAttributeValue, 3)
				b.End()
				b.Begin(ttlv.TagAttribute)
				b.AddText(ttlv.TagAttributeName, "Cryptographic Usage Mask")
				b.AddInt32(ttlv.TagAttributeValue, 12)
				b.End()
			},
		},
		{
			name: "generic form, by tag and by name",
			xml:  `<TTLV tag="0x42000d" name="BatchCount" type="Integer" value="1"/><TTLV name="BatchCount" type="Integer" value="2"/><TTLV tag="0x420056"><TTLV tag="0x540001" type="Integer" value="3"/></TTLV>`,
			json: `{"tag":"0x42000d","name":"BatchCount","type":"Integer","value":1},{"tag":"BatchCount","type":"Integer","value":2},{"tag":"0x420056","type":"Structure","value":[{"tag":"0x540001","type":"Integer","value":3}]}`,
			want: func(b *ttlv.Builder) {
				b.AddInt32(ttlv.TagBatchCount, 1)
				b.AddInt32(ttlv.TagBatchCount, 2)
				b.Begin(ttlv.TagObjectGroup)
				b.AddInt32(0x540001, 3)
				b.End()
			},
		},
		{
			name: "JSON forms: Boolean in hex, Interval in hex, null and empty Structures",
			json: `{"tag":"AsynchronousIndicator","type":"Boolean","value":"0x0000000000000001"},{"tag":"LeaseTime","type":"Interval","value":"0x10"},{"tag":"RequestPayload","value":null},{"tag":"ResponsePayload","value":[]}`,
			want: func(b *ttlv.Builder) {
				b.AddBool(ttlv.TagAsynchronousIndicator, true)
				b.AddInterval(ttlv.TagLeaseTime, 16)
				b.Begin(ttlv.TagRequestPayload)
				b.End()
				b.Begin(ttlv.TagResponsePayload)
				b.End()
			},
		},
		{
			name: "XML Booleans, text escapes, bytes in upper case, empty values",
			xml:  `<AsynchronousIndicator type="Boolean" value="1"/><AsynchronousIndicator type="Boolean" value="false"/><ResultMessage type="TextString" value="a&lt;b&#xA;&#9;&quot;"/><Data type="ByteString" value="C50F77"/><Data type="ByteString"/><ResultMessage type="TextString" value=""/>`,
			want: func(b *ttlv.Builder) {
				b.AddBool(ttlv.TagAsynchronousIndicator, true)
				b.AddBool(ttlv.TagAsynchronousIndicator, false)
				b.AddText(ttlv.TagResultMessage, "a<b\n\t\"")
				b.AddBytes(ttlv.TagData, []byte{0xc5, 0x0f, 0x77})
				b.AddBytes(ttlv.TagData, nil)
				b.AddText(ttlv.TagResultMessage, "")
			},
		},
		{
			name: "Date-Time Extended",
			xml:  `<TimeStamp type="DateTimeExtended" value="1700000000123456"/>`,
			json: `{"tag":"TimeStamp","type":"DateTimeExtended","value":1700000000123456}`,
			want: func(b *ttlv.Builder) { b.AddDateTimeExtended(ttlv.TagTimeStamp, 1700000000123456) },
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			want := build(t, c.want)
			if c.xml != "" {
				got, err := ttlv.ParseXML([]byte(xmlMsg(c.xml)), nil)
				if err != nil {
					t.Errorf("XML: %v", err)
				} else if !bytes.Equal(got, want) {
					t.Errorf("XML gives\n%s\nwant\n%s", ttlv.Format(got), ttlv.Format(want))
				}
			}
			if c.json != "" {
				got, err := ttlv.ParseJSON([]byte(jsonMsg(c.json)), nil)
				if err != nil {
					t.Errorf("JSON: %v", err)
				} else if !bytes.Equal(got, want) {
					t.Errorf("JSON gives\n%s\nwant\n%s", ttlv.Format(got), ttlv.Format(want))
				}
			}
			// And back.
			x, err := ttlv.AppendXML(nil, want, false)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := ttlv.ParseXML(x, nil); err != nil || !bytes.Equal(got, want) {
				t.Errorf("our XML %s does not read back: %v", x, err)
			}
			j, err := ttlv.AppendJSON(nil, want, false)
			if err != nil {
				t.Fatal(err)
			}
			if got, err := ttlv.ParseJSON(j, nil); err != nil || !bytes.Equal(got, want) {
				t.Errorf("our JSON %s does not read back: %v", j, err)
			}
		})
	}
}

// TestTextEncode pins the forms AppendXML and AppendJSON write.
func TestTextEncode(t *testing.T) {
	neg, _ := hex.DecodeString("ffffffffffffff85")
	msg := build(t, func(b *ttlv.Builder) {
		b.AddInt32(ttlv.TagBatchCount, -1)
		b.AddInt32(ttlv.TagCryptographicUsageMask, -0x80000000|0x0C)
		b.AddLong(ttlv.TagDerivationData, 1<<52-1)
		b.AddLong(ttlv.TagDerivationData, 1<<52)
		b.AddLong(ttlv.TagDerivationData, -1<<52)
		b.AddItem(ttlv.TagG, ttlv.TypeBigInteger, neg)
		b.AddEnum(ttlv.TagOperation, 1)
		b.AddEnum(ttlv.TagOperation, 0x80000001)
		b.AddEnum(ttlv.TagAttributeReference, uint32(ttlv.TagState))
		b.AddBool(ttlv.TagAsynchronousIndicator, true)
		b.AddText(ttlv.TagResultMessage, "<\"&\n>")
		b.AddBytes(ttlv.TagData, []byte{0xc5, 0x0f})
		b.AddDateTime(ttlv.TagActivationDate, 978307200)
		b.AddDateTime(ttlv.TagActivationDate, 1<<40)
		b.AddInterval(ttlv.TagLeaseTime, 4000000000)
		b.AddDateTimeExtended(ttlv.TagTimeStamp, 5)
		b.Begin(0x540001)
		b.AddInt32(0x540002, 7)
		b.End()
		b.Begin(ttlv.TagRequestPayload)
		b.End()
	})
	x, err := ttlv.AppendXML(nil, msg, true)
	if err != nil {
		t.Fatal(err)
	}
	wantXML := `<RequestMessage>
  <BatchCount type="Integer" value="-1"/>
  <CryptographicUsageMask type="Integer" value="Encrypt Decrypt 0x80000000"/>
  <DerivationData type="LongInteger" value="4503599627370495"/>
  <DerivationData type="LongInteger" value="4503599627370496"/>
  <DerivationData type="LongInteger" value="-4503599627370496"/>
  <G type="BigInteger" value="ffffffffffffff85"/>
  <Operation type="Enumeration" value="Create"/>
  <Operation type="Enumeration" value="0x80000001"/>
  <AttributeReference type="Enumeration" value="State"/>
  <AsynchronousIndicator type="Boolean" value="true"/>
  <ResultMessage type="TextString" value="&lt;&quot;&amp;&#xA;&gt;"/>
  <Data type="ByteString" value="c50f"/>
  <ActivationDate type="DateTime" value="2001-01-01T00:00:00Z"/>
  <ActivationDate type="DateTime" value="0x0000010000000000"/>
  <LeaseTime type="Interval" value="4000000000"/>
  <TimeStamp type="DateTimeExtended" value="5"/>
  <TTLV tag="0x540001">
    <TTLV tag="0x540002" type="Integer" value="7"/>
  </TTLV>
  <RequestPayload/>
</RequestMessage>
`
	if string(x) != wantXML {
		t.Errorf("AppendXML:\n%s\nwant:\n%s", x, wantXML)
	}
	j, err := ttlv.AppendJSON(nil, msg, true)
	if err != nil {
		t.Fatal(err)
	}
	wantJSON := `{"tag":"RequestMessage","value":[
  {"tag":"BatchCount","type":"Integer","value":-1},
  {"tag":"CryptographicUsageMask","type":"Integer","value":"Encrypt|Decrypt|0x80000000"},
  {"tag":"DerivationData","type":"LongInteger","value":4503599627370495},
  {"tag":"DerivationData","type":"LongInteger","value":"0x0010000000000000"},
  {"tag":"DerivationData","type":"LongInteger","value":"0xfff0000000000000"},
  {"tag":"G","type":"BigInteger","value":"0xffffffffffffff85"},
  {"tag":"Operation","type":"Enumeration","value":"Create"},
  {"tag":"Operation","type":"Enumeration","value":"0x80000001"},
  {"tag":"AttributeReference","type":"Enumeration","value":"State"},
  {"tag":"AsynchronousIndicator","type":"Boolean","value":true},
  {"tag":"ResultMessage","type":"TextString","value":"<\"&\n>"},
  {"tag":"Data","type":"ByteString","value":"c50f"},
  {"tag":"ActivationDate","type":"DateTime","value":"2001-01-01T00:00:00Z"},
  {"tag":"ActivationDate","type":"DateTime","value":"0x0000010000000000"},
  {"tag":"LeaseTime","type":"Interval","value":4000000000},
  {"tag":"TimeStamp","type":"DateTimeExtended","value":5},
  {"tag":"0x540001","value":[
    {"tag":"0x540002","type":"Integer","value":7}]},
  {"tag":"RequestPayload","value":[]}]}
`
	if string(j) != wantJSON {
		t.Errorf("AppendJSON:\n%s\nwant:\n%s", j, wantJSON)
	}
	for name, b := range map[string][]byte{"XML": x, "JSON": j} {
		var back []byte
		if name == "XML" {
			back, err = ttlv.ParseXML(b, nil)
		} else {
			back, err = ttlv.ParseJSON(b, nil)
		}
		if err != nil || !bytes.Equal(back, msg) {
			t.Errorf("%s does not read back: %v", name, err)
		}
	}

	// Compact forms carry no whitespace.
	x, _ = ttlv.AppendXML(nil, msg, false)
	j, _ = ttlv.AppendJSON(nil, msg, false)
	if bytes.ContainsAny(x, "\n\t") || bytes.Contains(x, []byte("> <")) || bytes.ContainsAny(j, "\t") || bytes.ContainsAny(j, "\n") {
		t.Errorf("compact output has whitespace:\n%s\n%s", x, j)
	}
}

func TestAppendXMLRefusesUnrepresentableText(t *testing.T) {
	for _, s := range []string{"\x00", "a\x01b", "\x1f", "\uFFFE", "\uFFFF"} {
		msg := build(t, func(b *ttlv.Builder) { b.AddText(ttlv.TagResultMessage, s) })
		if _, err := ttlv.AppendXML(nil, msg, false); !errors.Is(err, ttlv.ErrNotXMLText) {
			t.Errorf("%q: err = %v, want ErrNotXMLText", s, err)
		}
		// JSON carries it.
		j, err := ttlv.AppendJSON(nil, msg, false)
		if err != nil {
			t.Fatal(err)
		}
		if back, err := ttlv.ParseJSON(j, nil); err != nil || !bytes.Equal(back, msg) {
			t.Errorf("%q: JSON %s does not read back: %v", s, j, err)
		}
	}
	if _, err := ttlv.AppendXML(nil, []byte{1, 2, 3}, false); !errors.Is(err, ttlv.ErrTruncated) {
		t.Errorf("malformed TTLV: err = %v", err)
	}
}

// TestTextErrors checks that bad input fails with the right sentinel and a
// message that names the culprit.
func TestTextErrors(t *testing.T) {
	deep := strings.Repeat("<RequestPayload>", 33) + strings.Repeat("</RequestPayload>", 33)
	cases := []struct {
		name      string
		xml, json string
		want      error
		mention   []string
	}{
		{"unknown tag name", `<RequestMessage><NoSuchTag type="Integer" value="1"/></RequestMessage>`,
			jsonMsg(`{"tag":"NoSuchTag","type":"Integer","value":1}`), ttlv.ErrUnknownTag, []string{"NoSuchTag"}},
		{"tag out of range", `<RequestMessage><TTLV tag="0x430001" type="Integer" value="1"/></RequestMessage>`,
			jsonMsg(`{"tag":"0x430001","type":"Integer","value":1}`), ttlv.ErrUnknownTag, []string{"0x430001"}},
		{"bad type name", `<RequestMessage><BatchCount type="Integr" value="1"/></RequestMessage>`,
			jsonMsg(`{"tag":"BatchCount","type":"Integr","value":1}`), ttlv.ErrUnknownType, []string{"BatchCount", "Integr"}},
		{"bad hex", `<RequestMessage><Data type="ByteString" value="0xzz"/></RequestMessage>`,
			jsonMsg(`{"tag":"Data","type":"ByteString","value":"abc"}`), ttlv.ErrBadValue, []string{"Data", "hex"}},
		{"missing value", `<RequestMessage><BatchCount type="Integer"/></RequestMessage>`,
			jsonMsg(`{"tag":"BatchCount","type":"Integer"}`), ttlv.ErrMissingValue, []string{"BatchCount"}},
		{"null scalar", "", jsonMsg(`{"tag":"BatchCount","type":"Integer","value":null}`), ttlv.ErrMissingValue, []string{"BatchCount"}},
		{"unknown enumeration name", `<RequestMessage><Operation type="Enumeration" value="Fly"/></RequestMessage>`,
			jsonMsg(`{"tag":"Operation","type":"Enumeration","value":"Fly"}`), ttlv.ErrBadValue, []string{"Operation", `"Fly"`}},
		{"enumeration without names", `<RequestMessage><BatchCount type="Enumeration" value="One"/></RequestMessage>`,
			"", ttlv.ErrBadValue, []string{"BatchCount", "no value names"}},
		{"unknown mask bit", `<RequestMessage><CryptographicUsageMask type="Integer" value="Encrypt Fly"/></RequestMessage>`,
			jsonMsg(`{"tag":"CryptographicUsageMask","type":"Integer","value":"Encrypt|Fly"}`), ttlv.ErrBadValue, []string{"CryptographicUsageMask", "Encrypt"}},
		{"Integer out of range", `<RequestMessage><BatchCount type="Integer" value="4294967295"/></RequestMessage>`,
			jsonMsg(`{"tag":"BatchCount","type":"Integer","value":4294967295}`), ttlv.ErrBadValue, []string{"BatchCount"}},
		{"fractional number", "", jsonMsg(`{"tag":"BatchCount","type":"Integer","value":1.5}`), ttlv.ErrBadValue, []string{"BatchCount", "1.5"}},
		{"Date-Time without zone", `<RequestMessage><ActivationDate type="DateTime" value="2001-01-01T10:00:00"/></RequestMessage>`,
			jsonMsg(`{"tag":"ActivationDate","type":"DateTime","value":"2001-01-01T10:00:00"}`), ttlv.ErrBadValue, []string{"ActivationDate", "time zone"}},
		{"placeholder without substitution", `<RequestMessage><ActivationDate type="DateTime" value="$NOW-3600"/></RequestMessage>`,
			jsonMsg(`{"tag":"ActivationDate","type":"DateTime","value":"$NOW-3600"}`), ttlv.ErrBadValue, []string{"ActivationDate", "$NOW-3600"}},
		{"Boolean", `<RequestMessage><AsynchronousIndicator type="Boolean" value="yes"/></RequestMessage>`,
			jsonMsg(`{"tag":"AsynchronousIndicator","type":"Boolean","value":"0x2"}`), ttlv.ErrBadValue, []string{"AsynchronousIndicator"}},
		{"Boolean for an Integer", "", jsonMsg(`{"tag":"BatchCount","type":"Integer","value":true}`), ttlv.ErrBadValue, []string{"BatchCount"}},
		{"Structure with a value", `<RequestMessage><RequestPayload value="1"/></RequestMessage>`,
			jsonMsg(`{"tag":"RequestPayload","type":"Structure","value":1}`), ttlv.ErrSyntax, []string{"RequestPayload"}},
		{"items in a non-Structure", `<RequestMessage><BatchCount type="Integer" value="1"><BatchCount type="Integer" value="1"/></BatchCount></RequestMessage>`,
			jsonMsg(`{"tag":"BatchCount","type":"Integer","value":[]}`), ttlv.ErrSyntax, []string{"BatchCount"}},
		{"text in an element", `<RequestMessage>hello</RequestMessage>`, "", ttlv.ErrSyntax, []string{"RequestMessage"}},
		{"too deep", "<RequestMessage>" + deep + "</RequestMessage>", "", ttlv.ErrSyntax, []string{"deeper"}},
		{"two messages", `<RequestMessage/><RequestMessage/>`, jsonMsg("") + jsonMsg(""), ttlv.ErrSyntax, nil},
		{"no message", `<!-- nothing -->`, "", ttlv.ErrSyntax, []string{"no message"}},
		{"JSON unknown member", "", jsonMsg(`{"tag":"BatchCount","type":"Integer","value":1,"vaule":2}`), ttlv.ErrSyntax, []string{"vaule"}},
		{"JSON duplicate member", "", jsonMsg(`{"tag":"BatchCount","tag":"BatchCount","type":"Integer","value":1}`), ttlv.ErrSyntax, []string{"duplicate"}},
		{"JSON missing tag", "", jsonMsg(`{"type":"Integer","value":1}`), ttlv.ErrUnknownTag, []string{"no tag"}},
		{"JSON missing type", "", jsonMsg(`{"tag":"BatchCount","value":1}`), ttlv.ErrUnknownType, []string{"BatchCount", "no type"}},
		{"JSON object as value", "", jsonMsg(`{"tag":"BatchCount","type":"Integer","value":{}}`), ttlv.ErrSyntax, []string{"value"}},
		{"JSON Big Integer bad hex", "", jsonMsg(`{"tag":"G","type":"BigInteger","value":"0xZZ"}`), ttlv.ErrBadValue, []string{"hex"}},
		{"JSON Big Integer without 0x", "", jsonMsg(`{"tag":"G","type":"BigInteger","value":"ff"}`), ttlv.ErrBadValue, []string{"0x"}},
		{"JSON not an item", "", `[1]`, ttlv.ErrSyntax, []string{"object"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, in := range []struct{ format, text string }{{"xml", c.xml}, {"json", c.json}} {
				if in.text == "" {
					continue
				}
				var err error
				if in.format == "xml" {
					_, err = ttlv.ParseXML([]byte(in.text), nil)
				} else {
					_, err = ttlv.ParseJSON([]byte(in.text), nil)
				}
				if !errors.Is(err, c.want) {
					t.Errorf("%s: err = %v, want %v", in.format, err, c.want)
					continue
				}
				var te *ttlv.TextError
				if !errors.As(err, &te) || te.Format != in.format || te.Line == 0 {
					t.Errorf("%s: %#v is not a *TextError with a format and a line", in.format, err)
				}
				for _, m := range c.mention {
					if !strings.Contains(err.Error(), m) {
						t.Errorf("%s: %q does not mention %q", in.format, err, m)
					}
				}
			}
		})
	}

	// Malformed XML and JSON are reported through TextError too.
	for _, in := range []string{`<RequestMessage>`, `<RequestMessage></ResponseMessage>`} {
		_, err := ttlv.ParseXML([]byte(in), nil)
		var te *ttlv.TextError
		if !errors.As(err, &te) {
			t.Errorf("%s: err = %v", in, err)
		}
	}
	for _, in := range []string{`{"tag":`, `{"tag":"RequestMessage","value":[}`, ``} {
		_, err := ttlv.ParseJSON([]byte(in), nil)
		var te *ttlv.TextError
		if !errors.As(err, &te) {
			t.Errorf("%s: err = %v", in, err)
		}
	}
}

// TestAttributeValueTables: a 1.x Attribute names its value after the
// Attribute Name, both ways; a 2.x vendor attribute (with Vendor
// Identification) and a custom "x-" attribute do not.
func TestAttributeValueTables(t *testing.T) {
	msg := build(t, func(b *ttlv.Builder) {
		b.Begin(ttlv.TagAttribute)
		b.AddText(ttlv.TagAttributeName, "State")
		b.AddEnum(ttlv.TagAttributeValue, 2)
		b.End()
		b.Begin(ttlv.TagAttribute)
		b.AddText(ttlv.TagVendorIdentification, "x")
		b.AddText(ttlv.TagAttributeName, "State")
		b.AddEnum(ttlv.TagAttributeValue, 2)
		b.End()
		b.Begin(ttlv.TagAttribute)
		b.AddText(ttlv.TagAttributeName, "x-State")
		b.AddInt32(ttlv.TagAttributeValue, 2)
		b.End()
	})
	x, err := ttlv.AppendXML(nil, msg, false)
	if err != nil {
		t.Fatal(err)
	}
	want := `<RequestMessage>` +
		`<Attribute><AttributeName type="TextString" value="State"/><AttributeValue type="Enumeration" value="Active"/></Attribute>` +
		`<Attribute><VendorIdentification type="TextString" value="x"/><AttributeName type="TextString" value="State"/><AttributeValue type="Enumeration" value="0x00000002"/></Attribute>` +
		`<Attribute><AttributeName type="TextString" value="x-State"/><AttributeValue type="Integer" value="2"/></Attribute>` +
		`</RequestMessage>`
	if string(x) != want {
		t.Errorf("got  %s\nwant %s", x, want)
	}
	if back, err := ttlv.ParseXML(x, nil); err != nil || !bytes.Equal(back, msg) {
		t.Errorf("XML does not read back: %v", err)
	}
	j, _ := ttlv.AppendJSON(nil, msg, false)
	if !bytes.Contains(j, []byte(`"value":"Active"`)) || bytes.Count(j, []byte(`"value":"0x00000002"`)) != 1 {
		t.Errorf("JSON: %s", j)
	}
	if back, err := ttlv.ParseJSON(j, nil); err != nil || !bytes.Equal(back, msg) {
		t.Errorf("JSON does not read back: %v", err)
	}
	// The Attribute Name may follow the value.
	back, err := ttlv.ParseXML([]byte(`<Attribute><AttributeValue type="Enumeration" value="Active"/><AttributeName type="TextString" value="State"/></Attribute>`), nil)
	if err != nil || ttlv.Format(back) != "Attribute\n  AttributeValue (Enumeration) Active\n  AttributeName (TextString) \"State\"\n" {
		t.Errorf("value before name: %v\n%s", err, ttlv.Format(back))
	}
}

func TestSubstitute(t *testing.T) {
	type call struct {
		tag   ttlv.Tag
		typ   ttlv.Type
		value string
	}
	var calls []call
	opts := &ttlv.DecodeOptions{Substitute: func(tag ttlv.Tag, typ ttlv.Type, v string) (string, bool) {
		calls = append(calls, call{tag, typ, v})
		switch v {
		case "$NOW":
			return "2020-01-01T00:00:00Z", true
		case "$UNIQUE_IDENTIFIER_0":
			return "uid-0", true
		}
		return "", false
	}}
	in := xmlMsg(`<TimeStamp type="DateTime" value="$NOW"/><UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/><BatchCount type="Integer" value="1"/>`)
	got, err := ttlv.ParseXML([]byte(in), opts)
	if err != nil {
		t.Fatal(err)
	}
	want := build(t, func(b *ttlv.Builder) {
		b.AddTime(ttlv.TagTimeStamp, time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC))
		b.AddText(ttlv.TagUniqueIdentifier, "uid-0")
		b.AddInt32(ttlv.TagBatchCount, 1)
	})
	if !bytes.Equal(got, want) {
		t.Errorf("got\n%s", ttlv.Format(got))
	}
	wantCalls := []call{
		{ttlv.TagTimeStamp, ttlv.TypeDateTime, "$NOW"},
		{ttlv.TagUniqueIdentifier, ttlv.TypeTextString, "$UNIQUE_IDENTIFIER_0"},
		{ttlv.TagBatchCount, ttlv.TypeInteger, "1"},
	}
	if len(calls) != len(wantCalls) {
		t.Fatalf("calls %v", calls)
	}
	for i := range calls {
		if calls[i] != wantCalls[i] {
			t.Errorf("call %d = %v, want %v", i, calls[i], wantCalls[i])
		}
	}
	// Same in JSON; numbers are not offered.
	calls = nil
	got, err = ttlv.ParseJSON([]byte(jsonMsg(`{"tag":"TimeStamp","type":"DateTime","value":"$NOW"},{"tag":"UniqueIdentifier","type":"TextString","value":"$UNIQUE_IDENTIFIER_0"},{"tag":"BatchCount","type":"Integer","value":1}`)), opts)
	if err != nil || !bytes.Equal(got, want) || len(calls) != 2 {
		t.Errorf("JSON: %v, %d calls\n%s", err, len(calls), ttlv.Format(got))
	}
}

func TestXMLDecoderStream(t *testing.T) {
	const file = `<?xml version="1.0"?>
<KMIP>
<!-- header -->
# [[commentary between messages]]
<RequestMessage><BatchCount type="Integer" value="1"/></RequestMessage>
<!-- <RequestMessage><BatchCount type="Integer" value="9"/></RequestMessage> -->
<ResponseMessage><BatchCount type="Integer" value="2"/></ResponseMessage>
</KMIP>
</KMIP>
`
	d := ttlv.NewXMLDecoder(strings.NewReader(file), nil)
	var names []string
	var lines []int
	for {
		m, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if err := ttlv.Check(m, 0); err != nil {
			t.Fatal(err)
		}
		names = append(names, d.Name())
		lines = append(lines, d.Line())
	}
	if strings.Join(names, " ") != "RequestMessage ResponseMessage" || lines[0] != 5 || lines[1] != 7 {
		t.Errorf("names %v lines %v", names, lines)
	}
	if _, err := d.Next(); err != io.EOF {
		t.Errorf("after the end: %v", err)
	}

	// Without a wrapper, every top-level element is a message; the KMIP
	// namespace is accepted.
	d = ttlv.NewXMLDecoder(strings.NewReader(`<RequestMessage xmlns="urn:oasis:tc:kmip:xmlns"/> <ResponseMessage/>`), nil)
	n := 0
	for {
		_, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 2 {
		t.Errorf("%d messages without a wrapper", n)
	}

	// An unclosed wrapper is an error, not a quiet end.
	d = ttlv.NewXMLDecoder(strings.NewReader(`<KMIP><RequestMessage/>`), nil)
	if _, err := d.Next(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Next(); err == nil || err == io.EOF {
		t.Errorf("unclosed <KMIP>: %v", err)
	}
}

func TestJSONDepthLimit(t *testing.T) {
	ok := strings.Repeat(`{"tag":"RequestPayload","value":[`, 32) + strings.Repeat(`]}`, 32)
	if _, err := ttlv.ParseJSON([]byte(ok), nil); err != nil {
		t.Errorf("32 levels: %v", err)
	}
	deep := strings.Repeat(`{"tag":"RequestPayload","value":[`, 33) + strings.Repeat(`]}`, 33)
	if _, err := ttlv.ParseJSON([]byte(deep), nil); !errors.Is(err, ttlv.ErrSyntax) {
		t.Errorf("33 levels: %v", err)
	}
	deepNull := strings.Repeat(`{"tag":"RequestPayload","value":[`, 32) + `{"tag":"RequestPayload"}` + strings.Repeat(`]}`, 32)
	if _, err := ttlv.ParseJSON([]byte(deepNull), nil); !errors.Is(err, ttlv.ErrSyntax) {
		t.Errorf("33 levels ending in an empty Structure: %v", err)
	}
	if _, err := ttlv.ParseJSON([]byte(ok), &ttlv.DecodeOptions{MaxDepth: 4}); !errors.Is(err, ttlv.ErrSyntax) {
		t.Errorf("MaxDepth 4: %v", err)
	}
}

func TestFormat(t *testing.T) {
	long := bytes.Repeat([]byte{0xab}, 100)
	msg := build(t, func(b *ttlv.Builder) {
		b.AddInt32(ttlv.TagCryptographicUsageMask, 12)
		b.AddBytes(ttlv.TagData, long)
		b.AddDateTimeExtended(ttlv.TagTimeStamp, 1700000000123456)
		b.AddItem(ttlv.TagG, ttlv.TypeBigInteger, []byte{0, 0, 0, 0, 0, 1, 0, 1})
		b.AddEnum(ttlv.TagOperation, 0x80000001)
		b.AddInterval(ttlv.TagLeaseTime, 3600)
		b.AddBool(ttlv.TagAsynchronousIndicator, false)
		b.AddInt32(0x540001, 5)
	})
	want := "RequestMessage\n" +
		"  CryptographicUsageMask (Integer) Encrypt|Decrypt\n" +
		"  Data (ByteString) " + strings.Repeat("ab", 32) + "… (100 bytes)\n" +
		"  TimeStamp (DateTimeExtended) 2023-11-14T22:13:20.123456Z\n" +
		"  G (BigInteger) 0x0000000000010001\n" +
		"  Operation (Enumeration) 0x80000001\n" +
		"  LeaseTime (Interval) 3600\n" +
		"  AsynchronousIndicator (Boolean) false\n" +
		"  0x540001 (Integer) 5\n"
	if got := ttlv.Format(msg); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	// Malformed input is shown as far as it goes, then the problem.
	bad := append(bytes.Clone(msg[:len(msg)-8]), 0, 0, 0, 0, 0, 0, 0, 0)
	bad[len(bad)-16+12] = 9 // padding of the last item
	got := ttlv.Format(bad)
	if !strings.HasPrefix(got, "RequestMessage\n  CryptographicUsageMask") || !strings.Contains(got, "!! ttlv: non-zero padding") {
		t.Errorf("malformed:\n%s", got)
	}
	if got := ttlv.Format([]byte{0x42, 0}); !strings.HasPrefix(got, "!! ") {
		t.Errorf("truncated: %q", got)
	}
}
