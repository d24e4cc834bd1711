package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// benchMix is one workload.
type benchMix struct {
	// setup prepares the server over the setup connection.
	setup func(c *kmip.Client) error
	// iteration does one unit of work on a worker's connection; it returns
	// an error only when the worker must stop.
	iteration func(w *benchWorker, i int) error
	// cleanup undoes setup, best effort.
	cleanup func(c *kmip.Client) error
}

// benchKeyAttrs are the attributes of the AES keys bench creates.
func benchKeyAttrs(name string) []attribute {
	alg, _ := parseAttr("CryptographicAlgorithm", "AES")
	length, _ := parseAttr("CryptographicLength", "256")
	usage, _ := parseAttr("CryptographicUsageMask", "encrypt,decrypt")
	attrs := []attribute{alg, length, usage}
	if name != "" {
		n, _ := parseAttr("Name", name)
		attrs = append(attrs, n)
	}
	return attrs
}

// createPayload writes a Create request payload for an AES-256 key.
func createPayload(v2 bool, attrs []attribute) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		writeAttrs(b, v2, ttlv.TagAttributes, ttlv.TagTemplateAttribute, attrs)
	}
}

func byID(id string) func(b *ttlv.Builder) {
	return func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, id) }
}

// createKey creates an AES-256 key and returns its identifier.
func createKey(c *kmip.Client, name string) (string, error) {
	p, err := call(c, kmip.OperationCreate, createPayload(c.Version.V2(), benchKeyAttrs(name)))
	if err != nil {
		return "", err
	}
	it, ok := p.Find(ttlv.TagUniqueIdentifier)
	if !ok {
		return "", errors.New("the Create response lacks the Unique Identifier")
	}
	return string(it.Data), nil
}

// destroyKeys destroys keys, revoking them first when revoke is set.
func destroyKeys(c *kmip.Client, ids []string, revoke bool) error {
	var first error
	for _, id := range ids {
		if revoke {
			call(c, kmip.OperationRevoke, func(b *ttlv.Builder) {
				b.AddText(ttlv.TagUniqueIdentifier, id)
				b.Begin(ttlv.TagRevocationReason)
				b.AddEnum(ttlv.TagRevocationReasonCode, uint32(kmip.RevocationReasonCodeCessationOfOperation))
				b.End()
			})
		}
		if _, err := call(c, kmip.OperationDestroy, byID(id)); err != nil && first == nil {
			first = fmt.Errorf("destroy %s: %w", id, err)
		}
	}
	return first
}

// encodeAll encodes one request per payload.
func encodeAll(ver kmip.Version, op kmip.Operation, payloads []func(b *ttlv.Builder)) ([][]byte, error) {
	reqs := make([][]byte, len(payloads))
	for i, p := range payloads {
		var w kmip.RequestWriter
		w.Begin(nil, ver, 1, nil)
		w.Item(op, nil, p)
		msg, err := w.Finish()
		if err != nil {
			return nil, err
		}
		reqs[i] = msg
	}
	return reqs, nil
}

// kmipMix returns the workload of a mix against a KMIP server.
func kmipMix(name string, nkeys int, ver kmip.Version) *benchMix {
	var (
		ids  []string
		reqs [][]byte
	)
	m := &benchMix{}
	createKeys := func(c *kmip.Client, prefix string) error {
		for i := range nkeys {
			n := ""
			if prefix != "" {
				n = fmt.Sprintf("%s-%d", prefix, i)
			}
			id, err := createKey(c, n)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	}
	switch name {
	case "get":
		m.setup = func(c *kmip.Client) error {
			if err := createKeys(c, ""); err != nil {
				return err
			}
			var ps []func(b *ttlv.Builder)
			for _, id := range ids {
				ps = append(ps, byID(id))
			}
			var err error
			reqs, err = encodeAll(ver, kmip.OperationGet, ps)
			return err
		}
		m.iteration = func(w *benchWorker, i int) error {
			_, err := w.exchange("Get", reqs[i%len(reqs)])
			return fatal(w, "Get", err)
		}
		m.cleanup = func(c *kmip.Client) error { return destroyKeys(c, ids, false) }
	case "locate":
		m.setup = func(c *kmip.Client) error {
			prefix := "kmipctl-bench-" + randHex(6)
			if err := createKeys(c, prefix); err != nil {
				return err
			}
			var ps []func(b *ttlv.Builder)
			for i := range ids {
				n, _ := parseAttr("Name", fmt.Sprintf("%s-%d", prefix, i))
				ps = append(ps, func(b *ttlv.Builder) {
					writeAttrs(b, ver.V2(), ttlv.TagAttributes, 0, []attribute{n})
				})
			}
			var err error
			reqs, err = encodeAll(ver, kmip.OperationLocate, ps)
			return err
		}
		m.iteration = func(w *benchWorker, i int) error {
			p, err := w.exchange("Locate", reqs[i%len(reqs)])
			if err == nil {
				if _, ok := p.Find(ttlv.TagUniqueIdentifier); !ok {
					st := w.stat("Locate")
					st.errors++
					if st.firstErr == nil {
						st.firstErr = errors.New("the Locate response has no identifier")
					}
				}
			}
			return fatal(w, "Locate", err)
		}
		m.cleanup = func(c *kmip.Client) error { return destroyKeys(c, ids, false) }
	case "create":
		attrs := benchKeyAttrs("")
		m.iteration = func(w *benchWorker, _ int) error {
			req, err := w.encode(kmip.OperationCreate, createPayload(ver.V2(), attrs))
			if err != nil {
				return err
			}
			p, err := w.exchange("Create", req)
			if err != nil {
				return fatal(w, "Create", err)
			}
			it, ok := p.Find(ttlv.TagUniqueIdentifier)
			if !ok {
				return errors.New("the Create response lacks the Unique Identifier")
			}
			id := string(it.Data)
			for _, op := range []kmip.Operation{kmip.OperationGet, kmip.OperationDestroy} {
				req, err := w.encode(op, byID(id))
				if err != nil {
					return err
				}
				if _, err := w.exchange(op.String(), req); err != nil {
					return fatal(w, op.String(), err)
				}
			}
			return nil
		}
	case "create-only":
		// Durable Creates alone: what group commit speeds up. The keys
		// (unnamed AES-256) are left on the server.
		attrs := benchKeyAttrs("")
		m.iteration = func(w *benchWorker, _ int) error {
			req, err := w.encode(kmip.OperationCreate, createPayload(ver.V2(), attrs))
			if err != nil {
				return err
			}
			_, err = w.exchange("Create", req)
			return fatal(w, "Create", err)
		}
	case "encrypt":
		data := make([]byte, 64)
		m.setup = func(c *kmip.Client) error {
			if err := createKeys(c, ""); err != nil {
				return err
			}
			for _, id := range ids {
				if _, err := call(c, kmip.OperationActivate, byID(id)); err != nil {
					return err
				}
			}
			var ps []func(b *ttlv.Builder)
			for _, id := range ids {
				ps = append(ps, func(b *ttlv.Builder) {
					b.AddText(ttlv.TagUniqueIdentifier, id)
					b.Begin(ttlv.TagCryptographicParameters)
					b.AddEnum(ttlv.TagBlockCipherMode, uint32(kmip.BlockCipherModeGCM))
					b.AddBool(ttlv.TagRandomIV, true)
					b.AddInt32(ttlv.TagTagLength, 16)
					b.End()
					b.AddBytes(ttlv.TagData, data)
				})
			}
			var err error
			if reqs, err = encodeAll(ver, kmip.OperationEncrypt, ps); err != nil {
				return err
			}
			// One probe, so that a server without Encrypt is reported
			// before the connections open.
			if _, _, err := exchange(c, reqs[0]); err != nil {
				if unsupported(err) {
					return fmt.Errorf("the server does not support Encrypt: %w", err)
				}
				return err
			}
			return nil
		}
		m.iteration = func(w *benchWorker, i int) error {
			_, err := w.exchange("Encrypt", reqs[i%len(reqs)])
			return fatal(w, "Encrypt", err)
		}
		m.cleanup = func(c *kmip.Client) error { return destroyKeys(c, ids, true) }
	}
	return m
}

// fatal returns err if it ended the worker's connection; KMIP failures
// are counted and the worker goes on.
func fatal(w *benchWorker, op string, err error) error {
	if err != nil && w.stat(op).fatal {
		return err
	}
	return nil
}

func randHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
