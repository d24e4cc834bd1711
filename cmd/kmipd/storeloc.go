package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Where the store is: the store setting (config store:, KMIPD_STORE,
// serve --store) names a bbolt file, as a path or bbolt:PATH, or an etcd
// cluster, as etcd://HOST:PORT[,HOST:PORT…] (or etcds:// to require TLS,
// which the etcd: block then configures).
type storeLocation struct {
	etcd      bool
	tls       bool     // etcds://
	path      string   // bbolt file (relative to the kmipd directory)
	endpoints []string // etcd client URLs
}

// parseStoreLocation parses the store setting.
func parseStoreLocation(s string) (storeLocation, error) {
	var loc storeLocation
	scheme, rest, hasScheme := strings.Cut(s, "://")
	switch {
	case hasScheme && (scheme == "etcd" || scheme == "etcds"):
		loc.etcd, loc.tls = true, scheme == "etcds"
		for _, hp := range strings.Split(rest, ",") {
			hp = strings.TrimSpace(hp)
			if hp == "" {
				continue
			}
			host, port, err := net.SplitHostPort(hp)
			if err != nil || host == "" || port == "" {
				return loc, fmt.Errorf("store %q: %q is not HOST:PORT", s, hp)
			}
			u := "http://"
			if loc.tls {
				u = "https://"
			}
			loc.endpoints = append(loc.endpoints, u+hp)
		}
		if len(loc.endpoints) == 0 {
			return loc, fmt.Errorf("store %q: no etcd endpoint (want etcd://HOST:PORT[,HOST:PORT...])", s)
		}
	case hasScheme:
		return loc, fmt.Errorf("store %q: unknown scheme %q (want a file path, bbolt:PATH, etcd:// or etcds://)", s, scheme)
	default:
		loc.path = strings.TrimPrefix(s, "bbolt:")
		if loc.path == "" {
			return loc, errors.New("store: empty path")
		}
	}
	return loc, nil
}

func (l storeLocation) String() string {
	if l.etcd {
		return "etcd " + strings.Join(l.endpoints, ",")
	}
	return l.path
}

// etcdConfig is the etcd: block: how to reach the cluster when the store is
// etcd://. Files are relative to the kmipd directory.
type etcdConfig struct {
	// CA verifies the etcd members' certificates; Cert and Key are this
	// node's client certificate (etcd --client-cert-auth). Setting any of
	// them uses TLS even with etcd://.
	CA   string `yaml:"ca,omitempty"`
	Cert string `yaml:"cert,omitempty"`
	Key  string `yaml:"key,omitempty"`
	// Prefix is the key prefix of this deployment's data, so that several
	// may share one etcd cluster (default "kmipd/").
	Prefix string `yaml:"prefix,omitempty"`
	// DialTimeout bounds connecting at start; RequestTimeout bounds each
	// request (a leader election takes 1-3 s: keep it above that).
	DialTimeout    Duration `yaml:"dial_timeout,omitempty"`
	RequestTimeout Duration `yaml:"request_timeout,omitempty"`
	// GroupMax caps the writes of this node committed in one etcd
	// transaction (etcd's --max-txn-ops, 128 by default, bounds its size).
	GroupMax int `yaml:"group_max,omitempty"`
}

// nodeNameRE is what a node name may hold: it names files and appears in
// logs, audit records and metrics.
var nodeNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$`)

// nodeName is this node's name: node: in the config (or KMIPD_NODE, or
// serve --node), else the host name.
func (c *Config) nodeName() string {
	if c.Node != "" {
		return c.Node
	}
	h, err := os.Hostname()
	if err != nil || !nodeNameRE.MatchString(h) {
		return "kmipd"
	}
	return h
}

func (c *Config) validateStore() []error {
	var errs []error
	loc, err := parseStoreLocation(c.Store)
	if err != nil {
		errs = append(errs, err)
	}
	if c.Node != "" && !nodeNameRE.MatchString(c.Node) {
		errs = append(errs, fmt.Errorf("node %q: want 1-63 letters, digits, '.', '_' or '-', starting with a letter or digit", c.Node))
	}
	e := c.Etcd
	if (e.Cert == "") != (e.Key == "") {
		errs = append(errs, errors.New("etcd.cert and etcd.key go together"))
	}
	for name, d := range map[string]Duration{"dial_timeout": e.DialTimeout, "request_timeout": e.RequestTimeout} {
		if d < 0 {
			errs = append(errs, fmt.Errorf("etcd.%s %v: want 0 (the default) or more", name, time.Duration(d)))
		}
	}
	if e.GroupMax < 0 {
		errs = append(errs, fmt.Errorf("etcd.group_max %d: want 0 (the default) or more", e.GroupMax))
	}
	if !loc.etcd && (e.CA != "" || e.Cert != "" || e.Prefix != "") && err == nil {
		errs = append(errs, fmt.Errorf("etcd: settings are given but the store is the file %s (want store: etcd://HOST:PORT,...)", loc.path))
	}
	return errs
}

// clusterNode is this node's name when it shares an etcd store with others,
// "" with a bbolt store: the audit trail then names the node on each line.
func (c *Config) clusterNode() string {
	if loc, err := parseStoreLocation(c.Store); err == nil && loc.etcd {
		return c.nodeName()
	}
	return ""
}

// storePath is the bbolt store file ("" for an etcd store).
func (c *Config) storePath() string {
	loc, err := parseStoreLocation(c.Store)
	switch {
	case err != nil:
		return c.path(c.Store)
	case loc.etcd:
		return ""
	}
	return c.path(loc.path)
}

// auditPath is the audit trail's file: a relative audit.path is in the
// node's directory, so that each node of a cluster keeps its own trail.
func (c *Config) auditPath() string {
	p := c.Audit.Path
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(c.nodeDir(), p)
}

// nodeDir is where a node of a cluster keeps what is its own (its audit
// trail and control socket): DIR/nodes/NODE, so that nodes sharing one
// kmipd directory never share those files. With a bbolt store it is DIR.
func (c *Config) nodeDir() string {
	if loc, err := parseStoreLocation(c.Store); err == nil && loc.etcd {
		return filepath.Join(c.dir, "nodes", c.nodeName())
	}
	return c.dir
}
