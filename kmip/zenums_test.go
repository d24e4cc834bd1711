package kmip_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/kmipd/kmipd/kmip"
	"github.com/kmipd/kmipd/ttlv"
)

func TestEnumConstants(t *testing.T) {
	for _, c := range []struct {
		got, want uint32
	}{
		{uint32(kmip.OperationCreate), 0x01},
		{uint32(kmip.OperationDiscoverVersions), 0x1E},
		{uint32(kmip.OperationPing), 0x3B},
		{uint32(kmip.ResultStatusOperationFailed), 0x01},
		{uint32(kmip.ResultReasonItemNotFound), 0x01},
		{uint32(kmip.ResultReasonWrongKeyLifecycleState), 0x43},
		{uint32(kmip.ResultReasonIllegalOperation), 0x0B}, // 1.x only
		{uint32(kmip.ResultReasonNotAuthorised), uint32(kmip.ResultReasonNotAuthorized)},
		{uint32(kmip.ObjectTypeSymmetricKey), 0x02},
		{uint32(kmip.ObjectTypeTemplate), 0x06},
		{uint32(kmip.StateActive), 0x02},
		{uint32(kmip.CryptographicAlgorithmAES), 0x03},
		{uint32(kmip.CryptographicAlgorithmDES3), 0x02},
		{uint32(kmip.BatchErrorContinuationOptionUndo), 0x03},
		{uint32(kmip.RevocationReasonCodeKeyCompromise), 0x02},
		{uint32(kmip.HashingAlgorithmSHA_3_256), uint32(kmip.HashingAlgorithmSHA3_256)},
		{uint32(kmip.MaskGeneratorMGF1), 0x01},
		{uint32(kmip.UniqueIdentifierIDPlaceholder), 0x01},
		{uint32(kmip.ItemTypeDateTimeExtended), uint32(ttlv.TypeDateTimeExtended)},
		{uint32(kmip.CryptographicUsageMaskEncrypt | kmip.CryptographicUsageMaskDecrypt), 0x0C},
		{uint32(kmip.StorageStatusMaskDestroyedStorage), 0x04},
		{uint32(kmip.ProtectionStorageMaskSoftware), 0x01},
	} {
		if c.got != c.want {
			t.Errorf("constant = %#x, want %#x", c.got, c.want)
		}
	}
}

func TestEnumStrings(t *testing.T) {
	for _, c := range []struct {
		got, want string
	}{
		{kmip.OperationCreateKeyPair.String(), "CreateKeyPair"},
		{kmip.Operation(0x80000001).String(), "0x80000001"},
		{kmip.ResultReasonNotAuthorised.String(), "NotAuthorized"},
		{kmip.DigitalSignatureAlgorithmRSASSA_PSSPKCS_1V2_1.String(), "RSASSA_PSS"},
		{kmip.HashingAlgorithmSHA_256.String(), "SHA_256"},
		{kmip.OpaqueDataType(0x80000001).String(), "0x80000001"},
		{(kmip.CryptographicUsageMaskSign | kmip.CryptographicUsageMaskVerify).String(), "Sign|Verify"},
		{kmip.CryptographicUsageMask(0).String(), "0x00000000"},
		{kmip.ItemTypeByteString.String(), "ByteString"},
		{kmip.ItemType(0x20).String(), "0x00000020"},
	} {
		if c.got != c.want {
			t.Errorf("String() = %q, want %q", c.got, c.want)
		}
	}
}

// TestEnumsGeneratedFileIsCurrent regenerates zenums.go into a temporary
// directory and compares it with the checked-in file.
func TestEnumsGeneratedFileIsCurrent(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the generator")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command in PATH")
	}
	dir := t.TempDir()
	cmd := exec.Command(gobin, "run", "./internal/genenums", "-out", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("generator: %v\n%s", err, out)
	}
	a, err := os.ReadFile(filepath.Join(dir, "zenums.go"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("zenums.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Error("zenums.go is stale: run go generate ./kmip")
	}
}
