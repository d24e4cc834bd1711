package conformance

import (
	"path/filepath"
	"strings"

	"github.com/kmipd/kmipd/kmip"
)

// Query results may differ from a file's in the Operations and Object
// Types beyond those the profile requires (KMIP Profiles 2.1 §4.1.1): the
// reference server that recorded the files listed everything it had (Poll,
// Template, ...). What each server profile requires is below, from KMIP
// Profiles 2.1 §5.1.2 (Baseline Server) and §5.6–5.11; a listed Operation
// or Object Type outside the file's profile's set may be missing.

// baselineOperations are the client-to-server operations of the Baseline
// Server (PROF21 §5.1.2 item 7); every server profile includes them.
var baselineOperations = []kmip.Operation{
	kmip.OperationActivate, kmip.OperationAddAttribute, kmip.OperationAdjustAttribute, kmip.OperationCheck,
	kmip.OperationDeleteAttribute, kmip.OperationDestroy, kmip.OperationDiscoverVersions, kmip.OperationExport,
	kmip.OperationGet, kmip.OperationGetAttributeList, kmip.OperationGetAttributes, kmip.OperationImport,
	kmip.OperationInterop, kmip.OperationLocate, kmip.OperationLog, kmip.OperationModifyAttribute,
	kmip.OperationQuery, kmip.OperationRegister, kmip.OperationRevoke, kmip.OperationSetAttribute,
	kmip.OperationSetEndpointRole,
}

// profileRequires is what a profile adds to the Baseline Server, by the
// prefix of its test-case file names.
var profileRequires = map[string]struct {
	ops     []kmip.Operation
	objects []kmip.ObjectType
}{
	"SKLC":   {[]kmip.Operation{kmip.OperationCreate}, []kmip.ObjectType{kmip.ObjectTypeSymmetricKey}},
	"SKFF":   {[]kmip.Operation{kmip.OperationCreate}, []kmip.ObjectType{kmip.ObjectTypeSymmetricKey}},
	"AKLC":   {[]kmip.Operation{kmip.OperationCreateKeyPair}, []kmip.ObjectType{kmip.ObjectTypePublicKey, kmip.ObjectTypePrivateKey}},
	"CS-BC":  {[]kmip.Operation{kmip.OperationEncrypt, kmip.OperationDecrypt}, nil},
	"CS-AC":  {[]kmip.Operation{kmip.OperationEncrypt, kmip.OperationDecrypt, kmip.OperationHash, kmip.OperationMAC, kmip.OperationMACVerify, kmip.OperationRNGRetrieve, kmip.OperationRNGSeed, kmip.OperationSign, kmip.OperationSignatureVerify}, nil},
	"CS-RNG": {[]kmip.Operation{kmip.OperationRNGRetrieve, kmip.OperationRNGSeed}, nil},
	"OMOS":   {nil, []kmip.ObjectType{kmip.ObjectTypeOpaqueObject}},
	"SASED":  {nil, []kmip.ObjectType{kmip.ObjectTypeSecretData}},
	"TL":     {nil, []kmip.ObjectType{kmip.ObjectTypeSymmetricKey}},
}

// queryRequired returns the Operations and Object Types a Query answer must
// list for the profile file, or nil maps when the file is no profile file
// (test cases are compared as recorded).
func queryRequired(file string) (map[kmip.Operation]bool, map[kmip.ObjectType]bool) {
	base := filepath.Base(file)
	i := strings.Index(base, "-M-")
	if j := strings.Index(base, "-O-"); i < 0 || j >= 0 && j < i {
		i = j
	}
	if i < 0 {
		return nil, nil
	}
	ops, objs := map[kmip.Operation]bool{}, map[kmip.ObjectType]bool{}
	for _, op := range baselineOperations {
		ops[op] = true
	}
	req := profileRequires[base[:i]]
	for _, op := range req.ops {
		ops[op] = true
	}
	for _, t := range req.objects {
		objs[t] = true
	}
	return ops, objs
}
