package main

import (
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/internal/audit"
	"github.com/kmipd/kmipd/internal/progress"
	"github.com/kmipd/kmipd/kmip"
)

// expirySoon is how early config check warns about a certificate expiring.
const expirySoon = 30 * 24 * time.Hour

func newConfigCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Work with the configuration",
	}
	cmd.AddCommand(newConfigCheckCmd())
	return cmd
}

type configCheckOptions struct {
	dir string
}

func newConfigCheckCmd() *cobra.Command {
	o := &configCheckOptions{}
	cmd := &cobra.Command{
		Use:   "check --dir DIR",
		Short: "Validate the configuration and the files it names",
		Long: `check validates DIR/kmipd.yaml (with the KMIPD_* environment applied) and
the files it names: the client CA parses and is a CA; the server certificate
and key exist and match, the certificate is within its validity period, has
subject alternative names, is usable for server authentication and is valid
for the listen address; the master key, store and audit trail files are in
place with private permissions. Each finding is printed as ok, WARN or FAIL;
the command exits non-zero when anything FAILs.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runConfigCheck(cmd, o) },
	}
	cmd.Flags().StringVar(&o.dir, "dir", "", "kmipd directory (from kmipd init)")
	_ = cmd.MarkFlagRequired("dir")
	return cmd
}

func runConfigCheck(cmd *cobra.Command, o *configCheckOptions) error {
	c := &checker{out: cmd.OutOrStdout(), now: time.Now()}
	c.run(o.dir)
	fmt.Fprintf(c.out, "%d problems, %d warnings\n", c.fails, c.warns)
	if c.fails > 0 {
		return fmt.Errorf("config check of %s: %d problems", o.dir, c.fails)
	}
	return nil
}

type checker struct {
	out          io.Writer
	now          time.Time
	fails, warns int
}

func (c *checker) ok(format string, a ...any) { fmt.Fprintf(c.out, "ok    "+format+"\n", a...) }

func (c *checker) warn(format string, a ...any) {
	c.warns++
	fmt.Fprintf(c.out, "WARN  "+format+"\n", a...)
}

func (c *checker) fail(format string, a ...any) {
	c.fails++
	fmt.Fprintf(c.out, "FAIL  "+format+"\n", a...)
}

func (c *checker) run(dir string) {
	cfg, err := loadConfig(dir)
	if cfg == nil {
		c.fail("config: %v", err)
		return
	}
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			c.fail("config %s: %s", filepath.Join(dir, ConfigFile), line)
		}
	} else {
		c.ok("config %s", filepath.Join(dir, ConfigFile))
	}
	if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
		c.fail("listen %q: %v", cfg.Listen, err)
	}
	pool := c.checkCA(cfg.path(cfg.TLS.CA))
	c.checkServerCert(cfg, pool)
	c.checkCertify(cfg, pool)
	c.checkPrivateFile("hsm.master_key", cfg.path(cfg.HSM.MasterKey), cfg.HSM.Backend == "software")
	if p := cfg.storePath(); p != "" {
		c.checkStore(p)
	}
	c.checkAudit(cfg)
	if len(cfg.Admins) == 0 {
		c.warn("admins is empty: no identity can see every object")
	}
	c.checkIdentity(cfg)
	c.checkUsers(cfg)
	c.checkAccess(cfg)
	c.checkConnLimits(cfg)
}

// checkIdentity warns about admins no client can have as its identity.
func (c *checker) checkIdentity(cfg *Config) {
	src, ok := kmip.ParseIdentitySource(cfg.Identity.Source)
	if !ok {
		return // reported with the config
	}
	bad := 0
	for _, a := range cfg.Admins {
		err := kmip.ValidIdentityName(a)
		if err == nil && src == kmip.IdentityFingerprint {
			if b, herr := hex.DecodeString(a); herr != nil || len(b) != sha256.Size || a != strings.ToLower(a) {
				err = errors.New("not a certificate fingerprint (64 lower-case hex digits)")
			}
		}
		if err != nil {
			bad++
			c.warn("admins %q: no client can have this identity (identity.source %s): %v", a, src, err)
		}
	}
	if bad == 0 {
		c.ok("identity.source %s", src)
	}
}

// checkConnLimits reports the connection limits in force and warns about
// ones that have no effect.
func (c *checker) checkConnLimits(cfg *Config) {
	l := cfg.Limits
	if l.MaxHandshakesPerAddress > l.MaxHandshakes {
		c.warn("limits.max_handshakes_per_address %d is over limits.max_handshakes %d: the total applies first", l.MaxHandshakesPerAddress, l.MaxHandshakes)
	}
	if l.MaxConnectionsPerIdentity > l.MaxConnections || l.MaxConnectionsPerAddress > l.MaxConnections {
		c.warn("limits.max_connections_per_identity %d / max_connections_per_address %d: over limits.max_connections %d, which applies first",
			l.MaxConnectionsPerIdentity, l.MaxConnectionsPerAddress, l.MaxConnections)
	}
	c.ok("limits: %d TLS handshakes in progress (%d per address), %d connections (%d per identity, %d per address)",
		l.MaxHandshakes, l.MaxHandshakesPerAddress, l.MaxConnections, l.MaxConnectionsPerIdentity, l.MaxConnectionsPerAddress)
}

// readPEMCerts reads every CERTIFICATE block of a file.
func readPEMCerts(path string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var certs []*x509.Certificate
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("certificate %d: %w", len(certs)+1, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("no PEM CERTIFICATE in the file")
	}
	return certs, nil
}

// validity describes where now is in a certificate's validity period, as
// a failure ("" when valid) and a warning.
func (c *checker) validity(cert *x509.Certificate) (fail, warn string) {
	switch {
	case c.now.After(cert.NotAfter):
		return fmt.Sprintf("expired on %s", cert.NotAfter.UTC().Format(time.RFC3339)), ""
	case c.now.Before(cert.NotBefore):
		return fmt.Sprintf("not valid before %s", cert.NotBefore.UTC().Format(time.RFC3339)), ""
	case cert.NotAfter.Sub(c.now) < expirySoon:
		return "", fmt.Sprintf("expires on %s, in less than %d days", cert.NotAfter.UTC().Format(time.RFC3339), int(expirySoon.Hours()/24))
	}
	return "", ""
}

// checkCA checks the client CA bundle and returns it as a pool (nil when
// unusable).
func (c *checker) checkCA(path string) *x509.CertPool {
	certs, err := readPEMCerts(path)
	if err != nil {
		c.fail("tls.ca %s: %v", path, err)
		return nil
	}
	pool := x509.NewCertPool()
	usable := 0
	for _, cert := range certs {
		name := cert.Subject.String()
		if !cert.IsCA || cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0 {
			c.fail("tls.ca %s: %q is not a CA certificate (no CA basic constraint or certificate signing usage): it cannot verify clients", path, name)
			continue
		}
		if f, w := c.validity(cert); f != "" {
			c.fail("tls.ca %s: %q %s: clients it issued are rejected", path, name, f)
			continue
		} else if w != "" {
			c.warn("tls.ca %s: %q %s", path, name, w)
		}
		pool.AddCert(cert)
		usable++
	}
	if usable == 0 {
		return nil
	}
	c.ok("tls.ca %s: %d CA certificate(s)", path, usable)
	return pool
}

func (c *checker) checkServerCert(cfg *Config, pool *x509.CertPool) {
	certPath, keyPath := cfg.path(cfg.TLS.Cert), cfg.path(cfg.TLS.Key)
	certs, err := readPEMCerts(certPath)
	if err != nil {
		c.fail("tls.cert %s: %v", certPath, err)
		return
	}
	c.checkPrivateFile("tls.key", keyPath, true)
	certPEM, _ := os.ReadFile(certPath)
	keyPEM, kerr := os.ReadFile(keyPath)
	if kerr == nil {
		if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
			if strings.Contains(err.Error(), "does not match") {
				c.fail("tls.key %s does not match the certificate %s: the key belongs to another certificate", keyPath, certPath)
			} else {
				c.fail("tls.cert %s / tls.key %s: %v", certPath, keyPath, err)
			}
		} else {
			c.ok("tls.key %s matches the certificate", keyPath)
		}
	}
	leaf := certs[0]
	name := leaf.Subject.String()
	if f, w := c.validity(leaf); f != "" {
		c.fail("tls.cert %s: the server certificate %q %s: clients will refuse the server", certPath, name, f)
	} else if w != "" {
		c.warn("tls.cert %s: the server certificate %s", certPath, w)
	} else {
		c.ok("tls.cert %s: valid until %s", certPath, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	var sans []string
	sans = append(sans, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		sans = append(sans, ip.String())
	}
	if len(sans) == 0 {
		c.fail("tls.cert %s: no subject alternative names: clients checking the server's name will refuse it", certPath)
	}
	serverAuth := len(leaf.ExtKeyUsage) == 0
	for _, u := range leaf.ExtKeyUsage {
		serverAuth = serverAuth || u == x509.ExtKeyUsageServerAuth || u == x509.ExtKeyUsageAny
	}
	if !serverAuth {
		c.fail("tls.cert %s: not usable for TLS server authentication (extended key usage)", certPath)
	}
	if host, _, err := net.SplitHostPort(cfg.Listen); err == nil && host != "" && len(sans) > 0 {
		if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
			c.ok("tls.cert %s: SANs %s (listening on every address)", certPath, strings.Join(sans, ", "))
		} else if err := leaf.VerifyHostname(host); err != nil {
			c.warn("tls.cert %s: not valid for the listen address %s (SANs: %s): clients connecting to it will refuse the server", certPath, host, strings.Join(sans, ", "))
		} else {
			c.ok("tls.cert %s: valid for the listen address %s (SANs: %s)", certPath, host, strings.Join(sans, ", "))
		}
	}
	// The CA verifies clients; a server certificate from another CA is
	// fine as long as the clients trust that one.
	if pool != nil {
		inter := x509.NewCertPool()
		for _, ic := range certs[1:] {
			inter.AddCert(ic)
		}
		var bad []string
		for _, san := range sans {
			_, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, DNSName: san,
				CurrentTime: c.now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
			if err != nil {
				bad = append(bad, fmt.Sprintf("%s (%v)", san, err))
			}
		}
		switch {
		case len(bad) == len(sans) && len(sans) > 0:
			c.warn("tls.cert %s does not verify against tls.ca: clients must trust its issuer some other way (%s)", certPath, bad[0])
		case len(bad) > 0:
			c.warn("tls.cert %s does not verify against tls.ca for: %s", certPath, strings.Join(bad, "; "))
		case len(sans) > 0:
			c.ok("tls.cert %s verifies against tls.ca for each of its SANs", certPath)
		}
	}
}

// checkPrivateFile checks that a secret file exists (when required) and is
// readable by its owner only.
func (c *checker) checkPrivateFile(what, path string, required bool) {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && !required:
		return
	case err != nil:
		c.fail("%s %s: %v", what, path, err)
	case fi.IsDir():
		c.fail("%s %s is a directory", what, path)
	case fi.Size() == 0:
		c.fail("%s %s is empty", what, path)
	case fi.Mode().Perm()&0o077 != 0:
		c.warn("%s %s has mode %v: others can read it (chmod 600)", what, path, fi.Mode().Perm())
	default:
		c.ok("%s %s", what, path)
	}
}

func (c *checker) checkStore(path string) {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil || !fi.IsDir() {
		c.fail("store %s: directory %s does not exist", path, dir)
		return
	}
	if fi.Mode().Perm()&0o077 != 0 {
		c.warn("store %s: its directory has mode %v (others can list it)", path, fi.Mode().Perm())
	}
	switch st, err := os.Stat(path); {
	case errors.Is(err, fs.ErrNotExist):
		c.ok("store %s: not created yet (kmipd serve creates it)", path)
	case err != nil:
		c.fail("store %s: %v", path, err)
	case st.IsDir():
		c.fail("store %s is a directory", path)
	default:
		c.ok("store %s: %s", path, progress.MiB(st.Size()))
	}
}

func (c *checker) checkAudit(cfg *Config) {
	if !cfg.Audit.Enabled {
		c.warn("audit.enabled is false: operations are not recorded")
		return
	}
	o, err := auditOptions(cfg, zerolog.Nop())
	if err != nil {
		for _, line := range strings.Split(err.Error(), "\n") {
			c.fail("%s", line)
		}
		return
	}
	fi, err := os.Stat(o.Path)
	hasTrail := err == nil && fi.Size() > 0
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.ok("audit.path %s: not created yet (kmipd serve creates it and its key)", o.Path)
	case err != nil:
		c.fail("audit.path %s: %v", o.Path, err)
	case fi.Mode().Perm()&0o077 != 0:
		c.warn("audit.path %s has mode %v (chmod 600)", o.Path, fi.Mode().Perm())
	default:
		c.ok("audit.path %s (sync %s, fail_closed %v)", o.Path, o.Sync, o.FailClosed)
	}
	if _, err := os.Stat(o.KeyPath); errors.Is(err, fs.ErrNotExist) {
		if hasTrail {
			c.fail("audit.key %s is missing but the trail has records: kmipd will not start (restore the key)", o.KeyPath)
		}
		return
	}
	c.checkPrivateFile("audit.key", o.KeyPath, true)
	if _, err := audit.ReadKey(o.KeyPath); err != nil {
		c.fail("audit.key %s: %v", o.KeyPath, err)
	}
}
