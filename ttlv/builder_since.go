package ttlv

// Since returns the bytes appended since mark, an offset taken with Len.
// Unlike Bytes it works while structures are open, so that a layer wrapping
// a handler can read the complete items the handler appended (for example
// the children of a Response Payload). The result aliases the Builder's
// buffer and is valid only until the next write; it is nil after an error
// or when mark is out of range.
func (b *Builder) Since(mark int) []byte {
	if b.err != nil || mark < 0 || mark > len(b.buf) {
		return nil
	}
	return b.buf[mark:len(b.buf):len(b.buf)]
}
