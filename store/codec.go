package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
)

// entryPrefix encodes (kind, value) as a key prefix that no other pair's
// encoding starts with: uvarint length, kind, a tag byte, uvarint length,
// value. Values longer than maxInlineValue are replaced by their SHA-256
// digest (tag 1) to keep keys short.
func entryPrefix(kind string, value []byte) []byte {
	tag := byte(0)
	if len(value) > maxInlineValue {
		sum := sha256.Sum256(value)
		value, tag = sum[:], 1
	}
	b := make([]byte, 0, 2*binary.MaxVarintLen16+len(kind)+1+len(value))
	b = binary.AppendUvarint(b, uint64(len(kind)))
	b = append(b, kind...)
	b = append(b, tag)
	b = binary.AppendUvarint(b, uint64(len(value)))
	return append(b, value...)
}

// indexKey returns prefix ‖ big-endian seq in a new slice.
func indexKey(prefix []byte, seq uint64) []byte {
	k := make([]byte, len(prefix)+8)
	copy(k, prefix)
	binary.BigEndian.PutUint64(k[len(prefix):], seq)
	return k
}

// encodeRecord lays a record out as: format byte (recFormat), seq (8
// bytes), uvarint length and owner, uvarint entry count, per entry {flags
// byte, uvarint length and kind, uvarint length and value}, uvarint length
// and the sealed secret (what the secret keeper stores for Record.Secret),
// then the data to the end. Format 1 (store format 2 and older) has no
// sealed secret.
func encodeRecord(seq uint64, r *Record, sealed []byte) []byte {
	n := 1 + 8 + 3*binary.MaxVarintLen64 + len(r.Owner) + len(sealed) + len(r.Data)
	for _, e := range r.Index {
		n += 1 + 2*binary.MaxVarintLen64 + len(e.Kind) + len(e.Value)
	}
	b := make([]byte, 0, n)
	b = append(b, recFormat)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.AppendUvarint(b, uint64(len(r.Owner)))
	b = append(b, r.Owner...)
	b = binary.AppendUvarint(b, uint64(len(r.Index)))
	for _, e := range r.Index {
		flags := byte(0)
		if e.Unique {
			flags = 1
		}
		b = append(b, flags)
		b = binary.AppendUvarint(b, uint64(len(e.Kind)))
		b = append(b, e.Kind...)
		b = binary.AppendUvarint(b, uint64(len(e.Value)))
		b = append(b, e.Value...)
	}
	b = binary.AppendUvarint(b, uint64(len(sealed)))
	b = append(b, sealed...)
	return append(b, r.Data...)
}

// decoder reads the fields of an encoded record, remembering the first
// out-of-bounds read.
type decoder struct {
	b   []byte
	bad bool
}

func (d *decoder) next(n uint64) []byte {
	if d.bad || n > uint64(len(d.b)) {
		d.bad = true
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.bad = true
		return 0
	}
	d.b = d.b[n:]
	return v
}

// decodeRecord decodes raw into a Record that shares no memory with raw.
// Data is copied only if withData; the sealed secret always is.
func decodeRecord(id string, raw []byte, withData bool) (*Record, error) {
	if len(raw) < 9 || raw[0] != recFormat && raw[0] != recFormatV1 {
		return nil, fmt.Errorf("%w: object %q: unknown record format", ErrCorrupt, id)
	}
	d := decoder{b: raw[9:]}
	r := &Record{ID: id, Seq: binary.BigEndian.Uint64(raw[1:9])}
	r.Owner = string(d.next(d.uvarint()))
	if n := d.uvarint(); n > uint64(len(d.b))/3 {
		d.bad = true
	} else if n > 0 {
		r.Index = make([]IndexEntry, n)
		for i := range r.Index {
			flags := d.next(1)
			kind := d.next(d.uvarint())
			val := d.next(d.uvarint())
			if d.bad {
				break
			}
			r.Index[i] = IndexEntry{Kind: string(kind), Value: bytes.Clone(val), Unique: flags[0]&1 != 0}
		}
	}
	if raw[0] == recFormat {
		if s := d.next(d.uvarint()); len(s) > 0 {
			r.sealed = bytes.Clone(s)
		}
	}
	if d.bad {
		return nil, fmt.Errorf("%w: object %q: truncated record", ErrCorrupt, id)
	}
	if withData {
		r.Data = bytes.Clone(d.b)
	}
	return r, nil
}
