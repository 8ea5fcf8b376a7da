package cfn_test

import (
	"bufio"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/s3cache/s3cache/internal/config"
)

var update = flag.Bool("update", false, "rewrite testdata/outputs.golden")

// sentinelToken is the AUTH token the scenarios pass; it must appear in no output.
const sentinelToken = "SENTINEL-auth-token-0123456789"

// authPlaceholder is what the EnvFile output has where the token goes.
const authPlaceholder = "REPLACE_WITH_AUTH_TOKEN"

var scenarios = []struct {
	name    string
	params  map[string]string
	cluster bool
}{
	{
		name:   "ec2 host, cluster mode disabled (defaults)",
		params: map[string]string{"RedisAuthToken": sentinelToken},
	},
	{
		name: "cloud9 host, cluster mode enabled, key filters, versioning",
		params: map[string]string{
			"RedisAuthToken":   sentinelToken,
			"HostType":         "cloud9",
			"RedisClusterMode": "enabled",
			"NumNodeGroups":    "3",
			"KeyPrefixes":      "photos/,docs/",
			"KeySuffixes":      ".jpg,.txt",
			"BucketVersioning": "true",
		},
		cluster: true,
	},
}

// TestTemplate_Outputs evaluates the outputs for each scenario, with made-up values for
// what AWS returns, and compares them with testdata/outputs.golden (go test -update
// rewrites it).
func TestTemplate_Outputs(t *testing.T) {
	rt := loadRaw(t)
	var b strings.Builder
	b.WriteString("# Outputs of cfn/template.yaml, evaluated by cfn/outputs_test.go with made-up values\n")
	b.WriteString("# for what AWS returns (account 123456789012, us-east-1, stack s3cache).\n")
	for _, sc := range scenarios {
		outs, err := newStack(t, rt, sc.params).outputs()
		if err != nil {
			t.Fatalf("%s: %v", sc.name, err)
		}
		fmt.Fprintf(&b, "\n=== %s\n", sc.name)
		for _, k := range slices.Sorted(maps.Keys(outs)) {
			v := outs[k]
			if strings.Contains(v, sentinelToken) {
				t.Errorf("%s: output %s contains the AUTH token", sc.name, k)
			}
			if strings.Contains(v, "\n") {
				fmt.Fprintf(&b, "%s:\n", k)
				for _, line := range strings.Split(strings.TrimSuffix(v, "\n"), "\n") {
					fmt.Fprintf(&b, "  | %s\n", line)
				}
			} else {
				fmt.Fprintf(&b, "%s: %s\n", k, v)
			}
		}
	}
	got := b.String()
	golden := filepath.Join("testdata", "outputs.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./cfn/ -run TestTemplate_Outputs -update)", err)
	}
	if got != string(want) {
		t.Errorf("outputs differ from %s (run with -update if the change is intended):\n--- got\n%s\n--- want\n%s", golden, got, want)
	}
}

// TestTemplate_RequiredOutputs checks that the outputs users need exist in every scenario.
func TestTemplate_RequiredOutputs(t *testing.T) {
	rt := loadRaw(t)
	for _, sc := range scenarios {
		outs, err := newStack(t, rt, sc.params).outputs()
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"BucketName", "QueueUrl", "DeadLetterQueueUrl", "RedisEndpoint", "RedisPort", "EnvFile"} {
			if outs[k] == "" {
				t.Errorf("%s: output %s missing or empty", sc.name, k)
			}
		}
	}
}

// TestTemplate_OutputsNeverReferToAuthToken checks that no output can echo the token.
func TestTemplate_OutputsNeverReferToAuthToken(t *testing.T) {
	rt := loadRaw(t)
	for name, o := range rt.Outputs {
		for _, r := range references(o["Value"], "Outputs/"+name) {
			if r.Target == "RedisAuthToken" {
				t.Errorf("%s: refers to RedisAuthToken", r.Path)
			}
		}
	}
}

// parseEnvFile reads VAR=value lines; comments and blank lines are skipped.
func parseEnvFile(t *testing.T, s string) map[string]string {
	t.Helper()
	vars := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			t.Fatalf("env file line %q: not VAR=value", line)
		}
		if strings.ContainsAny(v, `"'\`) || strings.TrimSpace(v) != v {
			t.Errorf("env file line %q: quotes, backslashes or padding would be interpreted by systemd", line)
		}
		vars[k] = v
	}
	return vars
}

// TestTemplate_EnvFileIsValidConfig checks that the EnvFile output, with the token filled
// in, is a configuration s3cached accepts, pointing at the stack's queue, bucket and Redis.
func TestTemplate_EnvFileIsValidConfig(t *testing.T) {
	rt := loadRaw(t)
	known := configVarNames(t)
	const token = "Abcdef-0123456789!&$"
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			outs, err := newStack(t, rt, sc.params).outputs()
			if err != nil {
				t.Fatal(err)
			}
			env := outs["EnvFile"]
			if strings.Count(env, authPlaceholder) != 1 {
				t.Fatalf("EnvFile: want the placeholder %s once:\n%s", authPlaceholder, env)
			}
			vars := parseEnvFile(t, strings.Replace(env, authPlaceholder, token, 1))
			for k := range vars {
				if !known[k] && k != "AWS_REGION" {
					t.Errorf("EnvFile sets %s, which s3cached does not read", k)
				}
			}
			checks := map[string]string{
				"AWS_REGION":            testRegion,
				"S3CACHE_QUEUE_URL":     outs["QueueUrl"],
				"S3CACHE_BUCKET":        outs["BucketName"],
				"S3CACHE_REDIS_URL":     fmt.Sprintf("rediss://:%s@%s:%s/0", token, outs["RedisEndpoint"], outs["RedisPort"]),
				"S3CACHE_REDIS_CLUSTER": fmt.Sprint(sc.cluster),
			}
			if p := sc.params["KeyPrefixes"]; p != "" {
				checks["S3CACHE_KEY_PREFIXES"] = p
			}
			if s := sc.params["KeySuffixes"]; s != "" {
				checks["S3CACHE_KEY_SUFFIXES"] = s
			}
			for k, want := range checks {
				if got := vars[k]; got != want {
					t.Errorf("EnvFile %s: got %q, want %q", k, got, want)
				}
			}
			if sc.cluster != strings.HasPrefix(outs["RedisEndpoint"], "clustercfg.") {
				t.Errorf("RedisEndpoint %s: want the configuration endpoint exactly when cluster mode is enabled", outs["RedisEndpoint"])
			}

			// s3cached's own configuration loader accepts it.
			for k := range known {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
			for k, v := range vars {
				t.Setenv(k, v)
			}
			cfg, err := config.Load()
			if err != nil {
				t.Fatalf("config.Load with the EnvFile: %v", err)
			}
			if err := cfg.RequireQueue(); err != nil {
				t.Error(err)
			}
			if err := cfg.RequireBucket(); err != nil {
				t.Error(err)
			}
			if cfg.RedisCluster != sc.cluster {
				t.Errorf("RedisCluster: got %v, want %v", cfg.RedisCluster, sc.cluster)
			}
		})
	}
}
