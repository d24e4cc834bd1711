package store

import (
	"crypto/subtle"
	"fmt"
)

// Record.Secret is kept apart from Data so that erasing it costs the same
// whatever the size of the store: each engine protects it with a
// secretKeeper, which stores in the record only a reference that is useless
// once the keeper has erased what it refers to (cryptographic erase).
//
// The store calls the keeper inside the write transaction (seal, release),
// just before the commit (prepare), and after it (settle) or after a
// rollback (abort). A transaction remembers what it sealed and released so
// that the outcome can be applied to exactly those.
type secretKeeper interface {
	// seal protects secret of object id and returns what the record keeps
	// instead. What it reserves stays reserved until settle or abort.
	seal(tx *Tx, id string, secret []byte) (stored []byte, err error)
	// open returns the secret of object id behind stored.
	open(id string, stored []byte) ([]byte, error)
	// release notes that tx drops stored from its record (replaced or
	// deleted): it is to be erased once tx has committed.
	release(tx *Tx, stored []byte) error
	// prepare makes what the transaction sealed and released durable
	// enough for a crash after the commit to be recoverable; it runs just
	// before the commit.
	prepare() error
	// settle runs once the transaction has committed: it erases what was
	// released, durably, before Update returns.
	settle(sealed, released [][]byte) error
	// abort runs after a rollback: it frees what was sealed and keeps what
	// was released.
	abort(sealed, released [][]byte)
}

// sealFor returns what the record of r.ID keeps for r.Secret given the
// stored reference of the previous version (nil for none), sealing anew
// only if the secret changed, and releasing the previous one if it goes.
func (tx *Tx) sealFor(r *Record, prev []byte) ([]byte, error) {
	k := tx.keeper
	if prev != nil && r.Secret != nil {
		if old, err := k.open(r.ID, prev); err == nil && subtle.ConstantTimeCompare(old, r.Secret) == 1 {
			clear(old)
			return prev, nil
		}
	}
	var stored []byte
	if r.Secret != nil {
		var err error
		if stored, err = k.seal(tx, r.ID, r.Secret); err != nil {
			return nil, fmt.Errorf("store: object %q: seal secret: %w", r.ID, err)
		}
		tx.sealed = append(tx.sealed, stored)
	}
	if prev != nil {
		if err := tx.releaseSecret(prev); err != nil {
			return nil, err
		}
	}
	return stored, nil
}

func (tx *Tx) releaseSecret(stored []byte) error {
	if err := tx.keeper.release(tx, stored); err != nil {
		return err
	}
	tx.released = append(tx.released, stored)
	return nil
}

// openSecret fills r.Secret from its stored reference.
func (tx *Tx) openSecret(r *Record) error {
	if r.sealed == nil {
		return nil
	}
	s, err := tx.keeper.open(r.ID, r.sealed)
	if err != nil {
		return fmt.Errorf("object %q: secret: %w", r.ID, err)
	}
	r.Secret = s
	return nil
}

// settleAll applies the outcome of a write transaction to the keeper:
// committed (err nil) or rolled back.
func settleAll(k secretKeeper, txs []*Tx, committed bool) error {
	var sealed, released [][]byte
	for _, tx := range txs {
		if tx != nil {
			sealed = append(sealed, tx.sealed...)
			released = append(released, tx.released...)
		}
	}
	if len(sealed) == 0 && len(released) == 0 {
		return nil
	}
	if !committed {
		k.abort(sealed, released)
		return nil
	}
	return k.settle(sealed, released)
}
