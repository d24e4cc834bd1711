package main

import (
	"github.com/spf13/pflag"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// wrapFlags ask Get or Export for the key wrapped under another managed key
// (a Key Wrapping Specification, KMIP 2.0 §2.1.6).
type wrapFlags struct {
	key, method, encoding, mode string
}

// add registers the flags; encodingFlag names the Encoding Option flag
// (get: --encoding; export, whose --encoding is the document's:
// --wrap-encoding).
func (f *wrapFlags) add(fs *pflag.FlagSet, encodingFlag string) {
	fs.StringVar(&f.key, "wrap-key", "", "return the key wrapped under this managed key (its Unique Identifier)")
	fs.StringVar(&f.method, "wrap-method", "encrypt", "Wrapping Method with --wrap-key: encrypt or mac-sign")
	fs.StringVar(&f.encoding, encodingFlag, "no-encoding", "Encoding Option with --wrap-key: no-encoding (the key bytes) or ttlv (the whole Key Value)")
	fs.StringVar(&f.mode, "wrap-mode", "", "Block Cipher Mode of a symmetric wrapping key with --wrap-key: nist-key-wrap (RFC 3394), aes-key-wrap-padding (RFC 5649); default: the server's (RFC 3394)")
}

var (
	wrapMethods = map[string]kmip.WrappingMethod{
		"encrypt":  kmip.WrappingMethodEncrypt,
		"mac-sign": kmip.WrappingMethodMACSign,
	}
	wrapEncodings = map[string]kmip.EncodingOption{
		"no-encoding": kmip.EncodingOptionNoEncoding,
		"ttlv":        kmip.EncodingOptionTTLVEncoding,
	}
	wrapModes = map[string]kmip.BlockCipherMode{
		"":                     0,
		"nist-key-wrap":        kmip.BlockCipherModeNISTKeyWrap,
		"aes-key-wrap-padding": kmip.BlockCipherModeAESKeyWrapPadding,
	}
)

// spec returns a function that writes the Key Wrapping Specification, or
// nil without --wrap-key; flags given without --wrap-key are a usage error.
func (f *wrapFlags) spec(fs *pflag.FlagSet, encodingFlag string) (func(b *ttlv.Builder), error) {
	if f.key == "" {
		for _, n := range []string{"wrap-method", encodingFlag, "wrap-mode"} {
			if fs.Changed(n) {
				return nil, usageErrorf("--%s needs --wrap-key", n)
			}
		}
		return nil, nil
	}
	method, ok := wrapMethods[f.method]
	if !ok {
		return nil, usageErrorf("invalid --wrap-method %q: want encrypt or mac-sign", f.method)
	}
	enc, ok := wrapEncodings[f.encoding]
	if !ok {
		return nil, usageErrorf("invalid --%s %q: want no-encoding or ttlv", encodingFlag, f.encoding)
	}
	mode, ok := wrapModes[f.mode]
	if !ok {
		return nil, usageErrorf("invalid --wrap-mode %q: want nist-key-wrap or aes-key-wrap-padding", f.mode)
	}
	keyInfo := ttlv.TagEncryptionKeyInformation
	if method == kmip.WrappingMethodMACSign {
		keyInfo = ttlv.TagMACSignatureKeyInformation
	}
	return func(b *ttlv.Builder) {
		b.Begin(ttlv.TagKeyWrappingSpecification)
		b.AddEnum(ttlv.TagWrappingMethod, uint32(method))
		b.Begin(keyInfo)
		b.AddText(ttlv.TagUniqueIdentifier, f.key)
		if mode != 0 {
			b.Begin(ttlv.TagCryptographicParameters)
			b.AddEnum(ttlv.TagBlockCipherMode, uint32(mode))
			b.End()
		}
		b.End()
		b.AddEnum(ttlv.TagEncodingOption, uint32(enc))
		b.End()
	}, nil
}
