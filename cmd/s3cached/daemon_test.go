package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/s3cache/s3cache/internal/testenv"
	"github.com/s3cache/s3cache/s3event"
)

func TestDaemon_WriteThroughAndEviction(t *testing.T) {
	h := newHarness(t)
	h.startDaemon()

	v1 := []byte("Hello from s3cache, version 1\n")
	put := h.created("filename1.txt", v1)
	h.send(put)
	h.waitBody("filename1.txt", v1)
	m := h.entry("filename1.txt")
	for field, want := range map[string]string{
		"etag": put.ETag, "size": fmt.Sprint(len(v1)), "seq": put.Sequencer,
	} {
		if m[field] != want {
			t.Errorf("field %s: got %q, want %q", field, m[field], want)
		}
	}
	if _, err := time.Parse(time.RFC3339, m["last_modified"]); err != nil {
		t.Errorf("last_modified %q is not RFC 3339: %v", m["last_modified"], err)
	}
	if m["content_type"] == "" {
		t.Error("content_type not set")
	}
	if ttl := h.rdb.TTL(t.Context(), h.redisKey("filename1.txt")).Val(); ttl < 21*time.Hour || ttl > 27*time.Hour {
		t.Errorf("TTL: got %v, want 24h ± 10%%", ttl)
	}

	v2 := []byte("version 2, overwritten")
	h.send(h.created("filename1.txt", v2))
	h.waitBody("filename1.txt", v2)

	h.send(h.removed("filename1.txt"))
	h.waitEvicted("filename1.txt")

	// Lifecycle expiration evicts too.
	v3 := []byte("expires soon")
	h.send(h.created("expiring.txt", v3))
	h.waitBody("expiring.txt", v3)
	exp := h.removed("expiring.txt")
	exp.Name = "LifecycleExpiration:Delete"
	h.send(exp)
	h.waitEvicted("expiring.txt")

	h.waitQueueEmpty()
	h.checkDLQEmpty()
}

// TestDaemon_AwkwardKeys: S3 sends object keys form-URL-encoded. The messages are
// written here as S3 writes them, each key in its encoded form typed out (not made by
// the project's encoder, which would then test itself), and the daemon must cache each
// object under its real key.
func TestDaemon_AwkwardKeys(t *testing.T) {
	h := newHarness(t)
	h.startDaemon()
	keys := []struct{ key, wire string }{
		{"with space.txt", "with+space.txt"},
		{"a+b=c.txt", "a%2Bb%3Dc.txt"},
		{"100% done.txt", "100%25+done.txt"},
		{"ünïcødé/日本語 ファイル.txt", "%C3%BCn%C3%AFc%C3%B8d%C3%A9/%E6%97%A5%E6%9C%AC%E8%AA%9E+%E3%83%95%E3%82%A1%E3%82%A4%E3%83%AB.txt"},
		{"dir/sub/deep/file.txt", "dir/sub/deep/file.txt"},
		{"q?x&y#z.txt", "q%3Fx%26y%23z.txt"},
	}
	for i, k := range keys {
		e := h.created(k.key, []byte(fmt.Sprint("body ", i)))
		h.sqs.Send(t, h.queue, fmt.Sprintf(`{"Records":[{"eventVersion":"2.1","eventSource":"aws:s3","awsRegion":%q,`+
			`"eventTime":"2026-11-25T10:00:00.000Z","eventName":"ObjectCreated:Put",`+
			`"s3":{"s3SchemaVersion":"1.0","bucket":{"name":%q,"arn":"arn:aws:s3:::%s"},`+
			`"object":{"key":%q,"size":%d,"eTag":%q,"sequencer":%q}}}]}`,
			testenv.Region, h.bucket, h.bucket, k.wire, e.Size, e.ETag, e.Sequencer))
	}
	for i, k := range keys {
		h.waitBody(k.key, []byte(fmt.Sprint("body ", i)))
	}
	h.waitQueueEmpty()
	h.checkDLQEmpty()
}

func TestDaemon_OutOfOrderNoResurrection(t *testing.T) {
	h := newHarness(t)
	h.startDaemon()
	body := []byte("still in S3, but an older event")
	put := h.created("k.txt", body) // sequencer 1; the object stays in S3
	del := s3event.Event{Kind: s3event.KindRemoved, Name: "ObjectRemoved:Delete", Bucket: h.bucket, Key: "k.txt", Size: -1, Sequencer: h.nextSeq(), Time: time.Now()}
	h.send(del) // the later removal arrives first
	h.waitEvicted("k.txt")
	h.send(put)
	h.waitQueueEmpty()
	if m := h.entry("k.txt"); m["deleted"] != "1" || m["body"] != "" || m["seq"] != del.Sequencer {
		t.Errorf("after the older put: entry %v, want the tombstone with seq %s", testenv.ShortenMap(m), del.Sequencer)
	}

	// Newest first, then the older overwrites: the newest body stays.
	a := h.created("o.txt", []byte("a"))
	b := h.created("o.txt", []byte("b"))
	c := h.created("o.txt", []byte("c"))
	h.send(c)
	h.waitBody("o.txt", []byte("c"))
	h.send(a, b)
	h.waitQueueEmpty()
	if got := h.entry("o.txt")["body"]; got != "c" {
		t.Errorf("body after older events: got %q, want c", got)
	}
}

func TestDaemon_DuplicateDeliveryWritesOnce(t *testing.T) {
	h := newHarness(t)
	d := h.startDaemon()
	e := h.created("dup.txt", []byte("once"))
	h.send(e)
	h.waitBody("dup.txt", []byte("once"))
	h.send(e)
	h.waitQueueEmpty()
	testenv.Eventually(t, 5*time.Second, func() (bool, string) {
		w := d.Metric(t, `s3cache_events_total{outcome="written",type="created"}`)
		dup := d.Metric(t, `s3cache_events_total{outcome="duplicate",type="created"}`)
		return w == 1 && dup == 1, fmt.Sprintf("written=%v duplicate=%v, want 1 and 1", w, dup)
	})
}

// TestDaemon_TwoDaemonsConverge runs two daemons on one queue against puts, overwrites and
// deletes delivered shuffled and partly duplicated, and checks every key against S3.
func TestDaemon_TwoDaemonsConverge(t *testing.T) {
	h := newHarness(t)
	h.startDaemon("S3CACHE_WORKERS=4")
	h.startDaemon("S3CACHE_WORKERS=4")
	rng := rand.New(rand.NewPCG(1, 2))
	var events []s3event.Event
	final := map[string][]byte{} // nil: deleted
	for i := range 40 {
		key := fmt.Sprintf("obj-%02d.txt", i)
		for v := range 1 + rng.IntN(3) {
			body := []byte(fmt.Sprintf("%s v%d", key, v))
			events = append(events, h.created(key, body))
			final[key] = body
		}
		if rng.IntN(3) == 0 {
			events = append(events, h.removed(key))
			final[key] = nil
		}
	}
	rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	for i, e := range events {
		h.send(e)
		if i%4 == 0 {
			h.send(e) // duplicate delivery
		}
	}
	h.waitQueueEmpty()
	for key, want := range final {
		m := h.entry(key)
		got, cached := m["body"]
		if want == nil && cached {
			t.Errorf("%s: deleted in S3 but cached as %q", key, got)
		}
		if want != nil && cached && got != string(want) {
			t.Errorf("%s: stale: cached %q, S3 has %q", key, got, want)
		}
		if want != nil && !cached {
			t.Errorf("%s: not cached after its last event (entry %v)", key, testenv.ShortenMap(m))
		}
	}
}

func TestDaemon_AcknowledgesTestAndIgnoredEvents_GarbageToDLQ(t *testing.T) {
	h := newHarness(t)
	d := h.startDaemon()
	h.sqs.Send(t, h.queue, `{"Service":"Amazon S3","Event":"s3:TestEvent","Time":"2026-11-25T10:00:00.000Z","Bucket":"`+h.bucket+`","RequestId":"5582815E1AEA5ADF","HostId":"8cLeGAmw098X5cv4Zkwcmo8vvZa3eH3eKxsPzbB9wrR+YstdA6Knx4Ip8EXAMPLE"}`)
	tag := s3event.Event{Kind: s3event.KindIgnored, Name: "ObjectTagging:Put", Bucket: h.bucket, Key: "tagged.txt", Size: -1, Sequencer: h.nextSeq(), Time: time.Now()}
	h.send(tag)
	garbage := "this is not an S3 event {"
	h.sqs.Send(t, h.queue, garbage)

	// The garbage message is received, left undeleted, and moved to the DLQ by redrive.
	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		v, f := h.sqs.Count(t, h.dlq)
		return v+f == 1, fmt.Sprintf("DLQ holds %d messages, want 1", v+f)
	})
	h.waitQueueEmpty()
	if got := h.sqs.Drain(t, h.dlq); len(got) != 1 || got[0] != garbage {
		t.Errorf("DLQ: got %q, want only the garbage message", got)
	}
	wantMetrics(t, d, map[string]float64{
		`s3cache_events_total{outcome="acknowledged",type="test"}`:    1,
		`s3cache_events_total{outcome="acknowledged",type="ignored"}`: 1,
	})
	if n := d.Metric(t, `s3cache_errors_total{stage="parse"}`); n < 1 {
		t.Errorf("parse errors: %v, want ≥ 1", n)
	}
	if m := h.entry("tagged.txt"); len(m) != 0 {
		t.Errorf("ignored event wrote an entry: %v", m)
	}
}

func TestDaemon_TooLargeAndGoneEvict(t *testing.T) {
	h := newHarness(t)
	d := h.startDaemon("S3CACHE_MAX_OBJECT_BYTES=100")
	small := []byte("small enough")
	h.send(h.created("grows.txt", small))
	h.waitBody("grows.txt", small)
	h.send(h.created("grows.txt", bytes.Repeat([]byte("x"), 101)))
	h.waitEvicted("grows.txt")

	h.send(h.created("gone.txt", small))
	h.waitBody("gone.txt", small)
	// A created event for an object deleted since (its removal event not yet here).
	e := h.created("gone.txt", []byte("v2"))
	h.s3.Delete(t, h.bucket, "gone.txt")
	h.send(e)
	h.waitEvicted("gone.txt")
	h.waitQueueEmpty()
	wantMetrics(t, d, map[string]float64{
		`s3cache_evictions_total{reason="too_large"}`: 1,
		`s3cache_evictions_total{reason="gone"}`:      1,
	})
}

// wantMetrics fails the test unless each sample of d's /metrics has the value want
// gives it.
func wantMetrics(t *testing.T, d *testenv.Daemon, want map[string]float64) {
	t.Helper()
	got, err := d.Metrics()
	if err != nil {
		t.Fatal(err)
	}
	for sample, w := range want {
		if got[sample] != w {
			t.Errorf("%s: got %v, want %v", sample, got[sample], w)
		}
	}
}

func TestDaemon_SNSAndEventBridge(t *testing.T) {
	h := newHarness(t)
	h.startDaemon()
	sns := h.created("via sns/a+b.txt", []byte("from SNS"))
	h.sqs.Send(t, h.queue, snsEnvelope(t, sns))
	const ebKey = "via eventbridge/c d+e=f%20 é.txt" // EventBridge sends it raw
	eb := h.created(ebKey, []byte("from EventBridge"))
	h.sqs.Send(t, h.queue, eventBridge(t, eb))
	h.waitBody("via sns/a+b.txt", []byte("from SNS"))
	h.waitBody(ebKey, []byte("from EventBridge"))

	h.sqs.Send(t, h.queue, snsEnvelope(t, h.removed("via sns/a+b.txt")))
	h.sqs.Send(t, h.queue, eventBridge(t, h.removed(ebKey)))
	h.waitEvicted("via sns/a+b.txt")
	h.waitEvicted(ebKey)
	h.waitQueueEmpty()
}

// TestDaemon_CephRecords: Ceph RGW sends keys as they are, its time with a space in
// 14.2, its sequencer in little-endian byte order, and lifecycle deletions under names
// of its own. Each is cached under the right key and ordered by time.
func TestDaemon_CephRecords(t *testing.T) {
	h := newHarness(t)
	h.startDaemon()
	ceph := func(e s3event.Event, seq, eventTime string) string {
		r := s3event.NewRecord(e, "default")
		r.EventSource, r.EventVersion, r.EventName = "ceph:s3", "2.2", "s3:"+r.EventName
		r.S3.Object.Key, r.S3.Object.Sequencer, r.EventTime = e.Key, seq, eventTime
		b, err := json.Marshal(s3event.Notification{Records: []s3event.Record{r}})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	keys := []string{"docs/c++ notes.txt", "100%.txt", "a b/ü.txt"}
	for i, k := range keys {
		// Little-endian second 0x602F1CFF, then the nanosecond.
		h.sqs.Send(t, h.queue, ceph(h.created(k, []byte("v1 "+k)), fmt.Sprintf("FF1C2F60%02X000000", i), "2021-02-19 02:03:08.330496Z"))
	}
	for _, k := range keys {
		h.waitBody(k, []byte("v1 "+k))
	}
	// A removal a second later, whose raw sequencer sorts before the put's.
	del := h.removed(keys[0])
	del.Name = "ObjectLifecycle:Expiration:Current"
	h.sqs.Send(t, h.queue, ceph(del, "001D2F6000000000", "2021-02-19T02:03:09.330496Z"))
	h.waitEvicted(keys[0])
	h.waitQueueEmpty()
	if n := h.redisKeys(t); n != len(keys) {
		t.Errorf("Redis holds %d keys, want %d (no key under a wrongly decoded name)", n, len(keys))
	}
}

func TestDaemon_KeyFilters(t *testing.T) {
	h := newHarness(t)
	h.startDaemon("S3CACHE_KEY_PREFIXES=images/,docs/", "S3CACHE_KEY_SUFFIXES=.txt", "S3CACHE_KEY_PREFIX=app1:")
	h.send(h.created("images/a.txt", []byte("yes")), h.created("images/a.png", []byte("no")), h.created("other/b.txt", []byte("no")))
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		got, _ := h.rdb.HGet(t.Context(), "app1:"+h.bucket+":images/a.txt", "body").Result()
		return got == "yes", fmt.Sprintf("app1:%s:images/a.txt body = %q", h.bucket, got)
	})
	h.waitQueueEmpty()
	keys, _ := h.rdb.Keys(t.Context(), "*").Result()
	if len(keys) != 1 {
		t.Errorf("keys in Redis: %v, want only the matching one", keys)
	}
}

func TestDaemon_RedisOutageLosesNothing(t *testing.T) {
	h := newHarness(t)
	d := h.startDaemon()
	h.send(h.created("before.txt", []byte("before")))
	h.waitBody("before.txt", []byte("before"))

	h.redis.Stop(t)
	var keys []string
	for i := range 20 {
		k := fmt.Sprintf("during-%02d.txt", i)
		keys = append(keys, k)
		h.send(h.created(k, []byte(k)))
	}
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		code, body := d.Get("/readyz")
		return code == http.StatusServiceUnavailable, fmt.Sprintf("/readyz during the outage: %d %s", code, body)
	})
	time.Sleep(2 * visibilityTimeout) // events are received and fail meanwhile
	h.redis.Start(t)

	for _, k := range keys {
		h.waitBody(k, []byte(k))
	}
	h.waitQueueEmpty()
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		code, body := d.Get("/readyz")
		return code == http.StatusOK, fmt.Sprintf("/readyz after the outage: %d %s", code, body)
	})
	h.checkDLQEmpty()
}

func TestDaemon_SIGTERMMidBatchLosesNothing(t *testing.T) {
	h := newHarness(t)
	var keys []string
	for i := range 200 { // queued before the daemon starts, so it is mid-stream at SIGTERM
		k := fmt.Sprintf("term-%02d.txt", i)
		keys = append(keys, k)
		h.send(h.created(k, bytes.Repeat([]byte{byte('a' + i%26)}, 16<<10)))
	}
	first := h.startDaemon("S3CACHE_WORKERS=1")
	testenv.Eventually(t, 15*time.Second, func() (bool, string) {
		n := first.Metric(t, `s3cache_cache_writes_total{source="event"}`)
		return n >= 5, fmt.Sprintf("%v writes so far", n)
	})
	if code := first.Stop(t, syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("exit code after SIGTERM: %d, want 0", code)
	}
	log, _ := os.ReadFile(first.LogPath)
	if !bytes.Contains(log, []byte("stopping: draining")) || !bytes.Contains(log, []byte(`"stopped"`)) {
		t.Errorf("log lacks the drain: %s", first.LogTail(10))
	}
	if v, f := h.sqs.Count(t, h.queue); v+f == 0 {
		t.Fatal("the queue was empty at SIGTERM: the test did not stop the daemon mid-stream")
	}
	h.startDaemon()
	for i, k := range keys {
		h.waitBody(k, bytes.Repeat([]byte{byte('a' + i%26)}, 16<<10))
	}
	h.waitQueueEmpty()
}

func TestDaemon_HealthAndMetrics(t *testing.T) {
	h := newHarness(t)
	d := h.startDaemon()
	if code, body := d.Get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz: %d %s", code, body)
	}
	h.send(h.created("m.txt", []byte("m")))
	h.waitBody("m.txt", []byte("m"))
	code, body := d.Get("/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, name := range []string{"s3cache_events_total", "s3cache_cache_writes_total", "s3cache_s3_fetch_duration_seconds_bucket", "s3cache_upload_to_cache_lag_seconds_count", "s3cache_messages_total"} {
		if !strings.Contains(body, name) {
			t.Errorf("/metrics lacks %s", name)
		}
	}
	if strings.Contains(body, "m.txt") {
		t.Error("/metrics contains an object key")
	}
}

func TestCommand_VersionCheckAndBadConfig(t *testing.T) {
	out, err := exec.Command(daemonBin, "--version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "s3cached ") {
		t.Errorf("--version: %q, %v", out, err)
	}

	for _, tc := range []struct {
		name string
		env  []string
		want string // in the output
	}{
		{"MissingQueue", []string{"S3CACHE_QUEUE_URL="}, "S3CACHE_QUEUE_URL is not set"},
		{"BadWorkers", []string{"S3CACHE_QUEUE_URL=https://sqs.example/1/q", "S3CACHE_WORKERS=lots"}, `S3CACHE_WORKERS="lots"`},
		{"MissingBucket", []string{"S3CACHE_QUEUE_URL=https://sqs.example/1/q", "S3CACHE_BUCKET="}, "S3CACHE_BUCKET is not set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(daemonBin, "--check")
			cmd.Env = append(os.Environ(), tc.env...)
			out, _ := cmd.CombinedOutput()
			if code := cmd.ProcessState.ExitCode(); code == 0 || !strings.Contains(string(out), tc.want) {
				t.Errorf("--check with %q: exit %d, %q; want a failure saying %s", tc.env, code, out, tc.want)
			}
		})
	}

	h := newHarness(t)
	cmd := exec.Command(daemonBin, "--check")
	cmd.Env = h.env("")
	if out, err := cmd.CombinedOutput(); err != nil || !strings.Contains(string(out), "ok:") {
		t.Errorf("--check against running servers: %q, %v", out, err)
	}
	h.redis.Stop(t)
	cmd = exec.Command(daemonBin, "--check")
	cmd.Env = h.env("")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "S3CACHE_REDIS_URL") {
		t.Errorf("--check with Redis down: %q, %v; want a failure naming S3CACHE_REDIS_URL", out, err)
	}
}

// TestDaemon_RedisDeployments runs the daemon against Redis over TLS with a password and
// against a three-master Redis Cluster.
func TestDaemon_RedisDeployments(t *testing.T) {
	for _, kind := range []string{tlsRedis, cluster} {
		t.Run(kind, func(t *testing.T) {
			h := newHarnessOn(t, kind)
			h.startDaemon()
			var keys []string
			for i := range 30 { // spread over every master of the cluster
				k := fmt.Sprintf("deploy-%02d.txt", i)
				keys = append(keys, k)
				h.send(h.created(k, []byte(k)))
			}
			for _, k := range keys {
				h.waitBody(k, []byte(k))
			}
			h.send(h.removed(keys[0]))
			h.waitEvicted(keys[0])
			h.waitQueueEmpty()
		})
	}
}

// TestDaemon_SystemdNotify checks the notify protocol on a fake NOTIFY_SOCKET: READY
// once Redis and SQS answer, WATCHDOG while healthy, STOPPING on SIGTERM.
func TestDaemon_SystemdNotify(t *testing.T) {
	h := newHarness(t)
	sock := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	states := make(chan string, 100)
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := conn.Read(buf)
			if err != nil {
				close(states)
				return
			}
			states <- string(buf[:n])
		}
	}()
	d := h.startDaemon("NOTIFY_SOCKET="+sock, "WATCHDOG_USEC=600000")
	waitState := func(want string) {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case s := <-states:
				if strings.Contains(s, want) {
					return
				}
			case <-timeout:
				t.Fatalf("no %q on NOTIFY_SOCKET within 10s", want)
			}
		}
	}
	waitState("READY=1")
	waitState("WATCHDOG=1")
	waitState("WATCHDOG=1")
	if code := d.Stop(t, syscall.SIGTERM, 15*time.Second); code != 0 {
		t.Fatalf("exit code after SIGTERM: %d, want 0", code)
	}
	waitState("STOPPING=1")
}

// TestDaemon_WaitsForRedisAtStart starts the daemon while Redis is down: it must keep
// running, answer not-ready, and start consuming once Redis is up.
func TestDaemon_WaitsForRedisAtStart(t *testing.T) {
	h := newHarness(t)
	h.redis.Stop(t)
	d := h.spawnDaemon()
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		code, body := d.Get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "starting: waiting for Redis and SQS: redis"),
			fmt.Sprintf("/readyz with Redis down: %d %s", code, body)
	})
	h.redis.Start(t)
	h.send(h.created("late.txt", []byte("late")))
	h.waitBody("late.txt", []byte("late"))
}

// TestDaemon_SIGTERMDuringStartup: stopped while it waits for Redis (nothing listens on
// its port), the daemon exits 0 at once, as it does once it consumes.
func TestDaemon_SIGTERMDuringStartup(t *testing.T) {
	h := newHarness(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	ln.Close()
	d := h.spawnDaemon("S3CACHE_REDIS_URL=redis://" + closed + "/0")
	testenv.Eventually(t, 10*time.Second, func() (bool, string) {
		code, body := d.Get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "starting: waiting for Redis and SQS"),
			fmt.Sprintf("/readyz with nothing at the Redis address: %d %s", code, body)
	})
	if code := d.Stop(t, syscall.SIGTERM, 5*time.Second); code != 0 {
		t.Fatalf("exit code after SIGTERM during start-up: %d, want 0", code)
	}
	if log, _ := os.ReadFile(d.LogPath); !bytes.Contains(log, []byte("stopped during start-up")) {
		t.Errorf("log lacks the stop during start-up: %s", d.LogTail(10))
	}
}

// TestDaemon_ForeignValuesReplaced: the original sample's load_data.py wrote plain
// strings (SET bucket:key value, no TTL) at exactly the cache's keys. Events for those
// keys replace them with entries or tombstones, counted; none is dead-lettered.
func TestDaemon_ForeignValuesReplaced(t *testing.T) {
	h := newHarness(t)
	ctx := t.Context()
	for i := range 4 {
		if err := h.rdb.Set(ctx, h.redisKey(fmt.Sprintf("filename%d.txt", i)), "written by load_data.py", 0).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if err := h.rdb.RPush(ctx, h.redisKey("list.bin"), "x").Err(); err != nil {
		t.Fatal(err)
	}
	d := h.startDaemon()
	big := bytes.Repeat([]byte("large enough to ask Redis first "), 10<<10) // 320 KiB
	h.send(h.created("filename0.txt", []byte("v0")))
	h.send(h.created("filename1.txt", big))
	h.send(h.removed("filename2.txt"))
	h.send(h.created("list.bin", []byte("v")))
	h.waitBody("filename0.txt", []byte("v0"))
	h.waitBody("filename1.txt", big)
	h.waitEvicted("filename2.txt")
	h.waitBody("list.bin", []byte("v"))
	h.waitQueueEmpty()
	if got := d.Metric(t, "s3cache_foreign_values_replaced_total"); got != 4 {
		t.Errorf("s3cache_foreign_values_replaced_total = %v, want 4", got)
	}
	if typ := h.rdb.Type(ctx, h.redisKey("filename3.txt")).Val(); typ != "string" {
		t.Errorf("a key no event named is now a %s, want it left alone", typ)
	}
	h.checkDLQEmpty()
}

// TestDaemon_EmulatorSequencers: LocalStack gives every event the AWS documentation's
// sequencer, moto none, and a source might give a creation and a removal one sequencer.
// In each case the events are applied in arrival order.
func TestDaemon_EmulatorSequencers(t *testing.T) {
	h := newHarness(t)
	h.startDaemon()
	for name, seq := range map[string]string{"localstack.txt": "0055AED6DCD90281E5", "moto.txt": "", "shared.txt": "00AAAAAAAAAAAAAAAA"} {
		same := func(e s3event.Event) s3event.Event { e.Sequencer = seq; return e }
		h.send(same(h.created(name, []byte("v1"))))
		h.waitBody(name, []byte("v1"))
		h.send(same(h.removed(name)))
		h.waitEvicted(name)
		h.send(same(h.created(name, []byte("v2"))))
		h.waitBody(name, []byte("v2"))
	}
	h.waitQueueEmpty()
}

// TestDaemon_UntrustedMessages: anyone allowed to send to the queue could name another
// bucket, a sequencer no real event exceeds, or a key no S3 object has. The daemon
// leaves other buckets' keys alone, reads such a sequencer as none, and dead-letters
// the key.
func TestDaemon_UntrustedMessages(t *testing.T) {
	h := newHarness(t)
	d := h.startDaemon()
	ctx := t.Context()
	// Another application's data in the same Redis, at the key a removal would name.
	if err := h.rdb.HSet(ctx, "someone-elses:k", "body", "theirs").Err(); err != nil {
		t.Fatal(err)
	}
	h.send(s3event.Event{Kind: s3event.KindRemoved, Name: "ObjectRemoved:Delete", Bucket: "someone-elses", Key: "k", Size: -1, Sequencer: h.nextSeq()})

	frozen := h.created("frozen.txt", []byte("v1"))
	frozen.Sequencer = strings.Repeat("F", 40)
	h.send(frozen)
	h.waitBody("frozen.txt", []byte("v1"))
	h.send(h.created("frozen.txt", []byte("v2"))) // a real, later event
	h.waitBody("frozen.txt", []byte("v2"))

	long, err := s3event.Marshal(testenv.Region, s3event.Event{Kind: s3event.KindRemoved, Name: "ObjectRemoved:Delete", Bucket: h.bucket,
		Key: strings.Repeat("k", 1025), Size: -1, Sequencer: h.nextSeq()})
	if err != nil {
		t.Fatal(err)
	}
	h.sqs.Send(t, h.queue, string(long))

	testenv.Eventually(t, 30*time.Second, func() (bool, string) {
		v, f := h.sqs.Count(t, h.dlq)
		return v+f == 1, fmt.Sprintf("dead-letter queue: %d, want the long key's message", v+f)
	})
	if got := h.rdb.HGet(ctx, "someone-elses:k", "body").Val(); got != "theirs" {
		t.Errorf("another bucket's key: body %q, want it untouched", got)
	}
	if n := d.Metric(t, `s3cache_skips_total{reason="other_bucket"}`); n != 1 {
		t.Errorf("other_bucket skips %v, want 1", n)
	}
}

// TestDaemon_WarnsWhenRedisWillFill: entries without a TTL in a Redis without
// maxmemory grow until the host runs out of memory; the daemon says so at start, and
// not when entries expire.
func TestDaemon_WarnsWhenRedisWillFill(t *testing.T) {
	h := newHarness(t)
	// No subtests: the harness's helpers fail the test they were made for.
	for _, tc := range []struct {
		ttl  string
		warn bool
	}{
		{"0", true},
		{"1h", false},
	} {
		d := h.startDaemon("S3CACHE_TTL=" + tc.ttl)
		log := d.LogTail(200)
		if tc.warn && !strings.Contains(log, "REDIS WILL FILL UP: S3CACHE_TTL=0 and Redis has no maxmemory") {
			t.Errorf("S3CACHE_TTL=%s started without the warning:\n%s", tc.ttl, d.LogTail(30))
		}
		if !tc.warn && strings.Contains(log, "REDIS WILL FILL UP") {
			t.Errorf("S3CACHE_TTL=%s started with the warning:\n%s", tc.ttl, d.LogTail(30))
		}
	}
}
