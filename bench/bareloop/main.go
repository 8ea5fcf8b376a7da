// Command bareloop is the benchmark's reference for `s3cache query`: the same GETs of
// the objects `s3cache load` names (<prefix>filename<i>.txt), one at a time, timed in a
// plain for loop with nothing around the call, in a fresh process like the CLI's. It
// prints the p50 latency of the measured GETs (the first is discarded, as the query
// command discards it) as JSON: {"p50_ns": N, "gets": N}.
//
// Usage:
//
//	bareloop redis --url redis://127.0.0.1:6379/0 --bucket B [--prefix P] [--objects 100] [--count 10000]
//	bareloop s3 --endpoint http://127.0.0.1:PORT --bucket B [--prefix P] [--objects 100] [--count 2000]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/internal/awsclient"
	"github.com/s3cache/s3cache/internal/testenv"
	"github.com/s3cache/s3cache/query"
)

func main() {
	if err := run(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New("want a target: redis or s3")
	}
	target := args[0]
	fs := flag.NewFlagSet("bareloop "+target, flag.ContinueOnError)
	url := fs.String("url", "", "Redis URL (redis target)")
	endpoint := fs.String("endpoint", "", "S3 endpoint, path-style addressing (s3 target)")
	bucket := fs.String("bucket", "", "bucket")
	prefix := fs.String("prefix", "", "key prefix, as given to s3cache load --prefix")
	objects := fs.Int("objects", 100, "GET i reads <prefix>filename<i mod objects>.txt")
	count := fs.Int("count", 1000, "GETs in all, the first discarded")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *count < 2 || *objects < 1 || *bucket == "" {
		return errors.New("want --bucket, --count ≥ 2 and --objects ≥ 1")
	}
	keys := make([]string, *objects)
	for i := range keys {
		keys[i] = *prefix + "filename" + strconv.Itoa(i) + ".txt"
	}

	var get func(i int) error
	switch target {
	case "redis":
		// The client and key the CLI uses: cache.NewClient, <bucket>:<key>, HGET body.
		rdb, err := cache.NewClient(cache.ClientOptions{URL: *url})
		if err != nil {
			return err
		}
		defer rdb.Close()
		store := cache.NewStore(rdb, cache.Settings{})
		for i, k := range keys {
			keys[i] = store.Key(*bucket, k)
		}
		get = func(i int) error { return rdb.HGet(ctx, keys[i%len(keys)], cache.FieldBody).Err() }
	case "s3":
		c := awsclient.NewS3(testenv.AWSConfig(*endpoint), true)
		inputs := make([]*s3.GetObjectInput, len(keys))
		for i, k := range keys {
			inputs[i] = &s3.GetObjectInput{Bucket: aws.String(*bucket), Key: aws.String(k)}
		}
		get = func(i int) error {
			out, err := c.GetObject(ctx, inputs[i%len(inputs)])
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, out.Body)
			out.Body.Close()
			return err
		}
	default:
		return fmt.Errorf("unknown target %q: want redis or s3", target)
	}

	samples := make([]time.Duration, *count)
	for i := range samples {
		start := time.Now()
		err := get(i)
		samples[i] = time.Since(start)
		if err != nil {
			return fmt.Errorf("GET #%d: %w", i, err)
		}
	}
	// The statistics the query command reports, computed the same way.
	st := query.Summarize(samples[1:])
	return json.NewEncoder(os.Stdout).Encode(map[string]int64{"p50_ns": int64(st.P50), "gets": int64(st.Count)})
}
