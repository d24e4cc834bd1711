package lifecycle

import (
	"hash"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// hashOp implements Hash. Its Cryptographic Parameters must name the
// Hashing Algorithm.
func (s *Service) hashOp(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.CryptoRequest
	if err := req.Decode(c.Item.Payload, kmip.OperationHash); err != nil {
		return err
	}
	newHash := func() (hash.Hash, error) {
		if !req.Params.Has(kmip.ParamHashingAlgorithm) {
			return nil, errMissing("Hash needs Cryptographic Parameters with a Hashing Algorithm")
		}
		h, err := hashParam(&req.Params, 0)
		if err != nil {
			return nil, err
		}
		return h.New(), nil
	}
	if !req.Streaming() {
		if req.Data == nil {
			return errMissing("Hash request lacks Data")
		}
		h, err := newHash()
		if err != nil {
			return err
		}
		var sum [64]byte
		h.Write(req.Data)
		w.AddBytes(ttlv.TagData, h.Sum(sum[:0]))
		return nil
	}
	step, err := s.beginStream(c, &req, kmip.OperationHash, "", func(st *stream) error {
		var err error
		st.h, err = newHash()
		return err
	})
	if err != nil {
		return err
	}
	st := step.st
	st.h.Write(req.Data)
	if req.Final {
		w.AddBytes(ttlv.TagData, st.h.Sum(nil))
	}
	step.finish(w, req.Final, nil)
	return nil
}
