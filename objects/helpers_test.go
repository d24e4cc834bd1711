package objects_test

import (
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// build encodes items written by f.
func build(t testing.TB, f func(b *ttlv.Builder)) []byte {
	t.Helper()
	b := ttlv.NewBuilder(nil)
	f(b)
	out, err := b.Bytes()
	if err != nil {
		t.Fatalf("builder: %v", err)
	}
	return out
}

// render prints a sequence of items in a compact notation that the tests
// write their expectations in, independently of the code under test:
// Tag{children}, Tag="text", Tag=e:N (enumeration), i:N (integer),
// l:N (long), b:true (boolean), t:N (date-time), iv:N (interval),
// x:hex (byte string).
func render(t testing.TB, raw []byte) string {
	t.Helper()
	var sb strings.Builder
	renderSeq(t, &sb, ttlv.Value(raw))
	return sb.String()
}

func renderSeq(t testing.TB, sb *strings.Builder, v ttlv.Value) {
	t.Helper()
	for first := true; !v.Empty(); first = false {
		it, ok := v.Next()
		if !ok {
			t.Fatalf("malformed TTLV at %x", []byte(v))
		}
		if !first {
			sb.WriteByte(' ')
		}
		sb.WriteString(it.Tag.String())
		switch it.Type {
		case ttlv.TypeStructure:
			sb.WriteByte('{')
			renderSeq(t, sb, it.Children())
			sb.WriteByte('}')
		case ttlv.TypeTextString:
			fmt.Fprintf(sb, "=%q", it.Data)
		case ttlv.TypeEnumeration:
			fmt.Fprintf(sb, "=e:%d", it.Uint32())
		case ttlv.TypeInteger:
			fmt.Fprintf(sb, "=i:%d", it.Int32())
		case ttlv.TypeLongInteger:
			fmt.Fprintf(sb, "=l:%d", it.Int64())
		case ttlv.TypeBoolean:
			fmt.Fprintf(sb, "=b:%v", it.Bool())
		case ttlv.TypeDateTime:
			fmt.Fprintf(sb, "=t:%d", it.Int64())
		case ttlv.TypeInterval:
			fmt.Fprintf(sb, "=iv:%d", it.Uint32())
		case ttlv.TypeByteString:
			fmt.Fprintf(sb, "=x:%x", it.Data)
		default:
			fmt.Fprintf(sb, "=%s:%x", it.Type, it.Data)
		}
	}
}

// unhex decodes hex written with blanks and newlines for readability.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatalf("bad hex: %v", err)
	}
	return b
}

// reasonOf returns the Result Reason of a *kmip.Error, failing otherwise.
func reasonOf(t testing.TB, err error) kmip.ResultReason {
	t.Helper()
	var ke *kmip.Error
	if !errors.As(err, &ke) {
		t.Fatalf("error %v (%T) is not a *kmip.Error", err, err)
	}
	return ke.Reason
}
