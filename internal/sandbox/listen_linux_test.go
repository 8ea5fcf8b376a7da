package sandbox

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStart_LoopbackOnly checks that every socket the sandbox listens on is bound to
// 127.0.0.1.
func TestStart_LoopbackOnly(t *testing.T) {
	before := listeningSockets(t)
	sb, err := Start(context.Background(), Options{})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	defer sb.Close()
	if err := sb.StartDaemon(context.Background()); err != nil {
		t.Fatalf("StartDaemon: %v", err)
	}
	var added int
	for inode, addr := range listeningSockets(t) {
		if _, ok := before[inode]; ok {
			continue
		}
		added++
		// /proc/net/tcp writes 127.0.0.1 as 0100007F (little-endian hex).
		if !strings.HasPrefix(addr, "0100007F:") {
			t.Errorf("the sandbox listens on %s, not on 127.0.0.1", addr)
		}
	}
	if added != 3 {
		t.Errorf("the sandbox opened %d listening sockets, want 3 (S3, SQS, Redis)", added)
	}
}

// listeningSockets returns the local address, as /proc/net/tcp{,6} writes it, of each
// listening TCP socket this process has open, by socket inode.
func listeningSockets(t *testing.T) map[string]string {
	t.Helper()
	mine := map[string]bool{}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	for _, fd := range fds {
		link, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(link, "socket:[") {
			mine[strings.TrimSuffix(strings.TrimPrefix(link, "socket:["), "]")] = true
		}
	}
	socks := map[string]string{}
	for _, table := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		f, err := os.Open(table)
		if err != nil {
			continue
		}
		sc := bufio.NewScanner(f)
		sc.Scan() // header
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			if len(fields) < 10 || fields[3] != "0A" { // 0A: LISTEN
				continue
			}
			if mine[fields[9]] {
				socks[fields[9]] = fields[1]
			}
		}
		f.Close()
	}
	return socks
}
