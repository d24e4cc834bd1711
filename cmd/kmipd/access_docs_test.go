package main

import (
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"
)

// Ensure that every YAML example of docs/operator.md's "Access control"
// section is a configuration kmipd accepts.
func TestAccess_DocExamplesLoad(t *testing.T) {
	data, err := os.ReadFile("../../docs/operator.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(data)
	start := strings.Index(doc, "\n## Access control\n")
	if start < 0 {
		t.Fatal("no Access control section")
	}
	sec := doc[start+1:]
	if end := strings.Index(sec[3:], "\n## "); end >= 0 {
		sec = sec[:end+3]
	}
	n := 0
	for _, block := range strings.Split(sec, "```yaml\n")[1:] {
		block = block[:strings.Index(block, "```")]
		c := defaultConfig()
		dec := yaml.NewDecoder(strings.NewReader(block))
		dec.KnownFields(true)
		if err := dec.Decode(c); err != nil {
			t.Errorf("example %d: %v\n%s", n+1, err, block)
			continue
		}
		if c.Access == nil {
			t.Errorf("example %d has no access section", n+1)
		} else if _, err := c.accessPolicy(); err != nil {
			t.Errorf("example %d: %v\n%s", n+1, err, block)
		}
		if err := c.validate(); err != nil {
			t.Errorf("example %d: %v", n+1, err)
		}
		n++
	}
	if n < 4 {
		t.Errorf("%d YAML examples, want the configuration and three worked examples", n)
	}
}
