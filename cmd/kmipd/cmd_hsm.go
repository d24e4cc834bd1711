package main

import (
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
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/hsm/pkcs11"
	"github.com/kmipd/kmipd/hsm/soft"
	"github.com/kmipd/kmipd/internal/control"
	"github.com/kmipd/kmipd/internal/progress"
	"github.com/kmipd/kmipd/internal/rotation"
	"github.com/kmipd/kmipd/store"
)

// Key backends (hsm.backend).
const (
	backendSoftware = rotation.Software
	backendPKCS11   = rotation.PKCS11
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
	return &rotation.Migrating{Backend: primary, Old: old}, nil
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
		return nil, fmt.Errorf("store: %w", err)
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
		return control.RequestRotate(conn, out, errOut, o.keepOld)
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
	bar := progress.NewBar(errOut, "re-wrapping")
	defer bar.Finish()
	return rotateStore(ctx, out, bar.Update, o.dir, be, db, o.keepOld, o.batch, nil)
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
	if cfg.HSM.MigrateFrom != "" {
		return fmt.Errorf("a migration from %s to %s is unfinished: run kmipd hsm migrate --to %s first", cfg.HSM.MigrateFrom, cfg.HSM.Backend, cfg.HSM.Backend)
	}
	return rotation.Rotate(ctx, be, db, rotation.RotateOptions{
		Out: out, Progress: progress, KeepOld: keepOld, Batch: batch, Forget: forget,
		SaveKeyVersion: func(v uint32) error {
			return updateConfigFile(dir, func(c *Config) { c.HSM.KEKVersion = v })
		},
	})
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
