package store

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	bolt "go.etcd.io/bbolt"
)

// Forget asks that every copy of secret in the store file be overwritten
// with zeros once this transaction has committed. The caller removes secret
// from the records in the same transaction (Destroy erasing sealed key
// material): bbolt writes copy-on-write, so without this the old pages, and
// the pages of every earlier version of the record, keep the bytes until
// they happen to be reused.
//
// secret should be long and random (a sealed blob is): every occurrence in
// the file is zeroed, wherever it is. Forget copies secret.
func (tx *Tx) Forget(secret []byte) error {
	if err := tx.writable(); err != nil {
		return err
	}
	if len(secret) < minForget {
		return fmt.Errorf("%w: a forgotten value must be at least %d bytes", ErrInvalid, minForget)
	}
	tx.forgotten = append(tx.forgotten, bytes.Clone(secret))
	return nil
}

// minForget keeps Forget from zeroing short, common byte strings.
const minForget = 32

// scrub zeroes the forgotten values in the file. It first commits twice
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

// zeroAll overwrites every occurrence of every secret in f.
func zeroAll(f *os.File, secrets [][]byte) error {
	longest := 0
	for _, s := range secrets {
		longest = max(longest, len(s))
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
		for _, s := range secrets {
			for from := 0; ; {
				i := bytes.Index(data[from:], s)
				if i < 0 {
					break
				}
				at := off + int64(from+i)
				if _, err := f.WriteAt(make([]byte, len(s)), at); err != nil {
					return err
				}
				clear(data[from+i : from+i+len(s)])
				from += i + len(s)
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
