package testenv

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis is a redis-server started by RunRedis or RunRedisTLS (or one node of a
// Cluster). It keeps nothing on disk: no RDB snapshots, no AOF.
type Redis struct {
	// Addr is the server's host:port, on 127.0.0.1.
	Addr string
	// URL is redis://127.0.0.1:PORT/0, or rediss://:PASSWORD@127.0.0.1:PORT/0 with TLS.
	URL string
	// Password is the requirepass password; empty without TLS.
	Password string
	// CAFile is the PEM file of the CA that signed the server's certificate; empty
	// without TLS.
	CAFile string

	bin     string
	dir     string
	port    int
	cluster bool
	busPort int            // cluster bus port
	certs   *certFiles     // nil without TLS
	caPool  *x509.CertPool // nil without TLS
	server
}

// RunRedis starts a standalone redis-server on a free port of 127.0.0.1, without
// persistence, in a new temporary directory; Close stops it and removes the directory.
func RunRedis() (*Redis, error) {
	return runRedis(nil)
}

// StartRedis is RunRedis for a test: the server stops when the test ends.
func StartRedis(t testing.TB) *Redis {
	t.Helper()
	r, err := RunRedis()
	return started(t, r, err)
}

// RunRedisTLS starts a redis-server, as RunRedis does, that accepts only TLS
// connections, with a random password (requirepass) and no client certificates. The
// server certificate, for 127.0.0.1 and localhost, is signed by a CA made for this
// server; CAFile names it and TLSConfig trusts it.
func RunRedisTLS() (*Redis, error) {
	return runRedis((*Redis).setUpTLS)
}

// StartRedisTLS is RunRedisTLS for a test: the server stops when the test ends.
func StartRedisTLS(t testing.TB) *Redis {
	t.Helper()
	r, err := RunRedisTLS()
	return started(t, r, err)
}

// runClusterNode starts a cluster-enabled redis-server that belongs to no cluster yet.
func runClusterNode() (*Redis, error) {
	return runRedis(func(r *Redis) error {
		r.cluster = true
		return nil
	})
}

// runRedis finds redis-server, prepares a server in a new temporary directory, lets
// setUp (when not nil) adjust it, and starts it. On failure it removes what it made.
func runRedis(setUp func(*Redis) error) (_ *Redis, err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return nil, missingError("redis-server not found on PATH: install Debian's redis-server and redis-tools with " + installHint)
	}
	dir, err := os.MkdirTemp("", "testenv-redis-")
	if err != nil {
		return nil, fmt.Errorf("redis-server directory: %w", err)
	}
	r := &Redis{bin: bin, dir: dir}
	defer func() {
		if err != nil {
			_ = r.Close()
		}
	}()
	if setUp != nil {
		if err := setUp(r); err != nil {
			return nil, err
		}
	}
	if err := r.startNew(); err != nil {
		return nil, err
	}
	return r, nil
}

// setUpTLS writes the certificates and chooses the password of a TLS server.
func (r *Redis) setUpTLS() error {
	certs, err := writeCerts(r.dir)
	if err != nil {
		return fmt.Errorf("redis TLS certificates: %w", err)
	}
	pemData, err := os.ReadFile(certs.CA)
	if err != nil {
		return fmt.Errorf("redis TLS certificates: %w", err)
	}
	r.caPool = x509.NewCertPool()
	r.caPool.AppendCertsFromPEM(pemData)
	r.certs = &certs
	r.CAFile = certs.CA
	r.Password = randomHex(16)
	return nil
}

// Close stops the server and removes its directory.
func (r *Redis) Close() error {
	r.stop()
	return os.RemoveAll(r.dir)
}

// TLSConfig returns a client TLS configuration that trusts CAFile, or nil for a server
// without TLS.
func (r *Redis) TLSConfig() *tls.Config {
	if r.caPool == nil {
		return nil
	}
	return &tls.Config{RootCAs: r.caPool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

// Client returns a go-redis client for the server, closed when the test ends.
func (r *Redis) Client(t testing.TB) redis.UniversalClient {
	t.Helper()
	opts, err := redis.ParseURL(r.URL)
	if err != nil {
		t.Fatalf("parse redis URL %s: %v", r.URL, err)
	}
	opts.TLSConfig = r.TLSConfig()
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Stop kills the server at once, as a crash or an outage would. Stopping a stopped server
// does nothing.
func (r *Redis) Stop(t testing.TB) {
	t.Helper()
	r.stop()
}

// Start starts the server again on the same port, with no data, and waits until it
// answers. Starting a running server does nothing. A cluster node rejoins its cluster
// with its slots (from nodes.conf); wait for Cluster.WaitHealthy before relying on it.
func (r *Redis) Start(t testing.TB) {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.proc != nil && !r.proc.exited() {
		return
	}
	r.proc = nil
	var err error
	// The port was ours a moment ago; if something grabbed it meanwhile, give it a
	// little time to let go.
	for attempt := 0; attempt < bindAttempts; attempt++ {
		if err = r.launch(); !errors.Is(err, errAddrInUse) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("restart redis-server on %s: %v", r.Addr, err)
	}
}

// startNew launches the server on a free port, moving to another port when the chosen
// one was taken in the meantime.
func (r *Redis) startNew() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var err error
	for attempt := 0; attempt < bindAttempts; attempt++ {
		if err = r.choosePorts(); err != nil {
			break
		}
		if err = r.launch(); !errors.Is(err, errAddrInUse) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	return nil
}

// choosePorts chooses the server's port (and cluster bus port) and sets Addr and URL.
func (r *Redis) choosePorts() error {
	port, err := pickPort()
	if err != nil {
		return err
	}
	r.port = port
	if r.cluster {
		r.busPort = 0
		for r.busPort == 0 || r.busPort == r.port {
			if r.busPort, err = pickPort(); err != nil {
				return err
			}
		}
	}
	r.Addr = "127.0.0.1:" + strconv.Itoa(port)
	if r.certs != nil {
		r.URL = fmt.Sprintf("rediss://:%s@%s/0", r.Password, r.Addr)
	} else {
		r.URL = fmt.Sprintf("redis://%s/0", r.Addr)
	}
	return nil
}

// launch writes the configuration, runs redis-server and waits until it answers. The
// caller holds r.mu.
func (r *Redis) launch() error {
	confPath := filepath.Join(r.dir, "redis.conf")
	if err := os.WriteFile(confPath, []byte(r.config()), 0o600); err != nil {
		return fmt.Errorf("write redis config: %w", err)
	}
	p, err := startProcess(r.bin, []string{confPath}, nil, r.dir, filepath.Join(r.dir, "redis.log"))
	if err != nil {
		return err
	}
	if err := p.waitReady(func() error { return r.ping(p.pid()) }); err != nil {
		return err
	}
	r.proc = p
	return nil
}

// config renders redis.conf.
func (r *Redis) config() string {
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("bind 127.0.0.1")
	line("protected-mode yes")
	line("daemonize no")
	line("dir %s", quoteConf(r.dir))
	line(`logfile ""`)
	line(`save ""`)
	line("appendonly no")
	if r.certs != nil {
		line("port 0")
		line("tls-port %d", r.port)
		line("tls-cert-file %s", quoteConf(r.certs.Cert))
		line("tls-key-file %s", quoteConf(r.certs.Key))
		line("tls-ca-cert-file %s", quoteConf(r.certs.CA))
		line("tls-auth-clients no")
		line("requirepass %s", r.Password)
	} else {
		line("port %d", r.port)
	}
	if r.cluster {
		line("cluster-enabled yes")
		line("cluster-port %d", r.busPort)
		line("cluster-config-file nodes.conf")
		line("cluster-node-timeout 2000")
	}
	return b.String()
}

// ping checks that the server on r.Addr answers and is process pid, not a server some
// other test started on the same port.
func (r *Redis) ping(pid int) error {
	c := nodeClient(r)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	info, err := c.Info(ctx, "server").Result()
	if err != nil {
		return err
	}
	if !strings.Contains(info, fmt.Sprintf("\nprocess_id:%d\r", pid)) {
		return fmt.Errorf("another redis-server answers on %s", r.Addr)
	}
	return nil
}

// quoteConf quotes a value for redis.conf.
func quoteConf(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// randomHex returns n random bytes, hex-encoded.
func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
