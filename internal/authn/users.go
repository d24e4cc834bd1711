package authn

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/kmipd/kmipd/kmip"
)

// User is one configured user of Username and Password credentials.
type User struct {
	Name         string
	PasswordHash string // argon2id PHC string (HashPassword)
	// Certificates are the identities of the client certificates that may
	// present this user: a password alone, without one of them, is useless.
	Certificates []string
}

// PasswordOptions bound the work password checks may cost.
type PasswordOptions struct {
	// MaxFailures failed checks from one certificate identity within
	// FailureWindow refuse every further credential it presents until the
	// window ends, without checking it (brute force).
	MaxFailures   int
	FailureWindow time.Duration
	// CacheTTL keeps a successful check of (certificate identity, user,
	// password) that long, so that a client sending its credential with
	// every request pays argon2id once; 0 disables the cache.
	CacheTTL time.Duration
	// MaxConcurrent argon2id computations at once (each takes the hash's
	// memory); further checks wait.
	MaxConcurrent int
}

// Default password options.
const (
	DefaultMaxFailures   = 10
	DefaultFailureWindow = time.Minute
	DefaultCacheTTL      = 5 * time.Minute
	DefaultMaxConcurrent = 2
)

// maxCached bounds the cache of successful checks; past it the cache is
// emptied (they are redone).
const maxCached = 10000

// Passwords checks Username and Password credentials.
type Passwords struct {
	users map[string]*user
	o     PasswordOptions
	sem   chan struct{}
	dummy *phc // checked for unknown users, so they take as long as known ones

	mu       sync.Mutex
	cacheKey [32]byte // HMAC key of the cache entries, random per process
	cache    map[[32]byte]time.Time
	fails    map[string]*failures
}

type user struct {
	name  string
	hash  *phc
	certs []string
}

type failures struct {
	since time.Time
	n     int
}

// NewPasswords checks the users and returns their Passwords. Zero options
// take the defaults.
func NewPasswords(users []User, o PasswordOptions) (*Passwords, error) {
	if o.MaxFailures <= 0 {
		o.MaxFailures = DefaultMaxFailures
	}
	if o.FailureWindow <= 0 {
		o.FailureWindow = DefaultFailureWindow
	}
	if o.CacheTTL < 0 {
		o.CacheTTL = 0
	}
	if o.MaxConcurrent <= 0 {
		o.MaxConcurrent = DefaultMaxConcurrent
	}
	p := &Passwords{users: make(map[string]*user, len(users)), o: o, sem: make(chan struct{}, o.MaxConcurrent),
		cache: make(map[[32]byte]time.Time), fails: make(map[string]*failures)}
	if _, err := rand.Read(p.cacheKey[:]); err != nil {
		return nil, err
	}
	for _, u := range users {
		if err := kmip.ValidIdentityName(u.Name); err != nil {
			return nil, fmt.Errorf("user %q: name: %v", u.Name, err)
		}
		if p.users[u.Name] != nil {
			return nil, fmt.Errorf("user %q: listed twice", u.Name)
		}
		h, err := parsePHC(u.PasswordHash)
		if err != nil {
			return nil, fmt.Errorf("user %q: password_hash: %v", u.Name, err)
		}
		if len(u.Certificates) == 0 {
			return nil, fmt.Errorf("user %q: no certificates: list the client certificate identities that may present it", u.Name)
		}
		p.users[u.Name] = &user{name: u.Name, hash: h, certs: slices.Clone(u.Certificates)}
		if p.dummy == nil {
			p.dummy = &phc{time: h.time, memory: h.memory, threads: h.threads, salt: make([]byte, len(h.salt)), key: make([]byte, len(h.key))}
		}
	}
	return p, nil
}

// Enabled reports whether any user is configured.
func (p *Passwords) Enabled() bool { return p != nil && len(p.users) > 0 }

// Verify checks username and password presented over a connection whose
// certificate identity is peer, and returns the user's name. Every failure
// is the same Authentication Not Successful to the client; the error's
// cause (never the password) is for the log.
func (p *Passwords) Verify(ctx context.Context, peer string, username, password []byte, now time.Time) (string, error) {
	if p.locked(peer, now) {
		return "", refused("too many failed authentications from this certificate; try again later", nil)
	}
	key := p.entryKey(peer, username, password)
	u := p.users[string(username)]
	if u != nil && p.cached(key, now) {
		return u.name, nil
	}
	h := p.dummy
	if u != nil {
		h = u.hash
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return "", refused("authentication abandoned", ctx.Err())
	}
	// Again once it is this request's turn: guesses sent at once all pass
	// the first check, and the failures of those ahead count here.
	if p.locked(peer, now) {
		<-p.sem
		return "", refused("too many failed authentications from this certificate; try again later", nil)
	}
	ok := h.verify(password)
	<-p.sem
	switch {
	case u == nil:
		p.fail(peer, now)
		return "", refused("authentication failed", fmt.Errorf("unknown user %q", username))
	case !ok:
		p.fail(peer, now)
		return "", refused("authentication failed", fmt.Errorf("wrong password for user %q", username))
	case !slices.Contains(u.certs, peer):
		p.fail(peer, now)
		return "", refused("authentication failed", fmt.Errorf("user %q may not be presented by certificate identity %q", username, peer))
	}
	p.remember(key, now)
	return u.name, nil
}

func refused(msg string, cause error) error {
	return &kmip.Error{Reason: kmip.ResultReasonAuthenticationNotSuccessful, Message: msg, Err: cause}
}

// entryKey names a (peer, username, password) triple in the cache: an HMAC
// under a key of this process, so the cache holds nothing a password could
// be guessed from offline.
func (p *Passwords) entryKey(peer string, username, password []byte) [32]byte {
	m := hmac.New(sha256.New, p.cacheKey[:])
	for _, b := range [][]byte{[]byte(peer), username, password} {
		var n [4]byte
		n[0], n[1], n[2], n[3] = byte(len(b)>>24), byte(len(b)>>16), byte(len(b)>>8), byte(len(b))
		m.Write(n[:])
		m.Write(b)
	}
	var k [32]byte
	m.Sum(k[:0])
	return k
}

func (p *Passwords) cached(key [32]byte, now time.Time) bool {
	if p.o.CacheTTL == 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	exp, ok := p.cache[key]
	if ok && now.After(exp) {
		delete(p.cache, key)
		return false
	}
	return ok
}

func (p *Passwords) remember(key [32]byte, now time.Time) {
	if p.o.CacheTTL == 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.cache) >= maxCached {
		for k, exp := range p.cache {
			if now.After(exp) {
				delete(p.cache, k)
			}
		}
		if len(p.cache) >= maxCached {
			clear(p.cache)
		}
	}
	p.cache[key] = now.Add(p.o.CacheTTL)
}

// locked reports whether peer has used up its failures in the current
// window.
func (p *Passwords) locked(peer string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.fails[peer]
	if f == nil {
		return false
	}
	if now.Sub(f.since) >= p.o.FailureWindow {
		delete(p.fails, peer)
		return false
	}
	return f.n >= p.o.MaxFailures
}

func (p *Passwords) fail(peer string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.fails[peer]
	if f == nil || now.Sub(f.since) >= p.o.FailureWindow {
		if len(p.fails) >= maxCached {
			for k, g := range p.fails {
				if now.Sub(g.since) >= p.o.FailureWindow {
					delete(p.fails, k)
				}
			}
		}
		f = &failures{since: now}
		p.fails[peer] = f
	}
	f.n++
}
