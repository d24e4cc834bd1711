package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// The connection flags every kmipctl command shares. Each defaults to its
// environment variable, then to the built-in default.
const (
	flagServer = "server"
	flagCA     = "ca"
	flagCert   = "cert"
	flagKey    = "key"

	defaultServer = "127.0.0.1:5696"
)

var connEnv = map[string]string{
	flagServer: "KMIPCTL_SERVER",
	flagCA:     "KMIPCTL_CA",
	flagCert:   "KMIPCTL_CERT",
	flagKey:    "KMIPCTL_KEY",
}

// addConnFlags adds the shared connection flags to the root command as
// persistent flags.
func addConnFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.String(flagServer, envOr(connEnv[flagServer], defaultServer), "KMIP server HOST:PORT, or several comma-separated, tried in order when one cannot be reached (env KMIPCTL_SERVER)")
	f.String(flagCA, os.Getenv(connEnv[flagCA]), "PEM file of the CA that issued the server certificate; the system roots if empty (env KMIPCTL_CA)")
	f.String(flagCert, os.Getenv(connEnv[flagCert]), "PEM client certificate for mutual TLS (env KMIPCTL_CERT)")
	f.String(flagKey, os.Getenv(connEnv[flagKey]), "PEM private key of the client certificate (env KMIPCTL_KEY)")
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// connOptions are the parsed connection flags.
type connOptions struct {
	Server, CA, Cert, Key string
}

// connFromFlags reads the connection flags of cmd (inherited from the root).
func connFromFlags(cmd *cobra.Command) (connOptions, error) {
	var o connOptions
	for name, dst := range map[string]*string{flagServer: &o.Server, flagCA: &o.CA, flagCert: &o.Cert, flagKey: &o.Key} {
		v, err := cmd.Flags().GetString(name)
		if err != nil {
			return o, err
		}
		*dst = v
	}
	if o.Server == "" {
		o.Server = defaultServer
	}
	return o, nil
}

// addrs returns the addresses of --server: one, or several separated by
// commas (the nodes of a cluster), in the order they are tried.
func (o connOptions) addrs() ([]string, error) {
	var out []string
	for _, a := range strings.Split(o.Server, ",") {
		a = strings.TrimSpace(a)
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("invalid --server %q: %w", a, err)
		}
		out = append(out, a)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("invalid --server %q: no address", o.Server)
	}
	return out, nil
}

// tlsConfig builds the client TLS configuration: the CA to trust and the
// client certificate to present. The server name checked is the host of the
// address dialled (forAddr); here, that of the first --server address.
func (o connOptions) tlsConfig() (*tls.Config, error) {
	addrs, err := o.addrs()
	if err != nil {
		return nil, err
	}
	host, _, _ := net.SplitHostPort(addrs[0])
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if o.CA != "" {
		pem, err := os.ReadFile(o.CA)
		if err != nil {
			return nil, fmt.Errorf("--ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("--ca %s: no PEM certificates", o.CA)
		}
		cfg.RootCAs = pool
	}
	switch {
	case o.Cert != "" && o.Key != "":
		cert, err := tls.LoadX509KeyPair(o.Cert, o.Key)
		if err != nil {
			return nil, fmt.Errorf("--cert/--key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	case o.Cert != "" || o.Key != "":
		return nil, errors.New("--cert and --key go together")
	}
	return cfg, nil
}

// forAddr returns cfg checking the server name of addr's host.
func forAddr(cfg *tls.Config, addr string) *tls.Config {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == cfg.ServerName {
		return cfg
	}
	c := cfg.Clone()
	c.ServerName = host
	return c
}

// dial connects to the first --server address that accepts the
// connection.
func (o connOptions) dial() (*kmip.Client, error) {
	cfg, err := o.tlsConfig()
	if err != nil {
		return nil, err
	}
	addrs, _ := o.addrs()
	c, _, err := dialAny(addrs, 0, func(addr string) (*kmip.Client, error) {
		return kmip.Dial(addr, forAddr(cfg, addr))
	})
	return c, err
}

// dialAny tries addrs in turn, starting at addrs[first%len(addrs)], and
// returns the first connection made and its address. Only connecting fails
// over: once a request is sent, its outcome belongs to that server, so a
// failure then is reported, not retried elsewhere (a Create might have been
// done).
func dialAny(addrs []string, first int, dial func(addr string) (*kmip.Client, error)) (*kmip.Client, string, error) {
	var errs []error
	for i := range addrs {
		addr := addrs[(first+i)%len(addrs)]
		c, err := dial(addr)
		if err == nil {
			return c, addr, nil
		}
		errs = append(errs, fmt.Errorf("connect to %s: %w", addr, err))
	}
	if len(errs) == 1 {
		return nil, "", errs[0]
	}
	return nil, "", errors.Join(errs...)
}

// dialTimed connects for ping and bench, which time connecting and each
// round trip themselves: timeout bounds the handshake and each round trip.
// addr may list several addresses (--server); they are tried in turn from
// the first-th.
func dialTimed(addr string, first int, cfg *tls.Config, ver kmip.Version, timeout time.Duration) (*kmip.Client, string, error) {
	addrs := strings.Split(addr, ",")
	c, used, err := dialAny(addrs, first, func(a string) (*kmip.Client, error) {
		return kmip.DialTimeout(a, forAddr(cfg, a), timeout)
	})
	if err != nil {
		return nil, "", connError{err}
	}
	c.Version, c.Timeout = ver, timeout
	return c, used, nil
}

// call sends one operation with kmip.Client.Call; see exchange.
func call(c *kmip.Client, op kmip.Operation, payload func(b *ttlv.Builder)) (ttlv.Value, error) {
	p, err := c.Call(op, payload)
	return p, netFailure(err)
}

// exchange sends an encoded request with kmip.Client.Exchange; a failure
// to send or receive is a connError.
func exchange(c *kmip.Client, req []byte) (ttlv.Value, int, error) {
	p, n, err := c.Exchange(req)
	return p, n, netFailure(err)
}

func netFailure(err error) error {
	var ne *kmip.NetError
	if errors.As(err, &ne) {
		return connError{err}
	}
	return err
}

// hintedError is a connection failure with what to check: the flag (and
// file) that most likely needs changing.
type hintedError struct {
	err  error
	hint string
}

func (e hintedError) Error() string { return e.err.Error() + "\n  " + e.hint }
func (e hintedError) Unwrap() error { return e.err }

// explain adds to a connection or TLS failure which flag or file to check;
// other errors are returned as they are.
func (o connOptions) explain(err error) error {
	if err == nil || isUsage(err) || !isConnFailure(err) {
		return err
	}
	if h := o.hint(err); h != "" {
		return hintedError{err: err, hint: h}
	}
	return err
}

// hint words what to check for a connection failure, "" when there is
// nothing specific to say.
func (o connOptions) hint(err error) string {
	var (
		uae x509.UnknownAuthorityError
		he  x509.HostnameError
		cie x509.CertificateInvalidError
		rhe tls.RecordHeaderError
		ope *net.OpError
		dne *net.DNSError
	)
	const devPKI = " (for a kmipd init set-up: DIR/pki/ca.crt)"
	switch {
	case errors.As(err, &uae):
		if o.CA == "" {
			return "check --ca (KMIPCTL_CA, ca: in the config file): none is given, so the system roots were used; pass the CA that issued the server's certificate" + devPKI
		}
		return fmt.Sprintf("check --ca (KMIPCTL_CA, ca: in the config file): %s does not hold the CA that issued the server's certificate%s", o.CA, devPKI)
	case errors.As(err, &he):
		host := he.Host
		return fmt.Sprintf("check --server (KMIPCTL_SERVER): the server's certificate is not valid for %q; it names %s. Connect by one of those names, or reissue the server certificate for %q (kmipd init --host)",
			host, certNames(he.Certificate), host)
	case errors.As(err, &cie):
		return "check the server's certificate (its validity dates, or this machine's clock) and --ca (KMIPCTL_CA): the server's certificate does not verify: " + cie.Error()
	case errors.As(err, &rhe):
		return fmt.Sprintf("check --server (KMIPCTL_SERVER): %s does not speak TLS (is it the plain-HTTP admin port? KMIP is on 5696 by default)", o.Server)
	case errors.As(err, &ope) && ope.Op == "remote error":
		// The server sent an alert: it refused our certificate.
		switch msg := ope.Err.Error(); {
		case strings.Contains(msg, "certificate") && o.Cert == "":
			return "check --cert and --key (KMIPCTL_CERT, KMIPCTL_KEY): the server wants a client certificate and none is given (for a kmipd init set-up: DIR/pki/client.crt and client.key, the admin identity)"
		case strings.Contains(msg, "certificate"), strings.Contains(msg, "access denied"):
			return fmt.Sprintf("check --cert and --key (KMIPCTL_CERT, KMIPCTL_KEY): the server refused the client certificate %s (%s); it must be issued by the server's client CA (tls.ca in kmipd.yaml), be valid now, and name one identity", o.Cert, msg)
		}
	case errors.Is(err, syscall.ECONNREFUSED):
		return fmt.Sprintf("check --server (KMIPCTL_SERVER): nothing listens on %s; is kmipd running, and is that its listen address?", o.Server)
	case errors.As(err, &dne):
		return fmt.Sprintf("check --server (KMIPCTL_SERVER): the host of %s does not resolve", o.Server)
	case errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET):
		// A server that refuses the certificate after the handshake (an
		// identity it does not accept) may just close the connection.
		if o.Cert == "" {
			return "the server closed the connection: check --cert and --key (KMIPCTL_CERT, KMIPCTL_KEY): no client certificate is given"
		}
		return fmt.Sprintf("the server closed the connection: if it refused the client certificate, check --cert and --key (KMIPCTL_CERT, KMIPCTL_KEY): %s must be issued by the server's client CA and name one identity the server accepts", o.Cert)
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.Is(err, syscall.ETIMEDOUT):
		return fmt.Sprintf("check --server (KMIPCTL_SERVER): %s does not answer (firewall, wrong host or port, or a busy server; --timeout sets the wait)", o.Server)
	}
	return ""
}

// certNames lists the names a certificate is valid for.
func certNames(c *x509.Certificate) string {
	if c == nil {
		return "no names"
	}
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 {
		return "no subject alternative names"
	}
	return strings.Join(names, ", ")
}
