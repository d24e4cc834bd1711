package main

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"

	"github.com/kmipd/kmipd/internal/progress"
	"github.com/kmipd/kmipd/store"
)

// preRestoreInfix names the store that restore keeps beside the new one.
const preRestoreInfix = ".pre-restore-"

type restoreOptions struct {
	dir   string
	in    string
	force bool
}

func newRestoreCmd() *cobra.Command {
	o := &restoreOptions{}
	cmd := &cobra.Command{
		Use:   "restore --dir DIR --in FILE",
		Short: "Replace the store with a snapshot from kmipd backup (server stopped)",
		Long: `restore replaces the store of DIR with the snapshot FILE. It refuses while a
server uses the store, and checks the snapshot first: a copy of it is put
next to the store, opened and run through the full consistency check; only
then does it replace the store and its key file (STORE.keys, the data keys
the backup carries), each atomically, by rename. The old store and key file
are kept beside them as STORE.pre-restore-TIME and STORE.pre-restore-TIME.keys.
A snapshot that fails the check changes nothing. Restore needs the master key
the snapshot was made with.

With an etcd store (store: etcd://...), restore copies the checked snapshot
into the etcd keyspace, which must hold nothing; --force empties it first
(stop every node before: they would serve a store being replaced).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRestore(cmd, o) },
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "kmipd directory")
	cmd.Flags().StringVar(&o.in, "in", "", "snapshot file written by kmipd backup")
	cmd.Flags().BoolVar(&o.force, "force", false, "etcd store: empty the keyspace before restoring into it")
	_ = cmd.MarkFlagRequired("dir")
	_ = cmd.MarkFlagRequired("in")
	return cmd
}

func runRestore(cmd *cobra.Command, o *restoreOptions) error {
	cfg, err := loadConfig(o.dir)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	if loc, err := parseStoreLocation(cfg.Store); err != nil {
		return err
	} else if loc.etcd {
		return restoreEtcd(cmd, cfg, loc, o)
	}
	live := cfg.storePath()
	if conn, err := net.DialTimeout("unix", controlPath(cfg), time.Second); err == nil {
		conn.Close()
		return fmt.Errorf("kmipd is serving from %s: stop it before restoring", o.dir)
	}
	if _, err := os.Stat(o.in); err != nil {
		return err
	}
	// Hold a shared lock on the current store until the new one is in
	// place: it fails while a server holds the store, and keeps one from
	// starting meanwhile. Read-only, so the old store stays byte for byte
	// as it was.
	_, statErr := os.Stat(live)
	exists := statErr == nil
	if exists {
		held, err := bolt.Open(live, 0o600, &bolt.Options{ReadOnly: true, Timeout: 200 * time.Millisecond})
		switch {
		case errors.Is(err, berrors.ErrTimeout):
			return fmt.Errorf("%s is in use by a running kmipd: stop it before restoring", live)
		case err != nil:
			fmt.Fprintf(stderr, "kmipd: warning: the current store does not open (%v); it is kept as it is\n", err)
		default:
			defer held.Close()
		}
	}
	tmp, err := os.CreateTemp(filepath.Dir(live), "."+filepath.Base(live)+".restore-")
	if err != nil {
		return err
	}
	tmpPath := tmp.Name()
	tmp.Close()
	os.Remove(tmpPath)
	defer os.Remove(tmpPath)
	defer os.Remove(store.KeysPath(tmpPath))
	p := progress.NewBytes(stderr, "restore")
	if fi, err := os.Stat(o.in); err == nil {
		p.SetTotal(fi.Size())
	}
	if err := store.ExtractSnapshot(o.in, tmpPath, p); err != nil {
		return err
	}
	sum, err := fileSHA256(tmpPath)
	if err != nil {
		return err
	}
	st, err := store.CheckFile(tmpPath)
	if err != nil {
		return fmt.Errorf("%s is not a usable snapshot, nothing was changed: %w", o.in, err)
	}
	kept := ""
	if exists {
		kept = live + preRestoreInfix + time.Now().UTC().Format("20060102T150405Z")
		for _, f := range [][2]string{{live, kept}, {store.KeysPath(live), store.KeysPath(kept)}} {
			if _, err := os.Stat(f[0]); err != nil {
				continue
			}
			if err := os.Link(f[0], f[1]); err != nil {
				if err := store.CopyFile(f[0], f[1], nil); err != nil {
					return fmt.Errorf("keeping the current store: %w", err)
				}
			}
		}
	}
	// The key file first: a store is never in place without the keys its
	// secrets need (an old backup, without keys, leaves none).
	if _, err := os.Stat(store.KeysPath(tmpPath)); err == nil {
		if err := os.Rename(store.KeysPath(tmpPath), store.KeysPath(live)); err != nil {
			return err
		}
	} else if err := os.Remove(store.KeysPath(live)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := os.Rename(tmpPath, live); err != nil {
		return err
	}
	syncDirOf(live)
	detail := fmt.Sprintf("store restored from %s (sha256 %x, %d objects)", o.in, sum, st.Objects)
	if kept != "" {
		detail += "; the previous store is kept as " + kept
	}
	auditEvent(cfg, stderr, "restore", detail)
	fmt.Fprintf(cmd.OutOrStdout(), "kmipd: %s\n", detail)
	return nil
}

func fileSHA256(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}

// restoreEtcd restores the snapshot o.in into the etcd keyspace of cfg.
func restoreEtcd(cmd *cobra.Command, cfg *Config, loc storeLocation, o *restoreOptions) error {
	stderr := cmd.ErrOrStderr()
	tmpDir, err := os.MkdirTemp("", "kmipd-restore-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmpDir)
	snap := filepath.Join(tmpDir, "snapshot.db")
	// The store file and key file the backup holds.
	if err := store.ExtractSnapshot(o.in, snap, nil); err != nil {
		return fmt.Errorf("%s is not a usable snapshot, nothing was changed: %w", o.in, err)
	}
	sum, err := fileSHA256(o.in)
	if err != nil {
		return err
	}
	if _, err := store.CheckFile(snap); err != nil {
		return fmt.Errorf("%s is not a usable snapshot, nothing was changed: %w", o.in, err)
	}
	src, err := store.Open(snap, &store.Options{Timeout: -1})
	if err != nil {
		return fmt.Errorf("%s: %w", o.in, err)
	}
	defer src.Close()
	ctx := context.Background()
	dst, err := openStoreAt(ctx, cfg, loc, storeOpen{})
	if err != nil {
		return err
	}
	defer dst.Close()
	if held := dst.Stats().Objects; !o.force && (held > 0 || hasMeta(dst)) {
		return fmt.Errorf("%s is not empty (%d objects): stop every node and restore with --force, which empties it first; nothing was changed", loc, held)
	}
	if o.force {
		if err := dst.Update(func(tx *store.Tx) error { return tx.Wipe() }); err != nil {
			return fmt.Errorf("emptying %s: %w", loc, err)
		}
	}
	n, err := migrate(ctx, stderr, dst, src)
	if err != nil {
		return fmt.Errorf("restoring into %s (run again with --force): %w", loc, err)
	}
	detail := fmt.Sprintf("store %s restored from %s (sha256 %x, %d objects)", loc, o.in, sum, n)
	auditEvent(cfg, stderr, "restore", detail)
	fmt.Fprintf(cmd.OutOrStdout(), "kmipd: %s\n", detail)
	return nil
}

// hasMeta reports whether db holds server metadata (a store in use does).
func hasMeta(db *store.DB) bool {
	found := false
	_ = db.View(func(tx *store.Tx) error {
		found = tx.HasMeta()
		return nil
	})
	return found
}
