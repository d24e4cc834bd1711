package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/store"
)

// Metrics for operators' dashboards and alerts (testdata/packaging:
// grafana-kmipd.json, kmipd-alerts.yml): readiness as a series, free space
// under the store, certificate expiry, and what this server runs.

// watchHealth registers the readiness gauges (what /readyz answers, from
// the same background check) and the store's free space and format.
func (m *metrics) watchHealth(h *health) {
	boolGauge := func(name, help string, ok func() bool) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			if ok() {
				return 1
			}
			return 0
		})
	}
	m.reg.MustRegister(
		boolGauge("kmipd_ready", "1 while /readyz answers 200 (key backend answers, store can commit), else 0.",
			func() bool { return h.ready() == nil }),
		boolGauge("kmipd_key_backend_ready", "1 while the key backend (HSM or master key) answered the last health check, else 0.",
			func() bool { h.mu.Lock(); defer h.mu.Unlock(); return h.backendErr == nil }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kmipd_build_info",
			Help:        "Always 1: the kmipd version and the store format version (kmipd store info).",
			ConstLabels: prometheus.Labels{"version": version(), "store_format": strconv.Itoa(h.db.Format()), "store_format_supported": strconv.Itoa(store.SchemaVersion)}},
			func() float64 { return 1 }))
	if _, ok := h.db.FreeSpace(); ok {
		m.reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kmipd_store_filesystem_free_bytes",
			Help: "Free bytes (for kmipd's user) on the filesystem of the store file."},
			func() float64 { free, _ := h.db.FreeSpace(); return float64(free) }))
	}
}

// watchCerts registers when the server certificate and the client CA
// certificates (the earliest of them) expire, as loaded at start.
func (m *metrics) watchCerts(cert tls.Certificate, caPEM []byte) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "kmipd_tls_certificate_expiry_timestamp_seconds",
		Help: "When a certificate kmipd serves with expires (Unix time): certificate=server, or client_ca (the earliest CA certificate that verifies clients)."},
		[]string{"certificate"})
	leaf := cert.Leaf
	if leaf == nil && len(cert.Certificate) > 0 {
		leaf, _ = x509.ParseCertificate(cert.Certificate[0])
	}
	if leaf != nil {
		g.WithLabelValues("server").Set(float64(leaf.NotAfter.Unix()))
	}
	var earliest time.Time
	for rest := caPEM; ; {
		var b *pem.Block
		if b, rest = pem.Decode(rest); b == nil {
			break
		}
		if c, err := x509.ParseCertificate(b.Bytes); err == nil && (earliest.IsZero() || c.NotAfter.Before(earliest)) {
			earliest = c.NotAfter
		}
	}
	if !earliest.IsZero() {
		g.WithLabelValues("client_ca").Set(float64(earliest.Unix()))
	}
	m.reg.MustRegister(g)
}

// noHSMStats stands for a key backend without HSM counters.
type noHSMStats struct{}

func (noHSMStats) Stats() hsm.Stats { return hsm.Stats{} }
