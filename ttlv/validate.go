package ttlv

import (
	"encoding/binary"
	"unicode/utf8"
)

// DefaultMaxDepth bounds structure nesting when the caller gives no limit.
// The deepest structures in the OASIS test vectors nest 9 levels (a key
// inside a wrapped key block inside a batch item); 32 leaves ample room.
const DefaultMaxDepth = 32

// Check validates msg as exactly one complete TTLV item and everything
// inside it: tags, type bytes, fixed lengths, Boolean values, zero padding,
// UTF-8 text, structure lengths equal to the sum of their children, and
// nesting no deeper than maxDepth (DefaultMaxDepth if maxDepth <= 0).
//
// After Check succeeds, the cursor methods of Value cannot fail for
// structural reasons, so each item is validated once. Check allocates only
// when it returns an error.
func Check(msg []byte, maxDepth int) error {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	if len(msg) < headerLen {
		return errAt(0, 0, ErrTruncated)
	}
	_, _, total, err := checkHeader(msg, 0)
	if err != nil {
		return err
	}
	if total > len(msg) {
		return errAt(0, Tag(readTag(msg)), ErrTruncated)
	}
	if total < len(msg) {
		return errAt(total, 0, ErrTrailingData)
	}
	return checkSeq(msg, 0, 0, maxDepth, false)
}

// CheckSeq validates a sequence of items, for example the children of a
// structure taken from elsewhere.
func CheckSeq(b []byte, maxDepth int) error {
	if maxDepth <= 0 {
		maxDepth = DefaultMaxDepth
	}
	return checkSeq(b, 0, 0, maxDepth, false)
}

const headerLen = 8

func readTag(b []byte) uint32 { return uint32(b[0])<<16 | uint32(b[1])<<8 | uint32(b[2]) }

// checkHeader validates the header at b[0:8] (b must hold 8 bytes) and
// returns the declared length and the padded total size of the item. base is
// b's offset in the whole input, for error reporting. The length comes from
// the peer, so the total is computed in 64 bits before any comparison.
func checkHeader(b []byte, base int) (Type, int, int, error) {
	tag := Tag(readTag(b))
	if !ValidTag(tag) {
		return 0, 0, 0, errAt(base, tag, ErrBadTag)
	}
	typ := Type(b[3])
	if !typ.Valid() {
		return 0, 0, 0, errAt(base, tag, ErrBadType)
	}
	n := binary.BigEndian.Uint32(b[4:8])
	switch typ {
	case TypeStructure, TypeBigInteger:
		if n%8 != 0 {
			return 0, 0, 0, errAt(base, tag, ErrBadLength)
		}
	case TypeTextString, TypeByteString:
	default:
		if int(n) != typ.fixedLen() {
			return 0, 0, 0, errAt(base, tag, ErrBadLength)
		}
	}
	padded := (uint64(n) + 7) &^ 7
	total := uint64(headerLen) + padded
	if total > uint64(maxInt) {
		return 0, 0, 0, errAt(base, tag, ErrTooLarge)
	}
	return typ, int(n), int(total), nil
}

const maxInt = int(^uint(0) >> 1)

func checkSeq(b []byte, base, depth, maxDepth int, inStruct bool) error {
	for off := 0; off < len(b); {
		if len(b)-off < headerLen {
			if inStruct {
				return errAt(base+off, 0, ErrLengthMismatch)
			}
			return errAt(base+off, 0, ErrTruncated)
		}
		typ, n, total, err := checkHeader(b[off:], base+off)
		if err != nil {
			return err
		}
		tag := Tag(readTag(b[off:]))
		if total > len(b)-off {
			if inStruct {
				return errAt(base+off, tag, ErrLengthMismatch)
			}
			return errAt(base+off, tag, ErrTruncated)
		}
		val := b[off+headerLen : off+headerLen+n]
		switch typ {
		case TypeStructure:
			if depth+1 > maxDepth {
				return errAt(base+off, tag, ErrTooDeep)
			}
			if err := checkSeq(val, base+off+headerLen, depth+1, maxDepth, true); err != nil {
				return err
			}
		case TypeBoolean:
			if binary.BigEndian.Uint64(val) > 1 {
				return errAt(base+off, tag, ErrBadBoolean)
			}
		case TypeTextString:
			if !utf8.Valid(val) {
				return errAt(base+off, tag, ErrBadUTF8)
			}
		}
		for _, p := range b[off+headerLen+n : off+total] {
			if p != 0 {
				return errAt(base+off, tag, ErrBadPadding)
			}
		}
		off += total
	}
	return nil
}
