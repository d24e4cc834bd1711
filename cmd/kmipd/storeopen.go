package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/kmipd/kmipd/store"
)

// storeOpen says how a command opens the store.
type storeOpen struct {
	// lockWait bounds the wait for a bbolt file another process holds
	// (negative: fail at once).
	lockWait time.Duration
	// allowOlder opens an older format, for backup, check and upgrade.
	allowOlder bool
}

// openStore opens the store cfg names: its bbolt file or its etcd cluster.
func openStore(ctx context.Context, cfg *Config, o storeOpen) (*store.DB, error) {
	loc, err := parseStoreLocation(cfg.Store)
	if err != nil {
		return nil, err
	}
	return openStoreAt(ctx, cfg, loc, o)
}

// openStoreAt opens the store at loc with cfg's etcd settings.
func openStoreAt(ctx context.Context, cfg *Config, loc storeLocation, o storeOpen) (*store.DB, error) {
	if !loc.etcd {
		return store.Open(cfg.path(loc.path), &store.Options{Timeout: o.lockWait, AllowOlder: o.allowOlder})
	}
	tlsCfg, err := cfg.etcdTLS(loc)
	if err != nil {
		return nil, err
	}
	eps := loc.endpoints
	if tlsCfg != nil {
		// TLS settings given with etcd://: the members speak TLS.
		eps = nil
		for _, e := range loc.endpoints {
			eps = append(eps, "https://"+strings.TrimPrefix(strings.TrimPrefix(e, "http://"), "https://"))
		}
	}
	db, err := store.OpenEtcd(ctx, store.EtcdOptions{
		Endpoints:      eps,
		TLS:            tlsCfg,
		Prefix:         cfg.Etcd.Prefix,
		DialTimeout:    time.Duration(cfg.Etcd.DialTimeout),
		RequestTimeout: time.Duration(cfg.Etcd.RequestTimeout),
		GroupMax:       cfg.Etcd.GroupMax,
		AllowOlder:     o.allowOlder,
		Node:           cfg.nodeName(),
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", loc, err)
	}
	return db, nil
}

// etcdTLS is the client TLS of the etcd connection: nil for etcd:// with
// no etcd.ca/cert/key, else verifying the members against etcd.ca (the
// system roots if empty) and presenting etcd.cert.
func (cfg *Config) etcdTLS(loc storeLocation) (*tls.Config, error) {
	e := cfg.Etcd
	if !loc.tls && e.CA == "" && e.Cert == "" {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if e.CA != "" {
		pem, err := os.ReadFile(cfg.path(e.CA))
		if err != nil {
			return nil, fmt.Errorf("etcd.ca: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("etcd.ca %s: no PEM certificates", cfg.path(e.CA))
		}
	}
	if e.Cert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.path(e.Cert), cfg.path(e.Key))
		if err != nil {
			return nil, fmt.Errorf("etcd.cert/etcd.key: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
