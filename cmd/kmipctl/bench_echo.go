package main

import (
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"sync"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// echoServer answers every TTLV message with a fixed response.
type echoServer struct {
	l    net.Listener
	req  []byte
	resp []byte
	wg   sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]bool
}

// startEcho starts the tls-echo listener on 127.0.0.1 with the echo (or
// client) certificate, requiring a client certificate from the --ca,
// and returns it with the client TLS configuration for it.
func startEcho(conn connOptions, o *benchOptions, clientCfg *tls.Config, ver kmip.Version) (*echoServer, *tls.Config, error) {
	certFile, keyFile := o.echoCert, o.echoKey
	if certFile == "" && keyFile == "" {
		certFile, keyFile = conn.Cert, conn.Key
	}
	if certFile == "" || keyFile == "" {
		return nil, nil, usageErrorf("tls-echo needs --echo-cert and --echo-key (or --cert and --key)")
	}
	if conn.CA == "" || clientCfg.RootCAs == nil {
		return nil, nil, usageErrorf("tls-echo needs --ca: the echo listener checks client certificates against it")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, nil, usageErrorf("--echo-cert/--echo-key: %v", err)
	}
	pool := clientCfg.RootCAs
	srvCfg, err := kmip.NewTLSConfig(kmip.TLSOptions{Certificate: cert, ClientCAs: pool})
	if err != nil {
		return nil, nil, err
	}
	// The echo certificate is usually a client certificate: verify its
	// chain, not its host name or key usage.
	cfg := clientCfg.Clone()
	cfg.InsecureSkipVerify = true
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return errors.New("echo listener sent no certificate")
		}
		inter := x509.NewCertPool()
		for _, c := range cs.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{
			Roots: pool, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		return err
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", srvCfg)
	if err != nil {
		return nil, nil, err
	}
	req, resp, err := echoMessages(ver)
	if err != nil {
		l.Close()
		return nil, nil, err
	}
	e := &echoServer{l: l, req: req, resp: resp, conns: map[net.Conn]bool{}}
	e.wg.Add(1)
	go e.accept()
	return e, cfg, nil
}

// echoMessages builds a Get request for a 36-character identifier and the
// response kmipd would send for an AES-256 key.
func echoMessages(ver kmip.Version) (req, resp []byte, err error) {
	id := randHex(4) + "-" + randHex(2) + "-" + randHex(2) + "-" + randHex(2) + "-" + randHex(6)
	var w kmip.RequestWriter
	w.Begin(nil, ver, 1, nil)
	w.Item(kmip.OperationGet, nil, byID(id))
	if req, err = w.Finish(); err != nil {
		return nil, nil, err
	}
	key := make([]byte, 32)
	rand.Read(key)
	var rw kmip.ResponseWriter
	rw.Begin(nil, 0, &kmip.ResponseHeader{Version: ver, TimeStamp: time.Now().Unix(), BatchCount: 1})
	rw.BeginSuccess(kmip.OperationGet, nil)
	rw.B.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
	rw.B.AddText(ttlv.TagUniqueIdentifier, id)
	kmip.WriteSymmetricKey(&rw.B, &kmip.KeyBlock{
		FormatType: kmip.KeyFormatTypeRaw, Material: key,
		CryptographicAlgorithm: kmip.CryptographicAlgorithmAES, CryptographicLength: 256,
	})
	rw.EndItem()
	resp, err = rw.Finish()
	return req, resp, err
}

func (e *echoServer) Addr() string { return e.l.Addr().String() }

func (e *echoServer) accept() {
	defer e.wg.Done()
	for {
		c, err := e.l.Accept()
		if err != nil {
			return
		}
		e.mu.Lock()
		if e.conns == nil {
			e.mu.Unlock()
			c.Close()
			return
		}
		e.conns[c] = true
		e.mu.Unlock()
		e.wg.Add(1)
		go e.serve(c)
	}
}

func (e *echoServer) serve(c net.Conn) {
	defer e.wg.Done()
	defer func() {
		e.mu.Lock()
		delete(e.conns, c)
		e.mu.Unlock()
		c.Close()
	}()
	var buf []byte
	for {
		msg, err := ttlv.ReadMessage(c, buf, 1<<20)
		if err != nil {
			return
		}
		buf = msg[:0]
		if _, err := c.Write(e.resp); err != nil {
			return
		}
	}
}

// Close stops the listener and its connections and waits for them.
func (e *echoServer) Close() error {
	err := e.l.Close()
	e.mu.Lock()
	for c := range e.conns {
		c.Close()
	}
	e.conns = nil
	e.mu.Unlock()
	e.wg.Wait()
	return err
}

// echoMix sends the echo server's Get-sized request, parsing each response
// as the get mix does.
func echoMix(e *echoServer) *benchMix {
	return &benchMix{
		iteration: func(w *benchWorker, _ int) error {
			_, err := w.exchange("Get", e.req)
			return fatal(w, "Get", err)
		},
	}
}
