package benchcmp

import (
	"encoding/hex"
	"errors"
	"strings"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// The fixtures are written out by hand, one item per line, from the OASIS
// test cases named in their comments, so that they do not come from the
// encoder under test. Hex digits may be grouped freely; "…" is ASCII text;
// // starts a comment. The package tests check them against gemalto's
// XML→TTLV conversion of the OASIS XML.

// FixtureUID is the Unique Identifier used by the Get fixtures, in place of
// the OASIS files' $UNIQUE_IDENTIFIER_0.
const FixtureUID = "b7f8a4c6-3d1e-4f5a-9c2b-8e7d6f5a4b3c"

// FixtureTime is the Time Stamp of GetResponse20: 2023-11-14T22:13:20Z.
const FixtureTime = 1700000000

// FixtureKey is the 32-byte AES-256 key returned by GetResponse20.
var FixtureKey = mustHex(`000102030405060708090A0B0C0D0E0F 101112131415161718191A1B1C1D1E1F`)

// GetRequest20 is the Get request of OASIS KMIP Profiles 2.1 BL-M-1-21
// (step 2) at protocol version 2.0.
var GetRequest20 = mustHex(`
42007801 00000090                             // Request Message (144)
  42007701 00000038                           //   Request Header (56)
    42006901 00000020                         //     Protocol Version (32)
      42006A02 00000004 00000002 00000000     //       Major 2
      42006B02 00000004 00000000 00000000     //       Minor 0
    42000D02 00000004 00000001 00000000       //     Batch Count 1
  42000F01 00000048                           //   Batch Item (72)
    42005C05 00000004 0000000A 00000000       //     Operation Get
    42007901 00000030                         //     Request Payload (48)
      42009407 00000024 "b7f8a4c6-3d1e-4f5a-9c2b-8e7d6f5a4b3c" 00000000 // Unique Identifier
`)

// CreateRequest20 is the Create request of OASIS KMIP Profiles 2.1
// SKLC-M-1-21 (step 0) at protocol version 2.0: an AES-256 Symmetric Key
// with Attributes {Cryptographic Algorithm, Cryptographic Length,
// Cryptographic Usage Mask, Name}.
var CreateRequest20 = mustHex(`
42007801 000000F8                             // Request Message (248)
  42007701 00000058                           //   Request Header (88)
    42006901 00000020                         //     Protocol Version (32)
      42006A02 00000004 00000002 00000000     //       Major 2
      42006B02 00000004 00000000 00000000     //       Minor 0
    42010507 00000012 "SKLC-M-1-21 step=0" 000000000000 // Client Correlation Value (18)
    42000D02 00000004 00000001 00000000       //     Batch Count 1
  42000F01 00000090                           //   Batch Item (144)
    42005C05 00000004 00000001 00000000       //     Operation Create
    42007901 00000078                         //     Request Payload (120)
      42005705 00000004 00000002 00000000     //       Object Type Symmetric Key
      42012501 00000060                       //       Attributes (96)
        42002805 00000004 00000003 00000000   //         Cryptographic Algorithm AES
        42002A02 00000004 00000100 00000000   //         Cryptographic Length 256
        42002C02 00000004 0000000C 00000000   //         Cryptographic Usage Mask Encrypt|Decrypt
        42005301 00000028                     //         Name (40)
          42005507 0000000B "SKLC-M-1-21" 0000000000 //    Name Value (11)
          42005405 00000004 00000001 00000000 //           Name Type Uninterpreted Text String
`)

// CreateRequest14 is the Create request of OASIS KMIP Profiles 1.4
// SKLC-M-1-14 (step 0): the same key as CreateRequest20 in the 1.x form,
// a Template-Attribute of Attribute{Attribute Name, Attribute Value}.
var CreateRequest14 = mustHex(`
42007801 00000168                             // Request Message (360)
  42007701 00000038                           //   Request Header (56)
    42006901 00000020                         //     Protocol Version (32)
      42006A02 00000004 00000001 00000000     //       Major 1
      42006B02 00000004 00000004 00000000     //       Minor 4
    42000D02 00000004 00000001 00000000       //     Batch Count 1
  42000F01 00000120                           //   Batch Item (288)
    42005C05 00000004 00000001 00000000       //     Operation Create
    42007901 00000108                         //     Request Payload (264)
      42005705 00000004 00000002 00000000     //       Object Type Symmetric Key
      42009101 000000F0                       //       Template-Attribute (240)
        42000801 00000030                     //         Attribute (48)
          42000A07 00000017 "Cryptographic Algorithm" 00
          42000B05 00000004 00000003 00000000 //           Attribute Value AES
        42000801 00000030                     //         Attribute (48)
          42000A07 00000014 "Cryptographic Length" 00000000
          42000B02 00000004 00000100 00000000 //           Attribute Value 256
        42000801 00000030                     //         Attribute (48)
          42000A07 00000018 "Cryptographic Usage Mask"
          42000B02 00000004 0000000C 00000000 //           Attribute Value Encrypt|Decrypt
        42000801 00000040                     //         Attribute (64)
          42000A07 00000004 "Name" 00000000
          42000B01 00000028                   //           Attribute Value (40)
            42005507 0000000B "SKLC-M-1-14" 0000000000 //    Name Value
            42005405 00000004 00000001 00000000 //         Name Type Uninterpreted Text String
`)

// GetResponse20 is the response to GetRequest20 that EncodeGetResponse
// writes for FixtureTime, FixtureUID and FixtureKey; its layout is BL-M-1-21
// step 2's with a 256-bit key and no Server Correlation Value.
var GetResponse20 = mustHex(`
42007B01 00000130                             // Response Message (304)
  42007A01 00000048                           //   Response Header (72)
    42006901 00000020                         //     Protocol Version (32)
      42006A02 00000004 00000002 00000000     //       Major 2
      42006B02 00000004 00000000 00000000     //       Minor 0
    42009209 00000008 000000006553F100        //     Time Stamp 1700000000
    42000D02 00000004 00000001 00000000       //     Batch Count 1
  42000F01 000000D8                           //   Batch Item (216)
    42005C05 00000004 0000000A 00000000       //     Operation Get
    42007F05 00000004 00000000 00000000       //     Result Status Success
    42007C01 000000B0                         //     Response Payload (176)
      42005705 00000004 00000002 00000000     //       Object Type Symmetric Key
      42009407 00000024 "b7f8a4c6-3d1e-4f5a-9c2b-8e7d6f5a4b3c" 00000000 // Unique Identifier
      42008F01 00000068                       //       Symmetric Key (104)
        42004001 00000060                     //         Key Block (96)
          42004205 00000004 00000001 00000000 //           Key Format Type Raw
          42004501 00000028                   //           Key Value (40)
            42004308 00000020 000102030405060708090A0B0C0D0E0F 101112131415161718191A1B1C1D1E1F
          42002805 00000004 00000003 00000000 //           Cryptographic Algorithm AES
          42002A02 00000004 00000100 00000000 //           Cryptographic Length 256
`)

// mustHex decodes the fixture notation described above.
func mustHex(s string) []byte {
	var digits strings.Builder
	var out []byte
	flush := func() {
		b, err := hex.DecodeString(digits.String())
		if err != nil {
			panic("benchcmp: bad fixture: " + err.Error())
		}
		out = append(out, b...)
		digits.Reset()
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			flush()
			j := strings.IndexByte(s[i+1:], '"')
			if j < 0 {
				panic("benchcmp: unterminated text in fixture")
			}
			out = append(out, s[i+1:i+1+j]...)
			i += j + 1
		case c == '/' && i+1 < len(s) && s[i+1] == '/':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		default:
			digits.WriteByte(c)
		}
	}
	flush()
	return out
}

// Errors of the code paths; preallocated so that a failure costs nothing
// either.
var (
	ErrOperation = errors.New("benchcmp: unexpected operation")
	ErrAttribute = errors.New("benchcmp: unexpected attribute")
)

// DecodeGet is kmipd's Get request path: msg, one whole Request Message as
// ttlv.ReadMessage returns it, is parsed into r (reused across calls) and
// the single batch item's payload decoded into g.
func DecodeGet(r *kmip.Request, g *kmip.GetRequest, msg []byte) error {
	if err := r.Parse(msg, kmip.Limits{}); err != nil {
		return err
	}
	it := &r.Items[0]
	if it.Operation != kmip.OperationGet {
		return ErrOperation
	}
	return g.Decode(it.Payload)
}

// CreateFields are the fields of a Create request that the comparison reads
// out of every library's decoding. Byte slices alias the request.
type CreateFields struct {
	ObjectType kmip.ObjectType
	Algorithm  kmip.CryptographicAlgorithm
	Length     int32
	UsageMask  kmip.CryptographicUsageMask
	NameValue  []byte
	NameType   kmip.NameType
	Attributes int // attributes seen
}

// DecodeCreate is kmipd's Create request path: Parse, CreateRequest.Decode
// in the request's version, then every attribute read with AttrList.Next and
// its value taken out (the Name's two children too), as a Create handler
// does before it builds the object.
func DecodeCreate(r *kmip.Request, c *kmip.CreateRequest, f *CreateFields, msg []byte) error {
	if err := r.Parse(msg, kmip.Limits{}); err != nil {
		return err
	}
	it := &r.Items[0]
	if it.Operation != kmip.OperationCreate {
		return ErrOperation
	}
	if err := c.Decode(it.Payload, r.Header.Version); err != nil {
		return err
	}
	*f = CreateFields{ObjectType: c.ObjectType}
	l := c.Attributes
	for {
		a, ok, err := l.Next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		f.Attributes++
		v := a.Value
		switch a.Tag {
		case ttlv.TagCryptographicAlgorithm:
			if v.Type != ttlv.TypeEnumeration {
				return ErrAttribute
			}
			f.Algorithm = kmip.CryptographicAlgorithm(v.Uint32())
		case ttlv.TagCryptographicLength:
			if v.Type != ttlv.TypeInteger {
				return ErrAttribute
			}
			f.Length = v.Int32()
		case ttlv.TagCryptographicUsageMask:
			if v.Type != ttlv.TypeInteger {
				return ErrAttribute
			}
			f.UsageMask = kmip.CryptographicUsageMask(v.Uint32())
		case ttlv.TagName:
			var nt uint32
			n := v.Children()
			if !n.ReadText(ttlv.TagNameValue, &f.NameValue) || !n.ReadEnum(ttlv.TagNameType, &nt) || !n.Empty() {
				return ErrAttribute
			}
			f.NameType = kmip.NameType(nt)
		default:
			return ErrAttribute
		}
	}
}

// EncodeGetResponse is kmipd's Get response path: a whole 2.0 Response
// Message (header with Time Stamp, one successful Get batch item carrying
// a Raw AES Symmetric Key) written into buf, whose capacity is reused.
func EncodeGetResponse(w *kmip.ResponseWriter, buf []byte, now int64, uid, key []byte) ([]byte, error) {
	w.Begin(buf, 0, &kmip.ResponseHeader{Version: kmip.V2_0, TimeStamp: now, BatchCount: 1})
	w.BeginSuccess(kmip.OperationGet, nil)
	p := kmip.GetResponse{
		ObjectType: kmip.ObjectTypeSymmetricKey,
		UniqueID:   uid,
		Key: kmip.KeyBlock{
			FormatType:             kmip.KeyFormatTypeRaw,
			Material:               key,
			CryptographicAlgorithm: kmip.CryptographicAlgorithmAES,
			CryptographicLength:    int32(8 * len(key)),
		},
	}
	p.MarshalTTLV(&w.B)
	w.EndItem()
	return w.Finish()
}
