package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kmipd/kmipd/internal/conformance"
)

// writeResults writes a `conformance run --json` file with the given results.
func writeResults(t *testing.T, dir, name string, results ...conformance.FileResult) string {
	t.Helper()
	data, err := json.Marshal(conformanceReport{Results: results})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runReportCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := newRootCmd()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"conformance", "report"}, args...))
	err := root.Execute()
	return out.String(), err
}

// The report counts passes and claims, is stable across runs (server-made
// identifiers are masked), grows the claimed set on request and fails when
// a claimed file regresses.
func TestConformanceReport(t *testing.T) {
	dir := t.TempDir()
	fail := &conformance.Failure{Step: 5, Operation: "Get", Path: "ResponseMessage/BatchItem[0]/ResponsePayload/UniqueIdentifier",
		Reason: `differs from $UNIQUE_IDENTIFIER_1 bound earlier to "5cb99597-1c10-469c-ae75-602ccc045922"`}
	res := writeResults(t, dir, "a.json",
		conformance.FileResult{File: "/x/BL-M-1-21.xml", Passed: true, Steps: 3},
		conformance.FileResult{File: "/x/TC-SJ-4-14.xml", Failure: fail})
	claimed := filepath.Join(dir, "claimed.txt")
	report := filepath.Join(dir, "REPORT.md")

	out, err := runReportCmd(t, "--claimed", claimed, "--out", report, "--update-claimed", "s="+res)
	if err != nil {
		t.Fatalf("report: %v\n%s", err, out)
	}
	md, _ := os.ReadFile(report)
	for _, want := range []string{"Overall: 1 of 2 files pass; 1 files claimed; 0 claimed files regressed.", "| BL (M) | 1/1 |", "<uuid>"} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(string(md), "5cb99597") {
		t.Error("report keeps a server-made identifier")
	}
	cl, _ := os.ReadFile(claimed)
	if !strings.Contains(string(cl), "\ns BL-M-1-21.xml\n") || strings.Contains(string(cl), "TC-SJ") {
		t.Errorf("claimed set:\n%s", cl)
	}

	// A later run of one file, in another configuration, replaces its result.
	res3 := writeResults(t, dir, "c.json", conformance.FileResult{File: "/y/TC-SJ-4-14.xml", Passed: true, Steps: 9})
	if out, err := runReportCmd(t, "--claimed", claimed, "--out", report, "--note", "TC-SJ-4 ran elsewhere.", "s="+res+","+res3); err != nil {
		t.Fatalf("merged report: %v\n%s", err, out)
	}
	md, _ = os.ReadFile(report)
	if !strings.Contains(string(md), "Overall: 2 of 2 files pass;") || !strings.Contains(string(md), "\nTC-SJ-4 ran elsewhere.\n") {
		t.Errorf("merged report:\n%s", md)
	}

	// BL-M-1 now fails: a regression of the claimed set.
	res2 := writeResults(t, dir, "b.json", conformance.FileResult{File: "/x/BL-M-1-21.xml", Failure: fail})
	out, err = runReportCmd(t, "--claimed", claimed, "--out", report, "s="+res2)
	if err == nil || !strings.Contains(out, "regression: s BL-M-1-21.xml") {
		t.Fatalf("regression not reported: %v\n%s", err, out)
	}
}
