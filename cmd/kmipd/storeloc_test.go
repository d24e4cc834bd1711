package main

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseStoreLocation(t *testing.T) {
	for in, want := range map[string]storeLocation{
		"kmipd.db":                         {path: "kmipd.db"},
		"/var/lib/kmipd/kmipd.db":          {path: "/var/lib/kmipd/kmipd.db"},
		"bbolt:data/k.db":                  {path: "data/k.db"},
		"etcd://127.0.0.1:2379":            {etcd: true, endpoints: []string{"http://127.0.0.1:2379"}},
		"etcd://a:2379, b:2379,c:2379":     {etcd: true, endpoints: []string{"http://a:2379", "http://b:2379", "http://c:2379"}},
		"etcds://etcd1.example:2379":       {etcd: true, tls: true, endpoints: []string{"https://etcd1.example:2379"}},
		"etcd://[::1]:2379,127.0.0.1:2379": {etcd: true, endpoints: []string{"http://[::1]:2379", "http://127.0.0.1:2379"}},
	} {
		got, err := parseStoreLocation(in)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%q: got %+v, %v; want %+v", in, got, err, want)
		}
	}
	for in, msg := range map[string]string{
		"":                       "empty path",
		"bbolt:":                 "empty path",
		"etcd://":                "no etcd endpoint",
		"etcd://a":               `"a" is not HOST:PORT`,
		"etcd://a:2379,:2379":    `":2379" is not HOST:PORT`,
		"postgres://db/kmipd":    `unknown scheme "postgres"`,
		"http://127.0.0.1:2379/": `unknown scheme "http"`,
	} {
		if _, err := parseStoreLocation(in); err == nil || !strings.Contains(err.Error(), msg) {
			t.Errorf("%q: err = %v, want it to say %q", in, err, msg)
		}
	}
}

func TestValidateStore(t *testing.T) {
	c := defaultConfig()
	c.Store, c.Node = "etcd://127.0.0.1:2379", "node-a"
	c.Etcd.CA = "pki/etcd-ca.crt"
	if errs := c.validateStore(); len(errs) != 0 {
		t.Fatalf("valid settings refused: %v", errs)
	}
	c.dir = "/srv/kmipd"
	if got, want := c.nodeDir(), filepath.Join("/srv/kmipd", "nodes", "node-a"); got != want {
		t.Errorf("nodeDir = %q, want %q", got, want)
	}
	for _, tc := range []struct {
		edit func(c *Config)
		msg  string
	}{
		{func(c *Config) { c.Node = "../etc" }, `node "../etc"`},
		{func(c *Config) { c.Node = "a b" }, `node "a b"`},
		{func(c *Config) { c.Etcd.Cert = "x.crt" }, "etcd.cert and etcd.key go together"},
		{func(c *Config) { c.Etcd.RequestTimeout = -1 }, "etcd.request_timeout"},
		{func(c *Config) { c.Etcd.GroupMax = -2 }, "etcd.group_max -2"},
		{func(c *Config) { c.Store = "kmipd.db" }, "the store is the file kmipd.db"},
	} {
		c := defaultConfig()
		c.Store, c.Etcd.CA = "etcd://127.0.0.1:2379", "ca.crt"
		tc.edit(c)
		errs := c.validateStore()
		if len(errs) == 0 || !strings.Contains(errs[0].Error(), tc.msg) {
			t.Errorf("got %v, want an error saying %q", errs, tc.msg)
		}
	}
	// A bbolt store keeps the node's files in the directory itself.
	c = defaultConfig()
	c.dir = "/srv/kmipd"
	if c.nodeDir() != "/srv/kmipd" {
		t.Errorf("bbolt nodeDir = %q", c.nodeDir())
	}
}
