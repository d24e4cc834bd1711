package ttlv

import (
	"errors"
	"strconv"
)

// Errors returned when TTLV bytes are malformed. A *Error wraps one of them
// together with the offset and tag of the offending item; test with errors.Is.
var (
	// ErrTruncated is returned when an item's header or value runs past the
	// end of the input.
	ErrTruncated = errors.New("ttlv: truncated item")
	// ErrTrailingData is returned when bytes follow the single item of a message.
	ErrTrailingData = errors.New("ttlv: trailing data after message")
	// ErrBadTag is returned for a tag outside 0x42xxxx and 0x54xxxx.
	ErrBadTag = errors.New("ttlv: tag out of range")
	// ErrBadType is returned for an unknown item type byte.
	ErrBadType = errors.New("ttlv: unknown item type")
	// ErrBadLength is returned when a fixed-size type has the wrong length,
	// or a Structure or Big Integer length is not a multiple of 8.
	ErrBadLength = errors.New("ttlv: wrong length for item type")
	// ErrBadBoolean is returned for a Boolean other than 0 or 1.
	ErrBadBoolean = errors.New("ttlv: boolean value not 0 or 1")
	// ErrBadPadding is returned when padding bytes are missing or not zero.
	ErrBadPadding = errors.New("ttlv: non-zero padding")
	// ErrBadUTF8 is returned for a Text String that is not valid UTF-8
	// (KMIP 2.0 §10.1.1.3).
	ErrBadUTF8 = errors.New("ttlv: text string is not valid UTF-8")
	// ErrLengthMismatch is returned when a structure's length differs from
	// the sum of its children's padded lengths.
	ErrLengthMismatch = errors.New("ttlv: structure length does not match its children")
	// ErrTooDeep is returned when structures nest deeper than allowed.
	ErrTooDeep = errors.New("ttlv: nesting too deep")
	// ErrTooLarge is returned by the frame reader when a message declares
	// a length over the configured maximum, and by the Builder when its
	// output would exceed its size cap (KMIP Maximum Response Size).
	ErrTooLarge = errors.New("ttlv: message too large")
	// ErrNotStructure is returned by the frame reader when a message is not a
	// Structure.
	ErrNotStructure = errors.New("ttlv: message is not a structure")
	// ErrUnexpected is returned when an item's tag or type is not the one the
	// decoder expected.
	ErrUnexpected = errors.New("ttlv: unexpected item")
	// ErrBuilder is returned by the Builder for misuse: unbalanced Begin/End
	// or nesting beyond MaxBuilderDepth.
	ErrBuilder = errors.New("ttlv: unbalanced structure in builder")
)

// KMIP Result Reason values (KMIP 2.0 §11.45) that decoding errors map onto.
// They are numbers here so that ttlv depends on nothing KMIP-specific.
const (
	ReasonResponseTooLarge = 0x02
	ReasonInvalidMessage   = 0x04
	ReasonInvalidField     = 0x07
	ReasonCodecError       = 0x26 // KMIP 2.x only
)

// Error describes malformed TTLV: where, in which item, and what.
type Error struct {
	Offset int   // byte offset of the item's header from the start of the input
	Tag    Tag   // tag of the item, 0 when the header itself was unreadable
	Err    error // one of the Err* sentinels
}

func (e *Error) Error() string {
	s := e.Err.Error() + " at offset " + strconv.Itoa(e.Offset)
	if e.Tag != 0 {
		s += " (tag " + e.Tag.String() + ")"
	}
	return s
}

// Unwrap returns the sentinel.
func (e *Error) Unwrap() error { return e.Err }

// ResultReason maps the error onto a KMIP Result Reason: a response that
// would be too large is Response Too Large; anything else means the request
// could not be parsed, which KMIP calls Invalid Message (KMIP 2.0 §9.1).
func (e *Error) ResultReason() uint32 {
	if errors.Is(e.Err, ErrTooLarge) {
		return ReasonResponseTooLarge
	}
	return ReasonInvalidMessage
}

func errAt(off int, tag Tag, err error) error {
	return &Error{Offset: off, Tag: tag, Err: err}
}
