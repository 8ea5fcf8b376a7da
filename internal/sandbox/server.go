package sandbox

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// loopback is the only address the sandbox listens on.
const loopback = "127.0.0.1"

// shutdownTimeout bounds how long a server waits for requests in flight when it closes.
const shutdownTimeout = 5 * time.Second

// listenLoopback listens on port of 127.0.0.1; port 0 picks a free one.
func listenLoopback(port int) (net.Listener, error) {
	addr := net.JoinHostPort(loopback, strconv.Itoa(port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return ln, nil
}

// httpServer serves a handler on a listener until close.
type httpServer struct {
	srv    *http.Server
	addr   string
	cancel context.CancelFunc // cancels every request's context
	done   chan struct{}      // closed when Serve has returned

	mu       sync.Mutex
	fresh    map[net.Conn]bool // connections that have not sent a request yet
	stopping bool
}

// serveHTTP serves h on ln in a new goroutine.
func serveHTTP(ln net.Listener, h http.Handler, log *zap.Logger) *httpServer {
	ctx, cancel := context.WithCancel(context.Background())
	errorLog, _ := zap.NewStdLogAt(log.Named("http"), zap.DebugLevel)
	s := &httpServer{
		srv: &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			BaseContext:       func(net.Listener) context.Context { return ctx },
			ErrorLog:          errorLog,
		},
		fresh:  make(map[net.Conn]bool),
		addr:   ln.Addr().String(),
		cancel: cancel,
		done:   make(chan struct{}),
	}
	s.srv.ConnState = s.track
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("server failed", zap.String("addr", ln.Addr().String()), zap.Error(err))
		}
	}()
	return s
}

// track keeps the set of connections that have not sent a request yet. An SDK client
// dials spare connections that it may never use; http.Server.Shutdown would wait 5s for
// each such connection, so close closes them.
func (s *httpServer) track(c net.Conn, state http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case state == http.StateNew && s.stopping:
		c.Close()
	case state == http.StateNew:
		s.fresh[c] = true
	default:
		delete(s.fresh, c)
	}
}

// close stops accepting connections, cancels the requests in flight (long polls end at
// once) and waits for their handlers, for at most shutdownTimeout.
func (s *httpServer) close() error {
	s.cancel()
	s.mu.Lock()
	s.stopping = true
	for c := range s.fresh {
		c.Close()
	}
	s.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	err := s.srv.Shutdown(ctx)
	if err != nil {
		_ = s.srv.Close()
		err = fmt.Errorf("stop server on %s: %w", s.addr, err)
	}
	<-s.done
	return err
}
