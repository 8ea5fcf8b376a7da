package cache

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// clusterStateReload is how often a cluster client reloads the slot map while it is used.
const clusterStateReload = 2 * time.Second

// resp is the protocol version the clients speak unless the URL asks for another
// (?protocol=3). RESP2 says all the store needs, and with RESP3 go-redis checks the
// connection for push notifications around every command, work on each command for
// nothing the store uses (BENCHMARKS.md, "The rounds of 26 November", change 1).
const resp = 2

// Buffer sizes of each connection. go-redis gives every connection 32 KiB each way,
// and the daemon opens as many connections as it has writes under way, each keeping its
// buffers for as long as it stays in the pool. Replies to the store's commands are a few
// bytes (a body read back is read straight into a slice of its own), and a write by the
// script, whose bodies are smaller than DefaultLargeBody, goes out in one system call
// or two; a larger body takes several whatever the buffer.
const (
	readBuffer  = 4 << 10
	writeBuffer = 16 << 10
)

// noPipelinePool sends pipelines and transactions (a staged write's MULTI) over the
// main pool's connections, with the buffers above. Left to itself, go-redis keeps a
// second pool for them on every node, up to 10 connections with 128 KiB each way: up to
// 2.5 MiB that stays live once a few staged writes have run at once, and that the
// collector's room (GOGC 200) triples in resident memory. A large body takes a write
// or two more through the smaller buffer (BENCHMARKS.md, "The pipeline pool").
const noPipelinePool = -1

// ClientOptions says how to reach Redis.
type ClientOptions struct {
	URL     string // redis:// or rediss:// (TLS), user and password in the URL
	Cluster bool   // Redis Cluster (ElastiCache cluster mode enabled)
	// RootCAs, when set, replaces the system roots for rediss:// (private CAs, tests).
	TLS *tls.Config
}

// NewClient returns a client for standalone Redis or Redis Cluster.
func NewClient(o ClientOptions) (redis.UniversalClient, error) {
	if o.Cluster {
		opts, err := redis.ParseClusterURL(o.URL)
		if err != nil {
			return nil, fmt.Errorf("parse cluster URL: %w", withoutURL(err))
		}
		opts.TLSConfig = mergeTLS(opts.TLSConfig, o.TLS)
		opts.DialTimeout = 5 * time.Second
		// go-redis learns that a replica took over from a master that died (no MOVED
		// reply comes from a dead node) only when it reloads the slot map, by default
		// once a minute; until then every command for those slots fails. Reload it
		// every few seconds while commands flow: one CLUSTER SLOTS each time.
		opts.ClusterStateReloadInterval = clusterStateReload
		opts.DisableIdentity = true
		if opts.Protocol == 0 {
			opts.Protocol = resp
		}
		opts.ReadBufferSize = readBuffer
		opts.WriteBufferSize = writeBuffer
		opts.PipelinePoolSize = noPipelinePool
		return redis.NewClusterClient(opts), nil
	}
	opts, err := redis.ParseURL(o.URL)
	if err != nil {
		return nil, fmt.Errorf("parse Redis URL: %w", withoutURL(err))
	}
	opts.TLSConfig = mergeTLS(opts.TLSConfig, o.TLS)
	opts.DialTimeout = 5 * time.Second
	// No CLIENT SETINFO on connect: Redis has it from 7.2 only, and an ACL user limited
	// to the commands the cache runs (cfn/template.yaml) may not run it.
	opts.DisableIdentity = true
	if opts.Protocol == 0 {
		opts.Protocol = resp
	}
	opts.ReadBufferSize = readBuffer
	opts.WriteBufferSize = writeBuffer
	opts.PipelinePoolSize = noPipelinePool
	return redis.NewClient(opts), nil
}

// withoutURL drops the URL that net/url puts into its parse errors: it may carry the
// password.
func withoutURL(err error) error {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

// mergeTLS keeps the server name go-redis derived from the URL and takes the root CAs
// (and anything else set) from override.
func mergeTLS(fromURL, override *tls.Config) *tls.Config {
	if fromURL == nil || override == nil {
		return fromURL
	}
	c := override.Clone()
	if c.ServerName == "" {
		c.ServerName = strings.Trim(fromURL.ServerName, "[]")
	}
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// SetLogger sends go-redis's own messages (dial failures, pool events) to log at debug
// level instead of stderr; callers report the errors they get themselves.
func SetLogger(log *zap.Logger) {
	redis.SetLogger(zapPrintf{log.Named("go-redis")})
}

type zapPrintf struct{ log *zap.Logger }

func (z zapPrintf) Printf(_ context.Context, format string, v ...any) {
	z.log.Debug(fmt.Sprintf(format, v...))
}
