// Command genenums generates the typed KMIP enumerations and bit masks of
// package kmip (zenums.go) from the tables that the module's
// internal/gentables reads; their String methods look the names up in
// package ttlv's tables, generated from the same source.
//
// It runs from the kmip directory (go generate ./kmip); -out redirects the
// output, e.g. to check that the checked-in file is current.
package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/kmipd/kmipd/internal/gentables"
)

func main() {
	gentables.Main("genenums", "zenums.go (package kmip)", func(t *gentables.Tables, outDir string) error {
		src, err := genKMIP(append(slices.Clone(t.Groups), t.ItemType))
		if err != nil {
			return err
		}
		return gentables.Write(filepath.Join(outDir, "zenums.go"), src)
	})
}

func genKMIP(groups []*gentables.Group) ([]byte, error) {
	slices.SortFunc(groups, func(a, b *gentables.Group) int { return strings.Compare(a.GoName, b.GoName) })
	var b bytes.Buffer
	b.WriteString(gentables.Header)
	b.WriteString("package kmip\n\n")
	b.WriteString("import \"github.com/kmipd/kmipd/ttlv\"\n\n")
	idents := map[string]string{"zenumString": "", "zmaskString": "", "zhex": ""}
	declare := func(id, what string) error {
		if prev, dup := idents[id]; dup {
			return fmt.Errorf("kmip: identifier %s of %s is also %s", id, what, prev)
		}
		idents[id] = what
		return nil
	}
	for _, g := range groups {
		if g.Tagged {
			continue
		}
		typ := g.GoName
		if err := declare(typ, "type "+typ); err != nil {
			return nil, err
		}
		kind := "enumeration"
		if g.Mask {
			kind = "bit mask"
		}
		fmt.Fprintf(&b, "// %s is the KMIP %s %s (KMIP %s).\n", typ, g.Title(), kind, gentables.VersionText(g.AllVersions()))
		if len(g.Tags) > 1 {
			var ts []string
			for _, t := range g.Tags {
				ts = append(ts, t.Spec)
			}
			last := len(ts) - 1
			fmt.Fprintf(&b, "// Items tagged %s and %s use it.\n", strings.Join(ts[:last], ", "), ts[last])
		}
		fmt.Fprintf(&b, "type %s uint32\n\n", typ)
		if len(g.Values) == 0 {
			fmt.Fprintf(&b, "// The specification defines no %s values; only extensions (0x8xxxxxxx)\n// occur.\n\n", typ)
		} else if g.Mask {
			fmt.Fprintf(&b, "// %s bits.\n", typ)
		} else {
			fmt.Fprintf(&b, "// %s values.\n", typ)
		}
		if len(g.Values) > 0 {
			b.WriteString("const (\n")
		}
		canon := map[string]bool{}
		for _, v := range gentables.SortedKeys(g.Values) {
			e := g.Values[v]
			id := typ + e.Name
			if err := declare(id, typ+" value"); err != nil {
				return nil, err
			}
			canon[id] = true
			fmt.Fprintf(&b, "\t%s %s = 0x%08X", id, typ, v)
			if e.Vers != 7 {
				fmt.Fprintf(&b, " // KMIP %s", gentables.VersionText(e.Vers))
			}
			b.WriteString("\n")
		}
		if len(g.Values) > 0 {
			b.WriteString(")\n\n")
		}
		var alias bytes.Buffer
		for _, v := range gentables.SortedKeys(g.Values) {
			e := g.Values[v]
			for _, a := range e.Aliases {
				id := typ + a
				if canon[id] || !gentables.IsIdent(a) {
					continue
				}
				if err := declare(id, typ+" alias"); err != nil {
					return nil, err
				}
				fmt.Fprintf(&alias, "\t%s = %s\n", id, typ+e.Name)
			}
		}
		if alias.Len() > 0 {
			fmt.Fprintf(&b, "// Other spellings of %s values: older versions' names and the\n// spellings of the OASIS test cases.\nconst (\n", typ)
			b.Write(alias.Bytes())
			b.WriteString(")\n\n")
		}
		switch {
		case len(g.Tags) == 0: // Item Type
			fmt.Fprintf(&b, "// String returns the name of v, or v in hex.\n")
			fmt.Fprintf(&b, "func (v %s) String() string {\n", typ)
			b.WriteString("\tif v <= 0xff && ttlv.Type(v).Valid() {\n\t\treturn ttlv.Type(v).String()\n\t}\n")
			b.WriteString("\treturn zhex(uint32(v))\n}\n\n")
		case g.Mask:
			fmt.Fprintf(&b, "// String returns the names of the set bits separated by |, unnamed bits in hex.\n")
			fmt.Fprintf(&b, "func (v %s) String() string { return zmaskString(ttlv.Tag%s, uint32(v)) }\n\n", typ, g.Tags[0].Name)
		default:
			fmt.Fprintf(&b, "// String returns the name of v, or v in hex.\n")
			fmt.Fprintf(&b, "func (v %s) String() string { return zenumString(ttlv.Tag%s, uint32(v)) }\n\n", typ, g.Tags[0].Name)
		}
	}
	b.WriteString(`func zenumString(t ttlv.Tag, v uint32) string {
	if s, ok := ttlv.EnumName(t, v); ok {
		return s
	}
	return zhex(v)
}

func zmaskString(t ttlv.Tag, v uint32) string {
	return string(ttlv.AppendMask(make([]byte, 0, 64), t, v, '|'))
}

func zhex(v uint32) string {
	const digits = "0123456789abcdef"
	b := []byte("0x00000000")
	for i := 9; i >= 2; i-- {
		b[i] = digits[v&0xf]
		v >>= 4
	}
	return string(b)
}
`)
	return b.Bytes(), nil
}
