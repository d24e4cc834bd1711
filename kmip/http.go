package kmip

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"mime"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/kmipd/kmipd/ttlv"
)

// HTTPPath is where KMIP over HTTPS is served (KMIP Profiles 2.1 §5.3.2:
// "SHOULD" be /kmip).
const HTTPPath = "/kmip"

// Content types of the three message encodings (KMIP Profiles 2.1 §5.3).
const (
	ContentTypeTTLV = "application/octet-stream"
	ContentTypeJSON = "application/json"
	ContentTypeXML  = "text/xml"
)

// serveHTTP serves KMIP over HTTP/1.0 and 1.1 on an established mutual-TLS
// connection: each POST /kmip carries one request message as TTLV, JSON or
// XML, and gets the response in the same encoding. Size limits apply as if
// the message were TTLV (KMIP Profiles 2.1 §5.4, §5.5). The request line and
// headers are limited to MaxHeaderBytes, read within HeaderReadTimeout:
// http.ReadRequest itself reads headers without bound.
func (c *conn) serveHTTP() {
	s := c.srv
	lim := &readLimit{r: c.br}
	br := bufio.NewReaderSize(lim, 4096)
	remote := c.raw.RemoteAddr()
	for {
		// Bytes already buffered were counted against the previous
		// request: the slack is at most the buffer's 4 KiB.
		lim.n, lim.err = int64(s.maxHeaderBytes()), nil
		c.idle.Store(true)
		if s.inShutdown.Load() {
			return
		}
		c.nc.SetReadDeadline(time.Now().Add(s.idleTimeout()))
		if _, err := br.Peek(1); err != nil {
			return
		}
		c.idle.Store(false)
		c.nc.SetReadDeadline(time.Now().Add(s.headerReadTimeout()))
		req, err := http.ReadRequest(br)
		if err != nil {
			// A read error cutting a header line short makes ReadRequest
			// report the partial line as malformed: lim.err says why.
			var ne net.Error
			switch {
			case lim.n <= 0:
				c.refuseHTTP(http.StatusRequestHeaderFieldsTooLarge, "request line and headers exceed "+strconv.Itoa(s.maxHeaderBytes())+" bytes", false)
			case errors.As(lim.err, &ne) && ne.Timeout():
				c.refuseHTTP(http.StatusRequestTimeout, "request line and headers not received within "+s.headerReadTimeout().String(), false)
			case errors.Is(err, io.EOF), errors.Is(lim.err, net.ErrClosed):
				// The client left between requests.
			default:
				c.refuseHTTP(http.StatusBadRequest, "malformed HTTP request", false)
			}
			return
		}
		// The body is bounded by serveHTTPRequest; this bounds what reading
		// past it costs: chunk framing, trailers, draining a refused body.
		lim.n = 8*int64(s.maxMessageSize()) + int64(s.maxHeaderBytes())
		c.nc.SetReadDeadline(time.Now().Add(s.readTimeout()))
		if !c.serveHTTPRequest(req) {
			return
		}
		if err := req.Body.Close(); err != nil { // drains it for the next request
			c.srv.refuseMessage(remote, &c.sess.Identity, RequestID{}, ResultReasonInvalidMessage, "HTTP request body: "+err.Error())
			return
		}
	}
}

// readLimit reads from r until n bytes have been read, then fails. err
// keeps r's last error.
type readLimit struct {
	r   io.Reader
	n   int64
	err error
}

var errReadLimit = errors.New("kmip: read limit reached")

func (l *readLimit) Read(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errReadLimit
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.r.Read(p)
	l.n -= int64(n)
	if err != nil {
		l.err = err
	}
	return n, err
}

// refuseHTTP answers a request that is not served as a KMIP message, and
// reports it.
func (c *conn) refuseHTTP(code int, msg string, keep bool) bool {
	c.srv.refuseMessage(c.raw.RemoteAddr(), &c.sess.Identity, RequestID{}, ResultReasonInvalidMessage, "HTTP "+strconv.Itoa(code)+": "+msg)
	return c.writeHTTPError(code, msg, keep)
}

// serveHTTPRequest answers one request and reports whether the connection
// stays open.
func (c *conn) serveHTTPRequest(req *http.Request) bool {
	s := c.srv
	keep := !req.Close && (req.ProtoAtLeast(1, 1) || req.Header.Get("Connection") == "keep-alive")
	if req.URL.Path != HTTPPath {
		return c.refuseHTTP(http.StatusNotFound, "KMIP is served at "+HTTPPath, keep)
	}
	if req.Method != http.MethodPost {
		return c.refuseHTTP(http.StatusMethodNotAllowed, "use POST", keep)
	}
	ct, _, _ := mime.ParseMediaType(req.Header.Get("Content-Type"))
	switch ct {
	case ContentTypeTTLV, ContentTypeJSON, ContentTypeXML:
	default:
		return c.refuseHTTP(http.StatusUnsupportedMediaType, "Content-Type must be "+ContentTypeTTLV+", "+ContentTypeJSON+" or "+ContentTypeXML, keep)
	}
	max := s.maxMessageSize()
	// The body length comes from the client: read at most the limit (XML and
	// JSON are wordier than TTLV, so they get four times the room).
	limit := int64(max)
	if ct != ContentTypeTTLV {
		limit *= 4
	}
	if req.ContentLength > limit {
		return c.refuseHTTP(http.StatusRequestEntityTooLarge, "message too large", false)
	}
	body, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil || int64(len(body)) > limit {
		return c.refuseHTTP(http.StatusRequestEntityTooLarge, "message too large", false)
	}
	var msg []byte
	switch ct {
	case ContentTypeTTLV:
		msg = body
	case ContentTypeJSON:
		msg, err = ttlv.ParseJSON(body, &ttlv.DecodeOptions{MaxDepth: s.MaxDepth})
	case ContentTypeXML:
		msg, err = ttlv.ParseXML(body, &ttlv.DecodeOptions{MaxDepth: s.MaxDepth})
	}
	if err == nil && len(msg) > max {
		err = errors.New("message too large")
	}
	var out []byte
	if err != nil {
		// Not decodable: answer with a KMIP failure in the request's
		// encoding, as the TTLV path does for malformed messages.
		rid := s.nextRequestID()
		s.refuseMessage(c.sess.RemoteAddr, &c.sess.Identity, rid, ResultReasonInvalidMessage, "cannot decode the "+ct+" message: "+err.Error())
		out = c.sess.failAll(V1_0, s.now(), rid, nil, ResultStatusOperationFailed, ResultReasonInvalidMessage, "cannot decode the "+ct+" message")
	} else {
		out = s.Handle(c.sess, msg)
	}
	switch ct {
	case ContentTypeJSON:
		out, err = ttlv.AppendJSON(nil, out, false)
	case ContentTypeXML:
		out, err = ttlv.AppendXML(nil, out, false)
	}
	if err != nil {
		return c.writeHTTPError(http.StatusInternalServerError, "cannot encode the response", false)
	}
	return c.writeHTTP(http.StatusOK, ct, out, keep)
}

func (c *conn) writeHTTPError(code int, msg string, keep bool) bool {
	return c.writeHTTP(code, "text/plain; charset=utf-8", []byte(msg+"\n"), keep)
}

// writeHTTP writes a response with the headers KMIP Profiles 2.1 §5.3.2
// requires: Content-Type, Content-Length and Cache-Control: no-cache.
func (c *conn) writeHTTP(code int, ct string, body []byte, keep bool) bool {
	var b bytes.Buffer
	b.WriteString("HTTP/1.1 ")
	b.WriteString(strconv.Itoa(code))
	b.WriteByte(' ')
	b.WriteString(http.StatusText(code))
	b.WriteString("\r\nContent-Type: ")
	b.WriteString(ct)
	b.WriteString("\r\nContent-Length: ")
	b.WriteString(strconv.Itoa(len(body)))
	b.WriteString("\r\nCache-Control: no-cache\r\nPragma: no-cache\r\n")
	if keep {
		b.WriteString("Connection: keep-alive\r\n")
	} else {
		b.WriteString("Connection: close\r\n")
	}
	b.WriteString("\r\n")
	b.Write(body)
	c.nc.SetWriteDeadline(time.Now().Add(c.srv.writeTimeout()))
	if _, err := c.nc.Write(b.Bytes()); err != nil {
		return false
	}
	return keep
}
