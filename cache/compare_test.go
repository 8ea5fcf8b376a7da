package cache_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/s3cache/s3cache/cache"
)

func TestClassify(t *testing.T) {
	object := func(etag string) cache.Summary { return cache.Summary{Kind: cache.KindObject, ETag: etag} }
	// Objects over 100 bytes, and keys ending in .bin, are not cached by design.
	cacheable := func(key string, size int64) bool { return size <= 100 && !strings.HasSuffix(key, ".bin") }
	for _, tc := range []struct {
		name   string
		inS3   map[string]cache.Listed
		cached map[string]cache.Summary
		want   cache.Comparison
		ok     int
	}{
		{
			name:   "Equal",
			inS3:   map[string]cache.Listed{"a": {ETag: "e1", Size: 1}},
			cached: map[string]cache.Summary{"a": object("e1")},
			want:   cache.Comparison{Objects: 1, Cached: 1},
			ok:     1,
		},
		{
			name: "Missing",
			inS3: map[string]cache.Listed{"b": {ETag: "e2"}, "a": {ETag: "e1"}},
			want: cache.Comparison{Objects: 2, Missing: []string{"a", "b"}},
		},
		{
			name:   "Stale",
			inS3:   map[string]cache.Listed{"a": {ETag: "new"}},
			cached: map[string]cache.Summary{"a": object("old")},
			want:   cache.Comparison{Objects: 1, Cached: 1, Stale: []cache.Mismatch{{Key: "a", CachedETag: "old", S3ETag: "new"}}},
		},
		{
			name:   "StaleWithoutETag",
			inS3:   map[string]cache.Listed{"a": {ETag: "e1"}},
			cached: map[string]cache.Summary{"a": object("")},
			want:   cache.Comparison{Objects: 1, Cached: 1, Stale: []cache.Mismatch{{Key: "a", S3ETag: "e1"}}},
		},
		{
			name:   "Orphaned",
			cached: map[string]cache.Summary{"z": object("e"), "y": object("e")},
			want:   cache.Comparison{Cached: 2, Orphaned: []string{"y", "z"}},
		},
		{
			// A removal leaves a tombstone: not an orphan, and the object is not cached.
			name:   "TombstoneNotOrphan",
			cached: map[string]cache.Summary{"gone": {Kind: cache.KindTombstone}},
			want:   cache.Comparison{},
		},
		{
			// A tombstone for an object S3 has again: missing until the next event.
			name:   "TombstoneOfExistingObject",
			inS3:   map[string]cache.Listed{"back": {ETag: "e"}},
			cached: map[string]cache.Summary{"back": {Kind: cache.KindTombstone}},
			want:   cache.Comparison{Objects: 1, Missing: []string{"back"}},
		},
		{
			name: "NotCacheable",
			inS3: map[string]cache.Listed{"big": {ETag: "e", Size: 101}, "data.bin": {ETag: "e"}, "limit": {ETag: "e", Size: 100}},
			want: cache.Comparison{Objects: 3, NotCacheable: 2, Missing: []string{"limit"}},
		},
		{
			// Cached although the filter now excludes it: cached, and compared.
			name:   "CachedButNotCacheable",
			inS3:   map[string]cache.Listed{"data.bin": {ETag: "e"}},
			cached: map[string]cache.Summary{"data.bin": object("e")},
			want:   cache.Comparison{Objects: 1, Cached: 1},
			ok:     1,
		},
		{
			// The AWS sample's string at an object's key: foreign, and the object missing.
			name:   "Foreign",
			inS3:   map[string]cache.Listed{"legacy": {ETag: "e"}},
			cached: map[string]cache.Summary{"legacy": {Kind: cache.KindForeign}, "other": {Kind: cache.KindForeign}},
			want:   cache.Comparison{Objects: 1, Missing: []string{"legacy"}, Foreign: []string{"legacy", "other"}},
		},
		{
			// A hash that is neither an entry nor a tombstone holds no object.
			name:   "NoEntry",
			inS3:   map[string]cache.Listed{"odd": {ETag: "e"}},
			cached: map[string]cache.Summary{"odd": {Kind: cache.KindNone}},
			want:   cache.Comparison{Objects: 1, Missing: []string{"odd"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := cache.Classify(tc.inS3, tc.cached, cacheable)
			want := tc.want
			for _, l := range []*[]string{&want.Missing, &want.Orphaned, &want.Foreign} {
				if *l == nil {
					*l = []string{}
				}
			}
			if want.Stale == nil {
				want.Stale = []cache.Mismatch{}
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("Classify(S3 %v, cache %v):\ngot  %+v\nwant %+v", tc.inS3, tc.cached, got, want)
			}
			if got.OK() != tc.ok {
				t.Errorf("OK: got %d, want %d", got.OK(), tc.ok)
			}
		})
	}
}
