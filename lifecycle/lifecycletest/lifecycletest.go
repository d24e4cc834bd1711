// Package lifecycletest builds kmipd's real service for tests in any
// package: a bbolt file and a software key backend in a temporary
// directory, Interop enabled, "admin" as the admin identity.
package lifecycletest

import (
	"path/filepath"
	"testing"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/hsm/soft"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/store"
)

// Env is a service with the parts it runs on.
type Env struct {
	Service *lifecycle.Service
	Store   *store.DB
	Backend *soft.Backend
	Dir     string
}

// Options adjust New.
type Options struct {
	NoSync bool // skip fsync (benchmarks)
	Admins []string
	// Configure, if set, adjusts the service's configuration.
	Configure func(*lifecycle.Config)
}

// New builds the service; everything is closed when the test ends.
func New(tb testing.TB, o *Options) *Env {
	tb.Helper()
	if o == nil {
		o = &Options{}
	}
	admins := o.Admins
	if admins == nil {
		admins = []string{"admin"}
	}
	dir := tb.TempDir()
	mk := filepath.Join(dir, "master.key")
	if err := soft.CreateMasterKey(mk); err != nil {
		tb.Fatal(err)
	}
	be, err := soft.Open(mk)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { be.Close() })
	db, err := store.Open(filepath.Join(dir, "kmipd.db"), &store.Options{NoSync: o.NoSync})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	cfg := lifecycle.Config{Store: db, Backend: be, Admins: admins, Interop: true, Logger: zerolog.Nop()}
	if o.Configure != nil {
		o.Configure(&cfg)
	}
	svc := lifecycle.NewService(cfg)
	return &Env{Service: svc, Store: db, Backend: be, Dir: dir}
}
