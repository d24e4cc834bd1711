package store

import (
	"bytes"

	bolt "go.etcd.io/bbolt"
)

// The store's logic (tx.go) is written once against these small types;
// each engine implements them: bbolt (below) and etcd (etcd_kv.go).

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

// kvBucket is one top-level bucket of either engine: sorted byte keys with
// byte values. A value returned by Get or a cursor is valid only inside the
// transaction and must not be modified. It is a struct dispatching on the
// engine rather than an interface so that, on bbolt, arguments do not
// escape (Get's key stays on the stack) and calls can be inlined.
type kvBucket struct {
	b *bolt.Bucket
	e *etcdBucket
}

func (k kvBucket) ok() bool { return k.b != nil || k.e != nil }

func (k kvBucket) Get(key []byte) []byte {
	if k.b != nil {
		return k.b.Get(key)
	}
	return k.e.Get(key)
}

func (k kvBucket) Put(key, v []byte) error {
	if k.b != nil {
		return k.b.Put(key, v)
	}
	return k.e.Put(key, v)
}

func (k kvBucket) Delete(key []byte) error {
	if k.b != nil {
		return k.b.Delete(key)
	}
	return k.e.Delete(key)
}

func (k kvBucket) Cursor() kvCursor {
	if k.b != nil {
		return kvCursor{b: k.b.Cursor()}
	}
	return kvCursor{e: &etcdCursor{b: k.e}}
}

func (k kvBucket) NextSequence() (uint64, error) {
	if k.b != nil {
		return k.b.NextSequence()
	}
	return k.e.NextSequence()
}

func (k kvBucket) Sequence() uint64 {
	if k.b != nil {
		return k.b.Sequence()
	}
	return k.e.Sequence()
}

func (k kvBucket) SetSequence(v uint64) error {
	if k.b != nil {
		return k.b.SetSequence(v)
	}
	return k.e.SetSequence(v)
}

func (k kvBucket) ForEach(fn func(k, v []byte) error) error {
	if k.b != nil {
		return k.b.ForEach(fn)
	}
	return k.e.ForEach(fn)
}

// descend calls fn with every key starting with prefix, in descending key
// order, until fn returns false.
func (k kvBucket) descend(prefix []byte, fn func(k, v []byte) bool) error {
	if k.e != nil {
		return k.e.descend(prefix, fn)
	}
	c := k.b.Cursor()
	var key, v []byte
	if end := successor(prefix); end == nil {
		key, v = c.Last()
	} else if key, _ = c.Seek(end); key == nil {
		key, v = c.Last()
	} else {
		key, v = c.Prev()
	}
	for ; key != nil && bytes.HasPrefix(key, prefix); key, v = c.Prev() {
		if !fn(key, v) {
			break
		}
	}
	return nil
}

// keyN returns the number of keys (Check).
func (k kvBucket) keyN() (int, error) {
	if k.b != nil {
		return k.b.Stats().KeyN, nil
	}
	return k.e.keyN()
}

// kvCursor walks a bucket forwards; a nil key means past the end. On etcd
// keys come in storage order, which differs from key order in buckets seq
// and index (etcd_kv.go), and Seek takes a key prefix: use it to visit keys
// with a prefix, in no particular order. descend is the ordered walk.
type kvCursor struct {
	b *bolt.Cursor
	e *etcdCursor
}

func (c kvCursor) First() (k, v []byte) {
	if c.b != nil {
		return c.b.First()
	}
	return c.e.First()
}

func (c kvCursor) Seek(seek []byte) (k, v []byte) {
	if c.b != nil {
		return c.b.Seek(seek)
	}
	return c.e.Seek(seek)
}

func (c kvCursor) Next() (k, v []byte) {
	if c.b != nil {
		return c.b.Next()
	}
	return c.e.Next()
}

// boltTx adapts a bbolt transaction; it is one pointer wide, so turning it
// into a kvTx allocates nothing.
type boltTx struct{ btx *bolt.Tx }

func (t boltTx) bucket(i int) kvBucket {
	b := t.btx.Bucket(bucketNames[i])
	if b == nil {
		return kvBucket{}
	}
	if i == bSeq || i == bIndex {
		b.FillPercent = appendFill
	}
	return kvBucket{b: b}
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
