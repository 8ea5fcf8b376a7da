package sandbox

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/s3cache/s3cache/s3event"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		method, target string
		copySource     string
		want           request
	}{
		{"PUT", "/b/k", "", request{kind: opPut, bucket: "b", key: "k"}},
		{"PUT", "/b/dir/a%20b%2Bc", "", request{kind: opPut, bucket: "b", key: "dir/a b+c"}},
		{"PUT", "/b/k", "b/src", request{kind: opCopy, bucket: "b", key: "k"}},
		{"PUT", "/b/k?partNumber=1&uploadId=u", "", request{kind: opNone, bucket: "b", key: "k"}},
		{"PUT", "/b/k?partNumber=1&uploadId=u", "b/src", request{kind: opNone, bucket: "b", key: "k"}},
		{"POST", "/b/k?uploads", "", request{kind: opNone, bucket: "b", key: "k"}},
		{"POST", "/b/k?uploadId=u", "", request{kind: opComplete, bucket: "b", key: "k"}},
		{"DELETE", "/b/k?uploadId=u", "", request{kind: opNone, bucket: "b", key: "k"}},
		{"DELETE", "/b/k", "", request{kind: opDelete, bucket: "b", key: "k"}},
		{"DELETE", "/b/k?versionId=v1", "", request{kind: opDeleteVersion, bucket: "b", key: "k", versionID: "v1"}},
		{"DELETE", "/b/k?versionId=null", "", request{kind: opDelete, bucket: "b", key: "k"}},
		{"POST", "/b?delete", "", request{kind: opDeleteObjects, bucket: "b"}},
		{"POST", "/b/?delete=", "", request{kind: opDeleteObjects, bucket: "b"}},
		{"POST", "/b", "", request{kind: opNone, bucket: "b"}},
		{"PUT", "/b", "", request{kind: opNone, bucket: "b"}},
		{"PUT", "/b?versioning", "", request{kind: opNone, bucket: "b"}},
		{"GET", "/b/k", "", request{kind: opNone, bucket: "b", key: "k"}},
		{"HEAD", "/b/k", "", request{kind: opNone, bucket: "b", key: "k"}},
		{"DELETE", "/b", "", request{kind: opNone, bucket: "b"}},
		{"GET", "/", "", request{kind: opNone}},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(tt.method, tt.target, nil)
		if tt.copySource != "" {
			r.Header.Set("X-Amz-Copy-Source", tt.copySource)
		}
		if got := classify(r); got != tt.want {
			t.Errorf("classify(%s %s, copy source %q) = %+v, want %+v", tt.method, tt.target, tt.copySource, got, tt.want)
		}
	}
}

func TestNextSequencer(t *testing.T) {
	now := time.Now()
	// The clock going back, standing still, and many goroutines at once.
	times := []time.Time{now, now, now.Add(-time.Hour), now.Add(time.Nanosecond), time.Unix(0, 0)}
	var prev string
	for i, at := range times {
		s := nextSequencer(at)
		if len(s) != 18 {
			t.Errorf("nextSequencer(%v) = %q, want 18 hex digits", at, s)
		}
		if i > 0 && s3event.CompareSequencers(prev, s) >= 0 {
			t.Errorf("nextSequencer(%v) = %s after %s, want greater", at, s, prev)
		}
		prev = s
	}

	const goroutines, each = 8, 200
	results := make([][]string, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for range each {
				results[g] = append(results[g], nextSequencer(now))
			}
		})
	}
	wg.Wait()
	seen := map[string]bool{}
	for _, rs := range results {
		for i, s := range rs {
			if seen[s] {
				t.Fatalf("sequencer %s handed out twice", s)
			}
			seen[s] = true
			if i > 0 && s3event.CompareSequencers(rs[i-1], s) >= 0 {
				t.Fatalf("sequencers %s then %s in one goroutine", rs[i-1], s)
			}
		}
	}
}

// TestKeyLocks checks that overlapping multi-key locks taken in any order do not
// deadlock and exclude each other.
func TestKeyLocks(t *testing.T) {
	var l keyLocks
	keySets := [][]string{{"a", "b", "c"}, {"c", "b"}, {"b"}, {"z", "a"}, {"a", "a"}}
	inside := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 50 {
		keys := keySets[i%len(keySets)]
		wg.Go(func() {
			unlock := l.lock("bucket", keys)
			defer unlock()
			set := map[string]bool{}
			for _, k := range keys {
				set[k] = true
			}
			mu.Lock()
			for k := range set {
				if inside[k]++; inside[k] > 1 {
					t.Errorf("key %s locked twice at once", k)
				}
			}
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			for k := range set {
				inside[k]--
			}
			mu.Unlock()
		})
	}
	wg.Wait()
}

// TestNotifier_PanicUnlocksKeys checks that a write whose handler panics leaves its
// keys unlocked: net/http recovers the panic and serves on, and a key left locked would
// hang every later write to it.
func TestNotifier_PanicUnlocksKeys(t *testing.T) {
	next := http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("gofakes3 failed") })
	send := func(context.Context, []byte) error { return nil }
	n := NewNotifier(next, nil, "b", send, zap.NewNop()).(*notifier)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the handler's panic did not reach the caller")
			}
		}()
		n.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPut, "/b/k", nil))
	}()
	for i := range n.locks {
		if !n.locks[i].TryLock() {
			t.Fatalf("lock stripe %d still held after the panic", i)
		}
		n.locks[i].Unlock()
	}
}

func TestResponseBuffer(t *testing.T) {
	b := newResponseBuffer()
	b.Header().Set("X-Amz-Delete-Marker", "true")
	b.WriteHeader(http.StatusNoContent)
	b.Header().Set("X-Late", "ignored, as by a real ResponseWriter")
	b.WriteHeader(http.StatusOK)
	rec := httptest.NewRecorder()
	b.copyTo(rec)
	if rec.Code != http.StatusNoContent || rec.Header().Get("X-Amz-Delete-Marker") != "true" || rec.Header().Get("X-Late") != "" {
		t.Errorf("copied reply: status %d, header %v; want 204 with only the header set before WriteHeader", rec.Code, rec.Header())
	}

	b = newResponseBuffer()
	b.Write([]byte("<xml/>"))
	rec = httptest.NewRecorder()
	b.copyTo(rec)
	if rec.Code != http.StatusOK || rec.Body.String() != "<xml/>" {
		t.Errorf("copied reply: status %d, body %q; want 200 <xml/>", rec.Code, rec.Body)
	}
}
