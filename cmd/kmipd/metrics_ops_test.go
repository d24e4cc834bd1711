package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"regexp"
	"strconv"
	"testing"

	"github.com/kmipd/kmipd/store"
)

// The operators' metrics of a healthy kmipd with the software backend:
// ready, certificate expiry as in the files it loaded, free space, store
// format, HSM counters at 0.
func TestAdmin_OpsMetrics(t *testing.T) {
	dir := initDir(t)
	cfg, err := loadConfig(dir)
	if err != nil {
		t.Fatal(err)
	}
	admin := freePort(t)
	p := startServer(t, dir, nil, "--addr", "127.0.0.1:0", "--admin-addr", admin)
	defer p.stop(t)
	_, body := adminGet(t, admin, "/metrics")

	for _, name := range []string{"kmipd_ready", "kmipd_key_backend_ready", "kmipd_store_ready"} {
		if v := metricValue(t, body, "(?m)^"+name); v != 1 {
			t.Errorf("%s = %v, want 1", name, v)
		}
	}
	for _, name := range []string{"kmipd_hsm_pool_waits_total", "kmipd_hsm_errors_total", "kmipd_hsm_keys_used_in_go_total",
		"kmipd_hsm_key_cache_hits_total", "kmipd_hsm_key_cache_misses_total", "kmipd_hsm_key_cache_evictions_total", "kmipd_hsm_key_cache_handles"} {
		if v := metricValue(t, body, "(?m)^"+name); v != 0 || !regexp.MustCompile("(?m)^"+name+" 0$").MatchString(body) {
			t.Errorf("%s = %v or missing, want 0 with the software backend", name, v)
		}
	}
	if v := metricValue(t, body, "(?m)^kmipd_store_filesystem_free_bytes"); v <= 0 {
		t.Errorf("kmipd_store_filesystem_free_bytes = %v", v)
	}
	want := `kmipd_build_info\{store_format="` + strconv.Itoa(store.SchemaVersion) + `",store_format_supported="` + strconv.Itoa(store.SchemaVersion) + `",version="[^"]+"\}`
	if v := metricValue(t, body, want); v != 1 {
		t.Errorf("no %s 1 in\n%s", want, body)
	}

	kp, err := tls.LoadX509KeyPair(cfg.path(cfg.TLS.Cert), cfg.path(cfg.TLS.Key))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(kp.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(cfg.path(cfg.TLS.CA))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(caPEM)
	ca, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	for label, c := range map[string]*x509.Certificate{"server": leaf, "client_ca": ca} {
		got := metricValue(t, body, `kmipd_tls_certificate_expiry_timestamp_seconds\{certificate="`+label+`"\}`)
		if int64(got) != c.NotAfter.Unix() {
			t.Errorf("expiry of %s = %v, want %d (%s)", label, got, c.NotAfter.Unix(), c.NotAfter)
		}
	}
}
