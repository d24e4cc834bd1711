package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/hsm/pkcs11"
	"github.com/kmipd/kmipd/hsm/soft"
	"github.com/kmipd/kmipd/internal/control"
	"github.com/kmipd/kmipd/internal/progress"
	"github.com/kmipd/kmipd/internal/rotation"
	"github.com/kmipd/kmipd/store"
)

func newHSMCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hsm",
		Short: "Manage the key backend: rotate the master key, migrate between backends",
	}
	cmd.AddCommand(newHSMRotateCmd(), newHSMMigrateCmd())
	return cmd
}

type rotateOptions struct {
	dir     string
	keepOld bool
	batch   int
}

func newHSMRotateCmd() *cobra.Command {
	o := &rotateOptions{}
	cmd := &cobra.Command{
		Use:   "rotate --dir DIR",
		Short: "Re-wrap every stored key under a new master-key version, then retire the old one",
		Long: `rotate creates master-key version N+1 (in the HSM), records it in the config
and re-wraps every blob of the store under it, inside the HSM, in short
batches. It is resumable: the config and the token are updated first, so an
interrupted rotation leaves every blob readable by kmipd serve (old versions
stay until nothing refers to them), and running rotate again finishes it.
When no blob refers to an old version any more, that version is destroyed
(unless --keep-old: keep it while backups made before the rotation matter).
With kmipd serve running on DIR, the server does the rotation itself while it
goes on serving (reads never stop), and rotate shows its progress.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRotate(cmd, o) },
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "kmipd directory")
	cmd.Flags().BoolVar(&o.keepOld, "keep-old", false, "keep old master-key versions on the token")
	cmd.Flags().IntVar(&o.batch, "batch", 256, "objects per write transaction")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

type migrateOptions struct {
	dir   string
	to    string
	batch int
	hsmFlags
}

func newHSMMigrateCmd() *cobra.Command {
	o := &migrateOptions{}
	cmd := &cobra.Command{
		Use:   "migrate --dir DIR --to software|pkcs11 [--pkcs11-module PATH --pkcs11-token LABEL]",
		Short: "Move every stored key to another key backend",
		Long: `migrate switches the set-up in DIR to another key backend: it prepares the
new backend's master key (creating master.key, or the master keys on the
token if missing), records the new backend in the config with the old one
as hsm.migrate_from (kmipd serve then reads both), moves every blob, and
finally drops hsm.migrate_from. Key material passes through kmipd's memory
once, since the two master keys cannot see each other. It is resumable: run
it again after an interruption. Stop kmipd serve first.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runMigrate(cmd, o) },
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "kmipd directory")
	cmd.Flags().StringVar(&o.to, "to", "", "backend to migrate to: software or pkcs11")
	cmd.Flags().IntVar(&o.batch, "batch", 256, "objects per write transaction")
	o.hsmFlags.register(cmd)
	_ = cmd.MarkFlagRequired("dir")
	_ = cmd.MarkFlagRequired("to")
	return cmd
}

// openStoreOffline opens the store, failing soon if kmipd serve holds it.
func openStoreOffline(cfg *Config) (*store.DB, error) {
	db, err := openStore(context.Background(), cfg, storeOpen{lockWait: time.Second})
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("store %s is in use: stop kmipd serve first (%w)", cfg.storePath(), err)
	}
	if err != nil {
		return nil, fmt.Errorf("store: %w", upgradeHint(err, cfg))
	}
	return db, nil
}

func runRotate(cmd *cobra.Command, o *rotateOptions) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	cfg, err := loadConfig(o.dir)
	if err != nil {
		return err
	}
	// A running server holds the store: it rotates while it serves, and
	// reports progress over its control socket.
	if conn, err := net.DialTimeout("unix", controlPath(cfg), time.Second); err == nil {
		defer conn.Close()
		fmt.Fprintln(out, "kmipd: a server is running on this store: rotating online")
		return control.RequestRotate(conn, out, errOut, o.keepOld)
	}
	if err := unfinishedMigration(cfg); err != nil {
		return err
	}
	be, err := openBackend(cfg)
	if err != nil {
		return err
	}
	defer be.Close()
	db, err := openStoreOffline(cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	bar := progress.NewBar(errOut, "re-wrapping")
	defer bar.Finish()
	return rotateStore(ctx, out, bar.Update, o.dir, be, db, o.keepOld, o.batch, nil)
}

// unfinishedMigration refuses a rotation while a backend migration is
// unfinished: checked before the key backend is opened, and again by
// rotateStore for the online path.
func unfinishedMigration(cfg *Config) error {
	if cfg.HSM.MigrateFrom != "" {
		return fmt.Errorf("a migration from %s to %s is unfinished: run kmipd hsm migrate --to %s first", cfg.HSM.MigrateFrom, cfg.HSM.Backend, cfg.HSM.Backend)
	}
	return nil
}

// rotateStore rotates the master key of the set-up in dir
// (rotation.Rotate), recording the new version in its config. It runs
// offline or inside a serving kmipd (forget: see rotation.RotateOptions).
func rotateStore(ctx context.Context, out io.Writer, progress func(done, total int), dir string,
	be hsm.Backend, db *store.DB, keepOld bool, batch int, forget func()) error {
	cfg, err := loadConfig(dir)
	if err != nil {
		return err
	}
	if err := unfinishedMigration(cfg); err != nil {
		return err
	}
	return rotation.Rotate(ctx, be, db, rotation.RotateOptions{
		Out: out, Progress: progress, KeepOld: keepOld, Batch: batch, Forget: forget,
		SaveKeyVersion: func(v uint32) error {
			return updateConfigFile(dir, func(c *Config) { c.HSM.KEKVersion = v })
		},
	})
}

func runMigrate(cmd *cobra.Command, o *migrateOptions) error {
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	cfg, err := loadConfig(o.dir)
	if err != nil {
		return err
	}
	switch o.to {
	case backendSoftware, backendPKCS11:
	default:
		return fmt.Errorf("--to %q: want software or pkcs11", o.to)
	}
	from := cfg.HSM.Backend
	if cfg.HSM.MigrateFrom != "" {
		if cfg.HSM.Backend != o.to {
			return fmt.Errorf("a migration from %s to %s is unfinished: finish it with --to %s", cfg.HSM.MigrateFrom, cfg.HSM.Backend, cfg.HSM.Backend)
		}
		from = cfg.HSM.MigrateFrom
		fmt.Fprintf(out, "kmipd: resuming the migration from %s to %s\n", from, o.to)
	} else if from == o.to {
		return fmt.Errorf("the key backend is %s already", o.to)
	}
	db, err := openStoreOffline(cfg)
	if err != nil {
		return err
	}
	defer db.Close()

	if cfg.HSM.MigrateFrom == "" {
		next := *cfg
		next.HSM.Backend, next.HSM.MigrateFrom = o.to, from
		if o.to == backendPKCS11 {
			if err := o.hsmFlags.apply(&next); err != nil {
				return err
			}
			if next.HSM.PKCS11Module != cfg.HSM.PKCS11Module || next.HSM.PKCS11Token != cfg.HSM.PKCS11Token || next.HSM.KEKLabel != cfg.HSM.KEKLabel {
				next.HSM.KEKVersion = 1 // master keys this set-up has not used before
			}
			if err := createMasterKey(&next); err != nil && !errors.Is(err, pkcs11.ErrKEKExists) {
				return err
			}
		} else if _, err := os.Stat(next.path(next.HSM.MasterKey)); errors.Is(err, os.ErrNotExist) {
			if err := soft.CreateMasterKey(next.path(next.HSM.MasterKey)); err != nil {
				return err
			}
		}
		// Check that both backends open before switching the config.
		be, err := openBackend(&next)
		if err != nil {
			return err
		}
		be.Close()
		if err := updateConfigFile(o.dir, func(c *Config) { c.HSM = next.HSM }); err != nil {
			return err
		}
		cfg = &next
		fmt.Fprintf(out, "kmipd: the key backend is now %s; blobs of the %s backend are read until they are all moved\n", o.to, from)
	}
	be, err := openBackend(cfg)
	if err != nil {
		return err
	}
	defer be.Close()
	bar := progress.NewBar(errOut, "migrating")
	n, err := rotation.Migrate(ctx, db, be.(*rotation.Migrating), from, o.to, o.batch, bar.Update)
	bar.Finish()
	if err != nil {
		return err
	}
	if err := updateConfigFile(o.dir, func(c *Config) { c.HSM.MigrateFrom = "" }); err != nil {
		return err
	}
	fmt.Fprintf(out, "kmipd: %d blobs moved from the %s backend to the %s backend\n", n, from, o.to)
	switch from {
	case backendSoftware:
		fmt.Fprintf(out, "kmipd: %s is no longer used; keep it while backups made before the migration matter, then delete it\n", cfg.path(cfg.HSM.MasterKey))
	case backendPKCS11:
		fmt.Fprintf(out, "kmipd: the master keys %s-v* on token %q are no longer used; keep them while backups made before the migration matter\n", cfg.HSM.KEKLabel, cfg.HSM.PKCS11Token)
	}
	return nil
}
