package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// An etcd transaction reads one snapshot, the store at revision rev, and
// keeps its writes in an overlay that its reads merge; the commit sends the
// overlay in one etcd Txn (etcd.go).
//
// Keys are <prefix><bucket>/<key>. Buckets seq and index hold their
// trailing big-endian sequence inverted (^seq), so that newest first, the
// order Lookup and ScanIDs need, is etcd's ascending order: etcd serves a
// descending range only by reading the whole range and sorting it. Bucket
// sequences are keys <prefix>sequence/<bucket> (decimal).
type etcdTx struct {
	e        *etcdEngine
	ctx      context.Context
	rev      int64 // snapshot revision
	clockMod int64 // ModRevision of the clock key at rev (0: absent)
	write    bool
	b        [nBuckets]*etcdBucket
	err      error // the first failed read: the transaction fails with it
	commits  []func()
	// hint holds the IDs of the last page a seq or index walk read: Scan,
	// and Locate after Lookup, read those objects next, so the first Get of
	// one reads them all in one round trip (at most PageSize).
	hint map[string]bool
}

type etcdBucket struct {
	tx      *etcdTx
	i       int
	prefix  string // <prefix><bucket>/
	cleared bool   // Reset: nothing below prefix at rev counts
	ov      map[string]ovVal
	reads   map[string][]byte // snapshot reads (nil: absent)
	pages   map[string]page   // first pages of walks, read ahead (prefetchPut)
	seq     uint64
	seqRead bool
	seqSet  bool // seq is to be written
}

// page is one range read: keys from a start key, and whether more follow.
type page struct {
	kvs  []*mvccpb.KeyValue
	more bool
}

type ovVal struct {
	v   []byte
	del bool
}

// storageKey turns a bucket key into its etcd form (see etcdTx): for seq
// and index the last 8 bytes are inverted. It is its own inverse.
func storageKey(i int, k []byte) []byte {
	if (i != bSeq && i != bIndex) || len(k) < 8 {
		return k
	}
	s := bytes.Clone(k)
	for j := len(s) - 8; j < len(s); j++ {
		s[j] = ^s[j]
	}
	return s
}

func (t *etcdTx) bucket(i int) kvBucket {
	if t.b[i] == nil {
		t.b[i] = &etcdBucket{tx: t, i: i, prefix: t.e.prefix + string(bucketNames[i]) + "/"}
	}
	return kvBucket{e: t.b[i]}
}

func (t *etcdTx) writable() bool    { return t.write }
func (t *etcdTx) onCommit(f func()) { t.commits = append(t.commits, f) }

func (t *etcdTx) clear(i int) error {
	b := t.bucket(i).e
	b.cleared, b.ov, b.reads = true, nil, nil
	b.seq, b.seqRead, b.seqSet = 0, true, true
	return nil
}

// fail records the first read error; reads then answer "absent".
func (t *etcdTx) fail(err error) {
	if t.err == nil {
		if errors.Is(err, rpctypes.ErrCompacted) {
			err = fmt.Errorf("%w: snapshot at revision %d was compacted: %w", ErrConflict, t.rev, err)
		}
		t.err = fmt.Errorf("store: etcd read: %w", err)
	}
}

// get reads at the snapshot revision: serializable, since a revision
// already committed reads the same on every member that has applied it; a
// member that has not yet is asked again linearizably.
func (t *etcdTx) get(key string, opts ...clientv3.OpOption) (*clientv3.GetResponse, error) {
	if t.err != nil {
		return nil, t.err
	}
	opts = append(opts, clientv3.WithRev(t.rev))
	ser := append(opts[:len(opts):len(opts)], clientv3.WithSerializable())
	var resp *clientv3.GetResponse
	var err error
	for deadline := time.Now().Add(2 * t.e.opts.RequestTimeout); ; {
		ctx, cancel := context.WithTimeout(t.ctx, t.e.opts.RequestTimeout)
		resp, err = t.e.cli.Get(ctx, key, ser...)
		if errors.Is(err, rpctypes.ErrFutureRev) {
			resp, err = t.e.cli.Get(ctx, key, opts...)
		}
		cancel()
		if err == nil || t.ctx.Err() != nil || !transient(err) || time.Now().After(deadline) {
			break
		}
		time.Sleep(t.e.opts.RequestTimeout / 20)
	}
	if err != nil {
		t.fail(err)
		return nil, t.err
	}
	return resp, nil
}

func (b *etcdBucket) Get(k []byte) []byte {
	sk := string(storageKey(b.i, k))
	if v, ok := b.ov[sk]; ok {
		if v.del {
			return nil
		}
		return v.v
	}
	if b.cleared {
		return nil
	}
	if v, ok := b.reads[sk]; ok {
		return v
	}
	if b.i == bObjects && b.tx.hint[sk] {
		b.tx.readHinted()
		if v, ok := b.reads[sk]; ok {
			return v
		}
	}
	resp, err := b.tx.get(b.prefix + sk)
	if err != nil {
		return nil
	}
	var v []byte
	if len(resp.Kvs) > 0 {
		v = resp.Kvs[0].Value
		if v == nil {
			v = []byte{}
		}
	}
	b.remember(sk, v)
	return v
}

func (b *etcdBucket) set(k []byte, v ovVal) error {
	if !b.tx.write {
		return ErrReadOnly
	}
	if b.ov == nil {
		b.ov = make(map[string]ovVal)
	}
	b.ov[string(storageKey(b.i, k))] = v
	return nil
}

func (b *etcdBucket) Put(k, v []byte) error { return b.set(k, ovVal{v: bytes.Clone(v)}) }
func (b *etcdBucket) Delete(k []byte) error { return b.set(k, ovVal{del: true}) }

func (b *etcdBucket) seqKey() string {
	return b.tx.e.prefix + "sequence/" + string(bucketNames[b.i])
}

func (b *etcdBucket) Sequence() uint64 {
	if !b.seqRead {
		resp, err := b.tx.get(b.seqKey())
		if err != nil {
			return 0
		}
		if len(resp.Kvs) > 0 {
			n, err := strconv.ParseUint(string(resp.Kvs[0].Value), 10, 64)
			if err != nil {
				b.tx.fail(fmt.Errorf("%w: sequence of bucket %s: %v", ErrCorrupt, bucketNames[b.i], err))
				return 0
			}
			b.seq = n
		}
		b.seqRead = true
	}
	return b.seq
}

func (b *etcdBucket) SetSequence(v uint64) error {
	if !b.tx.write {
		return ErrReadOnly
	}
	b.Sequence()
	b.seq, b.seqRead, b.seqSet = v, true, true
	return b.tx.err
}

func (b *etcdBucket) NextSequence() (uint64, error) {
	n := b.Sequence() + 1
	if err := b.tx.err; err != nil {
		return 0, err
	}
	return n, b.SetSequence(n)
}

func (b *etcdBucket) ForEach(fn func(k, v []byte) error) error {
	it := b.iter("")
	for k, v := it.next(); k != nil; k, v = it.next() {
		if err := fn(storageKey(b.i, k), v); err != nil {
			return err
		}
	}
	return b.tx.err
}

func (b *etcdBucket) descend(prefix []byte, fn func(k, v []byte) bool) error {
	it := b.iter(string(prefix))
	for k, v := it.next(); k != nil; k, v = it.next() {
		if !fn(storageKey(b.i, k), v) {
			break
		}
	}
	return b.tx.err
}

func (b *etcdBucket) keyN() (int, error) {
	if !b.cleared && len(b.ov) == 0 {
		resp, err := b.tx.get(b.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			return 0, err
		}
		return int(resp.Count), nil
	}
	n := 0
	err := b.ForEach(func(_, _ []byte) error { n++; return nil })
	return n, err
}

// etcdIter walks the keys of a bucket starting with a prefix in ascending
// storage order, merging the snapshot, read in pages, with the overlay.
type etcdIter struct {
	b         *etcdBucket
	from, end string // etcd keys: the next page starts at from; end is exclusive
	page      []*mvccpb.KeyValue
	more      bool // keys remain from `from` on
	ov        []string
	oi        int
}

// iter starts a walk over the keys of b starting with prefix (storage
// form; a prefix without the sequence part reads the same in both forms).
func (b *etcdBucket) iter(prefix string) *etcdIter {
	full := b.prefix + prefix
	it := &etcdIter{b: b, from: full, end: clientv3.GetPrefixRangeEnd(full), more: !b.cleared}
	for k, v := range b.ov {
		if !v.del && len(k) >= len(prefix) && k[:len(prefix)] == prefix {
			it.ov = append(it.ov, k)
		}
	}
	slices.Sort(it.ov)
	return it
}

// next returns the next key (storage form, relative to the bucket) and
// value, or nil at the end or after a failed read (see etcdTx.err).
func (it *etcdIter) next() (k, v []byte) {
	b := it.b
	var snap *mvccpb.KeyValue
	for {
		if len(it.page) == 0 {
			if !it.more || !it.fetch() {
				break
			}
			continue
		}
		kv := it.page[0]
		if _, shadowed := b.ov[string(kv.Key[len(b.prefix):])]; shadowed {
			it.page = it.page[1:]
			continue
		}
		snap = kv
		break
	}
	haveOv := it.oi < len(it.ov)
	if snap == nil && !haveOv {
		return nil, nil
	}
	if snap != nil && (!haveOv || string(snap.Key[len(b.prefix):]) < it.ov[it.oi]) {
		it.page = it.page[1:]
		val := snap.Value
		if val == nil {
			val = []byte{}
		}
		return snap.Key[len(b.prefix):], val
	}
	ovk := it.ov[it.oi]
	it.oi++
	return []byte(ovk), b.ov[ovk].v
}

// fetch reads the next page; false when the walk must stop.
func (it *etcdIter) fetch() bool {
	p, ok := it.b.pages[it.from+"\x00"+it.end]
	if !ok {
		resp, err := it.b.tx.get(it.from, clientv3.WithRange(it.end), clientv3.WithLimit(int64(it.b.tx.e.opts.PageSize)))
		if err != nil {
			it.more = false
			return false
		}
		p = page{resp.Kvs, resp.More}
	}
	it.page, it.more = p.kvs, p.more
	if t := it.b.tx; it.b.i == bSeq || it.b.i == bIndex {
		t.hint = make(map[string]bool, len(p.kvs))
		for _, kv := range p.kvs {
			t.hint[string(kv.Value)] = true
		}
	}
	if n := len(p.kvs); n > 0 {
		it.from = string(p.kvs[n-1].Key) + "\x00"
	} else {
		it.more = false
	}
	return len(it.page) > 0 || it.more
}

// etcdCursor is the cursor of an etcd bucket (see kvCursor).
type etcdCursor struct {
	b  *etcdBucket
	it *etcdIter
}

func (c *etcdCursor) First() ([]byte, []byte) { return c.Seek(nil) }

// Seek starts a walk over the keys starting with prefix (see kvCursor).
func (c *etcdCursor) Seek(prefix []byte) ([]byte, []byte) {
	c.it = c.b.iter(string(prefix))
	return c.Next()
}

func (c *etcdCursor) Next() ([]byte, []byte) {
	if c.it == nil {
		return nil, nil
	}
	k, v := c.it.next()
	if k == nil {
		return nil, nil
	}
	return storageKey(c.b.i, k), v
}

// ops returns the etcd operations that write the overlay, in key order.
func (t *etcdTx) ops() []clientv3.Op {
	var ops []clientv3.Op
	for _, b := range t.b {
		if b == nil {
			continue
		}
		keys := make([]string, 0, len(b.ov))
		for k := range b.ov {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if v := b.ov[k]; v.del {
				ops = append(ops, clientv3.OpDelete(b.prefix+k))
			} else {
				ops = append(ops, clientv3.OpPut(b.prefix+k, string(v.v)))
			}
		}
		if b.seqSet {
			ops = append(ops, clientv3.OpPut(b.seqKey(), strconv.FormatUint(b.seq, 10)))
		}
	}
	return ops
}

// changedObjects returns the IDs the overlay writes, and whether the
// objects bucket was cleared.
func (t *etcdTx) changedObjects() ([]string, bool) {
	b := t.b[bObjects]
	if b == nil {
		return nil, false
	}
	ids := make([]string, 0, len(b.ov))
	for k := range b.ov {
		ids = append(ids, k)
	}
	return ids, b.cleared
}

// prefetchPut reads, in one etcd transaction, what Put is about to read
// one by one: the object, the unique claim of each entry, and the index
// entries of each unique one (otherHolder's walk).
func (tx *Tx) prefetchPut(id []byte, ents []entry) {
	t, ok := tx.kv.(*etcdTx)
	if !ok || t.err != nil {
		return
	}
	type want struct {
		b     *etcdBucket
		sk    string
		walk  bool   // a walk's first page, not a key
		pageK string // its key in b.pages
	}
	var wants []want
	var ops []clientv3.Op
	add := func(i int, k []byte) {
		b := t.bucket(i).e
		sk := string(storageKey(i, k))
		if _, ok := b.ov[sk]; ok || b.cleared {
			return
		}
		if _, ok := b.reads[sk]; ok {
			return
		}
		wants = append(wants, want{b: b, sk: sk})
		ops = append(ops, clientv3.OpGet(b.prefix+sk, clientv3.WithRev(t.rev), clientv3.WithSerializable()))
	}
	add(bObjects, id)
	index := t.bucket(bIndex).e
	for _, e := range ents {
		if len(ops)+2 > t.e.opts.MaxTxnOps {
			break
		}
		add(bUnique, e.prefix)
		if e.unique && !index.cleared {
			from := index.prefix + string(e.prefix)
			end := clientv3.GetPrefixRangeEnd(from)
			wants = append(wants, want{b: index, walk: true, pageK: from + "\x00" + end})
			ops = append(ops, clientv3.OpGet(from, clientv3.WithRange(end), clientv3.WithLimit(int64(t.e.opts.PageSize)),
				clientv3.WithRev(t.rev), clientv3.WithSerializable()))
		}
	}
	if len(ops) < 2 {
		return // no round trip to save
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.e.opts.RequestTimeout)
	resp, err := t.e.cli.Txn(ctx).Then(ops...).Commit()
	cancel()
	if err != nil {
		return // the reads themselves will try, and report
	}
	for i, w := range wants {
		r := resp.Responses[i].GetResponseRange()
		if r == nil {
			continue
		}
		if w.walk {
			if w.b.pages == nil {
				w.b.pages = make(map[string]page)
			}
			w.b.pages[w.pageK] = page{r.Kvs, r.More}
			continue
		}
		var v []byte
		if len(r.Kvs) > 0 {
			if v = r.Kvs[0].Value; v == nil {
				v = []byte{}
			}
		}
		w.b.remember(w.sk, v)
	}
}

// readHinted reads the hinted objects not yet read in one etcd transaction
// at the snapshot revision; on failure the Gets read them one by one.
func (t *etcdTx) readHinted() {
	b := t.bucket(bObjects).e
	var keys []string
	var ops []clientv3.Op
	for id := range t.hint {
		if _, ok := b.ov[id]; ok {
			continue
		}
		if _, ok := b.reads[id]; ok || len(ops) >= t.e.opts.MaxTxnOps {
			continue
		}
		keys = append(keys, id)
		ops = append(ops, clientv3.OpGet(b.prefix+id, clientv3.WithRev(t.rev), clientv3.WithSerializable()))
	}
	t.hint = nil
	if len(ops) == 0 || t.err != nil {
		return
	}
	ctx, cancel := context.WithTimeout(t.ctx, t.e.opts.RequestTimeout)
	resp, err := t.e.cli.Txn(ctx).Then(ops...).Commit()
	cancel()
	if err != nil {
		return
	}
	for i, k := range keys {
		r := resp.Responses[i].GetResponseRange()
		if r == nil {
			continue
		}
		var v []byte
		if len(r.Kvs) > 0 {
			if v = r.Kvs[0].Value; v == nil {
				v = []byte{}
			}
		}
		b.remember(k, v)
	}
}

// readCacheMax bounds the snapshot reads a bucket keeps, in keys: a long
// Scan must not hold every object in memory. Reads at a fixed revision
// can be repeated, so forgetting them costs round trips only.
const readCacheMax = 1024

func (b *etcdBucket) remember(sk string, v []byte) {
	if b.reads == nil {
		b.reads = make(map[string][]byte)
	} else if len(b.reads) >= readCacheMax {
		clear(b.reads)
	}
	b.reads[sk] = v
}
