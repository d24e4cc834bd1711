package main

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kmipd/kmipd/kmip"
)

// kmipdEnv lists the variables applyEnv reads.
var kmipdEnv = []string{
	"KMIPD_LISTEN", "KMIPD_STORE", "KMIPD_TLS_CA", "KMIPD_TLS_CERT", "KMIPD_TLS_KEY",
	"KMIPD_TLS_MIN_VERSION", "KMIPD_LOG_LEVEL", "KMIPD_LOG_FORMAT", "KMIPD_ADMINS", "KMIPD_INTEROP",
}

// clearKMIPDEnv hides any KMIPD_* variable of the environment the tests run
// in (applyEnv treats empty as unset) until the test ends.
func clearKMIPDEnv(t *testing.T) {
	t.Helper()
	for _, k := range kmipdEnv {
		t.Setenv(k, "")
	}
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "KMIPD_") {
			t.Setenv(k, "")
		}
	}
}

// writeConfig replaces DIR/kmipd.yaml.
func writeConfig(t *testing.T, dir, yaml string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
}

// configDir is a directory holding only a kmipd.yaml with the given text.
func configDir(t *testing.T, yaml string) string {
	t.Helper()
	dir := t.TempDir()
	writeConfig(t, dir, yaml)
	return dir
}

func TestConfigPrecedenceFileThenEnv(t *testing.T) {
	clearKMIPDEnv(t)
	dir := configDir(t, `
listen: 127.0.0.1:1111
store: file.db
admins: [file-admin]
log:
  level: warn
  format: json
tls:
  min_version: "1.3"
`)
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:1111" || cfg.Store != "file.db" || cfg.Log.Level != "warn" ||
		cfg.Log.Format != "json" || cfg.TLS.MinVersion != "1.3" || !slices.Equal(cfg.Admins, []string{"file-admin"}) {
		t.Errorf("file settings not applied: %+v", cfg)
	}
	// Defaults fill what the file leaves out.
	if cfg.TLS.CA != "pki/ca.crt" || cfg.HSM.MasterKey != "master.key" || cfg.HSM.Backend != "software" {
		t.Errorf("defaults lost: %+v", cfg)
	}

	t.Setenv("KMIPD_LISTEN", "127.0.0.1:2222")
	t.Setenv("KMIPD_LOG_LEVEL", "debug")
	t.Setenv("KMIPD_ADMINS", "ops,sec")
	t.Setenv("KMIPD_TLS_MIN_VERSION", "1.2")
	cfg, err = loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Listen != "127.0.0.1:2222" || cfg.Log.Level != "debug" || cfg.TLS.MinVersion != "1.2" ||
		!slices.Equal(cfg.Admins, []string{"ops", "sec"}) {
		t.Errorf("environment did not override the file: %+v", cfg)
	}
	if cfg.Store != "file.db" || cfg.Log.Format != "json" {
		t.Errorf("unset variables changed file settings: store %q format %q", cfg.Store, cfg.Log.Format)
	}

	// The environment is validated like the file.
	t.Setenv("KMIPD_TLS_MIN_VERSION", "1.0")
	if _, err := loadConfig(dir); err == nil || !strings.Contains(err.Error(), "tls.min_version") {
		t.Errorf("KMIPD_TLS_MIN_VERSION=1.0: %v, want a tls.min_version error", err)
	}
	t.Setenv("KMIPD_TLS_MIN_VERSION", "")
	t.Setenv("KMIPD_INTEROP", "perhaps")
	if _, err := loadConfig(dir); err == nil || !strings.Contains(err.Error(), "KMIPD_INTEROP") {
		t.Errorf("KMIPD_INTEROP=perhaps: %v, want an error naming KMIPD_INTEROP", err)
	}
}

func TestConfigApplyEnv(t *testing.T) {
	env := map[string]string{
		"KMIPD_LISTEN":             "0.0.0.0:5696",
		"KMIPD_STORE":              "/var/lib/kmipd/kmipd.db",
		"KMIPD_TLS_CA":             "ca.pem",
		"KMIPD_TLS_CERT":           "cert.pem",
		"KMIPD_TLS_KEY":            "key.pem",
		"KMIPD_TLS_MIN_VERSION":    "1.3",
		"KMIPD_LOG_LEVEL":          "error",
		"KMIPD_LOG_FORMAT":         "json",
		"KMIPD_ADMINS":             "a,b,c",
		"KMIPD_INTEROP":            "true",
		"KMIPD_RNG_SEED":           "deny",
		"KMIPD_RNG_SEED_MAX_BYTES": "16",
		"KMIPD_HSM_STRICT":         "true",
	}
	c := defaultConfig()
	if err := c.applyEnv(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	got := []string{c.Listen, c.Store, c.TLS.CA, c.TLS.Cert, c.TLS.Key, c.TLS.MinVersion, c.Log.Level, c.Log.Format}
	want := []string{"0.0.0.0:5696", "/var/lib/kmipd/kmipd.db", "ca.pem", "cert.pem", "key.pem", "1.3", "error", "json"}
	if !slices.Equal(got, want) || !slices.Equal(c.Admins, []string{"a", "b", "c"}) || !c.Interop {
		t.Errorf("applyEnv: got %q admins %q interop %v", got, c.Admins, c.Interop)
	}
	if c.RNG.Seed != "deny" || c.RNG.SeedMaxBytes != 16 || !c.HSM.Strict {
		t.Errorf("applyEnv: rng %+v, hsm.strict %v", c.RNG, c.HSM.Strict)
	}

	// No variables: nothing changes.
	c, d := defaultConfig(), defaultConfig()
	if err := c.applyEnv(func(string) string { return "" }); err != nil {
		t.Fatal(err)
	}
	if c.Listen != d.Listen || c.Store != d.Store || !slices.Equal(c.Admins, d.Admins) || c.Interop {
		t.Errorf("empty environment changed the config: %+v", c)
	}
	if err := c.applyEnv(func(k string) string { return map[string]string{"KMIPD_INTEROP": "yes"}[k] }); err == nil {
		t.Error("KMIPD_INTEROP=yes accepted")
	}
}

// TestConfigAddrFlagWins runs the real `kmipd serve` command: the listen
// address comes from the file, is overridden by KMIPD_LISTEN, which --addr
// overrides in turn.
func TestConfigAddrFlagWins(t *testing.T) {
	fileAddr, envAddr, flagAddr := freePort(t), freePort(t), freePort(t)
	dir := initDir(t, "--listen", fileAddr)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"file", nil, []string{"--log-level", "info"}, fileAddr},
		{"env", []string{"KMIPD_LISTEN=" + envAddr}, []string{"--log-level", "info"}, envAddr},
		// --log-level must beat KMIPD_LOG_LEVEL too, or the info line
		// announcing the address never comes.
		{"flag", []string{"KMIPD_LISTEN=" + envAddr, "KMIPD_LOG_LEVEL=error"}, []string{"--addr", flagAddr, "--log-level", "info"}, flagAddr},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := startServer(t, dir, tc.env, tc.args...)
			if srv.addr != tc.want {
				t.Errorf("server listens on %s, want %s", srv.addr, tc.want)
			}
			srv.stop(t)
		})
	}
}

func TestConfigRejectsUnknownKeys(t *testing.T) {
	clearKMIPDEnv(t)
	for _, tc := range []struct{ yaml, key string }{
		{"listne: 127.0.0.1:5696\n", "listne"},
		{"tls:\n  min_verison: \"1.3\"\n", "min_verison"},
		{"limits:\n  max_conections: 10\n", "max_conections"},
		{"log:\n  level: info\n  colour: true\n", "colour"},
	} {
		dir := configDir(t, tc.yaml)
		_, err := loadConfig(dir)
		if err == nil {
			t.Errorf("%q accepted", tc.yaml)
			continue
		}
		if !strings.Contains(err.Error(), tc.key) {
			t.Errorf("%q: error %q does not name %q", tc.yaml, err, tc.key)
		}
		if !strings.Contains(err.Error(), ConfigFile) {
			t.Errorf("%q: error %q does not name the file", tc.yaml, err)
		}
	}
}

func TestConfigValidation(t *testing.T) {
	clearKMIPDEnv(t)
	for _, tc := range []struct {
		yaml    string
		wantErr string // "" means valid
	}{
		{`tls: {min_version: "1.2"}`, ""},
		{`tls: {min_version: "1.3"}`, ""},
		{`tls: {min_version: "1.1"}`, "tls.min_version"},
		{`tls: {min_version: "1.0"}`, "tls.min_version"},
		{`tls: {min_version: "TLS1.1"}`, "tls.min_version"},
		{`tls: {min_version: 1.0}`, "tls.min_version"},
		{`tls: {cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384]}`, ""},
		{`tls: {cipher_suites: [TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384, TLS_NULL_WITH_ROT13]}`, "TLS_NULL_WITH_ROT13"},
		{`tls: {cipher_suites: [tls_ecdhe_ecdsa_with_aes_256_gcm_sha384]}`, "cipher"},
		{`hsm: {backend: pkcs11}`, "hsm.backend"},
		{`log: {format: xml}`, "log.format"},
		{`limits: {read_timeout: 30 seconds}`, "30 seconds"},
		{`rng: {seed: deny}`, ""},
		{`rng: {seed: ignore, seed_max_bytes: 16}`, ""},
		{`rng: {seed: sometimes}`, "rng.seed"},
		{`rng: {seed_max_bytes: -1}`, "rng.seed_max_bytes"},
	} {
		dir := configDir(t, tc.yaml+"\n")
		_, err := loadConfig(dir)
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.yaml, err)
		case tc.wantErr != "" && err == nil:
			t.Errorf("%s accepted", tc.yaml)
		case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("%s: error %q does not mention %q", tc.yaml, err, tc.wantErr)
		}
	}

	cfg, err := loadConfig(configDir(t, "limits: {read_timeout: 45s, idle_timeout: 2m}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if time.Duration(cfg.Limits.ReadTimeout) != 45*time.Second || time.Duration(cfg.Limits.IdleTimeout) != 2*time.Minute {
		t.Errorf("durations: read %v idle %v", time.Duration(cfg.Limits.ReadTimeout), time.Duration(cfg.Limits.IdleTimeout))
	}
}

func TestConfigRelativePaths(t *testing.T) {
	clearKMIPDEnv(t)
	abs := filepath.Join(t.TempDir(), "elsewhere.db")
	dir := configDir(t, "store: data/k.db\ntls: {ca: /etc/kmipd/ca.crt}\n")
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range [][2]string{
		{cfg.path(cfg.Store), filepath.Join(dir, "data", "k.db")},
		{cfg.path(cfg.TLS.CA), "/etc/kmipd/ca.crt"},
		{cfg.path(cfg.TLS.Cert), filepath.Join(dir, "pki", "server.crt")},
		{cfg.path(cfg.TLS.Key), filepath.Join(dir, "pki", "server.key")},
		{cfg.path(cfg.HSM.MasterKey), filepath.Join(dir, "master.key")},
		{cfg.path(abs), abs},
	} {
		if tc[0] != tc[1] {
			t.Errorf("resolved %s, want %s", tc[0], tc[1])
		}
	}

	// End to end: serve from another working directory puts the store
	// next to the config, not into the working directory.
	dir = initDir(t)
	writeConfig(t, dir, "listen: 127.0.0.1:0\nstore: rel-store.db\nlog: {level: warn, format: json}\n")
	cwd := t.TempDir()
	t.Chdir(cwd)
	cfg, err = loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	srv := serveInProcess(t, cfg)
	if err := srv.stop(); err != nil {
		t.Fatalf("serve: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "rel-store.db")); err != nil {
		t.Errorf("store not created next to the config: %v", err)
	}
	if _, err := os.Stat(filepath.Join(cwd, "rel-store.db")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("store created in the working directory: %v", err)
	}
}

// TestConfigTLSTakesEffect checks that tls.min_version and tls.cipher_suites
// reach the listener: handshakes outside them fail, inside them succeed.
func TestConfigTLSTakesEffect(t *testing.T) {
	clearKMIPDEnv(t)
	dir := initDir(t)
	// handshake connects with a tweaked client configuration and does one
	// KMIP round trip: in TLS 1.3 the server's verdict on the client only
	// shows on the first read.
	n := 0
	handshake := func(addr string, tweak func(*tls.Config)) error {
		cfg := clientTLS(t, dir)
		tweak(cfg)
		c, err := kmip.Dial(addr, cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		c.Timeout = 10 * time.Second
		n++
		_, err = createKey(c, fmt.Sprintf("handshake-%d", n))
		return err
	}

	t.Run("min_version 1.3", func(t *testing.T) {
		cfg, err := loadConfig(dir)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Listen, cfg.TLS.MinVersion = "127.0.0.1:0", "1.3"
		cfg.Log.Level = "error"
		srv := serveInProcess(t, cfg)
		if err := handshake(srv.addr, func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }); err == nil {
			t.Error("TLS 1.2 handshake accepted with min_version 1.3")
		}
		c := dialKMIP(t, dir, srv.addr)
		if _, err := createKey(c, "tls13"); err != nil {
			t.Errorf("TLS 1.3 client: %v", err)
		}
	})
	t.Run("default refuses TLS 1.1", func(t *testing.T) {
		cfg, err := loadConfig(dir)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Listen, cfg.Log.Level = "127.0.0.1:0", "error"
		srv := serveInProcess(t, cfg)
		if err := handshake(srv.addr, func(c *tls.Config) { c.MinVersion, c.MaxVersion = tls.VersionTLS10, tls.VersionTLS11 }); err == nil {
			t.Error("TLS 1.1 handshake accepted")
		}
		if err := handshake(srv.addr, func(c *tls.Config) { c.MaxVersion = tls.VersionTLS12 }); err != nil {
			t.Errorf("TLS 1.2 refused by default: %v", err)
		}
	})
	t.Run("cipher_suites", func(t *testing.T) {
		cfg, err := loadConfig(dir)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Listen, cfg.Log.Level = "127.0.0.1:0", "error"
		cfg.TLS.CipherSuites = []string{"TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384"}
		srv := serveInProcess(t, cfg)
		only := func(id uint16) func(*tls.Config) {
			return func(c *tls.Config) { c.MaxVersion, c.CipherSuites = tls.VersionTLS12, []uint16{id} }
		}
		if err := handshake(srv.addr, only(tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256)); err == nil {
			t.Error("TLS 1.2 handshake with a suite outside tls.cipher_suites accepted")
		}
		if err := handshake(srv.addr, only(tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384)); err != nil {
			t.Errorf("configured suite refused: %v", err)
		}
	})
}
