package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// The Grafana dashboard and the Prometheus alert rules shipped in
// testdata/packaging, checked against a real kmipd: every metric their
// PromQL names must be on its /metrics.
const (
	packagingDashboard = "grafana-kmipd.json"
	packagingAlerts    = "kmipd-alerts.yml"
)

// prometheusMetrics are series Prometheus makes itself when it scrapes,
// never on a target's /metrics.
var prometheusMetrics = []string{"up"}

var (
	promqlString    = regexp.MustCompile(`"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|` + "`[^`]*`")
	promqlNameLabel = regexp.MustCompile(`__name__\s*=\s*"([^"]+)"`)
	promqlMatchers  = regexp.MustCompile(`\{[^}]*\}`)
	promqlRange     = regexp.MustCompile(`\[[^\]]*\]`)
	promqlGrouping  = regexp.MustCompile(`\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)`)
	promqlVariable  = regexp.MustCompile(`\$\{?\w+\}?`)
	promqlIdent     = regexp.MustCompile(`[a-zA-Z_:][a-zA-Z0-9_:]*`)
)

// promqlKeywords are identifiers that are neither metrics nor functions
// (function names are recognised by the parenthesis that follows them).
var promqlKeywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "offset": true, "atan2": true,
	"by": true, "without": true, "on": true, "ignoring": true, "group_left": true, "group_right": true,
	"inf": true, "nan": true, "Inf": true, "NaN": true,
}

// promqlMetricNames returns the metric names a PromQL expression selects,
// sorted and unique: identifiers outside strings, label matchers, ranges
// and grouping clauses that are not keywords, numbers or durations, and not
// followed by "(" (functions and aggregations); plus __name__ matchers.
// Grafana variables ($job, $__rate_interval) are dropped.
func promqlMetricNames(expr string) []string {
	set := map[string]bool{}
	for _, m := range promqlNameLabel.FindAllStringSubmatch(expr, -1) {
		set[m[1]] = true
	}
	s := promqlString.ReplaceAllString(expr, `""`)
	s = promqlMatchers.ReplaceAllString(s, " ")
	s = promqlRange.ReplaceAllString(s, " ")
	s = promqlGrouping.ReplaceAllString(s, " ")
	s = promqlVariable.ReplaceAllString(s, " ")
	for _, loc := range promqlIdent.FindAllStringIndex(s, -1) {
		name := s[loc[0]:loc[1]]
		if loc[0] > 0 {
			if c := s[loc[0]-1]; c >= '0' && c <= '9' || c == '.' {
				continue // the unit of a number or duration: 1e-9, 5m
			}
		}
		if promqlKeywords[name] || strings.HasPrefix(strings.TrimLeft(s[loc[1]:], " \t\n"), "(") {
			continue
		}
		set[name] = true
	}
	var names []string
	for n := range set {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func TestDashboards_PromQLMetricNames(t *testing.T) {
	for _, c := range []struct {
		expr string
		want []string
	}{
		{`sum by (operation, status) (rate(kmipd_requests_total{job=~"$job",status!="Success"}[$__rate_interval]))`, []string{"kmipd_requests_total"}},
		{`histogram_quantile(0.99, sum by (le, operation) (rate(x_seconds_bucket{a="b"}[5m])))`, []string{"x_seconds_bucket"}},
		{`sum(rate(a_sum[1m])) / sum(rate(a_count[1m]))`, []string{"a_count", "a_sum"}},
		{"a / on(instance) group_left(version) b offset 5m > 1e-9", []string{"a", "b"}},
		{`min_over_time(m[5m:1m]) > bool 0 unless c`, []string{"c", "m"}},
		{`predict_linear(free[6h], 24 * 3600) < 0`, []string{"free"}},
		{`up{job="kmipd"} == 0`, []string{"up"}},
		{`expiry - time() < 21 * 86400`, []string{"expiry"}},
		{`sum without (instance) (increase(y{reason="certificate_expired"}[10m])) and z`, []string{"y", "z"}},
		{`{__name__="by_name", job="j"}`, []string{"by_name"}},
		{`label_replace(v, "dst", "$1", "src", "(.*)")`, []string{"v"}},
		{`count(sum by (x) (w))`, []string{"w"}},
	} {
		if got := promqlMetricNames(c.expr); !slices.Equal(got, c.want) {
			t.Errorf("promqlMetricNames(%q) = %q, want %q", c.expr, got, c.want)
		}
	}
}

// dashboardExprs returns the PromQL of a Grafana dashboard: every target's
// expr (panels and rows' panels) and the metric selector of the template
// variables' label_values(...) queries.
func dashboardExprs(t *testing.T, data []byte) map[string][]string {
	t.Helper()
	var dash struct {
		Panels     []json.RawMessage `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &dash); err != nil {
		t.Fatalf("%s: %v", packagingDashboard, err)
	}
	exprs := map[string][]string{} // where → expressions
	type panel struct {
		ID      int               `json:"id"`
		Title   string            `json:"title"`
		Type    string            `json:"type"`
		Panels  []json.RawMessage `json:"panels"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	}
	ids := map[int]bool{}
	var walk func([]json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatalf("%s: panel: %v", packagingDashboard, err)
			}
			if ids[p.ID] {
				t.Errorf("%s: panel id %d twice", packagingDashboard, p.ID)
			}
			ids[p.ID] = true
			if p.Type != "row" && len(p.Targets) == 0 {
				t.Errorf("%s: panel %q has no query", packagingDashboard, p.Title)
			}
			for _, tg := range p.Targets {
				if tg.RefID == "" || strings.TrimSpace(tg.Expr) == "" {
					t.Errorf("%s: panel %q: a target without refId or expr", packagingDashboard, p.Title)
				}
				where := fmt.Sprintf("panel %q %s", p.Title, tg.RefID)
				exprs[where] = append(exprs[where], tg.Expr)
			}
			walk(p.Panels)
		}
	}
	walk(dash.Panels)
	labelValues := regexp.MustCompile(`^label_values\((.*),\s*[a-zA-Z_]\w*\s*\)$`)
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(string)
		if m, ok := v.Query.(map[string]any); ok {
			q, _ = m["query"].(string)
		}
		m := labelValues.FindStringSubmatch(strings.TrimSpace(q))
		if m == nil {
			t.Errorf("%s: variable %s: query %q is not label_values(METRIC, LABEL)", packagingDashboard, v.Name, q)
			continue
		}
		exprs["variable "+v.Name] = []string{m[1]}
	}
	if len(exprs) < 10 {
		t.Fatalf("%s: only %d queries found", packagingDashboard, len(exprs))
	}
	return exprs
}

// alertRules is the layout of a Prometheus rule file.
type alertRules struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Alert         string            `yaml:"alert"`
			Record        string            `yaml:"record"`
			Expr          string            `yaml:"expr"`
			For           string            `yaml:"for"`
			KeepFiringFor string            `yaml:"keep_firing_for"`
			Labels        map[string]string `yaml:"labels"`
			Annotations   map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// markdownAnchors returns the GitHub anchors of the headings of a
// Markdown document.
func markdownAnchors(doc []byte) map[string]bool {
	anchors := map[string]bool{}
	inCode := false
	sc := bufio.NewScanner(bytes.NewReader(doc))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "```") {
			inCode = !inCode
		}
		if inCode || !strings.HasPrefix(line, "#") {
			continue
		}
		var b strings.Builder
		for _, r := range strings.ToLower(strings.TrimSpace(strings.TrimLeft(line, "#"))) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
				b.WriteRune(r)
			}
		}
		anchors[b.String()] = true
	}
	return anchors
}

// alertExprs validates the rule file's structure and returns its
// expressions by alert.
func alertExprs(t *testing.T, data []byte) map[string][]string {
	t.Helper()
	var rf alertRules
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("%s: %v", packagingAlerts, err)
	}
	doc, err := os.ReadFile("../../docs/operator.md")
	if err != nil {
		t.Fatal(err)
	}
	anchors := markdownAnchors(doc)
	duration := regexp.MustCompile(`^([0-9]+(ms|s|m|h|d|w|y))+$`)
	alertName := regexp.MustCompile(`^Kmipd[A-Z][A-Za-z0-9]*$`)
	exprs := map[string][]string{}
	groups := map[string]bool{}
	if len(rf.Groups) == 0 {
		t.Fatalf("%s: no groups", packagingAlerts)
	}
	for _, g := range rf.Groups {
		if g.Name == "" || groups[g.Name] {
			t.Errorf("%s: group name %q empty or repeated", packagingAlerts, g.Name)
		}
		groups[g.Name] = true
		if g.Interval != "" && !duration.MatchString(g.Interval) {
			t.Errorf("%s: group %s: interval %q", packagingAlerts, g.Name, g.Interval)
		}
		if len(g.Rules) == 0 {
			t.Errorf("%s: group %s has no rules", packagingAlerts, g.Name)
		}
		for i, r := range g.Rules {
			where := fmt.Sprintf("group %s rule %d (%s)", g.Name, i, r.Alert)
			switch {
			case r.Record != "":
				t.Errorf("%s: %s: recording rules are not expected here", packagingAlerts, where)
			case !alertName.MatchString(r.Alert):
				t.Errorf("%s: %s: alert name %q is not KmipdCamelCase", packagingAlerts, where, r.Alert)
			case exprs[r.Alert] != nil:
				t.Errorf("%s: alert %s twice", packagingAlerts, r.Alert)
			}
			if strings.TrimSpace(r.Expr) == "" {
				t.Errorf("%s: %s: no expr", packagingAlerts, where)
			}
			for _, d := range []string{r.For, r.KeepFiringFor} {
				if d != "" && !duration.MatchString(d) {
					t.Errorf("%s: %s: %q is no Prometheus duration", packagingAlerts, where, d)
				}
			}
			if s := r.Labels["severity"]; s != "critical" && s != "warning" {
				t.Errorf("%s: %s: severity %q, want critical or warning", packagingAlerts, where, s)
			}
			for _, a := range []string{"summary", "description", "runbook"} {
				if strings.TrimSpace(r.Annotations[a]) == "" {
					t.Errorf("%s: %s: no %s annotation", packagingAlerts, where, a)
				}
			}
			if rb := r.Annotations["runbook"]; rb != "" {
				doc, anchor, _ := strings.Cut(rb, "#")
				if doc != "docs/operator.md" || !anchors[anchor] {
					t.Errorf("%s: %s: runbook %q is no section of docs/operator.md", packagingAlerts, where, rb)
				}
			}
			exprs["alert "+r.Alert] = append(exprs["alert "+r.Alert], r.Expr)
		}
	}
	return exprs
}

func TestDashboards_AlertRulesPromtool(t *testing.T) {
	alertExprs(t, readPackagingFile(t, packagingAlerts))
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (Debian: apt-get install prometheus); the rules' structure is checked without it")
	}
	out, err := exec.Command(promtool, "check", "rules", filepath.Join(packagingDir, packagingAlerts)).CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check rules: %v\n%s", err, out)
	}
}

// scrapedMetrics returns the names of the samples of a Prometheus text
// exposition (a histogram's are NAME_bucket, NAME_sum and NAME_count) and
// the declared type of each family.
func scrapedMetrics(body string) (samples map[string]bool, types map[string]string) {
	samples, types = map[string]bool{}, map[string]string{}
	for _, line := range strings.Split(body, "\n") {
		if f := strings.Fields(line); len(f) == 4 && f[0] == "#" && f[1] == "TYPE" {
			types[f[2]] = f[3]
			continue
		}
		if line == "" || line[0] == '#' {
			continue
		}
		if i := strings.IndexAny(line, "{ "); i > 0 {
			samples[line[:i]] = true
		}
	}
	return samples, types
}

// A real kmipd, after a little traffic (successes, a failure, a failed
// handshake), exports every metric the dashboard and the alert rules use;
// and the dashboard shows every kmipd metric it exports.
func TestDashboards_MetricsExist(t *testing.T) {
	queries := dashboardExprs(t, readPackagingFile(t, packagingDashboard))
	for k, v := range alertExprs(t, readPackagingFile(t, packagingAlerts)) {
		queries[k] = v
	}

	dir := initDir(t)
	admin := freePort(t)
	p := startServer(t, dir, nil, "--addr", "127.0.0.1:0", "--admin-addr", admin)
	defer p.stop(t)
	c := dialKMIP(t, dir, p.addr)
	if _, err := createKey(c, "dashboards"); err != nil {
		t.Fatal(err)
	}
	if _, err := getKey(c, "no-such-key"); !isKMIPError(err) {
		t.Fatalf("get unknown: %v", err)
	}
	c.Close()
	if conn, err := net.Dial("tcp", p.addr); err == nil { // not TLS: a failed handshake
		conn.Write([]byte("GET / HTTP/1.0\r\n\r\n"))
		conn.Read(make([]byte, 1))
		conn.Close()
	}
	var samples map[string]bool
	var types map[string]string
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, body := adminGet(t, admin, "/metrics")
		samples, types = scrapedMetrics(body)
		if samples["kmipd_tls_handshake_failures_total"] || time.Now().After(deadline) {
			break
		}
	}

	used := map[string]bool{}
	var wheres []string
	for w := range queries {
		wheres = append(wheres, w)
	}
	sort.Strings(wheres)
	for _, where := range wheres {
		for _, expr := range queries[where] {
			names := promqlMetricNames(expr)
			if len(names) == 0 {
				t.Errorf("%s: no metric in %q", where, expr)
			}
			for _, n := range names {
				used[n] = true
				switch {
				case samples[n], slices.Contains(prometheusMetrics, n):
				case types[n] == "histogram":
					t.Errorf("%s: %s is a histogram: select %s_bucket, _sum or _count (in %q)", where, n, n, expr)
				default:
					t.Errorf("%s: metric %s is not on kmipd's /metrics (in %q)", where, n, expr)
				}
			}
		}
	}
	for fam, typ := range types {
		if !strings.HasPrefix(fam, "kmipd_") {
			continue
		}
		shown := used[fam] || typ == "histogram" && (used[fam+"_bucket"] || used[fam+"_count"])
		if !shown {
			t.Errorf("kmipd exports %s but %s does not show it", fam, packagingDashboard)
		}
	}
	if t.Failed() {
		var all []string
		for n := range samples {
			all = append(all, n)
		}
		sort.Strings(all)
		t.Logf("metrics on /metrics: %s", strings.Join(all, " "))
	}
}
