package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/hsm/pkcs11"
	"github.com/kmipd/kmipd/hsm/soft"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
)

// Key backends (hsm.backend).
const (
	backendSoftware = "software"
	backendPKCS11   = "pkcs11"
)

// envPKCS11PIN holds the PKCS#11 user PIN. A PIN is never a flag, which
// would show in the process list.
const envPKCS11PIN = "KMIPD_PKCS11_PIN"

// openBackend opens the key backend configured in cfg. While a migration
// between backends is unfinished (hsm.migrate_from), it opens both: new
// blobs go to hsm.backend, and each blob is opened by the backend that made
// it.
func openBackend(cfg *Config) (hsm.Backend, error) {
	primary, err := openBackendNamed(cfg, cfg.HSM.Backend)
	if err != nil {
		return nil, err
	}
	if cfg.HSM.MigrateFrom == "" {
		return primary, nil
	}
	old, err := openBackendNamed(cfg, cfg.HSM.MigrateFrom)
	if err != nil {
		primary.Close()
		return nil, fmt.Errorf("hsm.migrate_from: %w", err)
	}
	return &migratingBackend{Backend: primary, old: old}, nil
}

func openBackendNamed(cfg *Config, name string) (hsm.Backend, error) {
	switch name {
	case backendSoftware:
		b, err := soft.Open(cfg.path(cfg.HSM.MasterKey))
		if err != nil {
			return nil, fmt.Errorf("software key backend: %w", err)
		}
		return b, nil
	case backendPKCS11:
		opts, err := pkcs11Options(cfg)
		if err != nil {
			return nil, err
		}
		b, err := pkcs11.Open(opts)
		if err != nil {
			return nil, fmt.Errorf("pkcs11 key backend: %w", err)
		}
		return b, nil
	}
	return nil, fmt.Errorf("hsm.backend %q: want software or pkcs11", name)
}

// pkcs11Options returns the PKCS#11 settings of cfg, with the PIN.
func pkcs11Options(cfg *Config) (pkcs11.Options, error) {
	pin, err := pkcs11PIN(cfg)
	if err != nil {
		return pkcs11.Options{}, err
	}
	return pkcs11.Options{
		Module:     cfg.HSM.PKCS11Module,
		Token:      cfg.HSM.PKCS11Token,
		PIN:        pin,
		KEKLabel:   cfg.HSM.KEKLabel,
		KEKVersion: cfg.HSM.KEKVersion,
		PoolSize:   cfg.HSM.PoolSize,
	}, nil
}

// pkcs11PIN returns the user PIN: $KMIPD_PKCS11_PIN, else the content of
// hsm.pin_file (first line), which must not be readable by group or other.
func pkcs11PIN(cfg *Config) (string, error) {
	if pin := os.Getenv(envPKCS11PIN); pin != "" {
		return pin, nil
	}
	if cfg.HSM.PINFile == "" {
		return "", fmt.Errorf("hsm: no PKCS#11 PIN: set %s or name a PIN file in hsm.pin_file", envPKCS11PIN)
	}
	path := cfg.path(cfg.HSM.PINFile)
	fi, err := os.Stat(path)
	if err != nil {
		return "", fmt.Errorf("hsm.pin_file: %w", err)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return "", fmt.Errorf("hsm.pin_file %s has mode %04o; it must not be accessible to group or other (chmod 600 %s)", path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("hsm.pin_file: %w", err)
	}
	pin, _, _ := strings.Cut(string(data), "\n")
	pin = strings.TrimRight(pin, "\r")
	if pin == "" {
		return "", fmt.Errorf("hsm.pin_file %s is empty", path)
	}
	return pin, nil
}

// ownsKind reports whether backend writes blobs of kind k.
func ownsKind(backend string, k hsm.Kind) bool {
	switch backend {
	case backendSoftware:
		return k == hsm.KindSoftware
	case backendPKCS11:
		return k == hsm.KindPKCS11 || k == hsm.KindPKCS11Wrap
	}
	return false
}

// migratingBackend seals with the new backend and opens each blob with the
// backend that made it.
type migratingBackend struct {
	hsm.Backend             // the new backend (hsm.backend)
	old         hsm.Backend // hsm.migrate_from
}

func (m *migratingBackend) Open(ctx context.Context, id string, blob, dst []byte) ([]byte, error) {
	if h, err := hsm.BlobKind(blob); err == nil && !ownsKind(m.Backend.Name(), h.Kind) && ownsKind(m.old.Name(), h.Kind) {
		return m.old.Open(ctx, id, blob, dst)
	}
	return m.Backend.Open(ctx, id, blob, dst)
}

// Health reports the health of both backends that implement it.
func (m *migratingBackend) Health(ctx context.Context) error {
	var errs []error
	for _, b := range []hsm.Backend{m.Backend, m.old} {
		if hc, ok := b.(hsm.HealthChecker); ok {
			errs = append(errs, hc.Health(ctx))
		}
	}
	return errors.Join(errs...)
}

func (m *migratingBackend) Close() error { return errors.Join(m.Backend.Close(), m.old.Close()) }

// hsmFlags are the PKCS#11 settings of `kmipd init` and `kmipd hsm migrate`.
type hsmFlags struct {
	module, token, pinFile, kekLabel string
}

func (f *hsmFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.module, "pkcs11-module", "", "PKCS#11 library, e.g. /usr/lib/softhsm/libsofthsm2.so")
	cmd.Flags().StringVar(&f.token, "pkcs11-token", "", "label of the PKCS#11 token")
	cmd.Flags().StringVar(&f.pinFile, "pkcs11-pin-file", "", "file holding the user PIN, recorded in the config (default: the PIN comes from "+envPKCS11PIN+")")
	cmd.Flags().StringVar(&f.kekLabel, "pkcs11-kek-label", "", "label prefix of the master keys on the token (default "+pkcs11.DefaultKEKLabel+")")
}

// apply records the PKCS#11 settings in cfg, keeping the ones already
// there for flags not given.
func (f *hsmFlags) apply(cfg *Config) error {
	if f.module != "" {
		cfg.HSM.PKCS11Module = f.module
	}
	if f.token != "" {
		cfg.HSM.PKCS11Token = f.token
	}
	if f.pinFile != "" {
		abs, err := filepath.Abs(f.pinFile)
		if err != nil {
			return err
		}
		cfg.HSM.PINFile = abs
	}
	if f.kekLabel != "" {
		cfg.HSM.KEKLabel = f.kekLabel
	}
	if cfg.HSM.PKCS11Module == "" || cfg.HSM.PKCS11Token == "" {
		return errors.New("the pkcs11 backend needs --pkcs11-module and --pkcs11-token")
	}
	if cfg.HSM.KEKLabel == "" {
		cfg.HSM.KEKLabel = pkcs11.DefaultKEKLabel
	}
	if cfg.HSM.KEKVersion == 0 {
		cfg.HSM.KEKVersion = 1
	}
	return nil
}

// initBackendConfig sets the key backend of a new set-up from the flags of
// `kmipd init`.
func initBackendConfig(cfg *Config, backend string, f *hsmFlags) error {
	switch backend {
	case "", backendSoftware:
		if f.module != "" || f.token != "" || f.pinFile != "" || f.kekLabel != "" {
			return errors.New("--pkcs11-* flags need --hsm pkcs11")
		}
		return nil
	case backendPKCS11:
		cfg.HSM.Backend = backendPKCS11
		if err := f.apply(cfg); err != nil {
			return err
		}
		_, err := pkcs11PIN(cfg)
		return err
	}
	return fmt.Errorf("--hsm %q: want software or pkcs11", backend)
}

// createMasterKey creates the master key of cfg's backend for `kmipd
// init`: the key file of the software backend, or the master keys on the
// PKCS#11 token (refusing a token that holds them already).
func createMasterKey(cfg *Config) error {
	if cfg.HSM.Backend != backendPKCS11 {
		return soft.CreateMasterKey(cfg.path(cfg.HSM.MasterKey))
	}
	opts, err := pkcs11Options(cfg)
	if err != nil {
		return err
	}
	if err := pkcs11.CreateKEK(opts); err != nil {
		if errors.Is(err, pkcs11.ErrKEKExists) {
			return fmt.Errorf("%w (another kmipd set-up uses this token: pick another --pkcs11-kek-label, or delete the keys)", err)
		}
		return err
	}
	return nil
}

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
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runRotate(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
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
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runMigrate(ctx, cmd.OutOrStdout(), cmd.ErrOrStderr(), o)
		},
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
	db, err := store.Open(cfg.path(cfg.Store), &store.Options{Timeout: time.Second})
	if errors.Is(err, store.ErrLocked) {
		return nil, fmt.Errorf("store %s is in use: stop kmipd serve first (%w)", cfg.path(cfg.Store), err)
	}
	if err != nil {
		return nil, fmt.Errorf("store: %w", upgradeHint(err, cfg))
	}
	return db, nil
}

func runRotate(ctx context.Context, out, errOut io.Writer, o *rotateOptions) error {
	cfg, err := loadConfig(o.dir)
	if err != nil {
		return err
	}
	// A running server holds the store: it rotates while it serves, and
	// reports progress over its control socket.
	if conn, err := net.DialTimeout("unix", controlPath(cfg), time.Second); err == nil {
		defer conn.Close()
		fmt.Fprintln(out, "kmipd: a server is running on this store: rotating online")
		return requestRotate(conn, out, errOut, o.keepOld)
	}
	if cfg.HSM.MigrateFrom != "" {
		return fmt.Errorf("a migration from %s to %s is unfinished: run kmipd hsm migrate --to %s first", cfg.HSM.MigrateFrom, cfg.HSM.Backend, cfg.HSM.Backend)
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
	bar := newProgressBar(errOut, "re-wrapping")
	defer bar.finish()
	return rotate(ctx, out, bar.update, o.dir, be, db, o.keepOld, o.batch, nil)
}

// rotate creates a new master-key version (or resumes the rotation to the
// current one), re-wraps every blob under it, and retires the versions
// nothing refers to any more. It runs offline or inside a serving kmipd
// (then forget drops the server's cached objects, whose blobs are the old
// ones, before an old version is retired).
func rotate(ctx context.Context, out io.Writer, progress func(done, total int), dir string,
	be hsm.Backend, db *store.DB, keepOld bool, batch int, forget func()) error {
	cfg, err := loadConfig(dir)
	if err != nil {
		return err
	}
	if cfg.HSM.MigrateFrom != "" {
		return fmt.Errorf("a migration from %s to %s is unfinished: run kmipd hsm migrate --to %s first", cfg.HSM.MigrateFrom, cfg.HSM.Backend, cfg.HSM.Backend)
	}
	rot, ok := be.(hsm.KeyRotator)
	if !ok {
		return fmt.Errorf("the %s backend has a single master key and cannot rotate it; kmipd hsm migrate --to pkcs11 moves the keys to an HSM, which can", be.Name())
	}
	name := be.Name()
	cur, _ := rot.KeyVersions()
	versions, err := blobVersions(db, name)
	if err != nil {
		return err
	}
	if behind := countBehind(versions, cur); behind > 0 {
		fmt.Fprintf(out, "kmipd: resuming the rotation to master-key version %d: %d blobs to re-wrap\n", cur, behind)
	} else {
		next := cur + 1
		if err := rot.UseKeyVersion(ctx, next, true); err != nil {
			return err
		}
		if err := updateConfigFile(dir, func(c *Config) { c.HSM.KEKVersion = next }); err != nil {
			return fmt.Errorf("master-key version %d is on the token, but the config was not updated: %w (run kmipd hsm rotate again)", next, err)
		}
		cur = next
		fmt.Fprintf(out, "kmipd: created master-key version %d and made it current\n", cur)
	}
	need := func(h hsm.Header) bool { return ownsKind(name, h.Kind) && h.KeyVersion != cur }
	convert := func(ctx context.Context, obj *objects.Object) ([]byte, error) {
		return rot.Rewrap(ctx, obj.ID, obj.Blob)
	}
	n, err := rewrapStore(ctx, db, need, convert, batch, progress)
	if err != nil {
		return fmt.Errorf("rotation to master-key version %d interrupted after %d blobs: %w (every blob is still readable; run kmipd hsm rotate again to finish)", cur, n, err)
	}
	fmt.Fprintf(out, "kmipd: %d blobs re-wrapped under master-key version %d\n", n, cur)

	if versions, err = blobVersions(db, name); err != nil {
		return err
	}
	if behind := countBehind(versions, cur); behind > 0 {
		return fmt.Errorf("%d blobs are still under older master-key versions; run kmipd hsm rotate again", behind)
	}
	if forget != nil {
		forget()
	}
	_, loaded := rot.KeyVersions()
	for _, v := range loaded {
		if v == cur {
			continue
		}
		if keepOld {
			fmt.Fprintf(out, "kmipd: master-key version %d is no longer used; kept (--keep-old)\n", v)
			continue
		}
		if err := rot.RetireKeyVersion(ctx, v); err != nil {
			return err
		}
		fmt.Fprintf(out, "kmipd: retired master-key version %d (nothing refers to it)\n", v)
	}
	return nil
}

// countBehind counts the blobs under master-key versions other than cur.
func countBehind(versions map[uint32]int, cur uint32) int {
	n := 0
	for v, c := range versions {
		if v != cur {
			n += c
		}
	}
	return n
}

func runMigrate(ctx context.Context, out, errOut io.Writer, o *migrateOptions) error {
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
	mb := be.(*migratingBackend)
	sealer, _ := mb.Backend.(hsm.KeySealer)
	need := func(h hsm.Header) bool { return !ownsKind(o.to, h.Kind) }
	convert := func(ctx context.Context, obj *objects.Object) ([]byte, error) {
		pt, err := mb.Open(ctx, obj.ID, obj.Blob, nil)
		if err != nil {
			return nil, err
		}
		defer clear(pt)
		if sealer != nil && obj.Type == kmip.ObjectTypeSymmetricKey {
			return sealer.SealKey(ctx, obj.ID, pt)
		}
		return mb.Backend.Seal(ctx, obj.ID, pt)
	}
	bar := newProgressBar(errOut, "migrating")
	n, err := rewrapStore(ctx, db, need, convert, o.batch, bar.update)
	bar.finish()
	if err != nil {
		return fmt.Errorf("migration interrupted after %d blobs: %w (kmipd serve reads both backends meanwhile; run kmipd hsm migrate --to %s again to finish)", n, err, o.to)
	}
	versions, err := blobVersions(db, from)
	if err != nil {
		return err
	}
	if left := countBehind(versions, 0); left > 0 {
		return fmt.Errorf("%d blobs of the %s backend are left; run kmipd hsm migrate --to %s again", left, from, o.to)
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

// blobVersions counts the stored blobs of backend by master-key version.
func blobVersions(db *store.DB, backend string) (map[uint32]int, error) {
	counts := map[uint32]int{}
	err := db.View(func(tx *store.Tx) error {
		return scanBlobHeaders(tx, func(_ string, h hsm.Header) {
			if ownsKind(backend, h.Kind) {
				counts[h.KeyVersion]++
			}
		})
	})
	return counts, err
}

// scanBlobHeaders calls fn with the identifier and blob header of every
// stored object that has key material.
func scanBlobHeaders(tx *store.Tx, fn func(id string, h hsm.Header)) error {
	var derr error
	err := tx.Scan(func(r *store.Record) bool {
		var o objects.Object
		if derr = o.UnmarshalBinary(r.Data); derr != nil {
			derr = fmt.Errorf("object %q: %w", r.ID, derr)
			return false
		}
		if o.Blob == nil {
			return true
		}
		h, err := hsm.BlobKind(o.Blob)
		if err != nil {
			derr = fmt.Errorf("object %q: %w", r.ID, err)
			return false
		}
		fn(r.ID, h)
		return true
	})
	if err != nil {
		return err
	}
	return derr
}

// rewrapStore replaces the blob of every object whose blob header need
// selects by convert's result, and returns how many it replaced.
//
// It works in batches so that it can run beside readers and writers: a
// read-only transaction lists the objects to do, convert (the HSM work)
// runs outside any transaction, and a short write transaction stores a
// batch of results, skipping any object changed in the meantime (the next
// pass takes it up). Blobs are replaced one by one and every state in
// between is readable, so an interruption loses nothing; calling it again
// resumes.
func rewrapStore(ctx context.Context, db *store.DB, need func(hsm.Header) bool,
	convert func(context.Context, *objects.Object) ([]byte, error), batch int, progress func(done, total int)) (int, error) {
	if batch <= 0 {
		batch = 256
	}
	done, total := 0, -1
	for {
		var todo []string
		err := db.View(func(tx *store.Tx) error {
			return scanBlobHeaders(tx, func(id string, h hsm.Header) {
				if need(h) {
					todo = append(todo, id)
				}
			})
		})
		if err != nil {
			return done, err
		}
		if total < 0 {
			total = len(todo)
			progress(0, total)
		}
		if len(todo) == 0 {
			return done, nil
		}
		before := done
		for len(todo) > 0 {
			n := min(batch, len(todo))
			k, err := rewrapBatch(ctx, db, todo[:n], need, convert)
			done += k
			progress(min(done, total), total)
			if err != nil {
				return done, err
			}
			todo = todo[n:]
		}
		if done == before {
			return done, errors.New("objects keep changing under the re-wrap; try again")
		}
	}
}

// rewrapBatch converts the blobs of ids and stores those whose record did
// not change meanwhile.
func rewrapBatch(ctx context.Context, db *store.DB, ids []string, need func(hsm.Header) bool,
	convert func(context.Context, *objects.Object) ([]byte, error)) (int, error) {
	type item struct {
		rec  *store.Record
		data []byte
	}
	var recs []*store.Record
	err := db.View(func(tx *store.Tx) error {
		for _, id := range ids {
			r, err := tx.Get(id)
			if errors.Is(err, store.ErrNotFound) {
				continue // destroyed meanwhile
			}
			if err != nil {
				return err
			}
			recs = append(recs, r)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	var items []item
	for _, r := range recs {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		var o objects.Object
		if err := o.UnmarshalBinary(r.Data); err != nil {
			return 0, fmt.Errorf("object %q: %w", r.ID, err)
		}
		if o.Blob == nil {
			continue
		}
		if h, err := hsm.BlobKind(o.Blob); err != nil || !need(h) {
			continue
		}
		blob, err := convert(ctx, &o)
		if err != nil {
			return 0, fmt.Errorf("object %q: %w", r.ID, err)
		}
		o.Blob = blob
		data, err := o.MarshalBinary()
		if err != nil {
			return 0, fmt.Errorf("object %q: %w", r.ID, err)
		}
		items = append(items, item{r, data})
	}
	n := 0
	err = db.Update(func(tx *store.Tx) error {
		n = 0
		for _, it := range items {
			cur, err := tx.Get(it.rec.ID)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if !bytes.Equal(cur.Data, it.rec.Data) || cur.Owner != it.rec.Owner {
				continue // changed meanwhile: the next pass takes it up
			}
			if err := tx.Put(&store.Record{ID: cur.ID, Owner: cur.Owner, Data: it.data, Index: cur.Index}); err != nil {
				return fmt.Errorf("object %q: %w", cur.ID, err)
			}
			n++
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return n, nil
}

// updateConfigFile rewrites DIR/kmipd.yaml with fn applied to the settings
// in the file (without the environment's overrides), atomically.
func updateConfigFile(dir string, fn func(c *Config)) error {
	path := filepath.Join(dir, ConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	c := defaultConfig()
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	c.dir = dir
	fn(c)
	if err := c.validate(); err != nil {
		return err
	}
	out, err := c.marshal()
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, ConfigFile+".*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = tmp.Chmod(0o600)
	if err == nil {
		_, err = tmp.Write(out)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// progressBar draws "label [=====     ] done/total pct%" on one line.
type progressBar struct {
	w     io.Writer
	label string
	last  time.Time
	done  int
	total int
	drawn bool
}

func newProgressBar(w io.Writer, label string) *progressBar {
	return &progressBar{w: w, label: label}
}

func (p *progressBar) update(done, total int) {
	p.done, p.total = done, total
	if time.Since(p.last) < 100*time.Millisecond && done < total {
		return
	}
	p.last = time.Now()
	p.draw()
}

func (p *progressBar) draw() {
	const width = 30
	pct, fill := 100, width
	if p.total > 0 {
		pct, fill = p.done*100/p.total, p.done*width/p.total
	}
	fmt.Fprintf(p.w, "\r%s [%s%s] %d/%d %3d%%", p.label, strings.Repeat("=", fill), strings.Repeat(" ", width-fill), p.done, p.total, pct)
	p.drawn = true
}

func (p *progressBar) finish() {
	if !p.drawn {
		p.draw()
	}
	fmt.Fprintln(p.w)
}

// Online rotation over the control socket (see backup.go). The client sends
// "ROTATE 0\n" or "ROTATE 1\n" (keep old versions); the server answers with
// text lines: "P done total" progress, "M message", then "OK" or
// "E error".
const controlRotate = "ROTATE"

// requestRotate asks a serving kmipd to rotate and relays its report.
func requestRotate(conn net.Conn, out, errOut io.Writer, keepOld bool) error {
	keep := "0"
	if keepOld {
		keep = "1"
	}
	if _, err := io.WriteString(conn, controlRotate+" "+keep+"\n"); err != nil {
		return err
	}
	bar := newProgressBar(errOut, "re-wrapping")
	defer bar.finish()
	sc := bufio.NewScanner(conn)
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case "P":
			var done, total int
			fmt.Sscanf(rest, "%d %d", &done, &total)
			bar.update(done, total)
		case "M":
			fmt.Fprintln(out, rest)
		case "OK":
			return nil
		case "E":
			return errors.New("server: " + rest)
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	return errors.New("the server closed the control connection before the rotation ended")
}

// serveRotate runs a rotation inside the server and reports on w.
func serveRotate(w io.Writer, args string, dir string, be hsm.Backend, db *store.DB, forget func()) error {
	var mu sync.Mutex
	line := func(s string) {
		mu.Lock()
		defer mu.Unlock()
		io.WriteString(w, s+"\n")
	}
	msgs := &lineWriter{emit: func(s string) { line("M " + s) }}
	progress := func(done, total int) { line(fmt.Sprintf("P %d %d", done, total)) }
	err := rotate(context.Background(), msgs, progress, dir, be, db, strings.TrimSpace(args) == "1", 256, forget)
	if err != nil {
		line("E " + strings.ReplaceAll(err.Error(), "\n", " "))
		return err
	}
	line("OK")
	return nil
}

// lineWriter turns writes of whole lines into calls of emit.
type lineWriter struct {
	emit func(string)
	buf  []byte
}

func (l *lineWriter) Write(p []byte) (int, error) {
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		l.emit(string(l.buf[:i]))
		l.buf = l.buf[i+1:]
	}
}
