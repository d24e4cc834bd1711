package rotation

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
)

// BlobVersions counts the stored blobs of backend by master-key version.
func BlobVersions(db *store.DB, backend string) (map[uint32]int, error) {
	counts := map[uint32]int{}
	err := db.View(func(tx *store.Tx) error {
		return scanBlobHeaders(tx, func(_ string, h hsm.Header) {
			if OwnsKind(backend, h.Kind) {
				counts[h.KeyVersion]++
			}
		})
	})
	return counts, err
}

// scanBlobHeaders calls fn with the identifier and blob header of every
// stored object that has key material.
func scanBlobHeaders(tx *store.Tx, fn func(id string, h hsm.Header)) error {
	var derr error
	err := tx.Scan(func(r *store.Record) bool {
		var o *objects.Object
		if o, derr = objectOf(r); derr != nil {
			return false
		}
		if o.Blob == nil {
			return true
		}
		h, err := hsm.BlobKind(o.Blob)
		if err != nil {
			derr = fmt.Errorf("object %q: %w", r.ID, err)
			return false
		}
		fn(r.ID, h)
		return true
	})
	if err != nil {
		return err
	}
	return derr
}

// Rewrap replaces the blob of every object whose blob header need
// selects by convert's result, and returns how many it replaced.
//
// It works in batches so that it can run beside readers and writers: a
// read-only transaction lists the objects to do, convert (the HSM work)
// runs outside any transaction, and a short write transaction stores a
// batch of results, skipping any object changed in the meantime (the next
// pass takes it up). Blobs are replaced one by one and every state in
// between is readable, so an interruption loses nothing; calling it again
// resumes.
func Rewrap(ctx context.Context, db *store.DB, need func(hsm.Header) bool,
	convert func(context.Context, *objects.Object) ([]byte, error), batch int, progress func(done, total int)) (int, error) {
	if batch <= 0 {
		batch = DefaultBatch
	}
	done, total := 0, -1
	for {
		var todo []string
		err := db.View(func(tx *store.Tx) error {
			return scanBlobHeaders(tx, func(id string, h hsm.Header) {
				if need(h) {
					todo = append(todo, id)
				}
			})
		})
		if err != nil {
			return done, err
		}
		if total < 0 {
			total = len(todo)
			progress(0, total)
		}
		if len(todo) == 0 {
			return done, nil
		}
		before := done
		for len(todo) > 0 {
			n := min(batch, len(todo))
			k, err := rewrapBatch(ctx, db, todo[:n], need, convert)
			done += k
			progress(min(done, total), total)
			if err != nil {
				return done, err
			}
			todo = todo[n:]
		}
		if done == before {
			return done, errors.New("objects keep changing under the re-wrap; try again")
		}
	}
}

// rewrapBatch converts the blobs of ids and stores those whose record did
// not change meanwhile.
func rewrapBatch(ctx context.Context, db *store.DB, ids []string, need func(hsm.Header) bool,
	convert func(context.Context, *objects.Object) ([]byte, error)) (int, error) {
	type item struct {
		rec          *store.Record
		data, secret []byte
	}
	var recs []*store.Record
	err := db.View(func(tx *store.Tx) error {
		for _, id := range ids {
			r, err := tx.Get(id)
			if errors.Is(err, store.ErrNotFound) {
				continue // destroyed meanwhile
			}
			if err != nil {
				return err
			}
			recs = append(recs, r)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var items []item
	for _, r := range recs {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		o, err := objectOf(r)
		if err != nil {
			return 0, err
		}
		if o.Blob == nil {
			continue
		}
		if h, err := hsm.BlobKind(o.Blob); err != nil || !need(h) {
			continue
		}
		blob, err := convert(ctx, o)
		if err != nil {
			return 0, fmt.Errorf("object %q: %w", r.ID, err)
		}
		// The new blob goes to Secret and Data loses any old embedded one
		// (store format 2), as lifecycle writes objects.
		o.Blob = nil
		data, err := o.MarshalBinary()
		if err != nil {
			return 0, fmt.Errorf("object %q: %w", r.ID, err)
		}
		items = append(items, item{r, data, blob})
	}
	n := 0
	err = db.Update(func(tx *store.Tx) error {
		n = 0
		for _, it := range items {
			cur, err := tx.Get(it.rec.ID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if !bytes.Equal(cur.Data, it.rec.Data) || !bytes.Equal(cur.Secret, it.rec.Secret) || cur.Owner != it.rec.Owner {
				continue // changed meanwhile: the next pass takes it up
			}
			if err := tx.Put(&store.Record{ID: cur.ID, Owner: cur.Owner, Data: it.data, Secret: it.secret, Index: cur.Index}); err != nil {
				return fmt.Errorf("object %q: %w", cur.ID, err)
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// objectOf decodes a stored record with its key material, which is in
// Secret (or, in records of store format 2, in Data).
func objectOf(r *store.Record) (*objects.Object, error) {
	o := new(objects.Object)
	if err := o.UnmarshalBinary(r.Data); err != nil {
		return nil, fmt.Errorf("object %q: %w", r.ID, err)
	}
	if r.Secret != nil {
		o.Blob = r.Secret
	}
	return o, nil
}

// countBehind counts the blobs under master-key versions other than cur.
func countBehind(versions map[uint32]int, cur uint32) int {
	n := 0
	for v, c := range versions {
		if v != cur {
			n += c
		}
	}
	return n
}
