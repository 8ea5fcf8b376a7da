package latency

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// TCPProxy is a delay line in front of one TCP server, for Redis: it does not parse the
// protocol, so pipelined commands and replies pass as they come. Bytes from the server
// reach the client a round trip after they arrive, as propagation delay does: the delay
// is not added once per chunk on top of the previous ones, and the bytes in flight do
// not limit throughput. Bytes to the server pass at once: a client that sends a command
// and waits for the reply sees the same round trip either way, and one wait per reply
// instead of two halves what the proxy itself costs the machine it measures.
type TCPProxy struct {
	addr     string
	upstream string
	rtt      Dist
	ln       net.Listener
	ctx      context.Context // cancelled by Close, for dials in progress
	cancel   context.CancelFunc
	delays   recorder

	mu     sync.Mutex
	links  map[*link]struct{}
	closed bool
	wg     sync.WaitGroup
}

// StartTCP starts a proxy in front of upstream (host:port) on a free port of 127.0.0.1.
// Each connection draws its round trip from rtt once, when it is accepted: drawing per
// chunk would let a later chunk overtake an earlier one. A zero rtt copies bytes through
// without a delay line.
func StartTCP(upstream string, rtt Dist) (*TCPProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen for the proxy in front of %s: %w", upstream, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &TCPProxy{
		addr:     ln.Addr().String(),
		upstream: upstream,
		rtt:      rtt,
		ln:       ln,
		ctx:      ctx,
		cancel:   cancel,
		links:    make(map[*link]struct{}),
	}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *TCPProxy) Addr() string { return p.addr }

// Delays summarises the delay actually added to each chunk of bytes: from the moment the
// proxy read it to the moment it started writing it on.
func (p *TCPProxy) Delays() Stats { return p.delays.stats() }

// Close closes the listener and every connection through the proxy, and returns once
// all of its goroutines have ended.
func (p *TCPProxy) Close() error {
	p.mu.Lock()
	p.closed = true
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()

	p.cancel()
	err := p.ln.Close()
	for _, l := range links {
		l.close()
	}
	p.wg.Wait()
	if err != nil {
		return fmt.Errorf("close the proxy at %s: %w", p.addr, err)
	}
	return nil
}

func (p *TCPProxy) accept() {
	defer p.wg.Done()
	var backoff time.Duration
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// Out of file descriptors, most likely: wait for connections to end
			// rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			select {
			case <-time.After(backoff):
			case <-p.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		p.wg.Add(1)
		go p.serve(c.(*net.TCPConn))
	}
}

func (p *TCPProxy) serve(client *net.TCPConn) {
	defer p.wg.Done()
	d := net.Dialer{Timeout: 5 * time.Second}
	c, err := d.DialContext(p.ctx, "tcp", p.upstream)
	if err != nil {
		// The client sees its connection closed, as it would see Redis refuse it.
		client.Close()
		return
	}
	server := c.(*net.TCPConn)

	l := &link{client: client, server: server, done: make(chan struct{})}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		l.close()
		return
	}
	p.links[l] = struct{}{}
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
	}()

	rtt := p.rtt.Sample(nil)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); p.pipe(l, client, server, 0) }()
	go func() { defer wg.Done(); p.pipe(l, server, client, rtt) }()
	wg.Wait()
	l.close()
}

// linger bounds how long a connection stays half open: once one side has closed and
// its last bytes are delivered, the other side has this long to close too. Redis and
// its clients close at once; a peer that does not must not keep the link forever.
const linger = 5 * time.Second

// link is a client connection and the connection to the upstream made for it.
type link struct {
	client, server *net.TCPConn
	done           chan struct{} // closed by close
	once           sync.Once
	ended          atomic.Int32 // directions that ended with their source's end of stream
}

func (l *link) close() {
	l.once.Do(func() {
		close(l.done)
		l.client.Close()
		l.server.Close()
	})
}

// chunk is what one Read returned, stamped with when it returned.
type chunk struct {
	buf     *[]byte
	n       int
	arrived time.Time
}

const (
	chunkSize = 32 << 10
	// inFlight bounds the chunks queued in one direction. When it is full the reader
	// stops reading and TCP's flow control pushes back on the sender; it is large
	// enough that this happens only when the sender outruns what the delay line can
	// hold, not because of the delay.
	inFlight = 256
)

var chunkPool = sync.Pool{New: func() any { b := make([]byte, chunkSize); return &b }}

// pipe copies src to dst, delivering each chunk delay after it arrived. When src ends,
// it delivers what is queued, then closes dst for writing, so that a reply sent just
// before the server closed (QUIT's +OK) still reaches the client; the link closes
// when both directions have ended, or linger after the first one did. Any other error
// closes the link at once.
func (p *TCPProxy) pipe(l *link, src, dst *net.TCPConn, delay time.Duration) {
	if delay <= 0 {
		if _, err := io.Copy(dst, src); err != nil {
			l.close()
			return
		}
		p.halfClose(l, src, dst)
		return
	}

	queue := make(chan chunk, inFlight)
	readErr := make(chan error, 1)
	go func() {
		defer close(queue)
		for {
			buf := chunkPool.Get().(*[]byte)
			n, err := src.Read(*buf)
			if n > 0 {
				select {
				case queue <- chunk{buf: buf, n: n, arrived: time.Now()}:
				case <-l.done:
					chunkPool.Put(buf)
					readErr <- net.ErrClosed
					return
				}
			} else {
				chunkPool.Put(buf)
			}
			if err != nil {
				readErr <- err
				return
			}
		}
	}()

	for c := range queue {
		if !waitUntil(c.arrived.Add(delay), l.done) {
			chunkPool.Put(c.buf)
			continue // the link is closed: drain the queue so that the reader ends
		}
		p.delays.add(time.Since(c.arrived))
		_, err := dst.Write((*c.buf)[:c.n])
		chunkPool.Put(c.buf)
		if err != nil {
			l.close()
		}
	}
	if err := <-readErr; !errors.Is(err, io.EOF) {
		l.close()
		return
	}
	p.halfClose(l, src, dst)
}

// halfClose passes on src's end of stream to dst and gives the other direction linger
// to end too.
func (p *TCPProxy) halfClose(l *link, src, dst *net.TCPConn) {
	if dst.CloseWrite() != nil {
		l.close()
		return
	}
	src.CloseRead()
	if l.ended.Add(1) == 2 {
		l.close()
		return
	}
	t := time.NewTimer(linger)
	defer t.Stop()
	select {
	case <-t.C:
		l.close()
	case <-l.done:
	}
}
