package testenv

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// clusterSize is how many masters RunRedisCluster starts. There are no replicas.
const clusterSize = 3

// Cluster is a Redis Cluster of three masters, each owning a third of the hash slots,
// started by RunRedisCluster.
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

// RunRedisCluster starts three cluster-enabled redis-servers on free ports of
// 127.0.0.1, assigns slots 0-5460, 5461-10922 and 10923-16383 to them, joins them and
// waits until every node reports cluster_state:ok. Close stops them.
func RunRedisCluster() (_ *Cluster, err error) {
	c := &Cluster{}
	defer func() {
		if err != nil {
			_ = c.Close()
		}
	}()
	for range clusterSize {
		r, err := runClusterNode()
		if err != nil {
			return nil, err
		}
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
			return nil, fmt.Errorf("set up redis cluster node %s: %w", n.Addr, err)
		}
	}
	if err := c.waitHealthy(20 * time.Second); err != nil {
		return nil, fmt.Errorf("redis cluster: %w", err)
	}
	return c, nil
}

// StartRedisCluster is RunRedisCluster for a test: the servers stop when the test ends.
func StartRedisCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := RunRedisCluster()
	return started(t, c, err)
}

// Close stops every node and removes their directories.
func (c *Cluster) Close() error {
	var errs []error
	for _, n := range c.Nodes {
		errs = append(errs, n.Close())
	}
	return errors.Join(errs...)
}

// WaitHealthy waits until every node reports cluster_state:ok and knows all the others,
// and fails the test after timeout.
func (c *Cluster) WaitHealthy(t testing.TB, timeout time.Duration) {
	t.Helper()
	if err := c.waitHealthy(timeout); err != nil {
		t.Fatal(err)
	}
}

func (c *Cluster) waitHealthy(timeout time.Duration) error {
	return poll(timeout, func() (bool, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		for _, n := range c.Nodes {
			nc := nodeClient(n)
			info, err := nc.ClusterInfo(ctx).Result()
			nc.Close()
			if err != nil {
				return false, fmt.Sprintf("CLUSTER INFO on %s: %v", n.Addr, err), nil
			}
			if !strings.Contains(info, "cluster_state:ok") ||
				!strings.Contains(info, fmt.Sprintf("cluster_known_nodes:%d", len(c.Nodes))) {
				return false, fmt.Sprintf("CLUSTER INFO on %s:\n%s", n.Addr, info), nil
			}
		}
		return true, "", nil
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

// MoveSlot moves one hash slot and its keys to the master Nodes[to], as online
// resharding does (ElastiCache scaling out, redis-cli --cluster reshard): the target
// imports the slot, the source migrates it, the keys move a few at a time with MIGRATE,
// pause apart, then every master learns the new owner. Meanwhile clients meet the states
// resharding puts them in: a key still on the source is served there, a key already
// moved answers ASK, and once the slot has moved, MOVED.
func (c *Cluster) MoveSlot(ctx context.Context, slot, to int, pause time.Duration) error {
	ids := make([]string, len(c.Nodes))
	clients := make([]*redis.Client, len(c.Nodes))
	for i, n := range c.Nodes {
		clients[i] = nodeClient(n)
		defer clients[i].Close()
		id, err := clients[i].Do(ctx, "CLUSTER", "MYID").Text()
		if err != nil {
			return fmt.Errorf("node id of %s: %w", n.Addr, err)
		}
		ids[i] = id
	}
	from, err := c.owner(ctx, clients[to], slot, ids)
	if err != nil {
		return err
	}
	if from == to {
		return nil
	}
	src, dst := clients[from], clients[to]
	if err := dst.Do(ctx, "CLUSTER", "SETSLOT", slot, "IMPORTING", ids[from]).Err(); err != nil {
		return fmt.Errorf("slot %d: import on %s: %w", slot, c.Nodes[to].Addr, err)
	}
	if err := src.Do(ctx, "CLUSTER", "SETSLOT", slot, "MIGRATING", ids[to]).Err(); err != nil {
		return fmt.Errorf("slot %d: migrate from %s: %w", slot, c.Nodes[from].Addr, err)
	}
	for {
		keys, err := src.ClusterGetKeysInSlot(ctx, slot, 5).Result()
		if err != nil {
			return fmt.Errorf("slot %d: keys on %s: %w", slot, c.Nodes[from].Addr, err)
		}
		if len(keys) == 0 {
			break
		}
		args := []any{"MIGRATE", "127.0.0.1", c.Nodes[to].port, "", 0, 5000, "KEYS"}
		for _, k := range keys {
			args = append(args, k)
		}
		if err := src.Do(ctx, args...).Err(); err != nil {
			return fmt.Errorf("slot %d: MIGRATE %d keys to %s: %w", slot, len(keys), c.Nodes[to].Addr, err)
		}
		if !Sleep(ctx, pause) {
			return ctx.Err()
		}
	}
	// The target first, so that the slot is never without an owner that serves it.
	order := append([]int{to, from}, others(len(c.Nodes), to, from)...)
	for _, i := range order {
		if err := clients[i].Do(ctx, "CLUSTER", "SETSLOT", slot, "NODE", ids[to]).Err(); err != nil {
			return fmt.Errorf("slot %d: assign to %s on %s: %w", slot, c.Nodes[to].Addr, c.Nodes[i].Addr, err)
		}
	}
	return nil
}

// owner returns the index of the master that owns slot, as nc sees the cluster.
func (c *Cluster) owner(ctx context.Context, nc *redis.Client, slot int, ids []string) (int, error) {
	slots, err := nc.ClusterSlots(ctx).Result()
	if err != nil {
		return 0, fmt.Errorf("CLUSTER SLOTS: %w", err)
	}
	for _, s := range slots {
		if s.Start <= slot && slot <= s.End && len(s.Nodes) > 0 {
			for i, id := range ids {
				if id == s.Nodes[0].ID {
					return i, nil
				}
			}
		}
	}
	return 0, fmt.Errorf("no master owns slot %d", slot)
}

// others returns the indexes below n other than a and b.
func others(n, a, b int) []int {
	var out []int
	for i := range n {
		if i != a && i != b {
			out = append(out, i)
		}
	}
	return out
}

// KeySlot returns the hash slot of key, as the cluster computes it.
func (c *Cluster) KeySlot(ctx context.Context, key string) (int, error) {
	nc := nodeClient(c.Nodes[0])
	defer nc.Close()
	n, err := nc.ClusterKeySlot(ctx, key).Result()
	return int(n), err
}

// Sleep waits for d or until ctx is done; it reports whether the full time passed.
func Sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
