package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/kmipd/kmipd/internal/conformance"
)

type conformanceReportOptions struct {
	claimed       string
	out           string
	updateClaimed bool
	reference     []string
	notes         []string
}

func newConformanceReportCmd() *cobra.Command {
	var o conformanceReportOptions
	cmd := &cobra.Command{
		Use:   "report --claimed FILE --out REPORT.md SET=RESULTS.json...",
		Short: "Summarise conformance results per profile and check the claimed set",
		Long: `report reads the --json files written by "conformance run", one per set
(SET names it, e.g. 2.1, 2.0-override, 1.4), and writes a Markdown report:
files passed per profile and set, and every failing file with the reason.

The claimed set (--claimed, one "SET FILE" per line, # comments) lists the
files that must pass. report exits non-zero when a claimed file failed or was
not run. --update-claimed adds every file that passed: the set only grows.
--reference NAME=RESULTS.json adds another server's results as a column.
SET=A.json,B.json merges runs: a file's result in B replaces its result in A
(files replayed against the server in another configuration); --note says
so in the report.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return runConformanceReport(cmd, &o, args) },
	}
	f := cmd.Flags()
	f.StringVar(&o.claimed, "claimed", "", "file listing the claimed set")
	f.StringVar(&o.out, "out", "", "Markdown report to write")
	f.BoolVar(&o.updateClaimed, "update-claimed", false, "add every passing file to the claimed set")
	f.StringArrayVar(&o.reference, "reference", nil, "NAME=RESULTS.json of another server, shown as a column")
	f.StringArrayVar(&o.notes, "note", nil, "a paragraph for the report's introduction (repeatable)")
	_ = cmd.MarkFlagRequired("claimed")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

type resultSet struct {
	name    string
	results map[string]conformance.FileResult // by file base name
}

func loadResults(arg string) (resultSet, error) {
	name, path, ok := strings.Cut(arg, "=")
	if !ok || name == "" {
		return resultSet{}, fmt.Errorf("%q: want SET=RESULTS.json", arg)
	}
	rs := resultSet{name: name, results: map[string]conformance.FileResult{}}
	for _, path := range strings.Split(path, ",") {
		data, err := os.ReadFile(path)
		if err != nil {
			return resultSet{}, err
		}
		var rep conformanceReport
		if err := json.Unmarshal(data, &rep); err != nil {
			return resultSet{}, fmt.Errorf("%s: %w", path, err)
		}
		for _, r := range rep.Results {
			rs.results[filepath.Base(r.File)] = r
		}
	}
	return rs, nil
}

// claim is one line of the claimed set.
type claim struct{ set, file string }

func readClaims(path string) ([]claim, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var cs []claim
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		set, file, ok := strings.Cut(line, " ")
		if !ok {
			return nil, fmt.Errorf("%s: bad line %q: want SET FILE", path, line)
		}
		cs = append(cs, claim{set, strings.TrimSpace(file)})
	}
	return cs, sc.Err()
}

var profileRE = regexp.MustCompile(`^(.*?)-([MO])-`)
var tcRE = regexp.MustCompile(`^(TC-[A-Z0-9-]*?)-\d`)
var uuidRE = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// profileOf names the profile or test-case group of a file:
// "BL-M-3-21.xml" → "BL (M)", "TC-SETATTR-2-20.xml" → "TC-SETATTR".
func profileOf(file string) string {
	base := strings.TrimSuffix(filepath.Base(file), ".xml")
	if m := profileRE.FindStringSubmatch(base); m != nil {
		return m[1] + " (" + m[2] + ")"
	}
	if m := tcRE.FindStringSubmatch(base); m != nil {
		return m[1]
	}
	return base
}

func runConformanceReport(cmd *cobra.Command, o *conformanceReportOptions, args []string) error {
	var sets []resultSet
	for _, a := range args {
		rs, err := loadResults(a)
		if err != nil {
			return err
		}
		sets = append(sets, rs)
	}
	var refs []resultSet
	for _, a := range o.reference {
		rs, err := loadResults(a)
		if err != nil {
			return err
		}
		refs = append(refs, rs)
	}
	claims, err := readClaims(o.claimed)
	if err != nil {
		return err
	}
	claimed := map[claim]bool{}
	for _, c := range claims {
		claimed[c] = true
	}
	var regressions []string
	for _, c := range claims {
		idx := slices.IndexFunc(sets, func(s resultSet) bool { return s.name == c.set })
		if idx < 0 {
			continue // that set was not run this time
		}
		r, ok := sets[idx].results[c.file]
		switch {
		case !ok:
			regressions = append(regressions, fmt.Sprintf("%s %s: not run", c.set, c.file))
		case !r.Passed:
			regressions = append(regressions, fmt.Sprintf("%s %s: %s", c.set, c.file, r.Failure))
		}
	}

	// The report counts the claimed set as it will be written.
	if o.updateClaimed {
		for _, s := range sets {
			for f, r := range s.results {
				if r.Passed && !claimed[claim{s.name, f}] {
					claims = append(claims, claim{s.name, f})
					claimed[claim{s.name, f}] = true
				}
			}
		}
		sort.Slice(claims, func(i, j int) bool {
			if claims[i].set != claims[j].set {
				return claims[i].set < claims[j].set
			}
			return claims[i].file < claims[j].file
		})
	}

	var b strings.Builder
	b.WriteString("# kmipd conformance report\n\n")
	b.WriteString("Generated by `make conformance`: the OASIS KMIP test-case files replayed by `kmipctl conformance run`\n")
	b.WriteString("against `kmipd serve --interop`. Sets: ")
	for i, s := range sets {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("`" + s.name + "`")
	}
	b.WriteString(". `2.0-override` replays the 2.1 profile files as KMIP 2.0 (`--version-override 2.0`).\n")
	b.WriteString("Claimed files (conformance/claimed.txt) must pass; the claimed set only grows.\n\n")
	for _, n := range o.notes {
		b.WriteString(n + "\n\n")
	}
	total, passed := 0, 0
	for _, s := range sets {
		for _, r := range s.results {
			total++
			if r.Passed {
				passed++
			}
		}
	}
	fmt.Fprintf(&b, "Overall: %d of %d files pass; %d files claimed; %d claimed files regressed.\n\n", passed, total, len(claims), len(regressions))
	for _, s := range sets {
		fmt.Fprintf(&b, "## Set %s\n\n", s.name)
		b.WriteString("| profile | kmipd passed/total |")
		for _, r := range refs {
			fmt.Fprintf(&b, " %s |", r.name)
		}
		b.WriteString("\n|---|---|")
		for range refs {
			b.WriteString("---|")
		}
		b.WriteString("\n")
		byProfile := map[string][]conformance.FileResult{}
		for _, r := range s.results {
			byProfile[profileOf(r.File)] = append(byProfile[profileOf(r.File)], r)
		}
		names := make([]string, 0, len(byProfile))
		for n := range byProfile {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			rs := byProfile[n]
			p := 0
			for _, r := range rs {
				if r.Passed {
					p++
				}
			}
			fmt.Fprintf(&b, "| %s | %d/%d |", n, p, len(rs))
			for _, ref := range refs {
				rp, rt := 0, 0
				for _, r := range rs {
					if rr, ok := ref.results[filepath.Base(r.File)]; ok && ref.name != "" {
						rt++
						if rr.Passed {
							rp++
						}
					}
				}
				if rt == 0 {
					b.WriteString(" – |")
				} else {
					fmt.Fprintf(&b, " %d/%d |", rp, rt)
				}
			}
			b.WriteString("\n")
		}
		b.WriteString("\n")
		var failing []conformance.FileResult
		for _, r := range s.results {
			if !r.Passed {
				failing = append(failing, r)
			}
		}
		sort.Slice(failing, func(i, j int) bool { return filepath.Base(failing[i].File) < filepath.Base(failing[j].File) })
		if len(failing) > 0 {
			fmt.Fprintf(&b, "<details><summary>%d files not passing in set %s, and why</summary>\n\n", len(failing), s.name)
			for _, r := range failing {
				fmt.Fprintf(&b, "- `%s`: %s\n", filepath.Base(r.File), oneLine(r.Failure))
			}
			b.WriteString("\n</details>\n\n")
		}
	}
	if len(regressions) > 0 {
		b.WriteString("## Regressions in the claimed set\n\n")
		for _, r := range regressions {
			fmt.Fprintf(&b, "- %s\n", r)
		}
	}
	if err := os.WriteFile(o.out, []byte(b.String()), 0o644); err != nil {
		return err
	}
	if o.updateClaimed {
		var cb strings.Builder
		cb.WriteString("# Conformance files kmipd claims: each must pass in `make conformance`.\n# Format: SET FILE. The set only grows (kmipctl conformance report --update-claimed).\n")
		for _, c := range claims {
			fmt.Fprintf(&cb, "%s %s\n", c.set, c.file)
		}
		if err := os.WriteFile(o.claimed, []byte(cb.String()), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(cmd.OutOrStdout(), "conformance: %d of %d files pass; claimed %d, regressions %d; report in %s\n",
		passed, total, len(claims), len(regressions), o.out)
	if len(regressions) > 0 {
		for _, r := range regressions {
			fmt.Fprintln(cmd.ErrOrStderr(), "regression:", r)
		}
		return fmt.Errorf("%d claimed conformance files regressed", len(regressions))
	}
	return nil
}

func oneLine(f *conformance.Failure) string {
	if f == nil {
		return "failed"
	}
	s := f.String()
	// Identifiers the server made differ on every run; the report should not.
	s = uuidRE.ReplaceAllString(s, "<uuid>")
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "|", "\\|")
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}
