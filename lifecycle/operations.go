package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// operation is a row of the operation table: what kmipd knows of one KMIP
// operation it serves, apart from the handler's own code.
type operation struct {
	op    kmip.Operation
	serve func(s *Service, c *kmip.Call, w *ttlv.Builder) error
	// readOnly: the operation changes no object, so that a fail-closed
	// audit trail need not run it in a transaction of its own (ReadOnly).
	// An operation that may change one, even only a usage count or the
	// state its dates have reached, writes.
	readOnly bool
	// online: the objects the request names must not be archived; it fails
	// with Object Archived on one (Service.online).
	online bool
	// interop: served only with Config.Interop (conformance runs).
	interop bool
	// needsCA: served only with Config.Certify.
	needsCA bool
	// async: may go on in the background when the client allows it
	// (async.go).
	async bool
	// requires is an operation this one is carried out with: until the
	// service serves that one, Query does not list this one, whose handler
	// refuses with a message naming what it waits for.
	requires kmip.Operation
	// states is the rule for the lifecycle states of the object it acts
	// on (Allowed).
	states stateRule
}

// operations is the operation table, in the order Query reports them;
// Query also leaves out those the request's protocol version lacks
// (kmip.Version.HasEnum). NewService registers each row's handler, Query
// lists the rows, Allowed applies their state rules and ReadOnly reports
// their reads (for the audit middleware). Adding an operation takes a row
// here; its handler lives in its own file.
//
// It is filled in by init: the handlers of Query and of the operations
// whose states Allowed checks refer back to it, which the initializer of a
// variable may not.
var operations []operation

// byOp indexes the rows of operations by operation.
var byOp map[kmip.Operation]*operation

func init() {
	operations = []operation{
		{op: kmip.OperationCreate, serve: (*Service).create},
		{op: kmip.OperationCreateKeyPair, serve: (*Service).createKeyPair},
		{op: kmip.OperationRegister, serve: (*Service).register},
		{op: kmip.OperationCertify, serve: (*Service).certify, online: true, needsCA: true, states: preActiveOrActive},
		{op: kmip.OperationReCertify, serve: (*Service).reCertify, online: true, needsCA: true, states: notDestroyed},
		{op: kmip.OperationLocate, serve: (*Service).locateStored, readOnly: true, async: true, states: anyState},
		{op: kmip.OperationGet, serve: (*Service).get, readOnly: true, online: true, states: notDestroyed},
		{op: kmip.OperationGetAttributes, serve: (*Service).getAttributes, readOnly: true, states: anyState},
		{op: kmip.OperationGetAttributeList, serve: (*Service).getAttributeList, readOnly: true, states: anyState},
		{op: kmip.OperationActivate, serve: (*Service).activate, online: true, states: preActiveOnly},
		{op: kmip.OperationRevoke, serve: (*Service).revoke, online: true, states: revocable},
		{op: kmip.OperationDestroy, serve: (*Service).destroy, online: true, states: destroyable},
		{op: kmip.OperationQuery, serve: (*Service).query, readOnly: true},
		{op: kmip.OperationDiscoverVersions, serve: (*Service).discoverVersions, readOnly: true},
		{op: kmip.OperationInterop, serve: (*Service).interop, interop: true},
		{op: kmip.OperationAddAttribute, serve: (*Service).addAttribute, online: true},
		{op: kmip.OperationModifyAttribute, serve: (*Service).modifyAttribute, online: true},
		{op: kmip.OperationDeleteAttribute, serve: (*Service).deleteAttribute, online: true},
		{op: kmip.OperationSetAttribute, serve: (*Service).setAttribute, online: true},
		{op: kmip.OperationAdjustAttribute, serve: (*Service).adjustAttribute, online: true},
		{op: kmip.OperationCheck, serve: (*Service).check, online: true},
		{op: kmip.OperationReKey, serve: (*Service).reKey, online: true},
		{op: kmip.OperationReKeyKeyPair, serve: (*Service).reKeyKeyPair, online: true},
		{op: kmip.OperationEncrypt, serve: (*Service).encrypt, online: true, states: activeOnly},
		{op: kmip.OperationDecrypt, serve: (*Service).decrypt, online: true, states: activeOnly},
		{op: kmip.OperationSign, serve: (*Service).sign, online: true, states: activeOnly},
		{op: kmip.OperationSignatureVerify, serve: (*Service).signatureVerify, online: true, states: activeOnly},
		{op: kmip.OperationMAC, serve: (*Service).mac, online: true, states: activeOnly},
		{op: kmip.OperationMACVerify, serve: (*Service).macVerify, online: true, states: activeOnly},
		{op: kmip.OperationHash, serve: (*Service).hashOp},
		{op: kmip.OperationRNGRetrieve, serve: (*Service).rngRetrieve},
		{op: kmip.OperationRNGSeed, serve: (*Service).rngSeed},
		{op: kmip.OperationDeriveKey, serve: (*Service).deriveKey, online: true, states: preActiveOrActive},
		{op: kmip.OperationCreateSplitKey, serve: (*Service).createSplitKey, online: true},
		{op: kmip.OperationJoinSplitKey, serve: (*Service).joinSplitKey, online: true},
		{op: kmip.OperationExport, serve: (*Service).export, states: notDestroyed},
		{op: kmip.OperationImport, serve: (*Service).importObject},
		{op: kmip.OperationArchive, serve: (*Service).archive},
		{op: kmip.OperationRecover, serve: (*Service).recoverObject},
		{op: kmip.OperationValidate, serve: (*Service).validate, readOnly: true, states: notDestroyed},
		{op: kmip.OperationObtainLease, serve: (*Service).obtainLease},
		{op: kmip.OperationGetUsageAllocation, serve: (*Service).getUsageAllocation},
		{op: kmip.OperationLog, serve: (*Service).logOp},
		{op: kmip.OperationSetEndpointRole, serve: (*Service).setEndpointRole},
		{op: kmip.OperationLogin, serve: (*Service).login, readOnly: true},
		{op: kmip.OperationLogout, serve: (*Service).logout, readOnly: true},
		{op: kmip.OperationDelegatedLogin, serve: (*Service).delegatedLogin, readOnly: true},
		{op: kmip.OperationPoll, serve: (*Service).poll, readOnly: true},
		{op: kmip.OperationCancel, serve: (*Service).cancelOp, readOnly: true},
		{op: kmip.OperationReProvision, serve: (*Service).reProvision, requires: kmip.OperationCertify},
		{op: kmip.OperationPKCS_11, serve: (*Service).pkcs11, readOnly: true},
		{op: OperationWhoAmI, serve: (*Service).whoAmI, readOnly: true},
		{op: OperationGrant, serve: (*Service).grant, online: true},
		{op: OperationRevokeGrant, serve: (*Service).revokeGrant, online: true},
		{op: OperationListGrants, serve: (*Service).listGrants, readOnly: true, states: anyState},
	}
	byOp = make(map[kmip.Operation]*operation, len(operations))
	for i := range operations {
		o := &operations[i]
		if byOp[o.op] != nil {
			panic("lifecycle: two rows for " + o.op.String())
		}
		byOp[o.op] = o
	}
}

// listed reports whether Query lists o: a row whose required operation is
// not served is not.
func (s *Service) listed(o *operation) bool {
	return o.requires == 0 || s.Supports(o.requires)
}

// ReadOnly reports whether op changes no object: it is served only to
// read (kmipd's audit middleware runs every other operation in a
// transaction that commits once its record is written, when the trail is
// fail-closed; see audit.Options.ReadOnly). Operations kmipd does not serve
// are not read-only.
func ReadOnly(op kmip.Operation) bool {
	o := byOp[op]
	return o != nil && o.readOnly
}
