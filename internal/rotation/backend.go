package rotation

import (
	"context"
	"errors"

	"github.com/kmipd/kmipd/hsm"
)

// Backend names, as hsm.Backend.Name returns them.
const (
	Software = "software"
	PKCS11   = "pkcs11"
)

// OwnsKind reports whether the backend named backend writes blobs of kind k.
func OwnsKind(backend string, k hsm.Kind) bool {
	switch backend {
	case Software:
		return k == hsm.KindSoftware
	case PKCS11:
		return k == hsm.KindPKCS11 || k == hsm.KindPKCS11Wrap
	}
	return false
}

// Migrating is the key backend while a migration is unfinished: it seals
// with the new backend and opens each blob with the backend that made it.
type Migrating struct {
	hsm.Backend             // the new backend
	Old         hsm.Backend // the backend migrated from
}

// Open opens blob with the old backend if that one made it, else with the
// new one.
func (m *Migrating) Open(ctx context.Context, id string, blob, dst []byte) ([]byte, error) {
	if h, err := hsm.BlobKind(blob); err == nil && !OwnsKind(m.Backend.Name(), h.Kind) && OwnsKind(m.Old.Name(), h.Kind) {
		return m.Old.Open(ctx, id, blob, dst)
	}
	return m.Backend.Open(ctx, id, blob, dst)
}

// Health reports the health of both backends that implement it.
func (m *Migrating) Health(ctx context.Context) error {
	var errs []error
	for _, b := range []hsm.Backend{m.Backend, m.Old} {
		if hc, ok := b.(hsm.HealthChecker); ok {
			errs = append(errs, hc.Health(ctx))
		}
	}
	return errors.Join(errs...)
}

// Close closes both backends.
func (m *Migrating) Close() error { return errors.Join(m.Backend.Close(), m.Old.Close()) }
