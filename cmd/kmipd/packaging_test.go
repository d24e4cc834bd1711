package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// The packaging samples in testdata/packaging: the production config must
// load through kmipd's own config loader, and the systemd unit must start
// kmipd with commands and flags it has.

const (
	packagingDir    = "../../testdata/packaging"
	packagingConfig = "kmipd.production.yaml"
	packagingUnit   = "kmipd.service"
)

// loadPackagingConfig writes data as kmipd.yaml into a fresh directory and
// loads it with loadConfig, as kmipd serve does.
func loadPackagingConfig(t *testing.T, data []byte) *Config {
	t.Helper()
	clearKMIPDEnv(t)
	t.Setenv("KMIPD_ADMIN_ADDR", "")
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, ConfigFile), data, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatalf("%s does not load: %v", packagingConfig, err)
	}
	return cfg
}

func readPackagingFile(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(packagingDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// Ensure that the sample production config validates and holds the
// production choices it documents.
func TestPackaging_ProductionConfig(t *testing.T) {
	cfg := loadPackagingConfig(t, readPackagingFile(t, packagingConfig))

	if cfg.Listen != "0.0.0.0:5696" {
		t.Errorf("listen = %q, want 0.0.0.0:5696", cfg.Listen)
	}
	if host, _, err := net.SplitHostPort(cfg.AdminAddr); err != nil || !net.ParseIP(host).IsLoopback() {
		t.Errorf("admin_addr = %q, want a loopback HOST:PORT (plain HTTP)", cfg.AdminAddr)
	}
	for what, p := range map[string]string{"tls.ca": cfg.TLS.CA, "tls.cert": cfg.TLS.Cert, "tls.key": cfg.TLS.Key} {
		if !filepath.IsAbs(p) || strings.Contains(p, "/pki/") {
			t.Errorf("%s = %q, want an absolute path into the operator's own PKI, not the dev pki/", what, p)
		}
	}

	if v, err := cfg.tlsMinVersion(); err != nil || v != tls.VersionTLS12 && v != tls.VersionTLS13 {
		t.Errorf("tls.min_version %q: %x, %v", cfg.TLS.MinVersion, v, err)
	}
	ids, err := cfg.cipherSuites()
	if err != nil || len(ids) == 0 {
		t.Fatalf("tls.cipher_suites: %v, %v; want an explicit list", ids, err)
	}
	secure := map[uint16]*tls.CipherSuite{}
	for _, s := range tls.CipherSuites() {
		secure[s.ID] = s
	}
	for i, id := range ids {
		s, ok := secure[id]
		if !ok {
			t.Errorf("tls.cipher_suites: %s is on Go's insecure list", cfg.TLS.CipherSuites[i])
			continue
		}
		if !slices.Contains(s.SupportedVersions, tls.VersionTLS12) || !strings.HasPrefix(s.Name, "TLS_ECDHE_") {
			t.Errorf("tls.cipher_suites: %s is not a TLS 1.2 ECDHE suite", s.Name)
		}
	}

	if cfg.HSM.Backend != backendSoftware || cfg.HSM.MasterKey == "" {
		t.Errorf("hsm = %+v, want the software backend active (pkcs11 as the commented example)", cfg.HSM)
	}
	if len(cfg.Admins) == 0 || slices.Contains(cfg.Admins, "") {
		t.Errorf("admins = %q, want named identities", cfg.Admins)
	}
	l := cfg.Limits
	if l.MaxMessageSize <= 0 || l.MaxBatchItems <= 0 || l.MaxDepth <= 0 || l.MaxConnections <= 0 ||
		l.HandshakeTimeout <= 0 || l.ReadTimeout <= 0 || l.WriteTimeout <= 0 {
		t.Errorf("limits = %+v, want every limit written out and positive", l)
	}
	// Clients such as PyKMIP keep one connection for a whole session.
	if time.Duration(l.IdleTimeout) < 5*time.Minute {
		t.Errorf("limits.idle_timeout = %v, want minutes for long client sessions", time.Duration(l.IdleTimeout))
	}
	if cfg.Log.Format != "json" {
		t.Errorf("log.format = %q, want json for journald", cfg.Log.Format)
	}
	if cfg.Interop {
		t.Error("interop is on: its Reset wipes the store")
	}

	if !cfg.Audit.Enabled || !cfg.Audit.FailClosed {
		t.Errorf("audit enabled=%v fail_closed=%v, want both", cfg.Audit.Enabled, cfg.Audit.FailClosed)
	}
	// loadConfig leaves the audit section to serve and config check.
	if _, err := auditOptions(cfg, zerolog.Nop()); err != nil {
		t.Errorf("audit section: %v", err)
	}
}

// Ensure that the commented PKCS#11 example of the production config is
// valid when it replaces the software hsm block, and that its PIN file is
// the credential the systemd unit's commented LoadCredential provides.
func TestPackaging_ProductionConfigPKCS11Example(t *testing.T) {
	data := readPackagingFile(t, packagingConfig)
	var out, example []string
	in := false
	example = append(example, "")
	for _, line := range strings.Split(string(data), "\n") {
		switch {
		case line == "# BEGIN hsm":
			in = true
		case line == "# END hsm":
			in = false
			out = append(out, example...)
		case !in:
			out = append(out, line)
		case strings.HasPrefix(line, "#hsm:") || strings.HasPrefix(line, "#  "):
			example = append(example, line[1:])
		}
	}
	if len(example) < 4 {
		t.Fatalf("no commented pkcs11 hsm block between # BEGIN hsm and # END hsm: %q", example)
	}
	cfg := loadPackagingConfig(t, []byte(strings.Join(out, "\n")))
	if cfg.HSM.Backend != backendPKCS11 || cfg.HSM.PKCS11Module == "" || cfg.HSM.PKCS11Token == "" {
		t.Fatalf("hsm = %+v, want the pkcs11 backend with module and token", cfg.HSM)
	}

	m := regexp.MustCompile(`(?m)^#?LoadCredential=([^:\s]+):`).FindSubmatch(readPackagingFile(t, packagingUnit))
	if m == nil {
		t.Fatalf("%s: no (commented) LoadCredential= line", packagingUnit)
	}
	want := "/run/credentials/kmipd.service/" + string(m[1])
	if cfg.HSM.PINFile != want {
		t.Errorf("hsm.pin_file = %q, want %q (the unit's LoadCredential)", cfg.HSM.PINFile, want)
	}
}

// unitFile is a parsed systemd unit: section → key → values in order.
type unitFile map[string]map[string][]string

func parseUnit(t *testing.T, data []byte) unitFile {
	t.Helper()
	u := unitFile{}
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || line[0] == '#' || line[0] == ';':
		case line[0] == '[' && line[len(line)-1] == ']':
			section = line[1 : len(line)-1]
			u[section] = map[string][]string{}
		default:
			k, v, ok := strings.Cut(line, "=")
			if !ok || section == "" || strings.HasSuffix(line, `\`) {
				t.Fatalf("%s:%d: cannot parse %q", packagingUnit, n, line)
			}
			u[section][strings.TrimSpace(k)] = append(u[section][strings.TrimSpace(k)], strings.TrimSpace(v))
		}
	}
	return u
}

// one returns the single value of key in [Service].
func (u unitFile) one(t *testing.T, key string) string {
	t.Helper()
	v := u["Service"][key]
	if len(v) != 1 {
		t.Fatalf("%s: [Service] %s has %d values %q, want one", packagingUnit, key, len(v), v)
	}
	return v[0]
}

// Ensure that the unit's commands name kmipd subcommands and flags that
// exist, and that the unit keeps its hardening.
func TestPackaging_SystemdUnit(t *testing.T) {
	u := parseUnit(t, readPackagingFile(t, packagingUnit))
	for _, s := range []string{"Unit", "Service", "Install"} {
		if u[s] == nil {
			t.Fatalf("%s: no [%s] section", packagingUnit, s)
		}
	}

	dirs := map[string]string{}
	for key, wantCmd := range map[string]string{"ExecStart": "kmipd serve", "ExecStartPre": "kmipd config check"} {
		argv := strings.Fields(u.one(t, key))
		if len(argv) == 0 || argv[0] != "/usr/local/bin/kmipd" {
			t.Errorf("%s=%q: want /usr/local/bin/kmipd ...", key, argv)
			continue
		}
		cmd, flags, err := newRootCmd().Find(argv[1:])
		if err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		if cmd.CommandPath() != wantCmd {
			t.Errorf("%s runs %q, want %q", key, cmd.CommandPath(), wantCmd)
		}
		if err := cmd.ParseFlags(flags); err != nil {
			t.Errorf("%s: %v", key, err)
			continue
		}
		if err := cmd.ValidateArgs(cmd.Flags().Args()); err != nil {
			t.Errorf("%s: %v", key, err)
		}
		if err := cmd.ValidateRequiredFlags(); err != nil {
			t.Errorf("%s: %v", key, err)
		}
		dirs[key], _ = cmd.Flags().GetString("dir")
	}
	dir := dirs["ExecStart"]
	if dir != "/var/lib/kmipd" || dirs["ExecStartPre"] != dir {
		t.Errorf("--dir of ExecStart %q and ExecStartPre %q, want /var/lib/kmipd for both", dir, dirs["ExecStartPre"])
	}
	if !slices.Contains(strings.Fields(strings.Join(u["Service"]["ReadWritePaths"], " ")), dir) {
		t.Errorf("ReadWritePaths %q does not hold the data directory %s", u["Service"]["ReadWritePaths"], dir)
	}

	if u["Service"]["DynamicUser"] == nil {
		if user := u.one(t, "User"); user == "" || user == "root" {
			t.Errorf("User=%q: want an unprivileged user (or DynamicUser=yes)", user)
		}
	} else if u.one(t, "DynamicUser") != "yes" {
		t.Errorf("DynamicUser=%q", u.one(t, "DynamicUser"))
	}
	for key, want := range map[string]string{
		"KillSignal":              "SIGTERM",
		"NoNewPrivileges":         "yes",
		"ProtectSystem":           "strict",
		"ProtectHome":             "yes",
		"PrivateTmp":              "yes",
		"PrivateDevices":          "yes",
		"PrivateMounts":           "yes",
		"ProtectKernelTunables":   "yes",
		"ProtectKernelModules":    "yes",
		"ProtectKernelLogs":       "yes",
		"ProtectControlGroups":    "yes",
		"ProtectClock":            "yes",
		"ProtectHostname":         "yes",
		"RestrictNamespaces":      "yes",
		"RestrictRealtime":        "yes",
		"RestrictSUIDSGID":        "yes",
		"LockPersonality":         "yes",
		"MemoryDenyWriteExecute":  "yes",
		"RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
		"SystemCallArchitectures": "native",
		// Port 5696 needs no privilege: no capability at all.
		"CapabilityBoundingSet": "",
		"AmbientCapabilities":   "",
		"UMask":                 "0077",
	} {
		if got := u.one(t, key); got != want {
			t.Errorf("%s=%q, want %q", key, got, want)
		}
	}
	// serve finishes requests in flight for up to 30 s after SIGTERM.
	if d, err := time.ParseDuration(u.one(t, "TimeoutStopSec") + "s"); err != nil || d <= 30*time.Second {
		t.Errorf("TimeoutStopSec=%s: want more than kmipd's 30 s shutdown grace", u.one(t, "TimeoutStopSec"))
	}
	if f := u["Service"]["SystemCallFilter"]; len(f) == 0 || f[0] != "@system-service" {
		t.Errorf("SystemCallFilter=%q, want @system-service first", f)
	}
}
