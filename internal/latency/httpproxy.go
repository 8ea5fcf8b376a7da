package latency

import (
	"bytes"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"time"
)

// HTTPProxy is a reverse proxy in front of one HTTP server that holds each request for
// a delay before forwarding it. A client sees the same time to its reply wherever the
// delay is spent; spent before the server acts, it also means that a client that gives
// up during the delay leaves nothing done on its behalf (no messages received for a
// long poll nobody waits for any more). The reply streams back as it comes.
type HTTPProxy struct {
	endpoint  string
	server    *http.Server
	transport *http.Transport
	proxy     *httputil.ReverseProxy
	delay     func(*http.Request) Dist
	delays    recorder
	target    *url.URL
	// promptPolls: answer SQS long polls as SQS does (StartSQS).
	promptPolls bool
}

// StartHTTP starts a proxy in front of upstream (http://host:port) on a free port of
// 127.0.0.1. delay chooses each request's delay distribution; a zero Dist forwards the
// request at once, with its body streamed.
func StartHTTP(upstream string, delay func(*http.Request) Dist) (*HTTPProxy, error) {
	return newHTTPProxy(upstream, delay, false)
}

func newHTTPProxy(upstream string, delay func(*http.Request) Dist, promptPolls bool) (*HTTPProxy, error) {
	target, err := url.Parse(upstream)
	if err != nil {
		return nil, fmt.Errorf("parse upstream URL %q: %w", upstream, err)
	}
	if target.Scheme != "http" && target.Scheme != "https" || target.Host == "" {
		return nil, fmt.Errorf("upstream %q: want http://host:port", upstream)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the proxy in front of %s: %w", upstream, err)
	}

	discard := log.New(io.Discard, "", 0)
	p := &HTTPProxy{
		endpoint:    "http://" + ln.Addr().String(),
		delay:       delay,
		target:      target,
		promptPolls: promptPolls,
		// The daemon keeps hundreds of requests in flight, long polls included; a
		// connection per request would add dials the real service does not cost.
		transport: &http.Transport{
			Proxy:                 nil, // the developer's HTTP_PROXY must not route loopback traffic
			DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConnsPerHost:   1024,
			IdleConnTimeout:       90 * time.Second,
			ExpectContinueTimeout: time.Second,
			// A transport that asks for gzip on the client's behalf also unpacks the
			// reply: the client must get the server's bytes and headers unchanged.
			DisableCompression: true,
		},
	}
	p.proxy = &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			// The client signed its request for the Host it called; keep it, as a
			// network in between would.
			pr.Out.Host = pr.In.Host
		},
		Transport: p.transport,
		// An upstream that is down is the client's 502; the proxy's users read
		// their own logs, not this one's.
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, _ error) {
			w.WriteHeader(http.StatusBadGateway)
		},
		ErrorLog: discard,
	}
	p.server = &http.Server{
		Handler:           http.HandlerFunc(p.serve),
		ReadHeaderTimeout: time.Minute,
		IdleTimeout:       5 * time.Minute,
		ErrorLog:          discard,
	}
	go p.server.Serve(ln)
	return p, nil
}

// Endpoint is the proxy's URL, http://127.0.0.1:PORT.
func (p *HTTPProxy) Endpoint() string { return p.endpoint }

// Close stops the proxy: it closes the listener and every client connection, which
// cancels the requests in flight, and the connections to the upstream.
func (p *HTTPProxy) Close() error {
	err := p.server.Close()
	p.transport.CloseIdleConnections()
	if err != nil {
		return fmt.Errorf("close the proxy at %s: %w", p.endpoint, err)
	}
	return nil
}

// Delays summarises the delay actually added to each request that was delayed and
// forwarded: the time spent waiting, which a loaded machine stretches past the delay
// drawn. A request whose client gave up before it was forwarded is not counted.
func (p *HTTPProxy) Delays() Stats { return p.delays.stats() }

// serve takes every request the same way, delayed or not (a zero delay waits for
// nothing), so that runs with and without latency differ in nothing else.
func (p *HTTPProxy) serve(w http.ResponseWriter, r *http.Request) {
	dist := p.delay(r)
	var delay time.Duration
	if !dist.IsZero() {
		delay = dist.Sample(nil)
	}
	// Read the whole body first: the server notices that the client went away (and
	// cancels r.Context) only once the body is consumed, and the client's upload time
	// is not part of the delay.
	body, err := io.ReadAll(r.Body)
	if err != nil {
		w.WriteHeader(http.StatusBadRequest)
		return
	}
	r.Body.Close()
	if len(body) > 0 {
		r.Body = io.NopCloser(bytes.NewReader(body))
	} else {
		r.Body = http.NoBody
	}
	start := time.Now()
	if !waitUntil(start.Add(delay), r.Context().Done()) {
		return
	}
	if delay > 0 {
		p.delays.add(time.Since(start))
	}
	if p.promptPolls {
		if wait, short, ok := longPoll(r, body); ok {
			p.pollPromptly(w, r, short, wait)
			return
		}
	}
	p.proxy.ServeHTTP(w, r)
}

// S3GetObject reports whether r is a path-style GetObject: GET /bucket/key, with a key
// that does not end in "/" (a listing by prefix or a folder marker) and no query that
// names another operation on the object (?acl, ?tagging, ?uploadId…).
func S3GetObject(r *http.Request) bool {
	if r.Method != http.MethodGet {
		return false
	}
	bucket, key, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if !ok || bucket == "" || key == "" || strings.HasSuffix(key, "/") {
		return false
	}
	q := r.URL.Query()
	// The AWS SDKs name the operation; other clients leave it to the subresources.
	if q.Has("x-id") {
		return q.Get("x-id") == "GetObject"
	}
	for _, sub := range notGetObject {
		if q.Has(sub) {
			return false
		}
	}
	return true
}

// notGetObject are the query parameters that turn GET /bucket/key into another
// operation than GetObject, or into a listing.
var notGetObject = []string{
	"acl", "annotation", "attributes", "legal-hold", "retention", "tagging", "torrent",
	"uploadId", "uploads", "list-type", "versions", "location", "delimiter", "prefix",
}
