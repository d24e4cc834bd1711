//go:build cgo

package pkcs11

import (
	"context"

	"github.com/kmipd/kmipd/hsm"
)

var _ hsm.LibraryInformer = (*Backend)(nil)

// LibraryInfo returns the module's CK_INFO (C_GetInfo). It needs no session
// and no login.
func (b *Backend) LibraryInfo(context.Context) (hsm.LibraryInfo, error) {
	b.m.mu.RLock()
	defer b.m.mu.RUnlock()
	i, err := b.m.p.GetInfo()
	if err != nil {
		b.errs.Add(1)
		return hsm.LibraryInfo{}, p11err(err)
	}
	return hsm.LibraryInfo{
		CryptokiMajor: i.CryptokiVersion.Major, CryptokiMinor: i.CryptokiVersion.Minor,
		Manufacturer: i.ManufacturerID, Flags: uint64(i.Flags), Description: i.LibraryDescription,
		LibraryMajor: i.LibraryVersion.Major, LibraryMinor: i.LibraryVersion.Minor,
	}, nil
}
