package ttlv_test

import (
	"fmt"
	"io"
	"strings"

	"github.com/kmipd/kmipd/ttlv"
)

// exampleRequest builds a small Create request.
func exampleRequest() []byte {
	b := ttlv.NewBuilder(make([]byte, 0, 256))
	b.Begin(ttlv.TagRequestMessage)
	b.Begin(ttlv.TagRequestHeader)
	b.Begin(ttlv.TagProtocolVersion)
	b.AddInt32(ttlv.TagProtocolVersionMajor, 2)
	b.AddInt32(ttlv.TagProtocolVersionMinor, 1)
	b.End()
	b.AddInt32(ttlv.TagBatchCount, 1)
	b.End()
	b.Begin(ttlv.TagBatchItem)
	b.AddEnum(ttlv.TagOperation, 0x01) // Create
	b.Begin(ttlv.TagRequestPayload)
	b.AddEnum(ttlv.TagObjectType, 0x02) // Symmetric Key
	b.Begin(ttlv.TagAttributes)
	b.AddEnum(ttlv.TagCryptographicAlgorithm, 0x03) // AES
	b.AddInt32(ttlv.TagCryptographicLength, 256)
	b.AddInt32(ttlv.TagCryptographicUsageMask, 0x04|0x08) // Encrypt, Decrypt
	b.End()
	b.End()
	b.End()
	b.End()
	msg, err := b.Bytes()
	if err != nil {
		panic(err)
	}
	return msg
}

// The Builder writes TTLV front to back; End backpatches each Structure's
// length. Errors are sticky and reported by Bytes.
func ExampleBuilder() {
	b := ttlv.NewBuilder(nil)
	b.Begin(ttlv.TagProtocolVersion)
	b.AddInt32(ttlv.TagProtocolVersionMajor, 2)
	b.AddInt32(ttlv.TagProtocolVersionMinor, 1)
	b.End()
	msg, err := b.Bytes()
	if err != nil {
		panic(err)
	}
	fmt.Printf("% x\n", msg[:8])
	fmt.Printf("% x\n", msg[8:24])
	fmt.Println(len(msg), ttlv.Check(msg, 0))
	// Output:
	// 42 00 69 01 00 00 00 20
	// 42 00 6a 02 00 00 00 04 00 00 00 02 00 00 00 00
	// 40 <nil>
}

// A Value is a cursor over encoded items. Check the message once; then each
// read consumes one item of the expected tag and type, or reports false.
func ExampleValue() {
	msg := exampleRequest()
	if err := ttlv.Check(msg, 0); err != nil {
		panic(err)
	}
	var req, header, version, item ttlv.Value
	var major, minor int32
	var op uint32
	in := ttlv.Value(msg)
	ok := in.ReadStructure(ttlv.TagRequestMessage, &req) &&
		req.ReadStructure(ttlv.TagRequestHeader, &header) &&
		header.ReadStructure(ttlv.TagProtocolVersion, &version) &&
		version.ReadInt32(ttlv.TagProtocolVersionMajor, &major) &&
		version.ReadInt32(ttlv.TagProtocolVersionMinor, &minor)
	fmt.Println(ok, major, minor)

	// The header's remaining items, whatever they are.
	for !header.Empty() {
		it, _ := header.Next()
		fmt.Println(it.Tag, it.Type, it.Int32())
	}

	ok = req.ReadStructure(ttlv.TagBatchItem, &item) && item.ReadEnum(ttlv.TagOperation, &op)
	name, _ := ttlv.EnumName(ttlv.TagOperation, op)
	fmt.Println(ok, name)

	// A read of the wrong tag consumes nothing.
	var n int32
	fmt.Println(item.ReadInt32(ttlv.TagBatchCount, &n), item.PeekTag())
	// Output:
	// true 2 1
	// BatchCount Integer 1
	// true Create
	// false RequestPayload
}

func ExampleFormat() {
	fmt.Print(ttlv.Format(exampleRequest()))
	// Output:
	// RequestMessage
	//   RequestHeader
	//     ProtocolVersion
	//       ProtocolVersionMajor (Integer) 2
	//       ProtocolVersionMinor (Integer) 1
	//     BatchCount (Integer) 1
	//   BatchItem
	//     Operation (Enumeration) Create
	//     RequestPayload
	//       ObjectType (Enumeration) SymmetricKey
	//       Attributes
	//         CryptographicAlgorithm (Enumeration) AES
	//         CryptographicLength (Integer) 256
	//         CryptographicUsageMask (Integer) Encrypt|Decrypt
}

func ExampleAppendXML() {
	x, err := ttlv.AppendXML(nil, exampleRequest(), true)
	if err != nil {
		panic(err)
	}
	fmt.Print(string(x))
	// Output:
	// <RequestMessage>
	//   <RequestHeader>
	//     <ProtocolVersion>
	//       <ProtocolVersionMajor type="Integer" value="2"/>
	//       <ProtocolVersionMinor type="Integer" value="1"/>
	//     </ProtocolVersion>
	//     <BatchCount type="Integer" value="1"/>
	//   </RequestHeader>
	//   <BatchItem>
	//     <Operation type="Enumeration" value="Create"/>
	//     <RequestPayload>
	//       <ObjectType type="Enumeration" value="SymmetricKey"/>
	//       <Attributes>
	//         <CryptographicAlgorithm type="Enumeration" value="AES"/>
	//         <CryptographicLength type="Integer" value="256"/>
	//         <CryptographicUsageMask type="Integer" value="Encrypt Decrypt"/>
	//       </Attributes>
	//     </RequestPayload>
	//   </BatchItem>
	// </RequestMessage>
}

func ExampleAppendJSON() {
	j, err := ttlv.AppendJSON(nil, exampleRequest(), true)
	if err != nil {
		panic(err)
	}
	fmt.Print(string(j))
	// Output:
	// {"tag":"RequestMessage","value":[
	//   {"tag":"RequestHeader","value":[
	//     {"tag":"ProtocolVersion","value":[
	//       {"tag":"ProtocolVersionMajor","type":"Integer","value":2},
	//       {"tag":"ProtocolVersionMinor","type":"Integer","value":1}]},
	//     {"tag":"BatchCount","type":"Integer","value":1}]},
	//   {"tag":"BatchItem","value":[
	//     {"tag":"Operation","type":"Enumeration","value":"Create"},
	//     {"tag":"RequestPayload","value":[
	//       {"tag":"ObjectType","type":"Enumeration","value":"SymmetricKey"},
	//       {"tag":"Attributes","value":[
	//         {"tag":"CryptographicAlgorithm","type":"Enumeration","value":"AES"},
	//         {"tag":"CryptographicLength","type":"Integer","value":256},
	//         {"tag":"CryptographicUsageMask","type":"Integer","value":"Encrypt|Decrypt"}]}]}]}]}
}

// ParseXML reads one message; the Substitute hook replaces the placeholders
// of the OASIS test cases before conversion.
func ExampleParseXML() {
	const in = `
<ResponseMessage>
  <ResponseHeader>
    <TimeStamp type="DateTime" value="$NOW"/>
  </ResponseHeader>
  <BatchItem>
    <ResponsePayload>
      <UniqueIdentifier type="TextString" value="$UNIQUE_IDENTIFIER_0"/>
      <Attribute>
        <AttributeName type="TextString" value="State"/>
        <AttributeValue type="Enumeration" value="PreActive"/>
      </Attribute>
    </ResponsePayload>
  </BatchItem>
</ResponseMessage>`
	opts := &ttlv.DecodeOptions{Substitute: func(tag ttlv.Tag, typ ttlv.Type, v string) (string, bool) {
		switch {
		case typ == ttlv.TypeDateTime && v == "$NOW":
			return "2001-01-01T10:00:00+10:00", true
		case strings.HasPrefix(v, "$UNIQUE_IDENTIFIER_"):
			return "uid-" + strings.TrimPrefix(v, "$UNIQUE_IDENTIFIER_"), true
		}
		return "", false
	}}
	msg, err := ttlv.ParseXML([]byte(in), opts)
	if err != nil {
		panic(err)
	}
	fmt.Print(ttlv.Format(msg))

	_, err = ttlv.ParseXML([]byte(in), nil)
	fmt.Println(err)
	// Output:
	// ResponseMessage
	//   ResponseHeader
	//     TimeStamp (DateTime) 2001-01-01T00:00:00Z
	//   BatchItem
	//     ResponsePayload
	//       UniqueIdentifier (TextString) "uid-0"
	//       Attribute
	//         AttributeName (TextString) "State"
	//         AttributeValue (Enumeration) PreActive
	// ttlv: xml line 4: TimeStamp (DateTime) "$NOW": bad value: want an RFC 3339 date-time with a time zone, like 2001-01-01T10:00:00+10:00
}

func ExampleParseJSON() {
	msg, err := ttlv.ParseJSON([]byte(`{"tag": "Attributes", "value": [
		{"tag": "CryptographicUsageMask", "type": "Integer", "value": "Encrypt|Decrypt"},
		{"tag": "0x540001", "type": "LongInteger", "value": "0x0010000000000000"},
		{"tag": "ActivationDate", "type": "DateTime", "value": "2001-01-01T10:00:00+10:00"}]}`), nil)
	if err != nil {
		panic(err)
	}
	fmt.Print(ttlv.Format(msg))
	// Output:
	// Attributes
	//   CryptographicUsageMask (Integer) Encrypt|Decrypt
	//   0x540001 (LongInteger) 4503599627370496
	//   ActivationDate (DateTime) 2001-01-01T00:00:00Z
}

// An XMLDecoder reads the messages of an OASIS test-case file one by one.
func ExampleXMLDecoder() {
	const file = `<KMIP>
<!-- a test case -->
<RequestMessage><BatchCount type="Integer" value="1"/></RequestMessage>
<ResponseMessage><BatchCount type="Integer" value="1"/></ResponseMessage>
</KMIP>`
	d := ttlv.NewXMLDecoder(strings.NewReader(file), nil)
	for {
		msg, err := d.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			panic(err)
		}
		fmt.Println(d.Line(), d.Name(), len(msg), "bytes")
	}
	// Output:
	// 3 RequestMessage 24 bytes
	// 4 ResponseMessage 24 bytes
}
