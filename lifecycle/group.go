package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/store"
)

// updateGrouped is update for operations whose transaction function may
// run more than once (store.DB.UpdateGrouped): it has no effect outside
// the transaction but the cache bookkeeping and work that may be redone
// (generating key material). Concurrent creates then share their fsync.
func (s *Service) updateGrouped(c *kmip.Call, fn func(tx *store.Tx) error) error {
	if tx, ok := batchTx(c); ok {
		return fn(tx)
	}
	if s.cfg.NoGroupCommit {
		return s.update(c, fn)
	}
	var txs []*store.Tx
	err := s.cfg.Store.UpdateGroupedContext(c.Context(), func(tx *store.Tx) error {
		txs = append(txs, tx)
		return fn(tx)
	})
	for _, tx := range txs {
		if e := s.invalidateWrites(tx); err == nil {
			s.notifyWrites(e)
		}
	}
	return err
}
