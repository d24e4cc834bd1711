package lifecycle_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/internal/access"
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/kmip/kmiptest"
	"github.com/kmipd/kmipd/lifecycle"
	"github.com/kmipd/kmipd/lifecycle/lifecycletest"
	"github.com/kmipd/kmipd/ttlv"
)

// The access matrix's identities: every one but eve is in tenant acme.
const (
	mxOwner   = "alice" // user, owns the object of each cell
	mxUser    = "bob"   // user: no grant, or a grant of exactly the operation
	mxCrypto  = "carol" // crypto, granted the operation
	mxAuditor = "dave"  // auditor
	mxTAdmin  = "tina"  // admin of acme
	mxOther   = "eve"   // user in tenant globex
	mxGAdmin  = "admin" // global admin (also has server)
)

// mxPolicy is the access section of the matrix.
func mxPolicy(t testing.TB) *access.Policy {
	t.Helper()
	b := func(tenant string, roles ...string) access.Binding {
		return access.Binding{Tenant: tenant, Roles: roles}
	}
	p, err := access.New(access.Config{
		GlobalAdmins: []string{mxGAdmin},
		Identities: map[string]access.Binding{
			mxOwner: b("acme", "user"), mxUser: b("acme", "user"), mxCrypto: b("acme", "crypto"),
			mxAuditor: b("acme", "auditor"), mxTAdmin: b("acme", "admin"), mxOther: b("globex", "user"),
			mxGAdmin: b("", "server"),
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// mxColumns are the matrix's columns, in the order of the rows' letters.
var mxColumns = []struct {
	name     string
	identity string
	grant    bool // holds a grant of exactly the row's operation (when grantable)
}{
	{"owner", mxOwner, false},
	{"user", mxUser, false},
	{"user+grant", mxUser, true},
	{"crypto+grant", mxCrypto, true},
	{"auditor", mxAuditor, false},
	{"tenant-admin", mxTAdmin, false},
	{"other-tenant", mxOther, false},
	{"global-admin", mxGAdmin, false},
}

// accessMatrix is the expected outcome of every operation for every column:
//
//	A  allowed: the request passes the decision point (it may still fail
//	   for another reason, e.g. a Sign with an AES key; Locate lists the
//	   object)
//	D  Permission Denied
//	H  hidden: Object Not Found, as for a missing object (Locate does not
//	   list it)
//
// Each cell acts on a fresh active AES-256 key of the owner (Import: a
// replacement of it). Interop is left out (the matrix server does not
// enable it; global admins only, TestAccess_Interop).
var accessMatrix = []struct {
	op   kmip.Operation
	want string // owner user user+grant crypto+grant auditor tenant-admin other-tenant global-admin
}{
	{kmip.OperationCreate /*            */, "AAADDAAA"},
	{kmip.OperationCreateKeyPair /*     */, "AAADDAAA"},
	{kmip.OperationRegister /*          */, "AAADDAAA"},
	{kmip.OperationLocate /*            */, "AHADAAHA"},
	{kmip.OperationGet /*               */, "AHADDAHA"},
	{kmip.OperationGetAttributes /*     */, "AHADAAHA"},
	{kmip.OperationGetAttributeList /*  */, "AHADAAHA"},
	{kmip.OperationActivate /*          */, "AHADDAHA"},
	{kmip.OperationRevoke /*            */, "AHADDAHA"},
	{kmip.OperationDestroy /*           */, "AHADDAHA"},
	{kmip.OperationQuery /*             */, "AAAAAAAA"},
	{kmip.OperationDiscoverVersions /*  */, "AAAAAAAA"},
	{kmip.OperationAddAttribute /*      */, "AHADDAHA"},
	{kmip.OperationModifyAttribute /*   */, "AHADDAHA"},
	{kmip.OperationDeleteAttribute /*   */, "AHADDAHA"},
	{kmip.OperationSetAttribute /*      */, "AHADDAHA"},
	{kmip.OperationAdjustAttribute /*   */, "AHADDAHA"},
	{kmip.OperationCheck /*             */, "AHADDAHA"},
	{kmip.OperationReKey /*             */, "AHADDAHA"},
	{kmip.OperationReKeyKeyPair /*      */, "AHADDAHA"},
	{kmip.OperationEncrypt /*           */, "AHAADAHA"},
	{kmip.OperationDecrypt /*           */, "AHAADAHA"},
	{kmip.OperationSign /*              */, "AHAADAHA"},
	{kmip.OperationSignatureVerify /*   */, "AHAADAHA"},
	{kmip.OperationMAC /*               */, "AHAADAHA"},
	{kmip.OperationMACVerify /*         */, "AHAADAHA"},
	{kmip.OperationHash /*              */, "AAADDAAA"},
	{kmip.OperationRNGRetrieve /*       */, "AAADDAAA"},
	{kmip.OperationRNGSeed /*           */, "DDDDDDDA"},
	{kmip.OperationDeriveKey /*         */, "AHAADAHA"},
	{kmip.OperationCreateSplitKey /*    */, "AHADDAHA"},
	{kmip.OperationJoinSplitKey /*      */, "AHADDAHA"},
	{kmip.OperationExport /*            */, "AHADDAHA"},
	{kmip.OperationImport /*            */, "ADDDDADA"},
	{kmip.OperationArchive /*           */, "AHADDAHA"},
	{kmip.OperationRecover /*           */, "AHADDAHA"},
	{kmip.OperationObtainLease /*       */, "AHADDAHA"},
	{kmip.OperationGetUsageAllocation /**/, "AHADDAHA"},
	{kmip.OperationLog /*               */, "DDDDDDDA"},
	{kmip.OperationSetEndpointRole /*   */, "DDDDDDDA"},
	{lifecycle.OperationWhoAmI /*       */, "AAAAAAAA"},
	{lifecycle.OperationGrant /*        */, "AHHDDAHA"},
	{lifecycle.OperationRevokeGrant /*  */, "AHHDDAHA"},
	{lifecycle.OperationListGrants /*   */, "AHADAAHA"},
	{kmip.OperationValidate /*          */, "AHHDDAHA"},
	{kmip.OperationLogin /*             */, "AAAAAAAA"},
	{kmip.OperationLogout /*            */, "AAAAAAAA"},
	{kmip.OperationDelegatedLogin /*    */, "AAAAAAAA"},
	{kmip.OperationPoll /*              */, "AAAAAAAA"},
	{kmip.OperationCancel /*            */, "AAAAAAAA"},
	{kmip.OperationReProvision /*       */, "AAADDAAA"},
	{kmip.OperationPKCS_11 /*           */, "DDDDDDDA"},
}

// mxSucceeds are the rows whose allowed cells must succeed outright with
// mxPayload (the others may fail past the decision point, e.g. a Sign with
// an AES key).
var mxSucceeds = map[kmip.Operation]bool{
	kmip.OperationCreate: true, kmip.OperationRegister: true, kmip.OperationCreateKeyPair: true,
	kmip.OperationGet: true, kmip.OperationGetAttributes: true, kmip.OperationGetAttributeList: true,
	kmip.OperationRevoke: true, kmip.OperationAddAttribute: true, kmip.OperationSetAttribute: true,
	kmip.OperationEncrypt: true, kmip.OperationHash: true, kmip.OperationRNGRetrieve: true,
	kmip.OperationRNGSeed: true, kmip.OperationExport: true, kmip.OperationQuery: true,
	kmip.OperationDiscoverVersions: true, lifecycle.OperationWhoAmI: true, kmip.OperationReKey: true,
	lifecycle.OperationGrant: true, lifecycle.OperationRevokeGrant: true, lifecycle.OperationListGrants: true,
	kmip.OperationCheck: true, kmip.OperationArchive: true,
}

// mxPayload is a request for op on the object id that decodes, so that what
// answers is the decision point (or, once past it, the operation).
func mxPayload(op kmip.Operation, id string) func(b *ttlv.Builder) {
	uid := func(b *ttlv.Builder) { b.AddText(ttlv.TagUniqueIdentifier, id) }
	data := func(b *ttlv.Builder) { b.AddBytes(ttlv.TagData, make([]byte, 32)) }
	params := func(b *ttlv.Builder) {
		b.Begin(ttlv.TagCryptographicParameters)
		b.AddEnum(ttlv.TagBlockCipherMode, uint32(kmip.BlockCipherModeCBC))
		b.AddEnum(ttlv.TagPaddingMethod, uint32(kmip.PaddingMethodPKCS5))
		b.End()
	}
	name := func(b *ttlv.Builder, v string) {
		b.Begin(ttlv.TagName)
		b.AddText(ttlv.TagNameValue, v)
		b.AddEnum(ttlv.TagNameType, uint32(kmip.NameTypeUninterpretedTextString))
		b.End()
	}
	switch op {
	case kmip.OperationCreate:
		return func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
			symAttrs(kmip.V2_0, kmip.CryptographicAlgorithmAES, 128, "", nil)(b)
		}
	case kmip.OperationCreateKeyPair:
		return kpPayload(kmip.V2_0, []kpAttr{kpEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmEC)),
			kpCurve(kmip.RecommendedCurveP_256)}, nil, nil)
	case kmip.OperationRegister:
		return func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
			b.Begin(ttlv.TagAttributes)
			b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES))
			b.AddInt32(ttlv.TagCryptographicLength, 128)
			b.End()
			kmip.WriteSymmetricKey(b, &kmip.KeyBlock{FormatType: kmip.KeyFormatTypeRaw, Material: make([]byte, 16),
				CryptographicAlgorithm: kmip.CryptographicAlgorithmAES, CryptographicLength: 128})
		}
	case kmip.OperationLocate:
		return func(b *ttlv.Builder) {
			b.Begin(ttlv.TagAttributes)
			name(b, "mx-"+id)
			b.End()
		}
	case kmip.OperationQuery:
		return func(b *ttlv.Builder) { b.AddEnum(ttlv.TagQueryFunction, uint32(kmip.QueryFunctionQueryOperations)) }
	case kmip.OperationDiscoverVersions, lifecycle.OperationWhoAmI:
		return func(*ttlv.Builder) {}
	case kmip.OperationRevoke:
		return func(b *ttlv.Builder) {
			uid(b)
			b.Begin(ttlv.TagRevocationReason)
			b.AddEnum(ttlv.TagRevocationReasonCode, uint32(kmip.RevocationReasonCodeUnspecified))
			b.End()
		}
	case kmip.OperationAddAttribute:
		return aoPayload(uid, aoNew(aoText(ttlv.TagContactInformation, "ops")))
	case kmip.OperationSetAttribute:
		return aoPayload(uid, aoNew(aoText(ttlv.TagContactInformation, "ops")))
	case kmip.OperationModifyAttribute:
		return aoPayload(uid, aoCur(aoName("mx-"+id)), aoNew(aoName("mx2-"+id)))
	case kmip.OperationDeleteAttribute:
		return aoPayload(uid, aoCur(aoName("mx-"+id)))
	case kmip.OperationAdjustAttribute:
		return func(b *ttlv.Builder) {
			uid(b)
			b.AddEnum(ttlv.TagAttributeReference, uint32(ttlv.TagContactInformation))
			b.AddEnum(ttlv.TagAdjustmentType, uint32(kmip.AdjustmentTypeIncrement))
		}
	case kmip.OperationEncrypt, kmip.OperationDecrypt, kmip.OperationSign, kmip.OperationMAC:
		return func(b *ttlv.Builder) { uid(b); params(b); data(b) }
	case kmip.OperationSignatureVerify:
		return func(b *ttlv.Builder) { uid(b); data(b); b.AddBytes(ttlv.TagSignatureData, make([]byte, 64)) }
	case kmip.OperationMACVerify:
		return func(b *ttlv.Builder) { uid(b); data(b); b.AddBytes(ttlv.TagMACData, make([]byte, 32)) }
	case kmip.OperationHash:
		return func(b *ttlv.Builder) {
			b.Begin(ttlv.TagCryptographicParameters)
			b.AddEnum(ttlv.TagHashingAlgorithm, uint32(kmip.HashingAlgorithmSHA_256))
			b.End()
			data(b)
		}
	case kmip.OperationRNGRetrieve:
		return func(b *ttlv.Builder) { b.AddInt32(ttlv.TagDataLength, 16) }
	case kmip.OperationRNGSeed:
		return data
	case kmip.OperationDeriveKey:
		return func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
			uid(b)
			b.AddEnum(ttlv.TagDerivationMethod, uint32(kmip.DerivationMethodHMAC))
			b.Begin(ttlv.TagDerivationParameters)
			b.Begin(ttlv.TagCryptographicParameters)
			b.AddEnum(ttlv.TagHashingAlgorithm, uint32(kmip.HashingAlgorithmSHA_256))
			b.End()
			b.AddBytes(ttlv.TagDerivationData, []byte("info"))
			b.End()
			b.Begin(ttlv.TagAttributes)
			b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES))
			b.AddInt32(ttlv.TagCryptographicLength, 128)
			b.End()
		}
	case kmip.OperationReKeyKeyPair:
		return func(b *ttlv.Builder) { b.AddText(ttlv.TagPrivateKeyUniqueIdentifier, id) }
	case kmip.OperationCreateSplitKey:
		return func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSplitKey))
			uid(b)
			b.AddInt32(ttlv.TagSplitKeyParts, 3)
			b.AddInt32(ttlv.TagSplitKeyThreshold, 3)
			b.AddEnum(ttlv.TagSplitKeyMethod, uint32(kmip.SplitKeyMethodXOR))
		}
	case kmip.OperationJoinSplitKey:
		return func(b *ttlv.Builder) {
			b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
			uid(b)
			uid(b)
		}
	case kmip.OperationImport:
		return func(b *ttlv.Builder) {
			uid(b)
			b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
			b.AddBool(ttlv.TagReplaceExisting, true)
			b.Begin(ttlv.TagAttributes)
			b.AddEnum(ttlv.TagCryptographicAlgorithm, uint32(kmip.CryptographicAlgorithmAES))
			b.AddInt32(ttlv.TagCryptographicLength, 128)
			b.End()
			kmip.WriteSymmetricKey(b, &kmip.KeyBlock{FormatType: kmip.KeyFormatTypeRaw, Material: make([]byte, 16),
				CryptographicAlgorithm: kmip.CryptographicAlgorithmAES, CryptographicLength: 128})
		}
	case kmip.OperationGetUsageAllocation:
		return func(b *ttlv.Builder) { uid(b); b.AddLong(ttlv.TagUsageLimitsCount, 1) }
	case kmip.OperationLog:
		return func(b *ttlv.Builder) { b.AddText(ttlv.TagLogMessage, "matrix") }
	case kmip.OperationSetEndpointRole:
		return func(b *ttlv.Builder) { b.AddEnum(ttlv.TagEndpointRole, uint32(kmip.EndpointRoleServer)) }
	case lifecycle.OperationGrant, lifecycle.OperationRevokeGrant:
		return func(b *ttlv.Builder) {
			uid(b)
			b.AddText(lifecycle.TagGrantee, mxAuditor)
			b.AddEnum(ttlv.TagOperation, uint32(kmip.OperationGetAttributes))
		}
	}
	return uid // Get, Get Attributes, Activate, Destroy, Check, Re-key, Export, ...
}

// mxEnv is the matrix's server: the real service with mxPolicy behind a
// real mutual-TLS listener, and a connection per identity.
type mxEnv struct {
	srv *kmiptest.Server
	le  *lifecycletest.Env
	c   map[string]*kmip.Client
}

func newMxEnv(t *testing.T) *mxEnv { return newMxEnvWith(t, lifecycle.NamesPerObject) }

// newMxEnvNames is newMxEnv with names unique per tenant.
func newMxEnvNames(t *testing.T) *mxEnv { return newMxEnvWith(t, lifecycle.NamesPerTenant) }

func newMxEnvWith(t *testing.T, names lifecycle.NamePolicy) *mxEnv {
	t.Helper()
	le := lifecycletest.New(t, &lifecycletest.Options{NoSync: true, Configure: func(c *lifecycle.Config) {
		c.Interop = false
		c.Access = mxPolicy(t)
		c.Names = names
	}})
	ids := []string{mxOwner, mxUser, mxCrypto, mxAuditor, mxTAdmin, mxOther, mxGAdmin}
	srv := kmiptest.Start(t, kmiptest.MustPKI(t, ids...), le.Service)
	e := &mxEnv{srv: srv, le: le, c: map[string]*kmip.Client{}}
	for _, n := range ids {
		e.c[n] = srv.Dial(t, n, kmip.V2_0)
	}
	return e
}

// mxKey creates and activates an AES-256 key of alice named "mx-"+ID (the
// name Locate looks for), with a usage limit (Get Usage Allocation).
func (e *mxEnv) mxKey(t *testing.T) string {
	t.Helper()
	c := e.c[mxOwner]
	it, err := do(t, c, kmip.OperationCreate, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		symAttrs(kmip.V2_0, kmip.CryptographicAlgorithmAES, 256, "", func(b *ttlv.Builder) {
			b.Begin(ttlv.TagUsageLimits)
			b.AddLong(ttlv.TagUsageLimitsTotal, 1000)
			b.AddEnum(ttlv.TagUsageLimitsUnit, uint32(kmip.UsageLimitsUnitObject))
			b.End()
		})(b)
	})
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	var id []byte
	p := it.Payload
	p.Skip()
	p.ReadText(ttlv.TagUniqueIdentifier, &id)
	must(t, c, kmip.OperationAddAttribute, fText(ttlv.TagUniqueIdentifier, string(id)), fld(aoNew(aoName("mx-"+string(id)))))
	must(t, c, kmip.OperationActivate, fText(ttlv.TagUniqueIdentifier, string(id)))
	return string(id)
}

func (e *mxEnv) grant(t *testing.T, id, to string, ops ...kmip.Operation) {
	t.Helper()
	must(t, e.c[mxOwner], lifecycle.OperationGrant, func(b *ttlv.Builder) {
		b.AddText(ttlv.TagUniqueIdentifier, id)
		b.AddText(lifecycle.TagGrantee, to)
		for _, op := range ops {
			b.AddEnum(ttlv.TagOperation, uint32(op))
		}
	})
}

// outcome runs op as identity on id and classifies the answer.
func (e *mxEnv) outcome(t *testing.T, identity string, op kmip.Operation, id string) (byte, error) {
	t.Helper()
	it, err := do(t, e.c[identity], op, mxPayload(op, id))
	if op == kmip.OperationLocate && err == nil {
		var found []byte
		p := it.Payload
		for !p.Empty() {
			x, _ := p.Next()
			if x.Tag == ttlv.TagUniqueIdentifier && string(x.Data) == id {
				found = x.Data
			}
		}
		if found == nil {
			return 'H', nil
		}
		return 'A', nil
	}
	switch r, _ := kmip.ResultOf(err); {
	case err == nil:
		return 'A', nil
	case r == kmip.ResultReasonPermissionDenied:
		return 'D', err
	case r == kmip.ResultReasonObjectNotFound:
		return 'H', err
	}
	return 'A', err
}

// Ensure that every operation × {owner, same-tenant user without grant,
// same-tenant user with a grant of the operation, crypto role with the
// grant, auditor, tenant admin, other tenant, global admin}, through a real
// listener, has the outcome the table writes out.
func TestAccess_Matrix(t *testing.T) {
	e := newMxEnv(t)
	var covered []kmip.Operation
	cells := 0
	for _, row := range accessMatrix {
		covered = append(covered, row.op)
		if len(row.want) != len(mxColumns) {
			t.Fatalf("%s: %d letters for %d columns", row.op, len(row.want), len(mxColumns))
		}
		for i, col := range mxColumns {
			id := e.mxKey(t)
			if col.grant && access.Grantable.Has(row.op) {
				e.grant(t, id, col.identity, row.op)
			}
			got, err := e.outcome(t, col.identity, row.op, id)
			cells++
			if got != row.want[i] {
				t.Errorf("%s as %s (%s): got %c, want %c (%v)", row.op, col.name, col.identity, got, row.want[i], err)
			} else if got == 'A' && err != nil && mxSucceeds[row.op] {
				t.Errorf("%s as %s (%s): allowed but failed: %v", row.op, col.name, col.identity, err)
			}
		}
	}
	for _, op := range lifecycle.Registered(e.le.Service) {
		if !slices.Contains(covered, op) {
			t.Errorf("%s is served but has no row in the access matrix", op)
		}
	}
	t.Logf("access matrix: %d operations × %d columns = %d cells", len(accessMatrix), len(mxColumns), cells)
}

// Ensure that a denial's message says nothing another tenant could not
// already know: the Object Not Found of another tenant's object reads as
// that of a missing one.
func TestAccess_HiddenLooksMissing(t *testing.T) {
	e := newMxEnv(t)
	id := e.mxKey(t)
	for _, op := range []kmip.Operation{kmip.OperationGet, kmip.OperationGetAttributes, kmip.OperationEncrypt, kmip.OperationDestroy} {
		_, errHidden := do(t, e.c[mxOther], op, mxPayload(op, id))
		missing := "ffffffff-ffff-4fff-bfff-ffffffffffff"
		_, errMissing := do(t, e.c[mxOther], op, mxPayload(op, missing))
		if errHidden == nil || errMissing == nil {
			t.Fatalf("%s: %v / %v", op, errHidden, errMissing)
		}
		if h, m := strings.ReplaceAll(errHidden.Error(), id, "ID"), strings.ReplaceAll(errMissing.Error(), missing, "ID"); h != m {
			t.Errorf("%s: another tenant's object answers %q, a missing one %q", op, h, m)
		}
	}
}

func fText(tag ttlv.Tag, s string) fld { return func(b *ttlv.Builder) { b.AddText(tag, s) } }

// Ensure that a grantee of Create Split Key cannot come away with the key:
// the parts belong to the key's owner, so the grantee can neither read nor
// join them, while the owner can.
func TestAccess_SplitKeyPartsStayTheOwners(t *testing.T) {
	e := newMxEnv(t)
	id := e.mxKey(t)
	e.grant(t, id, mxUser, kmip.OperationCreateSplitKey)
	it, err := do(t, e.c[mxUser], kmip.OperationCreateSplitKey, mxPayload(kmip.OperationCreateSplitKey, id))
	if err != nil {
		t.Fatal(err)
	}
	var parts []string
	p := it.Payload
	for !p.Empty() {
		x, _ := p.Next()
		if x.Tag == ttlv.TagUniqueIdentifier {
			parts = append(parts, string(x.Data))
		}
	}
	if len(parts) != 3 {
		t.Fatalf("parts: %s", ttlv.Format(it.Payload))
	}
	for _, part := range parts {
		_, err := do(t, e.c[mxUser], kmip.OperationGet, byID(part))
		wantReason(t, err, kmip.ResultReasonObjectNotFound)
		if _, err := do(t, e.c[mxOwner], kmip.OperationGetAttributes, byID(part)); err != nil {
			t.Errorf("the owner's part %s: %v", part, err)
		}
	}
	_, err = do(t, e.c[mxUser], kmip.OperationJoinSplitKey, func(b *ttlv.Builder) {
		b.AddEnum(ttlv.TagObjectType, uint32(kmip.ObjectTypeSymmetricKey))
		for _, part := range parts {
			b.AddText(ttlv.TagUniqueIdentifier, part)
		}
	})
	wantReason(t, err, kmip.ResultReasonObjectNotFound)
}
