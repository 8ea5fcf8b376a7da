package latency

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func startHTTP(t *testing.T, upstream string, delay func(*http.Request) Dist) *HTTPProxy {
	t.Helper()
	p, err := StartHTTP(upstream, delay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return p
}

func always(d Dist) func(*http.Request) Dist {
	return func(*http.Request) Dist { return d }
}

// seen is what the upstream received.
type seen struct {
	method, uri, host, header string
	body                      []byte
}

// echoUpstream answers 201 with a header and a body that depend on the request, and
// records what it received.
func echoUpstream(t *testing.T) (*httptest.Server, <-chan seen) {
	t.Helper()
	got := make(chan seen, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- seen{method: r.Method, uri: r.RequestURI, host: r.Host, header: r.Header.Get("X-Test"), body: body}
		w.Header().Set("X-Reply", "reply-"+r.Header.Get("X-Test"))
		w.WriteHeader(http.StatusCreated)
		io.WriteString(w, "you sent "+string(body))
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

func TestHTTPProxyForwardsRequestAndReply(t *testing.T) {
	for _, d := range []Dist{{}, Fixed(20 * ms)} {
		t.Run(d.String(), func(t *testing.T) {
			upstream, got := echoUpstream(t)
			p := startHTTP(t, upstream.URL, always(d))

			req, err := http.NewRequest(http.MethodPut, p.Endpoint()+"/bucket/some%20key?x-id=PutObject", strings.NewReader("hello"))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("X-Test", "abc")
			start := time.Now()
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			elapsed := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}

			if resp.StatusCode != http.StatusCreated || resp.Header.Get("X-Reply") != "reply-abc" || string(body) != "you sent hello" {
				t.Errorf("reply: %d, X-Reply %q, body %q", resp.StatusCode, resp.Header.Get("X-Reply"), body)
			}
			s := <-got
			want := seen{method: "PUT", uri: "/bucket/some%20key?x-id=PutObject", host: strings.TrimPrefix(p.Endpoint(), "http://"), header: "abc", body: []byte("hello")}
			if s.method != want.method || s.uri != want.uri || s.host != want.host || s.header != want.header || !bytes.Equal(s.body, want.body) {
				t.Errorf("upstream saw %+v, want %+v", s, want)
			}

			stats := p.Delays()
			if d.IsZero() {
				if stats.Count != 0 {
					t.Errorf("zero delay recorded %+v", stats)
				}
				return
			}
			if elapsed < 20*ms {
				t.Errorf("request took %v, want at least the 20ms delay", elapsed)
			}
			if stats.Count != 1 || stats.Max < 20*ms {
				t.Errorf("Delays() = %+v, want one delay of at least 20ms", stats)
			}
		})
	}
}

func TestHTTPProxyDelaysOnlyMatchingRequests(t *testing.T) {
	upstream, _ := echoUpstream(t)
	p := startHTTP(t, upstream.URL, AWS.S3Delay)

	do := func(method, path string) {
		t.Helper()
		req, err := http.NewRequest(method, p.Endpoint()+path, strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("%s %s: status %d", method, path, resp.StatusCode)
		}
	}
	do(http.MethodPut, "/bucket/key")
	do(http.MethodGet, "/bucket?list-type=2&prefix=a/")
	do(http.MethodHead, "/bucket/key")
	if got := p.Delays().Count; got != 0 {
		t.Fatalf("%d requests delayed before any GetObject", got)
	}
	do(http.MethodGet, "/bucket/key?x-id=GetObject")
	do(http.MethodGet, "/bucket/dir/key")
	s := p.Delays()
	if s.Count != 2 || s.P50 < 10*ms {
		t.Errorf("Delays() = %+v, want the two GetObjects delayed by at least 10ms", s)
	}
}

func TestHTTPProxyCancelledClientIsNotForwarded(t *testing.T) {
	var hits atomic.Int32
	upstream := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }))
	t.Cleanup(upstream.Close)
	p := startHTTP(t, upstream.URL, always(Fixed(400*ms)))

	for _, body := range []string{"", "a body the proxy reads before it waits"} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*ms)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Endpoint()+"/queue", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		cancel()
		if err == nil {
			resp.Body.Close()
			t.Fatalf("request answered %d before the 200ms of its delay", resp.StatusCode)
		}
	}
	// Had the proxy missed the cancellations, it would forward after 200ms.
	time.Sleep(600 * ms)
	if n := hits.Load(); n != 0 {
		t.Errorf("upstream got %d requests whose clients had gone", n)
	}
	if s := p.Delays(); s.Count != 0 {
		t.Errorf("Delays() = %+v, want none recorded for requests not forwarded", s)
	}
}

func TestHTTPProxyUpstreamDown(t *testing.T) {
	upstream := httptest.NewServer(http.NotFoundHandler())
	url := upstream.URL
	upstream.Close()

	for _, d := range []Dist{{}, Fixed(2 * ms)} {
		p := startHTTP(t, url, always(d))
		resp, err := http.Get(p.Endpoint() + "/bucket/key")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway {
			t.Errorf("delay %v: status %d, want 502", d, resp.StatusCode)
		}
	}
}

func TestHTTPProxyConcurrentRequestsReuseConnections(t *testing.T) {
	var conns atomic.Int32
	upstream := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}))
	upstream.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	upstream.Start()
	t.Cleanup(upstream.Close)
	p := startHTTP(t, upstream.URL, always(Dist{Min: 5 * ms, Max: 15 * ms}))
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 200}}
	t.Cleanup(client.CloseIdleConnections)

	get := func(i int) error {
		path := "/bucket/key" + strings.Repeat("x", i%7)
		resp, err := client.Get(p.Endpoint() + path)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		if resp.StatusCode != http.StatusOK || string(body) != path {
			return errors.New("status " + resp.Status + ", body " + string(body))
		}
		return nil
	}

	const n = 200
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Go(func() {
			if err := get(i); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if got := p.Delays().Count; got != n {
		t.Errorf("%d delays recorded, want %d", got, n)
	}

	// Sequential requests after the burst find an idle upstream connection.
	before := conns.Load()
	for i := range 50 {
		if err := get(i); err != nil {
			t.Fatal(err)
		}
	}
	if dialed := conns.Load() - before; dialed != 0 {
		t.Errorf("the proxy dialed %d new upstream connections for 50 sequential requests", dialed)
	}
}

func TestHTTPProxyStreamsReplyBody(t *testing.T) {
	release := make(chan struct{})
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "head")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		io.WriteString(w, "tail")
	}))
	t.Cleanup(upstream.Close)
	t.Cleanup(func() { close(release) })
	p := startHTTP(t, upstream.URL, always(Fixed(10*ms)))

	resp, err := http.Get(p.Endpoint() + "/bucket/key")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	head := make([]byte, 4)
	if _, err := io.ReadFull(resp.Body, head); err != nil || string(head) != "head" {
		t.Fatalf("read %q, %v before the upstream finished its body", head, err)
	}
}

func TestHTTPProxyRejectsBadUpstream(t *testing.T) {
	for _, u := range []string{"127.0.0.1:9000", "ftp://127.0.0.1:9000", "http://", "http://[::1"} {
		if p, err := StartHTTP(u, always(Dist{})); err == nil {
			p.Close()
			t.Errorf("StartHTTP(%q): no error", u)
		}
	}
}

func TestS3GetObject(t *testing.T) {
	for _, c := range []struct {
		method, target string
		want           bool
	}{
		{"GET", "/bucket/key", true},
		{"GET", "/bucket/dir/sub/key.json", true},
		{"GET", "/bucket/key?x-id=GetObject", true},
		{"GET", "/bucket/key?versionId=3&partNumber=1", true},
		{"GET", "/bucket/key%20with%20spaces", true},
		{"GET", "/bucket/key?response-content-type=text/plain", true},
		{"HEAD", "/bucket/key", false},
		{"PUT", "/bucket/key", false},
		{"DELETE", "/bucket/key", false},
		{"POST", "/bucket/key?uploads", false},
		{"GET", "/", false},
		{"GET", "/bucket", false},
		{"GET", "/bucket/", false},
		{"GET", "/bucket?list-type=2&prefix=dir/", false},
		{"GET", "/bucket/?list-type=2", false},
		{"GET", "/bucket/dir/", false},
		{"GET", "//key", false},
		{"GET", "/bucket/key?list-type=2", false},
		{"GET", "/bucket/key?acl", false},
		{"GET", "/bucket/key?tagging", false},
		{"GET", "/bucket/key?uploadId=abc", false},
		{"GET", "/bucket/key?x-id=ListParts&uploadId=abc", false},
		{"GET", "/bucket/key?annotation&x-id=GetObjectAnnotation", false},
		{"GET", "/bucket/key?attributes", false},
	} {
		r := httptest.NewRequest(c.method, "http://127.0.0.1:9000"+c.target, nil)
		if got := S3GetObject(r); got != c.want {
			t.Errorf("S3GetObject(%s %s) = %v, want %v", c.method, c.target, got, c.want)
		}
		wantDelay := Dist{}
		if c.want {
			wantDelay = AWS.S3Get
		}
		if got := AWS.S3Delay(r); got != wantDelay {
			t.Errorf("AWS.S3Delay(%s %s) = %v, want %v", c.method, c.target, got, wantDelay)
		}
		if got := AWS.SQSDelay(r); got != AWS.SQSCall {
			t.Errorf("AWS.SQSDelay(%s %s) = %v, want SQSCall", c.method, c.target, got)
		}
	}
}
