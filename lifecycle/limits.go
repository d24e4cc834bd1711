package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/objects"
	"github.com/kmipd/kmipd/store"
)

// Attribute limits. KMIP sets no size on a Text or Byte String, so without
// them one client could store a megabyte Name, or thousands of instances,
// on every object: memory and disk on every read and Locate that touches
// it, and a store that fills. The defaults are far above what real objects
// carry (a certificate's subject, a few names and links).
const (
	DefaultMaxAttributeSize = 64 << 10
	DefaultMaxAttributes    = 1024
)

func (s *Service) maxAttributeSize() int {
	if s.cfg.MaxAttributeSize > 0 {
		return s.cfg.MaxAttributeSize
	}
	return DefaultMaxAttributeSize
}

func (s *Service) maxAttributes() int {
	if s.cfg.MaxAttributes > 0 {
		return s.cfg.MaxAttributes
	}
	return DefaultMaxAttributes
}

// errLimit refuses a request that exceeds a limit of this server. KMIP 2.x
// has Server Limit Exceeded for it (the value is valid, the server will not
// hold it); 1.x lacks that reason, where kmip.ReasonFor would give General
// Failure, so 1.x clients get Invalid Field, which names the request as the
// cause.
func errLimit(c *kmip.Call, format string, a ...any) error {
	r := kmip.ResultReasonInvalidField
	if c.Version.V2() {
		r = kmip.ResultReasonServerLimitExceeded
	}
	return kmip.Errorf(r, format, a...)
}

// checkAttrSize refuses an attribute value larger than the limit.
func (s *Service) checkAttrSize(c *kmip.Call, a objects.Attribute) error {
	if max := s.maxAttributeSize(); len(a.Raw) > max {
		return errLimit(c, "the %s attribute is %d bytes encoded; this server takes at most %d bytes per attribute value", attrName(a), len(a.Raw), max)
	}
	return nil
}

// checkAttrCount refuses an object that would carry more attribute
// instances than the limit, naming the attribute with the most.
func (s *Service) checkAttrCount(c *kmip.Call, o *objects.Object, adding int) error {
	max := s.maxAttributes()
	if len(o.Attrs)+adding <= max {
		return nil
	}
	type key struct {
		tag          uint32
		vendor, name string
	}
	counts := make(map[key]int)
	most, n := objects.Attribute{}, 0
	for _, a := range o.Attrs {
		k := key{uint32(a.Tag), a.VendorID, a.Name}
		counts[k]++
		if counts[k] > n {
			most, n = a, counts[k]
		}
	}
	return errLimit(c, "the object would have %d attribute instances (%d of them %s); this server takes at most %d per object", len(o.Attrs)+adding, n, attrName(most), max)
}

// checkAttrLimits applies both limits to a new object (Create, Register,
// Create Key Pair, Derive Key, Import, Re-key, ...): every attribute it
// carries is stored with it, the client's and those copied from another
// object alike.
func (s *Service) checkAttrLimits(c *kmip.Call, o *objects.Object) error {
	for _, a := range o.Attrs {
		if err := s.checkAttrSize(c, a); err != nil {
			return err
		}
	}
	return s.checkAttrCount(c, o, 0)
}

// saveNew saves a new (or, on Import, replaced) object after checking the
// attribute limits, mapping a name conflict.
func (s *Service) saveNew(tx *store.Tx, c *kmip.Call, o *objects.Object) error {
	if err := s.checkAttrLimits(c, o); err != nil {
		return err
	}
	return nameConflict(s.save(tx, o))
}
