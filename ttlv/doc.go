// Package ttlv is KMIP's Tag-Type-Length-Value encoding (KMIP 2.0 §9.1):
// a read cursor over encoded bytes that copies nothing (Value, in the style
// of cryptobyte.String),
// a Builder that appends items to a reused buffer, message framing
// (frame.go), the tag and enumeration tables (generated ztags.go and
// zenums.go, with the versions each name exists in), and the XML and JSON
// forms of the OASIS test-case files (xml*.go, json.go, textconv.go).
package ttlv
