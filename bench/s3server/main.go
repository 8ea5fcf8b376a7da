// Command s3server serves an in-memory S3-compatible API (gofakes3 with its s3mem
// backend) on 127.0.0.1 for the benchmark. It runs in a process of its own so that the
// S3 server's CPU time and memory are neither the benchmark driver's nor the daemon's,
// and can be read from /proc like theirs.
//
// It prints "listening http://127.0.0.1:PORT" on stdout once it accepts connections
// and serves until it is killed.
//
// Usage:
//
//	s3server [-addr 127.0.0.1:0]
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("s3server", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen `address` (port 0: a free one)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	fmt.Printf("listening http://%s\n", ln.Addr())
	srv := &http.Server{
		Handler:           gofakes3.New(s3mem.New()).Server(),
		ReadHeaderTimeout: 10 * time.Second,
	}
	return srv.Serve(ln)
}
