// Package oasis reads the messages of the OASIS KMIP test-case XML files
// for tests: every placeholder given a fixed value of its item's type, every
// message converted to TTLV. Package ttlv's tests and the gemalto
// cross-check read the same messages through it.
package oasis

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kmipd/kmipd/ttlv"
)

// Dir is where the test cases are: $KMIP_TESTCASES when set (CI sets it),
// else rel, the ../shared/kmip-testcases next to the repository seen from
// the test's package directory.
func Dir(rel string) string {
	if d := os.Getenv("KMIP_TESTCASES"); d != "" {
		return d
	}
	return rel
}

// Epoch is the time $NOW stands for.
var Epoch = time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC).Unix()

// PKCS11Names gives values to the PKCS#11 function and return-code names of
// PKCS11-M-1-21.xml, which the KMIP specification does not tabulate (the
// tables are empty): functions numbered in the order of the PKCS#11
// function list, return codes as CK_RV values.
var PKCS11Names = map[ttlv.Tag]map[string]uint32{
	ttlv.TagPKCS_11Function:   {"C_Initialize": 1, "C_Finalize": 2, "C_GetInfo": 3},
	ttlv.TagPKCS_11ReturnCode: {"OK": 0},
}

// Substitute replaces the placeholders of the test cases by fixed values of
// the item's type: $NOW±n by Epoch±n, $NAME in a Byte String by the hex of
// NAME, $NAME in a Text String by "NAME". It also names the untabulated
// PKCS#11 values.
func Substitute(tag ttlv.Tag, typ ttlv.Type, v string) (string, bool) {
	if m, ok := PKCS11Names[tag]; ok && typ == ttlv.TypeEnumeration {
		if x, ok := m[v]; ok {
			return fmt.Sprintf("0x%08x", x), true
		}
	}
	name, ok := strings.CutPrefix(v, "$")
	if !ok {
		return "", false
	}
	switch typ {
	case ttlv.TypeDateTime:
		rest, ok := strings.CutPrefix(name, "NOW")
		if !ok {
			return "", false
		}
		var d int64
		if rest != "" {
			n, err := strconv.ParseInt(rest, 10, 64)
			if err != nil {
				return "", false
			}
			d = n
		}
		return time.Unix(Epoch+d, 0).UTC().Format(time.RFC3339), true
	case ttlv.TypeByteString:
		return hex.EncodeToString([]byte(name)), true
	case ttlv.TypeTextString:
		return name, true
	}
	return "", false
}

// Options decode the test cases' XML with Substitute.
var Options = &ttlv.DecodeOptions{Substitute: Substitute}

// Message is one message of a test-case file, converted to TTLV.
type Message struct {
	File string // relative to the test-case directory, e.g. 2.1/profiles/BL-M-1-21.xml
	Elem string // RequestMessage or ResponseMessage
	Line int
	TTLV []byte
}

// Load converts every message of every test-case file below dir, files in
// name order, and returns how many files it read. It fails with an error
// wrapping fs.ErrNotExist when dir is absent.
func Load(dir string) (msgs []Message, files int, err error) {
	if _, err := os.Stat(dir); err != nil {
		return nil, 0, err
	}
	var paths []string
	err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".xml") {
			paths = append(paths, path)
		}
		return err
	})
	if err != nil {
		return nil, 0, err
	}
	sort.Strings(paths)
	for _, path := range paths {
		rel, _ := filepath.Rel(dir, path)
		f, err := os.Open(path)
		if err != nil {
			return nil, 0, err
		}
		d := ttlv.NewXMLDecoder(f, Options)
		for {
			m, err := d.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return nil, 0, errors.New(rel + ": " + err.Error())
			}
			msgs = append(msgs, Message{File: rel, Elem: d.Name(), Line: d.Line(), TTLV: m})
		}
		f.Close()
		files++
	}
	return msgs, files, nil
}
