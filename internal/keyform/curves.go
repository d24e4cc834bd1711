package keyform

import (
	"crypto/ecdh"
	"encoding/asn1"

	"github.com/kmipd/kmipd/kmip"
)

// Curve describes a named elliptic curve: its KMIP Recommended Curve,
// object identifier and size in bits (its Cryptographic Length).
type Curve struct {
	Name kmip.RecommendedCurve
	OID  asn1.ObjectIdentifier
	Bits int32
	ECDH func() ecdh.Curve // nil when Go does not implement the curve
}

// curves are the named curves whose identifiers kmipd knows (SEC 2, ANSI
// X9.62, RFC 5639).
var curves = []Curve{
	{kmip.RecommendedCurveP_192, asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 1}, 192, nil},
	{kmip.RecommendedCurveP_224, asn1.ObjectIdentifier{1, 3, 132, 0, 33}, 224, nil},
	{kmip.RecommendedCurveP_256, asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 7}, 256, ecdh.P256},
	{kmip.RecommendedCurveP_384, asn1.ObjectIdentifier{1, 3, 132, 0, 34}, 384, ecdh.P384},
	{kmip.RecommendedCurveP_521, asn1.ObjectIdentifier{1, 3, 132, 0, 35}, 521, ecdh.P521},
	{kmip.RecommendedCurveK_163, asn1.ObjectIdentifier{1, 3, 132, 0, 1}, 163, nil},
	{kmip.RecommendedCurveB_163, asn1.ObjectIdentifier{1, 3, 132, 0, 15}, 163, nil},
	{kmip.RecommendedCurveK_233, asn1.ObjectIdentifier{1, 3, 132, 0, 26}, 233, nil},
	{kmip.RecommendedCurveB_233, asn1.ObjectIdentifier{1, 3, 132, 0, 27}, 233, nil},
	{kmip.RecommendedCurveK_283, asn1.ObjectIdentifier{1, 3, 132, 0, 16}, 283, nil},
	{kmip.RecommendedCurveB_283, asn1.ObjectIdentifier{1, 3, 132, 0, 17}, 283, nil},
	{kmip.RecommendedCurveK_409, asn1.ObjectIdentifier{1, 3, 132, 0, 36}, 409, nil},
	{kmip.RecommendedCurveB_409, asn1.ObjectIdentifier{1, 3, 132, 0, 37}, 409, nil},
	{kmip.RecommendedCurveK_571, asn1.ObjectIdentifier{1, 3, 132, 0, 38}, 571, nil},
	{kmip.RecommendedCurveB_571, asn1.ObjectIdentifier{1, 3, 132, 0, 39}, 571, nil},
	{kmip.RecommendedCurveSECP112R1, asn1.ObjectIdentifier{1, 3, 132, 0, 6}, 112, nil},
	{kmip.RecommendedCurveSECP112R2, asn1.ObjectIdentifier{1, 3, 132, 0, 7}, 112, nil},
	{kmip.RecommendedCurveSECP128R1, asn1.ObjectIdentifier{1, 3, 132, 0, 28}, 128, nil},
	{kmip.RecommendedCurveSECP128R2, asn1.ObjectIdentifier{1, 3, 132, 0, 29}, 128, nil},
	{kmip.RecommendedCurveSECP160K1, asn1.ObjectIdentifier{1, 3, 132, 0, 9}, 160, nil},
	{kmip.RecommendedCurveSECP160R1, asn1.ObjectIdentifier{1, 3, 132, 0, 8}, 160, nil},
	{kmip.RecommendedCurveSECP160R2, asn1.ObjectIdentifier{1, 3, 132, 0, 30}, 160, nil},
	{kmip.RecommendedCurveSECP192K1, asn1.ObjectIdentifier{1, 3, 132, 0, 31}, 192, nil},
	{kmip.RecommendedCurveSECP224K1, asn1.ObjectIdentifier{1, 3, 132, 0, 32}, 224, nil},
	{kmip.RecommendedCurveSECP256K1, asn1.ObjectIdentifier{1, 3, 132, 0, 10}, 256, nil},
	{kmip.RecommendedCurveSECT113R1, asn1.ObjectIdentifier{1, 3, 132, 0, 4}, 113, nil},
	{kmip.RecommendedCurveSECT113R2, asn1.ObjectIdentifier{1, 3, 132, 0, 5}, 113, nil},
	{kmip.RecommendedCurveSECT131R1, asn1.ObjectIdentifier{1, 3, 132, 0, 22}, 131, nil},
	{kmip.RecommendedCurveSECT131R2, asn1.ObjectIdentifier{1, 3, 132, 0, 23}, 131, nil},
	{kmip.RecommendedCurveSECT163R1, asn1.ObjectIdentifier{1, 3, 132, 0, 2}, 163, nil},
	{kmip.RecommendedCurveSECT193R1, asn1.ObjectIdentifier{1, 3, 132, 0, 24}, 193, nil},
	{kmip.RecommendedCurveSECT193R2, asn1.ObjectIdentifier{1, 3, 132, 0, 25}, 193, nil},
	{kmip.RecommendedCurveSECT239K1, asn1.ObjectIdentifier{1, 3, 132, 0, 3}, 239, nil},
	{kmip.RecommendedCurveANSIX9P192V2, asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 2}, 192, nil},
	{kmip.RecommendedCurveANSIX9P192V3, asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 3}, 192, nil},
	{kmip.RecommendedCurveANSIX9P239V1, asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 4}, 239, nil},
	{kmip.RecommendedCurveANSIX9P239V2, asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 5}, 239, nil},
	{kmip.RecommendedCurveANSIX9P239V3, asn1.ObjectIdentifier{1, 2, 840, 10045, 3, 1, 6}, 239, nil},
	{kmip.RecommendedCurveBRAINPOOLP160R1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 1}, 160, nil},
	{kmip.RecommendedCurveBRAINPOOLP160T1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 2}, 160, nil},
	{kmip.RecommendedCurveBRAINPOOLP192R1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 3}, 192, nil},
	{kmip.RecommendedCurveBRAINPOOLP192T1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 4}, 192, nil},
	{kmip.RecommendedCurveBRAINPOOLP224R1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 5}, 224, nil},
	{kmip.RecommendedCurveBRAINPOOLP224T1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 6}, 224, nil},
	{kmip.RecommendedCurveBRAINPOOLP256R1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 7}, 256, nil},
	{kmip.RecommendedCurveBRAINPOOLP256T1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 8}, 256, nil},
	{kmip.RecommendedCurveBRAINPOOLP320R1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 9}, 320, nil},
	{kmip.RecommendedCurveBRAINPOOLP320T1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 10}, 320, nil},
	{kmip.RecommendedCurveBRAINPOOLP384R1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 11}, 384, nil},
	{kmip.RecommendedCurveBRAINPOOLP384T1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 12}, 384, nil},
	{kmip.RecommendedCurveBRAINPOOLP512R1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 13}, 512, nil},
	{kmip.RecommendedCurveBRAINPOOLP512T1, asn1.ObjectIdentifier{1, 3, 36, 3, 3, 2, 8, 1, 1, 14}, 512, nil},
}

// CurveByOID finds a curve by its object identifier.
func CurveByOID(oid asn1.ObjectIdentifier) (*Curve, bool) {
	for i := range curves {
		if curves[i].OID.Equal(oid) {
			return &curves[i], true
		}
	}
	return nil, false
}

// CurveByEnum finds a curve by its KMIP Recommended Curve.
func CurveByEnum(c kmip.RecommendedCurve) (*Curve, bool) {
	for i := range curves {
		if curves[i].Name == c {
			return &curves[i], true
		}
	}
	return nil, false
}
