package main

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/rs/zerolog"

	"github.com/kmipd/kmipd/internal/authn"
)

// UserConfig is one user of Username and Password credentials (users:).
type UserConfig struct {
	Name string `yaml:"name"`
	// PasswordHash is the argon2id PHC string `kmipd user hash` prints.
	PasswordHash string `yaml:"password_hash"`
	// Certificates are the client certificate identities (as identity.source
	// derives them) that may present this user; no other may.
	Certificates []string `yaml:"certificates"`
}

// AuthConfig bounds password checks and tickets (auth:).
type AuthConfig struct {
	// MaxFailures failed password checks from one certificate identity
	// within FailureWindow refuse its credentials until the window ends.
	MaxFailures   int      `yaml:"max_failures"`
	FailureWindow Duration `yaml:"failure_window"`
	// VerifyCache keeps a successful password check that long (0: off).
	VerifyCache Duration `yaml:"verify_cache"`
	// MaxConcurrentVerifications bounds argon2id computations at once.
	MaxConcurrentVerifications int `yaml:"max_concurrent_verifications"`
	// Tickets of Login and Delegated Login, held in memory.
	MaxTickets            int      `yaml:"max_tickets"`
	MaxTicketsPerIdentity int      `yaml:"max_tickets_per_identity"`
	TicketLease           Duration `yaml:"ticket_lease"`     // when Login asks for none
	MaxTicketLease        Duration `yaml:"max_ticket_lease"` // longer requests get this
}

func defaultAuthConfig() AuthConfig {
	return AuthConfig{
		MaxFailures:                authn.DefaultMaxFailures,
		FailureWindow:              Duration(authn.DefaultFailureWindow),
		VerifyCache:                Duration(authn.DefaultCacheTTL),
		MaxConcurrentVerifications: authn.DefaultMaxConcurrent,
		MaxTickets:                 authn.DefaultMaxTickets,
		MaxTicketsPerIdentity:      authn.DefaultMaxTicketsPerIdentity,
		TicketLease:                Duration(authn.DefaultTicketLease),
		MaxTicketLease:             Duration(authn.DefaultMaxTicketLease),
	}
}

func (c *Config) validateAuth() []error {
	var errs []error
	a := c.Auth
	for _, n := range []struct {
		key string
		v   int
	}{{"max_failures", a.MaxFailures}, {"max_concurrent_verifications", a.MaxConcurrentVerifications},
		{"max_tickets", a.MaxTickets}, {"max_tickets_per_identity", a.MaxTicketsPerIdentity}} {
		if n.v <= 0 {
			errs = append(errs, fmt.Errorf("auth.%s %d: want 1 or more", n.key, n.v))
		}
	}
	for _, d := range []struct {
		key string
		v   Duration
	}{{"failure_window", a.FailureWindow}, {"ticket_lease", a.TicketLease}, {"max_ticket_lease", a.MaxTicketLease}} {
		if d.v <= 0 {
			errs = append(errs, fmt.Errorf("auth.%s %s: want more than 0", d.key, time.Duration(d.v)))
		}
	}
	if a.VerifyCache < 0 {
		errs = append(errs, errors.New("auth.verify_cache: want 0 (off) or more"))
	}
	if a.TicketLease > a.MaxTicketLease {
		errs = append(errs, fmt.Errorf("auth.ticket_lease %s: longer than auth.max_ticket_lease", time.Duration(a.TicketLease)))
	}
	if _, err := c.passwords(); err != nil {
		errs = append(errs, fmt.Errorf("users: %w", err))
	}
	return errs
}

func (c *Config) passwords() (*authn.Passwords, error) {
	users := make([]authn.User, len(c.Users))
	for i, u := range c.Users {
		users[i] = authn.User{Name: u.Name, PasswordHash: u.PasswordHash, Certificates: u.Certificates}
	}
	return authn.NewPasswords(users, authn.PasswordOptions{
		MaxFailures:   c.Auth.MaxFailures,
		FailureWindow: time.Duration(c.Auth.FailureWindow),
		CacheTTL:      time.Duration(c.Auth.VerifyCache),
		MaxConcurrent: c.Auth.MaxConcurrentVerifications,
	})
}

func (c *Config) tickets() *authn.Tickets {
	return authn.NewTickets(authn.TicketOptions{
		MaxTickets:            c.Auth.MaxTickets,
		MaxTicketsPerIdentity: c.Auth.MaxTicketsPerIdentity,
		DefaultLease:          time.Duration(c.Auth.TicketLease),
		MaxLease:              time.Duration(c.Auth.MaxTicketLease),
	})
}

// authenticator checks the credentials of request headers against the
// configured users and the tickets of the lifecycle service.
func (c *Config) authenticator(tickets *authn.Tickets, log zerolog.Logger) (*authn.Authenticator, error) {
	pw, err := c.passwords()
	if err != nil {
		return nil, fmt.Errorf("users: %w", err)
	}
	return &authn.Authenticator{Passwords: pw, Tickets: tickets, Logger: log}, nil
}

// checkUsers reports the password users and warns of one that is also an
// admin: its password then opens every object.
func (c *checker) checkUsers(cfg *Config) {
	if len(cfg.Users) == 0 {
		c.ok("users: none (Username and Password credentials are ignored)")
		return
	}
	for _, u := range cfg.Users {
		if slices.Contains(cfg.Admins, u.Name) {
			c.warn("users %q is also an admin: its password, from its certificates, sees every object", u.Name)
		}
	}
	c.ok("users: %d, presented only from their listed certificates", len(cfg.Users))
}
