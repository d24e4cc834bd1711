package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/hsm/pkcs11"
	"github.com/kmipd/kmipd/hsm/soft"
	"github.com/kmipd/kmipd/internal/rotation"
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
		PoolWait:   time.Duration(cfg.HSM.PoolWait),
		KeyCache:   cfg.HSM.KeyCache,
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
