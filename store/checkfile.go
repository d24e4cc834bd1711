package store

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
)

// CheckFile opens the store file at path and runs the full consistency
// check ([DB.Check]), returning its statistics. It opens the file for
// writing (Open records the schema), so callers give it a copy (see
// [VerifySnapshot]). A file that is not a store (empty, not bbolt, no "sys"
// bucket) is refused before Open could turn it into a new, empty store. A
// corrupt file can make bbolt fault or panic: both become errors wrapping
// ErrCorrupt.
func CheckFile(path string) (st Stats, err error) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		debug.SetPanicOnFault(true)
		defer func() {
			if p := recover(); p != nil {
				err = fmt.Errorf("%w: %v", ErrCorrupt, p)
			}
		}()
		if fi, serr := os.Stat(path); serr != nil || fi.Size() < 1024 {
			err = errors.New("not a store file: empty or too small")
			return
		}
		var bdb *bolt.DB
		bdb, err = bolt.Open(path, 0o600, &bolt.Options{ReadOnly: true, Timeout: time.Second})
		if err != nil {
			err = fmt.Errorf("not a bbolt file: %w", err)
			return
		}
		err = bdb.View(func(tx *bolt.Tx) error {
			if tx.Bucket(bucketNames[bSys]) == nil {
				return errors.New("not a kmipd store")
			}
			return nil
		})
		bdb.Close()
		if err != nil {
			return
		}
		var db *DB
		db, err = Open(path, &Options{Timeout: -1, AllowOlder: true})
		if err != nil {
			return
		}
		defer db.Close()
		if err = db.Check(); err == nil {
			st = db.Stats()
		}
	}()
	<-done
	return st, err
}

// VerifySnapshot runs [CheckFile] on a store file and key file extracted
// from the backup at path ([ExtractSnapshot], in a directory beside it),
// leaving the file itself untouched: every secret must open with the keys
// the backup carries.
func VerifySnapshot(path string) (Stats, error) {
	tmp, err := os.MkdirTemp(filepath.Dir(path), ".kmipd-verify-")
	if err != nil {
		return Stats{}, err
	}
	defer os.RemoveAll(tmp)
	cp := filepath.Join(tmp, "snapshot.db")
	if err := ExtractSnapshot(path, cp, nil); err != nil {
		return Stats{}, err
	}
	return CheckFile(cp)
}

// CopyFile copies a store file src to a new file dst (0600) and fsyncs
// it, writing what it copies to progress too when that is not nil; dst is
// removed on failure. Backup checks and restore use it.
func CopyFile(src, dst string, progress io.Writer) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	return copyN(in, dst, progress)
}
