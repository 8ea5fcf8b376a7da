package systemd_test

import (
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"gopkg.in/yaml.v3"
)

const (
	rulesFile     = "s3cached.rules.yml"
	rulesTestFile = "s3cached.rules.test.yml"
	dashboardFile = "s3cached.dashboard.json"
)

// promtool returns the path of promtool (see tool).
func promtool(t *testing.T) string { return tool(t, "promtool", "prometheus") }

func runPromtool(t *testing.T, args ...string) {
	t.Helper()
	out, err := exec.Command(promtool(t), args...).CombinedOutput()
	if err != nil {
		t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// TestAlertRules checks the rules' syntax and runs their unit tests: each alert fires
// when it should and not before, with the labels and text an operator gets.
func TestAlertRules(t *testing.T) {
	runPromtool(t, "check", "rules", rulesFile)
	runPromtool(t, "test", "rules", rulesTestFile)
}

type rules struct {
	Groups []struct {
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

type dashboard struct {
	UID    string `json:"uid"`
	Panels []struct {
		ID         int    `json:"id"`
		Title      string `json:"title"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
		Targets []struct {
			RefID string `json:"refId"`
			Expr  string `json:"expr"`
		} `json:"targets"`
	} `json:"panels"`
}

// grafanaVars replaces the dashboard's variables with values PromQL accepts.
var grafanaVars = strings.NewReplacer("$__rate_interval", "5m", "$instance", ".*")

// alertExprs returns the rules' expressions by alert name.
func alertExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(rulesFile)
	if err != nil {
		t.Fatal(err)
	}
	var r rules
	if err := yaml.Unmarshal(b, &r); err != nil {
		t.Fatalf("%s: %v", rulesFile, err)
	}
	out := map[string]string{}
	for _, g := range r.Groups {
		for _, rule := range g.Rules {
			out[rule.Alert] = rule.Expr
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: no rules", rulesFile)
	}
	return out
}

// dashboardExprs returns the dashboard's queries, variables replaced, by panel and
// query ("panel 3 A").
func dashboardExprs(t *testing.T) map[string]string {
	t.Helper()
	b, err := os.ReadFile(dashboardFile)
	if err != nil {
		t.Fatal(err)
	}
	var d dashboard
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("%s: %v", dashboardFile, err)
	}
	out := map[string]string{}
	ids := map[int]bool{}
	for _, p := range d.Panels {
		if ids[p.ID] || len(p.Targets) == 0 || p.Datasource.UID != "${datasource}" {
			t.Errorf("%s: panel %d %q: want a unique id, queries and the ${datasource} variable", dashboardFile, p.ID, p.Title)
		}
		ids[p.ID] = true
		for _, q := range p.Targets {
			out[fmt.Sprintf("panel %d %s", p.ID, q.RefID)] = grafanaVars.Replace(q.Expr)
		}
	}
	return out
}

// TestDashboard_QueriesParse runs every dashboard query through promtool's parser, as
// recording rules.
func TestDashboard_QueriesParse(t *testing.T) {
	exprs := dashboardExprs(t)
	var b strings.Builder
	b.WriteString("groups:\n  - name: dashboard\n    rules:\n")
	for _, k := range slices.Sorted(maps.Keys(exprs)) {
		fmt.Fprintf(&b, "      - record: dashboard:%s\n        expr: %s\n", strings.ReplaceAll(k, " ", "_"), strconv.Quote(exprs[k]))
	}
	f := filepath.Join(t.TempDir(), "dashboard.rules.yml")
	if err := os.WriteFile(f, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	runPromtool(t, "check", "rules", f)
}

// metricName matches the metric names the rules and the dashboard may use: the daemon's,
// the Go client's process and runtime metrics, and Prometheus's own up.
var metricName = regexp.MustCompile(`\b(s3cache_[a-z0-9_]+|process_[a-z0-9_]+|go_[a-z0-9_]+|up)\b`)

// TestMonitoring_NamesExportedMetrics checks that every metric the alert rules and the
// dashboard name is one s3cached exports, and that the dashboard shows every metric of
// the daemon's: a renamed metric breaks neither silently.
func TestMonitoring_NamesExportedMetrics(t *testing.T) {
	exported := exportedMetrics(t)
	used := map[string]bool{}
	check := func(where, expr string) {
		for _, n := range metricName.FindAllString(expr, -1) {
			used[n] = true
			if !exported[n] {
				t.Errorf("%s names %s, which s3cached does not export", where, n)
			}
		}
	}
	for name, e := range alertExprs(t) {
		check(rulesFile+" alert "+name, e)
	}
	shown := map[string]bool{}
	for where, e := range dashboardExprs(t) {
		check(dashboardFile+" "+where, e)
		for _, n := range metricName.FindAllString(e, -1) {
			shown[strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(n, "_bucket"), "_sum"), "_count")] = true
		}
	}
	for _, n := range daemonMetrics(t) {
		if !shown[n] {
			t.Errorf("%s shows no panel for %s", dashboardFile, n)
		}
	}
}

// daemonMetricKinds reads the metric names from internal/metrics, where they are
// declared, with whether each is a histogram.
func daemonMetricKinds(t *testing.T) map[string]bool {
	t.Helper()
	src := filepath.Join("..", "internal", "metrics", "metrics.go")
	f, err := parser.ParseFile(token.NewFileSet(), src, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]bool{}
	ast.Inspect(f, func(n ast.Node) bool {
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok || !strings.HasPrefix(sel.Sel.Name, "New") || len(call.Args) == 0 {
			return true
		}
		opts, ok := call.Args[0].(*ast.CompositeLit)
		if !ok {
			return true
		}
		for _, e := range opts.Elts {
			kv, ok := e.(*ast.KeyValueExpr)
			if id, isID := kv.Key.(*ast.Ident); !ok || !isID || id.Name != "Name" {
				continue
			}
			if lit, ok := kv.Value.(*ast.BasicLit); ok {
				name, _ := strconv.Unquote(lit.Value)
				out[name] = strings.HasPrefix(sel.Sel.Name, "NewHistogram")
			}
		}
		return true
	})
	if len(out) < 10 {
		t.Fatalf("%s: found only %d metric names: %v", src, len(out), out)
	}
	return out
}

// daemonMetrics is the daemon's metric names, sorted.
func daemonMetrics(t *testing.T) []string {
	return slices.Sorted(maps.Keys(daemonMetricKinds(t)))
}

// exportedMetrics is every series name a scrape of s3cached may return: the daemon's
// metrics (a histogram as _bucket, _sum and _count), the Go client's default process and
// runtime collectors, and up, which Prometheus adds.
func exportedMetrics(t *testing.T) map[string]bool {
	t.Helper()
	out := map[string]bool{"up": true}
	for n, histogram := range daemonMetricKinds(t) {
		if histogram {
			out[n+"_bucket"], out[n+"_sum"], out[n+"_count"] = true, true, true
			continue
		}
		out[n] = true
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		out[f.GetName()] = true
	}
	return out
}
