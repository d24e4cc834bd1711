package audit

import (
	"encoding/json"
	"errors"
	"os"
)

// lastLine returns the last complete line of f (without its newline), nil
// for an empty file, and the number of bytes after it that do not end in a
// newline.
func lastLine(f *os.File, size int64) (line []byte, torn int64, err error) {
	const chunk = 64 << 10
	const maxLine = 16 << 20
	var buf []byte // the bytes [pos, size)
	pos := size
	for {
		if lastNL := lastIndex(buf, len(buf)); lastNL >= 0 {
			torn = int64(len(buf) - lastNL - 1)
			if prevNL := lastIndex(buf, lastNL); prevNL >= 0 {
				return buf[prevNL+1 : lastNL], torn, nil
			} else if pos == 0 {
				return buf[:lastNL], torn, nil
			}
		} else if pos == 0 {
			return nil, size, nil
		}
		if size-pos > maxLine {
			return nil, 0, errors.New("last line longer than 16 MiB: not an audit trail")
		}
		n := int64(min(chunk, pos))
		pos -= n
		nb := make([]byte, int(n)+len(buf))
		if _, err := f.ReadAt(nb[:n], pos); err != nil {
			return nil, 0, err
		}
		copy(nb[n:], buf)
		buf = nb
	}
}

func lastIndex(b []byte, end int) int {
	for i := end - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return i
		}
	}
	return -1
}

type lastInfo struct {
	seq    uint64
	hash   [32]byte
	closed bool // a close checkpoint
}

// parseLast checks that the last line is intact by itself: its hash matches
// its content and prev_hash, and a checkpoint's signature holds.
func parseLast(line, key []byte) (lastInfo, error) {
	l, _, err := parseLine(line, key)
	return l, err
}

// parseLine is parseLast, also returning the line's prev_hash.
func parseLine(line, key []byte) (lastInfo, [32]byte, error) {
	var prev [32]byte
	p, err := splitLine(line)
	if err != nil {
		return lastInfo{}, prev, err
	}
	var r Record
	if err := json.Unmarshal(p.canonical, &r); err != nil {
		return lastInfo{}, prev, err
	}
	if !decodeHex(prev[:], []byte(r.PrevHash)) {
		return lastInfo{}, prev, errors.New("malformed prev_hash")
	}
	if chainHash(&prev, p.canonical) != p.hash {
		return lastInfo{}, prev, errors.New("hash does not match the record")
	}
	if r.Kind == KindCheckpoint {
		if !p.hasMAC || checkpointMAC(key, &p.hash) != p.mac {
			return lastInfo{}, prev, errors.New("checkpoint signature does not verify (wrong key?)")
		}
	}
	return lastInfo{seq: r.Seq, hash: p.hash, closed: r.Kind == KindCheckpoint && r.Event == EventClose}, prev, nil
}
