package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/internal/progress"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
)

// upgradeHint adds to an error of store.Open on a file of an older format
// the command that upgrades it.
func upgradeHint(err error, cfg *Config) error {
	if errors.Is(err, store.ErrNeedsUpgrade) {
		return fmt.Errorf("%w: stop every kmipd using it and run `kmipd store upgrade --dir %s` (it backs the store up first)", err, cfg.dir)
	}
	return err
}

func newStoreCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "store",
		Short: "Show the store's format, upgrade it, migrate it between bbolt and etcd (servers stopped)",
	}
	cmd.AddCommand(newStoreInfoCmd(), newStoreUpgradeCmd(), newStoreCheckCmd(), newStoreMigrateCmd())
	return cmd
}

func newStoreCheckCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "check --dir DIR",
		Short: "Run the full consistency check of the store and its key file (server stopped)",
		Long: `check reads the whole store: the bbolt structure, every object, its sequence
and index entries, and every object's key material, which must open with its
data key in the key file (STORE.keys); no key slot may hold a key that no
object uses. It changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := openStoreOfDir(dir)
			if err != nil {
				return err
			}
			defer db.Close()
			if err := db.Check(); err != nil {
				return fmt.Errorf("%s fails its check: %w", db.Path(), err)
			}
			st := db.Stats()
			fmt.Fprintf(cmd.OutOrStdout(), "kmipd: %s (format %d): %d objects, %d bytes, checked\n", db.Path(), db.Format(), st.Objects, st.FileSize)
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "kmipd directory")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

// openStoreOfDir opens the store of the kmipd directory dir whatever its
// (not newer) format, for the read-only store commands.
func openStoreOfDir(dir string) (*store.DB, error) {
	cfg, err := loadConfig(dir)
	if err != nil {
		return nil, err
	}
	return openStoreAnyFormat(cfg)
}

// openStoreAnyFormat opens the store of cfg whatever its (not newer)
// format, failing at once if a server holds it.
func openStoreAnyFormat(cfg *Config) (*store.DB, error) {
	if loc, err := parseStoreLocation(cfg.Store); err == nil && loc.etcd {
		return openStoreAt(context.Background(), cfg, loc, storeOpen{allowOlder: true})
	}
	path := cfg.storePath()
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("no store: %w", err)
	}
	db, err := store.Open(path, &store.Options{Timeout: -1, AllowOlder: true})
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("%s is in use by a running kmipd: stop it first (%w)", path, err)
	}
	return db, err
}

func newStoreInfoCmd() *cobra.Command {
	var dir string
	cmd := &cobra.Command{
		Use:   "info --dir DIR",
		Short: "Print the store's format version, format history, objects and size",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			db, err := openStoreOfDir(dir)
			if err != nil {
				return err
			}
			defer db.Close()
			out := cmd.OutOrStdout()
			st := db.Stats()
			fmt.Fprintf(out, "store:   %s\nformat:  %d (this kmipd writes %d, upgrades from %d)\nobjects: %d\nsize:    %d bytes\n",
				db.Path(), db.Format(), store.SchemaVersion, store.OldestFormat, st.Objects, st.FileSize)
			h, err := db.FormatHistory()
			if err != nil {
				return err
			}
			for _, ev := range h {
				fmt.Fprintf(out, "history: %s format %d: %s\n", ev.Time.Format(time.RFC3339), ev.Format, ev.Note)
			}
			if db.Format() < store.SchemaVersion {
				fmt.Fprintf(out, "upgrade: needed, run kmipd store upgrade --dir %s\n", dir)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&dir, "dir", "", "kmipd directory")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

type storeUpgradeOptions struct {
	dir    string
	backup string
}

func newStoreUpgradeCmd() *cobra.Command {
	o := &storeUpgradeOptions{}
	cmd := &cobra.Command{
		Use:   "upgrade --dir DIR [--backup FILE]",
		Short: "Upgrade the store to this kmipd's format, after a backup (server stopped)",
		Long: `upgrade brings the store of DIR to the format this kmipd writes. kmipd serve
refuses a store of an older format, so that the operator upgrades it knowingly:
a kmipd that only knows the older format cannot open the upgraded file.

First it writes a backup of the store as it is (default: STORE.formatN-TIME.bak
next to it), checked like one of kmipd backup; then it upgrades the file in one
transaction (a crash leaves it as it was) and checks it. On a store already at
the current format it does nothing. To go back to the older kmipd, restore the
backup with it (kmipd restore --dir DIR --in FILE).

From format 2, the upgrade then moves every object's key material out of the
object record into a slot-protected secret (STORE.keys), in batches, and zeroes
the old copies in the file in one pass. Until that is done kmipd serve refuses
the store; if it is interrupted, run upgrade again: it resumes.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runStoreUpgrade(cmd, o) },
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "kmipd directory")
	cmd.Flags().StringVar(&o.backup, "backup", "", "where to write the backup taken before the upgrade (must not exist)")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func runStoreUpgrade(cmd *cobra.Command, o *storeUpgradeOptions) error {
	cfg, err := loadConfig(o.dir)
	if err != nil {
		return err
	}
	out, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	db, err := openStoreAnyFormat(cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	from := db.Format()
	if from == store.SchemaVersion && !db.NeedsMove() {
		fmt.Fprintf(out, "kmipd: %s is at format %d already: nothing to do\n", db.Path(), from)
		return nil
	}
	if from == store.SchemaVersion {
		fmt.Fprintf(out, "kmipd: %s: resuming the move of the key material to key slots\n", db.Path())
		if err := moveSecrets(db, stderr); err != nil {
			return err
		}
		return checkUpgraded(cmd, cfg, db, o, from, "(resumed)")
	}
	fmt.Fprintf(out, "kmipd: %s has format %d; upgrading to format %d\n", db.Path(), from, store.SchemaVersion)
	bak := o.backup
	if bak == "" {
		bak = fmt.Sprintf("%s.format%d-%s.bak", db.Path(), from, time.Now().UTC().Format("20060102T150405Z"))
	}
	n, err := backupTo(db, bak, stderr)
	if err != nil {
		return fmt.Errorf("backup before the upgrade, store unchanged: %w", err)
	}
	fmt.Fprintf(out, "kmipd: backup of the format %d store written to %s (%d bytes, checked)\n", from, bak, n)
	if _, err := db.Upgrade(func(f, t int) { fmt.Fprintf(out, "kmipd: upgrading format %d to %d\n", f, t) }); err != nil {
		return fmt.Errorf("upgrade failed, store unchanged (backup in %s): %w", bak, err)
	}
	if db.NeedsMove() {
		fmt.Fprintf(out, "kmipd: moving the key material to key slots (%s)\n", store.KeysPath(db.Path()))
		if err := moveSecrets(db, stderr); err != nil {
			return fmt.Errorf("%w (run kmipd store upgrade --dir %s again to resume; backup in %s)", err, o.dir, bak)
		}
	}
	return checkUpgraded(cmd, cfg, db, o, from, "backup of the format "+fmt.Sprint(from)+" store: "+bak)
}

func checkUpgraded(cmd *cobra.Command, cfg *Config, db *store.DB, o *storeUpgradeOptions, from int, note string) error {
	if err := db.Check(); err != nil {
		return fmt.Errorf("the upgraded store fails its check; restore the backup taken before the upgrade with kmipd restore --dir %s: %w", o.dir, err)
	}
	st := db.Stats()
	detail := fmt.Sprintf("store %s upgraded from format %d to %d (%d objects); %s", db.Path(), from, store.SchemaVersion, st.Objects, note)
	auditEvent(cfg, cmd.ErrOrStderr(), "store-upgrade", detail)
	fmt.Fprintf(cmd.OutOrStdout(), "kmipd: %s, checked\n", detail)
	return nil
}

// moveBatch is the number of objects moved per transaction by the
// upgrade to format 3.
const moveBatch = 1000

// moveSecrets finishes the upgrade to format 3: key material embedded in
// the stored objects goes to Record.Secret.
func moveSecrets(db *store.DB, stderr io.Writer) error {
	p := progress.NewBar(stderr, "move key material")
	err := db.MoveSecrets(func(id string, data []byte) ([]byte, []byte, error) {
		var o objects.Object
		if err := o.UnmarshalBinary(data); err != nil {
			return nil, nil, err
		}
		if o.Blob == nil {
			return nil, nil, nil
		}
		blob := o.Blob
		o.Blob = nil
		rest, err := o.MarshalBinary()
		return rest, blob, err
	}, moveBatch, p.Update)
	p.Finish()
	return err
}

// backupTo writes a snapshot of db to path (which must not exist), checked
// as kmipd backup checks its snapshots, and returns its size.
func backupTo(db *store.DB, path string, stderr io.Writer) (int64, error) {
	if _, err := os.Stat(path); err == nil {
		return 0, fmt.Errorf("%s exists", path)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return 0, err
	}
	defer os.Remove(tmp.Name())
	p := progress.NewBytes(stderr, "backup")
	p.SetTotal(db.Stats().FileSize)
	n, err := db.Backup(io.MultiWriter(tmp, p))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return 0, err
	}
	if _, err := store.VerifySnapshot(tmp.Name()); err != nil {
		return 0, fmt.Errorf("the snapshot fails its check: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		return 0, err
	}
	syncDirOf(path)
	return n, nil
}
