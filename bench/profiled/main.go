// Command profiled is s3cached with profiling, for `s3cache-bench --pprof DIR`: the same
// configuration, wiring and daemon code (internal/daemon), run under the CPU profiler.
// When it stops (SIGTERM) it writes, named after $S3CACHE_BENCH_RUN:
//
//	DIR/RUN.cpu.pprof     CPU profile of the whole run
//	DIR/RUN.allocs.pprof  allocation profile (go tool pprof -sample_index=alloc_objects)
//	DIR/RUN.sqs.json      SQS calls made and messages they carried
//
// DIR is $S3CACHE_BENCH_PPROF_DIR. Its figures are not the benchmark's: profiling costs
// CPU.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/pprof"
	"sync/atomic"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/internal/config"
	"github.com/s3cache/s3cache/internal/consumer"
	"github.com/s3cache/s3cache/internal/daemon"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run() error {
	dir, name := os.Getenv("S3CACHE_BENCH_PPROF_DIR"), os.Getenv("S3CACHE_BENCH_RUN")
	if dir == "" || name == "" {
		return errors.New("set S3CACHE_BENCH_PPROF_DIR and S3CACHE_BENCH_RUN")
	}
	path := func(suffix string) string { return filepath.Join(dir, name+suffix) }
	cpu, err := os.Create(path(".cpu.pprof"))
	if err != nil {
		return err
	}
	defer cpu.Close()
	if err := pprof.StartCPUProfile(cpu); err != nil {
		return err
	}
	defer pprof.StopCPUProfile()

	cfg, err := config.Load()
	if err != nil {
		return err
	}
	log, err := cfg.NewLogger()
	if err != nil {
		return err
	}
	cache.SetLogger(log)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	deps, err := daemon.Connect(ctx, cfg)
	if err != nil {
		return err
	}
	defer deps.Redis.Close()
	counted := &countingSQS{SQS: deps.SQS}
	deps.SQS = counted
	if err := daemon.New(cfg, log, deps).Run(ctx); err != nil {
		return err
	}

	allocs, err := os.Create(path(".allocs.pprof"))
	if err != nil {
		return err
	}
	defer allocs.Close()
	if err := pprof.Lookup("allocs").WriteTo(allocs, 0); err != nil {
		return err
	}
	counts, err := json.MarshalIndent(map[string]int64{
		"receive_calls":    counted.receives.Load(),
		"received":         counted.received.Load(),
		"delete_calls":     counted.deletes.Load(),
		"deleted":          counted.deleted.Load(),
		"visibility_calls": counted.extensions.Load(),
	}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path(".sqs.json"), counts, 0o644)
}

// countingSQS counts the SQS calls the consumer makes and the messages they carry.
type countingSQS struct {
	consumer.SQS
	receives, received, deletes, deleted, extensions atomic.Int64
}

func (c *countingSQS) ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error) {
	out, err := c.SQS.ReceiveMessage(ctx, in, opts...)
	if err == nil {
		c.receives.Add(1)
		c.received.Add(int64(len(out.Messages)))
	}
	return out, err
}

func (c *countingSQS) DeleteMessageBatch(ctx context.Context, in *sqs.DeleteMessageBatchInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageBatchOutput, error) {
	c.deletes.Add(1)
	c.deleted.Add(int64(len(in.Entries)))
	return c.SQS.DeleteMessageBatch(ctx, in, opts...)
}

func (c *countingSQS) ChangeMessageVisibility(ctx context.Context, in *sqs.ChangeMessageVisibilityInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityOutput, error) {
	c.extensions.Add(1)
	return c.SQS.ChangeMessageVisibility(ctx, in, opts...)
}
