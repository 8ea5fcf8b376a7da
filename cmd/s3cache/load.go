package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"golang.org/x/sync/errgroup"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/query"
)

const loadUsage = `
Usage: s3cache load [flags]

Uploads --count generated objects to S3CACHE_BUCKET as <prefix>filename<i>.txt with
the AWS sample's body "some generated data for filename<i>" (repeated to --size bytes
when --size is set).

Every object gets the user metadata s3cache-load: 1 (x-amz-meta-s3cache-load), the
mark that s3cache cleanup looks for. load replaces an object of the same name only if
it carries the mark: when any of the names is taken by an object without it (someone's
own filename<i>.txt), load uploads nothing and says which; choose another --prefix.
The writes are conditional (If-None-Match, If-Match), so an object written between the
check and the upload is not overwritten either.

With s3cached running, --wait waits until the daemon has cached every object (its
etag, or body, in Redis equals what was uploaded) and reports the upload→cache lag.
Without a daemon, --direct writes the objects to Redis itself, where the cache has no
entry (as lazy loading does: it never overwrites what the daemon wrote).

Example:
  S3CACHE_BUCKET=my-bucket s3cache load --count 100 --wait
`

// pollInterval is how often load --wait reads the cache; it bounds the error of the lag.
const pollInterval = 10 * time.Millisecond

func runLoad(ctx context.Context, e *env, args []string) error {
	fs := flag.NewFlagSet("load", flag.ContinueOnError)
	count := fs.Int("count", 100, "number of objects")
	size := fs.Int("size", 0, "body size in bytes (0: the sample's text, about 35 bytes)")
	prefix := fs.String("prefix", "", "prepended to every object name, e.g. load/")
	concurrency := fs.Int("concurrency", 16, "uploads in flight")
	wait := fs.Bool("wait", false, "wait until s3cached has cached every object, and report the upload→cache lag")
	direct := fs.Bool("direct", false, "write the objects to Redis too, where there is no entry (no daemon needed)")
	timeout := fs.Duration("timeout", 2*time.Minute, "with --wait: how long to wait, uploads included, for the daemon to cache the objects")
	if done, err := e.parseFlags(fs, loadUsage, args); done || err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageErrorf("load takes no arguments, got %q", fs.Args())
	case *count < 1:
		return usageErrorf("--count %d: want 1 or more", *count)
	case *size < 0:
		return usageErrorf("--size %d: want 0 (the sample's text) or more bytes", *size)
	case *concurrency < 1:
		return usageErrorf("--concurrency %d: want 1 or more", *concurrency)
	case *wait && *direct:
		return usageErrorf("--wait and --direct exclude each other: --wait waits for s3cached to fill the cache, --direct fills it without one")
	}
	bucket, err := e.bucket()
	if err != nil {
		return err
	}
	if *wait || *direct {
		if err := e.checkCacheable(*prefix, *count, *size); err != nil {
			return err
		}
	}
	s3c, err := e.s3(ctx)
	if err != nil {
		return err
	}
	// Check every name before uploading any, so that a refusal leaves nothing behind.
	found, err := e.findGenerated(ctx, s3c, bucket, *prefix, *count, *concurrency)
	if err != nil {
		return err
	}
	etags := map[string]string{} // of the marked objects load may replace
	var unmarked []string
	for _, g := range found {
		if g.marked {
			etags[g.key] = g.etag
		} else {
			unmarked = append(unmarked, g.key)
		}
	}
	if len(unmarked) > 0 {
		return refuseUnmarked(bucket, unmarked, false)
	}
	var store *cache.Store
	if *wait || *direct {
		if store, err = e.cache(ctx); err != nil {
			return err
		}
	}

	objects := make([]loadObject, *count)
	for i := range objects {
		objects[i] = loadObject{name: objectName(*prefix, i), body: sampleBody(i, *size)}
	}

	var w *waiter
	if *wait {
		w = newWaiter(store, bucket, *count)
	}
	bar := e.newProgress(int64(*count), "uploading")
	start := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	wctx, cancel := context.WithTimeout(gctx, *timeout)
	defer cancel()
	if w != nil {
		g.Go(func() error { return w.run(wctx) })
	}
	var filled, kept atomic.Int64
	g.Go(func() error {
		ug, uctx := errgroup.WithContext(gctx)
		ug.SetLimit(*concurrency)
		for i := range objects {
			ug.Go(func() error {
				o := &objects[i]
				if err := upload(uctx, s3c, bucket, o, etags[o.name]); err != nil {
					return err
				}
				bar.add(1)
				if w != nil {
					w.add(o)
				}
				if *direct {
					ok, err := store.Fill(uctx, bucket, o.name, cache.Object{Body: o.body, ETag: o.etag, Size: int64(len(o.body)), ContentType: contentType})
					if err != nil {
						return err
					}
					if ok {
						filled.Add(1)
					} else {
						kept.Add(1)
					}
				}
				return nil
			})
		}
		err := ug.Wait()
		bar.done()
		if err == nil {
			uploaded := time.Since(start)
			fmt.Fprintf(e.stdout, "uploaded %d objects to s3://%s (%s … %s, %s) in %s\n",
				len(objects), bucket, objects[0].name, objects[len(objects)-1].name, sizeRange(objects), uploaded.Round(time.Millisecond))
		}
		return err
	})
	if err := g.Wait(); err != nil {
		if w != nil && errors.Is(wctx.Err(), context.DeadlineExceeded) && errors.Is(err, context.DeadlineExceeded) {
			return w.timeoutError(*timeout)
		}
		return explainS3(err, bucket)
	}

	if *direct {
		fmt.Fprintf(e.stdout, "filled %d entries in Redis %s", filled.Load(), e.redisName())
		if n := kept.Load(); n > 0 {
			fmt.Fprintf(e.stdout, "; %d left as they were (an entry or a tombstone was there: fills never overwrite; run s3cache flush first to replace them)", n)
		}
		fmt.Fprintln(e.stdout)
	}
	if w != nil {
		st := query.Summarize(w.lags)
		fmt.Fprintf(e.stdout, "cached by s3cached: %d of %d in %s; upload→cache lag p50 %s, p99 %s, max %s (±%s polling)\n",
			len(w.lags), *count, time.Since(start).Round(time.Millisecond), ms(st.P50), ms(st.P99), ms(st.Max), pollInterval)
	}
	return nil
}

// contentType is the Content-Type of the generated objects.
const contentType = "text/plain; charset=utf-8"

// loadObject is one generated object.
type loadObject struct {
	name       string
	body       []byte
	etag       string    // set by upload
	uploadedAt time.Time // set by upload
}

// sampleBody is the body of object i: the sample's text, or that text repeated to size
// bytes.
func sampleBody(i, size int) []byte {
	text := fmt.Sprintf("some generated data for filename%d", i)
	if size == 0 {
		return []byte(text)
	}
	text += " "
	return bytes.Repeat([]byte(text), size/len(text)+1)[:size]
}

// loadMarkKey and loadMarkValue are the user metadata that load gives every object it
// uploads (x-amz-meta-s3cache-load: 1). A bucket may hold someone's own
// filename<i>.txt: cleanup deletes only objects that carry the mark, and load replaces
// only those.
const (
	loadMarkKey   = "s3cache-load"
	loadMarkValue = "1"
)

// hasLoadMark reports whether an object's user metadata, as the SDK returns it (keys
// lower-cased, without x-amz-meta-), carries load's mark.
func hasLoadMark(meta map[string]string) bool {
	return meta[loadMarkKey] == loadMarkValue
}

// putAttempts bounds how often upload retries when the object changed between its
// check and its write.
const putAttempts = 3

// upload puts o, with load's mark, where etag says what is there: "" no object, else
// the ETag of a marked object that it may replace. The write is conditional on that
// (If-None-Match: *, or If-Match: etag), so an object written since the check is never
// overwritten unseen: upload reads it again, and retries over it if it carries the mark
// or refuses if it does not.
func upload(ctx context.Context, s3c *s3.Client, bucket string, o *loadObject, etag string) error {
	in := &s3.PutObjectInput{
		Bucket:        aws.String(bucket),
		Key:           aws.String(o.name),
		ContentLength: aws.Int64(int64(len(o.body))),
		ContentType:   aws.String(contentType),
		Metadata:      map[string]string{loadMarkKey: loadMarkValue},
	}
	for attempt := 1; ; attempt++ {
		in.Body = bytes.NewReader(o.body)
		in.IfNoneMatch, in.IfMatch = nil, nil
		if etag == "" {
			in.IfNoneMatch = aws.String("*")
		} else {
			in.IfMatch = aws.String(etag)
		}
		out, err := s3c.PutObject(ctx, in)
		if err == nil {
			o.uploadedAt = time.Now()
			o.etag = strings.Trim(aws.ToString(out.ETag), `"`)
			return nil
		}
		if !conditionFailed(err) {
			return fmt.Errorf("put object s3://%s/%s: %w", bucket, o.name, err)
		}
		if attempt == putAttempts {
			return fmt.Errorf("put object s3://%s/%s: it changed between check and write %d times (%w): is another s3cache load writing the same names? Wait for it, or use another --prefix", bucket, o.name, attempt, err)
		}
		head, err := s3c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(o.name)})
		var notFound *types.NotFound
		switch {
		case errors.As(err, &notFound):
			etag = ""
		case err != nil:
			return fmt.Errorf("head object s3://%s/%s: %w", bucket, o.name, err)
		case !hasLoadMark(head.Metadata):
			return refuseUnmarked(bucket, []string{o.name}, true)
		default:
			etag = aws.ToString(head.ETag)
		}
	}
}

// conditionFailed reports whether a conditional write failed because the object is not
// as expected: 412, or 409 when a concurrent write to the key won.
func conditionFailed(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "PreconditionFailed", "ConditionalRequestConflict":
		return true
	}
	return false
}

// refuseUnmarked is load's error for objects at its names that it did not upload.
// during says the upload had begun: objects written before may be in the bucket.
func refuseUnmarked(bucket string, keys []string, during bool) error {
	names := make([]string, 0, 3)
	for _, k := range keys[:min(3, len(keys))] {
		names = append(names, "s3://"+bucket+"/"+k)
	}
	list := strings.Join(names, ", ")
	if n := len(keys) - len(names); n > 0 {
		list += fmt.Sprintf(" and %d more", n)
	}
	what, them, are := "exists", "it", "is"
	if len(keys) > 1 {
		what, them, are = "exist", "them", "are"
	}
	hint := fmt.Sprintf("choose another --prefix (e.g. --prefix load/), or delete %s yourself if %s %s disposable (an s3cache load older than the mark uploaded objects without it)", them, them, are)
	if during {
		return fmt.Errorf("%s was written by someone else while load ran and has no %s metadata: load does not overwrite it and stopped (the objects it uploaded carry the mark; s3cache cleanup with the same --count and --prefix deletes them); %s", list, loadMarkKey, hint)
	}
	return fmt.Errorf("%s %s without s3cache load's mark (%s metadata): load does not overwrite what it did not upload, and uploaded nothing; %s", list, what, loadMarkKey, hint)
}

func hasKey(m map[string]int, k string) bool {
	_, ok := m[k]
	return ok
}

// generated is an object of the bucket with one of the names load gives.
type generated struct {
	key    string
	etag   string // as S3 returns it, quoted: what If-Match and a conditional delete take
	marked bool   // carries load's mark
}

// findGenerated returns the objects of bucket that have the names load gives its first
// count objects under prefix, in load's order, each with whether it carries the mark:
// one listing of <prefix>filename*, then a HeadObject of each match, concurrency at a
// time. An object deleted between the two is left out.
func (e *env) findGenerated(ctx context.Context, s3c *s3.Client, bucket, prefix string, count, concurrency int) ([]generated, error) {
	index := make(map[string]int, count)
	for i := range count {
		index[objectName(prefix, i)] = i
	}
	var keys []string
	pages := s3.NewListObjectsV2Paginator(s3c, &s3.ListObjectsV2Input{Bucket: aws.String(bucket), Prefix: aws.String(prefix + "filename")})
	for pages.HasMorePages() {
		page, err := pages.NextPage(ctx)
		if err != nil {
			return nil, explainS3(fmt.Errorf("list s3://%s/%sfilename*: %w", bucket, prefix, err), bucket)
		}
		for _, o := range page.Contents {
			if k := aws.ToString(o.Key); hasKey(index, k) {
				keys = append(keys, k)
			}
		}
	}
	slices.SortFunc(keys, func(a, b string) int { return index[a] - index[b] })

	out := make([]generated, len(keys))
	found := make([]bool, len(keys))
	bar := e.newProgress(int64(len(keys)), "checking")
	defer bar.done()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	for i, k := range keys {
		g.Go(func() error {
			head, err := s3c.HeadObject(gctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
			var notFound *types.NotFound
			switch {
			case errors.As(err, &notFound):
			case err != nil:
				return explainS3(fmt.Errorf("head object s3://%s/%s: %w", bucket, k, err), bucket)
			default:
				out[i] = generated{key: k, etag: aws.ToString(head.ETag), marked: hasLoadMark(head.Metadata)}
				found[i] = true
			}
			bar.add(1)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	kept := out[:0]
	for i, o := range out {
		if found[i] {
			kept = append(kept, o)
		}
	}
	return kept, nil
}

func sizeRange(objects []loadObject) string {
	lo, hi := len(objects[0].body), len(objects[0].body)
	for _, o := range objects {
		lo, hi = min(lo, len(o.body)), max(hi, len(o.body))
	}
	if lo == hi {
		return fmt.Sprintf("%d bytes each", lo)
	}
	return fmt.Sprintf("%d–%d bytes", lo, hi)
}

// checkCacheable fails when the daemon (or a fill) would not cache the objects, so that
// --wait cannot wait forever.
func (e *env) checkCacheable(prefix string, count, size int) error {
	if int64(len(sampleBody(count-1, size))) > e.cfg.MaxObjectBytes {
		return fmt.Errorf("--size %d is over S3CACHE_MAX_OBJECT_BYTES=%d: objects this large are not cached; use a smaller --size or raise the limit (for s3cached too)", size, e.cfg.MaxObjectBytes)
	}
	for i := range count {
		if name := objectName(prefix, i); !e.cfg.Cached(name) {
			return fmt.Errorf("%s is not cached under S3CACHE_KEY_PREFIXES=%q and S3CACHE_KEY_SUFFIXES=%q: choose a --prefix they allow", name, strings.Join(e.cfg.KeyPrefixes, ","), strings.Join(e.cfg.KeySuffixes, ","))
		}
	}
	return nil
}

// waiter watches the cache until every uploaded object is there, and records each
// one's upload→cache lag.
type waiter struct {
	store  *cache.Store
	bucket string
	want   int

	mu      sync.Mutex
	pending map[string]*loadObject
	lags    []time.Duration // written by run only
	seen    int
}

func newWaiter(store *cache.Store, bucket string, want int) *waiter {
	return &waiter{store: store, bucket: bucket, want: want, pending: map[string]*loadObject{}}
}

// add starts watching an uploaded object.
func (w *waiter) add(o *loadObject) {
	w.mu.Lock()
	w.pending[o.name] = o
	w.mu.Unlock()
}

// run polls until every object is cached, ctx ends, or Redis fails.
func (w *waiter) run(ctx context.Context) error {
	t := time.NewTicker(pollInterval)
	defer t.Stop()
	for {
		w.mu.Lock()
		batch := make([]*loadObject, 0, len(w.pending))
		for _, o := range w.pending {
			batch = append(batch, o)
		}
		w.mu.Unlock()

		if len(batch) > 0 {
			done, err := w.poll(ctx, batch)
			if err != nil {
				return err
			}
			w.mu.Lock()
			for _, o := range done {
				delete(w.pending, o.name)
			}
			w.mu.Unlock()
			w.seen += len(done)
		}
		if w.seen == w.want {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// poll returns the objects of batch that are cached as uploaded.
func (w *waiter) poll(ctx context.Context, batch []*loadObject) ([]*loadObject, error) {
	want := make(map[string]cache.Object, len(batch))
	byName := make(map[string]*loadObject, len(batch))
	for _, o := range batch {
		want[o.name] = cache.Object{Body: o.body, ETag: o.etag}
		byName[o.name] = o
	}
	held, err := w.store.Holds(ctx, w.bucket, want)
	if err != nil {
		return nil, fmt.Errorf("read the cache: %w", err)
	}
	now := time.Now()
	done := make([]*loadObject, len(held))
	for i, name := range held {
		done[i] = byName[name]
		w.lags = append(w.lags, now.Sub(done[i].uploadedAt))
	}
	return done, nil
}

func (w *waiter) timeoutError(timeout time.Duration) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	example := ""
	for name := range w.pending {
		if example == "" || name < example {
			example = name
		}
	}
	missing := w.want - w.seen
	return fmt.Errorf("waited %s: %d of %d objects not cached (e.g. %s): is s3cached running and consuming the bucket's notifications? Check it with s3cached --check, and its log",
		timeout, missing, w.want, example)
}
