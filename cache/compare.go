package cache

import (
	"slices"
	"strings"
)

// Listed is an object as a bucket listing shows it.
type Listed struct {
	ETag string // without quotes
	Size int64
}

// Mismatch is a cached object whose ETag differs from S3's.
type Mismatch struct {
	Key        string `json:"key"`
	CachedETag string `json:"cached_etag"`
	S3ETag     string `json:"s3_etag"`
}

// Comparison is how a bucket's cache entries compare with its objects in S3. The key
// lists are sorted.
type Comparison struct {
	Objects      int        // objects in S3
	Cached       int        // entries with a body
	NotCacheable int        // in S3, not cached by design (filtered out, too large)
	Missing      []string   // in S3 and cacheable, not cached
	Stale        []Mismatch // cached with an ETag that differs from S3's
	Orphaned     []string   // cached, not in S3
	Foreign      []string   // keys of another type
}

// OK returns how many entries are cached and equal to S3.
func (c Comparison) OK() int { return c.Cached - len(c.Stale) - len(c.Orphaned) }

// Classify compares what S3 lists (object key → listing) with what the cache holds
// (object key → Scan's summary), for the same keys. cacheable says whether the daemon
// caches an object of that key and size; one it does not is not missing.
//
// A tombstone is what a removal leaves, so it is never an orphan, and a key of another
// type is foreign, not an entry: when S3 has that object it is also missing.
func Classify(inS3 map[string]Listed, cached map[string]Summary, cacheable func(key string, size int64) bool) Comparison {
	c := Comparison{Objects: len(inS3), Missing: []string{}, Stale: []Mismatch{}, Orphaned: []string{}, Foreign: []string{}}
	for key, e := range cached {
		o, ok := inS3[key]
		switch {
		case e.Kind == KindForeign:
			c.Foreign = append(c.Foreign, key)
		case e.Kind != KindObject:
			// A tombstone, or no entry: nothing to compare.
		case !ok:
			c.Orphaned = append(c.Orphaned, key)
		case e.StaleAgainst(o.ETag):
			c.Stale = append(c.Stale, Mismatch{Key: key, CachedETag: e.ETag, S3ETag: o.ETag})
		}
		if e.Kind == KindObject {
			c.Cached++
		}
	}
	for key, o := range inS3 {
		switch {
		case cached[key].Kind == KindObject:
		case !cacheable(key, o.Size):
			c.NotCacheable++
		default:
			c.Missing = append(c.Missing, key)
		}
	}
	slices.Sort(c.Missing)
	slices.Sort(c.Orphaned)
	slices.Sort(c.Foreign)
	slices.SortFunc(c.Stale, func(a, b Mismatch) int { return strings.Compare(a.Key, b.Key) })
	return c
}
