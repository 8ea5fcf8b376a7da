package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"
)

// TCPProxy is a toxiproxy proxy, run in the test process, between clients and one TCP
// server (such as redis-server). Clients connect to Addr; toxics make the link slow,
// cut it or reset it, and Disable makes the server unreachable.
type TCPProxy struct {
	// Addr is the proxy's host:port, on 127.0.0.1.
	Addr string

	proxy *toxiproxy.Proxy
}

// RunTCPProxy starts a proxy in front of upstream (host:port) on a free port of
// 127.0.0.1; Close stops it.
func RunTCPProxy(upstream string) (*TCPProxy, error) {
	server := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	// Port 0: the kernel picks a free port, which the proxy keeps across Disable and
	// Enable.
	p := toxiproxy.NewProxy(server, "proxy-"+randomHex(4), "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		return nil, fmt.Errorf("start toxiproxy in front of %s: %w", upstream, err)
	}
	return &TCPProxy{Addr: p.Listen, proxy: p}, nil
}

// StartTCPProxy is RunTCPProxy for a test: the proxy stops when the test ends.
func StartTCPProxy(t testing.TB, upstream string) *TCPProxy {
	t.Helper()
	p, err := RunTCPProxy(upstream)
	return started(t, p, err)
}

// Close stops the proxy and cuts the connections through it.
func (p *TCPProxy) Close() error {
	p.proxy.Stop()
	return nil
}

// AddToxic adds a toxic (see toxiproxy's README: "latency", "reset_peer", "timeout",
// "limit_data", "bandwidth", "slicer", "slow_close") called name to the stream
// ("upstream": client to server, "downstream": server to client), applied to the
// fraction toxicity (0 to 1) of the connections, with the toxic's attributes.
func (p *TCPProxy) AddToxic(t testing.TB, name, typ, stream string, toxicity float32, attrs map[string]any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{
		"name": name, "type": typ, "stream": stream, "toxicity": toxicity, "attributes": attrs,
	})
	if err != nil {
		t.Fatalf("toxic %s: %v", name, err)
	}
	if _, err := p.proxy.Toxics.AddToxicJson(bytes.NewReader(body)); err != nil {
		t.Fatalf("add toxic %s (%s): %v", name, body, err)
	}
}

// RemoveToxic removes the toxic called name. Removing a toxic that is not there does
// nothing.
func (p *TCPProxy) RemoveToxic(t testing.TB, name string) {
	t.Helper()
	err := p.proxy.Toxics.RemoveToxic(context.Background(), name)
	if err != nil && !errors.Is(err, toxiproxy.ErrToxicNotFound) {
		t.Fatalf("remove toxic %s: %v", name, err)
	}
}

// Disable closes the proxy's listener and every connection through it: clients get
// "connection refused" until Enable.
func (p *TCPProxy) Disable() { p.proxy.Stop() }

// Enable listens again on Addr after Disable.
func (p *TCPProxy) Enable(t testing.TB) {
	t.Helper()
	if err := p.proxy.Start(); err != nil && !errors.Is(err, toxiproxy.ErrProxyAlreadyStarted) {
		t.Fatalf("re-enable toxiproxy on %s: %v", p.Addr, err)
	}
}
