package conformance_test

import (
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/kmipd/kmipd/internal/conformance"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/ttlv"
)

// httpsServer is a tiny KMIP-over-HTTPS server (KMIP Profiles 2.1 §5.3) in
// front of kmipd's service: POST /kmip with a TTLV, JSON or XML body, the
// response in the same encoding. It records the content types it saw.
type httpsServer struct {
	*httptest.Server
	mu    sync.Mutex
	types map[string]int
}

func startHTTPS(t *testing.T, h kmip.Handler) (*httpsServer, *kmiptest.PKI) {
	t.Helper()
	p := kmiptest.MustPKI(t, "admin")
	ks := &kmip.Server{Handler: h}
	sess := ks.NewSession(kmip.Identity{Name: "admin"}, nil)
	s := &httpsServer{types: make(map[string]int)}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/kmip" {
			http.Error(w, "not here", http.StatusNotFound)
			return
		}
		if r.Header.Get("Cache-Control") != "no-cache" {
			http.Error(w, "want Cache-Control: no-cache", http.StatusBadRequest)
			return
		}
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		body, _ := io.ReadAll(r.Body)
		var msg []byte
		var err error
		switch ct {
		case "application/octet-stream":
			msg = body
		case "application/json":
			msg, err = ttlv.ParseJSON(body, nil)
		case "text/xml":
			msg, err = ttlv.ParseXML(body, nil)
		default:
			http.Error(w, "bad content type", http.StatusUnsupportedMediaType)
			return
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		s.types[ct]++
		out := append([]byte(nil), ks.Handle(sess, msg)...)
		s.mu.Unlock()
		switch ct {
		case "application/json":
			out, err = ttlv.AppendJSON(nil, out, false)
		case "text/xml":
			out, err = ttlv.AppendXML(nil, out, false)
		}
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", ct)
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(out)
	}))
	s.TLS = p.ServerTLS(t)
	s.StartTLS()
	t.Cleanup(s.Close)
	return s, p
}

// Ensure that the HTTPS transport carries a whole file in each encoding,
// with the right Content-Type.
func TestHTTPSTransport_Encodings(t *testing.T) {
	srv, p := startHTTPS(t, newService(t))
	for _, enc := range []conformance.Encoding{conformance.EncodingTTLV, conformance.EncodingJSON, conformance.EncodingXML} {
		t.Run(enc.String(), func(t *testing.T) {
			tr := conformance.NewHTTPSTransport(srv.URL+"/kmip", p.ClientTLS(t, "admin"), enc)
			defer tr.Close()
			r := &conformance.Runner{Transport: tr, Reset: true}
			mustPass(t, r.Run("testdata/basic-21.xml"))
			mustPass(t, r.Run("testdata/basic-14.xml"))
			srv.mu.Lock()
			n := srv.types[enc.ContentType()]
			srv.mu.Unlock()
			if n < 11 { // 2 resets + 9 steps
				t.Fatalf("%d %s requests", n, enc.ContentType())
			}
		})
	}
}

// Ensure that an HTTP error is a transport error.
func TestHTTPSTransport_HTTPError(t *testing.T) {
	srv, p := startHTTPS(t, newService(t))
	tr := conformance.NewHTTPSTransport(srv.URL+"/elsewhere", p.ClientTLS(t, "admin"), conformance.EncodingTTLV)
	msg, err := conformance.ResetMessage(kmip.V2_1)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tr.RoundTrip(msg); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("err = %v", err)
	}
}

func TestFileEncoding(t *testing.T) {
	for file, want := range map[string]struct {
		enc   conformance.Encoding
		https bool
	}{
		"a/MSGENC-HTTPS-M-1-21.xml": {conformance.EncodingTTLV, true},
		"MSGENC-JSON-M-1-14.xml":    {conformance.EncodingJSON, true},
		"x/y/MSGENC-XML-M-1-21.xml": {conformance.EncodingXML, true},
		"BL-M-1-21.xml":             {conformance.EncodingTTLV, false},
	} {
		enc, https := conformance.FileEncoding(file)
		if enc != want.enc || https != want.https {
			t.Errorf("%s: %v %v", file, enc, https)
		}
	}
}
