package gentables

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

func loadJSON(path string) ([]versionData, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	out := make([]versionData, len(versions))
	for i, v := range versions {
		raw, ok := top[v]
		if !ok {
			return nil, fmt.Errorf("%s: no version %q", path, v)
		}
		var tabs map[string]json.RawMessage
		if err := json.Unmarshal(raw, &tabs); err != nil {
			return nil, fmt.Errorf("%s: %s: %v", path, v, err)
		}
		vd := versionData{tables: map[string][]row{}, masks: map[string][]row{}}
		for name, raw := range tabs {
			var err error
			if name == "__bitmasks__" {
				err = json.Unmarshal(raw, &vd.masks)
			} else {
				var rows []row
				err = json.Unmarshal(raw, &rows)
				vd.tables[name] = rows
			}
			if err != nil {
				return nil, fmt.Errorf("%s: %s %s: %v", path, v, name, err)
			}
		}
		out[i] = vd
	}
	return out, nil
}

// usable reports whether r is a real table row, and parses its value.
func usable(r row, where string, log func(string, ...any)) (uint32, bool) {
	if r.Name == "Reserved" || r.Name == "(Reserved)" {
		return 0, false
	}
	if !IsIdent(r.XML) {
		log("%s: skipping row %q = %s: not a name (extraction artefact)", where, r.XML, r.Value)
		return 0, false
	}
	for _, a := range r.XMLAliases {
		if !IsIdent(a) {
			log("%s: ignoring alias %q of %s", where, a, r.XML)
		}
	}
	v, err := parseHex(r.Value)
	if err != nil {
		log("%s: skipping row %q: bad value %q", where, r.XML, r.Value)
		return 0, false
	}
	return v, true
}

func parseHex(s string) (uint32, error) {
	h, ok := strings.CutPrefix(s, "0x")
	if !ok {
		return 0, errors.New("no 0x prefix")
	}
	v, err := strconv.ParseUint(h, 16, 32)
	return uint32(v), err
}

// IsIdent reports whether s can end a Go identifier: a letter, then letters,
// digits or underscores.
func IsIdent(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isLetter(c) && !(c >= '0' && c <= '9') && c != '_' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

// names returns the name a row gives its value and the other spellings it
// accepts. Where the test-case files spell a value differently from the
// specification (xml_aliases), their spelling wins: it is what peers send
// and expect (e.g. MGF1 for the spec's "MFG1").
func names(r row) (string, []string) {
	var as []string
	for _, a := range r.XMLAliases {
		if IsIdent(a) {
			as = append(as, a)
		}
	}
	if len(as) == 0 {
		return r.XML, nil
	}
	return as[0], append(as[1:], r.XML)
}

func addAlias(list []string, names ...string) []string {
	for _, n := range names {
		if !slices.Contains(list, n) {
			list = append(list, n)
		}
	}
	return list
}

func buildTags(data []versionData, log func(string, ...any)) (map[uint32]*Tag, error) {
	tags := map[uint32]*Tag{}
	for i, vd := range data {
		for _, r := range vd.tables["Tag"] {
			v, ok := usable(r, versions[i]+" Tag", log)
			if !ok {
				continue
			}
			if v>>16 != 0x42 {
				return nil, fmt.Errorf("%s Tag %s: value %s outside 0x42xxxx", versions[i], r.XML, r.Value)
			}
			t := tags[v]
			if t == nil {
				t = &Tag{Value: v}
				tags[v] = t
			}
			name, as := names(r)
			if t.Name != "" && t.Name != name {
				log("tag %#06x: %q in %s, formerly %q", v, name, versions[i], t.Name)
				as = append(as, t.Name)
			}
			t.Name, t.Spec = name, r.Name
			t.Aliases = addAlias(t.Aliases, as...)
			t.Vers |= 1 << i
		}
	}
	// Every spelling must name one tag.
	byName, bySpec := map[string]uint32{}, map[string]uint32{}
	for _, v := range SortedKeys(tags) {
		t := tags[v]
		t.Aliases = slices.DeleteFunc(t.Aliases, func(a string) bool { return a == t.Name })
		slices.Sort(t.Aliases)
		for _, n := range append([]string{t.Name}, t.Aliases...) {
			if w, dup := byName[n]; dup {
				return nil, fmt.Errorf("tag name %q names both %#06x and %#06x", n, w, v)
			}
			byName[n] = v
		}
		if w, dup := bySpec[t.Spec]; dup {
			return nil, fmt.Errorf("tag spec name %q names both %#06x and %#06x", t.Spec, w, v)
		}
		bySpec[t.Spec] = v
	}
	return tags, nil
}

func loadTagEnums(path string, tags map[uint32]*Tag) ([]*Group, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	byName := map[string]*Tag{}
	for _, t := range tags {
		byName[t.Name] = t
	}
	var groups []*Group
	bySpec := map[string]*Group{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' { // table names may contain #
			continue
		}
		tagName, spec, ok := strings.Cut(line, " ")
		spec = strings.TrimSpace(spec)
		if !ok || spec == "" {
			return nil, fmt.Errorf("%s:%d: want <tag> <table>", path, n)
		}
		t := byName[tagName]
		if t == nil {
			return nil, fmt.Errorf("%s:%d: unknown tag %q", path, n, tagName)
		}
		if t.Group != nil {
			return nil, fmt.Errorf("%s:%d: tag %s listed twice", path, n, tagName)
		}
		g := bySpec[spec]
		if g == nil {
			g = &Group{Spec: spec, GoName: tagName}
			tables, isMask := strings.CutPrefix(spec, "mask:")
			g.Mask = isMask
			for _, a := range strings.Split(tables, "|") {
				if a = strings.TrimSpace(a); a == "" {
					return nil, fmt.Errorf("%s:%d: empty table name", path, n)
				}
				g.Alts = append(g.Alts, a)
			}
			g.Tagged = len(g.Alts) == 1 && g.Alts[0] == "Tag" && !g.Mask
			bySpec[spec] = g
			groups = append(groups, g)
		}
		t.Group = g
		g.Tags = append(g.Tags, t)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	slices.SortFunc(groups, func(a, b *Group) int { return strings.Compare(a.GoName, b.GoName) })
	return groups, nil
}

// build merges the group's table across versions: a value takes the name of
// the newest version that has it, older names become aliases.
func (g *Group) build(data []versionData, log func(string, ...any)) error {
	if g.Tagged {
		return nil
	}
	g.Values = map[uint32]*Value{}
	found := false
	for i, vd := range data {
		var rows []row
		for _, a := range g.Alts {
			rs, ok := vd.masks[a]
			isMask := ok
			if !ok {
				rs, ok = vd.tables[a]
			}
			if !ok {
				continue
			}
			if isMask && !g.Mask {
				return fmt.Errorf("%s: %s %q is a bit mask table; write mask: in tag-enums.txt", g.GoName, versions[i], a)
			}
			if g.Used[i] != "" {
				return fmt.Errorf("%s: %s has both %q and %q", g.GoName, versions[i], g.Used[i], a)
			}
			g.Used[i], rows = a, rs
		}
		if g.Used[i] == "" {
			continue
		}
		found = true
		where := versions[i] + " " + g.Used[i]
		for _, r := range rows {
			v, ok := usable(r, where, log)
			if !ok {
				continue
			}
			if g.Mask && (v == 0 || v&(v-1) != 0) {
				return fmt.Errorf("%s: %s is not a single bit", where, r.Value)
			}
			e := g.Values[v]
			if e == nil {
				e = &Value{V: v}
				g.Values[v] = e
			}
			name, as := names(r)
			if e.Name != "" && e.Name != name {
				log("%s %#x: %q, formerly %q", g.GoName, v, name, e.Name)
				as = append(as, e.Name)
			}
			e.Name = name
			e.Aliases = addAlias(e.Aliases, as...)
			e.Vers |= 1 << i
		}
	}
	if !found {
		return fmt.Errorf("%s: no version has a table named %s", g.GoName, strings.Join(g.Alts, " or "))
	}
	if g.Mask {
		isMask := false
		for i, vd := range data {
			if _, ok := vd.masks[g.Used[i]]; ok {
				isMask = true
			}
		}
		if !isMask {
			return fmt.Errorf("%s: mask: but no version lists %s under __bitmasks__", g.GoName, strings.Join(g.Alts, "|"))
		}
	}
	for _, e := range g.Values {
		e.Aliases = slices.DeleteFunc(e.Aliases, func(a string) bool { return a == e.Name })
	}
	return nil
}

// checkNames makes sure that every spelling names one value of the table.
func (g *Group) checkNames() error {
	byName := map[string]uint32{}
	for _, v := range SortedKeys(g.Values) {
		e := g.Values[v]
		if w, dup := byName[e.Name]; dup {
			return fmt.Errorf("%s: %q names both %#x and %#x", g.GoName, e.Name, w, v)
		}
		byName[e.Name] = v
	}
	for _, v := range SortedKeys(g.Values) {
		e := g.Values[v]
		slices.Sort(e.Aliases)
		for _, a := range e.Aliases {
			if w, dup := byName[a]; dup {
				// A name that moved to another value: EnumValue could
				// not tell which one is meant.
				return fmt.Errorf("%s: alias %q of %#x already names %#x", g.GoName, a, v, w)
			}
			byName[a] = v
		}
	}
	return nil
}

func loadExtraNames(path string, groups []*Group) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	for n, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || f[0][0] == '#' {
			continue
		}
		bad := func(format string, args ...any) error {
			return fmt.Errorf("%s:%d: %s", path, n+1, fmt.Sprintf(format, args...))
		}
		ver := -1
		switch {
		case f[0] == "alias" && len(f) >= 4:
			f = f[1:]
		case f[0] == "value" && len(f) >= 5:
			ver = slices.Index(versions, f[1])
			if ver < 0 {
				return bad("unknown version %q", f[1])
			}
			f = f[2:]
		default:
			return bad("want alias <value> <name> <table> or value <version> <value> <name> <table>")
		}
		v, err := parseHex(f[0])
		if err != nil {
			return bad("value %q: %v", f[0], err)
		}
		name := f[1]
		if !IsIdent(name) {
			return bad("%q is not a name", name)
		}
		table := strings.Join(f[2:], " ")
		var g *Group
		for _, h := range groups {
			if slices.Contains(h.Alts, table) {
				g = h
			}
		}
		if g == nil || g.Tagged {
			return bad("no enumeration table %q in tag-enums.txt", table)
		}
		if g.Mask && (v == 0 || v&(v-1) != 0) {
			return bad("%#x is not a single bit", v)
		}
		e := g.Values[v]
		if ver < 0 { // alias
			if e == nil {
				return bad("%s has no value %#x", table, v)
			}
			if name != e.Name {
				e.Aliases = addAlias(e.Aliases, name)
			}
			continue
		}
		if g.Used[ver] == "" {
			return bad("%s has no table %s", versions[ver], table)
		}
		if e == nil {
			e = &Value{V: v, Name: name}
			g.Values[v] = e
		}
		if e.Vers&(1<<ver) != 0 {
			return bad("%s %s already has %#x (%s)", versions[ver], table, v, e.Name)
		}
		if name != e.Name {
			if e.Vers>>ver != 0 { // a newer version names it
				e.Aliases = addAlias(e.Aliases, name)
			} else {
				e.Aliases = addAlias(e.Aliases, e.Name)
				e.Name = name
			}
		}
		e.Vers |= 1 << ver
	}
	return nil
}

func reportUnused(data []versionData, groups []*Group, log func(string, ...any)) {
	used := map[string]bool{"Tag": true, "Item Type": true}
	for _, g := range groups {
		for _, a := range g.Alts {
			used[a] = true
		}
	}
	for i, vd := range data {
		for _, m := range []map[string][]row{vd.tables, vd.masks} {
			for _, name := range SortedKeys(m) {
				if !used[name] {
					log("%s table %q (%d rows) is used by no tag", versions[i], name, len(m[name]))
				}
			}
		}
	}
	for _, g := range groups {
		if !g.Tagged && len(g.Values) == 0 {
			log("%s: table %s is empty", g.GoName, strings.Join(g.Alts, "|"))
		}
	}
}
