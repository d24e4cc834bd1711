package conformance

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"mime"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Transport carries one encoded request message (TTLV) to the server and
// returns its TTLV response.
type Transport interface {
	RoundTrip(msg []byte) ([]byte, error)
}

// TTLVTransport sends TTLV over one mutual-TLS connection (KMIP Profiles
// 2.1 §3.1), the default transport.
type TTLVTransport struct {
	Client *kmip.Client
}

// DialTTLV connects to a KMIP server.
func DialTTLV(addr string, cfg *tls.Config) (*TTLVTransport, error) {
	c, err := kmip.Dial(addr, cfg)
	if err != nil {
		return nil, err
	}
	return &TTLVTransport{Client: c}, nil
}

// RoundTrip sends msg and returns a copy of the response.
func (t *TTLVTransport) RoundTrip(msg []byte) ([]byte, error) {
	out, err := t.Client.RoundTrip(msg)
	if err != nil {
		return nil, err
	}
	return append([]byte(nil), out...), nil
}

// Close closes the connection.
func (t *TTLVTransport) Close() error { return t.Client.Close() }

// Encoding is a message encoding of the HTTPS transport (KMIP Profiles 2.1
// §5.3–§5.5).
type Encoding int

const (
	EncodingTTLV Encoding = iota // application/octet-stream
	EncodingJSON                 // application/json
	EncodingXML                  // text/xml
)

// ContentType is the HTTP Content-Type of the encoding.
func (e Encoding) ContentType() string {
	switch e {
	case EncodingJSON:
		return "application/json"
	case EncodingXML:
		return "text/xml"
	}
	return "application/octet-stream"
}

func (e Encoding) String() string {
	switch e {
	case EncodingJSON:
		return "json"
	case EncodingXML:
		return "xml"
	}
	return "ttlv"
}

// FileEncoding tells how a test-case file's messages are meant to travel,
// from its name: MSGENC-HTTPS files use HTTPS with TTLV bodies,
// MSGENC-JSON and MSGENC-XML files HTTPS with JSON or XML bodies; every
// other file plain TTLV (https false).
func FileEncoding(file string) (enc Encoding, https bool) {
	base := strings.ToUpper(filepath.Base(file))
	switch {
	case strings.HasPrefix(base, "MSGENC-HTTPS"):
		return EncodingTTLV, true
	case strings.HasPrefix(base, "MSGENC-JSON"):
		return EncodingJSON, true
	case strings.HasPrefix(base, "MSGENC-XML"):
		return EncodingXML, true
	}
	return EncodingTTLV, false
}

// HTTPSTransport POSTs each message to a URL (KMIP Profiles 2.1 §5.3),
// encoded as Encoding says; it converts to and from TTLV with the codec.
type HTTPSTransport struct {
	URL      string
	Encoding Encoding
	Client   *http.Client
}

// NewHTTPSTransport returns an HTTPS transport posting to url (such as
// https://127.0.0.1:5696/kmip) with the client TLS configuration cfg.
func NewHTTPSTransport(url string, cfg *tls.Config, enc Encoding) *HTTPSTransport {
	return &HTTPSTransport{
		URL:      url,
		Encoding: enc,
		Client: &http.Client{
			Timeout:   30 * time.Second,
			Transport: &http.Transport{TLSClientConfig: cfg, ForceAttemptHTTP2: false},
		},
	}
}

// maxHTTPSResponse bounds a response body.
const maxHTTPSResponse = 64 << 20

// RoundTrip encodes msg, posts it and decodes the response.
func (t *HTTPSTransport) RoundTrip(msg []byte) ([]byte, error) {
	var body []byte
	var err error
	switch t.Encoding {
	case EncodingJSON:
		body, err = ttlv.AppendJSON(nil, msg, false)
	case EncodingXML:
		body, err = ttlv.AppendXML(nil, msg, false)
	default:
		body = msg
	}
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodPost, t.URL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", t.Encoding.ContentType())
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := t.Client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxHTTPSResponse+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxHTTPSResponse {
		return nil, fmt.Errorf("response larger than %d bytes", maxHTTPSResponse)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("HTTP %s: %s", resp.Status, oneLine(string(data)))
	}
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case ct == "application/json" || ct == "" && t.Encoding == EncodingJSON:
		return ttlv.ParseJSON(data, nil)
	case ct == "text/xml" || ct == "application/xml" || ct == "" && t.Encoding == EncodingXML:
		return ttlv.ParseXML(data, nil)
	case ct == "application/octet-stream" || ct == "":
		return data, nil
	}
	return nil, fmt.Errorf("unexpected response Content-Type %q", ct)
}

// Close closes idle connections.
func (t *HTTPSTransport) Close() error {
	t.Client.CloseIdleConnections()
	return nil
}
