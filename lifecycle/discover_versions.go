package lifecycle

import (
	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

func (s *Service) discoverVersions(c *kmip.Call, w *ttlv.Builder) error {
	v := c.Item.Payload
	var asked []kmip.Version
	for !v.Empty() {
		var pv ttlv.Value
		var ver kmip.Version
		if !v.ReadStructure(ttlv.TagProtocolVersion, &pv) ||
			!pv.ReadInt32(ttlv.TagProtocolVersionMajor, &ver.Major) ||
			!pv.ReadInt32(ttlv.TagProtocolVersionMinor, &ver.Minor) {
			return kmip.Errorf(kmip.ResultReasonInvalidField, "Discover Versions takes Protocol Version items only")
		}
		asked = append(asked, ver)
	}
	list := kmip.SupportedVersions
	if len(asked) > 0 {
		// The intersection, in the client's order of preference
		// (KMIP 2.0 §6.1.16); empty when there is none.
		list = nil
		for _, a := range asked {
			if a.Supported() {
				list = append(list, a)
			}
		}
	}
	for _, ver := range list {
		w.Begin(ttlv.TagProtocolVersion)
		w.AddInt32(ttlv.TagProtocolVersionMajor, ver.Major)
		w.AddInt32(ttlv.TagProtocolVersionMinor, ver.Minor)
		w.End()
	}
	return nil
}
