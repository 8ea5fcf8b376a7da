package cache_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/cfn"
	"github.com/s3cache/s3cache/internal/testenv"
)

// userAccess is the access string cfn/template.yaml gives the Redis user s3cache.
var userAccess = regexp.MustCompile(`(?m)UserName: s3cache\n\s+Engine: redis\n\s+AccessString: !Sub (.+)$`)

// TestStore_AsTheStackUser runs the store, the daemon's code and the CLI's bucket-scoped
// commands, as a Redis user with exactly the rights the stack's s3cache user has, on
// redis-server standalone and cluster: everything they do is allowed, and what reaches
// beyond the bucket's entries (other keys, FLUSHALL, KEYS, SCRIPT FLUSH, CONFIG) is not.
func TestStore_AsTheStackUser(t *testing.T) {
	m := userAccess.FindSubmatch(cfn.Template)
	if m == nil {
		t.Fatal("cfn/template.yaml: no AccessString for the user s3cache")
	}
	const bucket, password = "bkt", "user-password-0123456789"
	rules := strings.Fields(strings.ReplaceAll(string(m[1]), "${Bucket}", bucket))

	standalone := testenv.StartRedis(t)
	cluster := testenv.StartRedisCluster(t)
	for _, tc := range []struct {
		name    string
		nodes   []*testenv.Redis
		url     string
		cluster bool
	}{
		{"Standalone", []*testenv.Redis{standalone}, standalone.URL, false},
		{"Cluster", cluster.Nodes, cluster.URL, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			for _, n := range tc.nodes {
				args := []any{"ACL", "SETUSER", "s3cache", "reset", ">" + password}
				for _, r := range rules {
					args = append(args, r)
				}
				if err := n.Client(t).Do(ctx, args...).Err(); err != nil {
					t.Fatalf("ACL SETUSER s3cache %s: %v", strings.Join(rules, " "), err)
				}
			}
			admin := dial(t, cache.ClientOptions{URL: tc.url, Cluster: tc.cluster})
			url := strings.Replace(tc.url, "redis://", "redis://s3cache:"+password+"@", 1)
			rdb := dial(t, cache.ClientOptions{URL: url, Cluster: tc.cluster})
			testAsStackUser(t, ctx, rdb, admin, bucket)
		})
	}
}

func testAsStackUser(t *testing.T, ctx context.Context, rdb, admin redis.UniversalClient, bucket string) {
	store := cache.NewStore(rdb, cache.Settings{TTL: time.Hour, TTLJitter: 0.1, TombstoneTTL: time.Minute})
	must := func(what string, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s as the stack's user: %v", what, err)
		}
	}
	// What s3cached does.
	must("PING", store.Ping(ctx))
	_, err := store.Put(ctx, bucket, "a.txt", "01", obj("a"))
	must("Put", err)
	_, err = store.Evict(ctx, bucket, "a.txt", "02")
	must("Evict", err)
	_, err = store.Put(ctx, bucket, "b.txt", "01", obj("b"))
	must("Put", err)
	_, _, err = store.Version(ctx, bucket, "b.txt")
	must("Version", err)
	_, _, err = store.Body(ctx, bucket, "b.txt")
	must("Body", err)
	_, _, err = store.Get(ctx, bucket, "b.txt")
	must("Get", err)
	must("SET (as another program)", admin.Set(ctx, store.Key(bucket, "foreign"), "x", 0).Err())
	_, err = store.Put(ctx, bucket, "foreign", "01", obj("f")) // replaces a string: TYPE, DEL
	must("Put over a string", err)
	// Large bodies are staged: MULTI, HSET and PEXPIRE of the stage key, EVALSHA (EVAL
	// where the script is not loaded yet, as the fill's is not), EXEC; the script moves
	// the body by RENAME or drops it by DEL, and with no TTL runs PERSIST.
	large := cache.NewStore(rdb, cache.Settings{TTL: time.Hour, TombstoneTTL: time.Minute, LargeBody: 1})
	_, err = large.Put(ctx, bucket, "b.txt", "02", obj("b2"))
	must("Put staged", err)
	_, err = large.Put(ctx, bucket, "b.txt", "01", obj("b1"))
	must("Put staged, declined", err)
	_, err = large.Fill(ctx, bucket, "b.txt", obj("b0"))
	must("Fill staged, declined", err)
	forever := cache.NewStore(rdb, cache.Settings{TombstoneTTL: time.Minute, LargeBody: 1})
	_, err = forever.Put(ctx, bucket, "b.txt", "03", obj("b3"))
	must("Put staged without a TTL", err)
	_, err = cache.NewStore(rdb, cache.Settings{}).FillWarning(ctx) // INFO
	must("FillWarning", err)
	// What the CLI does within the bucket.
	_, err = store.Fill(ctx, bucket, "c.txt", obj("c"))
	must("Fill", err)
	n := 0
	must("Scan", store.Scan(ctx, bucket, "", func(keys []cache.Summary) error {
		n += len(keys)
		return nil
	}))
	if n != 4 {
		t.Errorf("Scan found %d keys, want the 4 written", n)
	}
	_, err = store.Inspect(ctx, bucket, "c.txt")
	must("Inspect", err)
	_, err = store.Holds(ctx, bucket, map[string]cache.Object{"c.txt": obj("c")})
	must("Holds", err)
	_, err = store.DBSize(ctx)
	must("DBSize", err)
	_, err = store.ClusterMasters(ctx)
	must("ClusterMasters", err)
	must("Expire", store.Expire(ctx, bucket, "c.txt"))
	_, err = store.RemoveBucket(ctx, bucket)
	must("RemoveBucket (flush)", err)

	// Beyond the bucket's entries: refused.
	other := "someone-elses:k"
	must("SET (as another program)", admin.Set(ctx, other, "theirs", 0).Err())
	_, putOther := store.Put(ctx, "someone-elses", "k", "09", obj("x"))
	for what, err := range map[string]error{
		"HSET on another key":   rdb.HSet(ctx, other+"2", "f", "v").Err(),
		"DEL on another key":    rdb.Del(ctx, other).Err(),
		"a script on other key": rdb.Eval(ctx, "return redis.call('DEL', KEYS[1])", []string{other}).Err(),
		"Put in another bucket": putOther,
		"FLUSHALL":              rdb.FlushAll(ctx).Err(),
		"FLUSHDB":               rdb.FlushDB(ctx).Err(),
		"FlushDB (flush --all)": store.FlushDB(ctx),
		"KEYS":                  rdb.Keys(ctx, bucket+":*").Err(),
		"SCRIPT FLUSH":          rdb.ScriptFlush(ctx).Err(),
		"CONFIG SET":            rdb.ConfigSet(ctx, "maxmemory-policy", "noeviction").Err(),
		"ACL SETUSER":           rdb.Do(ctx, "ACL", "SETUSER", "s3cache", "+@all").Err(),
		"CLIENT KILL":           rdb.Do(ctx, "CLIENT", "KILL", "TYPE", "normal").Err(),
	} {
		if err == nil || !strings.Contains(err.Error(), "NOPERM") {
			t.Errorf("%s as the stack's user: got %v, want NOPERM", what, err)
		}
	}
	if v := admin.Get(ctx, other).Val(); v != "theirs" {
		t.Errorf("another key: %q, want it untouched", v)
	}
}
