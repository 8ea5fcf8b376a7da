package cache

import (
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestNewClient_ClusterStateReload: a cluster client reloads the slot map every few
// seconds. No MOVED reply comes from a master that died, so go-redis learns of the
// replica that took over only at a reload (by default once a minute): until then every
// command for those slots fails. The test reads the option the client was built with
// (no server is needed: go-redis dials lazily).
func TestNewClient_ClusterStateReload(t *testing.T) {
	rdb, err := NewClient(ClientOptions{URL: "redis://127.0.0.1:1", Cluster: true})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	cc, ok := rdb.(*redis.ClusterClient)
	if !ok {
		t.Fatalf("NewClient with Cluster: got %T, want *redis.ClusterClient", rdb)
	}
	if got := cc.Options().ClusterStateReloadInterval; got != clusterStateReload {
		t.Errorf("ClusterStateReloadInterval %v, want %v", got, clusterStateReload)
	}
	if clusterStateReload <= 0 || clusterStateReload > 5*time.Second {
		t.Errorf("clusterStateReload %v: want a reload within a few seconds of a failover", clusterStateReload)
	}
}

// TestNewClient_BufferSizes: connections get small buffers, on both kinds of client. go-redis's default is 32 KiB each way, held by every
// pooled connection for as long as it stays in the pool.
func TestNewClient_BufferSizes(t *testing.T) {
	for _, cluster := range []bool{false, true} {
		rdb, err := NewClient(ClientOptions{URL: "redis://127.0.0.1:1", Cluster: cluster})
		if err != nil {
			t.Fatal(err)
		}
		var read, write int
		switch c := rdb.(type) {
		case *redis.Client:
			read, write = c.Options().ReadBufferSize, c.Options().WriteBufferSize
		case *redis.ClusterClient:
			read, write = c.Options().ReadBufferSize, c.Options().WriteBufferSize
		}
		rdb.Close()
		if read != readBuffer || write != writeBuffer {
			t.Errorf("cluster %v: buffers %d read, %d write; want %d, %d", cluster, read, write, readBuffer, writeBuffer)
		}
	}
	if readBuffer >= 32<<10 || writeBuffer < DefaultLargeBody {
		t.Errorf("buffers %d read, %d write: want less than go-redis's 32 KiB, and a script's body (up to %d) in one write",
			readBuffer, writeBuffer, DefaultLargeBody)
	}
}
