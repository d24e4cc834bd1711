//go:build !cgo

package pkcs11

import (
	"context"

	"github.com/kmipd/kmipd/hsm"
)

var _ hsm.Backend = (*Backend)(nil)

// Backend is the PKCS#11 backend. Without cgo it cannot be opened.
type Backend struct{}

// Open fails: the PKCS#11 backend needs cgo.
func Open(Options) (*Backend, error) { return nil, ErrNoCgo }

// CreateKEK fails: the PKCS#11 backend needs cgo.
func CreateKEK(Options) error { return ErrNoCgo }

// Name returns "pkcs11".
func (*Backend) Name() string { return hsm.KindPKCS11.String() }

// GenerateSymmetric fails with ErrNoCgo.
func (*Backend) GenerateSymmetric(context.Context, string, int) ([]byte, error) { return nil, ErrNoCgo }

// Seal fails with ErrNoCgo.
func (*Backend) Seal(context.Context, string, []byte) ([]byte, error) { return nil, ErrNoCgo }

// Open fails with ErrNoCgo.
func (*Backend) Open(context.Context, string, []byte, []byte) ([]byte, error) { return nil, ErrNoCgo }

// Random fails with ErrNoCgo.
func (*Backend) Random(context.Context, []byte) error { return ErrNoCgo }

// Close does nothing.
func (*Backend) Close() error { return nil }
