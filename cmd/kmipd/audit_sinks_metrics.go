package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kmipd/kmipd/internal/audit"
)

// auditSinkMetrics exports the counters of the trail's sinks, labelled
// with the sink's name (type:address).
type auditSinkMetrics struct {
	trail                            *audit.Trail
	sent, dropped, queued, connected *prometheus.Desc
}

func newAuditSinkMetrics(trail *audit.Trail) *auditSinkMetrics {
	l := []string{"sink"}
	return &auditSinkMetrics{trail: trail,
		sent:      prometheus.NewDesc("kmipd_audit_sink_sent_total", "Audit records a sink has sent.", l, nil),
		dropped:   prometheus.NewDesc("kmipd_audit_sink_dropped_total", "Audit records a sink could not stream (queue full, or unsent at shutdown).", l, nil),
		queued:    prometheus.NewDesc("kmipd_audit_sink_queued_records", "Audit records waiting in a sink's queue.", l, nil),
		connected: prometheus.NewDesc("kmipd_audit_sink_connected", "1 while a sink is connected.", l, nil),
	}
}

func (m *auditSinkMetrics) Describe(ch chan<- *prometheus.Desc) {
	ch <- m.sent
	ch <- m.dropped
	ch <- m.queued
	ch <- m.connected
}

func (m *auditSinkMetrics) Collect(ch chan<- prometheus.Metric) {
	for _, s := range m.trail.SinkStats() {
		conn := 0.0
		if s.Connected {
			conn = 1
		}
		ch <- prometheus.MustNewConstMetric(m.sent, prometheus.CounterValue, float64(s.Sent), s.Name)
		ch <- prometheus.MustNewConstMetric(m.dropped, prometheus.CounterValue, float64(s.Dropped), s.Name)
		ch <- prometheus.MustNewConstMetric(m.queued, prometheus.GaugeValue, float64(s.Queued), s.Name)
		ch <- prometheus.MustNewConstMetric(m.connected, prometheus.GaugeValue, conn, s.Name)
	}
}
