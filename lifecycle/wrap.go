package lifecycle

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"hash"

	"github.com/kmipd/kmipd/hsm"
	"github.com/kmipd/kmipd/internal/keywrap"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/ttlv"
)

// Key wrapping (KMIP 2.0 §2.1.5 Key Wrapping Data, §2.1.6 Key Wrapping
// Specification): Get and Export return a key wrapped under another managed
// key, and Register accepts key material supplied wrapped. kmipd wraps with
// the Encrypt method only: AES Key Wrap (RFC 3394, Block Cipher Mode NIST
// Key Wrap, the default) or AES Key Wrap with Padding (RFC 5649) under a
// managed AES key, and RSA-OAEP under a managed RSA public key.

// wrapSpec is a decoded Key Wrapping Specification or Key Wrapping Data.
type wrapSpec struct {
	method   kmip.WrappingMethod
	keyID    string
	params   ttlv.Item // Cryptographic Parameters as sent; Raw nil if absent
	mode     kmip.BlockCipherMode
	padding  kmip.PaddingMethod
	hashing  kmip.HashingAlgorithm
	encoding kmip.EncodingOption // 0: not given (TTLV encoding)
}

func parseWrapSpec(v ttlv.Value) (*wrapSpec, error) {
	ws := &wrapSpec{}
	bad := func(m string) error { return kmip.Errorf(kmip.ResultReasonInvalidField, "key wrapping: %s", m) }
	for !v.Empty() {
		it, _ := v.Next()
		switch it.Tag {
		case ttlv.TagWrappingMethod:
			ws.method = kmip.WrappingMethod(it.Uint32())
		case ttlv.TagEncryptionKeyInformation:
			c := it.Children()
			var id []byte
			if !c.ReadText(ttlv.TagUniqueIdentifier, &id) {
				return nil, bad("Encryption Key Information lacks a Unique Identifier")
			}
			ws.keyID = string(id)
			if p, ok := c.Next(); ok {
				if p.Tag != ttlv.TagCryptographicParameters || !c.Empty() {
					return nil, bad("unexpected item in Encryption Key Information")
				}
				ws.params = p
			}
		case ttlv.TagMACSignatureKeyInformation:
			return nil, kmip.Errorf(kmip.ResultReasonKeyWrapTypeNotSupported, "MAC/signature wrapping is not supported")
		case ttlv.TagEncodingOption:
			ws.encoding = kmip.EncodingOption(it.Uint32())
		case ttlv.TagAttributeName:
			return nil, kmip.Errorf(kmip.ResultReasonFeatureNotSupported, "wrapping attributes with the key is not supported")
		case ttlv.TagIVCounterNonce, ttlv.TagMACSignature:
			return nil, bad("unexpected " + it.Tag.String())
		default:
			return nil, bad("unexpected " + it.Tag.String())
		}
	}
	if ws.method != kmip.WrappingMethodEncrypt {
		return nil, kmip.Errorf(kmip.ResultReasonKeyWrapTypeNotSupported, "wrapping method %s is not supported (Encrypt is)", ws.method)
	}
	if ws.keyID == "" {
		return nil, bad("no wrapping key")
	}
	switch ws.encoding {
	case 0, kmip.EncodingOptionNoEncoding, kmip.EncodingOptionTTLVEncoding:
	default:
		return nil, kmip.Errorf(kmip.ResultReasonEncodingOptionError, "unknown Encoding Option")
	}
	if ws.params.Raw != nil {
		ws.readParams(ws.params.Children())
	}
	return ws, nil
}

func (ws *wrapSpec) readParams(c ttlv.Value) {
	for !c.Empty() {
		it, _ := c.Next()
		switch it.Tag {
		case ttlv.TagBlockCipherMode:
			ws.mode = kmip.BlockCipherMode(it.Uint32())
		case ttlv.TagPaddingMethod:
			ws.padding = kmip.PaddingMethod(it.Uint32())
		case ttlv.TagHashingAlgorithm:
			ws.hashing = kmip.HashingAlgorithm(it.Uint32())
		}
	}
}

// writeWrappingData writes the Key Wrapping Data that describes ws.
func (ws *wrapSpec) writeWrappingData(w *ttlv.Builder) {
	w.Begin(ttlv.TagKeyWrappingData)
	w.AddEnum(ttlv.TagWrappingMethod, uint32(ws.method))
	w.Begin(ttlv.TagEncryptionKeyInformation)
	w.AddText(ttlv.TagUniqueIdentifier, ws.keyID)
	if ws.params.Raw != nil {
		w.AddRaw(ws.params.Raw)
	}
	w.End()
	if ws.encoding != 0 {
		w.AddEnum(ttlv.TagEncodingOption, uint32(ws.encoding))
	}
	w.End()
}

// wrappingKey loads the key named by ws for use (KMIP 2.0 §6.1.19: the
// wrapping key must exist, be usable by the caller, be Active and allow
// usage) and fills in the parameters the request left out from its
// Cryptographic Parameters attribute.
func (s *Service) wrappingKey(c *kmip.Call, ws *wrapSpec, usage kmip.CryptographicUsageMask) (*objects.Object, error) {
	k, err := s.lookup(c, kmip.UniqueID{Text: []byte(ws.keyID), Kind: kmip.UniqueIDText})
	var ke *kmip.Error
	if errors.As(err, &ke) && ke.Reason == kmip.ResultReasonObjectNotFound {
		return nil, kmip.Errorf(kmip.ResultReasonWrappingObjectNotFound, "wrapping key %q not found", ws.keyID)
	}
	if err != nil {
		return nil, err
	}
	switch k.State() {
	case kmip.StateDestroyed, kmip.StateDestroyedCompromised:
		return nil, kmip.Errorf(kmip.ResultReasonWrappingObjectDestroyed, "wrapping key %q is destroyed", ws.keyID)
	case kmip.StateActive:
	default:
		return nil, kmip.Errorf(kmip.ResultReasonWrongKeyLifecycleState, "wrapping key %q is %s, not Active", ws.keyID, k.State())
	}
	if mask, ok := k.Int(ttlv.TagCryptographicUsageMask); ok && uint32(mask)&uint32(usage) == 0 {
		return nil, kmip.Errorf(kmip.ResultReasonIncompatibleCryptographicUsageMask, "wrapping key %q may not %s", ws.keyID, usage)
	}
	if ws.params.Raw == nil {
		if a := k.All(ttlv.TagCryptographicParameters); len(a) > 0 {
			if it, ok := a[0].Item(); ok {
				ws.readParams(it.Children())
			}
		}
	}
	return k, nil
}

// mechanism decides how ws wraps with key k.
func (ws *wrapSpec) mechanism(k *objects.Object) (hsm.WrapMechanism, error) {
	switch {
	case k.Type == kmip.ObjectTypeSymmetricKey:
		if alg, _ := k.Enum(ttlv.TagCryptographicAlgorithm); kmip.CryptographicAlgorithm(alg) != kmip.CryptographicAlgorithmAES {
			return 0, kmip.Errorf(kmip.ResultReasonKeyWrapTypeNotSupported, "symmetric wrapping keys must be AES")
		}
		switch ws.mode {
		case 0, kmip.BlockCipherModeNISTKeyWrap:
			return hsm.WrapAESKeyWrap, nil
		case kmip.BlockCipherModeAESKeyWrapPadding:
			return hsm.WrapAESKeyWrapPad, nil
		}
		return 0, kmip.Errorf(kmip.ResultReasonKeyWrapTypeNotSupported, "block cipher mode %s cannot wrap keys (NIST Key Wrap and AES Key Wrap Padding can)", ws.mode)
	case k.Type == kmip.ObjectTypePublicKey || k.Type == kmip.ObjectTypePrivateKey:
		if ws.padding != 0 && ws.padding != kmip.PaddingMethodOAEP {
			return 0, kmip.Errorf(kmip.ResultReasonKeyWrapTypeNotSupported, "RSA wrapping uses OAEP padding")
		}
		return hsm.WrapRSAOAEPSHA1, nil
	}
	return 0, kmip.Errorf(kmip.ResultReasonKeyWrapTypeNotSupported, "a %s cannot wrap keys", k.Type)
}

func (ws *wrapSpec) oaepHash() (hash.Hash, error) {
	switch ws.hashing {
	case 0, kmip.HashingAlgorithmSHA_1:
		return sha1.New(), nil
	case kmip.HashingAlgorithmSHA_256:
		return sha256.New(), nil
	}
	return nil, kmip.Errorf(kmip.ResultReasonKeyWrapTypeNotSupported, "OAEP with %s is not supported (SHA-1, SHA-256 are)", ws.hashing)
}

// openKEK decides the mechanism and unseals the wrapping key k; clear the
// key after use.
func (s *Service) openKEK(ctx context.Context, k *objects.Object, ws *wrapSpec) (hsm.WrapMechanism, []byte, error) {
	mech, err := ws.mechanism(k)
	if err != nil {
		return 0, nil, err
	}
	if err := s.useInGo(k); err != nil {
		return 0, nil, err
	}
	kek, err := s.cfg.Backend.Open(ctx, k.ID, k.Blob, nil)
	if err != nil {
		return 0, nil, err
	}
	return mech, kek, nil
}

// wrap returns data wrapped under k as ws says.
func (s *Service) wrap(ctx context.Context, k *objects.Object, ws *wrapSpec, data []byte) ([]byte, error) {
	mech, kek, err := s.openKEK(ctx, k, ws)
	if err != nil {
		return nil, err
	}
	defer clear(kek)
	var out []byte
	switch mech {
	case hsm.WrapAESKeyWrap:
		if len(data)%8 != 0 || len(data) < 16 {
			return nil, kmip.Errorf(kmip.ResultReasonKeyWrapTypeNotSupported, "NIST Key Wrap needs a multiple of 8 bytes, at least 16; use AES Key Wrap Padding")
		}
		out, err = keywrap.WrapKey(kek, data)
	case hsm.WrapAESKeyWrapPad:
		out, err = keywrap.WrapKeyPad(kek, data)
	case hsm.WrapRSAOAEPSHA1:
		pub, perr := rsaPublic(k, kek)
		if perr != nil {
			return nil, perr
		}
		h, herr := ws.oaepHash()
		if herr != nil {
			return nil, herr
		}
		out, err = rsa.EncryptOAEP(h, rand.Reader, pub, data, nil)
	}
	if err != nil {
		return nil, kmip.Errorf(kmip.ResultReasonCryptographicFailure, "wrapping failed: %v", err)
	}
	return out, nil
}

// unwrap reverses wrap, with the key that wrapped data (usage Unwrap Key).
func (s *Service) unwrap(ctx context.Context, k *objects.Object, ws *wrapSpec, data []byte) ([]byte, error) {
	mech, kek, err := s.openKEK(ctx, k, ws)
	if err != nil {
		return nil, err
	}
	defer clear(kek)
	var out []byte
	switch mech {
	case hsm.WrapAESKeyWrap:
		out, err = keywrap.UnwrapKey(kek, data)
	case hsm.WrapAESKeyWrapPad:
		out, err = keywrap.UnwrapKeyPad(kek, data)
	case hsm.WrapRSAOAEPSHA1:
		if k.Type != kmip.ObjectTypePrivateKey {
			return nil, kmip.Errorf(kmip.ResultReasonKeyWrapTypeNotSupported, "unwrapping with RSA needs the private key")
		}
		priv, perr := x509.ParsePKCS8PrivateKey(kek)
		rk, ok := priv.(*rsa.PrivateKey)
		if perr != nil || !ok {
			return nil, kmip.Errorf(kmip.ResultReasonKeyWrapTypeNotSupported, "the unwrapping key is not an RSA key")
		}
		h, herr := ws.oaepHash()
		if herr != nil {
			return nil, herr
		}
		out, err = rsa.DecryptOAEP(h, nil, rk, data, nil)
	}
	if err != nil {
		return nil, kmip.Errorf(kmip.ResultReasonCryptographicFailure, "unwrapping failed: the data does not unwrap under key %q", k.ID)
	}
	return out, nil
}

func rsaPublic(k *objects.Object, material []byte) (*rsa.PublicKey, error) {
	var pub any
	var err error
	if k.Type == kmip.ObjectTypePublicKey {
		pub, err = x509.ParsePKIXPublicKey(material)
	} else {
		var priv any
		priv, err = x509.ParsePKCS8PrivateKey(material)
		if rk, ok := priv.(*rsa.PrivateKey); ok {
			pub = &rk.PublicKey
		}
	}
	rp, ok := pub.(*rsa.PublicKey)
	if err != nil || !ok {
		return nil, kmip.Errorf(kmip.ResultReasonKeyWrapTypeNotSupported, "wrapping key %q is not an RSA key", k.ID)
	}
	return rp, nil
}

// wrappedValue returns what a Key Wrapping Specification wraps: the Key
// Material bytes with No Encoding, else the TTLV-encoded Key Value
// structure (KMIP 2.0 §2.1.6: TTLV encoding is the default).
func wrappedValue(ws *wrapSpec, material, km []byte) ([]byte, error) {
	if ws.encoding == kmip.EncodingOptionNoEncoding {
		if km != nil {
			it, ok := ttlv.Value(km).Peek()
			if !ok || it.Type != ttlv.TypeByteString {
				return nil, kmip.Errorf(kmip.ResultReasonEncodingOptionError, "No Encoding needs a key format whose Key Material is a Byte String")
			}
			return append([]byte(nil), it.Data...), nil
		}
		return append([]byte(nil), material...), nil
	}
	var b ttlv.Builder
	b.Begin(ttlv.TagKeyValue)
	if km != nil {
		b.AddRaw(km)
	} else {
		b.AddBytes(ttlv.TagKeyMaterial, material)
	}
	b.End()
	return b.Bytes()
}

// registeredWrapping is what kmipd keeps of a key registered wrapped, so
// that Get with Key Wrap Type As Registered returns it as it came
// (TC-WRAP-1-20): the wrapped Key Value and the Key Wrapping Data, encoded
// as two items in Object.Extra.

// unwrapObjectItem returns objItem with its Key Block unwrapped when the
// block carries Key Wrapping Data, and the items to keep for As Registered;
// other objects come back unchanged.
func (s *Service) unwrapObjectItem(c *kmip.Call, objItem ttlv.Item) (ttlv.Item, []byte, error) {
	body := objItem.Children()
	kbIt, ok := body.Find(ttlv.TagKeyBlock)
	if !ok {
		return objItem, nil, nil
	}
	kwd, ok := kbIt.Children().Find(ttlv.TagKeyWrappingData)
	if !ok {
		return objItem, nil, nil
	}
	ws, err := parseWrapSpec(kwd.Children())
	if err != nil {
		return ttlv.Item{}, nil, err
	}
	// The key was wrapped with this key, so Wrap Key usage is enough (the
	// 1.4 vectors give the KEK only that); Unwrap Key is the server's use.
	kv, ok := kbIt.Children().Find(ttlv.TagKeyValue)
	k, err := s.wrappingKey(c, ws, kmip.CryptographicUsageMaskUnwrapKey|kmip.CryptographicUsageMaskWrapKey)
	var ke *kmip.Error
	if errors.As(err, &ke) && ke.Reason == kmip.ResultReasonWrappingObjectNotFound && ok {
		// Wrapped under a key this server does not hold (the client's own,
		// or another server's): kept as registered, still wrapped, the way
		// the client gave it. Only what needs the plaintext is refused
		// later (errNoPlaintext).
		return objItem, keepWrapped(kv, kwd), nil
	}
	if err != nil {
		return ttlv.Item{}, nil, err
	}
	var wrappedBytes []byte
	switch {
	case ok && kv.Type == ttlv.TypeByteString:
		wrappedBytes = kv.Data
	case ok && kv.Type == ttlv.TypeStructure:
		// KMIP 1.x carries No Encoding wrapped material as the Key
		// Material inside the Key Value structure.
		if km, found := kv.Children().Find(ttlv.TagKeyMaterial); found && km.Type == ttlv.TypeByteString {
			wrappedBytes = km.Data
		}
	}
	if wrappedBytes == nil {
		return ttlv.Item{}, nil, kmip.Errorf(kmip.ResultReasonInvalidField, "a wrapped Key Block carries its wrapped Key Value as a Byte String")
	}
	plain, err := s.unwrap(c.Context(), k, ws, wrappedBytes)
	if err != nil {
		return ttlv.Item{}, nil, err
	}
	defer clear(plain)
	// Rebuild the object with the key block in the clear.
	var b ttlv.Builder
	b.Begin(objItem.Tag)
	for !body.Empty() {
		it, _ := body.Next()
		if it.Tag != ttlv.TagKeyBlock {
			b.AddRaw(it.Raw)
			continue
		}
		b.Begin(ttlv.TagKeyBlock)
		kb := it.Children()
		for !kb.Empty() {
			x, _ := kb.Next()
			switch x.Tag {
			case ttlv.TagKeyWrappingData:
			case ttlv.TagKeyValue:
				if ws.encoding == kmip.EncodingOptionNoEncoding {
					b.Begin(ttlv.TagKeyValue)
					b.AddBytes(ttlv.TagKeyMaterial, plain)
					b.End()
				} else {
					v := ttlv.Value(plain)
					inner, ok := v.Peek()
					if ttlv.CheckSeq(plain, 0) != nil || !ok || inner.Tag != ttlv.TagKeyValue || len(inner.Raw) != len(plain) {
						return ttlv.Item{}, nil, kmip.Errorf(kmip.ResultReasonEncodingOptionError, "the unwrapped data is not a TTLV Key Value")
					}
					b.AddRaw(plain)
				}
			default:
				b.AddRaw(x.Raw)
			}
		}
		b.End()
	}
	b.End()
	raw, err := b.Bytes()
	if err != nil {
		return ttlv.Item{}, nil, err
	}
	rv := ttlv.Value(raw)
	out, _ := rv.Next()
	return out, keepWrapped(kv, kwd), nil
}

// keepWrapped encodes the Key Value and Key Wrapping Data of a key
// registered wrapped, as Object.Extra keeps them (registeredWrapped).
func keepWrapped(kv, kwd ttlv.Item) []byte {
	var keep ttlv.Builder
	keep.AddRaw(kv.Raw)
	keep.AddRaw(kwd.Raw)
	extra, _ := keep.Bytes()
	return extra
}

// registeredWrapped returns the encoded Key Value item (in the form it was
// registered) and Key Wrapping Data kept by unwrapObjectItem, if o was
// registered wrapped.
func registeredWrapped(o *objects.Object) (keyValue []byte, kwd []byte, ok bool) {
	if o.Type != kmip.ObjectTypeSymmetricKey && o.Type != kmip.ObjectTypeSecretData &&
		o.Type != kmip.ObjectTypePrivateKey && o.Type != kmip.ObjectTypePublicKey {
		return nil, nil, false
	}
	v := ttlv.Value(o.Extra)
	kv, found := v.Next()
	if !found || kv.Tag != ttlv.TagKeyValue {
		return nil, nil, false
	}
	it, found := v.Next()
	if !found || it.Tag != ttlv.TagKeyWrappingData {
		return nil, nil, false
	}
	return kv.Raw, it.Raw, true
}

// wrappedKeyValue encodes wrapped key material as a Key Value: a Byte
// String (KMIP 2.0 §2.1.4), except for a key that was registered wrapped
// with its Key Value as a structure holding the wrapped Key Material (a 1.x
// form), which gets that form back (TC-WRAP-3-14; TC-SENSITIVE-1-14 and
// AX-M-2-14 expect the Byte String for keys the server made).
func wrappedKeyValue(o *objects.Object, wrapped []byte) []byte {
	var b ttlv.Builder
	if kv, _, ok := registeredWrapped(o); ok && ttlv.Type(kv[3]) == ttlv.TypeStructure {
		b.Begin(ttlv.TagKeyValue)
		b.AddBytes(ttlv.TagKeyMaterial, wrapped)
		b.End()
	} else {
		b.AddBytes(ttlv.TagKeyValue, wrapped)
	}
	out, _ := b.Bytes()
	return out
}

// writeWrappedObject writes Object Type, Unique Identifier and the object
// with its Key Value wrapped: keyValue is the encoded Key Value item
// (wrappedKeyValue), kwd writes the Key Wrapping Data.
func writeWrappedObject(w *ttlv.Builder, o *objects.Object, format kmip.KeyFormatType, keyValue []byte, kwd func(w *ttlv.Builder)) {
	w.AddEnum(ttlv.TagObjectType, uint32(o.Type))
	w.AddText(ttlv.TagUniqueIdentifier, o.ID)
	tag := map[kmip.ObjectType]ttlv.Tag{
		kmip.ObjectTypeSymmetricKey: ttlv.TagSymmetricKey,
		kmip.ObjectTypePrivateKey:   ttlv.TagPrivateKey,
		kmip.ObjectTypePublicKey:    ttlv.TagPublicKey,
		kmip.ObjectTypeSecretData:   ttlv.TagSecretData,
	}[o.Type]
	w.Begin(tag)
	if o.Type == kmip.ObjectTypeSecretData {
		w.AddEnum(ttlv.TagSecretDataType, o.DataType)
	}
	w.Begin(ttlv.TagKeyBlock)
	w.AddEnum(ttlv.TagKeyFormatType, uint32(format))
	w.AddRaw(keyValue)
	if alg, ok := o.Enum(ttlv.TagCryptographicAlgorithm); ok && o.Type != kmip.ObjectTypeSecretData {
		w.AddEnum(ttlv.TagCryptographicAlgorithm, alg)
	}
	if bits, ok := o.Int(ttlv.TagCryptographicLength); ok && o.Type != kmip.ObjectTypeSecretData {
		w.AddInt32(ttlv.TagCryptographicLength, bits)
	}
	kwd(w)
	w.End()
	w.End()
}

// wrappable reports whether objects of o's type carry a Key Block.
func wrappable(o *objects.Object) bool {
	switch o.Type {
	case kmip.ObjectTypeSymmetricKey, kmip.ObjectTypeSecretData, kmip.ObjectTypePrivateKey, kmip.ObjectTypePublicKey:
		return true
	}
	return false
}

// rewrapInBackend wraps o's key under kek inside the key backend when the
// backend can (an HSM holding the key as a wrapped key blob), so the
// plaintext never reaches kmipd. handled is false when the backend cannot,
// and the caller then wraps in kmipd — except for a Sensitive key held by
// the HSM, which is refused rather than brought out in the clear.
func (s *Service) rewrapInBackend(ctx context.Context, o, kek *objects.Object, ws *wrapSpec, format kmip.KeyFormatType) ([]byte, bool, error) {
	exp, ok := s.cfg.Backend.(hsm.KeyExporter)
	if !ok {
		return nil, false, nil
	}
	h, err := hsm.BlobKind(o.Blob)
	if err != nil || h.Kind != hsm.KindPKCS11Wrap {
		return nil, false, nil
	}
	sensitive, _ := o.Bool(ttlv.TagSensitive)
	refuse := func(why string) ([]byte, bool, error) {
		if sensitive {
			return nil, false, kmip.Errorf(kmip.ResultReasonKeyWrapTypeNotSupported,
				"the key is Sensitive and held by the HSM, which cannot wrap it %s", why)
		}
		return nil, false, nil
	}
	// The HSM wraps the key's bytes: that is No Encoding of a key whose
	// stored format is the one asked for.
	if ws.encoding != kmip.EncodingOptionNoEncoding || format != o.KeyFormat {
		return refuse("with TTLV encoding or in another key format")
	}
	mech, err := ws.mechanism(kek)
	if err != nil {
		return nil, false, err
	}
	spec := hsm.WrapSpec{Mechanism: mech, KeyID: kek.ID}
	if mech == hsm.WrapRSAOAEPSHA1 {
		if h, _ := ws.oaepHash(); ws.hashing != 0 && ws.hashing != kmip.HashingAlgorithmSHA_1 || h == nil {
			return refuse("with OAEP other than SHA-1")
		}
		material, err := s.cfg.Backend.Open(ctx, kek.ID, kek.Blob, nil)
		if err != nil {
			return nil, false, err
		}
		pub, err := rsaPublic(kek, material)
		clear(material)
		if err != nil {
			return nil, false, err
		}
		spec.PublicKey = pub
	} else {
		spec.KeyBlob = kek.Blob
	}
	wrapped, err := exp.RewrapKey(ctx, o.ID, o.Blob, spec)
	if errors.Is(err, hsm.ErrNotSupported) {
		return refuse("that way")
	}
	if err != nil {
		return nil, false, err
	}
	return wrapped, true, nil
}

// useInGo is mayLeaveBackend for a key about to be opened in kmipd to
// compute with, counting the HSM keys that come out (HSMKeysUsedInGo).
func (s *Service) useInGo(o *objects.Object) error {
	if err := s.mayLeaveBackend(o); err != nil {
		return err
	}
	if heldByHSM(o) {
		s.hsmInGo.Add(1)
	}
	return nil
}

// mayLeaveBackend refuses to bring a key out of the HSM for kmipd to use in
// Go when a client could not retrieve it either (Sensitive, or not
// Extractable): such a key is used only inside the HSM. Wrapping a key the
// HSM holds under a KEK it holds runs inside it (rewrapInBackend), as do
// AES Encrypt/Decrypt, HMAC, AES-CMAC, Sign and RSA Decrypt (hsm.Cipher).
// With Config.HSMStrict no HSM key comes out for kmipd to compute with.
func (s *Service) mayLeaveBackend(o *objects.Object) error {
	h, err := hsm.BlobKind(o.Blob)
	if err != nil || h.Kind != hsm.KindPKCS11Wrap {
		return nil
	}
	if s.cfg.HSMStrict {
		return kmip.Errorf(kmip.ResultReasonFeatureNotSupported,
			"key %q is held by the HSM, which cannot do this operation, and this server uses HSM keys only inside the HSM (hsm.strict)", o.ID)
	}
	sensitive, _ := o.Bool(ttlv.TagSensitive)
	extractable, ok := o.Bool(ttlv.TagExtractable)
	if sensitive || ok && !extractable {
		return kmip.Errorf(kmip.ResultReasonFeatureNotSupported,
			"key %q is held by the HSM and may not leave it; kmipd cannot do this operation inside the HSM", o.ID)
	}
	return nil
}
