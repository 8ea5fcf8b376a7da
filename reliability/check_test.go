package reliability

import (
	"context"
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/redis/go-redis/v9"

	"github.com/s3cache/s3cache/internal/testenv"
)

// checkOptions adjust the end check to the fault a test injected.
type checkOptions struct {
	// lostUntil is when Redis last lost data (a restart without persistence, a master
	// killed before its replica had every write). A key whose newest event reached the
	// queue before that may be absent; every other key whose object is in S3 (and not
	// over the size limit) must be cached. Zero: Redis lost nothing.
	lostUntil time.Time
	// dlq are the bodies the dead-letter queue must hold, in any order; nil: none.
	dlq []string
	// drainTimeout bounds the wait for an empty queue [60s].
	drainTimeout time.Duration
}

// check waits until the queue is drained, then checks every key of the workload against
// S3: the entry is absent (or a tombstone) or equal to S3's current object; and nothing
// was lost: every key whose object exists (within the size limit) is cached unless Redis
// itself lost it, the dead-letter queue holds exactly o.dlq, and Redis holds no key the
// workload did not make.
func (st *stack) check(t *testing.T, w *workload, o checkOptions) {
	t.Helper()
	if o.drainTimeout == 0 {
		o.drainTimeout = 60 * time.Second
	}
	st.waitDrained(t, o.drainTimeout)
	st.checkDLQ(t, o.dlq)

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if c, ok := st.rdb.(*redis.ClusterClient); ok {
		c.ReloadState(ctx) // after a failover
	}
	inS3 := st.listS3(t, ctx)

	w.mu.Lock()
	defer w.mu.Unlock()
	entries := st.entries(t, ctx, w.keys)
	var stale, lost, model []string
	cached := 0
	for _, key := range w.keys {
		obj, exists := w.objects[key]
		etag, inBucket := inS3[key]
		if exists != inBucket || (exists && etag != obj.etag) {
			model = append(model, fmt.Sprintf("%q: the workload put etag %q (exists %v), S3 has %q (exists %v)", key, obj.etag, exists, etag, inBucket))
			continue
		}
		m := entries[key]
		body, hasBody := m["body"]
		switch {
		case hasBody && !exists:
			stale = append(stale, fmt.Sprintf("%q: removed from S3 but cached (%d bytes, seq %s)", key, len(body), m["seq"]))
		case hasBody && (body != string(obj.body) || m["etag"] != etag || md5hex(body) != etag):
			stale = append(stale, fmt.Sprintf("%q: cached %q (etag %s, seq %s), S3 has %q (etag %s, last event %s)",
				key, testenv.Shorten(body), m["etag"], m["seq"], testenv.Shorten(string(obj.body)), etag, w.lastSeq[key]))
		case hasBody:
			cached++
		case len(m) > 0 && m["deleted"] != "1":
			stale = append(stale, fmt.Sprintf("%q: entry without body that is not a tombstone: %v", key, m))
		case exists && len(obj.body) <= maxObjectBytes && w.lastSeq[key] != "":
			s := w.sent[key]
			if s.seq == w.lastSeq[key] && s.at.After(o.lostUntil) {
				lost = append(lost, fmt.Sprintf("%q: in S3 (etag %s, last event %s sent %s), not cached (entry %v)",
					key, etag, w.lastSeq[key], s.at.Format("15:04:05.000"), testenv.ShortenMap(m)))
			}
		}
	}
	t.Logf("checked %d keys after %d events: %d cached, %d stale, %d lost", len(w.keys), w.events, cached, len(stale), len(lost))
	report(t, "the workload and S3 disagree (a test bug)", model)
	report(t, "STALE entries (cached, but not S3's current object)", stale)
	report(t, "LOST updates (the object's last event never reached the cache)", lost)
	if unexpected := st.unexpectedKeys(t, ctx, w.keys); len(unexpected) > 0 {
		report(t, "keys in Redis that the workload never made", unexpected)
	}
}

// checkDLQ drains the dead-letter queue and compares its bodies with want, in any order.
func (st *stack) checkDLQ(t *testing.T, want []string) {
	t.Helper()
	got := st.sqs.Drain(t, st.dlq)
	count := map[string]int{}
	for _, b := range got {
		count[b]++
	}
	for _, b := range want {
		count[b]--
	}
	var extra, missing []string
	for b, n := range count {
		for ; n > 0; n-- {
			extra = append(extra, fmt.Sprintf("%.120q (%d bytes)", b, len(b)))
		}
		for ; n < 0; n++ {
			missing = append(missing, fmt.Sprintf("%.120q (%d bytes)", b, len(b)))
		}
	}
	sort.Strings(extra)
	sort.Strings(missing)
	report(t, "messages in the dead-letter queue that should have been processed and deleted", extra)
	report(t, "messages missing from the dead-letter queue", missing)
}

// listS3 returns the ETag of every object in the bucket.
func (st *stack) listS3(t *testing.T, ctx context.Context) map[string]string {
	t.Helper()
	out := map[string]string{}
	p := s3.NewListObjectsV2Paginator(st.s3.Client, &s3.ListObjectsV2Input{Bucket: aws.String(bucket)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatalf("list s3://%s: %v", bucket, err)
		}
		for _, o := range page.Contents {
			out[aws.ToString(o.Key)] = strings.Trim(aws.ToString(o.ETag), `"`)
		}
	}
	return out
}

// entries reads the cache entries of keys (an empty map: none).
func (st *stack) entries(t *testing.T, ctx context.Context, keys []string) map[string]map[string]string {
	t.Helper()
	out := make(map[string]map[string]string, len(keys))
	for chunk := range slices.Chunk(keys, 500) {
		cmds := make([]*redis.MapStringStringCmd, len(chunk))
		_, err := st.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, k := range chunk {
				cmds[i] = p.HGetAll(ctx, redisKey(k))
			}
			return nil
		})
		if err != nil {
			t.Fatalf("read cache entries: %v", err)
		}
		for i, k := range chunk {
			out[k] = cmds[i].Val()
		}
	}
	return out
}

// unexpectedKeys returns the Redis keys that are not the cache key of one of keys.
func (st *stack) unexpectedKeys(t *testing.T, ctx context.Context, keys []string) []string {
	t.Helper()
	want := make(map[string]bool, len(keys))
	for _, k := range keys {
		want[redisKey(k)] = true
	}
	var mu sync.Mutex
	var out []string
	scan := func(ctx context.Context, c *redis.Client) error {
		it := c.Scan(ctx, 0, "*", 1000).Iterator()
		for it.Next(ctx) {
			if !want[it.Val()] {
				mu.Lock()
				out = append(out, it.Val())
				mu.Unlock()
			}
		}
		return it.Err()
	}
	var err error
	switch c := st.rdb.(type) {
	case *redis.ClusterClient:
		err = c.ForEachMaster(ctx, scan)
	case *redis.Client:
		err = scan(ctx, c)
	}
	if err != nil {
		t.Fatalf("scan Redis: %v", err)
	}
	sort.Strings(out)
	return out
}

// report fails the test with the first problems of a kind and how many there are.
func report(t *testing.T, what string, problems []string) {
	t.Helper()
	if len(problems) == 0 {
		return
	}
	const show = 15
	n, extra := len(problems), ""
	if n > show {
		extra = fmt.Sprintf("\n  … and %d more", n-show)
		problems = problems[:show]
	}
	t.Errorf("%d %s:\n  %s%s", n, what, strings.Join(problems, "\n  "), extra)
}

func md5hex(s string) string {
	sum := md5.Sum([]byte(s))
	return hex.EncodeToString(sum[:])
}
