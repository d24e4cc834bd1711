package main

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"go.yaml.in/yaml/v3"

	"github.com/kmipd/kmipd/hsm/pkcs11"
	"github.com/kmipd/kmipd/internal/audit"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/ttlv"
)

// ConfigFile is the name of the configuration file inside a kmipd directory.
const ConfigFile = "kmipd.yaml"

// Config is kmipd's configuration. Values come from the config file, then
// KMIPD_* environment variables, then command-line flags. Relative paths are
// relative to the directory holding the config file.
type Config struct {
	Listen string `yaml:"listen"`
	// AdminAddr, when set, serves /metrics, /healthz and /readyz there.
	AdminAddr string `yaml:"admin_addr"`
	// Store is the bbolt file (a path, or bbolt:PATH) or the etcd cluster
	// (etcd://HOST:PORT[,HOST:PORT...]) holding the objects (storeloc.go).
	Store string `yaml:"store"`
	// Etcd configures the connection to an etcd store.
	Etcd etcdConfig `yaml:"etcd,omitempty"`
	// Node names this server among the nodes sharing an etcd store, in
	// logs, audit records and metrics (default: the host name).
	Node string `yaml:"node,omitempty"`
	TLS  struct {
		CA           string   `yaml:"ca"`
		Cert         string   `yaml:"cert"`
		Key          string   `yaml:"key"`
		MinVersion   string   `yaml:"min_version"`   // "1.2" or "1.3"
		CipherSuites []string `yaml:"cipher_suites"` // TLS 1.2 only; Go names
	} `yaml:"tls"`
	HSM struct {
		Backend   string `yaml:"backend"`    // "software" or "pkcs11"
		MasterKey string `yaml:"master_key"` // software backend
		// PKCS#11 backend (backend.go). The PIN comes from KMIPD_PKCS11_PIN
		// or PINFile, never from the config or a flag.
		PKCS11Module string `yaml:"pkcs11_module,omitempty"`
		PKCS11Token  string `yaml:"pkcs11_token,omitempty"`
		PINFile      string `yaml:"pin_file,omitempty"`
		KEKLabel     string `yaml:"kek_label,omitempty"`   // master-key label prefix
		KEKVersion   uint32 `yaml:"kek_version,omitempty"` // current master-key version
		PoolSize     int    `yaml:"pool_size,omitempty"`   // PKCS#11 sessions
		// PoolWait bounds an operation's wait for a free PKCS#11 session
		// (0: pkcs11.DefaultPoolWait); it then fails (General Failure).
		PoolWait Duration `yaml:"pool_wait,omitempty"`
		// KeyCache is how many unwrapped keys each PKCS#11 session keeps
		// for operations inside the HSM (default
		// pkcs11.DefaultKeyCache; 0: none).
		KeyCache int `yaml:"key_cache"`
		// MigrateFrom names the previous backend while `kmipd hsm
		// migrate` is unfinished; its blobs stay readable.
		MigrateFrom string `yaml:"migrate_from,omitempty"`
		// Strict refuses what the HSM cannot do with a key it holds, even
		// for a key a client could Get; by default such a key (Extractable,
		// not Sensitive) is used in kmipd instead.
		Strict bool `yaml:"strict,omitempty"`
		// PKCS11Functions are the PKCS#11 functions (their numbers in the
		// PKCS#11 v2.40 function list, C_Initialize = 1) clients may have
		// kmipd call with the PKCS#11 operation; empty: C_Initialize,
		// C_Finalize and C_GetInfo. Token administration and login never.
		PKCS11Functions []uint32 `yaml:"pkcs11_functions,omitempty"`
	} `yaml:"hsm"`
	// Admins are client identities (see Identity) that see every object.
	Admins []string `yaml:"admins"`
	// Access is the access model: tenants and roles (access.go).
	Access *accessConfig `yaml:"access,omitempty"`
	// Identity says which client certificate field names the client.
	Identity struct {
		// Source is cn (default), san-uri, san-email or fingerprint.
		Source string `yaml:"source"`
	} `yaml:"identity"`
	Limits struct {
		MaxMessageSize int `yaml:"max_message_size"`
		MaxBatchItems  int `yaml:"max_batch_items"`
		MaxDepth       int `yaml:"max_depth"`
		// Established connections: in all, per identity, per address.
		MaxConnections            int `yaml:"max_connections"`
		MaxConnectionsPerIdentity int `yaml:"max_connections_per_identity"`
		MaxConnectionsPerAddress  int `yaml:"max_connections_per_address"`
		// TLS handshakes in progress: in all, per address.
		MaxHandshakes           int      `yaml:"max_handshakes"`
		MaxHandshakesPerAddress int      `yaml:"max_handshakes_per_address"`
		HandshakeTimeout        Duration `yaml:"handshake_timeout"`
		ReadTimeout             Duration `yaml:"read_timeout"`
		WriteTimeout            Duration `yaml:"write_timeout"`
		IdleTimeout             Duration `yaml:"idle_timeout"`
		// KMIP over HTTPS: request line and headers.
		MaxHeaderBytes    int      `yaml:"max_header_bytes"`
		HeaderReadTimeout Duration `yaml:"header_read_timeout"`
		// One attribute's encoded value, and attribute instances per object.
		MaxAttributeSize int `yaml:"max_attribute_size"`
		MaxAttributes    int `yaml:"max_attributes"`
		// Asymmetric keys kept parsed in memory for Sign, Verify and RSA.
		ParsedKeys int `yaml:"parsed_keys"`
	} `yaml:"limits"`
	Log struct {
		Level  string `yaml:"level"`  // debug, info, warn, error
		Format string `yaml:"format"` // json or console
	} `yaml:"log"`
	// GroupCommit lets concurrent Creates share one fsync (default true;
	// false is for measuring what it gains).
	GroupCommit bool `yaml:"group_commit"`
	// RNG is what RNG Seed does with seeds clients send.
	RNG struct {
		// Seed is accept (mix into the generator's pool), ignore (answer
		// Data Length 0) or deny (Permission Denied).
		Seed string `yaml:"seed"`
		// SeedMaxBytes caps the bytes taken from one seed; 0: no cap.
		SeedMaxBytes int `yaml:"seed_max_bytes"`
	} `yaml:"rng"`
	// Async bounds asynchronous operations (Locate with the client's
	// Asynchronous Indicator, then Poll or Cancel): Limit outstanding per
	// identity (0: 4; negative: none, every request answered at once), and
	// how long a finished one's result waits for Poll (0: 10m).
	Async struct {
		Limit int      `yaml:"limit"`
		TTL   Duration `yaml:"ttl"`
	} `yaml:"async"`
	// ServerToClient lets a KMIP 2.x client hand its connection over with
	// Set Endpoint Role Server and receive a Notify, with the attributes
	// that changed, for each change to its objects; Queue bounds what waits for one such connection
	// (0: 64; beyond it new messages are dropped and counted).
	// With Put, a new object is sent as a Put carrying its value (served as
	// a Get by its owner, audited as one) instead of a Notify.
	ServerToClient struct {
		Enabled bool `yaml:"enabled"`
		Queue   int  `yaml:"queue"`
		Put     bool `yaml:"put"`
	} `yaml:"server_to_client"`
	// Names says where a Name must be unique: object (default: an object's
	// names are distinct, objects may share one) or owner (one live object
	// of an owner per name; destroying it frees the name).
	Names struct {
		Unique string `yaml:"unique"`
	} `yaml:"names"`
	// Interop enables the KMIP Interop operation (Reset wipes the store),
	// for conformance runs only (KMIP 2.0 §6.1.25: never in production).
	Interop bool `yaml:"interop"`
	// Audit is the tamper-evident audit trail of every operation (see
	// cmd/kmipd/audit.go and package internal/audit).
	Audit struct {
		Enabled bool   `yaml:"enabled"`
		Path    string `yaml:"path"` // JSON lines, hash-chained
		Key     string `yaml:"key"`  // HMAC key of the signed checkpoints
		// FailClosed refuses operations (General Failure) while the trail
		// cannot be written; false logs the failure and carries on.
		FailClosed         bool     `yaml:"fail_closed"`
		Sync               string   `yaml:"sync"` // always, interval or none
		SyncInterval       Duration `yaml:"sync_interval"`
		CheckpointInterval int      `yaml:"checkpoint_interval"` // records between signed checkpoints
		CheckpointPeriod   Duration `yaml:"checkpoint_period"`   // sign pending records at least this often
		// WALSize is the size in bytes of the write-ahead ring that holds
		// records not yet in the trail file (audit.Options.WALSize); when
		// it is full, requests wait for room.
		WALSize int `yaml:"wal_size"`
		// QueueSize is accepted for configurations written before the
		// ring replaced the writer's queue; it has no effect.
		QueueSize int `yaml:"queue_size,omitempty"`

		// Sinks stream every record to a SIEM too (audit_sinks.go).
		Sinks []AuditSink `yaml:"sinks,omitempty"`
	} `yaml:"audit"`
	// Certify makes kmipd a certificate authority (cmd/kmipd/certify.go).
	Certify certifyConfig `yaml:"certify,omitempty"`

	// Users present Username and Password credentials; Auth bounds their
	// checks and the tickets of Login (cmd_auth.go).
	Users []UserConfig `yaml:"users,omitempty"`
	Auth  AuthConfig   `yaml:"auth"`

	dir string
}

// Duration is a time.Duration written like "30s" in YAML.
type Duration time.Duration

// UnmarshalYAML parses a Go duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as a string.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

func defaultConfig() *Config {
	c := &Config{Listen: "127.0.0.1:5696", Store: "kmipd.db"}
	c.TLS.CA, c.TLS.Cert, c.TLS.Key = "pki/ca.crt", "pki/server.crt", "pki/server.key"
	c.TLS.MinVersion = "1.2"
	c.HSM.Backend, c.HSM.MasterKey = "software", "master.key"
	c.HSM.KeyCache = pkcs11.DefaultKeyCache
	c.Admins = []string{"admin"}
	c.Identity.Source = string(kmip.IdentityCN)
	c.GroupCommit = true
	c.RNG.Seed = "accept"
	c.Names.Unique = "object"
	c.Log.Level, c.Log.Format = "info", "console"
	// Every limit is written out so an operator sees what is in force.
	l := &c.Limits
	l.MaxMessageSize = kmip.DefaultMaxMessageSize
	l.MaxBatchItems = kmip.DefaultMaxBatchItems
	l.MaxDepth = ttlv.DefaultMaxDepth
	l.MaxConnections = kmip.DefaultMaxConns
	l.MaxConnectionsPerIdentity = kmip.DefaultMaxConnsPerIdentity
	l.MaxConnectionsPerAddress = kmip.DefaultMaxConnsPerAddress
	l.MaxHandshakes = kmip.DefaultMaxHandshakes
	l.MaxHandshakesPerAddress = kmip.DefaultMaxHandshakesPerAddress
	l.HandshakeTimeout = Duration(kmip.DefaultHandshakeTimeout)
	l.ReadTimeout = Duration(kmip.DefaultReadTimeout)
	l.WriteTimeout = Duration(kmip.DefaultWriteTimeout)
	l.IdleTimeout = Duration(kmip.DefaultIdleTimeout)
	l.MaxHeaderBytes = kmip.DefaultMaxHeaderBytes
	l.HeaderReadTimeout = Duration(kmip.DefaultHeaderReadTimeout)
	l.MaxAttributeSize = lifecycle.DefaultMaxAttributeSize
	l.MaxAttributes = lifecycle.DefaultMaxAttributes
	l.ParsedKeys = lifecycle.DefaultParsedKeys
	c.Auth = defaultAuthConfig()
	a := &c.Audit
	a.Enabled, a.Path, a.Key = true, "audit/audit.log", "audit/audit.key"
	// Records reach the OS before the client is answered and the disk
	// within sync_interval: a kmipd crash loses nothing, a power cut at most
	// that interval. "always" fsyncs before answering, at the price of an
	// fsync (shared by concurrent requests) on every read.
	a.Sync, a.SyncInterval = string(audit.SyncInterval), Duration(audit.DefaultSyncInterval)
	a.CheckpointInterval, a.CheckpointPeriod = audit.DefaultCheckpointInterval, Duration(audit.DefaultCheckpointPeriod)
	a.WALSize = audit.DefaultWALSize
	return c
}

// loadConfig reads DIR/kmipd.yaml, then applies the environment.
func loadConfig(dir string) (*Config, error) {
	path := filepath.Join(dir, ConfigFile)
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	c := defaultConfig()
	dec := yaml.NewDecoder(strings.NewReader(string(data)))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.dir = dir
	if err := c.applyEnv(os.Getenv); err != nil {
		return nil, err
	}
	return c, c.validate()
}

// applyEnv overrides settings from KMIPD_* variables.
func (c *Config) applyEnv(getenv func(string) string) error {
	str := map[string]*string{
		"KMIPD_LISTEN":          &c.Listen,
		"KMIPD_ADMIN_ADDR":      &c.AdminAddr,
		"KMIPD_STORE":           &c.Store,
		"KMIPD_NODE":            &c.Node,
		"KMIPD_TLS_CA":          &c.TLS.CA,
		"KMIPD_TLS_CERT":        &c.TLS.Cert,
		"KMIPD_TLS_KEY":         &c.TLS.Key,
		"KMIPD_TLS_MIN_VERSION": &c.TLS.MinVersion,
		"KMIPD_LOG_LEVEL":       &c.Log.Level,
		"KMIPD_LOG_FORMAT":      &c.Log.Format,
		"KMIPD_RNG_SEED":        &c.RNG.Seed,
		"KMIPD_NAMES_UNIQUE":    &c.Names.Unique,
		"KMIPD_IDENTITY_SOURCE": &c.Identity.Source,
	}
	for k, p := range str {
		if v := getenv(k); v != "" {
			*p = v
		}
	}
	if v := getenv("KMIPD_ADMINS"); v != "" {
		c.Admins = strings.Split(v, ",")
	}
	if v := getenv("KMIPD_GROUP_COMMIT"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("KMIPD_GROUP_COMMIT: %w", err)
		}
		c.GroupCommit = b
	}
	if v := getenv("KMIPD_RNG_SEED_MAX_BYTES"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("KMIPD_RNG_SEED_MAX_BYTES: %w", err)
		}
		c.RNG.SeedMaxBytes = n
	}
	for k, p := range c.limitInts() {
		if v := getenv("KMIPD_LIMITS_" + strings.ToUpper(k)); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return fmt.Errorf("KMIPD_LIMITS_%s: %w", strings.ToUpper(k), err)
			}
			*p = n
		}
	}
	for k, p := range c.limitDurations() {
		if v := getenv("KMIPD_LIMITS_" + strings.ToUpper(k)); v != "" {
			d, err := time.ParseDuration(v)
			if err != nil {
				return fmt.Errorf("KMIPD_LIMITS_%s: %w", strings.ToUpper(k), err)
			}
			*p = Duration(d)
		}
	}
	if v := getenv("KMIPD_HSM_STRICT"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("KMIPD_HSM_STRICT: %w", err)
		}
		c.HSM.Strict = b
	}
	if v := getenv("KMIPD_INTEROP"); v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("KMIPD_INTEROP: %w", err)
		}
		c.Interop = b
	}
	return nil
}

// limitInts and limitDurations name the limits by their YAML key (the
// environment variable is KMIPD_LIMITS_ and the key in capitals).
func (c *Config) limitInts() map[string]*int {
	l := &c.Limits
	return map[string]*int{
		"max_message_size":             &l.MaxMessageSize,
		"max_batch_items":              &l.MaxBatchItems,
		"max_depth":                    &l.MaxDepth,
		"max_connections":              &l.MaxConnections,
		"max_connections_per_identity": &l.MaxConnectionsPerIdentity,
		"max_connections_per_address":  &l.MaxConnectionsPerAddress,
		"max_handshakes":               &l.MaxHandshakes,
		"max_handshakes_per_address":   &l.MaxHandshakesPerAddress,
		"max_header_bytes":             &l.MaxHeaderBytes,
		"max_attribute_size":           &l.MaxAttributeSize,
		"max_attributes":               &l.MaxAttributes,
		"parsed_keys":                  &l.ParsedKeys,
	}
}

func (c *Config) limitDurations() map[string]*Duration {
	l := &c.Limits
	return map[string]*Duration{
		"handshake_timeout":   &l.HandshakeTimeout,
		"read_timeout":        &l.ReadTimeout,
		"write_timeout":       &l.WriteTimeout,
		"idle_timeout":        &l.IdleTimeout,
		"header_read_timeout": &l.HeaderReadTimeout,
	}
}

// validateLimits: every limit is finite and in force, so 0 (which the
// server would read as its default) and negative values are refused.
func (c *Config) validateLimits() []error {
	var errs []error
	ints, durs := c.limitInts(), c.limitDurations()
	for _, k := range slices.Sorted(maps.Keys(ints)) {
		if n := *ints[k]; n <= 0 {
			errs = append(errs, fmt.Errorf("limits.%s %d: want a positive number", k, n))
		}
	}
	for _, k := range slices.Sorted(maps.Keys(durs)) {
		if d := time.Duration(*durs[k]); d <= 0 {
			errs = append(errs, fmt.Errorf("limits.%s %v: want a positive duration", k, d))
		}
	}
	return errs
}

func (c *Config) validate() error {
	var errs []error
	errs = append(errs, c.validateLimits()...)
	errs = append(errs, c.validateStore()...)
	if _, ok := kmip.ParseIdentitySource(c.Identity.Source); !ok {
		errs = append(errs, fmt.Errorf("identity.source %q: want cn, san-uri, san-email or fingerprint", c.Identity.Source))
	}
	if _, err := c.tlsMinVersion(); err != nil {
		errs = append(errs, err)
	}
	if _, err := c.cipherSuites(); err != nil {
		errs = append(errs, err)
	}
	errs = append(errs, c.validateHSM()...)
	errs = append(errs, c.validateCertify()...)
	errs = append(errs, c.validateAuth()...)
	if _, err := c.accessPolicy(); err != nil {
		errs = append(errs, err)
	}
	if _, ok := lifecycle.ParseRNGSeedPolicy(c.RNG.Seed); !ok {
		errs = append(errs, fmt.Errorf("rng.seed %q: want accept, ignore or deny", c.RNG.Seed))
	}
	if _, ok := lifecycle.ParseNamePolicy(c.Names.Unique); !ok {
		errs = append(errs, fmt.Errorf("names.unique %q: want object, owner or tenant", c.Names.Unique))
	}
	for _, f := range c.HSM.PKCS11Functions {
		if !lifecycle.ValidPKCS11Function(kmip.PKCS_11Function(f)) {
			errs = append(errs, fmt.Errorf("hsm.pkcs11_functions: %d is not a PKCS#11 function that may be allowed (1-68; never C_InitToken, C_InitPIN, C_SetPIN, C_Login, C_Logout)", f))
		}
	}
	if c.ServerToClient.Queue < 0 {
		errs = append(errs, fmt.Errorf("server_to_client.queue %d: want 0 (the default) or more", c.ServerToClient.Queue))
	}
	if c.Async.TTL < 0 {
		errs = append(errs, fmt.Errorf("async.ttl %s: want 0 (the default) or more", time.Duration(c.Async.TTL)))
	}
	if c.RNG.SeedMaxBytes < 0 {
		errs = append(errs, fmt.Errorf("rng.seed_max_bytes %d: want 0 (no cap) or more", c.RNG.SeedMaxBytes))
	}
	if _, err := zerolog.ParseLevel(c.Log.Level); err != nil {
		errs = append(errs, fmt.Errorf("log.level %q: want debug, info, warn or error", c.Log.Level))
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		errs = append(errs, fmt.Errorf("log.format %q: want json or console", c.Log.Format))
	}
	return errors.Join(errs...)
}

func (c *Config) validateHSM() []error {
	var errs []error
	for _, b := range []struct{ key, name string }{{"hsm.backend", c.HSM.Backend}, {"hsm.migrate_from", c.HSM.MigrateFrom}} {
		switch b.name {
		case "software", "":
		case "pkcs11":
			if c.HSM.PKCS11Module == "" || c.HSM.PKCS11Token == "" {
				errs = append(errs, fmt.Errorf("%s pkcs11 needs hsm.pkcs11_module and hsm.pkcs11_token", b.key))
			}
		default:
			errs = append(errs, fmt.Errorf("%s %q: want software or pkcs11", b.key, b.name))
		}
	}
	if c.HSM.Backend == "" || c.HSM.MigrateFrom == c.HSM.Backend {
		errs = append(errs, fmt.Errorf("hsm.backend %q with hsm.migrate_from %q", c.HSM.Backend, c.HSM.MigrateFrom))
	}
	if c.HSM.PoolWait < 0 {
		errs = append(errs, fmt.Errorf("hsm.pool_wait %v: want 0 (default) or more", time.Duration(c.HSM.PoolWait)))
	}
	if c.HSM.PoolSize < 0 {
		errs = append(errs, fmt.Errorf("hsm.pool_size %d: want 0 (default) or more", c.HSM.PoolSize))
	}
	if c.HSM.KeyCache < 0 || c.HSM.KeyCache > pkcs11.MaxKeyCache {
		errs = append(errs, fmt.Errorf("hsm.key_cache %d: want 0 (off) to %d keys per session", c.HSM.KeyCache, pkcs11.MaxKeyCache))
	}
	return errs
}

// path resolves p against the config directory.
func (c *Config) path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.dir, p)
}

// tlsMinVersion: TLS 1.0 and 1.1 are never offered (KMIP Profiles 2.1 §3.1.1).
func (c *Config) tlsMinVersion() (uint16, error) {
	switch c.TLS.MinVersion {
	case "", "1.2":
		return tls.VersionTLS12, nil
	case "1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("tls.min_version %q: want 1.2 or 1.3", c.TLS.MinVersion)
}

// cipherSuites resolves the configured TLS 1.2 suites by Go name; empty
// means Go's secure defaults (TLS 1.3 suites are not configurable in Go).
func (c *Config) cipherSuites() ([]uint16, error) {
	if len(c.TLS.CipherSuites) == 0 {
		return nil, nil
	}
	byName := map[string]uint16{}
	for _, s := range tls.CipherSuites() {
		byName[s.Name] = s.ID
	}
	for _, s := range tls.InsecureCipherSuites() {
		byName[s.Name] = s.ID
	}
	var ids []uint16
	for _, n := range c.TLS.CipherSuites {
		id, ok := byName[n]
		if !ok {
			return nil, fmt.Errorf("tls.cipher_suites: unknown suite %q", n)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (c *Config) marshal() ([]byte, error) {
	out, err := yaml.Marshal(c)
	if err != nil {
		return nil, err
	}
	head := "# kmipd configuration (written by `kmipd init`). Relative paths are relative to this file.\n" +
		"# Environment variables KMIPD_LISTEN, KMIPD_STORE, KMIPD_LOG_LEVEL, ... override it; flags override both.\n"
	return append([]byte(head), out...), nil
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
