package main

import (
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Limits that keep a benchmark bounded.
const (
	benchMaxConns    = 1024
	benchMaxDuration = 10 * time.Minute
	benchMaxKeys     = 10000
)

// opStats accumulates one operation's results in one worker.
type opStats struct {
	hist          histogram
	errors        uint64
	firstErr      error
	reqBytes      int
	respBytes     int
	fatal         bool // the connection failed
	observedSizes bool
}

type benchWorker struct {
	c     *kmip.Client
	buf   []byte // the request encode builds
	stats map[string]*opStats
	n     int // iterations done
}

func (w *benchWorker) stat(op string) *opStats {
	st := w.stats[op]
	if st == nil {
		st = &opStats{}
		w.stats[op] = st
	}
	return st
}

// encode builds a single-item request; the result is valid until the
// next call.
func (w *benchWorker) encode(op kmip.Operation, payload func(b *ttlv.Builder)) ([]byte, error) {
	req, err := w.c.EncodeRequest(w.buf, op, payload)
	if err == nil {
		w.buf = req
	}
	return req, err
}

// exchange times one request; the payload is valid until the next call.
func (w *benchWorker) exchange(op string, req []byte) (ttlv.Value, error) {
	st := w.stat(op)
	t0 := time.Now()
	p, respBytes, err := exchange(w.c, req)
	d := time.Since(t0)
	if err != nil {
		st.errors++
		if st.firstErr == nil {
			st.firstErr = err
		}
		if !isKMIPFailure(err) {
			st.fatal = true
		}
		return nil, err
	}
	st.hist.record(d)
	if !st.observedSizes {
		st.reqBytes, st.respBytes, st.observedSizes = len(req), respBytes, true
	}
	return p, nil
}

// benchRun sets up, connects every worker, runs them for the duration and
// fills rep.
func benchRun(addr string, cfg *tls.Config, opts options, o *benchOptions, mix *benchMix, rep *benchReport) error {
	setup, _, err := dialTimed(addr, 0, cfg, opts.version, opts.timeout)
	if err != nil {
		return err
	}
	defer setup.Close()
	if mix.setup != nil {
		if err := mix.setup(setup); err != nil {
			if mix.cleanup != nil {
				mix.cleanup(setup)
			}
			return err
		}
	}
	if mix.cleanup != nil {
		defer func() {
			if err := mix.cleanup(setup); err != nil {
				rep.Error = "cleanup: " + err.Error()
			}
		}()
	}

	workers := make([]*benchWorker, o.conns)
	var connectTotal time.Duration
	for i := range workers {
		t0 := time.Now()
		// With several --server addresses, connections are spread over
		// them, each failing over to the next.
		c, _, err := dialTimed(addr, i, cfg, opts.version, opts.timeout)
		if err != nil {
			for _, w := range workers[:i] {
				w.c.Close()
			}
			return err
		}
		// Complete the handshake now: TLS 1.3 servers check the client
		// certificate after the client's handshake returns.
		if _, err := call(c, kmip.OperationDiscoverVersions, nil); err != nil && !isKMIPFailure(err) {
			c.Close()
			for _, w := range workers[:i] {
				w.c.Close()
			}
			return err
		}
		connectTotal += time.Since(t0)
		workers[i] = &benchWorker{c: c, stats: map[string]*opStats{}}
	}
	defer func() {
		for _, w := range workers {
			w.c.Close()
		}
	}()

	start := time.Now()
	deadline := start.Add(o.duration)
	var wg sync.WaitGroup
	ends := make([]time.Time, len(workers))
	for i, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; time.Now().Before(deadline); k++ {
				if err := mix.iteration(w, i+k*len(workers)); err != nil {
					break
				}
				w.n++
			}
			ends[i] = time.Now()
		}()
	}
	wg.Wait()
	end := start
	for _, e := range ends {
		if e.After(end) {
			end = e
		}
	}
	elapsed := end.Sub(start)

	rep.DurationS = elapsed.Seconds()
	rep.ConnectMS = ms(connectTotal / time.Duration(len(workers)))
	merged := map[string]*opStats{}
	for _, w := range workers {
		for name, st := range w.stats {
			m := merged[name]
			if m == nil {
				m = &opStats{}
				merged[name] = m
			}
			m.hist.merge(&st.hist)
			m.errors += st.errors
			if m.firstErr == nil {
				m.firstErr = st.firstErr
			}
			if !m.observedSizes && st.observedSizes {
				m.reqBytes, m.respBytes, m.observedSizes = st.reqBytes, st.respBytes, true
			}
		}
	}
	for name, st := range merged {
		r := &opReport{
			Count: st.hist.n, Errors: st.errors, OpsPerSec: float64(st.hist.n) / elapsed.Seconds(),
			MeanMS: ms(st.hist.mean()), P50MS: ms(st.hist.quantile(0.50)), P90MS: ms(st.hist.quantile(0.90)),
			P99MS: ms(st.hist.quantile(0.99)), MaxMS: ms(st.hist.max),
			RequestBytes: st.reqBytes, ResponseBytes: st.respBytes,
		}
		if st.firstErr != nil {
			r.FirstError = describe(st.firstErr)
		}
		rep.Operations[name] = r
		rep.Ops += st.hist.n
		rep.Errors += st.errors
	}
	rep.OpsPerSec = float64(rep.Ops) / elapsed.Seconds()
	return nil
}

// loopbackOnly refuses a server that is not on a loopback address.
func loopbackOnly(addrs string) error {
	for _, a := range strings.Split(addrs, ",") {
		if err := loopbackOnlyOne(a); err != nil {
			return err
		}
	}
	return nil
}

func loopbackOnlyOne(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return usageErrorf("invalid --server %q: %v", addr, err)
	}
	var ips []net.IP
	if ip := net.ParseIP(host); ip != nil {
		ips = []net.IP{ip}
	} else if ips, err = net.LookupIP(host); err != nil {
		return connError{err}
	}
	for _, ip := range ips {
		if !ip.IsLoopback() {
			return usageErrorf("bench runs against loopback servers only; %s is %s", host, ip)
		}
	}
	if len(ips) == 0 {
		return usageErrorf("bench: %s has no address", host)
	}
	return nil
}
