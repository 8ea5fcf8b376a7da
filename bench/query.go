package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/s3cache/s3cache/cache"
)

// QueryOverhead compares `s3cache query` with the bare loops it wraps: the median, over
// rounds, of each method's p50 GET latency, one GET at a time. The ratios are the median
// of each round's ratio: the two methods run back to back in a round, while the speed of
// a small VM drifts by more than the difference between them over the rounds.
type QueryOverhead struct {
	Objects int `json:"objects"`
	Size    int `json:"object_bytes"`
	Count   int `json:"redis_gets"`
	S3Count int `json:"s3_gets"`
	Rounds  int `json:"rounds"`

	RedisCLI       time.Duration `json:"redis_query_p50_ns"`     // s3cache query redis
	RedisBare      time.Duration `json:"redis_bare_p50_ns"`      // a go-redis HGET loop
	RedisBenchmark time.Duration `json:"redis_benchmark_p50_ns"` // redis-benchmark -c 1 HGET
	RedisRatio     float64       `json:"redis_ratio"`            // CLI / bare, median of the rounds
	S3CLI          time.Duration `json:"s3_query_p50_ns"`        // s3cache query s3
	S3Bare         time.Duration `json:"s3_bare_p50_ns"`         // an SDK GetObject loop
	S3Ratio        float64       `json:"s3_ratio"`               // CLI / bare, median of the rounds
}

// queryObjects is how many objects the query comparison reads, as `s3cache load`
// names them: query/filename<i>.txt.
const queryObjects = 100

// queryOverhead uploads the objects `s3cache query` reads and caches them, then runs
// each method rounds times.
func queryOverhead(ctx context.Context, s *servers, count, s3Count, rounds int) (QueryOverhead, error) {
	const prefix = "query/"
	const size = 1 << 10
	q := QueryOverhead{Objects: queryObjects, Size: size, Count: count, S3Count: s3Count, Rounds: rounds}
	o := &objectSet{prefix: prefix, size: size, keys: make([]string, queryObjects), etags: make([]string, queryObjects)}
	for i := range o.keys {
		o.keys[i] = prefix + "filename" + strconv.Itoa(i) + ".txt"
	}
	if err := upload(ctx, s.s3.client, o, 8); err != nil {
		return q, err
	}
	rdb, err := cache.NewClient(cache.ClientOptions{URL: s.redis.URL})
	if err != nil {
		return q, err
	}
	defer rdb.Close()
	store := cache.NewStore(rdb, cache.Settings{})
	for i, k := range o.keys {
		if _, err := store.Fill(ctx, bucket, k, cache.Object{Body: body(i, size), Size: size}); err != nil {
			return q, err
		}
	}
	redisKeys := make([]string, len(o.keys))
	for i, k := range o.keys {
		redisKeys[i] = store.Key(bucket, k)
	}
	var redisCLI, redisBare, redisBench, s3CLI, s3Bare []time.Duration
	measure := func(into *[]time.Duration, f func() (time.Duration, error)) error {
		p50, err := f()
		*into = append(*into, p50)
		return err
	}
	for round := range rounds {
		// Every round runs each method once; the order flips from one round to the
		// next, so that a drift of the machine touches them alike.
		steps := []func() error{
			func() error {
				return measure(&redisBare, func() (time.Duration, error) { return s.bareLoop(ctx, "redis", prefix, count) })
			},
			func() error {
				return measure(&redisCLI, func() (time.Duration, error) { return s.cliQuery(ctx, "redis", prefix, count) })
			},
			func() error {
				return measure(&redisBench, func() (time.Duration, error) { return s.redisBenchmark(ctx, redisKeys[0], count) })
			},
			func() error {
				return measure(&s3Bare, func() (time.Duration, error) { return s.bareLoop(ctx, "s3", prefix, s3Count) })
			},
			func() error {
				return measure(&s3CLI, func() (time.Duration, error) { return s.cliQuery(ctx, "s3", prefix, s3Count) })
			},
		}
		if round%2 == 1 {
			slices.Reverse(steps)
		}
		for _, step := range steps {
			if err := step(); err != nil {
				return q, err
			}
		}
	}
	q.RedisCLI, q.RedisBare, q.RedisBenchmark = medianDuration(redisCLI), medianDuration(redisBare), medianDuration(redisBench)
	q.S3CLI, q.S3Bare = medianDuration(s3CLI), medianDuration(s3Bare)
	q.RedisRatio = medianRatio(redisCLI, redisBare)
	q.S3Ratio = medianRatio(s3CLI, s3Bare)
	return q, nil
}

// bareLoop runs bench/bareloop: the GETs `s3cache query target` makes, in a plain loop
// in a fresh process, and returns their p50.
func (s *servers) bareLoop(ctx context.Context, target, prefix string, count int) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, s.bins.bareloop, target, "--url", s.redis.URL, "--endpoint", s.s3.endpoint,
		"--bucket", bucket, "--prefix", prefix, "--objects", strconv.Itoa(queryObjects), "--count", strconv.Itoa(count))
	cmd.Env = cleanEnv()
	out, err := s.output(cmd)
	if err != nil {
		return 0, fmt.Errorf("bare %s loop: %w", target, err)
	}
	var res struct {
		P50 int64 `json:"p50_ns"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, fmt.Errorf("bare %s loop: %w: %q", target, err, out)
	}
	return time.Duration(res.P50), nil
}

// output runs cmd and returns its standard output; the error carries its standard error.
func (s *servers) output(cmd *exec.Cmd) ([]byte, error) {
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("%w: %s", err, bytes.TrimSpace(ee.Stderr))
		}
		return nil, err
	}
	return out, nil
}

// cliQuery runs `s3cache query target --json` on load's objects under prefix and
// returns the p50 it reports.
func (s *servers) cliQuery(ctx context.Context, target, prefix string, count int) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, s.bins.cli, "query", target,
		"--count", strconv.Itoa(count), "--objects", strconv.Itoa(queryObjects), "--prefix", prefix, "--json")
	cmd.Env = append(cleanEnv(),
		"S3CACHE_BUCKET="+bucket,
		"S3CACHE_REDIS_URL="+s.redis.URL,
		"S3CACHE_S3_PATH_STYLE=true",
	)
	cmd.Env = append(cmd.Env, s.awsEnv()...)
	out, err := s.output(cmd)
	if err != nil {
		return 0, fmt.Errorf("s3cache query %s: %w", target, err)
	}
	var res struct {
		Results map[string]struct {
			P50US float64 `json:"p50_us"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return 0, fmt.Errorf("s3cache query %s --json: %w", target, err)
	}
	r, ok := res.Results[target]
	if !ok {
		return 0, fmt.Errorf("s3cache query %s --json: no %s result in %s", target, target, out)
	}
	return time.Duration(r.P50US * float64(time.Microsecond)), nil
}

// redisBenchmark runs redis-benchmark with one client, HGET key body, and returns its
// p50.
func (s *servers) redisBenchmark(ctx context.Context, key string, count int) (time.Duration, error) {
	host, port, _ := strings.Cut(s.redis.Addr, ":")
	cmd := exec.CommandContext(ctx, "redis-benchmark", "-h", host, "-p", port, "-n", strconv.Itoa(count),
		"-c", "1", "--csv", "--precision", "3", "HGET", key, cache.FieldBody)
	out, err := s.output(cmd)
	if err != nil {
		return 0, fmt.Errorf("redis-benchmark: %w", err)
	}
	records, err := csv.NewReader(strings.NewReader(string(out))).ReadAll()
	if err != nil || len(records) < 2 {
		return 0, fmt.Errorf("redis-benchmark --csv: %v: %q", err, out)
	}
	col := slices.Index(records[0], "p50_latency_ms")
	if col < 0 || col >= len(records[1]) {
		return 0, fmt.Errorf("redis-benchmark --csv: no p50_latency_ms in %q", out)
	}
	ms, err := strconv.ParseFloat(records[1][col], 64)
	if err != nil {
		return 0, fmt.Errorf("redis-benchmark p50 %q: %w", records[1][col], err)
	}
	return time.Duration(ms * float64(time.Millisecond)), nil
}

// medianRatio returns the median of a[i]/b[i].
func medianRatio(a, b []time.Duration) float64 {
	r := make([]float64, len(a))
	for i := range a {
		r[i] = float64(a[i]) / float64(b[i])
	}
	slices.Sort(r)
	return r[len(r)/2]
}

func medianDuration(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}
