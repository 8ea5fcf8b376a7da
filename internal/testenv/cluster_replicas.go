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

// ReplicatedCluster is a Redis Cluster of three masters with one replica each, started
// by RunRedisClusterWithReplicas. The embedded Cluster describes the masters as they
// were started; after a failover a replica serves their slots.
type ReplicatedCluster struct {
	*Cluster
	// Replicas are the replicas, Replicas[i] of Nodes[i].
	Replicas []*Redis
}

// RunRedisClusterWithReplicas starts a three-master Redis Cluster (as RunRedisCluster
// does), adds one replica per master and waits until every replica is in sync.
// cluster-node-timeout is 2s, so a master that dies is replaced by its replica within a
// few seconds. Close stops every node.
func RunRedisClusterWithReplicas() (_ *ReplicatedCluster, err error) {
	cl, err := RunRedisCluster()
	if err != nil {
		return nil, err
	}
	c := &ReplicatedCluster{Cluster: cl}
	defer func() {
		if err != nil {
			_ = c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	seed := nodeClient(c.Nodes[0])
	defer seed.Close()
	for range c.Nodes {
		r, err := runClusterNode()
		if err != nil {
			return nil, err
		}
		c.Replicas = append(c.Replicas, r)
		if err := seed.Do(ctx, "CLUSTER", "MEET", "127.0.0.1", r.port, r.busPort).Err(); err != nil {
			return nil, fmt.Errorf("redis cluster: meet replica %s: %w", r.Addr, err)
		}
	}
	for i, r := range c.Replicas {
		master := c.Nodes[i]
		id, err := nodeID(master)
		if err != nil {
			return nil, err
		}
		rc := nodeClient(r)
		// The replica must know the master before it can follow it.
		err = poll(20*time.Second, func() (bool, string, error) {
			err := rc.Do(ctx, "CLUSTER", "REPLICATE", id).Err()
			return err == nil, fmt.Sprintf("CLUSTER REPLICATE %s on %s: %v", id, r.Addr, err), nil
		})
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("redis cluster: %w", err)
		}
	}
	if err := c.waitServed(30*time.Second, true); err != nil {
		return nil, fmt.Errorf("redis cluster: %w", err)
	}
	return c, nil
}

// StartRedisClusterWithReplicas is RunRedisClusterWithReplicas for a test: the servers
// stop when the test ends.
func StartRedisClusterWithReplicas(t testing.TB) *ReplicatedCluster {
	t.Helper()
	c, err := RunRedisClusterWithReplicas()
	return started(t, c, err)
}

// Close stops every node, masters and replicas, and removes their directories.
func (c *ReplicatedCluster) Close() error {
	errs := []error{c.Cluster.Close()}
	for _, r := range c.Replicas {
		errs = append(errs, r.Close())
	}
	return errors.Join(errs...)
}

// nodeID returns the cluster node ID of r.
func nodeID(r *Redis) (string, error) {
	c := nodeClient(r)
	defer c.Close()
	ctx, cancel := callContext()
	defer cancel()
	id, err := c.Do(ctx, "CLUSTER", "MYID").Text()
	if err != nil {
		return "", fmt.Errorf("CLUSTER MYID on %s: %w", r.Addr, err)
	}
	return id, nil
}

// all returns every node, masters first.
func (c *ReplicatedCluster) all() []*Redis {
	return append(append([]*Redis{}, c.Nodes...), c.Replicas...)
}

// running returns the nodes whose server runs.
func (c *ReplicatedCluster) running() []*Redis {
	var out []*Redis
	for _, n := range c.all() {
		n.mu.Lock()
		up := n.proc != nil && !n.proc.exited()
		n.mu.Unlock()
		if up {
			out = append(out, n)
		}
	}
	return out
}

// WaitInSync waits until every running node reports cluster_state:ok, every slot is
// served by a running master, and every running master has a replica whose link is up
// and in sync (master_link_status:up); it fails the test after timeout.
func (c *ReplicatedCluster) WaitInSync(t testing.TB, timeout time.Duration) {
	t.Helper()
	if err := c.waitServed(timeout, true); err != nil {
		t.Fatal(err)
	}
}

// WaitServed waits until every running node reports cluster_state:ok and every slot is
// served by a running master, as after a replica has taken over from a master that was
// stopped; it fails the test after timeout.
func (c *ReplicatedCluster) WaitServed(t testing.TB, timeout time.Duration) {
	t.Helper()
	if err := c.waitServed(timeout, false); err != nil {
		t.Fatal(err)
	}
}

// waitServed waits as WaitInSync does when synced, else as WaitServed does.
func (c *ReplicatedCluster) waitServed(timeout time.Duration, synced bool) error {
	return poll(timeout, func() (bool, string, error) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		nodes := c.running()
		up := map[string]bool{}
		for _, n := range nodes {
			up[n.Addr] = true
		}
		for _, n := range nodes {
			nc := nodeClient(n)
			state, err := clusterView(ctx, nc, up, synced)
			nc.Close()
			if err != nil {
				return false, fmt.Sprintf("node %s: %v", n.Addr, err), nil
			}
			if state != "" {
				return false, fmt.Sprintf("node %s: %s", n.Addr, state), nil
			}
		}
		return true, "", nil
	})
}

// clusterView returns "" when the node sees a healthy cluster served by the running
// nodes in up, else what is wrong.
func clusterView(ctx context.Context, nc *redis.Client, up map[string]bool, synced bool) (string, error) {
	info, err := nc.ClusterInfo(ctx).Result()
	if err != nil {
		return "", err
	}
	if !strings.Contains(info, "cluster_state:ok") {
		return "cluster_state is not ok", nil
	}
	slots, err := nc.ClusterSlots(ctx).Result()
	if err != nil {
		return "", err
	}
	covered := 0
	for _, s := range slots {
		if len(s.Nodes) == 0 || !up[s.Nodes[0].Addr] {
			return fmt.Sprintf("slots %d-%d served by %v, not a running node", s.Start, s.End, s.Nodes), nil
		}
		covered += s.End - s.Start + 1
		if synced && len(s.Nodes) < 2 {
			return fmt.Sprintf("slots %d-%d have no replica", s.Start, s.End), nil
		}
	}
	if covered != 16384 {
		return fmt.Sprintf("%d of 16384 slots served", covered), nil
	}
	repl, err := nc.Info(ctx, "replication").Result()
	if err != nil {
		return "", err
	}
	if synced && strings.Contains(repl, "role:slave") && !strings.Contains(repl, "master_link_status:up") {
		return "replica not in sync with its master", nil
	}
	return "", nil
}

// Failover makes the replica of Nodes[i] take over its slots with CLUSTER FAILOVER (a
// coordinated failover: the replica catches up with the master first, so no write is
// lost) and waits until the whole cluster serves them from the promoted replica.
func (c *ReplicatedCluster) Failover(t testing.TB, i int, timeout time.Duration) {
	t.Helper()
	rc := nodeClient(c.Replicas[i])
	defer rc.Close()
	ctx, cancel := callContext()
	defer cancel()
	if err := rc.Do(ctx, "CLUSTER", "FAILOVER").Err(); err != nil {
		t.Fatalf("CLUSTER FAILOVER on %s: %v", c.Replicas[i].Addr, err)
	}
	promoted := c.Replicas[i].Addr
	Eventually(t, timeout, func() (bool, string) {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		for _, n := range c.running() {
			nc := nodeClient(n)
			slots, err := nc.ClusterSlots(ctx).Result()
			nc.Close()
			if err != nil {
				return false, fmt.Sprintf("CLUSTER SLOTS on %s: %v", n.Addr, err)
			}
			found := false
			for _, s := range slots {
				found = found || (len(s.Nodes) > 0 && s.Nodes[0].Addr == promoted)
			}
			if !found {
				return false, fmt.Sprintf("%s does not see %s as a master yet: %v", n.Addr, promoted, slots)
			}
		}
		return true, ""
	})
	c.WaitInSync(t, timeout)
}
