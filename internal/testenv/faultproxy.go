package testenv

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// FaultProxy is an HTTP reverse proxy, run in the test process, between a client (such
// as the daemon) and an HTTP server (the S3 or the SQS server). It forwards every
// request unchanged until Set gives it a Fault to inject. Point the client at Endpoint
// and let the test itself talk to the server directly: the test's own calls then never
// meet the fault.
type FaultProxy struct {
	// Endpoint is http://127.0.0.1:PORT.
	Endpoint string

	proxy *httputil.ReverseProxy
	srv   *httptest.Server
	mu    sync.Mutex
	fault Fault
	hits  atomic.Int64
}

// Fault is what a FaultProxy does to the requests it matches.
type Fault struct {
	// Match selects the requests the fault applies to; nil selects every request.
	Match func(*http.Request) bool
	// Rate is the fraction (0 to 1) of the selected requests that get the fault; 0 means
	// all of them.
	Rate float64
	// Delay holds each request this long before forwarding it (a slow server).
	Delay time.Duration
	// Status, when not 0, answers with an error of this HTTP status in S3's XML format
	// (403 AccessDenied, 503 SlowDown, others InternalError) instead of forwarding.
	Status int
	// Reset resets the connection (TCP RST) without forwarding the request and without
	// a reply: an unreachable or crashing server.
	Reset bool
	// DropReply forwards the request, lets the server act on it, then resets the
	// connection instead of passing the reply on: a reply lost on its way back.
	DropReply bool
}

func (f Fault) active() bool {
	return f.Delay > 0 || f.Status != 0 || f.Reset || f.DropReply
}

// RunFaultProxy starts a proxy in front of the HTTP server at upstream
// (http://host:port); Close stops it.
func RunFaultProxy(upstream string) (*FaultProxy, error) {
	target, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("fault proxy upstream %q: %w", upstream, err)
	}
	p := &FaultProxy{proxy: httputil.NewSingleHostReverseProxy(target)}
	// An upstream that is down is the client's 502, not a log line of the test.
	p.proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) {
		w.WriteHeader(http.StatusBadGateway)
	}
	p.srv = httptest.NewServer(http.HandlerFunc(p.serve))
	p.Endpoint = p.srv.URL
	return p, nil
}

// StartFaultProxy is RunFaultProxy for a test: the proxy stops when the test ends.
func StartFaultProxy(t testing.TB, upstream string) *FaultProxy {
	t.Helper()
	p, err := RunFaultProxy(upstream)
	return started(t, p, err)
}

// Close stops the proxy.
func (p *FaultProxy) Close() error {
	// Requests held by a Delay fault end when their connection does.
	p.srv.CloseClientConnections()
	p.srv.Close()
	return nil
}

// Set makes the proxy inject f from now on, replacing any fault set before.
func (p *FaultProxy) Set(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = f
}

// Clear restores normal service.
func (p *FaultProxy) Clear() { p.Set(Fault{}) }

// Hits returns how many requests have met a fault so far.
func (p *FaultProxy) Hits() int64 { return p.hits.Load() }

func (p *FaultProxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	f := p.fault
	p.mu.Unlock()
	if !f.active() || (f.Match != nil && !f.Match(r)) || (f.Rate > 0 && rand.Float64() >= f.Rate) {
		p.proxy.ServeHTTP(w, r)
		return
	}
	p.hits.Add(1)
	// Read the request in full first: only then does the server notice (through
	// r.Context()) that a client gave up on a request held by Delay.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if f.Delay > 0 {
		t := time.NewTimer(f.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	switch {
	case f.Reset:
		resetConnection(w)
	case f.Status != 0:
		writeS3Error(w, f.Status)
	case f.DropReply:
		rec := httptest.NewRecorder()
		p.proxy.ServeHTTP(rec, r)
		resetConnection(w)
	default:
		p.proxy.ServeHTTP(w, r)
	}
}

// resetConnection closes the client's connection with a TCP RST and no reply.
func resetConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		panic(http.ErrAbortHandler)
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	_ = conn.Close()
}

// SQSAction matches requests for one action of the SQS JSON protocol, e.g.
// SQSAction("ReceiveMessage"), for Fault.Match.
func SQSAction(action string) func(*http.Request) bool {
	return func(r *http.Request) bool {
		return r.Header.Get("X-Amz-Target") == "AmazonSQS."+action
	}
}
