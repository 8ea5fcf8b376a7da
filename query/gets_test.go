package query_test

import (
	"context"
	"errors"
	"testing"

	"github.com/s3cache/s3cache/cache"
	"github.com/s3cache/s3cache/query"
)

// TestGets: GET i reads keys[i mod len(keys)], from S3 or as applications read the
// cache, and an object that is not there fails the GET with a MissingError naming it.
func TestGets(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	f.s3.Put(t, bucket, "a", []byte("body a"))
	if _, err := f.store.Fill(ctx, bucket, "a", cache.Object{Body: []byte("body a"), Size: 6}); err != nil {
		t.Fatal(err)
	}
	keys := []string{"a", "b"}
	for _, tc := range []struct {
		name string
		get  query.GetFunc
		want query.MissingError
	}{
		{"S3", query.S3Gets(f.get, bucket, keys), query.MissingError{Name: "s3://lazy/b"}},
		{"Redis", query.RedisGets(f.store, bucket, keys), query.MissingError{Name: "p:lazy:b", Cached: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for i, wantErr := range []bool{false, true, false, true} {
				err := tc.get(ctx, i)
				var missing *query.MissingError
				switch {
				case !wantErr && err != nil:
					t.Errorf("GET %d (%s): %v", i, keys[i%2], err)
				case wantErr && (!errors.As(err, &missing) || *missing != tc.want):
					t.Errorf("GET %d (%s): got %v, want %+v", i, keys[i%2], err, tc.want)
				}
			}
		})
	}
	m, err := query.Measure(ctx, query.RedisGets(f.store, bucket, keys[:1]), query.Options{Count: 5, Warmup: 1})
	if err != nil || len(m.Samples) != 4 {
		t.Errorf("Measure of Redis GETs: got %d samples, %v; want 4", len(m.Samples), err)
	}
	if got := (&query.MissingError{Name: "s3://lazy/b"}).Error(); got != "s3://lazy/b does not exist" {
		t.Errorf("S3 MissingError: got %q", got)
	}
	if got := (&query.MissingError{Name: "p:lazy:b", Cached: true}).Error(); got != "p:lazy:b is not cached" {
		t.Errorf("Redis MissingError: got %q", got)
	}
}
