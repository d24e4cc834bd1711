package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/internal/audit"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/ttlv"
)

// txRecorder is a Handler and Batcher that notes whether an item ran in a
// transaction of its own.
type txRecorder struct{ inTx bool }

func (r *txRecorder) ServeKMIP(*kmip.Call, *ttlv.Builder) error { return nil }

func (r *txRecorder) RunBatch(_ *kmip.Call, fn func() error) error {
	r.inTx = true
	return fn()
}

// Ensure that the fail-closed audit middleware serves outside a
// transaction exactly the operations lifecycle's operation table calls
// read-only with the options serve gives it; without them (the audit
// package's default) every operation runs in one.
func TestAudit_ReadOnlyIsTheOperationTable(t *testing.T) {
	cfg := defaultConfig()
	cfg.dir = t.TempDir()
	cfg.Audit.FailClosed = true
	wired, err := auditOptions(cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	if wired.ReadOnly == nil {
		t.Fatal("auditOptions leaves ReadOnly to the audit package's default")
	}
	dir := t.TempDir()
	def := audit.Options{Path: filepath.Join(dir, "audit.log"), KeyPath: filepath.Join(dir, "audit.key"), FailClosed: true, CheckpointPeriod: -1}
	ops := []kmip.Operation{0, 0x8000FFFF, lifecycle.OperationWhoAmI}
	for op := kmip.OperationCreate; op <= kmip.OperationPing; op++ {
		ops = append(ops, op)
	}
	for name, o := range map[string]audit.Options{"serve's options": wired, "the default": def} {
		tr, err := audit.Open(o)
		if err != nil {
			t.Fatal(err)
		}
		rec := &txRecorder{}
		h := audit.Wrap(rec, tr)
		for _, op := range ops {
			rec.inTx = false
			c := &kmip.Call{Item: &kmip.BatchItem{Operation: op}, Batch: &kmip.Batch{}, Version: kmip.V2_1, Now: time.Now()}
			if err := h.ServeKMIP(c, ttlv.NewBuilder(nil)); err != nil {
				t.Fatalf("%s: %s: %v", name, op, err)
			}
			want := !lifecycle.ReadOnly(op)
			if o.ReadOnly == nil {
				want = true
			}
			if rec.inTx != want {
				t.Errorf("%s: %s in a transaction = %v, want %v (lifecycle.ReadOnly = %v)", name, op, rec.inTx, want, !want)
			}
		}
		if err := tr.Close(); err != nil {
			t.Fatal(err)
		}
	}
}
