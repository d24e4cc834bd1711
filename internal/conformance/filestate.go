package conformance

import (
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/kmipd/kmipd/ttlv"
)

// objInfo is what the runner knows of an object a placeholder names.
type objInfo struct {
	generated bool  // the server generated its key material
	def       *Node // the request batch item that created or registered it
}

// asymmetric reports whether the object's algorithm makes encryption with
// it randomised (RSA padding and the like).
func (o objInfo) asymmetric() bool {
	if o.def == nil {
		return false
	}
	alg := findEnum(o.def, ttlv.TagCryptographicAlgorithm)
	switch alg {
	case "RSA", "DSA", "ECDSA", "EC", "ECDH", "ECMQV", "DH":
		return true
	}
	return false
}

// randomSignature reports whether signatures with the object are
// randomised (DSA, ECDSA, RSA-PSS).
func (o objInfo) randomSignature() bool {
	if o.def == nil {
		return false
	}
	switch findEnum(o.def, ttlv.TagCryptographicAlgorithm) {
	case "DSA", "ECDSA", "EC":
		return true
	}
	return randomSignature(o.def)
}

// randomSignature reports whether a subtree asks for a randomised
// signature scheme.
func randomSignature(n *Node) bool {
	if n == nil {
		return false
	}
	if findEnum(n, ttlv.TagPaddingMethod) == "PSS" {
		return true
	}
	dsa := findEnum(n, ttlv.TagDigitalSignatureAlgorithm)
	return strings.Contains(dsa, "DSA") || strings.Contains(dsa, "PSS")
}

// findEnum returns the name of the first value for the tag in the subtree
// (a 2.x item or a 1.x Attribute named after it), or "".
func findEnum(n *Node, tag ttlv.Tag) string {
	out := ""
	n.walk(func(x *Node) {
		if out != "" || x.Type != ttlv.TypeEnumeration {
			return
		}
		if x.Tag == tag {
			out = enumName(tag, x.Value)
		}
	})
	if out != "" {
		return out
	}
	n.walk(func(x *Node) {
		if out == "" && attributeValueTag(x) == tag {
			if v := x.Child(ttlv.TagAttributeValue); v != nil && v.Type == ttlv.TypeEnumeration {
				out = enumName(tag, v.Value)
			}
		}
	})
	return out
}

func enumName(tag ttlv.Tag, s string) string {
	v, err := canonical(tag, ttlv.TypeEnumeration, s)
	if err != nil {
		return s
	}
	x, _ := strconv.ParseUint(v, 10, 32)
	if name, ok := ttlv.EnumName(tag, uint32(x)); ok {
		return name
	}
	return s
}

// fileState is what the runner learns while replaying one file.
type fileState struct {
	bindings  map[string]string // placeholder → value text, as the server returned it
	lastByTag map[ttlv.Tag]string
	objects   map[string]objInfo
	dates     map[string]map[ttlv.Tag][]int64 // object placeholder → date-times a request set
	nows      map[string]string               // $NOW±n → the value sent
	start     time.Time
	clock     func() time.Time
	known     *knownObjects
	file      string // the test-case file, for what its profile requires
}

func newFileState(clock func() time.Time, known *knownObjects) *fileState {
	if clock == nil {
		clock = time.Now
	}
	if known == nil {
		known = newKnownObjects()
	}
	return &fileState{
		known:     known,
		bindings:  make(map[string]string),
		lastByTag: make(map[ttlv.Tag]string),
		objects:   make(map[string]objInfo),
		dates:     make(map[string]map[ttlv.Tag][]int64),
		nows:      make(map[string]string),
		start:     clock(),
		clock:     clock,
	}
}

func (s *fileState) now() time.Time { return s.clock() }

func (s *fileState) save() map[string]string { return maps.Clone(s.bindings) }

func (s *fileState) restore(b map[string]string) { s.bindings = b }

func (s *fileState) bind(name, value string) { s.bindings[name] = value }

func (s *fileState) bound(name string) (string, bool) {
	v, ok := s.bindings[name]
	return v, ok
}

// fixedDates returns the date-times requests set for the tag of the object
// a placeholder names.
func (s *fileState) fixedDates(obj string, tag ttlv.Tag) []int64 {
	if d, ok := s.dates[obj]; ok {
		return d[tag]
	}
	return s.known.dates[s.bindings[obj]][tag]
}

// object returns what is known of the object a placeholder names.
func (s *fileState) object(name string) objInfo {
	if o, ok := s.objects[name]; ok {
		return o
	}
	return s.known.objects[s.bindings[name]]
}

// knownObjects is what the runner learned about objects, by their actual
// identifiers: it outlives a file's placeholders, for the file that
// continues it (see Continuation).
type knownObjects struct {
	objects map[string]objInfo
	dates   map[string]map[ttlv.Tag][]int64
}

func newKnownObjects() *knownObjects {
	return &knownObjects{objects: make(map[string]objInfo), dates: make(map[string]map[ttlv.Tag][]int64)}
}

// settle records, by actual identifier, what is known of the objects whose
// placeholders are bound.
func (s *fileState) settle() {
	for name, o := range s.objects {
		if v, ok := s.bindings[name]; ok {
			s.known.objects[v] = o
		}
	}
	for name, d := range s.dates {
		if v, ok := s.bindings[name]; ok {
			s.known.dates[v] = d
		}
	}
}

// itemObjects returns the object placeholders a response batch item (as
// expected) names in its payload: Unique Identifier, Private and Public Key
// Unique Identifier.
func (s *fileState) itemObjects(e, req *Node) []string {
	var out []string
	p := e.Child(ttlv.TagResponsePayload)
	for _, t := range []ttlv.Tag{ttlv.TagUniqueIdentifier, ttlv.TagPrivateKeyUniqueIdentifier, ttlv.TagPublicKeyUniqueIdentifier} {
		for _, n := range p.All(t) {
			if strings.HasPrefix(n.Value, "$") {
				out = append(out, n.Value)
			}
		}
	}
	if req != nil {
		if n := req.Path(ttlv.TagRequestPayload, ttlv.TagUniqueIdentifier); n != nil && strings.HasPrefix(n.Value, "$") {
			out = append(out, n.Value)
		}
	}
	return out
}
