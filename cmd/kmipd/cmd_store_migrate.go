package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/internal/progress"
	"github.com/kmipd/kmipd/store"
)

type storeMigrateOptions struct {
	dir, from, to string
}

func newStoreMigrateCmd() *cobra.Command {
	o := &storeMigrateOptions{}
	cmd := &cobra.Command{
		Use:   "migrate --dir DIR --from STORE --to STORE",
		Short: "Copy every object from one store to another: a single node to an etcd cluster, or back (servers stopped)",
		Long: `migrate copies every object (identifiers, creation order, attributes, indexes,
key material as sealed) and every metadata value from the store --from to the
store --to, which must hold nothing. Each is a bbolt file (bbolt:FILE, relative
to the current directory) or an etcd cluster (etcd://HOST:PORT[,HOST:PORT...],
with the etcd: settings of DIR's kmipd.yaml). It reads --from in one snapshot,
writes --to in bounded transactions, then checks --to and compares the object
counts. Stop every kmipd using either store first; afterwards point the
servers' store: at --to. The master key stays the same: both stores hold the
material sealed under it.

  kmipd store migrate --dir DIR --from bbolt:DIR/kmipd.db --to etcd://e1:2379,e2:2379,e3:2379
  kmipd store migrate --dir DIR --from etcd://e1:2379 --to bbolt:/var/lib/kmipd/single.db`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runStoreMigrate(cmd, o) },
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "kmipd directory (its kmipd.yaml gives the etcd: settings)")
	cmd.Flags().StringVar(&o.from, "from", "", "the store to copy: bbolt:FILE or etcd://HOST:PORT[,...]")
	cmd.Flags().StringVar(&o.to, "to", "", "the empty store to fill: bbolt:FILE (created) or etcd://HOST:PORT[,...]")
	for _, f := range []string{"dir", "from", "to"} {
		_ = cmd.MarkFlagRequired(f)
	}
	return cmd
}

// cliStoreLocation parses a store named on the command line: a relative
// bbolt path is relative to the current directory, not to DIR.
func cliStoreLocation(s string) (storeLocation, error) {
	loc, err := parseStoreLocation(s)
	if err == nil && !loc.etcd {
		loc.path, err = filepath.Abs(loc.path)
	}
	return loc, err
}

func runStoreMigrate(cmd *cobra.Command, o *storeMigrateOptions) error {
	cfg, err := loadConfig(o.dir)
	if err != nil {
		return err
	}
	from, err := cliStoreLocation(o.from)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	to, err := cliStoreLocation(o.to)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	if from.String() == to.String() {
		return fmt.Errorf("--from and --to are the same store (%s)", from)
	}
	if !from.etcd {
		if _, err := os.Stat(from.path); err != nil {
			return fmt.Errorf("--from: %w", err)
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	start := time.Now()
	src, err := openStoreAt(ctx, cfg, from, storeOpen{lockWait: -1})
	if err != nil {
		return fmt.Errorf("--from: %w", upgradeHint(lockedHint(err), cfg))
	}
	defer src.Close()
	dst, err := openStoreAt(ctx, cfg, to, storeOpen{lockWait: -1})
	if err != nil {
		return fmt.Errorf("--to: %w", lockedHint(err))
	}
	defer dst.Close()
	n, err := migrate(ctx, cmd.ErrOrStderr(), dst, src)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "kmipd: %d objects copied from %s to %s and checked, in %v\n",
		n, from, to, time.Since(start).Round(time.Millisecond))
	auditEvent(cfg, cmd.ErrOrStderr(), "migrate", fmt.Sprintf("store migrated from %s to %s: %d objects", from, to, n))
	return nil
}

// migrate copies src into the empty dst and checks the result.
func migrate(ctx context.Context, stderr io.Writer, dst, src *store.DB) (int, error) {
	total := src.Stats().Objects
	bar := progress.NewBar(stderr, "copying")
	if err := store.Copy(ctx, dst, src, func(n int) { bar.Update(n, total) }); err != nil {
		return 0, err
	}
	bar.Finish()
	if err := dst.Check(); err != nil {
		return 0, fmt.Errorf("the copy fails its check: %w", err)
	}
	if got := dst.Stats().Objects; got != total {
		return 0, fmt.Errorf("the copy holds %d objects, the source %d", got, total)
	}
	return total, nil
}

// lockedHint explains ErrLocked: a server holds the file.
func lockedHint(err error) error {
	if err != nil && errors.Is(err, store.ErrLocked) {
		return fmt.Errorf("%w: stop the kmipd using it first", err)
	}
	return err
}
