package cfn_test

import (
	"bufio"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/s3cache/s3cache/internal/config"
)

var update = flag.Bool("update", false, "rewrite testdata/outputs.golden")

var scenarios = []struct {
	name    string
	params  map[string]string
	cluster bool
}{
	{
		name:   "ec2 host, cluster mode disabled (defaults)",
		params: map[string]string{},
	},
	{
		name: "cloud9 host, cluster mode enabled, key filters, no versioning, no CLI role",
		params: map[string]string{
			"HostType":         "cloud9",
			"RedisClusterMode": "enabled",
			"NumNodeGroups":    "3",
			"KeyPrefixes":      "photos/,docs/",
			"KeySuffixes":      ".jpg,.txt",
			"BucketVersioning": "false",
			"CliWriteAccess":   "false",
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

// TestTemplate_SecretsStayInSecretsManager checks that a password is resolved only where
// ElastiCache takes it (a user's Passwords), never into an output, the user data or a
// tag, which anyone who may describe the stack or the instance can read; and that no
// parameter carries a secret.
func TestTemplate_SecretsStayInSecretsManager(t *testing.T) {
	rt := loadRaw(t)
	var walk func(v any, path string)
	walk = func(v any, path string) {
		switch v := v.(type) {
		case string:
			if strings.Contains(v, "{{resolve:") && !regexp.MustCompile(`^Resources/Redis\w*User/Passwords/`).MatchString(path) {
				t.Errorf("%s: resolves a secret (%s); only an ElastiCache user's Passwords may", path, v)
			}
		case map[string]any:
			for k, e := range v {
				walk(e, path+"/"+k)
			}
		case []any:
			for i, e := range v {
				walk(e, fmt.Sprintf("%s/%d", path, i))
			}
		}
	}
	for name, r := range rt.Resources {
		walk(r.Properties, "Resources/"+name)
	}
	for name, o := range rt.Outputs {
		walk(o["Value"], "Outputs/"+name)
	}
	for name, p := range rt.Parameters {
		if p["NoEcho"] == true {
			t.Errorf("parameter %s is NoEcho: secrets are generated in Secrets Manager, not typed", name)
		}
	}
	resolved := 0
	for _, name := range resourcesOfType(rt, "AWS::ElastiCache::User") {
		for _, pw := range strList(rt.Resources[name].Properties["Passwords"]) {
			resolved++
			if !strings.HasSuffix(pw, ":SecretString:password}}") {
				t.Errorf("%s Passwords: %s, want a dynamic reference to a secret's password", name, pw)
			}
		}
	}
	if resolved != 2 {
		t.Errorf("users with a resolved password: %d, want 2 (s3cache, s3cache-admin)", resolved)
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

// TestTemplate_EnvFileIsValidConfig checks that the EnvFile output, with the password in
// the file the unit hands over, is a configuration s3cached accepts, pointing at the
// stack's queue, bucket and Redis as the user s3cache.
func TestTemplate_EnvFileIsValidConfig(t *testing.T) {
	rt := loadRaw(t)
	known := config.VarNames()
	passwordFile := filepath.Join(t.TempDir(), "redis-password")
	if err := os.WriteFile(passwordFile, []byte("Abcdef0123456789xyz\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			outs, err := newStack(t, rt, sc.params).outputs()
			if err != nil {
				t.Fatal(err)
			}
			vars := parseEnvFile(t, outs["EnvFile"])
			for k := range vars {
				if !slices.Contains(known, k) && k != "AWS_REGION" {
					t.Errorf("EnvFile sets %s, which s3cached does not read", k)
				}
			}
			checks := map[string]string{
				"AWS_REGION":            testRegion,
				"S3CACHE_QUEUE_URL":     outs["QueueUrl"],
				"S3CACHE_BUCKET":        outs["BucketName"],
				"S3CACHE_REDIS_URL":     fmt.Sprintf("rediss://s3cache@%s:%s/0", outs["RedisEndpoint"], outs["RedisPort"]),
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
			for _, k := range known {
				t.Setenv(k, "")
				os.Unsetenv(k)
			}
			for k, v := range vars {
				t.Setenv(k, v)
			}
			t.Setenv("S3CACHE_REDIS_PASSWORD_FILE", passwordFile) // as the unit sets it
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
			if want := fmt.Sprintf("rediss://s3cache:Abcdef0123456789xyz@%s:%s/0", outs["RedisEndpoint"], outs["RedisPort"]); cfg.RedisURL != want {
				t.Errorf("Redis URL with the password file: got %s, want %s", config.MaskURL(cfg.RedisURL), config.MaskURL(want))
			}
			if cfg.RedisCluster != sc.cluster {
				t.Errorf("RedisCluster: got %v, want %v", cfg.RedisCluster, sc.cluster)
			}
		})
	}
}
