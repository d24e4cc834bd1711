package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

// supportedObjectTypes are the object types kmipd stores.
var supportedObjectTypes = []kmip.ObjectType{
	kmip.ObjectTypeSymmetricKey, kmip.ObjectTypeSecretData, kmip.ObjectTypeOpaqueObject,
	kmip.ObjectTypeCertificate, kmip.ObjectTypePublicKey, kmip.ObjectTypePrivateKey,
	kmip.ObjectTypeSplitKey, kmip.ObjectTypePGPKey,
}

func (s *Service) query(c *kmip.Call, w *ttlv.Builder) error {
	v := c.Item.Payload
	var fns []kmip.QueryFunction
	for !v.Empty() {
		var f uint32
		if !v.ReadEnum(ttlv.TagQueryFunction, &f) {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "Query takes Query Function items only")
		}
		fns = append(fns, kmip.QueryFunction(f))
	}
	has := func(f kmip.QueryFunction) bool {
		for _, x := range fns {
			if x == f {
				return true
			}
		}
		return false
	}
	ver := c.Version
	// RNG Parameters, Profile Information and Capability Information came
	// with KMIP 1.3; the tag tables start at 1.4, so 1.0–1.2 are gated here.
	v13 := ver.AtLeast(kmip.V1_3)
	// Response fields in the order of KMIP 2.0 §6.1.37.
	if has(kmip.QueryFunctionQueryOperations) {
		for i := range operations {
			o := &operations[i]
			// Vendor (extension) operations are served but not listed:
			// clients that map Operation values to their own enumeration
			// (PyKMIP) fail on the whole answer for one value they lack.
			if !o.op.IsExtension() && s.Supports(o.op) && s.listed(o) && ver.HasEnum(ttlv.TagOperation, uint32(o.op)) {
				w.AddEnum(ttlv.TagOperation, uint32(o.op))
			}
		}
		// The server-to-client operations kmipd sends, when it does
		// (notify.go): Query lists what the server supports, in either
		// direction, as the OASIS recordings do.
		if s.cfg.ServerToClient && ver.HasEnum(ttlv.TagOperation, uint32(kmip.OperationNotify)) {
			w.AddEnum(ttlv.TagOperation, uint32(kmip.OperationNotify))
			if s.cfg.ServerToClientPut {
				w.AddEnum(ttlv.TagOperation, uint32(kmip.OperationPut))
			}
		}
	}
	if has(kmip.QueryFunctionQueryObjects) {
		for _, t := range supportedObjectTypes {
			if ver.HasEnum(ttlv.TagObjectType, uint32(t)) {
				w.AddEnum(ttlv.TagObjectType, uint32(t))
			}
		}
	}
	if has(kmip.QueryFunctionQueryServerInformation) {
		w.AddText(ttlv.TagVendorIdentification, "kmipd")
		w.Begin(ttlv.TagServerInformation)
		if ver.V2() {
			w.AddText(ttlv.TagServerName, "kmipd")
			w.AddText(ttlv.TagProductName, "kmipd")
		}
		w.End()
	}
	if has(kmip.QueryFunctionQueryRNGs) && v13 && ver.HasTag(ttlv.TagRNGParameters) {
		// The generator behind RNG
		// Retrieve and generated keys is the key backend's CSPRNG (the
		// operating system's, or the HSM's), which KMIP has no closer name
		// for than Unspecified, as the Random Number Generator attribute of
		// generated keys says (create.go). The other TC-Q-RNGS vectors
		// describe other servers' generators (ANSI X9.31, FIPS 186-2,
		// HMAC/Hash/Dual_EC/CTR DRBGs).
		w.Begin(ttlv.TagRNGParameters)
		w.AddEnum(ttlv.TagRNGAlgorithm, uint32(kmip.RNGAlgorithmUnspecified))
		w.End()
	}
	if has(kmip.QueryFunctionQueryProfiles) && v13 && ver.HasTag(ttlv.TagProfileInformation) {
		for _, p := range profilesFor(ver) {
			w.Begin(ttlv.TagProfileInformation)
			w.AddEnum(ttlv.TagProfileName, uint32(p))
			w.End()
		}
	}
	if has(kmip.QueryFunctionQueryCapabilities) && v13 && ver.HasTag(ttlv.TagCapabilityInformation) {
		w.Begin(ttlv.TagCapabilityInformation)
		// Streaming: Encrypt, Decrypt, Sign, Signature Verify and MAC take
		// Init/Final Indicators and a Correlation Value.
		w.AddBool(ttlv.TagStreamingCapability, true)
		// Locate goes on in the background when the client allows it,
		// unless configured off; Poll and Cancel follow it (async.go).
		w.AddBool(ttlv.TagAsynchronousCapability, s.asyncLimit() >= 0)
		w.AddBool(ttlv.TagAttestationCapability, false)
		w.AddBool(ttlv.TagBatchUndoCapability, true)
		w.AddBool(ttlv.TagBatchContinueCapability, true)
		// Registered wrapped keys are unwrapped (the wrapped form is kept
		// for As Registered); Destroy erases the key material and keeps
		// the metadata, with no shredding algorithm to name; one generator
		// pool serves every client (RNG Seed mixes into it).
		w.AddEnum(ttlv.TagUnwrapMode, uint32(kmip.UnwrapModeProcessed))
		w.AddEnum(ttlv.TagDestroyAction, uint32(kmip.DestroyActionKeyMaterialDeleted))
		w.AddEnum(ttlv.TagShreddingAlgorithm, uint32(kmip.ShreddingAlgorithmUnsupported))
		w.AddEnum(ttlv.TagRNGMode, uint32(kmip.RNGModeSharedInstantiation))
		w.End()
	}
	return nil
}

// profilesFor returns the server profiles kmipd claims in version v.
func profilesFor(v kmip.Version) []kmip.ProfileName {
	if v.V2() {
		return []kmip.ProfileName{kmip.ProfileNameSymmetricKeyLifecycleServer}
	}
	switch v.Minor {
	case 3:
		return []kmip.ProfileName{kmip.ProfileNameSymmetricKeyLifecycleServerKMIPV1_3}
	case 4:
		return []kmip.ProfileName{kmip.ProfileNameSymmetricKeyLifecycleServerKMIPV1_4}
	}
	return nil
}
