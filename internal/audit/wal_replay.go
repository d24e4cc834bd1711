package audit

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// replay is what Open did with the lines a previous run left in the ring.
type replay struct {
	lines   int    // appended to the trail
	present int    // already in it (written before the crash, not yet released)
	note    string // for the open checkpoint, when some could not be replayed
}

// replayWAL appends to the trail f (size bytes, its last line last, nil
// when empty) the lines the ring at walPath holds that continue its chain,
// and fsyncs f. Lines that do not continue it (the ring of another trail,
// or damaged) are not appended: they are kept in a file of their own,
// which the note names. It returns the trail's new last line and size.
func replayWAL(walPath string, f *os.File, size int64, last *lastInfo, key []byte) (*lastInfo, int64, replay, error) {
	var rp replay
	left, err := readWAL(walPath)
	if err != nil || len(left) == 0 {
		return last, size, rp, err
	}
	var seq uint64
	var hash [32]byte
	if last != nil {
		seq, hash = last.seq, last.hash
	}
	lines, torn := walLines(left)
	var out []byte
	rest := len(left) // bytes from the first line not replayed
	used := 0
	var why string
	// Lines up to the file's last one were written before the crash (the
	// ring was not told): they are the file's only if the ring holds that
	// last line too.
	fileSeq, fileHash := seq, hash
	matched := false
	for _, line := range lines {
		l, prev, err := parseLine(line, key)
		switch {
		case err != nil:
			why = fmt.Sprintf("a line is not intact (%v)", err)
		case l.seq <= fileSeq:
			if l.seq == fileSeq {
				if l.hash != fileHash {
					why = fmt.Sprintf("its seq %d is not the trail's", l.seq)
					break
				}
				matched = true
			}
			rp.present++
		case rp.present > 0 && !matched:
			why = fmt.Sprintf("its lines up to seq %d are not the trail's", fileSeq)
		case l.seq != seq+1 || prev != hash:
			why = fmt.Sprintf("seq %d does not continue the trail's chain at seq %d", l.seq, seq)
		default:
			out = append(append(out, line...), '\n')
			seq, hash = l.seq, l.hash
			ll := l
			last = &ll
			rp.lines++
		}
		if why != "" {
			rest = used
			break
		}
		used += len(line) + 1
	}
	if why == "" && rp.present > 0 && !matched {
		rest, why = 0, fmt.Sprintf("its lines up to seq %d are not the trail's", fileSeq)
		rp.present = 0
	}
	if why == "" && torn > 0 {
		rest, why = used, "its last line is incomplete"
	}
	if len(out) > 0 {
		n, err := f.Write(out)
		if err != nil {
			if n > 0 {
				_ = f.Truncate(size)
			}
			return nil, 0, rp, fmt.Errorf("replay %s: %w", walPath, err)
		}
		size += int64(n)
	}
	if err := f.Sync(); err != nil {
		return nil, 0, rp, fmt.Errorf("replay %s: fsync: %w", walPath, err)
	}
	if why != "" {
		keep := fmt.Sprintf("%s.unreplayed-%s", walPath, time.Now().UTC().Format("20060102T150405.000000000Z"))
		if err := os.WriteFile(keep, left[rest:], 0o600); err != nil {
			return nil, 0, rp, fmt.Errorf("keep what %s could not replay: %w", walPath, err)
		}
		syncFile(keep)
		syncDir(filepath.Dir(keep))
		rp.note = fmt.Sprintf("%d bytes of the write-ahead ring were not replayed (%s): kept in %s", len(left)-rest, why, keep)
	}
	return last, size, rp, nil
}

func syncFile(path string) {
	if f, err := os.Open(path); err == nil {
		_ = f.Sync()
		f.Close()
	}
}
