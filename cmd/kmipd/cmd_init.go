package main

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/hsm/soft"
	"github.com/kmipd/kmipd/internal/pki"
)

type initOptions struct {
	dir     string
	hosts   []string
	clients []string
	listen  string
	hsm     string // key backend: software or pkcs11
	hsmFlags
}

func newInitCmd() *cobra.Command {
	o := &initOptions{}
	cmd := &cobra.Command{
		Use:   "init --dir DIR",
		Short: "Write a development set-up: dev CA and certificates, config, master key, store path",
		Long: `init writes a working development set-up into DIR:
  DIR/pki/ca.crt, ca.key          development CA
  DIR/pki/server.crt, server.key  server certificate (SANs 127.0.0.1, ::1, localhost, host name)
  DIR/pki/admin.crt, admin.key    client certificate of the admin identity (CN admin)
  DIR/pki/client.crt, client.key  the same admin certificate, under the name clients default to
  DIR/pki/<cn>.crt, <cn>.key      one plain (non-admin) identity per --client
  DIR/kmipd.yaml                  configuration
  DIR/master.key                  master key of the software key backend (0600)
                                  (with --hsm pkcs11: master keys created on the token instead;
                                  the user PIN comes from KMIPD_PKCS11_PIN or --pkcs11-pin-file)
  DIR/kmipd.db                    the bbolt store (created by serve)
It refuses to overwrite an existing set-up.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runInit(cmd, o) },
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "directory to write (created if missing)")
	cmd.Flags().StringSliceVar(&o.hosts, "host", nil, "server certificate SANs (default 127.0.0.1, ::1, localhost and the host name)")
	cmd.Flags().StringSliceVar(&o.clients, "client", nil, "further client certificate CNs to issue, as plain identities that see only their own objects (admin is always issued)")
	cmd.Flags().StringVar(&o.listen, "listen", "127.0.0.1:5696", "listen address written to the config")
	cmd.Flags().StringVar(&o.hsm, "hsm", backendSoftware, "key backend: software (master key file) or pkcs11 (HSM)")
	o.hsmFlags.register(cmd)
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func runInit(cmd *cobra.Command, o *initOptions) error {
	cfg := defaultConfig()
	cfg.Listen = o.listen
	cfg.dir = o.dir
	if err := initBackendConfig(cfg, o.hsm, &o.hsmFlags); err != nil {
		return err
	}
	// The admin is always the dev admin certificate, CN "admin", and
	// --client names only plain identities: choosing the first --client as
	// admin silently let `--client alice,bob` give alice every object.
	// "admin" among --client is accepted (it is issued anyway) so that
	// `--client admin,backup` keeps working.
	admin := pki.DefaultClientName
	cfg.Admins = []string{admin}
	clients := []string{admin}
	for _, c := range o.clients {
		if c != admin {
			clients = append(clients, c)
		}
	}
	cfgPath := filepath.Join(o.dir, ConfigFile)
	pkiDir := filepath.Join(o.dir, "pki")
	keyPath := filepath.Join(o.dir, cfg.HSM.MasterKey)
	// All or nothing: refuse before writing anything if any part exists.
	for _, p := range []string{cfgPath, pkiDir, keyPath} {
		if _, err := os.Stat(p); err == nil {
			return fmt.Errorf("%s exists: %w (remove the directory to start over)", p, fs.ErrExist)
		}
	}
	bundle, err := pki.Generate(pki.Options{Hosts: o.hosts, ClientNames: clients})
	if err != nil {
		return err
	}
	if err := os.MkdirAll(o.dir, 0o700); err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(pkiDir)
			os.Remove(keyPath)
			os.Remove(cfgPath)
		}
	}()
	if err := bundle.WriteDir(pkiDir); err != nil {
		return err
	}
	if cfg.HSM.Backend == backendSoftware {
		if err := soft.CreateMasterKey(keyPath); err != nil {
			return err
		}
	}
	data, err := cfg.marshal()
	if err != nil {
		return err
	}
	if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
		return err
	}
	if cfg.HSM.Backend == backendPKCS11 {
		if err := createMasterKey(cfg); err != nil {
			return err
		}
		fmt.Fprintf(cmd.OutOrStdout(), "kmipd: created master keys %s-v1 on PKCS#11 token %q\n", cfg.HSM.KEKLabel, cfg.HSM.PKCS11Token)
	}
	ok = true
	out := cmd.OutOrStdout()
	fmt.Fprintf(out, "kmipd: wrote a development set-up in %s\n", o.dir)
	fmt.Fprintf(out, "  admin identities (see every object): %s (pki/%s.crt, also pki/client.crt)\n", strings.Join(cfg.Admins, ", "), admin)
	if plain := clients[1:]; len(plain) > 0 {
		fmt.Fprintf(out, "  plain identities (own objects only): %s (pki/<cn>.crt)\n", strings.Join(plain, ", "))
	}
	return nil
}
