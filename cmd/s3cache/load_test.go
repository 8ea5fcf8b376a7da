package main

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3cache/s3cache/internal/testenv"
)

func TestLoad_Direct(t *testing.T) {
	t.Parallel()
	h := newHarness(t, standalone)
	out := h.mustRun(t, "load", "--count", "12", "--direct")
	if !strings.HasPrefix(out, "uploaded 12 objects to s3://s3cache-cli (filename0.txt … filename11.txt, 33–34 bytes) in ") ||
		!strings.Contains(out, "\nfilled 12 entries in Redis redis://127.0.0.1:") {
		t.Errorf("load --direct: got\n%s", out)
	}
	for _, i := range []int{0, 11} {
		key := objectName("", i)
		body, etag := h.s3.Get(t, h.bucket, key)
		if want := "some generated data for filename" + strconv.Itoa(i); string(body) != want {
			t.Errorf("S3 %s: got %q, want %q", key, body, want)
		}
		m := h.entry(t, key)
		if m["body"] != string(body) || m["etag"] != etag || m["seq"] != "" || m["size"] != strconv.Itoa(len(body)) {
			t.Errorf("entry %s: got %v, want body %q, etag %s, empty seq (a fill)", key, m, body, etag)
		}
	}

	t.Run("FillNeverOverwrites", func(t *testing.T) {
		// An entry the daemon wrote from an event stays as it is.
		if err := h.rdb.HSet(t.Context(), h.redisKey("filename3.txt"), "body", "from an event", "seq", "0A").Err(); err != nil {
			t.Fatal(err)
		}
		out := h.mustRun(t, "load", "--count", "5", "--size", "100", "--direct")
		if !strings.Contains(out, "(filename0.txt … filename4.txt, 100 bytes each)") ||
			!strings.Contains(out, "filled 0 entries in Redis") || !strings.Contains(out, "; 5 left as they were") {
			t.Errorf("second load --direct: got\n%s", out)
		}
		if got := h.entry(t, "filename3.txt")["body"]; got != "from an event" {
			t.Errorf("entry filename3.txt body: got %q, want the event's", got)
		}
		if body, _ := h.s3.Get(t, h.bucket, "filename4.txt"); len(body) != 100 || !strings.HasPrefix(string(body), "some generated data for filename4 some") {
			t.Errorf("S3 filename4.txt with --size 100: got %q", body)
		}
	})
	t.Run("Prefix", func(t *testing.T) {
		out := h.mustRun(t, "load", "--count", "2", "--prefix", "p/")
		if !strings.Contains(out, "(p/filename0.txt … p/filename1.txt,") || strings.Contains(out, "filled") {
			t.Errorf("load --prefix p/: got\n%s", out)
		}
		if !h.objectExists(t, "p/filename1.txt") {
			t.Error("p/filename1.txt not uploaded")
		}
		if m := h.entry(t, "p/filename1.txt"); len(m) != 0 {
			t.Errorf("load without --direct or a daemon cached p/filename1.txt: %v", m)
		}
	})
	t.Run("NotCacheable", func(t *testing.T) {
		h := *h
		h.cfg.MaxObjectBytes = 50
		if _, _, err := h.run(t, "load", "--direct", "--size", "51"); err == nil || !strings.Contains(err.Error(), "S3CACHE_MAX_OBJECT_BYTES=50") {
			t.Errorf("load --direct --size 51 with a 50-byte limit: got %v, want an error naming S3CACHE_MAX_OBJECT_BYTES", err)
		}
		h.cfg.KeyPrefixes = []string{"images/"}
		if _, _, err := h.run(t, "load", "--wait"); err == nil || !strings.Contains(err.Error(), "S3CACHE_KEY_PREFIXES=\"images/\"") {
			t.Errorf("load --wait with keys filtered out: got %v, want an error naming S3CACHE_KEY_PREFIXES", err)
		}
	})
}

// lagLine matches the lag report of load --wait.
var lagLine = regexp.MustCompile(`cached by s3cached: (\d+) of (\d+) in \S+; upload→cache lag p50 ([0-9.]+) ms, p99 ([0-9.]+) ms, max ([0-9.]+) ms`)

func TestLoad_WaitForDaemon(t *testing.T) {
	t.Parallel()
	h := newHarness(t, standalone)
	h.startDaemon()
	out := h.mustRun(t, "load", "--count", "30", "--wait", "--timeout", "30s")
	m := lagLine.FindStringSubmatch(out)
	if m == nil || m[1] != "30" || m[2] != "30" {
		t.Fatalf("load --wait: got\n%s\nwant %q with 30 of 30", out, lagLine)
	}
	p50, _ := strconv.ParseFloat(m[3], 64)
	p99, _ := strconv.ParseFloat(m[4], 64)
	maxLag, _ := strconv.ParseFloat(m[5], 64)
	if p50 <= 0 || p50 > p99 || p99 > maxLag || maxLag > 30000 {
		t.Errorf("lags p50 %v ≤ p99 %v ≤ max %v: want positive, ordered and under the timeout", p50, p99, maxLag)
	}
	for i := range 30 {
		key := objectName("", i)
		e := h.entry(t, key)
		if e["body"] != "some generated data for filename"+strconv.Itoa(i) || e["seq"] == "" {
			t.Fatalf("entry %s: got %v, want the body, written by the daemon (seq set)", key, e)
		}
	}

	t.Run("Overwrite", func(t *testing.T) {
		// New bodies: the daemon must replace what it cached, and --wait must see it.
		out := h.mustRun(t, "load", "--count", "5", "--size", "64", "--wait", "--timeout", "30s")
		if m := lagLine.FindStringSubmatch(out); m == nil || m[1] != "5" {
			t.Fatalf("load --wait over cached objects: got\n%s", out)
		}
		if got := len(h.entry(t, "filename4.txt")["body"]); got != 64 {
			t.Errorf("filename4.txt cached body: got %d bytes, want 64", got)
		}
	})
}

// TestLoad_DaemonRoundTrip: load --wait, then cleanup; the daemon evicts what cleanup
// deleted, and verify finds the cache coherent.
func TestLoad_DaemonRoundTrip(t *testing.T) {
	t.Parallel()
	h := newHarness(t, standalone)
	h.startDaemon()
	h.mustRun(t, "load", "--count", "10", "--wait", "--timeout", "30s")
	if out := h.mustRun(t, "cleanup", "--count", "10"); !strings.HasPrefix(out, "deleted 10 objects") {
		t.Fatalf("cleanup: got %q", out)
	}
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		out := h.mustRun(t, "dbsize")
		return strings.HasPrefix(out, "bucket s3cache-cli: 10 keys (0 cached objects, 10 tombstones, 0 other)"), out
	})
	out := squash(h.mustRun(t, "verify"))
	if !strings.HasPrefix(out, "verified s3://s3cache-cli/: 0 objects in S3, 0 cached\n ok 0\n missing 0 (") || !strings.Contains(out, "\n orphaned 0 (") {
		t.Errorf("verify after cleanup: got\n%s\nwant nothing orphaned (tombstones are not orphans)", out)
	}
}

func TestLoad_WaitWithoutDaemonTimesOut(t *testing.T) {
	t.Parallel()
	h := newHarness(t, standalone)
	start := time.Now()
	_, _, err := h.run(t, "load", "--count", "3", "--wait", "--timeout", "500ms")
	if err == nil || !strings.Contains(err.Error(), "3 of 3 objects not cached (e.g. filename0.txt): is s3cached running") {
		t.Fatalf("load --wait without a daemon: got %v, want a timeout naming the objects and s3cached", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("load --wait --timeout 500ms took %v", d)
	}
}

// TestLoad_RefusesUnmarked: load uploads nothing when one of its names holds an object
// without its mark, and marks what it uploads.
func TestLoad_RefusesUnmarked(t *testing.T) {
	t.Parallel()
	h := newHarness(t, standalone)
	for i := 1; i <= 4; i++ {
		h.s3.Put(t, h.bucket, objectName("", i), []byte("someone's data"))
	}
	_, _, err := h.run(t, "load", "--count", "6")
	const refused = " without s3cache load's mark (s3cache-load metadata): load does not overwrite what it did not upload, and uploaded nothing; choose another --prefix (e.g. --prefix load/)"
	if want := "s3://s3cache-cli/filename1.txt, s3://s3cache-cli/filename2.txt, s3://s3cache-cli/filename3.txt and 1 more exist" + refused; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("load over 4 unmarked objects: got %v, want %q…", err, want)
	}
	for _, i := range []int{0, 5} {
		if k := objectName("", i); h.objectExists(t, k) {
			t.Errorf("load refused, but uploaded %s", k)
		}
	}
	if body, _ := h.s3.Get(t, h.bucket, "filename3.txt"); string(body) != "someone's data" {
		t.Errorf("filename3.txt: got %q, want it left as it was", body)
	}
	if _, _, err := h.run(t, "load", "--count", "2"); err == nil || !strings.HasPrefix(err.Error(), "s3://s3cache-cli/filename1.txt exists"+refused) {
		t.Errorf("load over 1 unmarked object: got %v", err)
	}

	h.mustRun(t, "load", "--count", "6", "--prefix", "load/")
	head, err := h.s3.Client.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String(h.bucket), Key: aws.String("load/filename5.txt")})
	if err != nil {
		t.Fatal(err)
	}
	if got := head.Metadata["s3cache-load"]; got != "1" {
		t.Errorf("load/filename5.txt metadata: got %v, want s3cache-load: 1", head.Metadata)
	}
	// Its own objects, load replaces.
	h.mustRun(t, "load", "--count", "6", "--prefix", "load/", "--size", "80")
	if body, _ := h.s3.Get(t, h.bucket, "load/filename5.txt"); len(body) != 80 {
		t.Errorf("load/filename5.txt after a second load --size 80: got %d bytes", len(body))
	}
}

// TestUpload_WrittenSinceCheck: what appears at a name between load's check and its
// upload is caught by the conditional write: an object without the mark is refused and
// kept, one with the mark is replaced, whatever ETag the check saw.
func TestUpload_WrittenSinceCheck(t *testing.T) {
	t.Parallel()
	h := newHarness(t, standalone)
	ctx := t.Context()

	h.s3.Put(t, h.bucket, "filename0.txt", []byte("someone's data"))
	err := upload(ctx, h.s3.Client, h.bucket, &loadObject{name: "filename0.txt", body: sampleBody(0, 0)}, "")
	if err == nil || !strings.HasPrefix(err.Error(), "s3://s3cache-cli/filename0.txt was written by someone else while load ran and has no s3cache-load metadata: load does not overwrite it and stopped") {
		t.Errorf("upload over an unmarked object it did not expect: got %v", err)
	}
	if body, _ := h.s3.Get(t, h.bucket, "filename0.txt"); string(body) != "someone's data" {
		t.Errorf("filename0.txt: got %q, want it left as it was", body)
	}

	for _, c := range []struct {
		size int
		etag string // what the check saw
	}{
		{0, ""},  // nothing: the first upload
		{50, ""}, // nothing, but another load's object is there now
		{60, `"0123456789abcdef0123456789abcdef"`}, // another of load's objects than is there now
	} {
		o := &loadObject{name: "filename1.txt", body: sampleBody(1, c.size)}
		if err := upload(ctx, h.s3.Client, h.bucket, o, c.etag); err != nil {
			t.Errorf("upload --size %d, checked ETag %q: %v", c.size, c.etag, err)
			continue
		}
		if body, etag := h.s3.Get(t, h.bucket, "filename1.txt"); string(body) != string(o.body) || etag != o.etag {
			t.Errorf("upload --size %d, checked ETag %q: S3 has %d bytes, ETag %s; want %d bytes, %s", c.size, c.etag, len(body), etag, len(o.body), o.etag)
		}
	}

	// The check saw load's object; someone replaced it with theirs since. (Deleted
	// first: gofakes3, unlike S3, keeps the metadata of the object a PUT replaces.)
	_, checked := h.s3.Get(t, h.bucket, "filename1.txt")
	h.s3.Delete(t, h.bucket, "filename1.txt")
	h.s3.Put(t, h.bucket, "filename1.txt", []byte("someone's data"))
	err = upload(ctx, h.s3.Client, h.bucket, &loadObject{name: "filename1.txt", body: sampleBody(1, 0)}, `"`+checked+`"`)
	if err == nil || !strings.HasPrefix(err.Error(), "s3://s3cache-cli/filename1.txt was written by someone else while load ran") {
		t.Errorf("upload over load's object replaced since the check: got %v", err)
	}
	if body, _ := h.s3.Get(t, h.bucket, "filename1.txt"); string(body) != "someone's data" {
		t.Errorf("filename1.txt: got %q, want it left as it was", body)
	}
}
