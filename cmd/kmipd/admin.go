package main

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/internal/audit"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/store"
)

// metrics is kmipd's Prometheus instrumentation; it implements
// kmip.Observer.
type metrics struct {
	reg         *prometheus.Registry
	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	connsOpen   prometheus.Gauge
	connsTotal  prometheus.Counter
	handshakeKO *prometheus.CounterVec

	mu    sync.Mutex
	cache map[reqKey]reqSeries // resolved series, so serving does not hash labels
}

type reqKey struct {
	op     kmip.Operation
	status kmip.ResultStatus
	reason kmip.ResultReason
}

type reqSeries struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

// watch registers gauges for the key backend's and the audit trail's
// counters: HSM session pool waits and errors, HSM keys used outside the
// HSM, audit lag. The HSM ones read 0 with a backend that does not count
// (the software one has no sessions): dashboards and alerts need no case.
func (m *metrics) watch(backend hsm.Backend, trail *audit.Trail, svc *lifecycle.Service) {
	if sr, ok := backend.(hsm.StatsReporter); ok || svc != nil {
		if !ok {
			sr = noHSMStats{}
		}
		m.reg.MustRegister(
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kmipd_hsm_keys_used_in_go_total",
				Help: "Operations that used an HSM-held key in kmipd because the HSM could not do them (only keys a client may Get; none with hsm.strict)."},
				func() float64 { return float64(svc.HSMKeysUsedInGo()) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kmipd_hsm_pool_waits_total", Help: "HSM operations that waited for a free session."},
				func() float64 { return float64(sr.Stats().PoolWaits) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kmipd_hsm_errors_total", Help: "Failed HSM (PKCS#11) calls."},
				func() float64 { return float64(sr.Stats().Errors) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kmipd_hsm_key_cache_hits_total", Help: "Operations inside the HSM that found their key unwrapped in the session (hsm.key_cache)."},
				func() float64 { return float64(sr.Stats().KeyCacheHits) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kmipd_hsm_key_cache_misses_total", Help: "Operations inside the HSM that unwrapped their key."},
				func() float64 { return float64(sr.Stats().KeyCacheMisses) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kmipd_hsm_key_cache_evictions_total", Help: "Unwrapped HSM keys destroyed to make room in a session's cache."},
				func() float64 { return float64(sr.Stats().KeyCacheEvictions) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kmipd_hsm_key_cache_handles", Help: "Unwrapped keys the HSM holds for kmipd now (at most hsm.key_cache per session)."},
				func() float64 { return float64(sr.Stats().KeyCacheHandles) }))
	}
	if svc != nil {
		m.reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kmipd_lost_writes_total",
			Help: "Best-effort writes (Fresh cleared by a first Get, with a state change the dates made) that the store could not persist; the requests were served."},
			func() float64 { return float64(svc.LostWrites()) }))
	}
	if trail != nil {
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kmipd_audit_unsynced_records", Help: "Audit records written but not yet on disk (audit lag)."},
				func() float64 { u, _ := trail.Lag(); return float64(u) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kmipd_audit_lost_records", Help: "Audit records that could not be written since the last one that was."},
				func() float64 { _, l := trail.Lag(); return float64(l) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kmipd_audit_ring_pending_bytes", Help: "Bytes of audit records in the write-ahead ring not yet written to the trail file."},
				func() float64 { return float64(trail.Ring().Pending) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kmipd_audit_ring_waits_total", Help: "Audit records that waited for room in the full write-ahead ring."},
				func() float64 { return float64(trail.Ring().Waits) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kmipd_audit_file_write_failing", Help: "Whether the audit trail file cannot be written now (1: records wait in the write-ahead ring)."},
				func() float64 {
					if trail.Ring().FileError {
						return 1
					}
					return 0
				}), newAuditSinkMetrics(trail))
	}
}

// watchPush registers the counters of server-to-client operations
// (server_to_client): sent and answered Success, failed, dropped on a full
// queue.
func (m *metrics) watchPush(srv *kmip.Server) {
	m.reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kmipd_push_sent_total", Help: "Server-to-client operations (Notify) a client answered with Success."},
			func() float64 { return float64(srv.PushStats().Sent) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kmipd_push_failed_total", Help: "Server-to-client operations a client failed or did not answer."},
			func() float64 { return float64(srv.PushStats().Failed) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kmipd_push_dropped_total", Help: "Server-to-client operations dropped because the connection's queue was full."},
			func() float64 { return float64(srv.PushStats().Dropped) }))
}

func newMetrics(db *store.DB) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmipd_requests_total", Help: "Batch items served, by operation, result status and result reason.",
		}, []string{"operation", "status", "reason"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kmipd_request_duration_seconds",
			Help:    "Time to serve one batch item, by operation.",
			Buckets: []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1},
		}, []string{"operation"}),
		connsOpen:  prometheus.NewGauge(prometheus.GaugeOpts{Name: "kmipd_connections_open", Help: "Client connections open now."}),
		connsTotal: prometheus.NewCounter(prometheus.CounterOpts{Name: "kmipd_connections_total", Help: "Client connections accepted after a successful handshake."}),
		handshakeKO: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kmipd_tls_handshake_failures_total", Help: "TLS handshakes or client certificate checks that failed, by reason.",
		}, []string{"reason"}),
		cache: make(map[reqKey]reqSeries),
	}
	m.reg.MustRegister(m.requests, m.latency, m.connsOpen, m.connsTotal, m.handshakeKO,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	if db != nil {
		m.reg.MustRegister(
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kmipd_store_objects", Help: "Managed objects in the store."},
				func() float64 { return float64(db.Stats().Objects) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kmipd_store_file_bytes", Help: "Size of the store file."},
				func() float64 { return float64(db.Stats().FileSize) }),
			prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "kmipd_store_commit_failures_total", Help: "Store commits that failed (full disk, I/O errors)."},
				func() float64 { return float64(db.CommitFailures()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "kmipd_store_ready", Help: "1 while the store can commit (last commit succeeded, room on its filesystem), else 0."},
				func() float64 {
					if db.Ready() != nil {
						return 0
					}
					return 1
				}))
	}
	return m
}

func (m *metrics) ConnOpened() { m.connsOpen.Inc(); m.connsTotal.Inc() }
func (m *metrics) ConnClosed() { m.connsOpen.Dec() }
func (m *metrics) HandshakeFailed(reason string) {
	m.handshakeKO.WithLabelValues(reason).Inc()
}

func (m *metrics) ItemServed(op kmip.Operation, status kmip.ResultStatus, reason kmip.ResultReason, d time.Duration) {
	k := reqKey{op, status, reason}
	m.mu.Lock()
	s, ok := m.cache[k]
	if !ok {
		r := ""
		if status != kmip.ResultStatusSuccess {
			r = reason.String()
		}
		s = reqSeries{
			count:   m.requests.WithLabelValues(op.String(), status.String(), r),
			latency: m.latency.WithLabelValues(op.String()),
		}
		m.cache[k] = s
	}
	m.mu.Unlock()
	s.count.Inc()
	s.latency.Observe(d.Seconds())
}

// health answers /healthz (the process serves) and /readyz (the key
// backend answers and the store can commit). /readyz reports what the
// background check last found: it does no I/O itself, so probing it costs
// nothing and cannot make the server write.
type health struct {
	db       *store.DB
	backend  hsm.Backend
	interval time.Duration // between checks; zero: healthInterval

	mu         sync.Mutex
	backendErr error
}

// healthInterval is how often the backend and the store are checked: a
// full disk shows on /readyz within about a second.
const healthInterval = time.Second

// check asks the key backend for a random byte (or its own health check)
// and lets the store probe itself (store.DB.Probe: free space, and a small
// commit when nothing else committed lately).
func (h *health) check() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	if hc, ok := h.backend.(hsm.HealthChecker); ok {
		err = hc.Health(ctx)
	} else {
		var b [1]byte
		err = h.backend.Random(ctx, b[:])
	}
	h.mu.Lock()
	h.backendErr = err
	h.mu.Unlock()
	_ = h.db.Probe()
}

// run checks every interval until stop is closed.
func (h *health) run(stop <-chan struct{}) {
	d := h.interval
	if d <= 0 {
		d = healthInterval
	}
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			h.check()
		}
	}
}

// ready returns why the server is not ready, from the last check and the
// store's last commit (a failed one turns it red at once; the next
// successful commit, a client's or the check's, turns it green).
func (h *health) ready() error {
	h.mu.Lock()
	err := h.backendErr
	h.mu.Unlock()
	if err != nil {
		return errors.New("key backend: " + err.Error())
	}
	if err := h.db.Ready(); err != nil {
		return errors.New("store cannot commit: " + err.Error())
	}
	return nil
}

// adminServer serves /metrics, /healthz and /readyz on addr (plain HTTP:
// bind it to loopback or a management network).
func adminServer(addr string, m *metrics, h *health, log zerolog.Logger) (*http.Server, net.Listener, error) {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("ok\n")) })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := h.ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Write([]byte("ready\n"))
	})
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, nil, err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	m.watchHealth(h)
	h.check() // /readyz is right from the first request
	stop := make(chan struct{})
	go h.run(stop)
	go func() {
		defer close(stop)
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error().Err(err).Msg("admin listener failed")
		}
	}()
	log.Info().Str("addr", l.Addr().String()).Msg("admin listener: /metrics /healthz /readyz")
	return srv, l, nil
}
