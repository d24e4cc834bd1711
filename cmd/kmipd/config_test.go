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
		{`hsm: {pkcs11_functions: [1, 2, 3, 5, 7]}`, ""},
		{`hsm: {pkcs11_functions: [19]}`, "hsm.pkcs11_functions"},
		{`hsm: {pkcs11_functions: [0]}`, "hsm.pkcs11_functions"},
		{`async: {limit: 2, ttl: 1m}`, ""},
		{`async: {ttl: -1s}`, "async.ttl"},
		{`server_to_client: {enabled: true, queue: 16, put: true}`, ""},
		{`server_to_client: {queue: -1}`, "server_to_client.queue"},
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

// Ensure that the connection limits and the identity source load from the
// file and the environment, are validated, and are written out by default.
func TestConfigConnectionLimitsAndIdentity(t *testing.T) {
	clearKMIPDEnv(t)
	d := defaultConfig()
	out, err := d.marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"max_handshakes: 256", "max_handshakes_per_address: 32", "max_connections_per_identity: 128",
		"max_connections_per_address: 256", "max_header_bytes: 16384", "header_read_timeout: 10s",
		"identity:\n    source: cn",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("default config does not write out %q:\n%s", want, out)
		}
	}

	dir := configDir(t, `
identity: {source: san-uri}
limits:
  max_handshakes: 100
  max_handshakes_per_address: 10
  max_connections_per_identity: 20
  max_connections_per_address: 30
  max_header_bytes: 8192
  header_read_timeout: 5s
`)
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	l := cfg.Limits
	if l.MaxHandshakes != 100 || l.MaxHandshakesPerAddress != 10 || l.MaxConnectionsPerIdentity != 20 ||
		l.MaxConnectionsPerAddress != 30 || l.MaxHeaderBytes != 8192 || time.Duration(l.HeaderReadTimeout) != 5*time.Second ||
		cfg.Identity.Source != "san-uri" {
		t.Errorf("file settings not applied: %+v, identity %q", l, cfg.Identity.Source)
	}
	// Unset limits keep their defaults.
	if l.MaxConnections != kmip.DefaultMaxConns || time.Duration(l.HandshakeTimeout) != kmip.DefaultHandshakeTimeout {
		t.Errorf("defaults lost: %+v", l)
	}

	env := map[string]string{
		"KMIPD_LIMITS_MAX_HANDSHAKES":               "7",
		"KMIPD_LIMITS_MAX_HANDSHAKES_PER_ADDRESS":   "3",
		"KMIPD_LIMITS_MAX_CONNECTIONS_PER_IDENTITY": "64",
		"KMIPD_LIMITS_MAX_CONNECTIONS_PER_ADDRESS":  "65",
		"KMIPD_LIMITS_MAX_HEADER_BYTES":             "4096",
		"KMIPD_LIMITS_HEADER_READ_TIMEOUT":          "2s",
		"KMIPD_LIMITS_READ_TIMEOUT":                 "3s",
		"KMIPD_LIMITS_MAX_CONNECTIONS":              "99",
		"KMIPD_IDENTITY_SOURCE":                     "fingerprint",
	}
	for k, v := range env {
		t.Setenv(k, v)
	}
	cfg, err = loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	l = cfg.Limits
	if l.MaxHandshakes != 7 || l.MaxHandshakesPerAddress != 3 || l.MaxConnectionsPerIdentity != 64 ||
		l.MaxConnectionsPerAddress != 65 || l.MaxHeaderBytes != 4096 || time.Duration(l.HeaderReadTimeout) != 2*time.Second ||
		time.Duration(l.ReadTimeout) != 3*time.Second || l.MaxConnections != 99 || cfg.Identity.Source != "fingerprint" {
		t.Errorf("environment not applied: %+v, identity %q", l, cfg.Identity.Source)
	}
	for k, bad := range map[string]string{"KMIPD_LIMITS_MAX_HANDSHAKES": "many", "KMIPD_LIMITS_HEADER_READ_TIMEOUT": "10 seconds"} {
		t.Setenv(k, bad)
		if _, err := loadConfig(dir); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=%s: %v, want an error naming it", k, bad, err)
		}
		t.Setenv(k, env[k])
	}
	clearKMIPDEnv(t)

	for _, tc := range []struct{ yaml, wantErr string }{
		{`identity: {source: cn}`, ""},
		{`identity: {source: san-email}`, ""},
		{`identity: {source: subject}`, "identity.source"},
		{`identity: {source: CN}`, "identity.source"},
		{`limits: {max_handshakes: 0}`, "limits.max_handshakes 0"},
		{`limits: {max_handshakes_per_address: -1}`, "limits.max_handshakes_per_address"},
		{`limits: {max_connections_per_identity: 0}`, "limits.max_connections_per_identity"},
		{`limits: {max_connections_per_address: 0}`, "limits.max_connections_per_address"},
		{`limits: {max_header_bytes: 0}`, "limits.max_header_bytes"},
		{`limits: {header_read_timeout: 0s}`, "limits.header_read_timeout"},
		{`limits: {max_connections: 0}`, "limits.max_connections"},
		{`limits: {idle_timeout: -1m}`, "limits.idle_timeout"},
		{`identity: {sourse: cn}`, "sourse"},
		{`hsm: {pool_wait: 2s}`, ""},
		{`hsm: {pool_wait: -1s}`, "hsm.pool_wait"},
		{`hsm: {key_cache: 0}`, ""},
		{`hsm: {key_cache: 4096}`, ""},
		{`hsm: {key_cache: 4097}`, "hsm.key_cache"},
		{`hsm: {key_cache: -1}`, "hsm.key_cache"},
	} {
		_, err := loadConfig(configDir(t, tc.yaml+"\n"))
		switch {
		case tc.wantErr == "" && err != nil:
			t.Errorf("%s: %v", tc.yaml, err)
		case tc.wantErr != "" && err == nil:
			t.Errorf("%s accepted", tc.yaml)
		case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
			t.Errorf("%s: error %q does not mention %q", tc.yaml, err, tc.wantErr)
		}
	}
}

// Ensure that the limits and the identity source reach the listener of
// kmipd serve: the per-identity cap refuses a third connection, and with
// identity.source fingerprint objects belong to the certificate's hash.
func TestConfigConnectionLimitsTakeEffect(t *testing.T) {
	clearKMIPDEnv(t)
	dir := initDir(t)
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Listen, cfg.Log.Level = "127.0.0.1:0", "error"
	cfg.Limits.MaxConnectionsPerIdentity = 2
	srv := serveInProcess(t, cfg)
	for i := range 2 {
		c := dialKMIP(t, dir, srv.addr)
		if _, err := createKey(c, fmt.Sprintf("cap-%d", i)); err != nil {
			t.Fatalf("connection %d under the cap: %v", i+1, err)
		}
	}
	c, err := kmip.Dial(srv.addr, clientTLS(t, dir))
	if err == nil {
		c.Timeout = 5 * time.Second
		_, err = createKey(c, "over-cap")
		c.Close()
	}
	if err == nil {
		t.Error("third connection of one identity served with max_connections_per_identity 2")
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}

	// Objects created under identity.source fingerprint belong to the
	// certificate's hash, not to its CN: the same client under cn, not an
	// admin, does not find them.
	cfg.Limits.MaxConnectionsPerIdentity = kmip.DefaultMaxConnsPerIdentity
	cfg.Identity.Source, cfg.Admins = "fingerprint", nil
	srv = serveInProcess(t, cfg)
	id, err := createKey(dialKMIP(t, dir, srv.addr), "by-fingerprint")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.stop(); err != nil {
		t.Fatal(err)
	}
	cfg.Identity.Source = "cn"
	srv = serveInProcess(t, cfg)
	if _, err := getKey(dialKMIP(t, dir, srv.addr), id); !isKMIPError(err) {
		t.Errorf("Get by CN of an object created by fingerprint: %v, want a KMIP error (Object Not Found)", err)
	}
}

// Ensure that kmipd config check shows the connection limits and warns
// about admins no client can have as its identity.
func TestConfigCheckIdentityAndLimits(t *testing.T) {
	clearKMIPDEnv(t)
	dir := initDir(t, "--host", "127.0.0.1")
	out, err := runCLI("config", "check", "--dir", dir)
	if err != nil || strings.Contains(out, "WARN  admins") || !strings.Contains(out, "ok    identity.source cn") ||
		!strings.Contains(out, "256 TLS handshakes in progress (32 per address), 1024 connections (128 per identity, 256 per address)") {
		t.Fatalf("a fresh set-up: %v\n%s", err, out)
	}
	data, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.Replace(string(data), "source: cn", "source: fingerprint", 1)
	cfg = strings.Replace(cfg, "max_handshakes_per_address: 32", "max_handshakes_per_address: 300", 1)
	writeConfig(t, dir, cfg)
	out, err = runCLI("config", "check", "--dir", dir)
	if err != nil || !strings.Contains(out, `WARN  admins "admin": no client can have this identity (identity.source fingerprint)`) ||
		!strings.Contains(out, "WARN  limits.max_handshakes_per_address 300") {
		t.Errorf("fingerprint identities with a CN admin: %v\n%s", err, out)
	}
}

// Ensure that hsm.key_cache defaults to pkcs11.DefaultKeyCache and that an
// explicit 0 turns the cache off rather than meaning the default.
func TestConfigKeyCache(t *testing.T) {
	clearKMIPDEnv(t)
	t.Setenv(envPKCS11PIN, "1234")
	for yaml, want := range map[string]int{`listen: 127.0.0.1:5696`: 64, `hsm: {key_cache: 0}`: 0, `hsm: {key_cache: 8}`: 8} {
		c, err := loadConfig(configDir(t, yaml+"\n"))
		if err != nil {
			t.Fatalf("%s: %v", yaml, err)
		}
		if c.HSM.KeyCache != want {
			t.Errorf("%s: hsm.key_cache %d, want %d", yaml, c.HSM.KeyCache, want)
		}
		opts, err := pkcs11Options(c)
		if err != nil || opts.KeyCache != want {
			t.Errorf("%s: pkcs11 options KeyCache %d, %v; want %d", yaml, opts.KeyCache, err, want)
		}
	}
}
