package store

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// The store's logic (tx.go) is written once against these small interfaces;
// each engine implements them: bbolt (below) and etcd (etcd*.go).

// kvTx is one engine transaction.
type kvTx interface {
	// bucket returns top-level bucket i (see bucketNames).
	bucket(i int) kvBucket
	writable() bool
	// clear empties bucket i and restarts its sequence.
	clear(i int) error
	// onCommit runs f once the transaction has committed.
	onCommit(f func())
}

// kvBucket is one top-level bucket: sorted byte keys with byte values. A
// value returned by Get or a cursor is valid only inside the transaction and
// must not be modified.
type kvBucket interface {
	Get(k []byte) []byte
	Put(k, v []byte) error
	Delete(k []byte) error
	Cursor() kvCursor
	NextSequence() (uint64, error)
	Sequence() uint64
	SetSequence(v uint64) error
	ForEach(fn func(k, v []byte) error) error
	// descend calls fn with every key starting with prefix, in descending
	// key order, until fn returns false.
	descend(prefix []byte, fn func(k, v []byte) bool) error
	// keyN returns the number of keys (Check).
	keyN() (int, error)
}

// kvCursor walks a bucket forwards; a nil key means past the end. On etcd
// keys come in storage order, which differs from key order in buckets seq
// and index (etcd_kv.go), and Seek takes a key prefix: use it to visit keys
// with a prefix, in no particular order. descend is the ordered walk.
type kvCursor interface {
	First() (k, v []byte)
	Seek(seek []byte) (k, v []byte)
	Next() (k, v []byte)
}

// boltTx adapts a bbolt transaction. Both adapters are one pointer wide, so
// turning them into interfaces allocates nothing.
type boltTx struct{ btx *bolt.Tx }

type boltBucket struct{ *bolt.Bucket }

func (t boltTx) bucket(i int) kvBucket {
	b := t.btx.Bucket(bucketNames[i])
	if b == nil {
		return nil
	}
	if i == bSeq || i == bIndex {
		b.FillPercent = appendFill
	}
	return boltBucket{b}
}

func (t boltTx) writable() bool { return t.btx.Writable() }

func (t boltTx) onCommit(f func()) { t.btx.OnCommit(f) }

func (t boltTx) clear(i int) error {
	if err := t.btx.DeleteBucket(bucketNames[i]); err != nil {
		return err
	}
	_, err := t.btx.CreateBucket(bucketNames[i])
	return err
}

func (b boltBucket) Cursor() kvCursor { return b.Bucket.Cursor() }

func (b boltBucket) keyN() (int, error) { return b.Bucket.Stats().KeyN, nil }

func (b boltBucket) descend(prefix []byte, fn func(k, v []byte) bool) error {
	c := b.Bucket.Cursor()
	var k, v []byte
	if end := successor(prefix); end == nil {
		k, v = c.Last()
	} else if k, v = c.Seek(end); k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	for ; k != nil && bytes.HasPrefix(k, prefix); k, v = c.Prev() {
		if !fn(k, v) {
			break
		}
	}
	return nil
}

// successor returns the smallest key greater than every key starting with
// prefix, or nil if there is none (prefix empty or all 0xff).
func successor(prefix []byte) []byte {
	for i := len(prefix) - 1; i >= 0; i-- {
		if prefix[i] != 0xff {
			s := bytes.Clone(prefix[:i+1])
			s[i]++
			return s
		}
	}
	return nil
}
