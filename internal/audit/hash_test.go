package audit

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"
)

// Known answers of the documented chain formula, computed outside the code
// under test: hash = SHA-256(previous hash ‖ canonical line), where the
// canonical line is the JSON line without hash and mac, ending in
// "prev_hash":"…"}. A chain hash that stopped covering the previous hash
// (or changed the layout) breaks every trail already written.

func sha(parts ...[]byte) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

// TestChainHashKnownAnswer pins the formula to a vector computed with
// Python's hashlib.
func TestChainHashKnownAnswer(t *testing.T) {
	var prev [32]byte
	for i := range prev {
		prev[i] = byte(i)
	}
	canonical := []byte(`{"seq":42,"time":"2026-01-02T03:04:05.000006Z","kind":"op","identity":"alice","operation":"Destroy","request_uid":"uid-7","status":"Success","prev_hash":"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"}`)
	const want = "5ef82b589f2008a702b836416d151cf3bddd5ce816398dbe8527d2844a10cfde"
	if got := chainHash(&prev, canonical); hex.EncodeToString(got[:]) != want {
		t.Fatalf("chainHash = %x, want %s", got, want)
	}
	if got := sha(prev[:], canonical); hex.EncodeToString(got) != want {
		t.Fatalf("the vector itself: %x", got)
	}
}

// TestChainHashCoversPreviousHash: the same canonical bytes under another
// previous hash give another hash, even though prev_hash inside the line is
// unchanged.
func TestChainHashCoversPreviousHash(t *testing.T) {
	canonical := []byte(`{"seq":2,"time":"2026-01-02T03:04:05.000006Z","kind":"op","prev_hash":"` + strings.Repeat("00", 32) + `"}`)
	var a, b [32]byte
	b[31] = 1
	if chainHash(&a, canonical) == chainHash(&b, canonical) {
		t.Fatal("the chain hash does not depend on the previous hash")
	}
}

// TestTrailLinesKnownAnswer writes two lines through a Trail and rebuilds
// both, byte for byte, from the documented layout.
func TestTrailLinesKnownAnswer(t *testing.T) {
	o := testOptions(t)
	at := time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC)
	o.Now = func() time.Time { return at }
	o.CheckpointInterval = 1000
	tr := openTrail(t, o)
	if _, err := tr.Append(&Record{
		Time: at, Kind: KindOp, Identity: "alice", Fingerprint: strings.Repeat("ab", 32),
		Remote: "192.0.2.1:5000", Version: "2.0", Operation: "Get", RequestUID: "uid-1",
		ResponseUIDs: []string{"uid-1"}, Status: "Success",
	}); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(o.Path)
	if err != nil {
		t.Fatal(err)
	}
	key := mustKey(t, o.KeyPath)

	// Line 1: the open checkpoint of a new trail, signed.
	zero := make([]byte, 32)
	c1 := `{"seq":1,"time":"2026-01-02T03:04:05.000006Z","kind":"checkpoint","event":"open","detail":"anchor created: ` +
		AnchorPath(o.Path) + `","prev_hash":"` + hex.EncodeToString(zero) + `"}`
	h1 := sha(zero, []byte(c1))
	m := hmac.New(sha256.New, key)
	m.Write([]byte("kmipd audit checkpoint v1\x00"))
	m.Write(h1)
	line1 := c1[:len(c1)-1] + `,"hash":"` + hex.EncodeToString(h1) + `","mac":"` + hex.EncodeToString(m.Sum(nil)) + "\"}\n"

	// Line 2: the operation, chained to line 1.
	c2 := `{"seq":2,"time":"2026-01-02T03:04:05.000006Z","kind":"op","identity":"alice","fingerprint":"` + strings.Repeat("ab", 32) +
		`","remote":"192.0.2.1:5000","version":"2.0","operation":"Get","request_uid":"uid-1","response_uids":["uid-1"],"status":"Success","prev_hash":"` +
		hex.EncodeToString(h1) + `"}`
	h2 := sha(h1, []byte(c2))
	line2 := c2[:len(c2)-1] + `,"hash":"` + hex.EncodeToString(h2) + "\"}\n"

	if want := line1 + line2; !bytes.Equal(got, []byte(want)) {
		t.Fatalf("the trail holds\n%s\nwant\n%s", got, want)
	}
}

// Ensure that appendTime writes what timeLayout does, for instants across
// the range it handles itself and beyond.
func TestAppendTimeIsTheLayout(t *testing.T) {
	times := []time.Time{
		time.Date(2026, 1, 2, 3, 4, 5, 6000, time.UTC),
		time.Date(2026, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-5, 3, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2026, 6, 1, 12, 0, 0, 123456789, time.FixedZone("x", 5*3600+1800)),
	}
	for i := range 1000 {
		times = append(times, time.Unix(int64(i)*7919*86400/13, int64(i)*104729%1e9))
	}
	for _, tm := range times {
		if got, want := string(appendTime(nil, tm)), tm.UTC().Format(timeLayout); got != want {
			t.Fatalf("%v: %s, want %s", tm, got, want)
		}
	}
}
