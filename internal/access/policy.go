package access

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/kmipd/kmipd/kmip"
)

// DefaultTenant is the tenant of identities no binding places elsewhere,
// and of every object stored before tenants existed. Objects record it as
// the empty string.
const DefaultTenant = "default"

// Scope says which objects a role's operations reach.
type Scope uint8

const (
	// ScopeOwn: the objects the identity owns, and the objects granted to
	// it for the granted operations.
	ScopeOwn Scope = iota
	// ScopeTenant: every object of the identity's tenant.
	ScopeTenant
)

// Role is a named set of operations, optionally limited to some object
// types, with the scope of objects it reaches.
type Role struct {
	Name  string
	Ops   OpSet
	Types uint64 // bit n: object type n; 0: every type
	Scope Scope
}

// allows reports whether the role permits op on an object of type typ.
func (r *Role) allows(op kmip.Operation, typ kmip.ObjectType) bool {
	return r.Ops.Has(op) && (r.Types == 0 || typ < 64 && r.Types&(1<<uint(typ)) != 0)
}

// Operations that act on the server rather than on objects: no built-in
// role but server has them.
var serverOps = NewOpSet(kmip.OperationRNGSeed, kmip.OperationLog, kmip.OperationSetEndpointRole, kmip.OperationInterop,
	kmip.OperationPKCS_11)

// allOps is every operation kmipd can name.
var allOps = func() OpSet {
	var s OpSet
	for _, op := range opsByName {
		s.Add(op)
	}
	return s
}()

// cryptoOps are the operations that use a key without revealing it.
var cryptoOps = NewOpSet(kmip.OperationEncrypt, kmip.OperationDecrypt, kmip.OperationSign,
	kmip.OperationSignatureVerify, kmip.OperationMAC, kmip.OperationMACVerify, kmip.OperationDeriveKey)

// sessionOps touch no object and reveal nothing of any: every built-in
// role has them. Poll and Cancel reach only the caller's own asynchronous
// operations, whose start was decided on its own.
var sessionOps = NewOpSet(kmip.OperationQuery, kmip.OperationDiscoverVersions, OperationWhoAmI,
	kmip.OperationLogin, kmip.OperationLogout, kmip.OperationDelegatedLogin, kmip.OperationPing,
	kmip.OperationPoll, kmip.OperationCancel)

// Built-in roles (docs/operator.md describes them).
var builtins = map[string]*Role{
	// admin: everything but the server operations, on every object of its
	// tenant (of every tenant for a global admin).
	"admin": {Name: "admin", Ops: minus(allOps, serverOps), Scope: ScopeTenant},
	// user: everything but the server operations, on its own objects and,
	// for what was granted, on granted ones.
	"user": {Name: "user", Ops: minus(allOps, serverOps), Scope: ScopeOwn},
	// crypto: cryptographic use of granted keys; never Get or Export.
	"crypto": {Name: "crypto", Ops: cryptoOps.Union(sessionOps), Scope: ScopeOwn},
	// auditor: attributes (no key material) of every object of its tenant.
	"auditor": {Name: "auditor", Ops: NewOpSet(kmip.OperationLocate, kmip.OperationGetAttributes,
		kmip.OperationGetAttributeList, OperationListGrants).Union(sessionOps), Scope: ScopeTenant},
	// server: the operations that act on the server itself.
	"server": {Name: "server", Ops: serverOps.Union(sessionOps), Scope: ScopeOwn},
}

func minus(a, b OpSet) OpSet { return OpSet{a[0] &^ b[0], a[1] &^ b[1]} }

// BuiltinRoles lists the names of the built-in roles.
func BuiltinRoles() []string {
	n := make([]string, 0, len(builtins))
	for k := range builtins {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// RoleSpec declares a custom role.
type RoleSpec struct {
	Ops   []string // operation names (ParseOp)
	Types []string // object type names; empty: every type
	Scope string   // "own" (default) or "tenant"
}

// Binding places an identity (or the holders of a certificate OU) in a
// tenant with roles.
type Binding struct {
	Tenant string   // empty: DefaultTenant
	Roles  []string // nil (omitted): the policy's default roles; empty: none
}

// Config is the declared policy.
type Config struct {
	// DefaultTenant and DefaultRoles apply to identities no binding names.
	// Empty: DefaultTenant and [user].
	DefaultTenant string
	DefaultRoles  []string
	// Roles are the custom roles; they may not reuse a built-in name.
	Roles map[string]RoleSpec
	// Identities binds identity names; OUs binds the holders of a client
	// certificate with that subject Organizational Unit (an identity's own
	// binding wins; then its certificate's first OU that is bound).
	Identities map[string]Binding
	OUs        map[string]Binding
	// GlobalAdmins have the admin role in every tenant, besides the roles
	// of their binding.
	GlobalAdmins []string
}

// Subject is the precomputed decision structure of one identity (or of
// every identity sharing one binding).
type Subject struct {
	tenant string // as objects store it: "" for DefaultTenant
	global bool
	ops    OpSet // every operation one of its roles has
	seesTn bool  // a tenant-scope role: the tenant's objects are not hidden
	roles  []*Role
	// Bound says what placed the identity: "identity NAME", "ou OU" or
	// "default".
	Bound string
}

// Tenant is the subject's tenant name.
func (s *Subject) Tenant() string { return TenantName(s.tenant) }

// StoredTenant is the subject's tenant as objects record it ("" for
// DefaultTenant).
func (s *Subject) StoredTenant() string { return s.tenant }

// Global reports whether the subject is a global admin.
func (s *Subject) Global() bool { return s.global }

// Roles lists the subject's role names.
func (s *Subject) Roles() []string {
	n := make([]string, len(s.roles))
	for i, r := range s.roles {
		n[i] = r.Name
	}
	return n
}

// TenantName turns a stored tenant into its name.
func TenantName(stored string) string {
	if stored == "" {
		return DefaultTenant
	}
	return stored
}

// StoredTenant turns a tenant name into what objects store.
func StoredTenant(name string) string {
	if name == DefaultTenant {
		return ""
	}
	return name
}

// Policy maps identities to subjects. It is immutable: a reload builds a
// new one.
type Policy struct {
	byName map[string]*Subject
	byOU   map[string]*Subject
	dflt   *Subject
	roles  map[string]*Role
}

// Compat is the policy of a configuration without an access section:
// every identity is a user in the default tenant (owner semantics, as
// before roles), and admins are global admins with the server role; the
// server operations need that explicit role.
func Compat(admins []string) *Policy {
	p, err := New(Config{DefaultRoles: []string{"user"}, GlobalAdmins: admins,
		Identities: adminBindings(admins, "server")})
	if err != nil {
		panic("access: compat policy: " + err.Error())
	}
	return p
}

func adminBindings(admins []string, roles ...string) map[string]Binding {
	m := make(map[string]Binding, len(admins))
	for _, a := range admins {
		m[a] = Binding{Roles: roles}
	}
	return m
}

// New compiles cfg.
func New(cfg Config) (*Policy, error) {
	p := &Policy{byName: map[string]*Subject{}, byOU: map[string]*Subject{}, roles: map[string]*Role{}}
	for n, r := range builtins {
		p.roles[n] = r
	}
	for n, spec := range cfg.Roles {
		if _, ok := builtins[n]; ok {
			return nil, fmt.Errorf("role %q: a built-in role of that name exists", n)
		}
		if n == "" {
			return nil, fmt.Errorf("a role without a name")
		}
		r, err := compileRole(n, spec)
		if err != nil {
			return nil, err
		}
		p.roles[n] = r
	}
	if err := validTenant(cfg.DefaultTenant, true); err != nil {
		return nil, fmt.Errorf("default tenant: %w", err)
	}
	defRoles := cfg.DefaultRoles
	if defRoles == nil {
		defRoles = []string{"user"}
	}
	var err error
	if p.dflt, err = p.subject(Binding{Tenant: cfg.DefaultTenant, Roles: defRoles}, false, "default"); err != nil {
		return nil, fmt.Errorf("default roles: %w", err)
	}
	for ou, b := range cfg.OUs {
		if p.byOU[ou], err = p.subject(b, false, "ou "+ou); err != nil {
			return nil, fmt.Errorf("ou %q: %w", ou, err)
		}
	}
	global := map[string]bool{}
	for _, a := range cfg.GlobalAdmins {
		global[a] = true
	}
	for name, b := range cfg.Identities {
		if name == "" {
			return nil, fmt.Errorf("an identity binding without a name")
		}
		if p.byName[name], err = p.subject(b, global[name], "identity "+name); err != nil {
			return nil, fmt.Errorf("identity %q: %w", name, err)
		}
	}
	for a := range global {
		if p.byName[a] == nil {
			if p.byName[a], err = p.subject(Binding{Roles: []string{}}, true, "admins"); err != nil {
				return nil, err
			}
		}
	}
	return p, nil
}

func (p *Policy) subject(b Binding, global bool, bound string) (*Subject, error) {
	if err := validTenant(b.Tenant, true); err != nil {
		return nil, err
	}
	s := &Subject{tenant: StoredTenant(b.Tenant), global: global, Bound: bound}
	roles := b.Roles
	if roles == nil {
		roles = p.dflt.Roles()
	}
	if global && !slices.Contains(roles, "admin") {
		roles = append([]string{"admin"}, roles...)
	}
	for _, n := range roles {
		r, ok := p.roles[n]
		if !ok {
			return nil, fmt.Errorf("unknown role %q", n)
		}
		if slices.Contains(s.roles, r) {
			continue
		}
		s.roles = append(s.roles, r)
		s.ops = s.ops.Union(r.Ops)
		if r.Scope == ScopeTenant {
			s.seesTn = true
		}
	}
	return s, nil
}

// validTenant checks a tenant name: printable, no NUL (objects store it
// after the owner, NUL-separated), at most 128 bytes.
func validTenant(t string, emptyOK bool) error {
	if t == "" {
		if emptyOK {
			return nil
		}
		return fmt.Errorf("empty tenant name")
	}
	if len(t) > 128 || strings.ContainsAny(t, "\x00\n\r\t") {
		return fmt.Errorf("invalid tenant name %q", t)
	}
	return nil
}

func compileRole(name string, spec RoleSpec) (*Role, error) {
	r := &Role{Name: name}
	ops, err := ParseOps(spec.Ops)
	if err != nil {
		return nil, fmt.Errorf("role %q: %w", name, err)
	}
	if ops.Empty() {
		return nil, fmt.Errorf("role %q: no operations", name)
	}
	r.Ops = ops
	for _, t := range spec.Types {
		typ, err := ParseObjectType(t)
		if err != nil {
			return nil, fmt.Errorf("role %q: %w", name, err)
		}
		r.Types |= 1 << uint(typ)
	}
	switch spec.Scope {
	case "", "own":
		r.Scope = ScopeOwn
	case "tenant":
		r.Scope = ScopeTenant
	default:
		return nil, fmt.Errorf("role %q: scope %q: want own or tenant", name, spec.Scope)
	}
	return r, nil
}

// ParseObjectType reads an object type name in any case, with or without
// spaces, hyphens or underscores (symmetric-key, SymmetricKey).
func ParseObjectType(s string) (kmip.ObjectType, error) {
	want := normName(s)
	for t := kmip.ObjectType(1); t < 64; t++ {
		n := t.String()
		if strings.HasPrefix(n, "0x") {
			continue
		}
		if normName(n) == want {
			return t, nil
		}
	}
	return 0, fmt.Errorf("unknown object type %q", s)
}

// Subject returns the decision structure of an identity: its own binding,
// else that of its certificate's first bound OU, else the default. It does
// not allocate.
func (p *Policy) Subject(id *kmip.Identity) *Subject {
	if s, ok := p.byName[id.Name]; ok {
		return s
	}
	for _, ou := range id.OUs {
		if s, ok := p.byOU[ou]; ok {
			return s
		}
	}
	return p.dflt
}

// NamedSubject returns the subject of an identity name when a binding of
// the name (not of a certificate OU) decides it.
func (p *Policy) NamedSubject(name string) (*Subject, bool) {
	s, ok := p.byName[name]
	return s, ok
}

// Default is the subject of identities no binding names.
func (p *Policy) Default() *Subject { return p.dflt }
