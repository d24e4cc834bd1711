// Command gentables generates the KMIP tag and enumeration tables of package
// ttlv, ztags.go and zenums.go, from the tables that the module's
// internal/gentables reads.
//
// It runs from the ttlv directory (go generate ./ttlv); -out redirects the
// output, e.g. to check that the checked-in files are current.
package main

import (
	"bytes"
	"fmt"
	"path/filepath"

	"github.com/kmipd/kmipd/internal/gentables"
)

func main() {
	gentables.Main("gentables", "ztags.go and zenums.go (package ttlv)", func(t *gentables.Tables, outDir string) error {
		if err := gentables.Write(filepath.Join(outDir, "ztags.go"), genTags(t.Tags)); err != nil {
			return err
		}
		return gentables.Write(filepath.Join(outDir, "zenums.go"), genEnums(t.Groups))
	})
}

func tableIdent(g *gentables.Group) string { return "tbl" + g.GoName }

func genTags(tags map[uint32]*gentables.Tag) []byte {
	var b bytes.Buffer
	b.WriteString(gentables.Header)
	b.WriteString("package ttlv\n\n")
	b.WriteString("// Tags of KMIP 1.0–1.4, 2.0 and 2.1 (their union), named after their XML\n")
	b.WriteString("// names (KMIP Profiles 2.1 §5.4.1.1); the comments give the specification's.\n")
	b.WriteString("const (\n")
	keys := gentables.SortedKeys(tags)
	for _, v := range keys {
		t := tags[v]
		fmt.Fprintf(&b, "\tTag%s Tag = 0x%06X // %s\n", t.Name, v, t.Spec)
	}
	b.WriteString(")\n\n")
	fmt.Fprintf(&b, "// tagLowMax is the largest low 16 bits of a tag in tagList.\n")
	fmt.Fprintf(&b, "const tagLowMax = %#x\n\n", keys[len(keys)-1]&0xffff)
	b.WriteString("// tagList describes every tag, sorted by value.\n")
	b.WriteString("var tagList = [...]tagInfo{\n")
	for _, v := range keys {
		t := tags[v]
		kind, tbl := "KindNone", "0"
		if g := t.Group; g != nil {
			switch {
			case g.Tagged:
				kind = "KindTagEnum"
			case g.Mask:
				kind, tbl = "KindMask", tableIdent(g)
			default:
				kind, tbl = "KindEnum", tableIdent(g)
			}
		}
		fmt.Fprintf(&b, "\t{Tag%s, %q, %q, %s, %s, %s},\n", t.Name, t.Name, t.Spec, gentables.VersionExpr(t.Vers), kind, tbl)
	}
	b.WriteString("}\n\n")
	b.WriteString("// tagAliases holds other spellings of tag names.\n")
	b.WriteString("var tagAliases = [...]nameAlias{\n")
	for _, v := range keys {
		for _, a := range tags[v].Aliases {
			fmt.Fprintf(&b, "\t{%q, 0x%06X},\n", a, v)
		}
	}
	b.WriteString("}\n")
	return b.Bytes()
}

func genEnums(groups []*gentables.Group) []byte {
	var b bytes.Buffer
	b.WriteString(gentables.Header)
	b.WriteString("package ttlv\n\n")
	b.WriteString("// Indexes into enumTables; 0 means none.\n")
	b.WriteString("const (\n\t_ = iota\n")
	for _, g := range groups {
		if !g.Tagged {
			fmt.Fprintf(&b, "\t%s\n", tableIdent(g))
		}
	}
	b.WriteString(")\n\n")
	b.WriteString("// enumTables holds the enumeration and bit mask tables, each the union of\n")
	b.WriteString("// its 1.4, 2.0 and 2.1 versions, values ascending.\n")
	b.WriteString("var enumTables = [...]enumTable{\n")
	for _, g := range groups {
		if g.Tagged {
			continue
		}
		fmt.Fprintf(&b, "\t%s: {\n", tableIdent(g))
		fmt.Fprintf(&b, "\t\tname: %q,\n", g.Title())
		fmt.Fprintf(&b, "\t\tvalues: []enumValue{\n")
		for _, v := range gentables.SortedKeys(g.Values) {
			e := g.Values[v]
			fmt.Fprintf(&b, "\t\t\t{0x%08X, %q, %s},\n", v, e.Name, gentables.VersionExpr(e.Vers))
		}
		b.WriteString("\t\t},\n")
		var aliases []string
		for _, v := range gentables.SortedKeys(g.Values) {
			for _, a := range g.Values[v].Aliases {
				aliases = append(aliases, fmt.Sprintf("\t\t\t{%q, 0x%08X},\n", a, v))
			}
		}
		if aliases != nil {
			b.WriteString("\t\taliases: []nameAlias{\n")
			for _, a := range aliases {
				b.WriteString(a)
			}
			b.WriteString("\t\t},\n")
		}
		b.WriteString("\t},\n")
	}
	b.WriteString("}\n")
	return b.Bytes()
}

// title is the table's name in the newest version that has it.
