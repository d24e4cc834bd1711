package store

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
)

// minForget keeps scrub from zeroing short, common byte strings.
const minForget = 32

// scrub zeroes every copy of secrets in the file: bbolt writes
// copy-on-write, so the pages of earlier versions of a record keep its
// bytes until they happen to be reused. Only DB.MoveSecrets uses it, to
// erase the key material that format 2 kept in Data; since format 3,
// erasing a secret is the key slot's job (slots.go) and costs the same
// whatever the size of the file. It first commits twice
// more, so that neither meta page still points at a tree holding them, and
// then, holding both bbolt's writer lock (no page can be reused meanwhile)
// and db.readers exclusively (no read transaction can be looking at an old
// page), overwrites every occurrence and syncs the file.
//
// Concurrent scrubs are coalesced: callers arriving while a pass runs are
// served together by the next one, so a burst of Destroys costs a few
// passes over the file, not one each.
func (db *DB) scrub(secrets [][]byte) error {
	c := &scrubCall{secrets: secrets, done: make(chan struct{})}
	db.smu.Lock()
	db.scrubQ = append(db.scrubQ, c)
	if db.scrubbing {
		db.smu.Unlock()
		<-c.done
		return c.err
	}
	db.scrubbing = true
	for len(db.scrubQ) > 0 {
		batch := db.scrubQ
		db.scrubQ = nil
		db.smu.Unlock()
		var all [][]byte
		for _, b := range batch {
			all = append(all, b.secrets...)
		}
		err := db.scrubNow(all)
		for _, b := range batch {
			b.err = err
			close(b.done)
		}
		db.smu.Lock()
	}
	db.scrubbing = false
	db.smu.Unlock()
	return c.err
}

type scrubCall struct {
	secrets [][]byte
	err     error
	done    chan struct{}
}

func (db *DB) scrubNow(secrets [][]byte) error {
	for i := 0; i < 2; i++ {
		if err := db.bolt.Update(func(*bolt.Tx) error { return nil }); err != nil {
			return fmt.Errorf("store: scrub: %w", err)
		}
	}
	db.readers.Lock()
	defer db.readers.Unlock()
	return db.bolt.Update(func(btx *bolt.Tx) error {
		f, err := os.OpenFile(db.path, os.O_RDWR, 0)
		if err != nil {
			return fmt.Errorf("store: scrub: %w", err)
		}
		defer f.Close()
		if err := zeroAll(f, secrets); err != nil {
			return fmt.Errorf("store: scrub: %w", err)
		}
		return f.Sync()
	})
}

// zeroAll overwrites every occurrence of every secret in f, in one pass
// however many secrets there are: each secret is found by its last 8
// bytes (random in sealed material), pre-filtered through a bit set.
func zeroAll(f *os.File, secrets [][]byte) error {
	const filterBits = 1 << 24
	longest := 0
	bySuffix := make(map[uint64][][]byte, len(secrets))
	filter := make([]uint64, filterBits/64)
	for _, s := range secrets {
		if len(s) < 8 {
			continue
		}
		longest = max(longest, len(s))
		key := binary.LittleEndian.Uint64(s[len(s)-8:])
		bySuffix[key] = append(bySuffix[key], s)
		h := key % filterBits
		filter[h/64] |= 1 << (h % 64)
	}
	if longest == 0 {
		return nil
	}
	const chunk = 1 << 20
	buf := make([]byte, chunk+longest)
	var off int64
	for {
		n, err := f.ReadAt(buf, off)
		if n == 0 {
			if err == nil || errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		data := buf[:n]
		for q := 0; q+8 <= len(data); q++ {
			key := binary.LittleEndian.Uint64(data[q:])
			if h := key % filterBits; filter[h/64]&(1<<(h%64)) == 0 {
				continue
			}
			for _, s := range bySuffix[key] {
				at := q + 8 - len(s)
				if at < 0 || !bytes.Equal(data[at:q+8], s) {
					continue
				}
				if _, err := f.WriteAt(make([]byte, len(s)), off+int64(at)); err != nil {
					return err
				}
				clear(data[at : q+8])
				break
			}
		}
		if errors.Is(err, io.EOF) || n < len(buf) {
			return nil
		}
		// Step back by the longest secret so one straddling two chunks is
		// found in the next.
		off += int64(n - longest)
	}
}
