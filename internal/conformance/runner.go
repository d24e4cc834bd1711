package conformance

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// Runner replays test-case files against a server.
type Runner struct {
	// Transport carries the messages of every file, unless Dial is set.
	Transport Transport
	// Dial, if set, opens the transport for one file (so that each file
	// runs over its own connection, and MSGENC files over HTTPS). A
	// transport that is an io.Closer is closed when the file is done.
	Dial func(file string) (Transport, error)
	// Reset sends Interop Reset (KMIP 2.0 §6.1.25) before each file so that
	// every file starts from an empty server.
	Reset bool
	// VersionOverride, if set, replaces the protocol version in every
	// request header and every expected response header.
	VersionOverride *kmip.Version
	// Logf, if set, receives a line per step.
	Logf func(format string, args ...any)
	// Now is the clock for $NOW; time.Now if nil.
	Now func() time.Time

	last  string        // the file Run ran last
	known *knownObjects // what that file learned about its objects
}

// continuations maps the name prefix of a test-case file that uses the
// objects of another file to that file's prefix.
var continuations = [][2]string{
	{"SASED-M-3-", "SASED-M-2-"},
	{"TL-M-3-", "TL-M-2-"},
	{"TC-CREG-2-", "TC-CREG-1-"},
	{"TC-CREG-3-", "TC-CREG-2-"},
}

// Continuation returns the file whose objects a test-case file uses, if
// any, so that the Interop Reset is skipped between them when they run one
// after the other: SASED-M-3 locates what SASED-M-2 registered and TL-M-3
// what TL-M-2 created (in 1.4 and 2.1 alike); the client registration test
// cases of KMIP 1.4 (TC-CREG) are one story in three files: TC-CREG-1
// registers a key pair and certificate for a client, TC-CREG-2 is that
// client locating and getting them, and TC-CREG-3 locates and destroys
// them. Neither TC-CREG-2 nor TC-CREG-3 creates an object.
func Continuation(file string) string {
	dir, base := filepath.Split(file)
	for _, c := range continuations {
		if rest, ok := strings.CutPrefix(base, c[0]); ok {
			return dir + c[1] + rest
		}
	}
	return ""
}

// FileResult is the outcome of one file.
type FileResult struct {
	File     string   `json:"file"`
	Passed   bool     `json:"passed"`
	Steps    int      `json:"steps"`             // request/response pairs in the file
	Version  string   `json:"version,omitempty"` // protocol version the requests used
	Failure  *Failure `json:"failure,omitempty"`
	Duration float64  `json:"duration_seconds"`
}

// Failure describes why a file failed.
type Failure struct {
	// Step is the index (from 0) of the request whose response differs,
	// as in the files' "step=N" correlation values; -1 for failures before
	// the first step (loading the file, connecting, the Interop Reset).
	Step int `json:"step"`
	// Operation is the operation of the batch item that differs.
	Operation string `json:"operation,omitempty"`
	// Result is the actual batch item's Result Status and, for a failure,
	// Result Reason, e.g. "OperationFailed/OperationNotSupported".
	Result string `json:"result,omitempty"`
	// Path locates the difference in the response, e.g.
	// ResponseMessage/BatchItem[0]/ResponsePayload/UniqueIdentifier.
	Path   string `json:"path,omitempty"`
	Reason string `json:"reason"`
	// Expected and Actual are the differing elements in the XML encoding.
	Expected string `json:"expected,omitempty"`
	Actual   string `json:"actual,omitempty"`
	// ExpectedTree and ActualTree are the structures holding the
	// difference.
	ExpectedTree string `json:"expected_tree,omitempty"`
	ActualTree   string `json:"actual_tree,omitempty"`
}

func (f *Failure) String() string {
	var b strings.Builder
	if f.Step >= 0 {
		fmt.Fprintf(&b, "step %d", f.Step)
		if f.Operation != "" {
			fmt.Fprintf(&b, " (%s)", f.Operation)
		}
		b.WriteString(": ")
	}
	if f.Path != "" {
		b.WriteString(f.Path + ": ")
	}
	b.WriteString(f.Reason)
	if short(f.Expected) && f.Actual == "(absent)" || f.Expected == "(absent)" && short(f.Actual) {
		fmt.Fprintf(&b, ": %s", max(f.Expected, f.Actual))
	}
	if f.Result != "" && !strings.HasPrefix(f.Result, "Success") {
		b.WriteString(" [server: " + f.Result + "]")
	}
	return b.String()
}

// short reports whether an element fits on a line.
func short(s string) bool {
	return s != "" && s != "(absent)" && !strings.Contains(s, "\n") && len(s) <= 120
}

func (r *Runner) logf(format string, args ...any) {
	if r.Logf != nil {
		r.Logf(format, args...)
	}
}

// CasesDir is where tests find the OASIS test cases: $KMIP_TESTCASES when
// set (CI sets it), else rel.
func CasesDir(rel string) string {
	if d := os.Getenv("KMIP_TESTCASES"); d != "" {
		return d
	}
	return rel
}

// Files expands the paths: a file is taken as it is, a directory is
// searched recursively for .xml files. The result is sorted within each
// directory.
func Files(paths ...string) ([]string, error) {
	var out []string
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.EqualFold(filepath.Ext(path), ".xml") {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("%s: no .xml test-case files", p)
		}
		slices.Sort(found)
		out = append(out, found...)
	}
	return out, nil
}

// RunAll runs every file the paths name (see Files) and returns one result
// per file, in order.
func (r *Runner) RunAll(paths ...string) ([]FileResult, error) {
	files, err := Files(paths...)
	if err != nil {
		return nil, err
	}
	out := make([]FileResult, 0, len(files))
	for _, f := range files {
		out = append(out, r.Run(f))
	}
	return out, nil
}

// Summary counts passed and failed results.
func Summary(results []FileResult) (passed, failed int) {
	for _, r := range results {
		if r.Passed {
			passed++
		} else {
			failed++
		}
	}
	return passed, failed
}

// Run replays one file. A file that continues the one Run ran just before
// (see Continuation) runs without the Interop Reset.
func (r *Runner) Run(file string) FileResult {
	prev := r.last
	r.last = file
	v, err := Load(file)
	if err != nil {
		return FileResult{File: file, Failure: &Failure{Step: -1, Reason: "cannot load the file: " + err.Error()}}
	}
	if prev == "" || Continuation(file) != prev {
		return r.run(v, r.Reset, nil)
	}
	return r.run(v, false, r.known)
}

// RunVector replays a loaded file: it resets the server (if Reset is set),
// then sends each request in order, comparing each response with the
// expected one, and stops at the first difference.
func (r *Runner) RunVector(v *Vector) FileResult {
	r.last = v.File
	return r.run(v, r.Reset, nil)
}

// run replays v, resetting the server first if doReset is set; known
// carries what the previous file learned about its objects, for a
// continuation.
func (r *Runner) run(v *Vector, doReset bool, known *knownObjects) (res FileResult) {
	start := time.Now()
	res = FileResult{File: v.File, Steps: len(v.Steps)}
	defer func() { res.Duration = time.Since(start).Seconds() }()
	fail := func(step int, reason string) FileResult {
		res.Failure = &Failure{Step: step, Reason: reason}
		return res
	}

	ver, ok := messageVersion(v.Steps[0].Request)
	if !ok {
		return fail(-1, "the first request has no Protocol Version")
	}
	if r.VersionOverride != nil {
		ver = *r.VersionOverride
	}
	res.Version = ver.String()

	tr := r.Transport
	if r.Dial != nil {
		t, err := r.Dial(v.File)
		if err != nil {
			return fail(-1, "connect: "+err.Error())
		}
		tr = t
		if c, ok := t.(io.Closer); ok {
			defer c.Close()
		}
	}
	if tr == nil {
		return fail(-1, "no transport")
	}
	if doReset {
		if err := reset(tr, ver); err != nil {
			return fail(-1, "Interop Reset: "+err.Error())
		}
	}

	st := newFileState(r.Now, known)
	st.file = v.File
	r.known = st.known
	for i, step := range pairByOperation(v.Steps) {
		exp := step.Response
		if r.VersionOverride != nil {
			exp = exp.Clone()
			setVersion(exp.Child(ttlv.TagResponseHeader), ver)
		} else if rv, ok := headerVersion(step.Request.Child(ttlv.TagRequestHeader)); ok {
			// A response answers in its request's version (KMIP 2.0 §9.16);
			// an expected response that says otherwise is an erratum of the
			// file (OMOS-O-1-14 step 1 expects 1.3 to a 1.4 request).
			if ev, ok := headerVersion(exp.Child(ttlv.TagResponseHeader)); ok && ev != rv {
				r.logf("%s: step %d: the file expects version %s in answer to a %s request; expecting %s", v.File, i, ev, rv, rv)
				exp = exp.Clone()
				setVersion(exp.Child(ttlv.TagResponseHeader), rv)
			}
		}
		req, err := st.prepare(step.Request, exp, r.VersionOverride)
		if err != nil {
			return fail(i, err.Error())
		}
		msg, err := req.TTLV()
		if err != nil {
			return fail(i, "cannot encode the request: "+err.Error())
		}
		out, err := tr.RoundTrip(msg)
		if err != nil {
			return fail(i, "transport: "+err.Error())
		}
		act, err := NodeFromTTLV(out)
		if err != nil {
			return fail(i, "cannot decode the response: "+err.Error())
		}
		c := comparer{s: st, ver: ver}
		if m := c.response(exp, act, step.Request); m != nil {
			res.Failure = failureOf(i, m, exp, act)
			r.logf("%s: step %d: FAIL %s", v.File, i, res.Failure)
			return res
		}
		st.capture(act)
		st.settle()
		r.logf("%s: step %d: ok", v.File, i)
	}
	res.Passed = true
	return res
}

// pairByOperation returns the steps of a file with each response paired
// with the request of its operations. Parse pairs the k-th request with the
// k-th response; where a file lists several requests before their
// responses and the two runs disagree on the order (TC-DERIVEKEY-4-10
// lists the requests Destroy, Revoke and then the responses Revoke,
// Destroy), a server answers each request in turn, so the order of the
// responses is the order the requests were answered in: the request whose
// operations a response names is moved to that response. The request
// after the run of responses is never moved before it. Files whose
// requests and responses agree are returned as they are.
func pairByOperation(steps []Step) []Step {
	out := steps
	for i := range out {
		want := opsOf(out[i].Response)
		if slices.Equal(opsOf(out[i].Request), want) {
			continue
		}
		for j := i + 1; j < len(out) && out[j].Request.Line < out[i].Response.Line; j++ {
			if slices.Equal(opsOf(out[j].Request), want) {
				if &out[0] == &steps[0] {
					out = slices.Clone(steps)
				}
				out[i].Request, out[j].Request = out[j].Request, out[i].Request
				break
			}
		}
	}
	return out
}

// opsOf returns the operations of a message's batch items, sorted (a
// server may answer a batch in another order).
func opsOf(msg *Node) []kmip.Operation {
	var ops []kmip.Operation
	for _, it := range msg.All(ttlv.TagBatchItem) {
		ops = append(ops, itemOperation(it))
	}
	slices.Sort(ops)
	return ops
}

// failureOf builds a Failure from a mismatch in step i.
func failureOf(i int, m *Mismatch, exp, act *Node) *Failure {
	f := &Failure{Step: i, Path: m.Path, Reason: m.Reason, Expected: m.Expected, Actual: m.Actual}
	if m.ExpectedTree != nil {
		f.ExpectedTree = m.ExpectedTree.String()
	}
	if m.ActualTree != nil {
		f.ActualTree = m.ActualTree.String()
	}
	// The batch item the path points into, on both sides; for a
	// difference in the header, the first item that did not succeed.
	k := 0
	if rest, ok := strings.CutPrefix(m.Path, "ResponseMessage/BatchItem["); ok {
		fmt.Sscanf(rest, "%d]", &k)
	} else {
		for i, it := range act.All(ttlv.TagBatchItem) {
			if s := it.Child(ttlv.TagResultStatus); s != nil && s.Value != "Success" {
				k = i
				break
			}
		}
	}
	if items := exp.All(ttlv.TagBatchItem); k < len(items) {
		if op := items[k].Child(ttlv.TagOperation); op != nil {
			f.Operation = op.Value
		}
	}
	if items := act.All(ttlv.TagBatchItem); k < len(items) {
		it := items[k]
		if s := it.Child(ttlv.TagResultStatus); s != nil {
			f.Result = s.Value
			if r := it.Child(ttlv.TagResultReason); r != nil {
				f.Result += "/" + r.Value
			}
		}
		if f.Operation == "" {
			if op := it.Child(ttlv.TagOperation); op != nil {
				f.Operation = op.Value
			}
		}
	}
	return f
}

// messageVersion reads a message's header Protocol Version.
func messageVersion(msg *Node) (kmip.Version, bool) {
	h := msg.Child(ttlv.TagRequestHeader)
	if h == nil {
		h = msg.Child(ttlv.TagResponseHeader)
	}
	pv := h.Child(ttlv.TagProtocolVersion)
	maj, min := pv.Child(ttlv.TagProtocolVersionMajor), pv.Child(ttlv.TagProtocolVersionMinor)
	if maj == nil || min == nil {
		return kmip.Version{}, false
	}
	var v kmip.Version
	if _, err := fmt.Sscan(maj.Value, &v.Major); err != nil {
		return v, false
	}
	if _, err := fmt.Sscan(min.Value, &v.Minor); err != nil {
		return v, false
	}
	return v, true
}

// setVersion rewrites the Protocol Version of a request or response
// header.
// headerVersion reads the Protocol Version of a request or response header.
func headerVersion(h *Node) (kmip.Version, bool) {
	pv := h.Child(ttlv.TagProtocolVersion)
	maj, mi := pv.Child(ttlv.TagProtocolVersionMajor), pv.Child(ttlv.TagProtocolVersionMinor)
	if maj == nil || mi == nil {
		return kmip.Version{}, false
	}
	var v kmip.Version
	if _, err := fmt.Sscan(maj.Value, &v.Major); err != nil {
		return v, false
	}
	if _, err := fmt.Sscan(mi.Value, &v.Minor); err != nil {
		return v, false
	}
	return v, true
}

func setVersion(h *Node, v kmip.Version) {
	pv := h.Child(ttlv.TagProtocolVersion)
	if n := pv.Child(ttlv.TagProtocolVersionMajor); n != nil {
		n.Value = fmt.Sprint(v.Major)
	}
	if n := pv.Child(ttlv.TagProtocolVersionMinor); n != nil {
		n.Value = fmt.Sprint(v.Minor)
	}
}

// reset sends Interop Reset. KMIP 1.x has no Interop operation, so for a
// 1.x file the Reset goes in a 2.0 request on the same connection (kmipd
// answers each message in its own version).
func reset(tr Transport, ver kmip.Version) error {
	msg, err := ResetMessage(ver)
	if err != nil {
		return err
	}
	out, err := tr.RoundTrip(msg)
	if err != nil {
		return err
	}
	var resp kmip.Response
	if err := resp.Parse(append([]byte(nil), out...), kmip.Limits{}); err != nil {
		return err
	}
	if len(resp.Items) != 1 {
		return errors.New("no batch item in the response")
	}
	if err := resp.Items[0].Err(); err != nil {
		return fmt.Errorf("%w (is the server running with Interop enabled, and is the client an admin? --no-reset skips the reset)", err)
	}
	return nil
}

// ResetMessage returns the Interop Reset request the runner sends before
// a file of version ver.
func ResetMessage(ver kmip.Version) ([]byte, error) {
	if !ver.V2() {
		ver = kmip.V2_0
	}
	var w kmip.RequestWriter
	w.Begin(nil, ver, 1, nil)
	w.Item(kmip.OperationInterop, nil, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagInteropFunction, uint32(kmip.InteropFunctionReset))
	})
	return w.Finish()
}

// prepare returns the request to send for a step: placeholders substituted
// and the version overridden. exp is the expected response (after any
// override); it tells which objects the request creates, so that what the
// request fixes about them (date-times) and how they were made (generated
// or registered) is known when their later responses are compared.
func (s *fileState) prepare(req, exp *Node, override *kmip.Version) (*Node, error) {
	out, err := s.substitute(req)
	if err != nil {
		return nil, err
	}
	if override != nil {
		setVersion(out.Child(ttlv.TagRequestHeader), *override)
	}
	rItems, sItems, eItems := req.All(ttlv.TagBatchItem), out.All(ttlv.TagBatchItem), exp.All(ttlv.TagBatchItem)
	var prev []string
	for i, ri := range rItems {
		var e *Node
		if id := ri.Child(ttlv.TagUniqueBatchItemID); id != nil {
			for _, x := range eItems {
				if xid := x.Child(ttlv.TagUniqueBatchItemID); xid != nil && sameBytes(xid.Value, id.Value) {
					e = x
				}
			}
		} else if i < len(eItems) {
			e = eItems[i]
		}
		created := responseObjects(e)
		op := itemOperation(ri)
		if generatingOps[op] || objectOps[op] {
			gen := generatingOps[op]
			if op == kmip.OperationDeriveKey || op == kmip.OperationJoinSplitKey {
				// Derived material is as variable as what it is derived
				// from (TC-DERIVEKEY-6: ECDH between generated key pairs).
				gen = false
				for _, n := range ri.Child(ttlv.TagRequestPayload).All(ttlv.TagUniqueIdentifier) {
					if strings.HasPrefix(n.Value, "$") && s.object(n.Value).generated {
						gen = true
					}
				}
			}
			for _, name := range created {
				s.objects[name] = objInfo{generated: gen, def: ri}
			}
		}
		objs := s.itemObjects(e, ri)
		if len(objs) == 0 {
			objs = prev // the ID Placeholder: the batch's previous object
		}
		prev = objs
		// A request the file expects to fail fixes nothing (TC-IMPEXP-3-20:
		// an Import refused with Object Already Exists carries a date).
		if st := e.Child(ttlv.TagResultStatus); st != nil && st.Value != "Success" {
			continue
		}
		s.recordDates(sItems[i].Child(ttlv.TagRequestPayload), objs)
	}
	return out, nil
}

// responseObjects returns the placeholders a response item's payload binds
// for new objects.
func responseObjects(e *Node) []string {
	var out []string
	p := e.Child(ttlv.TagResponsePayload)
	for _, t := range []ttlv.Tag{ttlv.TagUniqueIdentifier, ttlv.TagPrivateKeyUniqueIdentifier, ttlv.TagPublicKeyUniqueIdentifier} {
		for _, n := range p.All(t) {
			if strings.HasPrefix(n.Value, "$") {
				out = append(out, n.Value)
			}
		}
	}
	return out
}

func itemOperation(item *Node) kmip.Operation {
	op := item.Child(ttlv.TagOperation)
	if op == nil {
		return 0
	}
	v, ok := ttlv.EnumValue(ttlv.TagOperation, op.Value)
	if !ok {
		return 0
	}
	return kmip.Operation(v)
}

// recordDates notes the variable date-time attributes a request payload
// sets, as fixed for the objects it concerns.
func (s *fileState) recordDates(payload *Node, objs []string) {
	if payload == nil || len(objs) == 0 {
		return
	}
	var visit func(n, parent *Node)
	visit = func(n, parent *Node) {
		if n.Type == ttlv.TypeDateTime {
			tag := n.Tag
			if tag == ttlv.TagAttributeValue {
				tag = attributeValueTag(parent)
			}
			if variableDateTags[tag] {
				if sec, ok := parseDateTime(n.Value); ok {
					for _, o := range objs {
						if s.dates[o] == nil {
							s.dates[o] = make(map[ttlv.Tag][]int64)
						}
						s.dates[o][tag] = append(s.dates[o][tag], sec)
					}
				}
			}
		}
		for _, k := range n.Children {
			visit(k, n)
		}
	}
	visit(payload, nil)
}

// substitute returns a copy of a request with its placeholders replaced.
func (s *fileState) substitute(n *Node) (*Node, error) {
	c := *n
	c.Children = nil
	if n.Type != ttlv.TypeStructure {
		if strings.HasPrefix(n.Value, "$") {
			v, err := s.resolve(n)
			if err != nil {
				return nil, fmt.Errorf("line %d: <%s>: %w", n.Line, n.Name, err)
			}
			c.Value = v
		}
		if n.Type == ttlv.TypeEnumeration {
			if x, ok := extraEnumValue(n.Tag, c.Value); ok {
				c.Value = fmt.Sprintf("0x%08x", x)
			}
		}
		return &c, nil
	}
	for _, k := range n.Children {
		sk, err := s.substitute(k)
		if err != nil {
			return nil, err
		}
		c.Children = append(c.Children, sk)
	}
	return &c, nil
}

// resolve gives the value to send for a placeholder in a request.
func (s *fileState) resolve(n *Node) (string, error) {
	name := n.Value
	if off, ok := nowOffset(name); ok {
		if v, ok := s.nows[name]; ok {
			return v, nil
		}
		v := s.start.Add(time.Duration(off) * time.Second).UTC().Format(time.RFC3339)
		s.nows[name] = v
		return v, nil
	}
	if v, ok := s.bindings[name]; ok {
		return v, nil
	}
	if strings.Contains(name, "RANDOM") {
		var b [16]byte
		rand.Read(b[:])
		v := fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
		if n.Type == ttlv.TypeByteString {
			var sb [32]byte
			rand.Read(sb[:])
			v = hex.EncodeToString(sb[:])
		}
		s.bindings[name] = v
		return v, nil
	}
	if capturedPlaceholder(name) {
		if v, ok := s.lastByTag[n.Tag]; ok {
			return v, nil
		}
	}
	return "", fmt.Errorf("placeholder %s is used before any response bound it", name)
}

// capture remembers the server's latest output for the tags whose
// placeholders a later request may name without an earlier response
// binding them (the expected response showed a literal value).
func (s *fileState) capture(act *Node) {
	act.walk(func(n *Node) {
		if n.Type != ttlv.TypeStructure && capturedTags[n.Tag] {
			s.lastByTag[n.Tag] = n.Value
		}
	})
}
