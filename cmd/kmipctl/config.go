package main

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"
	"go.yaml.in/yaml/v3"
)

// fileConfig is the config file, ~/.config/kmipctl/config.yaml (or
// $XDG_CONFIG_HOME/kmipctl/config.yaml, or --config, or KMIPCTL_CONFIG):
//
//	server: kms.example.com:5696
//	ca: /etc/kmipctl/ca.crt
//	cert: client.crt        # relative paths are relative to the file
//	key: client.key
//	version: "2.1"
//	output: json
//
// A value applies when neither its flag nor its environment variable is
// set.
type fileConfig struct {
	Server  string `yaml:"server"`
	CA      string `yaml:"ca"`
	Cert    string `yaml:"cert"`
	Key     string `yaml:"key"`
	Version string `yaml:"version"`
	Output  string `yaml:"output"`
}

// defaultConfigPath returns ~/.config/kmipctl/config.yaml, honouring
// XDG_CONFIG_HOME; "" when there is no home directory.
func defaultConfigPath() string {
	dir := os.Getenv("XDG_CONFIG_HOME")
	if dir == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			return ""
		}
		dir = filepath.Join(home, ".config")
	}
	return filepath.Join(dir, "kmipctl", "config.yaml")
}

// applyConfig reads the config file and sets the flags of cmd that were
// given neither on the command line nor in the environment.
func applyConfig(cmd *cobra.Command) error {
	switch cmd.Name() {
	case "help", "completion", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
		return nil
	}
	path, _ := cmd.Flags().GetString(flagConfig)
	explicit := path != ""
	if !explicit {
		if path = defaultConfigPath(); path == "" {
			return nil
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		if !explicit && errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return usageErrorf("config file: %v", err)
	}
	var cfg fileConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&cfg); err != nil && !errors.Is(err, io.EOF) {
		return usageErrorf("config file %s: %v", path, err)
	}
	rel := func(p string) string {
		if p == "" || filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(filepath.Dir(path), p)
	}
	for _, s := range []struct{ flag, env, value string }{
		{flagServer, connEnv[flagServer], cfg.Server},
		{flagCA, connEnv[flagCA], rel(cfg.CA)},
		{flagCert, connEnv[flagCert], rel(cfg.Cert)},
		{flagKey, connEnv[flagKey], rel(cfg.Key)},
		{flagVersion, optEnv[flagVersion], cfg.Version},
		{flagOutput, optEnv[flagOutput], cfg.Output},
	} {
		f := cmd.Flags().Lookup(s.flag)
		if s.value == "" || f == nil || f.Changed || os.Getenv(s.env) != "" {
			continue
		}
		if err := f.Value.Set(s.value); err != nil {
			return usageErrorf("config file %s: %s: %v", path, s.flag, err)
		}
	}
	return nil
}
