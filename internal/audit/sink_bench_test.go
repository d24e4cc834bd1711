package audit

import (
	"io"
	"net"
	"testing"
)

// BenchmarkAppendSink is BenchmarkAppend (sync none) with a JSON-lines sink
// whose receiver reads as fast as it can: fail-open queues the record
// (dropping it when the queue is full, or waiting for room with on_full
// block), fail-closed waits until it is written to the connection.
func BenchmarkAppendSink(b *testing.B) {
	for _, c := range []struct {
		name       string
		failClosed bool
		onFull     string
	}{{"fail_open", false, OnFullDrop}, {"fail_open_block", false, OnFullBlock}, {"fail_closed", true, OnFullDrop}} {
		b.Run(c.name, func(b *testing.B) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close()
			go func() {
				for {
					c, err := l.Accept()
					if err != nil {
						return
					}
					go io.Copy(io.Discard, c)
				}
			}()
			dir := b.TempDir()
			tr, err := Open(Options{Path: dir + "/audit.log", KeyPath: dir + "/audit.key", Sync: SyncNone, FailClosed: c.failClosed,
				Sinks: []SinkOptions{{Type: SinkJSONL, Address: l.Addr().String(), OnFull: c.onFull}}})
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			rec := opRecord(1)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, err := tr.Append(rec); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			if st := tr.SinkStats()[0]; st.Dropped > 0 {
				b.Logf("dropped %d of %d", st.Dropped, b.N)
			}
		})
	}
}
