package cache

import (
	"context"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"
	"github.com/s3cache/s3cache/internal/testenv"
	"github.com/s3cache/s3cache/s3event"
)

// TestCompareLua_MatchesCompareSequencers runs the scripts' cmp on a real redis-server
// over random pairs of sequencers and checks each answer against the Go comparison the
// rest of s3cache orders events by. The pairs share prefixes of every length, so the
// first difference falls anywhere; they mix cases, lengths (padding) and bytes that are
// not hex, which a value someone else wrote may hold.
func TestCompareLua_MatchesCompareSequencers(t *testing.T) {
	srv := testenv.StartRedis(t)
	rdb := redis.NewClient(&redis.Options{Addr: srv.Addr})
	defer rdb.Close()
	const alphabet = "0123456789abcdefABCDEF"
	const odd = "0aA x-\xff"
	rng := rand.New(rand.NewPCG(1, 2))
	seq := func(n int, chars string) string {
		var b strings.Builder
		for range n {
			b.WriteByte(chars[rng.IntN(len(chars))])
		}
		return b.String()
	}
	var pairs []any
	for i := range 3000 {
		chars := alphabet
		if i%10 == 0 {
			chars = odd
		}
		prefix := seq(rng.IntN(20), chars)
		a, b := prefix+seq(rng.IntN(4), chars), prefix+seq(rng.IntN(4), chars)
		if i%7 == 0 {
			b = strings.ToLower(a) + strings.Repeat("0", rng.IntN(3)) // the same event
		}
		pairs = append(pairs, a, b)
	}
	script := compareLua + `
local out = {}
for i = 1, #ARGV, 2 do out[#out + 1] = cmp(ARGV[i], ARGV[i + 1]) end
return out`
	got, err := rdb.Eval(context.Background(), script, nil, pairs...).Int64Slice()
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(pairs)/2 {
		t.Fatalf("%d answers for %d pairs", len(got), len(pairs)/2)
	}
	for i, c := range got {
		a, b := pairs[2*i].(string), pairs[2*i+1].(string)
		if want := s3event.CompareSequencers(a, b); int(c) != want {
			t.Errorf("cmp(%q, %q) = %d, want %d", a, b, c, want)
		}
	}
}
