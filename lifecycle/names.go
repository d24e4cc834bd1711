package lifecycle

// NamePolicy says where a Name must be unique. KMIP asks names to be unique
// "within a given key management domain" and leaves the domain to the
// server (KMIP 1.4 §3.2, 2.0 §4.35); clients differ on what they expect:
// PyKMIP names every object it registers ("Symmetric Key", "Secret Data",
// …) and Percona's tests create two keys of one name, while an operator may
// want a name to find exactly one live key.
type NamePolicy int

const (
	// NamesPerObject (the default): an object's names are distinct (adding
	// a Name the object already has is Non Unique Name Attribute,
	// BL-M-8-21); different objects may share a name, and Locate by Name
	// returns them all, newest first.
	NamesPerObject NamePolicy = iota
	// NamesPerOwner: besides, a name belongs to one live object of its
	// owner. A Destroyed object gives its names back, so a name can be
	// reused once its object is destroyed (Locate by Name with State
	// Destroyed still finds the old one).
	NamesPerOwner
	// NamesPerTenant: a name belongs to one live object of the owner's
	// tenant (internal/access), with the same release on Destroy. Tenants
	// never see each other's names.
	NamesPerTenant
)

// ParseNamePolicy reads "object", "owner" or "tenant".
func ParseNamePolicy(s string) (NamePolicy, bool) {
	switch s {
	case "object", "":
		return NamesPerObject, true
	case "owner":
		return NamesPerOwner, true
	case "tenant":
		return NamesPerTenant, true
	}
	return 0, false
}

func (p NamePolicy) String() string {
	switch p {
	case NamesPerOwner:
		return "owner"
	case NamesPerTenant:
		return "tenant"
	}
	return "object"
}
