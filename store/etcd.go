package store

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	mrand "math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Defaults of EtcdOptions.
const (
	DefaultEtcdPrefix         = "kmipd/"
	DefaultEtcdDialTimeout    = 5 * time.Second
	DefaultEtcdRequestTimeout = 2 * time.Second
	DefaultEtcdMaxRetries     = 16
	DefaultEtcdGroupMax       = 8
	DefaultEtcdMaxTxnOps      = 128       // etcd's --max-txn-ops
	DefaultEtcdMaxTxnBytes    = 1_000_000 // below etcd's --max-request-bytes (1.5 MiB) and the client's 2 MiB
	DefaultEtcdPageSize       = 64        // keys per range read of a walk
	DefaultEtcdChunk          = 100       // keys deleted per etcd transaction by Reset
	DefaultEtcdMarkerTTL      = 10 * DefaultEtcdRequestTimeout
)

// EtcdOptions configures OpenEtcd. Zero fields take the defaults above.
type EtcdOptions struct {
	Endpoints []string    // client URLs of the etcd members
	TLS       *tls.Config // client TLS (CA, certificate, key), nil for plain HTTP
	// Prefix starts every key of this store, so that several deployments
	// can share one etcd; default DefaultEtcdPrefix.
	Prefix      string
	DialTimeout time.Duration // default 5 s
	// RequestTimeout bounds each etcd request; default 2 s (an etcd leader
	// failover stalls writes for 1.5 to 2.5 s).
	RequestTimeout time.Duration
	// MaxRetries bounds how often an Update function runs again after
	// another writer committed first; then ErrConflict. Default 16.
	MaxRetries int
	// GroupMax is the most functions UpdateGrouped commits in one etcd
	// transaction; default 8.
	GroupMax int
	// MaxTxnOps and MaxTxnBytes are the largest commit sent, in operations
	// and bytes: keep them at or below the servers' --max-txn-ops (128)
	// and --max-request-bytes (1.5 MiB). A bigger commit fails with an
	// error naming the limit.
	MaxTxnOps   int
	MaxTxnBytes int
	PageSize    int // keys per range read; default 64
	Chunk       int // keys deleted per etcd transaction by Reset; default 100
	// MarkerTTL is how long the commit marker that resolves an ambiguous
	// commit outcome is kept (at least 3 × RequestTimeout); default 20 s.
	MarkerTTL time.Duration
	// AllowOlder opens a keyspace of an older format, as Options.AllowOlder.
	AllowOlder bool
	Node       string // this node's name, for messages
}

func (o *EtcdOptions) setDefaults() error {
	if len(o.Endpoints) == 0 {
		return fmt.Errorf("%w: no etcd endpoints", ErrInvalid)
	}
	if o.Prefix == "" {
		o.Prefix = DefaultEtcdPrefix
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	defInt := func(d *int, v int) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.DialTimeout, DefaultEtcdDialTimeout)
	def(&o.RequestTimeout, DefaultEtcdRequestTimeout)
	def(&o.MarkerTTL, 10*o.RequestTimeout)
	o.MarkerTTL = max(o.MarkerTTL, 3*o.RequestTimeout)
	defInt(&o.MaxRetries, DefaultEtcdMaxRetries)
	defInt(&o.GroupMax, DefaultEtcdGroupMax)
	defInt(&o.MaxTxnOps, DefaultEtcdMaxTxnOps)
	defInt(&o.MaxTxnBytes, DefaultEtcdMaxTxnBytes)
	defInt(&o.PageSize, DefaultEtcdPageSize)
	defInt(&o.Chunk, DefaultEtcdChunk)
	o.Chunk = min(o.Chunk, o.MaxTxnOps-2)
	if o.Chunk < 1 {
		return fmt.Errorf("%w: MaxTxnOps %d leaves no room for a commit", ErrInvalid, o.MaxTxnOps)
	}
	return nil
}

// etcdEngine is the etcd engine behind a DB opened with OpenEtcd.
type etcdEngine struct {
	cli      *clientv3.Client
	opts     EtcdOptions
	prefix   string
	clockKey string
	ctx      context.Context // ends at Close
	cancel   context.CancelFunc
	wg       sync.WaitGroup

	lmu       sync.Mutex // guards the marker lease
	lease     clientv3.LeaseID
	leaseTime time.Time

	cmu        sync.Mutex // guards compaction (compactNow)
	compacting *coalesced
	compactQ   *coalesced

	watch watchState // etcd_watch.go
	wlock writerLock // etcd_lock.go
	// compactPending: a dropped secret's compaction failed after its commit
	// (etcd_secret.go); settle and probe try again.
	compactPending atomic.Bool

	// Outcomes of commits that errored (resolve), for tests and metrics.
	resolvedApplied, resolvedNot atomic.Int64
}

// errTooBig marks a commit etcd refused or would refuse as too large.
var errTooBig = errors.New("store: transaction too large for etcd")

// errRetry marks a commit that did not happen and may be run again.
var errRetry = errors.New("store: etcd commit not applied")

// OpenEtcd opens the store kept in etcd under o.Prefix, creating its
// keyspace if needed (with a create-if-absent transaction, so nodes opening
// it at once agree). A keyspace of another format is refused as Open
// refuses such a file. ctx bounds the opening only.
func OpenEtcd(ctx context.Context, o EtcdOptions) (*DB, error) {
	if err := o.setDefaults(); err != nil {
		return nil, err
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   o.Endpoints,
		TLS:         o.TLS,
		DialTimeout: o.DialTimeout,
		Logger:      zap.NewNop(),
	})
	if err != nil {
		return nil, fmt.Errorf("store: etcd %v: %w", o.Endpoints, err)
	}
	e := &etcdEngine{cli: cli, opts: o, prefix: o.Prefix, clockKey: o.Prefix + "sys/clock"}
	e.wlock.turn = make(chan struct{}, 1)
	e.ctx, e.cancel = context.WithCancel(context.Background())
	db := &DB{etcd: e, path: "etcd:" + strings.Join(o.Endpoints, ",") + "/" + o.Prefix}
	var format uint32
	err = e.write(ctx, func(kv kvTx) error {
		sys := kv.bucket(bSys)
		v := sys.Get(keySchema)
		if err := kv.(*etcdTx).err; err != nil {
			return err
		}
		if v == nil {
			if err := initSys(sys); err != nil {
				return err
			}
			v = sys.Get(keySchema)
		}
		format, err = checkFormat(v, o.AllowOlder)
		return err
	})
	if err != nil {
		e.cancel()
		cli.Close()
		return nil, fmt.Errorf("%w (etcd %s)", err, db.path)
	}
	db.format.Store(int32(format))
	if err := e.startWatch(ctx, db); err != nil {
		e.cancel()
		cli.Close()
		return nil, err
	}
	return db, nil
}

func (e *etcdEngine) close() error {
	e.wlock.close()
	e.cancel()
	e.wg.Wait()
	return e.cli.Close()
}

// reqCtx bounds one etcd request.
func (e *etcdEngine) reqCtx(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, e.opts.RequestTimeout)
}

// begin takes a snapshot: a linearizable read of the clock key gives the
// current revision and the clock's ModRevision, which the commit compares.
// The same read-only Txn fetches the object count and the sequence, which
// every create needs, saving two round trips.
func (e *etcdEngine) begin(ctx context.Context, write bool) (*etcdTx, error) {
	if e.ctx.Err() != nil {
		return nil, ErrClosed
	}
	t := &etcdTx{e: e, ctx: ctx, write: write}
	sys, seq := t.bucket(bSys).e, t.bucket(bSeq).e
	countKey := sys.prefix + string(keyCount)
	var resp *clientv3.TxnResponse
	var err error
	// A read is safe to repeat: ride out a leader election (1.5 to 2.5 s).
	for deadline := time.Now().Add(2 * e.opts.RequestTimeout); ; {
		rctx, cancel := e.reqCtx(ctx)
		resp, err = e.cli.Txn(rctx).Then(clientv3.OpGet(e.clockKey), clientv3.OpGet(countKey), clientv3.OpGet(seq.seqKey())).Commit()
		cancel()
		if err == nil || ctx.Err() != nil || !transient(err) || time.Now().After(deadline) {
			break
		}
		time.Sleep(e.opts.RequestTimeout / 20)
	}
	if err != nil {
		return nil, fmt.Errorf("store: etcd %v: %w", e.opts.Endpoints, err)
	}
	t.rev = resp.Header.Revision
	first := func(i int) []byte {
		if r := resp.Responses[i].GetResponseRange(); r != nil && len(r.Kvs) > 0 {
			if t.clockMod == 0 && i == 0 {
				t.clockMod = r.Kvs[0].ModRevision
			}
			if r.Kvs[0].Value == nil {
				return []byte{}
			}
			return r.Kvs[0].Value
		}
		return nil
	}
	first(0)
	sys.reads = map[string][]byte{string(keyCount): first(1)}
	if v := first(2); v != nil {
		n, err := strconv.ParseUint(string(v), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%w: sequence of bucket seq: %v", ErrCorrupt, err)
		}
		seq.seq = n
	}
	seq.seqRead = true
	return t, nil
}

func (e *etcdEngine) read(ctx context.Context, body func(kvTx) error) error {
	t, err := e.begin(ctx, false)
	if err != nil {
		return err
	}
	err = body(t)
	if t.err != nil {
		return t.err
	}
	return err
}

// write runs body on a snapshot and commits its writes in one etcd Txn
// that applies only if no one committed since the snapshot; otherwise it
// runs body again on a new snapshot, at most MaxRetries times.
func (e *etcdEngine) write(ctx context.Context, body func(kvTx) error) error {
	var unlock func()
	defer func() {
		if unlock != nil {
			unlock()
		}
	}()
	for attempt := 1; ; attempt++ {
		if attempt >= 2 && unlock == nil {
			// Lost a race: retry in turn with the other losers (etcd_lock.go).
			var err error
			if unlock, err = e.lockWriters(ctx); err != nil {
				return err
			}
		}
		t, err := e.begin(ctx, true)
		if err != nil {
			return err
		}
		err = body(t)
		switch {
		case t.err != nil && errors.Is(t.err, ErrConflict):
			err = fmt.Errorf("%w: %w", errRetry, t.err) // snapshot compacted: run again
		case t.err != nil:
			return t.err
		case err != nil:
			return err
		default:
			err = e.commit(ctx, t)
		}
		if err == nil {
			for _, f := range t.commits {
				f()
			}
			return nil
		}
		if !errors.Is(err, errRetry) {
			return err
		}
		// Holding the writers' lock, a writer races only the first
		// attempts of others, each of which commits something: allow it
		// more tries before giving up.
		if limit := e.opts.MaxRetries; attempt > limit && (unlock == nil || attempt > 4*limit) {
			return fmt.Errorf("%w: gave up after %d attempts: %w", ErrConflict, attempt, err)
		}
		// Holding the writers' lock, retry at once: the lock already
		// spaces the losers out.
		backoff := time.Duration(0)
		if unlock == nil {
			backoff = time.Duration(mrand.Int64N(int64(min(time.Millisecond<<attempt, 100*time.Millisecond)) + 1))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-e.ctx.Done():
			return ErrClosed
		case <-time.After(backoff):
		}
	}
}

// commit sends t's writes: If(clock unchanged) Then(writes, clock, marker).
func (e *etcdEngine) commit(ctx context.Context, t *etcdTx) error {
	for _, b := range t.b {
		if b != nil && b.cleared {
			if err := e.clearChunks(ctx, b); err != nil {
				return err
			}
		}
	}
	ops := t.ops()
	if len(ops) == 0 {
		return nil // read only
	}
	txid, err := newTxID()
	if err != nil {
		return err
	}
	lease, err := e.markerLease(ctx)
	if err != nil {
		return err
	}
	marker := e.prefix + "commits/" + txid
	ops = append(ops, clientv3.OpPut(e.clockKey, txid), clientv3.OpPut(marker, e.opts.Node, clientv3.WithLease(lease)))
	if len(ops) > e.opts.MaxTxnOps {
		return fmt.Errorf("%w: %d operations, more than MaxTxnOps %d (etcd --max-txn-ops)", errTooBig, len(ops), e.opts.MaxTxnOps)
	}
	size := 0
	for _, op := range ops {
		size += len(op.KeyBytes()) + len(op.ValueBytes()) + 8
	}
	if size > e.opts.MaxTxnBytes {
		return fmt.Errorf("%w: %d bytes, more than MaxTxnBytes %d (etcd --max-request-bytes)", errTooBig, size, e.opts.MaxTxnBytes)
	}
	rctx, cancel := e.reqCtx(ctx)
	resp, err := e.cli.Txn(rctx).If(clientv3.Compare(clientv3.ModRevision(e.clockKey), "=", t.clockMod)).Then(ops...).Commit()
	cancel()
	switch {
	case err == nil && !resp.Succeeded:
		return fmt.Errorf("%w: another writer committed first", errRetry)
	case err == nil:
		e.committed(resp.Header.Revision, t)
		return nil
	case errors.Is(err, rpctypes.ErrTooManyOps), errors.Is(err, rpctypes.ErrRequestTooLarge),
		status.Code(err) == codes.ResourceExhausted:
		return fmt.Errorf("%w: %d operations, %d bytes: %w", errTooBig, len(ops), size, err)
	case errors.Is(err, rpctypes.ErrLeaseNotFound):
		e.lmu.Lock()
		e.lease = 0
		e.lmu.Unlock()
		return fmt.Errorf("%w: %w", errRetry, err)
	case errors.Is(err, rpctypes.ErrDuplicateKey):
		return fmt.Errorf("store: etcd commit: %w", err)
	}
	// The request may have been applied (etcd guide §5): find out.
	rev, ok, rerr := e.resolve(t.clockMod, marker)
	if ok {
		e.resolvedApplied.Add(1)
	} else if rerr == nil {
		e.resolvedNot.Add(1)
	}
	if rerr != nil {
		return fmt.Errorf("%w: %w (then: %w)", ErrCommitUnknown, err, rerr)
	}
	if ok {
		e.committed(rev, t)
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("store: etcd commit not applied: %w", err)
	}
	return fmt.Errorf("%w: %w", errRetry, err)
}

// resolve decides the outcome of a commit that returned an error. If the
// clock is still at seen, the commit has not applied: moving the clock
// makes sure it never will. Otherwise it applied if and only if its marker
// exists. It retries for 3 × RequestTimeout.
func (e *etcdEngine) resolve(seen int64, marker string) (rev int64, committed bool, err error) {
	deadline := time.Now().Add(3 * e.opts.RequestTimeout)
	for {
		rctx, cancel := e.reqCtx(e.ctx)
		resp, terr := e.cli.Txn(rctx).
			If(clientv3.Compare(clientv3.ModRevision(e.clockKey), "=", seen)).
			Then(clientv3.OpPut(e.clockKey, "fence")).
			Else(clientv3.OpGet(marker)).Commit()
		cancel()
		if terr == nil {
			if resp.Succeeded {
				return 0, false, nil
			}
			r := resp.Responses[0].GetResponseRange()
			if r != nil && len(r.Kvs) > 0 {
				return r.Kvs[0].ModRevision, true, nil
			}
			return 0, false, nil
		}
		err = terr
		if time.Now().After(deadline) || e.ctx.Err() != nil {
			return 0, false, err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// markerLease returns a lease for commit markers, granting a new one when
// the current one has run a quarter of its time, so that a marker lives at
// least three quarters of MarkerTTL.
func (e *etcdEngine) markerLease(ctx context.Context) (clientv3.LeaseID, error) {
	e.lmu.Lock()
	defer e.lmu.Unlock()
	if e.lease != 0 && time.Since(e.leaseTime) < e.opts.MarkerTTL/4 {
		return e.lease, nil
	}
	rctx, cancel := e.reqCtx(ctx)
	defer cancel()
	start := time.Now()
	g, err := e.cli.Grant(rctx, int64((e.opts.MarkerTTL+time.Second-1)/time.Second))
	if err != nil {
		return 0, fmt.Errorf("store: etcd lease for commit markers: %w", err)
	}
	e.lease, e.leaseTime = g.ID, start
	return g.ID, nil
}

// transient reports whether err is etcd failing over or unreachable for a
// moment, rather than refusing the request.
func transient(err error) bool {
	switch {
	case errors.Is(err, rpctypes.ErrLeaderChanged), errors.Is(err, rpctypes.ErrNoLeader),
		errors.Is(err, rpctypes.ErrTimeout), errors.Is(err, rpctypes.ErrTimeoutDueToLeaderFail),
		errors.Is(err, rpctypes.ErrTimeoutDueToConnectionLost), errors.Is(err, context.DeadlineExceeded):
		return true
	}
	return status.Code(err) == codes.Unavailable
}

func newTxID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", err
	}
	return hex.EncodeToString(b[:]), nil
}

// clearChunks deletes every key of a bucket being reset, Chunk keys per
// etcd transaction (one DeleteRange over a large store stalls etcd for
// seconds). The deletes are not guarded by the clock: a Reset wipes
// whatever is there, and the transaction's own commit still is.
func (e *etcdEngine) clearChunks(ctx context.Context, b *etcdBucket) error {
	end := clientv3.GetPrefixRangeEnd(b.prefix)
	for {
		rctx, cancel := e.reqCtx(ctx)
		resp, err := e.cli.Get(rctx, b.prefix, clientv3.WithRange(end), clientv3.WithKeysOnly(), clientv3.WithLimit(int64(e.opts.Chunk)))
		cancel()
		if err != nil {
			return fmt.Errorf("store: etcd reset of %s: %w", bucketNames[b.i], err)
		}
		if len(resp.Kvs) == 0 {
			return nil
		}
		ops := make([]clientv3.Op, len(resp.Kvs))
		for i, kv := range resp.Kvs {
			ops[i] = clientv3.OpDelete(string(kv.Key))
		}
		rctx, cancel = e.reqCtx(ctx)
		_, err = e.cli.Txn(rctx).Then(ops...).Commit()
		cancel()
		if err != nil {
			return fmt.Errorf("store: etcd reset of %s: %w", bucketNames[b.i], err)
		}
	}
}

// coalesced is one run of a shared operation and its outcome.
type coalesced struct {
	done chan struct{}
	rev  int64 // etcd's current revision
	mod  int64 // the clock's ModRevision (Fence)
	err  error
}

// compactNow compacts etcd's history up to the current revision
// (physically), so that no revision of a forgotten value can be read back.
// Callers arriving while a compaction runs share the next one.
func (e *etcdEngine) compactNow() error {
	e.cmu.Lock()
	if e.compacting != nil {
		if e.compactQ == nil {
			e.compactQ = &coalesced{done: make(chan struct{})}
		}
		c := e.compactQ
		e.cmu.Unlock()
		<-c.done
		return c.err
	}
	first := &coalesced{done: make(chan struct{})}
	e.compacting = first
	e.cmu.Unlock()
	for c := first; c != nil; {
		c.err = e.compactOnce()
		close(c.done)
		e.cmu.Lock()
		c, e.compactQ = e.compactQ, nil
		e.compacting = c
		e.cmu.Unlock()
	}
	return first.err
}

func (e *etcdEngine) compactOnce() error {
	rctx, cancel := e.reqCtx(e.ctx)
	defer cancel()
	resp, err := e.cli.Get(rctx, e.clockKey)
	if err != nil {
		return fmt.Errorf("store: etcd compaction: %w", err)
	}
	cctx, cancel2 := context.WithTimeout(e.ctx, 5*e.opts.RequestTimeout)
	defer cancel2()
	_, err = e.cli.Compact(cctx, resp.Header.Revision, clientv3.WithCompactPhysical())
	if err != nil && !errors.Is(err, rpctypes.ErrCompacted) {
		return fmt.Errorf("store: etcd compaction to revision %d: %w", resp.Header.Revision, err)
	}
	return nil
}

// dbSize is the largest backend size among the endpoints that answer.
func (e *etcdEngine) dbSize() int64 {
	var n int64
	for _, ep := range e.opts.Endpoints {
		rctx, cancel := e.reqCtx(e.ctx)
		st, err := e.cli.Status(rctx, ep)
		cancel()
		if err == nil {
			n = max(n, st.DbSize)
		}
	}
	return n
}

// probe is Probe on etcd: a linearizable read must succeed within
// RequestTimeout (it fails without a quorum).
func (e *etcdEngine) probe(db *DB) error {
	rctx, cancel := e.reqCtx(e.ctx)
	_, err := e.cli.Get(rctx, e.clockKey)
	cancel()
	if err != nil {
		err = fmt.Errorf("etcd %s does not answer a linearizable read within %v: %w", strings.Join(e.opts.Endpoints, ","), e.opts.RequestTimeout, err)
		db.health.spaceErr.Store(&err)
		return db.Ready()
	}
	db.health.spaceErr.Store(nil)
	if e.compactPending.Load() && e.compactNow() == nil {
		e.compactPending.Store(false)
	}
	if db.health.commitErr.Load() != nil {
		// The last commit failed: see whether one goes through now.
		_ = db.Update(func(tx *Tx) error {
			return tx.SetMeta("health", []byte(time.Now().UTC().Format(time.RFC3339Nano)))
		})
	}
	return db.Ready()
}
