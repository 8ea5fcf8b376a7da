// Package config reads s3cache's configuration from S3CACHE_* environment variables and
// validates it. The daemon and the CLI share one Config.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/s3cache/s3cache/cache"
)

// Prefix is the prefix of every configuration variable.
const Prefix = "S3CACHE"

// Config is the configuration of s3cached and s3cache (SPEC §6). AWS settings (region,
// credentials, endpoints) are the SDK's own and are not part of it.
//
// Variable names come from the field names (split_words: QueueURL is
// S3CACHE_QUEUE_URL). No field has an envconfig:"…" tag on purpose: with one, envconfig
// also reads the unprefixed name (TTL, BUCKET, WORKERS…) when the S3CACHE_ one is unset.
type Config struct {
	QueueURL          string        `split_words:"true"`
	Bucket            string        `split_words:"true"`
	RedisURL          string        `split_words:"true"`
	RedisPasswordFile string        `split_words:"true"`
	RedisCluster      bool          `split_words:"true"`
	KeyPrefix         string        `split_words:"true"`
	TTL               time.Duration `split_words:"true"`
	TTLJitter         float64       `split_words:"true"`
	TombstoneTTL      time.Duration `split_words:"true"`
	MaxObjectBytes    int64         `split_words:"true"`
	MaxInflightBytes  int64         `split_words:"true"`
	KeyPrefixes       []string      `split_words:"true"`
	KeySuffixes       []string      `split_words:"true"`
	Workers           int           `split_words:"true"`
	HTTPAddr          string        `split_words:"true"`
	LogLevel          string        `split_words:"true"`
	LogFormat         string        `split_words:"true"`
	ShutdownTimeout   time.Duration `split_words:"true"`
	S3PathStyle       bool          `split_words:"true"`
}

// Limits on values; Redis refuses arguments over 512 MiB.
const (
	maxObjectBytesLimit = 512 << 20
	maxWorkers          = 1024
)

// Error is a configuration error: which variable, the bad value, and what is allowed.
type Error struct {
	Var     string // full variable name, e.g. S3CACHE_TTL
	Value   string // the value as given (secrets masked)
	Allowed string // what would be accepted
	Err     error  // the error that refused the value, when another package did
}

func (e *Error) Error() string {
	if e.Value == "" {
		return fmt.Sprintf("%s is not set: %s", e.Var, e.Allowed)
	}
	if e.Err != nil {
		return fmt.Sprintf("%s=%q is not valid: %v; expected %s", e.Var, e.Value, e.Err, e.Allowed)
	}
	return fmt.Sprintf("%s=%q is not valid: %s", e.Var, e.Value, e.Allowed)
}

func (e *Error) Unwrap() error { return e.Err }

// Defaults returns the configuration used when no variable is set.
func Defaults() Config {
	return Config{
		RedisURL:         "redis://127.0.0.1:6379/0",
		TTL:              24 * time.Hour,
		TTLJitter:        0.1,
		TombstoneTTL:     10 * time.Minute,
		MaxObjectBytes:   1 << 20,
		MaxInflightBytes: 16 << 20,
		Workers:          256,
		HTTPAddr:         "127.0.0.1:9180",
		LogLevel:         "info",
		LogFormat:        "json",
		ShutdownTimeout:  30 * time.Second,
	}
}

// Load reads the configuration from the environment over the Defaults and validates it.
func Load() (Config, error) {
	c := Defaults()
	if err := envconfig.Process(Prefix, &c); err != nil {
		var perr *envconfig.ParseError
		if errors.As(err, &perr) {
			return Config{}, &Error{Var: perr.KeyName, Value: perr.Value, Allowed: "expected " + describeType(perr.TypeName)}
		}
		return Config{}, fmt.Errorf("read configuration: %w", err)
	}
	c.KeyPrefixes = cleanList(c.KeyPrefixes)
	c.KeySuffixes = cleanList(c.KeySuffixes)
	if err := c.readRedisPassword(); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// readRedisPassword puts the password of S3CACHE_REDIS_PASSWORD_FILE into RedisURL, so
// that the password need not be in the environment, which other processes of the same
// user and every child can read (systemd hands the file over with LoadCredential=). An
// empty file means no password: the unit always names one.
func (c *Config) readRedisPassword() error {
	if c.RedisPasswordFile == "" {
		return nil
	}
	bad := func(allowed string) error {
		return &Error{Var: name("REDIS_PASSWORD_FILE"), Value: c.RedisPasswordFile, Allowed: allowed}
	}
	fi, err := os.Stat(c.RedisPasswordFile)
	if err != nil {
		return bad(fmt.Sprintf("a readable file holding the Redis password (%v)", err))
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return bad(fmt.Sprintf("a file only its owner may read (0600 or 0400): it is mode %04o; chmod 0600 it", fi.Mode().Perm()))
	}
	b, err := os.ReadFile(c.RedisPasswordFile)
	if err != nil {
		return bad(fmt.Sprintf("a readable file holding the Redis password (%v)", err))
	}
	password := strings.TrimRight(string(b), "\r\n")
	if password == "" {
		return nil
	}
	if strings.ContainsAny(password, "\r\n") {
		return bad("one line: the password")
	}
	u, err := url.Parse(c.RedisURL)
	if err != nil {
		return nil // Validate reports the URL
	}
	if _, has := u.User.Password(); has {
		return bad("unset, or S3CACHE_REDIS_URL without a password: give the password in one place")
	}
	u.User = url.UserPassword(u.User.Username(), password)
	c.RedisURL = u.String()
	return nil
}

func describeType(typ string) string {
	switch typ {
	case "time.Duration", "Duration":
		return "a duration such as 30s, 10m or 24h"
	case "bool":
		return "true or false"
	case "int", "int64":
		return "a whole number"
	case "float64":
		return "a number such as 0.1"
	}
	return "a " + typ
}

func cleanList(items []string) []string {
	var out []string
	for _, s := range items {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}

func name(v string) string { return Prefix + "_" + v }

// VarNames returns the name of every configuration variable, in the order of Config's
// fields, as envconfig derives it from the field: the one list the deployment files
// (cfn/, systemd/) are checked against.
func VarNames() []string {
	var buf bytes.Buffer
	// Usagef fails only on a template that does not parse or a spec that is not a
	// pointer to a struct; neither depends on the caller.
	if err := envconfig.Usagef(Prefix, &Config{}, &buf, "{{range .}}{{usage_key .}}\n{{end}}"); err != nil {
		panic(err)
	}
	return strings.Fields(buf.String())
}

// Validate checks every value and returns the first problem found.
func (c Config) Validate() error {
	if err := validateRedisURL(c.RedisURL, c.RedisCluster); err != nil {
		return err
	}
	switch {
	case c.TTL < 0:
		return &Error{Var: name("TTL"), Value: c.TTL.String(), Allowed: "a duration ≥ 0 (0 = entries never expire)"}
	case c.TTLJitter < 0 || c.TTLJitter >= 1:
		return &Error{Var: name("TTL_JITTER"), Value: strconv.FormatFloat(c.TTLJitter, 'g', -1, 64), Allowed: "a fraction from 0 up to (not including) 1, e.g. 0.1 for ±10%"}
	case c.TombstoneTTL <= 0:
		return &Error{Var: name("TOMBSTONE_TTL"), Value: c.TombstoneTTL.String(), Allowed: "a duration > 0, e.g. 10m; it must outlast the slowest redelivery of an event"}
	case c.MaxObjectBytes <= 0 || c.MaxObjectBytes > maxObjectBytesLimit:
		return &Error{Var: name("MAX_OBJECT_BYTES"), Value: strconv.FormatInt(c.MaxObjectBytes, 10), Allowed: fmt.Sprintf("a byte count from 1 to %d (512 MiB, the largest value Redis accepts)", maxObjectBytesLimit)}
	case c.MaxInflightBytes <= 0:
		return &Error{Var: name("MAX_INFLIGHT_BYTES"), Value: strconv.FormatInt(c.MaxInflightBytes, 10), Allowed: "a byte count ≥ 1, e.g. 16777216 (16 MiB); an object larger than it is fetched alone"}
	case c.Workers < 1 || c.Workers > maxWorkers:
		return &Error{Var: name("WORKERS"), Value: strconv.Itoa(c.Workers), Allowed: fmt.Sprintf("a whole number from 1 to %d: the most messages processed at once (the daemon sizes itself below it)", maxWorkers)}
	case c.ShutdownTimeout <= 0:
		return &Error{Var: name("SHUTDOWN_TIMEOUT"), Value: c.ShutdownTimeout.String(), Allowed: "a duration > 0, e.g. 30s"}
	case c.LogFormat != "json" && c.LogFormat != "console":
		return &Error{Var: name("LOG_FORMAT"), Value: c.LogFormat, Allowed: "json or console"}
	}
	if _, err := zapcore.ParseLevel(c.LogLevel); err != nil {
		return &Error{Var: name("LOG_LEVEL"), Value: c.LogLevel, Allowed: "debug, info, warn or error"}
	}
	if c.HTTPAddr != "" {
		if _, port, err := net.SplitHostPort(c.HTTPAddr); err != nil || port == "" {
			return &Error{Var: name("HTTP_ADDR"), Value: c.HTTPAddr, Allowed: "host:port such as 127.0.0.1:9180, or empty to disable the HTTP server"}
		}
	}
	return nil
}

func validateRedisURL(raw string, cluster bool) error {
	bad := func(allowed string) error {
		return &Error{Var: name("REDIS_URL"), Value: MaskURL(raw), Allowed: allowed}
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return bad("a URL such as redis://127.0.0.1:6379/0 or rediss://:PASSWORD@HOST:6379/0")
	}
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return bad("scheme redis:// (plain) or rediss:// (TLS)")
	}
	// Off this machine, the network between the daemon and Redis is not to be trusted
	// with the password or the data.
	if !isLoopback(u.Hostname()) {
		if u.Scheme == "rediss" && skipsVerify(u.Query()["skip_verify"]) {
			return bad("TLS that verifies the server: remove skip_verify, and add the server's CA to the system roots or SSL_CERT_FILE if it is private (skip_verify is accepted for 127.0.0.1 only)")
		}
		if _, hasPassword := u.User.Password(); u.Scheme == "redis" && hasPassword {
			return bad("rediss:// (TLS) when the URL carries a password to another host: over redis:// the password crosses the network in clear (ElastiCache: enable encryption in transit)")
		}
	}
	if db := strings.Trim(u.Path, "/"); db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return bad("a database number as the path, e.g. /0")
		}
		if cluster && n != 0 {
			return bad("database 0 only: Redis Cluster has no other databases (S3CACHE_REDIS_CLUSTER=true)")
		}
	}
	return nil
}

// skipsVerify reports whether any of the skip_verify values in a URL could turn TLS
// verification off: go-redis reads the last one, a reader of the URL the first.
func skipsVerify(values []string) bool {
	for _, v := range values {
		if off, err := strconv.ParseBool(v); err != nil || off {
			return true
		}
	}
	return false
}

// isLoopback reports whether host names this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// RequireQueue reports an error when S3CACHE_QUEUE_URL is missing.
func (c Config) RequireQueue() error {
	if c.QueueURL == "" {
		return &Error{Var: name("QUEUE_URL"), Allowed: "set it to the SQS queue that receives the bucket's event notifications, e.g. https://sqs.us-east-1.amazonaws.com/123456789012/s3cache"}
	}
	if u, err := url.Parse(c.QueueURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return &Error{Var: name("QUEUE_URL"), Value: c.QueueURL, Allowed: "an SQS queue URL such as https://sqs.us-east-1.amazonaws.com/123456789012/s3cache"}
	}
	return nil
}

// RequireBucket reports an error when S3CACHE_BUCKET does not name one bucket, as CLI
// commands that touch S3 need.
func (c Config) RequireBucket() error {
	switch buckets := c.Buckets(); {
	case len(buckets) == 0:
		return &Error{Var: name("BUCKET"), Allowed: "set it to the name of the S3 bucket to cache, e.g. S3CACHE_BUCKET=my-bucket"}
	case len(buckets) > 1:
		return &Error{Var: name("BUCKET"), Value: c.Bucket, Allowed: "one bucket name for the s3cache command (s3cached takes a comma list); e.g. S3CACHE_BUCKET=my-bucket"}
	}
	return nil
}

// RequireBuckets reports an error when S3CACHE_BUCKET names no bucket, as s3cached needs:
// it applies only the events of the buckets it serves.
func (c Config) RequireBuckets() error {
	if len(c.Buckets()) == 0 {
		return &Error{Var: name("BUCKET"), Allowed: "set it to the bucket whose notifications the queue receives (a comma list for several): s3cached applies only their events, e.g. S3CACHE_BUCKET=my-bucket"}
	}
	return nil
}

// Buckets returns the buckets S3CACHE_BUCKET names, a comma list.
func (c Config) Buckets() []string {
	return cleanList(strings.Split(c.Bucket, ","))
}

// Serves reports whether bucket is one of Buckets.
func (c Config) Serves(bucket string) bool {
	for _, b := range c.Buckets() {
		if b == bucket {
			return true
		}
	}
	return false
}

// Cached reports whether objects with this key are cached under S3CACHE_KEY_PREFIXES and
// S3CACHE_KEY_SUFFIXES: the key must start with one of the prefixes (when any are set)
// and end with one of the suffixes (when any are set).
func (c Config) Cached(key string) bool {
	return matchAny(c.KeyPrefixes, key, strings.HasPrefix) && matchAny(c.KeySuffixes, key, strings.HasSuffix)
}

func matchAny(patterns []string, key string, match func(s, p string) bool) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if match(key, p) {
			return true
		}
	}
	return false
}

// MaskURL returns the URL with any password shown as "xxxxx", for logs and errors.
func MaskURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<unparseable URL>"
	}
	return u.Redacted()
}

// Fields returns the effective configuration as log fields, secrets masked.
func (c Config) Fields() []zap.Field {
	return []zap.Field{
		zap.String("queue_url", c.QueueURL),
		zap.String("bucket", c.Bucket),
		zap.String("redis_url", MaskURL(c.RedisURL)),
		zap.String("redis_password_file", c.RedisPasswordFile),
		zap.Bool("redis_cluster", c.RedisCluster),
		zap.String("key_prefix", c.KeyPrefix),
		zap.Duration("ttl", c.TTL),
		zap.Float64("ttl_jitter", c.TTLJitter),
		zap.Duration("tombstone_ttl", c.TombstoneTTL),
		zap.Int64("max_object_bytes", c.MaxObjectBytes),
		zap.Int64("max_inflight_bytes", c.MaxInflightBytes),
		zap.Strings("key_prefixes", c.KeyPrefixes),
		zap.Strings("key_suffixes", c.KeySuffixes),
		zap.Int("workers", c.Workers),
		zap.String("http_addr", c.HTTPAddr),
		zap.String("log_level", c.LogLevel),
		zap.String("log_format", c.LogFormat),
		zap.Duration("shutdown_timeout", c.ShutdownTimeout),
		zap.Bool("s3_path_style", c.S3PathStyle),
	}
}

// NewLogger builds the zap logger the configuration asks for. Repeated messages are
// sampled (the first 10 per second each, then one in 100) so that a failing dependency
// cannot flood the journal.
func (c Config) NewLogger() (*zap.Logger, error) {
	level, err := zapcore.ParseLevel(c.LogLevel)
	if err != nil {
		return nil, err
	}
	zc := zap.NewProductionConfig()
	if c.LogFormat == "console" {
		zc = zap.NewDevelopmentConfig()
		zc.DisableStacktrace = true
	}
	zc.Level = zap.NewAtomicLevelAt(level)
	zc.Sampling = &zap.SamplingConfig{Initial: 10, Thereafter: 100}
	zc.EncoderConfig.TimeKey = "time"
	zc.EncoderConfig.EncodeTime = zapcore.ISO8601TimeEncoder
	return zc.Build()
}

// NewRedisClient returns the client for S3CACHE_REDIS_URL and S3CACHE_REDIS_CLUSTER. It
// does not contact Redis.
func (c Config) NewRedisClient() (redis.UniversalClient, error) {
	rdb, err := cache.NewClient(cache.ClientOptions{URL: c.RedisURL, Cluster: c.RedisCluster})
	if err != nil {
		return nil, &Error{Var: name("REDIS_URL"), Value: MaskURL(c.RedisURL), Err: err,
			Allowed: "a URL such as redis://127.0.0.1:6379/0 or rediss://s3cache@HOST:6379/0"}
	}
	return rdb, nil
}

// StoreSettings are the Store's key prefix and lifetimes from S3CACHE_KEY_PREFIX,
// S3CACHE_TTL, S3CACHE_TTL_JITTER and S3CACHE_TOMBSTONE_TTL.
func (c Config) StoreSettings() cache.Settings {
	return cache.Settings{
		KeyPrefix:    c.KeyPrefix,
		TTL:          c.TTL,
		TTLJitter:    c.TTLJitter,
		TombstoneTTL: c.TombstoneTTL,
	}
}
