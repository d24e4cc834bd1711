package main

import (
	"fmt"
	"maps"
	"os"
	"os/signal"
	"slices"
	"sort"
	"syscall"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/internal/access"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/lifecycle"
)

// accessConfig is the access section of the config: tenants, roles and
// who has them (docs/operator.md, "Access control"). Without it every
// identity is a user of the default tenant with the server operations, and
// admins are global admins: the owner-only model.
type accessConfig struct {
	// DefaultTenant and DefaultRoles are those of identities no binding
	// names (default: tenant "default", roles [user]; [] refuses them
	// every operation).
	DefaultTenant string   `yaml:"default_tenant,omitempty"`
	DefaultRoles  []string `yaml:"default_roles,omitempty"`
	// Roles are custom roles by name.
	Roles map[string]roleConfig `yaml:"roles,omitempty"`
	// Identities binds identity names (as identity.source yields them).
	Identities map[string]bindingConfig `yaml:"identities,omitempty"`
	// OUs binds the holders of client certificates with a subject
	// Organizational Unit; an identity's own binding wins.
	OUs map[string]bindingConfig `yaml:"ous,omitempty"`
}

type roleConfig struct {
	Operations []string `yaml:"operations"`
	ObjectType []string `yaml:"object_types,omitempty"`
	Scope      string   `yaml:"scope,omitempty"` // own (default) or tenant
}

type bindingConfig struct {
	Tenant string   `yaml:"tenant,omitempty"`
	Roles  []string `yaml:"roles,omitempty"`
}

// accessPolicy compiles the access section (access.Compat without one).
func (c *Config) accessPolicy() (*access.Policy, error) {
	if c.Access == nil {
		return access.Compat(c.Admins), nil
	}
	a := c.Access
	pc := access.Config{DefaultTenant: a.DefaultTenant, DefaultRoles: a.DefaultRoles, GlobalAdmins: c.Admins,
		Roles: map[string]access.RoleSpec{}, Identities: map[string]access.Binding{}, OUs: map[string]access.Binding{}}
	for n, r := range a.Roles {
		pc.Roles[n] = access.RoleSpec{Ops: r.Operations, Types: r.ObjectType, Scope: r.Scope}
	}
	for n, b := range a.Identities {
		pc.Identities[n] = access.Binding{Tenant: b.Tenant, Roles: b.Roles}
	}
	for n, b := range a.OUs {
		pc.OUs[n] = access.Binding{Tenant: b.Tenant, Roles: b.Roles}
	}
	p, err := access.New(pc)
	if err != nil {
		return nil, fmt.Errorf("access: %w", err)
	}
	return p, nil
}

// checkAccess reports the access model config check sees: errors come
// with the config; here are the bindings and what deserves a warning.
func (c *checker) checkAccess(cfg *Config) {
	if cfg.Access == nil {
		c.ok("access: no access section: every identity a user of tenant %q, admins global admins", access.DefaultTenant)
		return
	}
	if _, err := cfg.accessPolicy(); err != nil {
		return // reported with the config
	}
	a := cfg.Access
	tenants := map[string]bool{}
	used := map[string]bool{}
	note := func(b bindingConfig) {
		t := b.Tenant
		if t == "" {
			t = access.DefaultTenant
		}
		tenants[t] = true
		for _, r := range b.Roles {
			used[r] = true
		}
	}
	for n, b := range a.Identities {
		note(b)
		if err := kmip.ValidIdentityName(n); err != nil {
			c.warn("access.identities %q: no client can have this identity: %v", n, err)
		}
	}
	for _, b := range a.OUs {
		note(b)
	}
	note(bindingConfig{Tenant: a.DefaultTenant, Roles: a.DefaultRoles})
	for n := range a.Roles {
		if !used[n] {
			c.warn("access.roles %q: no binding uses it", n)
		}
	}
	if a.DefaultRoles != nil && len(a.DefaultRoles) == 0 {
		c.ok("access: identities without a binding are refused every operation (default_roles: [])")
	}
	names := make([]string, 0, len(tenants))
	for t := range tenants {
		names = append(names, t)
	}
	sort.Strings(names)
	c.ok("access: tenants %v, %d identity and %d OU bindings, custom roles %v", names, len(a.Identities), len(a.OUs), slices.Sorted(maps.Keys(a.Roles)))
}

// watchReload reloads the access policy from the config directory on
// SIGHUP, without a restart; a config that does not load leaves the policy
// in force (and is logged). The returned function stops watching.
func watchReload(dir string, svc *lifecycle.Service, log zerolog.Logger) func() {
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, syscall.SIGHUP)
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			case <-ch:
				reloadAccess(dir, svc, log)
			}
		}
	}()
	return func() { signal.Stop(ch); close(done) }
}

// reloadAccess loads DIR's config and installs its access policy.
func reloadAccess(dir string, svc *lifecycle.Service, log zerolog.Logger) {
	cfg, err := loadConfig(dir)
	if err != nil {
		log.Error().Err(err).Msg("SIGHUP: config not reloaded; the access policy in force stays")
		return
	}
	p, err := cfg.accessPolicy()
	if err != nil {
		log.Error().Err(err).Msg("SIGHUP: config not reloaded; the access policy in force stays")
		return
	}
	svc.SetPolicy(p)
	log.Info().Msg("SIGHUP: access policy reloaded")
}
