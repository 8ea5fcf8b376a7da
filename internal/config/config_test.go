package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestLoad_Defaults(t *testing.T) {
	c, err := Load()
	if err != nil {
		t.Fatalf("Load with no variables set: %v", err)
	}
	if c.RedisURL != "redis://127.0.0.1:6379/0" || c.TTL != 24*time.Hour || c.TTLJitter != 0.1 ||
		c.TombstoneTTL != 10*time.Minute || c.MaxObjectBytes != 1<<20 || c.MaxInflightBytes != 16<<20 || c.Workers != 256 ||
		c.HTTPAddr != "127.0.0.1:9180" || c.LogLevel != "info" || c.LogFormat != "json" ||
		c.ShutdownTimeout != 30*time.Second || c.RedisCluster || c.S3PathStyle {
		t.Errorf("defaults: got %+v", c)
	}
}

func TestLoad_Values(t *testing.T) {
	t.Setenv("S3CACHE_KEY_PREFIXES", " images/, ,docs/")
	t.Setenv("S3CACHE_KEY_SUFFIXES", ".txt")
	t.Setenv("S3CACHE_HTTP_ADDR", "")
	t.Setenv("S3CACHE_TTL", "0")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.KeyPrefixes, "|"); got != "images/|docs/" {
		t.Errorf("KeyPrefixes: got %q, want images/|docs/", got)
	}
	if c.HTTPAddr != "" {
		t.Errorf("HTTPAddr: got %q, want empty (disabled)", c.HTTPAddr)
	}
	if c.TTL != 0 {
		t.Errorf("TTL: got %v, want 0", c.TTL)
	}
	for key, want := range map[string]bool{
		"images/a.txt": true, "docs/b.txt": true, "images/a.png": false, "other/a.txt": false,
	} {
		if got := c.Cached(key); got != want {
			t.Errorf("Cached(%q): got %v, want %v", key, got, want)
		}
	}
}

func TestLoad_Errors(t *testing.T) {
	for _, tc := range []struct {
		env, value string
		want       string // substrings of the message
	}{
		{"S3CACHE_TTL", "forever", `S3CACHE_TTL="forever" is not valid: expected a duration`},
		{"S3CACHE_TTL", "-1s", `S3CACHE_TTL="-1s"`},
		{"S3CACHE_TTL_JITTER", "1.5", "from 0 up to"},
		{"S3CACHE_TOMBSTONE_TTL", "0s", "S3CACHE_TOMBSTONE_TTL"},
		{"S3CACHE_MAX_OBJECT_BYTES", "0", "S3CACHE_MAX_OBJECT_BYTES"},
		{"S3CACHE_MAX_OBJECT_BYTES", "1GB", "whole number"},
		{"S3CACHE_MAX_INFLIGHT_BYTES", "0", "byte count ≥ 1"},
		{"S3CACHE_WORKERS", "0", "from 1 to 1024"},
		{"S3CACHE_REDIS_URL", "http://x:1", "redis:// (plain) or rediss:// (TLS)"},
		{"S3CACHE_REDIS_URL", "redis://:s3cret@host:6379/x", ":xxxxx@host"},
		{"S3CACHE_REDIS_CLUSTER", "maybe", "true or false"},
		{"S3CACHE_REDIS_URL", "rediss://:p@redis.example:6379/0?skip_verify=true", "TLS that verifies the server"},
		{"S3CACHE_REDIS_URL", "rediss://:p@redis.example:6379/0?skip_verify=false&skip_verify=1", "TLS that verifies the server"},
		{"S3CACHE_REDIS_URL", "redis://:s3cret@10.0.0.5:6379/0", "rediss:// (TLS) when the URL carries a password"},
		{"S3CACHE_LOG_LEVEL", "loud", "debug, info, warn or error"},
		{"S3CACHE_LOG_FORMAT", "xml", "json or console"},
		{"S3CACHE_HTTP_ADDR", "9180", "host:port"},
		{"S3CACHE_SHUTDOWN_TIMEOUT", "0s", "S3CACHE_SHUTDOWN_TIMEOUT"},
	} {
		t.Run(tc.env+"="+tc.value, func(t *testing.T) {
			t.Setenv(tc.env, tc.value)
			_, err := Load()
			if err == nil {
				t.Fatalf("Load(%s=%q): no error", tc.env, tc.value)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load(%s=%q): got %q, want it to contain %q", tc.env, tc.value, err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error shows the password: %q", err)
			}
		})
	}
}

func TestLoad_ClusterDB(t *testing.T) {
	t.Setenv("S3CACHE_REDIS_CLUSTER", "true")
	t.Setenv("S3CACHE_REDIS_URL", "redis://h:6379/3")
	if _, err := Load(); err == nil || !strings.Contains(err.Error(), "database 0 only") {
		t.Errorf("got %v, want a database 0 error", err)
	}
}

func TestConfig_Require(t *testing.T) {
	var c Config
	if err := c.RequireQueue(); err == nil || !strings.Contains(err.Error(), "S3CACHE_QUEUE_URL is not set") {
		t.Errorf("RequireQueue: got %v", err)
	}
	c.QueueURL = "not a url"
	if err := c.RequireQueue(); err == nil || !strings.Contains(err.Error(), `S3CACHE_QUEUE_URL="not a url"`) {
		t.Errorf("RequireQueue: got %v", err)
	}
	c.QueueURL = "https://sqs.us-east-1.amazonaws.com/123456789012/q"
	if err := c.RequireQueue(); err != nil {
		t.Errorf("RequireQueue(valid): %v", err)
	}
	if err := c.RequireBucket(); err == nil || !strings.Contains(err.Error(), "S3CACHE_BUCKET is not set") {
		t.Errorf("RequireBucket: got %v", err)
	}
}

func TestMaskURL(t *testing.T) {
	for in, want := range map[string]string{
		"rediss://:tok@h:6379/0":   "rediss://:xxxxx@h:6379/0",
		"redis://user:pw@h:6379":   "redis://user:xxxxx@h:6379",
		"redis://127.0.0.1:6379/0": "redis://127.0.0.1:6379/0",
	} {
		if got := MaskURL(in); got != want {
			t.Errorf("MaskURL(%q): got %q, want %q", in, got, want)
		}
	}
}

func TestLoad_OnlyPrefixedNames(t *testing.T) {
	for _, v := range []string{"TTL", "BUCKET", "WORKERS", "HTTP_ADDR", "QUEUE_URL", "REDIS_URL", "LOG_LEVEL"} {
		t.Setenv(v, "bogus")
	}
	c, err := Load()
	if err != nil {
		t.Fatalf("unprefixed variables were read: %v", err)
	}
	if c.Bucket != "" || c.QueueURL != "" {
		t.Errorf("unprefixed BUCKET/QUEUE_URL were read: %+v", c)
	}
}

// everyVariable sets every variable but S3CACHE_REDIS_PASSWORD_FILE, which
// TestLoad_RedisPasswordFile covers, to a value other than its default.
var everyVariable = map[string]string{
	"S3CACHE_QUEUE_URL": "https://sqs.example/1/q", "S3CACHE_BUCKET": "b",
	"S3CACHE_REDIS_URL": "rediss://:p@h:6380/0", "S3CACHE_REDIS_CLUSTER": "true",
	"S3CACHE_KEY_PREFIX": "app:", "S3CACHE_TTL": "1h", "S3CACHE_TTL_JITTER": "0.2",
	"S3CACHE_TOMBSTONE_TTL": "5m", "S3CACHE_MAX_OBJECT_BYTES": "2048", "S3CACHE_MAX_INFLIGHT_BYTES": "4096",
	"S3CACHE_KEY_PREFIXES": "a/", "S3CACHE_KEY_SUFFIXES": ".txt", "S3CACHE_WORKERS": "8",
	"S3CACHE_HTTP_ADDR": "127.0.0.1:1", "S3CACHE_LOG_LEVEL": "debug", "S3CACHE_LOG_FORMAT": "console",
	"S3CACHE_SHUTDOWN_TIMEOUT": "5s", "S3CACHE_S3_PATH_STYLE": "true",
}

func TestLoad_EveryVariable(t *testing.T) {
	for k, v := range everyVariable {
		t.Setenv(k, v)
	}
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		QueueURL: "https://sqs.example/1/q", Bucket: "b", RedisURL: "rediss://:p@h:6380/0", RedisCluster: true,
		KeyPrefix: "app:", TTL: time.Hour, TTLJitter: 0.2, TombstoneTTL: 5 * time.Minute, MaxObjectBytes: 2048,
		MaxInflightBytes: 4096, KeyPrefixes: []string{"a/"}, KeySuffixes: []string{".txt"}, Workers: 8, HTTPAddr: "127.0.0.1:1",
		LogLevel: "debug", LogFormat: "console", ShutdownTimeout: 5 * time.Second, S3PathStyle: true,
	}
	if fmt.Sprint(c) != fmt.Sprint(want) {
		t.Errorf("got  %+v\nwant %+v", c, want)
	}
}

// TestVarNames: VarNames lists exactly the variables Load reads, those
// TestLoad_EveryVariable shows it reads and S3CACHE_REDIS_PASSWORD_FILE, once each.
func TestVarNames(t *testing.T) {
	want := []string{"S3CACHE_REDIS_PASSWORD_FILE"}
	for k := range everyVariable {
		want = append(want, k)
	}
	slices.Sort(want)
	got := slices.Sorted(slices.Values(VarNames()))
	if !slices.Equal(got, want) {
		t.Errorf("VarNames: got %q, want %q", got, want)
	}
}

func TestDefaults_Valid(t *testing.T) {
	if err := Defaults().Validate(); err != nil {
		t.Errorf("Defaults().Validate(): %v", err)
	}
}

func TestBuckets(t *testing.T) {
	for _, tc := range []struct {
		value        string
		buckets      []string
		cliErr, dErr string // substrings of RequireBucket's and RequireBuckets's errors, "" for none
	}{
		{"", nil, "S3CACHE_BUCKET is not set", "S3CACHE_BUCKET is not set"},
		{"my-bucket", []string{"my-bucket"}, "", ""},
		{" a , b,", []string{"a", "b"}, "one bucket name for the s3cache command", ""},
	} {
		c := Defaults()
		c.Bucket = tc.value
		if got := c.Buckets(); fmt.Sprint(got) != fmt.Sprint(tc.buckets) {
			t.Errorf("Buckets(%q) = %q, want %q", tc.value, got, tc.buckets)
		}
		for name, check := range map[string]struct {
			err  error
			want string
		}{"RequireBucket": {c.RequireBucket(), tc.cliErr}, "RequireBuckets": {c.RequireBuckets(), tc.dErr}} {
			if (check.err == nil) != (check.want == "") || (check.err != nil && !strings.Contains(check.err.Error(), check.want)) {
				t.Errorf("%s with S3CACHE_BUCKET=%q: %v, want %q", name, tc.value, check.err, check.want)
			}
		}
		for _, b := range tc.buckets {
			if !c.Serves(b) {
				t.Errorf("S3CACHE_BUCKET=%q does not serve %q", tc.value, b)
			}
		}
		if c.Serves("other") || c.Serves("") {
			t.Errorf("S3CACHE_BUCKET=%q serves a bucket it does not name", tc.value)
		}
	}
}

// TestLoad_LoopbackRedisMayBeLax: on this machine a password over plain redis:// and TLS
// without verification are allowed (the sandbox, tests, a local stunnel).
func TestLoad_LoopbackRedisMayBeLax(t *testing.T) {
	for _, u := range []string{
		"redis://:p@127.0.0.1:6379/0", "redis://:p@localhost:6379/0", "redis://:p@[::1]:6379/0",
		"rediss://:p@127.0.0.1:6380/0?skip_verify=true", "rediss://:p@redis.example:6380/0?skip_verify=false",
		"redis://redis.example:6379/0",
	} {
		t.Setenv("S3CACHE_REDIS_URL", u)
		if _, err := Load(); err != nil {
			t.Errorf("S3CACHE_REDIS_URL=%s: %v", u, err)
		}
	}
}

// TestLoad_RedisPasswordFile: the password comes from a file (systemd's LoadCredential=)
// into the URL, escaped; an empty file means none; a password in two places, a file
// others may read, or a missing file is refused.
func TestLoad_RedisPasswordFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Setenv("S3CACHE_REDIS_URL", "rediss://s3cache@redis.example:6379/0")
	t.Setenv("S3CACHE_REDIS_PASSWORD_FILE", write("pw", "p@ss:w/rd&#\n", 0o600))
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(c.RedisURL)
	if pw, _ := u.User.Password(); pw != "p@ss:w/rd&#" || u.User.Username() != "s3cache" || u.Host != "redis.example:6379" {
		t.Errorf("RedisURL %s: want user s3cache with the file's password", MaskURL(c.RedisURL))
	}
	if strings.Contains(MaskURL(c.RedisURL), "w/rd") {
		t.Errorf("MaskURL shows the password: %s", MaskURL(c.RedisURL))
	}

	t.Setenv("S3CACHE_REDIS_PASSWORD_FILE", write("empty", "", 0o600))
	if c, err := Load(); err != nil || c.RedisURL != "rediss://s3cache@redis.example:6379/0" {
		t.Errorf("empty file: %v, %s; want the URL as given", err, c.RedisURL)
	}

	for _, tc := range []struct{ url, file, want string }{
		{"rediss://:inline@redis.example:6379/0", write("pw2", "x\n", 0o600), "give the password in one place"},
		{"rediss://s3cache@redis.example:6379/0", write("open", "x\n", 0o644), "chmod 0600"},
		{"rediss://s3cache@redis.example:6379/0", write("group", "x\n", 0o640), "chmod 0600"},
		{"rediss://s3cache@redis.example:6379/0", filepath.Join(dir, "missing"), "no such file"},
		{"rediss://s3cache@redis.example:6379/0", write("lines", "a\nb\n", 0o600), "one line"},
		{"redis://s3cache@redis.example:6379/0", write("pw3", "x\n", 0o600), "rediss:// (TLS) when the URL carries a password"},
	} {
		t.Setenv("S3CACHE_REDIS_URL", tc.url)
		t.Setenv("S3CACHE_REDIS_PASSWORD_FILE", tc.file)
		_, err := Load()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("URL %s, file %s: got %v, want an error saying %q", tc.url, filepath.Base(tc.file), err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), "x\n") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
}

// The client is built from the configuration in one place; go-redis's refusal of a URL
// comes back as a configuration error that names the variable, keeps go-redis's reason
// and never the password (net/url's errors quote the whole URL).
func TestConfig_NewRedisClient(t *testing.T) {
	c := Defaults()
	c.RedisURL = "redis://:hunter2@127.0.0.1:port/0"
	rdb, err := c.NewRedisClient()
	if err == nil {
		rdb.Close()
		t.Fatal("NewRedisClient with port \"port\": no error")
	}
	var cerr *Error
	if !errors.As(err, &cerr) || cerr.Var != "S3CACHE_REDIS_URL" || errors.Unwrap(err) == nil {
		t.Errorf("error %v (%T): want a *config.Error for S3CACHE_REDIS_URL wrapping go-redis's", err, err)
	}
	if msg := err.Error(); strings.Contains(msg, "hunter2") || !strings.Contains(msg, "redis://") {
		t.Errorf("error %q: want the masked URL and no password", msg)
	}

	c.RedisURL = "redis://127.0.0.1:6379/3"
	rdb, err = c.NewRedisClient()
	if err != nil {
		t.Fatalf("NewRedisClient(%s): %v", c.RedisURL, err)
	}
	defer rdb.Close()
	if db := rdb.(*redis.Client).Options().DB; db != 3 {
		t.Errorf("client for %s uses database %d", c.RedisURL, db)
	}
}

func TestConfig_StoreSettings(t *testing.T) {
	c := Defaults()
	c.KeyPrefix, c.TTL, c.TTLJitter, c.TombstoneTTL = "p:", time.Hour, 0.25, time.Minute
	s := c.StoreSettings()
	if s.KeyPrefix != "p:" || s.TTL != time.Hour || s.TTLJitter != 0.25 || s.TombstoneTTL != time.Minute || s.Foreign != nil {
		t.Errorf("StoreSettings() = %+v", s)
	}
}
