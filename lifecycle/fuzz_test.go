package lifecycle_test

import (
	"bytes"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/internal/conformance"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/lifecycle/lifecycletest"
	"github.com/kmipd/kmipd/ttlv"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) take() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.b.String()
	s.b.Reset()
	return out
}

// oasisRequests returns every request of the OASIS test-case files that
// encodes to TTLV as written (placeholders such as $NOW in typed values do
// not), as fuzz seeds.
func oasisRequests(tb testing.TB) [][]byte {
	dir := conformance.CasesDir(filepath.Join("..", "..", "shared", "kmip-testcases"))
	files, err := conformance.Files(dir)
	if err != nil || len(files) == 0 {
		if os.Getenv("CI") != "" {
			tb.Fatalf("OASIS test cases not found at %s: %v", dir, err)
		}
		tb.Logf("OASIS test cases not found at %s: built-in seeds only", dir)
		return nil
	}
	var msgs [][]byte
	for _, f := range files {
		v, err := conformance.Load(f)
		if err != nil {
			continue
		}
		for _, s := range v.Steps {
			if m, err := s.Request.TTLV(); err == nil {
				msgs = append(msgs, m)
			}
		}
	}
	return msgs
}

// FuzzServe feeds arbitrary request messages through the whole engine
// (decode, dispatch onto a real store and key backend, encode), as one
// client session over many messages. Seeds are the OASIS requests; under
// `go test` each runs once. No input may panic (the server would turn a
// panic into General Failure and log it: the log is checked), and every
// answer must be a well-formed response message.
func FuzzServe(f *testing.F) {
	var w kmip.RequestWriter
	w.Begin(nil, kmip.V2_0, 1, nil)
	w.Item(kmip.OperationCreate, nil, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		symAttrs(kmip.V2_0, kmip.CryptographicAlgorithmAES, 256, "fuzz", nil)(b)
	})
	if m, err := w.Finish(); err == nil {
		f.Add(append([]byte(nil), m...))
	}
	seeds := oasisRequests(f)
	for _, m := range seeds {
		f.Add(m)
	}
	f.Logf("%d seed messages", len(seeds)+1)

	logs := new(syncBuffer)
	le := lifecycletest.New(f, &lifecycletest.Options{NoSync: true})
	srv := &kmip.Server{Handler: le.Service, Logger: zerolog.New(logs).Level(zerolog.ErrorLevel),
		Now: func() time.Time { return time.Unix(1_800_000_000, 0) }}
	sess := srv.NewSession(kmip.Identity{Name: "admin"}, nil)
	f.Fuzz(func(t *testing.T, msg []byte) {
		out := srv.Handle(sess, msg)
		if l := logs.take(); bytes.Contains([]byte(l), []byte("panic")) {
			t.Fatalf("request %x made the engine panic:\n%s", msg, l)
		}
		if len(out) == 0 {
			return // framing lost: the connection would be closed
		}
		if err := ttlv.Check(out, ttlv.DefaultMaxDepth); err != nil {
			t.Fatalf("malformed response %x to %x: %v", out, msg, err)
		}
		var r kmip.Response
		if err := r.Parse(out, kmip.Limits{}); err != nil {
			t.Fatalf("unparsable response to %x: %v\n%s", msg, err, ttlv.Format(out))
		}
	})
}
