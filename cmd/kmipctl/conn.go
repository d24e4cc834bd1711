package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/kmip"
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
	f.String(flagServer, envOr(connEnv[flagServer], defaultServer), "KMIP server HOST:PORT (env KMIPCTL_SERVER)")
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

// tlsConfig builds the client TLS configuration: the CA to trust, the
// client certificate to present, and the server name to check (the host of
// --server).
func (o connOptions) tlsConfig() (*tls.Config, error) {
	host, _, err := net.SplitHostPort(o.Server)
	if err != nil {
		return nil, fmt.Errorf("invalid --server %q: %w", o.Server, err)
	}
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

// dial connects to the server with the options.
func (o connOptions) dial() (*kmip.Client, error) {
	cfg, err := o.tlsConfig()
	if err != nil {
		return nil, err
	}
	c, err := kmip.Dial(o.Server, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", o.Server, err)
	}
	return c, nil
}
