package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/internal/control"
	"github.com/kmipd/kmipd/internal/progress"
	"github.com/kmipd/kmipd/store"
)

type backupOptions struct {
	dir   string
	out   string
	force bool
}

func newBackupCmd() *cobra.Command {
	o := &backupOptions{}
	cmd := &cobra.Command{
		Use:   "backup --dir DIR --out FILE",
		Short: "Write a consistent snapshot of the store, online or offline",
		Long: `backup writes a consistent snapshot of the store of DIR to FILE (0600).

While kmipd serves, the server streams it from one read transaction over its
control socket (the store file next to it, suffix .sock): clients go on
reading and writing, and the snapshot holds exactly what was committed when
it began. When no server runs, backup opens the store itself. Either way the
snapshot is checked (opened from a temporary copy and run through the full
consistency check, every object's key material opening) before FILE is put
in place. The snapshot holds the objects as stored, their key material wrapped
by the master key, and the data keys of the key slots (STORE.keys) that
protect it in the store: it is no use without the master key, which is not in
it. Destroying an object later does not erase it from existing backups.

With an etcd store (store: etcd://...), backup reads one etcd revision, while
nodes go on serving, and writes it in the same form: kmipd restore puts it
back into etcd, or into a single node's bbolt store.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runBackup(cmd, o) },
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "kmipd directory")
	cmd.Flags().StringVar(&o.out, "out", "", "snapshot file to write")
	cmd.Flags().BoolVar(&o.force, "force", false, "replace FILE if it exists")
	_ = cmd.MarkFlagRequired("dir")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func runBackup(cmd *cobra.Command, o *backupOptions) error {
	cfg, err := loadConfig(o.dir)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	if _, err := os.Stat(o.out); err == nil && !o.force {
		return fmt.Errorf("%s exists: %w (use --force to replace it)", o.out, fs.ErrExist)
	}
	tmp, err := os.CreateTemp(filepath.Dir(o.out), "."+filepath.Base(o.out)+".tmp-")
	if err != nil {
		return err
	}
	tmpPath := tmp.Name()
	ok := false
	defer func() {
		if !ok {
			tmp.Close()
			os.Remove(tmpPath)
		}
	}()
	start := time.Now()
	p := progress.NewBytes(stderr, "backup")
	var n int64
	var how string
	storePath := cfg.storePath()
	loc, err := parseStoreLocation(cfg.Store)
	if err != nil {
		return err
	}
	var conn net.Conn
	online := false
	if !loc.etcd {
		conn, err = net.DialTimeout("unix", controlPath(cfg), 2*time.Second)
		online = err == nil
	}
	switch {
	case loc.etcd:
		// Any node, or none, may be serving: the export reads one etcd
		// revision, consistent whatever the nodes do meanwhile.
		storePath = loc.String()
		how = "from the etcd cluster, at one revision"
		db, err := openStore(context.Background(), cfg, storeOpen{allowOlder: true})
		if err != nil {
			return err
		}
		n, err = db.Backup(io.MultiWriter(tmp, p))
		db.Close()
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	case online:
		how = "online, from the running server"
		n, err = control.FetchBackup(conn, tmp, p)
		conn.Close()
		if err != nil {
			return fmt.Errorf("online backup: %w", err)
		}
	default:
		how = "offline, from the store file"
		if _, err := os.Stat(storePath); err != nil {
			return fmt.Errorf("no store to back up: %w", err)
		}
		db, err := store.Open(storePath, &store.Options{Timeout: -1, AllowOlder: true})
		if errors.Is(err, store.ErrLocked) {
			return fmt.Errorf("a running kmipd holds %s but its control socket %s does not answer: %w", storePath, controlPath(cfg), err)
		}
		if err != nil {
			return err
		}
		p.SetTotal(db.Stats().FileSize)
		n, err = db.Backup(io.MultiWriter(tmp, p))
		db.Close()
		if err != nil {
			return fmt.Errorf("backup: %w", err)
		}
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	st, err := store.VerifySnapshot(tmpPath)
	if err != nil {
		return fmt.Errorf("the snapshot fails its check, %s not written: %w", o.out, err)
	}
	if err := os.Rename(tmpPath, o.out); err != nil {
		return err
	}
	ok = true
	syncDirOf(o.out)
	if !online {
		// Online, the server recorded it. On etcd, this node's trail.
		auditEvent(cfg, stderr, "backup", fmt.Sprintf("offline backup of the store to %s: %d bytes, %d objects", o.out, n, st.Objects))
	}
	fmt.Fprintf(cmd.OutOrStdout(), "kmipd: backup of %s written to %s (%s): %d bytes, %d objects, checked, in %v\n",
		storePath, o.out, how, n, st.Objects, time.Since(start).Round(time.Millisecond))
	return nil
}

// controlPath is the control socket of the server using cfg's store.
// controlPath is the control socket of the server of cfg: next to its
// store file, or in the node's own directory on etcd.
func controlPath(cfg *Config) string {
	if loc, err := parseStoreLocation(cfg.Store); err == nil && loc.etcd {
		return filepath.Join(cfg.nodeDir(), "kmipd.sock")
	}
	return control.SocketPath(cfg.storePath())
}

func syncDirOf(path string) {
	if d, err := os.Open(filepath.Dir(path)); err == nil {
		d.Sync()
		d.Close()
	}
}
