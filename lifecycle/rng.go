package lifecycle

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/binary"
	"sync"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// RNG Retrieve and RNG Seed (KMIP 2.0 §6.1.44, §6.1.45; the RNG
// Cryptographic Server profile, CS-RNG-M-1 and CS-RNG-O-1).
//
// RNG Retrieve returns bytes from the key backend's generator (the HSM's,
// for an HSM backend). RNG Seed, by default, accepts all the seed it is
// given (CS-RNG-O-1's answer) and mixes it into a per-server pool (the
// RNGSeedPolicy below can take less or none): once seeded, Retrieve
// output is the backend's bytes XORed with an AES-256-CTR keystream keyed by
// a SHA-256 chain over every seed received. The XOR of the backend's
// uniformly random bytes with anything independent of them is uniformly
// random, so a seed, even one an attacker chose, cannot weaken the output;
// it only adds entropy should the backend's be poor.
//
// The four optional CS-RNG files send the same request, a 32-byte seed,
// and describe four different servers: one that accepts it all (O-1, Data
// Length 32), one that takes part of it (O-2, 16), one that takes none
// (O-3, 0) and one that refuses seeding (O-4, Permission Denied). KMIP
// 2.0 §6.1.45 lets a server accept "some or all" of the seed and report how
// much in Data Length, so each is conforming, but one server answers one
// way: a server passing all four would have to answer the same request
// differently by whim or by counting requests, which is no behaviour.
// kmipd's default is the answer that loses nothing: the whole seed is mixed
// in (the pool's SHA-256 chain takes any length), and Data Length says so.
// Sites whose policy keeps clients out of the generator altogether (a
// validated DRBG may not take outside input) configure the others:
// RNGSeedIgnore, RNGSeedDeny, or a cap on the bytes taken (O-3, O-4, O-2).

// RNGSeedPolicy is what RNG Seed does with a client's seed.
type RNGSeedPolicy int

const (
	// RNGSeedAccept mixes the seed into the pool (up to RNGSeedMaxBytes).
	RNGSeedAccept RNGSeedPolicy = iota
	// RNGSeedIgnore answers success with Data Length 0: nothing is taken.
	RNGSeedIgnore
	// RNGSeedDeny refuses RNG Seed with Permission Denied.
	RNGSeedDeny
)

// ParseRNGSeedPolicy reads "accept", "ignore" or "deny".
func ParseRNGSeedPolicy(s string) (RNGSeedPolicy, bool) {
	switch s {
	case "accept", "":
		return RNGSeedAccept, true
	case "ignore":
		return RNGSeedIgnore, true
	case "deny":
		return RNGSeedDeny, true
	}
	return 0, false
}

// maxRNGRetrieve bounds one RNG Retrieve.
const maxRNGRetrieve = 1 << 20

// rngPool is the seed state of one Service.
type rngPool struct {
	mu     sync.Mutex
	key    [32]byte
	seeded bool
	ctr    uint64
}

var rngPools sync.Map // *Service → *rngPool

func (s *Service) rngPool() *rngPool {
	if p, ok := rngPools.Load(s); ok {
		return p.(*rngPool)
	}
	p, _ := rngPools.LoadOrStore(s, new(rngPool))
	return p.(*rngPool)
}

// mix XORs the pool's keystream into p, if the pool was ever seeded. Each
// call uses a fresh counter block.
func (r *rngPool) mix(p []byte) error {
	r.mu.Lock()
	if !r.seeded {
		r.mu.Unlock()
		return nil
	}
	key := r.key
	r.ctr++
	var iv [16]byte
	binary.BigEndian.PutUint64(iv[:8], r.ctr)
	r.mu.Unlock()
	b, err := aes.NewCipher(key[:])
	clear(key[:])
	if err != nil {
		return err
	}
	cipher.NewCTR(b, iv[:]).XORKeyStream(p, p)
	return nil
}

// seed folds data into the pool.
func (r *rngPool) seed(data []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	h := sha256.New()
	h.Write(r.key[:])
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(data)))
	h.Write(n[:])
	h.Write(data)
	h.Sum(r.key[:0])
	r.seeded = true
}

func (s *Service) rngRetrieve(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.RNGRetrieveRequest
	if err := req.Decode(c.Item.Payload); err != nil {
		return err
	}
	if req.DataLength <= 0 || req.DataLength > maxRNGRetrieve {
		return kmip.Errorf(kmip.ResultReasonInvalidField, "Data Length must be between 1 and %d", maxRNGRetrieve)
	}
	buf := getScratch()
	out := append((*buf)[:0], make([]byte, req.DataLength)...)
	defer func() { putScratch(buf, out) }()
	if err := s.cfg.Backend.Random(c.Context(), out); err != nil {
		return err
	}
	if err := s.rngPool().mix(out); err != nil {
		return err
	}
	w.AddBytes(ttlv.TagData, out)
	return nil
}

func (s *Service) rngSeed(c *kmip.Call, w *ttlv.Builder) error {
	var req kmip.RNGSeedRequest
	if err := req.Decode(c.Item.Payload); err != nil {
		return err
	}
	seed := req.Data
	switch s.cfg.RNGSeed {
	case RNGSeedDeny:
		return kmip.Errorf(kmip.ResultReasonPermissionDenied, "this server does not take seeds from clients (rng.seed: deny)")
	case RNGSeedIgnore:
		seed = nil
	}
	if m := s.cfg.RNGSeedMaxBytes; m > 0 && len(seed) > m {
		seed = seed[:m]
	}
	if len(seed) > 0 {
		s.rngPool().seed(seed)
	}
	w.AddInt32(ttlv.TagDataLength, int32(len(seed)))
	return nil
}
