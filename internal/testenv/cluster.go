package testenv

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterSize is how many masters StartRedisCluster starts. There are no replicas.
const clusterSize = 3

// Cluster is a Redis Cluster of three masters, each owning a third of the hash slots,
// started by StartRedisCluster.
type Cluster struct {
	// Addrs are the masters' host:port addresses.
	Addrs []string
	// URL is redis://127.0.0.1:PORT of the first master, a seed from which clients
	// discover the others.
	URL string
	// Nodes are the masters, in the order of Addrs; stop and start one to simulate a
	// node outage (the cluster state is "fail" while a master is down).
	Nodes []*Redis
}

// StartRedisCluster starts three cluster-enabled redis-servers on free ports of
// 127.0.0.1, assigns slots 0-5460, 5461-10922 and 10923-16383 to them, joins them and
// waits until every node reports cluster_state:ok. The servers stop when the test ends.
func StartRedisCluster(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{}
	for range clusterSize {
		r := newRedis(t)
		r.cluster = true
		r.startNew(t)
		c.Nodes = append(c.Nodes, r)
		c.Addrs = append(c.Addrs, r.Addr)
	}
	c.URL = "redis://" + c.Addrs[0]

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	const slots = 16384
	for i, n := range c.Nodes {
		first, last := i*slots/clusterSize, (i+1)*slots/clusterSize-1
		nc := nodeClient(n)
		// Distinct epochs up front spare the cluster its epoch-collision round.
		err := nc.Do(ctx, "CLUSTER", "SET-CONFIG-EPOCH", i+1).Err()
		if err == nil {
			err = nc.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", first, last).Err()
		}
		if err == nil && i > 0 {
			err = nodeClient(c.Nodes[0]).Do(ctx, "CLUSTER", "MEET", "127.0.0.1", n.port, n.busPort).Err()
		}
		nc.Close()
		if err != nil {
			t.Fatalf("set up redis cluster node %s: %v", n.Addr, err)
		}
	}
	c.WaitHealthy(t, 20*time.Second)
	return c
}

// WaitHealthy waits until every node reports cluster_state:ok and knows all the others,
// and fails the test after timeout.
func (c *Cluster) WaitHealthy(t testing.TB, timeout time.Duration) {
	t.Helper()
	Eventually(t, timeout, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		for _, n := range c.Nodes {
			nc := nodeClient(n)
			info, err := nc.ClusterInfo(ctx).Result()
			nc.Close()
			if err != nil {
				return false, fmt.Sprintf("CLUSTER INFO on %s: %v", n.Addr, err)
			}
			if !strings.Contains(info, "cluster_state:ok") ||
				!strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", len(c.Nodes))) {
				return false, fmt.Sprintf("CLUSTER INFO on %s:\n%s", n.Addr, info)
			}
		}
		return true, ""
	})
}

// Client returns a go-redis cluster client seeded with all masters, closed when the test
// ends.
func (c *Cluster) Client(t testing.TB) redis.UniversalClient {
	t.Helper()
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	t.Cleanup(func() { _ = cc.Close() })
	return cc
}

// nodeClient returns a client for one node only, for administrative commands.
func nodeClient(r *Redis) *redis.Client {
	return redis.NewClient(&redis.Options{
		Addr:            r.Addr,
		Password:        r.Password,
		TLSConfig:       r.TLSConfig(),
		Protocol:        2,
		DisableIdentity: true,
		MaxRetries:      -1,
		PoolSize:        1,
		DialTimeout:     500 * time.Millisecond,
	})
}
