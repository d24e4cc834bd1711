package rotation

import (
	"context"
	"fmt"
	"io"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
)

// DefaultBatch is the number of objects per write transaction when a batch
// size is not given.
const DefaultBatch = 256

// RotateOptions are the settings and callbacks of [Rotate].
type RotateOptions struct {
	Out      io.Writer             // progress messages, one per line
	Progress func(done, total int) // blobs re-wrapped so far
	KeepOld  bool                  // keep old master-key versions on the token
	Batch    int                   // objects per write transaction (0: DefaultBatch)

	// SaveKeyVersion records master-key version v as the current one in
	// the configuration, once it exists in the backend and before any blob
	// is re-wrapped under it.
	SaveKeyVersion func(v uint32) error

	// Forget, if set, drops the objects a serving kmipd has cached (their
	// blobs are the old ones) before an old version is retired.
	Forget func()
}

// Rotate creates a new master-key version of be (or resumes the rotation
// to the current one while blobs are still under older versions), re-wraps
// every blob of db under it, and retires the versions nothing refers to
// any more. It runs offline or inside a serving kmipd.
func Rotate(ctx context.Context, be hsm.Backend, db *store.DB, o RotateOptions) error {
	out, progress := o.Out, o.Progress
	rot, ok := be.(hsm.KeyRotator)
	if !ok {
		return fmt.Errorf("the %s backend has a single master key and cannot rotate it; kmipd hsm migrate --to pkcs11 moves the keys to an HSM, which can", be.Name())
	}
	name := be.Name()
	cur, _ := rot.KeyVersions()
	versions, err := BlobVersions(db, name)
	if err != nil {
		return err
	}
	if behind := countBehind(versions, cur); behind > 0 {
		fmt.Fprintf(out, "kmipd: resuming the rotation to master-key version %d: %d blobs to re-wrap\n", cur, behind)
	} else {
		next := cur + 1
		if err := rot.UseKeyVersion(ctx, next, true); err != nil {
			return err
		}
		if err := o.SaveKeyVersion(next); err != nil {
			return fmt.Errorf("master-key version %d is on the token, but the config was not updated: %w (run kmipd hsm rotate again)", next, err)
		}
		cur = next
		fmt.Fprintf(out, "kmipd: created master-key version %d and made it current\n", cur)
	}
	need := func(h hsm.Header) bool { return OwnsKind(name, h.Kind) && h.KeyVersion != cur }
	convert := func(ctx context.Context, obj *objects.Object) ([]byte, error) {
		return rot.Rewrap(ctx, obj.ID, obj.Blob)
	}
	n, err := Rewrap(ctx, db, need, convert, o.Batch, progress)
	if err != nil {
		return fmt.Errorf("rotation to master-key version %d interrupted after %d blobs: %w (every blob is still readable; run kmipd hsm rotate again to finish)", cur, n, err)
	}
	fmt.Fprintf(out, "kmipd: %d blobs re-wrapped under master-key version %d\n", n, cur)

	if versions, err = BlobVersions(db, name); err != nil {
		return err
	}
	if behind := countBehind(versions, cur); behind > 0 {
		return fmt.Errorf("%d blobs are still under older master-key versions; run kmipd hsm rotate again", behind)
	}
	if o.Forget != nil {
		o.Forget()
	}
	_, loaded := rot.KeyVersions()
	for _, v := range loaded {
		if v == cur {
			continue
		}
		if o.KeepOld {
			fmt.Fprintf(out, "kmipd: master-key version %d is no longer used; kept (--keep-old)\n", v)
			continue
		}
		if err := rot.RetireKeyVersion(ctx, v); err != nil {
			return err
		}
		fmt.Fprintf(out, "kmipd: retired master-key version %d (nothing refers to it)\n", v)
	}
	return nil
}

// Migrate moves every blob of db that the new backend of mb (named to)
// does not own to it, and returns how many it moved. Key material passes
// through memory once: opened by the backend that made it, sealed by the
// new one (as a key of the backend for symmetric keys, if it can). It
// fails if blobs of the old backend (named from) are left.
func Migrate(ctx context.Context, db *store.DB, mb *Migrating, from, to string, batch int, progress func(done, total int)) (int, error) {
	sealer, _ := mb.Backend.(hsm.KeySealer)
	need := func(h hsm.Header) bool { return !OwnsKind(to, h.Kind) }
	convert := func(ctx context.Context, obj *objects.Object) ([]byte, error) {
		pt, err := mb.Open(ctx, obj.ID, obj.Blob, nil)
		if err != nil {
			return nil, err
		}
		defer clear(pt)
		if sealer != nil && obj.Type == kmip.ObjectTypeSymmetricKey {
			return sealer.SealKey(ctx, obj.ID, pt)
		}
		return mb.Backend.Seal(ctx, obj.ID, pt)
	}
	n, err := Rewrap(ctx, db, need, convert, batch, progress)
	if err != nil {
		return n, fmt.Errorf("migration interrupted after %d blobs: %w (kmipd serve reads both backends meanwhile; run kmipd hsm migrate --to %s again to finish)", n, err, to)
	}
	versions, err := BlobVersions(db, from)
	if err != nil {
		return n, err
	}
	if left := countBehind(versions, 0); left > 0 {
		return n, fmt.Errorf("%d blobs of the %s backend are left; run kmipd hsm migrate --to %s again", left, from, to)
	}
	return n, nil
}
