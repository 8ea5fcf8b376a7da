package latency

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"
)

// tcpServer runs handle for each connection to a listener on 127.0.0.1 and reports on
// ended each connection whose handler returned, which closes it.
type tcpServer struct {
	addr  string
	ended chan struct{}
}

func startTCPServer(t *testing.T, handle func(net.Conn)) *tcpServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &tcpServer{addr: ln.Addr().String(), ended: make(chan struct{}, 100)}
	var wg sync.WaitGroup
	t.Cleanup(func() {
		ln.Close()
		wg.Wait()
	})
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer func() { s.ended <- struct{}{} }()
				defer c.Close()
				handle(c)
			})
		}
	})
	return s
}

// echo writes back what it reads and closes when the client does.
func echo(c net.Conn) { io.Copy(c, c) }

func startTCP(t *testing.T, upstream string, rtt Dist) *TCPProxy {
	t.Helper()
	p, err := StartTCP(upstream, rtt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(30 * time.Second))
	return c.(*net.TCPConn)
}

// roundTrip writes msg and reads back as many bytes.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != msg {
		t.Fatalf("echoed %q, want %q", got, msg)
	}
}

func TestTCPProxyPipelinedStreamArrivesIntact(t *testing.T) {
	for _, rtt := range []Dist{{}, Fixed(2 * ms)} {
		t.Run(rtt.String(), func(t *testing.T) {
			upstream := startTCPServer(t, echo)
			p := startTCP(t, upstream.addr, rtt)
			c := dial(t, p.Addr())

			r := rand.New(rand.NewPCG(7, 8))
			data := make([]byte, 10<<20)
			for i := range data {
				data[i] = byte(r.Uint32())
			}
			writeErr := make(chan error, 1)
			go func() {
				rest := data
				for len(rest) > 0 {
					n := min(1+r.IntN(64<<10), len(rest))
					if _, err := c.Write(rest[:n]); err != nil {
						writeErr <- err
						return
					}
					rest = rest[n:]
				}
				writeErr <- c.CloseWrite()
			}()

			got, err := io.ReadAll(c)
			if err != nil {
				t.Fatal(err)
			}
			if err := <-writeErr; err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				i := 0
				for i < min(len(got), len(data)) && got[i] == data[i] {
					i++
				}
				t.Fatalf("got %d bytes back, want %d; first difference at byte %d", len(got), len(data), i)
			}
			s := p.Delays()
			if rtt.IsZero() {
				if s.Count != 0 {
					t.Errorf("zero delay recorded %+v", s)
				}
				return
			}
			if s.Count == 0 || s.P50 < ms {
				t.Errorf("Delays() = %+v, want chunks delayed by at least 1ms", s)
			}
		})
	}
}

func TestTCPProxyAddsRoundTrip(t *testing.T) {
	upstream := startTCPServer(t, echo)
	p := startTCP(t, upstream.addr, Fixed(5*ms))
	c := dial(t, p.Addr())
	roundTrip(t, c, "connect") // the first round trip includes the upstream dial

	for range 5 {
		start := time.Now()
		roundTrip(t, c, "PING\r\n")
		if elapsed := time.Since(start); elapsed < 5*ms {
			t.Errorf("round trip took %v, want at least 5ms", elapsed)
		}
	}
	// Only the replies are delayed, each by the whole round trip.
	if s := p.Delays(); s.Count < 6 || s.P50 < 5*ms {
		t.Errorf("Delays() = %+v, want every reply delayed by at least 5ms", s)
	}
}

func TestTCPProxyDeliversReplyBeforeServerClose(t *testing.T) {
	// As Redis does on QUIT: answer, then close at once.
	upstream := startTCPServer(t, func(c net.Conn) {
		line, err := bufio.NewReader(c).ReadString('\n')
		if err == nil && line == "QUIT\r\n" {
			io.WriteString(c, "+OK\r\n")
		}
	})
	for _, rtt := range []Dist{{}, Fixed(20 * ms)} {
		p := startTCP(t, upstream.addr, rtt)
		c := dial(t, p.Addr())
		if _, err := io.WriteString(c, "QUIT\r\n"); err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(c)
		if err != nil || string(got) != "+OK\r\n" {
			t.Errorf("rtt %v: read %q, %v until the server closed, want +OK", rtt, got, err)
		}
	}
}

func TestTCPProxyClientCloseClosesUpstream(t *testing.T) {
	upstream := startTCPServer(t, echo)
	for _, rtt := range []Dist{{}, Fixed(2 * ms)} {
		p := startTCP(t, upstream.addr, rtt)
		c := dial(t, p.Addr())
		roundTrip(t, c, "hello")
		c.Close()
		select {
		case <-upstream.ended:
		case <-time.After(linger / 2):
			t.Fatalf("rtt %v: upstream connection still open after the client closed", rtt)
		}
	}
}

func TestTCPProxyCloseEndsEverything(t *testing.T) {
	upstream := startTCPServer(t, echo)
	p, err := StartTCP(upstream.addr, Fixed(2*ms))
	if err != nil {
		t.Fatal(err)
	}
	var clients []*net.TCPConn
	for range 3 {
		c := dial(t, p.Addr())
		roundTrip(t, c, "hello")
		clients = append(clients, c)
	}
	// One more chunk in flight in the delay line when Close comes.
	io.WriteString(clients[0], "in flight")

	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range clients {
		select {
		case <-upstream.ended:
		case <-time.After(10 * time.Second):
			t.Fatalf("%d of %d upstream connections still open after Close", len(clients)-i, len(clients))
		}
	}
	for _, c := range clients {
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.ReadAll(c); err != nil && !errors.Is(err, io.EOF) && !isReset(err) {
			t.Errorf("client read after Close: %v, want the connection closed", err)
		}
	}
	if c, err := net.Dial("tcp", p.Addr()); err == nil {
		c.Close()
		t.Error("the proxy still accepts connections after Close")
	}
}

func isReset(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && !op.Timeout()
}

func TestTCPProxyUpstreamDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	p := startTCP(t, addr, Fixed(ms))
	c := dial(t, p.Addr())
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Error("read from a proxy whose upstream is down: no error")
	}
}
