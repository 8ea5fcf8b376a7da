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
