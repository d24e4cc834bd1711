// Command scaleprobe measures, over one mutual-TLS connection, the latency
// of Get, Locate by Name, Locate by custom attribute, Create and Destroy
// against a store that `kmipd dev fill` filled (testdata/bench/scale.sh).
// Each request is sent alone and timed; the keys read are picked at random
// among the filled ones, so most Gets miss the server's object cache. It
// prints one JSON object: per operation, the samples and the p50 and p99
// in milliseconds. "Get (first)" is the first Get of a key, which also
// persists Fresh = false; "Get (again)" a Get of a key already served.
package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"time"

	"github.com/kmipd/kmipd/internal/scalebench"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

type opResult struct {
	Samples int     `json:"samples"`
	P50     float64 `json:"p50_ms"`
	P99     float64 `json:"p99_ms"`
	Max     float64 `json:"max_ms"`
}

func main() {
	server := flag.String("server", "127.0.0.1:5696", "kmipd address")
	ca := flag.String("ca", "", "CA certificate (PEM)")
	cert := flag.String("cert", "", "client certificate (PEM)")
	key := flag.String("key", "", "client key (PEM)")
	count := flag.Int("count", 0, "keys the store was filled with")
	reads := flag.Int("reads", 2000, "samples of Get and of each Locate")
	writes := flag.Int("writes", 200, "samples of Create and of Destroy")
	budget := flag.Duration("budget", 60*time.Second, "at most this long per operation")
	flag.Parse()
	if err := run(*server, *ca, *cert, *key, *count, *reads, *writes, *budget); err != nil {
		fmt.Fprintln(os.Stderr, "scaleprobe:", err)
		os.Exit(1)
	}
}

func run(server, caFile, certFile, keyFile string, count, reads, writes int, budget time.Duration) error {
	if count < 1 || reads < 1 || writes < 1 {
		return errors.New("--count, --reads and --writes must be positive")
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return err
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s: no certificate", caFile)
	}
	c, err := kmip.Dial(server, &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		return err
	}
	defer c.Close()
	c.Version = kmip.V2_0
	objs := scalebench.Default
	lat := map[string][]time.Duration{}
	timed := func(op string, kop kmip.Operation, payload func(b *ttlv.Builder)) (ttlv.Value, error) {
		t0 := time.Now()
		p, err := c.Call(kop, payload)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", op, err)
		}
		lat[op] = append(lat[op], time.Since(t0))
		return p, nil
	}
	ids := func(p ttlv.Value) []string {
		var out []string
		for !p.Empty() {
			it, ok := p.Next()
			if !ok {
				break
			}
			if it.Tag == ttlv.TagUniqueIdentifier {
				out = append(out, string(it.Data))
			}
		}
		return out
	}
	seen := map[int]struct{}{}
	start := time.Now()
	for n := 0; n < reads && time.Since(start) < budget; n++ {
		i := rand.IntN(count)
		p, err := timed("Locate by Name", kmip.OperationLocate, objs.LocateByName(i))
		if err != nil {
			return err
		}
		found := ids(p)
		if len(found) != 1 {
			return fmt.Errorf("locate by Name of key %d found %d keys, want 1", i, len(found))
		}
		// A key's first Get also persists Fresh = false (KMIP 2.0 §4.24):
		// a store write. The second is a read, usually from the cache.
		get := func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, found[0]) }
		first := "Get (first)"
		if _, ok := seen[i]; ok {
			first = "Get (again)"
		}
		seen[i] = struct{}{}
		if _, err := timed(first, kmip.OperationGet, get); err != nil {
			return err
		}
		if _, err := timed("Get (again)", kmip.OperationGet, get); err != nil {
			return err
		}
		p, err = timed("Locate by attribute", kmip.OperationLocate, objs.LocateByAttr(i))
		if err != nil {
			return err
		}
		want := min(objs.GroupSize, count-i/objs.GroupSize*objs.GroupSize)
		if got := len(ids(p)); got != want {
			return fmt.Errorf("locate by attribute of key %d's group found %d keys, want %d", i, got, want)
		}
	}
	// New keys, numbered after the filled ones and named apart from them.
	probe := objs
	probe.Prefix += "-probe-" + fmt.Sprint(time.Now().UnixNano())
	var created []string
	start = time.Now()
	for n := 0; n < writes && time.Since(start) < budget; n++ {
		p, err := timed("Create", kmip.OperationCreate, probe.Create(count+n))
		if err != nil {
			return err
		}
		created = append(created, ids(p)...)
	}
	start = time.Now()
	for _, id := range created {
		if time.Since(start) >= budget {
			break
		}
		if _, err := timed("Destroy", kmip.OperationDestroy, func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, id) }); err != nil {
			return err
		}
	}
	out := map[string]opResult{}
	for op, ds := range lat {
		slices.Sort(ds)
		q := func(f float64) float64 { return float64(ds[min(len(ds)-1, int(f*float64(len(ds))))]) / 1e6 }
		out[op] = opResult{Samples: len(ds), P50: q(0.50), P99: q(0.99), Max: float64(ds[len(ds)-1]) / 1e6}
	}
	enc := json.NewEncoder(os.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
