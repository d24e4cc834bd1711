package lifecycle

import (
	"crypto/rand"
	"math/big"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
	"github.com/kmipd/kmipd/ttlv"
)

// Create Split Key and Join Split Key (KMIP 2.0 §6.1.10, §6.1.26; 1.4
// §4.38, §4.39) and the Split Key object (2.0 §2.2.5).
//
// Create Split Key splits the key material of a Symmetric Key or Secret
// Data object (the request's Unique Identifier, else the ID Placeholder)
// into Split Key Parts new Split Key objects, any Split Key Threshold of
// which rebuild it. Each part holds, besides its Key Block (Raw format, the
// Cryptographic Algorithm and Length of the split key), the Split Key
// Parts, its Key Part Identifier (1, 2, ...), the Split Key Threshold, the
// Split Key Method and, for the prime field method, the Prime Field Size.
// The parts take the request's attributes and the split key's Sensitive
// and Extractable (so that splitting opens no way around them), and answer
// Get like any key. The response lists the parts' identifiers in order;
// the ID Placeholder becomes the first part's.
//
// The methods, each over the bytes of the material S:
//
//   - XOR: parts 1..n-1 are random, part n is S XORed with them; the
//     threshold must equal the number of parts.
//   - Polynomial Sharing GF(2^8): Shamir's scheme byte by byte over GF(2^8)
//     with the reduction polynomial x^8+x^4+x^3+x^2+1 (0x11D); part i is
//     f(i) for a random polynomial f of degree threshold-1 with f(0) = S.
//     The polynomial is the one the OASIS vectors fix (TC-SJ-2/3: their
//     parts join to the registered key under 0x11D, not under AES's
//     0x11B). Field arithmetic on secret bytes is branch- and table-free.
//   - Polynomial Sharing Prime Field: Shamir's scheme over the integers
//     modulo the Prime Field Size p, S read as a big-endian integer, which
//     must be below p; each part is f(i) mod p in as many bytes as p. A
//     request without a Prime Field Size gets the smallest prime above
//     2^(8·len(S)), which fits every value of S. (math/big is not constant
//     time: prefer the GF(2^8) method where timing matters.)
//
// Polynomial Sharing GF(2^16) is not supported: no vector fixes its
// reduction polynomial, and a guess would not interoperate.
//
// Join Split Key takes the identifiers of at least Split Key Threshold
// parts of one split (same method, parts, threshold, prime and length;
// distinct Key Part Identifiers) and makes a new object of the request's
// Object Type (Symmetric Key, or Secret Data of the request's Secret Data
// Type, Seed by default) from the joined material, with the request's
// attributes and the parts' Cryptographic Algorithm and Length unless the
// request names them. Fewer parts than the threshold, or parts that do not
// belong together, fail with Cryptographic Failure (TC-SJ-1..4). The new
// object's identifier becomes the ID Placeholder.

// maxSplitParts bounds Split Key Parts: the Key Part Identifiers are the
// non-zero elements of GF(2^8).
const maxSplitParts = 255

// splitFields are the fields of a Split Key besides its Key Block.
type splitFields struct {
	parts, id, threshold int32
	method               kmip.SplitKeyMethod
	prime                *big.Int // Prime Field Size; nil when absent
}

// encode writes the fields in the order of KMIP 2.0 §2.2.5.
func (f *splitFields) encode() []byte {
	var b ttlv.Builder
	b.AddInt32(ttlv.TagSplitKeyParts, f.parts)
	b.AddInt32(ttlv.TagKeyPartIdentifier, f.id)
	b.AddInt32(ttlv.TagSplitKeyThreshold, f.threshold)
	b.AddEnum(ttlv.TagSplitKeyMethod, uint32(f.method))
	if f.prime != nil {
		b.AddBigIntValue(ttlv.TagPrimeFieldSize, f.prime)
	}
	raw, _ := b.Bytes()
	return raw
}

// parseSplitFields reads the fields kept in a Split Key object's Extra.
func parseSplitFields(extra []byte) (*splitFields, bool) {
	f := &splitFields{}
	v := ttlv.Value(extra)
	var seen int
	for !v.Empty() {
		it, ok := v.Next()
		if !ok {
			return nil, false
		}
		switch {
		case it.Tag == ttlv.TagSplitKeyParts && it.Type == ttlv.TypeInteger:
			f.parts, seen = it.Int32(), seen|1
		case it.Tag == ttlv.TagKeyPartIdentifier && it.Type == ttlv.TypeInteger:
			f.id, seen = it.Int32(), seen|2
		case it.Tag == ttlv.TagSplitKeyThreshold && it.Type == ttlv.TypeInteger:
			f.threshold, seen = it.Int32(), seen|4
		case it.Tag == ttlv.TagSplitKeyMethod && it.Type == ttlv.TypeEnumeration:
			f.method, seen = kmip.SplitKeyMethod(it.Uint32()), seen|8
		case it.Tag == ttlv.TagPrimeFieldSize && it.Type == ttlv.TypeBigInteger:
			f.prime = it.BigInt()
		}
	}
	return f, seen == 15
}

// checkSplit validates a split's parameters.
func (f *splitFields) check() error {
	switch {
	case f.parts < 1 || f.parts > maxSplitParts:
		return kmip.Errorf(kmip.ResultReasonInvalidField, "Split Key Parts must be between 1 and %d", maxSplitParts)
	case f.threshold < 1 || f.threshold > f.parts:
		return kmip.Errorf(kmip.ResultReasonInvalidField, "Split Key Threshold must be between 1 and Split Key Parts")
	}
	switch f.method {
	case kmip.SplitKeyMethodXOR:
		if f.threshold != f.parts {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "XOR splitting needs every part: Split Key Threshold must equal Split Key Parts")
		}
	case kmip.SplitKeyMethodPolynomialSharingGF2_8:
	case kmip.SplitKeyMethodPolynomialSharingPrimeField:
		if f.prime != nil && (f.prime.Cmp(big.NewInt(int64(f.parts))) <= 0 || !f.prime.ProbablyPrime(32)) {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "the Prime Field Size must be a prime larger than Split Key Parts")
		}
	default:
		return kmip.Errorf(kmip.ResultReasonFeatureNotSupported, "Split Key Method %s is not supported", f.method)
	}
	return nil
}

// createSplitKeyRequest is the Create Split Key request payload.
type createSplitKeyRequest struct {
	uid    kmip.UniqueID
	fields splitFields
	attrs  kmip.AttrList
}

func (r *createSplitKeyRequest) decode(v ttlv.Value, ver kmip.Version) error {
	var ot uint32
	if !v.ReadEnum(ttlv.TagObjectType, &ot) {
		return kmip.Errorf(kmip.ResultReasonInvalidMessage, "Create Split Key request lacks Object Type")
	}
	if kmip.ObjectType(ot) != kmip.ObjectTypeSplitKey {
		return kmip.Errorf(kmip.ResultReasonInvalidObjectType, "Create Split Key makes Split Keys, not %s", kmip.ObjectType(ot))
	}
	if err := kmip.ReadUniqueID(&v, &r.uid); err != nil {
		return err
	}
	var seen int
	for !v.Empty() {
		it, ok := v.Next()
		if !ok {
			return kmip.ErrInvalidMessage
		}
		switch {
		case it.Tag == ttlv.TagSplitKeyParts && it.Type == ttlv.TypeInteger:
			r.fields.parts, seen = it.Int32(), seen|1
		case it.Tag == ttlv.TagSplitKeyThreshold && it.Type == ttlv.TypeInteger:
			r.fields.threshold, seen = it.Int32(), seen|2
		case it.Tag == ttlv.TagSplitKeyMethod && it.Type == ttlv.TypeEnumeration:
			r.fields.method, seen = kmip.SplitKeyMethod(it.Uint32()), seen|4
		case it.Tag == ttlv.TagPrimeFieldSize && it.Type == ttlv.TypeBigInteger:
			r.fields.prime = it.BigInt()
		case it.Tag == ttlv.TagAttributes && it.Type == ttlv.TypeStructure && ver.V2():
			r.attrs = kmip.NewAttrList(it.Children(), false)
		case it.Tag == ttlv.TagTemplateAttribute && it.Type == ttlv.TypeStructure && !ver.V2():
			r.attrs = kmip.NewAttrList(it.Children(), true)
		case it.Tag == ttlv.TagProtectionStorageMasks && ver.V2():
		default:
			return kmip.Errorf(kmip.ResultReasonInvalidField, "unexpected %s in Create Split Key request", it.Tag)
		}
	}
	if seen != 7 {
		return kmip.Errorf(kmip.ResultReasonInvalidMessage, "Create Split Key needs Split Key Parts, Split Key Threshold and Split Key Method")
	}
	return r.fields.check()
}

// splittable reports whether o's material may be split.
func splittable(o *objects.Object) error {
	if o.Type != kmip.ObjectTypeSymmetricKey && o.Type != kmip.ObjectTypeSecretData {
		return kmip.Errorf(kmip.ResultReasonInvalidObjectType, "a %s cannot be split (Symmetric Keys and Secret Data can)", o.Type)
	}
	return Allowed(kmip.OperationGet, o.State())
}

func (s *Service) createSplitKey(c *kmip.Call, w *ttlv.Builder) error {
	var req createSplitKeyRequest
	if err := req.decode(c.Item.Payload, c.Version); err != nil {
		return err
	}
	baseID, err := resolveID(c, req.uid)
	if err != nil {
		return err
	}
	ids := make([]string, req.fields.parts)
	err = s.update(c, func(tx *store.Tx) error {
		base, err := s.load(tx, c, baseID, true)
		if err != nil {
			return err
		}
		if err := splittable(base); err != nil {
			return err
		}
		var shares [][]byte
		defer func() {
			for _, sh := range shares {
				clear(sh)
			}
		}()
		f := req.fields
		err = s.withMaterial(base, func(secret []byte) error {
			var err error
			shares, f.prime, err = splitSecret(secret, &f)
			return err
		})
		if err != nil {
			return err
		}
		alg, hasAlg := base.Enum(ttlv.TagCryptographicAlgorithm)
		bits, hasLen := base.Int(ttlv.TagCryptographicLength)
		for i := range ids {
			if ids[i], err = tx.NewID(); err != nil {
				return err
			}
			o := objects.New(ids[i], kmip.ObjectTypeSplitKey, c.Identity.Name)
			if err := applyRequestAttrs(o, req.attrs); err != nil {
				return err
			}
			if _, ok := o.Enum(ttlv.TagCryptographicAlgorithm); !ok && hasAlg {
				o.SetEnum(ttlv.TagCryptographicAlgorithm, alg)
			}
			if _, ok := o.Int(ttlv.TagCryptographicLength); !ok && hasLen {
				o.SetInt(ttlv.TagCryptographicLength, bits)
			}
			if v, ok := base.Bool(ttlv.TagSensitive); ok && v && o.Count(ttlv.TagSensitive) == 0 {
				o.SetBool(ttlv.TagSensitive, true)
			}
			if v, ok := base.Bool(ttlv.TagExtractable); ok && !v && o.Count(ttlv.TagExtractable) == 0 {
				o.SetBool(ttlv.TagExtractable, false)
			}
			part := f
			part.id = int32(i + 1)
			blob, err := s.cfg.Backend.Seal(s.ctx(), ids[i], shares[i])
			if err != nil {
				return err
			}
			o.Blob, o.KeyFormat, o.Extra = blob, kmip.KeyFormatTypeRaw, part.encode()
			initServerAttrs(c, o, shares[i], kmip.KeyFormatTypeRaw)
			o.Set(rngAttr())
			s.setStorageMask(o)
			if err := s.saveNew(tx, c, o); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.Batch.IDPlaceholder = ids[0]
	for _, id := range ids {
		w.AddText(ttlv.TagUniqueIdentifier, id)
	}
	return nil
}

// joinSplitKeyRequest is the Join Split Key request payload.
type joinSplitKeyRequest struct {
	objectType kmip.ObjectType
	uids       []kmip.UniqueID
	secretType uint32
	attrs      kmip.AttrList
}

func (r *joinSplitKeyRequest) decode(v ttlv.Value, ver kmip.Version) error {
	var ot uint32
	if !v.ReadEnum(ttlv.TagObjectType, &ot) {
		return kmip.Errorf(kmip.ResultReasonInvalidMessage, "Join Split Key request lacks Object Type")
	}
	r.objectType = kmip.ObjectType(ot)
	for v.PeekTag() == ttlv.TagUniqueIdentifier {
		var u kmip.UniqueID
		if err := kmip.ReadUniqueID(&v, &u); err != nil {
			return err
		}
		r.uids = append(r.uids, u)
	}
	for !v.Empty() {
		it, ok := v.Next()
		if !ok {
			return kmip.ErrInvalidMessage
		}
		switch {
		case it.Tag == ttlv.TagSecretDataType && it.Type == ttlv.TypeEnumeration:
			r.secretType = it.Uint32()
		case it.Tag == ttlv.TagAttributes && it.Type == ttlv.TypeStructure && ver.V2():
			r.attrs = kmip.NewAttrList(it.Children(), false)
		case it.Tag == ttlv.TagTemplateAttribute && it.Type == ttlv.TypeStructure && !ver.V2():
			r.attrs = kmip.NewAttrList(it.Children(), true)
		case it.Tag == ttlv.TagProtectionStorageMasks && ver.V2():
		default:
			return kmip.Errorf(kmip.ResultReasonInvalidField, "unexpected %s in Join Split Key request", it.Tag)
		}
	}
	switch r.objectType {
	case kmip.ObjectTypeSymmetricKey, kmip.ObjectTypeSecretData:
	default:
		return kmip.Errorf(kmip.ResultReasonInvalidObjectType, "Join Split Key makes Symmetric Keys and Secret Data, not %s", r.objectType)
	}
	if len(r.uids) == 0 {
		return kmip.Errorf(kmip.ResultReasonInvalidMessage, "Join Split Key needs the Unique Identifiers of the parts")
	}
	return nil
}

func errJoin(format string, a ...any) error {
	return kmip.Errorf(kmip.ResultReasonCryptographicFailure, format, a...)
}

func (s *Service) joinSplitKey(c *kmip.Call, w *ttlv.Builder) error {
	var req joinSplitKeyRequest
	if err := req.decode(c.Item.Payload, c.Version); err != nil {
		return err
	}
	partIDs := make([]string, len(req.uids))
	for i, u := range req.uids {
		var err error
		if partIDs[i], err = resolveID(c, u); err != nil {
			return err
		}
	}
	var id string
	err := s.update(c, func(tx *store.Tx) error {
		var (
			first  *splitFields
			xs     []int32
			shares [][]byte
			alg    uint32
			bits   int32
		)
		defer func() {
			for _, sh := range shares {
				clear(sh)
			}
		}()
		for _, pid := range partIDs {
			p, err := s.load(tx, c, pid, false)
			if err != nil {
				return err
			}
			if p.Type != kmip.ObjectTypeSplitKey {
				return kmip.Errorf(kmip.ResultReasonInvalidObjectType, "object %q is a %s, not a Split Key", pid, p.Type)
			}
			if err := Allowed(kmip.OperationGet, p.State()); err != nil {
				return err
			}
			f, ok := parseSplitFields(p.Extra)
			if !ok {
				return errJoin("object %q lacks its Split Key fields", pid)
			}
			if first == nil {
				first = f
				alg, _ = p.Enum(ttlv.TagCryptographicAlgorithm)
				bits, _ = p.Int(ttlv.TagCryptographicLength)
			} else if f.parts != first.parts || f.threshold != first.threshold || f.method != first.method ||
				(f.prime == nil) != (first.prime == nil) || f.prime != nil && f.prime.Cmp(first.prime) != 0 {
				return errJoin("the parts do not belong to one split")
			}
			for _, x := range xs {
				if x == f.id {
					return errJoin("key part %d is given twice", f.id)
				}
			}
			if p.Blob == nil {
				return kmip.Errorf(kmip.ResultReasonKeyValueNotPresent, "object %q has no key material", pid)
			}
			sh, err := s.cfg.Backend.Open(s.ctx(), p.ID, p.Blob, nil)
			if err != nil {
				return err
			}
			shares = append(shares, sh)
			xs = append(xs, f.id)
		}
		if err := first.check(); err != nil {
			return errJoin("the parts describe an invalid split: %v", err)
		}
		if len(shares) < int(first.threshold) {
			return errJoin("%d parts given, the threshold is %d", len(shares), first.threshold)
		}
		want := 0 // the length of the split material, when the parts tell
		if n, known := keyBytes(kmip.CryptographicAlgorithm(alg), bits); known {
			want = n
		} else if bits > 0 && bits%8 == 0 {
			want = int(bits / 8)
		}
		secret, err := joinShares(first, xs, shares, want)
		if err != nil {
			return err
		}
		defer clear(secret)
		if id, err = tx.NewID(); err != nil {
			return err
		}
		o := objects.New(id, req.objectType, c.Identity.Name)
		if err := applyRequestAttrs(o, req.attrs); err != nil {
			return err
		}
		if _, ok := o.Enum(ttlv.TagCryptographicAlgorithm); !ok && alg != 0 {
			o.SetEnum(ttlv.TagCryptographicAlgorithm, alg)
		}
		if _, ok := o.Int(ttlv.TagCryptographicLength); !ok && bits != 0 {
			o.SetInt(ttlv.TagCryptographicLength, bits)
		}
		if l, ok := o.Int(ttlv.TagCryptographicLength); ok && req.objectType == kmip.ObjectTypeSymmetricKey {
			a, _ := o.Enum(ttlv.TagCryptographicAlgorithm)
			if n, known := keyBytes(kmip.CryptographicAlgorithm(a), l); known && n != len(secret) {
				return errJoin("the joined key has %d bytes, not the %d of a %d-bit %s key", len(secret), n, l, kmip.CryptographicAlgorithm(a))
			}
		}
		kft := kmip.KeyFormatTypeRaw
		if req.objectType == kmip.ObjectTypeSecretData {
			kft = kmip.KeyFormatTypeOpaque
			o.DataType = req.secretType
			if o.DataType == 0 {
				o.DataType = uint32(kmip.SecretDataTypeSeed)
			}
		}
		blob, err := s.cfg.Backend.Seal(s.ctx(), id, secret)
		if err != nil {
			return err
		}
		o.Blob, o.KeyFormat = blob, kft
		initServerAttrs(c, o, secret, kft)
		s.setStorageMask(o)
		return s.saveNew(tx, c, o)
	})
	if err != nil {
		return err
	}
	c.Batch.IDPlaceholder = id
	w.AddText(ttlv.TagUniqueIdentifier, id)
	return nil
}

// splitSecret makes f.parts shares of secret; for the prime field method
// it also returns the prime used.
func splitSecret(secret []byte, f *splitFields) ([][]byte, *big.Int, error) {
	if len(secret) == 0 {
		return nil, nil, kmip.Errorf(kmip.ResultReasonInvalidField, "nothing to split")
	}
	n, k := int(f.parts), int(f.threshold)
	switch f.method {
	case kmip.SplitKeyMethodXOR:
		shares := make([][]byte, n)
		last := append([]byte(nil), secret...)
		for i := range n - 1 {
			shares[i] = make([]byte, len(secret))
			if _, err := rand.Read(shares[i]); err != nil {
				return nil, nil, err
			}
			for j := range last {
				last[j] ^= shares[i][j]
			}
		}
		shares[n-1] = last
		return shares, nil, nil
	case kmip.SplitKeyMethodPolynomialSharingGF2_8:
		shares := make([][]byte, n)
		for i := range shares {
			shares[i] = make([]byte, len(secret))
		}
		coef := make([]byte, k) // coef[0] is the secret byte
		defer clear(coef)
		for b, sb := range secret {
			coef[0] = sb
			if _, err := rand.Read(coef[1:]); err != nil {
				return nil, nil, err
			}
			for i := range n {
				x := byte(i + 1)
				var y byte // Horner's rule, highest coefficient first
				for j := k - 1; j >= 0; j-- {
					y = gfMul(y, x) ^ coef[j]
				}
				shares[i][b] = y
			}
		}
		return shares, nil, nil
	case kmip.SplitKeyMethodPolynomialSharingPrimeField:
		p := f.prime
		if p == nil {
			p = primeAbove(8 * len(secret))
		}
		sv := new(big.Int).SetBytes(secret)
		defer sv.SetInt64(0)
		if sv.Cmp(p) >= 0 {
			return nil, nil, kmip.Errorf(kmip.ResultReasonInvalidField, "the key does not fit in the Prime Field Size")
		}
		coef := make([]*big.Int, k)
		coef[0] = sv
		for j := 1; j < k; j++ {
			c, err := rand.Int(rand.Reader, p)
			if err != nil {
				return nil, nil, err
			}
			coef[j] = c
		}
		size := (p.BitLen() + 7) / 8
		shares := make([][]byte, n)
		for i := range n {
			x := big.NewInt(int64(i + 1))
			y := new(big.Int)
			for j := k - 1; j >= 0; j-- {
				y.Mul(y, x).Add(y, coef[j]).Mod(y, p)
			}
			shares[i] = y.FillBytes(make([]byte, size))
			y.SetInt64(0)
		}
		for _, c := range coef[1:] {
			c.SetInt64(0)
		}
		return shares, p, nil
	}
	return nil, nil, kmip.Errorf(kmip.ResultReasonFeatureNotSupported, "Split Key Method %s is not supported", f.method)
}

// joinShares rebuilds the secret from shares at the points xs (at least
// f.threshold of them, distinct). want is the secret's length in bytes if
// known (0 if not): prime field shares are longer than the secret.
func joinShares(f *splitFields, xs []int32, shares [][]byte, want int) ([]byte, error) {
	size := len(shares[0])
	for _, sh := range shares {
		if len(sh) != size || size == 0 {
			return nil, errJoin("the parts differ in length")
		}
	}
	for _, x := range xs {
		if x < 1 || x > f.parts {
			return nil, errJoin("Key Part Identifier %d is out of range", x)
		}
	}
	switch f.method {
	case kmip.SplitKeyMethodXOR:
		out := make([]byte, size)
		for _, sh := range shares {
			for j := range out {
				out[j] ^= sh[j]
			}
		}
		return out, nil
	case kmip.SplitKeyMethodPolynomialSharingGF2_8:
		k := int(f.threshold)
		xs, shares = xs[:k], shares[:k]
		// Lagrange basis at 0: L_i = Π_{j≠i} x_j / (x_j − x_i); the points
		// are public, only the shares are secret.
		lag := make([]byte, k)
		for i := range k {
			num, den := byte(1), byte(1)
			for j := range k {
				if j != i {
					num = gfMul(num, byte(xs[j]))
					den = gfMul(den, byte(xs[j])^byte(xs[i]))
				}
			}
			lag[i] = gfMul(num, gfInv(den))
		}
		out := make([]byte, size)
		for i, sh := range shares {
			for b := range out {
				out[b] ^= gfMul(sh[b], lag[i])
			}
		}
		return out, nil
	case kmip.SplitKeyMethodPolynomialSharingPrimeField:
		p := f.prime
		if p == nil {
			return nil, errJoin("the parts lack their Prime Field Size")
		}
		k := int(f.threshold)
		sum := new(big.Int)
		defer sum.SetInt64(0)
		for i := range k {
			num, den := big.NewInt(1), big.NewInt(1)
			for j := range k {
				if j != i {
					num.Mul(num, big.NewInt(int64(xs[j]))).Mod(num, p)
					d := big.NewInt(int64(xs[j]) - int64(xs[i]))
					den.Mul(den, d).Mod(den, p)
				}
			}
			inv := new(big.Int).ModInverse(den, p)
			if inv == nil {
				return nil, errJoin("the Prime Field Size is not prime")
			}
			term := new(big.Int).SetBytes(shares[i])
			term.Mul(term, num).Mod(term, p).Mul(term, inv).Mod(term, p)
			sum.Add(sum, term).Mod(sum, p)
			term.SetInt64(0)
		}
		// The secret is as long as the parts' Cryptographic Length says;
		// else, under the prime kmipd picks (the first above 2^(8·len)),
		// one byte shorter than a share; else as long as a share.
		n := size
		switch {
		case want > 0 && want <= size:
			n = want
		case size > 1 && f.prime.Cmp(primeAbove(8*(size-1))) == 0:
			n = size - 1
		}
		if sum.BitLen() > 8*n {
			return nil, errJoin("the parts do not join to a key")
		}
		return sum.FillBytes(make([]byte, n)), nil
	}
	return nil, kmip.Errorf(kmip.ResultReasonFeatureNotSupported, "Split Key Method %s is not supported", f.method)
}

// primeAbove returns the smallest prime larger than 2^bits.
func primeAbove(bits int) *big.Int {
	p := new(big.Int).Lsh(big.NewInt(1), uint(bits))
	p.Add(p, big.NewInt(1))
	for !p.ProbablyPrime(32) {
		p.Add(p, big.NewInt(2))
	}
	return p
}

// gfMul multiplies in GF(2^8) modulo x^8+x^4+x^3+x^2+1 without branches or
// tables.
func gfMul(a, b byte) byte {
	var p byte
	for range 8 {
		p ^= a & -(b & 1)
		hi := -(a >> 7)
		a = a<<1 ^ 0x1D&hi
		b >>= 1
	}
	return p
}

// gfInv inverts a non-zero element of GF(2^8): a^254.
func gfInv(a byte) byte {
	r, x := byte(1), a
	for e := 254; e > 0; e >>= 1 {
		if e&1 == 1 {
			r = gfMul(r, x)
		}
		x = gfMul(x, x)
	}
	return r
}
