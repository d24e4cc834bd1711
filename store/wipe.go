package store

// Wipe empties the store: every object, index entry and metadata value
// (Reset keeps the metadata), leaving the format and its history. It serves
// restoring a snapshot into a store that must hold nothing (Copy).
func (tx *Tx) Wipe() error {
	if err := tx.Reset(); err != nil {
		return err
	}
	tx.bk[bMeta] = nil
	return tx.kv.clear(bMeta)
}

// HasMeta reports whether the store holds any metadata value (SetMeta).
func (tx *Tx) HasMeta() bool {
	if tx.live() != nil {
		return false
	}
	k, _ := tx.meta().Cursor().First()
	return k != nil
}
