package main

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/internal/scalebench"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/store"
)

// newDevCmd holds tools for measuring kmipd, hidden from help: they are
// not for production stores.
func newDevCmd() *cobra.Command {
	dev := &cobra.Command{Use: "dev", Short: "Tools for measuring kmipd (not for production stores)", Hidden: true}
	dev.AddCommand(newDevFillCmd())
	return dev
}

type fillOptions struct {
	dir, owner string
	count      int
	start      int
	batch      int
	objs       scalebench.Objects
}

// Limits of dev fill.
const (
	fillMaxCount = 100_000_000
	fillMaxBatch = 10_000
)

func newDevFillCmd() *cobra.Command {
	o := &fillOptions{objs: scalebench.Default}
	cmd := &cobra.Command{
		Use:   "fill --dir DIR --count N",
		Short: "Create N named AES keys in the store of DIR, as Create would, for scale benchmarks",
		Long: `Fill runs kmipd's own Create on the store of DIR, with the server stopped:
N 128-bit AES keys, key i named PREFIX-i with the custom attribute
x-ATTR = "g<i/GROUP>". Creates go in batches of --batch items, each batch
one store transaction (Batch Error Continuation Undo), written without
fsync and synced once at the end. The keys are owned by --owner (the
dev PKI's client certificate is "admin"). Nothing goes to the audit trail.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runFill(cmd, o) },
	}
	f := cmd.Flags()
	f.StringVar(&o.dir, "dir", "", "kmipd directory (from kmipd init)")
	f.IntVar(&o.count, "count", 0, "keys to create")
	f.IntVar(&o.start, "start", 0, "number of the first key (to add to a filled store)")
	f.IntVar(&o.batch, "batch", 1000, "Creates per store transaction")
	f.StringVar(&o.owner, "owner", "admin", "identity that owns the keys")
	f.StringVar(&o.objs.Prefix, "prefix", scalebench.DefaultPrefix, "name prefix")
	f.StringVar(&o.objs.Attr, "attr", scalebench.DefaultAttr, "custom attribute name, without x-")
	f.IntVar(&o.objs.GroupSize, "group", scalebench.DefaultGroupSize, "keys sharing one value of the custom attribute")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func runFill(cmd *cobra.Command, o *fillOptions) error {
	switch {
	case o.count < 1 || o.count > fillMaxCount:
		return fmt.Errorf("--count must be between 1 and %d", fillMaxCount)
	case o.start < 0 || o.start > fillMaxCount:
		return fmt.Errorf("--start must be between 0 and %d", fillMaxCount)
	case o.batch < 1 || o.batch > fillMaxBatch:
		return fmt.Errorf("--batch must be between 1 and %d", fillMaxBatch)
	case o.objs.GroupSize < 1:
		return errors.New("--group must be at least 1")
	}
	if err := kmip.ValidIdentityName(o.owner); err != nil {
		return fmt.Errorf("--owner: %w", err)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cfg, err := loadConfig(o.dir)
	if err != nil {
		return err
	}
	backend, err := openBackend(cfg)
	if err != nil {
		return err
	}
	defer backend.Close()
	path := cfg.storePath()
	if path == "" {
		return fmt.Errorf("dev fill writes a bbolt store file; the store is %s (fill a bbolt store, then kmipd store migrate)", cfg.Store)
	}
	db, err := store.Open(path, &store.Options{NoSync: true, Timeout: time.Second})
	if errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("store %s is in use: stop kmipd serve first (%w)", path, err)
	}
	if err != nil {
		return fmt.Errorf("store: %w", upgradeHint(err, cfg))
	}
	defer db.Close()
	names, _ := lifecycle.ParseNamePolicy(cfg.Names.Unique)
	svc := lifecycle.NewService(lifecycle.Config{Store: db, Backend: backend, Names: names, Admins: cfg.Admins,
		MaxAttributeSize: cfg.Limits.MaxAttributeSize, MaxAttributes: cfg.Limits.MaxAttributes, Logger: zerolog.Nop()})
	srv := &kmip.Server{Handler: svc, Logger: zerolog.Nop(), MaxBatchItems: o.batch}
	sess := srv.NewSession(kmip.Identity{Name: o.owner}, nil)
	out := cmd.ErrOrStderr()
	t0 := time.Now()
	end := o.start + o.count
	var buf []byte
	next := o.start + o.count/10
	for i := o.start; i < end; i += o.batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		n := min(o.batch, end-i)
		var w kmip.RequestWriter
		w.Begin(buf[:0], kmip.V2_0, n, &kmip.RequestOptions{BatchErrorContinuation: kmip.BatchErrorContinuationOptionUndo})
		for j := range n {
			w.Item(kmip.OperationCreate, binary.BigEndian.AppendUint32(nil, uint32(j)), o.objs.Create(i+j))
		}
		msg, err := w.Finish()
		if err != nil {
			return err
		}
		buf = msg
		var r kmip.Response
		if err := r.Parse(srv.Handle(sess, msg), kmip.Limits{MaxBatchItems: o.batch}); err != nil {
			return fmt.Errorf("keys %d-%d: %w", i, i+n-1, err)
		}
		for j := range r.Items {
			if err := r.Items[j].Err(); err != nil {
				return fmt.Errorf("key %d: %w", i+j, err)
			}
		}
		if i+n >= next {
			fmt.Fprintf(out, "fill: %d of %d keys\n", i+n-o.start, o.count)
			next += o.count / 10
		}
	}
	// NoSync: one fsync of each file (the store and its key slots) makes
	// the fill durable.
	for _, f := range []string{path, store.KeysPath(path)} {
		if err := syncFile(f); err != nil {
			return err
		}
	}
	d := time.Since(t0)
	fmt.Fprintf(cmd.OutOrStdout(), "filled %d keys in %.1fs (%.0f/s)\n", o.count, d.Seconds(), float64(o.count)/d.Seconds())
	return nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
