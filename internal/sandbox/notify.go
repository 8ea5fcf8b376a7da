package sandbox

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"hash/fnv"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
	"go.uber.org/zap"

	"github.com/s3cache/s3cache/s3event"
)

// opKind is the kind of S3 write a request is, as far as notifications are concerned.
type opKind int

const (
	opNone opKind = iota
	opPut
	opCopy
	opComplete
	opDelete
	opDeleteVersion
	opDeleteObjects
)

var opNames = [...]string{"none", "put", "copy", "complete", "delete", "delete-version", "delete-objects"}

func (k opKind) String() string { return opNames[k] }

// request is a classified S3 request.
type request struct {
	kind      opKind
	bucket    string
	key       string // "" for opDeleteObjects
	versionID string // opDeleteVersion only
}

// classify says which write a path-style request is, following gofakes3's routing
// (routing.go: uploadId, uploads, versioning, versions, versionId, then object and
// bucket routes), so that it agrees with what gofakes3 does with the request.
func classify(r *http.Request) request {
	path := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ := strings.Cut(path, "/")
	q := r.URL.Query()
	req := request{bucket: bucket, key: key}
	_, uploads := q["uploads"]
	_, versioning := q["versioning"]
	_, versions := q["versions"]
	versionID := q.Get("versionId")
	if versionID == "null" { // gofakes3 treats versionId=null as absent
		versionID = ""
	}
	switch {
	case q.Get("uploadId") != "":
		if r.Method == http.MethodPost && key != "" {
			req.kind = opComplete
		}
	case uploads, versioning, versions:
	case versionID != "":
		if r.Method == http.MethodDelete && key != "" {
			req.kind, req.versionID = opDeleteVersion, versionID
		}
	case bucket != "" && key != "":
		switch r.Method {
		case http.MethodPut:
			req.kind = opPut
			if r.Header.Get("X-Amz-Copy-Source") != "" {
				req.kind = opCopy
			}
		case http.MethodDelete:
			req.kind = opDelete
		}
	case bucket != "":
		if _, del := q["delete"]; del && r.Method == http.MethodPost {
			req.kind = opDeleteObjects
		}
	}
	return req
}

// eventNames are the notification event names of the created kinds.
var eventNames = map[opKind]string{
	opPut:      "ObjectCreated:Put",
	opCopy:     "ObjectCreated:Copy",
	opComplete: "ObjectCreated:CompleteMultipartUpload",
}

const (
	nameDelete       = "ObjectRemoved:Delete"
	nameDeleteMarker = "ObjectRemoved:DeleteMarkerCreated"
)

// objectStore is what the notifier asks the S3 backend after a write (s3mem.Backend).
type objectStore interface {
	HeadObject(bucket, key string) (*gofakes3.Object, error)
	VersioningConfiguration(bucket string) (gofakes3.VersioningConfiguration, error)
	ListBucketVersions(bucket string, prefix *gofakes3.Prefix, page *gofakes3.ListBucketVersionsPage) (*gofakes3.ListBucketVersionsResult, error)
}

// maxDeleteBody bounds the DeleteObjects request bodies the notifier reads (S3 allows
// 1000 keys of at most 1 KiB each).
const maxDeleteBody = 4 << 20

// NewNotifier returns the http.Handler that the sandbox puts in front of gofakes3, for
// use in front of another one: it passes every request to next, which must serve the
// S3 API from backend (gofakes3, or a proxy to it), and when a write to bucket has
// succeeded, it calls send with the body of each S3 event notification, before the
// client gets its reply (see the package comment). It logs to log the notifications
// that it cannot build or send.
func NewNotifier(next http.Handler, backend *s3mem.Backend, bucket string, send func(ctx context.Context, body []byte) error, log *zap.Logger) http.Handler {
	return &notifier{next: next, store: backend, bucket: bucket, send: send, log: log}
}

// notifier is an http.Handler in front of gofakes3 that sends S3 event notifications
// for the writes to one bucket that succeed.
type notifier struct {
	next   http.Handler
	store  objectStore
	bucket string
	send   func(ctx context.Context, body []byte) error
	log    *zap.Logger
	locks  keyLocks
}

func (n *notifier) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := classify(r)
	if req.kind == opNone || req.bucket != n.bucket {
		n.next.ServeHTTP(w, r)
		return
	}
	keys := []string{req.key}
	var objects []gofakes3.ObjectID
	if req.kind == opDeleteObjects {
		var ok bool
		if objects, ok = readDeleteRequest(r); !ok {
			// gofakes3 answers with the error; nothing is deleted.
			n.next.ServeHTTP(w, r)
			return
		}
		keys = keys[:0]
		for _, o := range objects {
			keys = append(keys, o.Key)
		}
	}

	n.write(r, req, keys, objects).copyTo(w)
}

// write passes the write to next and, when it succeeded, delivers its notifications,
// with keys locked throughout: from the write to the delivered notification no other
// write to these keys runs, so notifications describe the state each write left and
// reach the queue in the order the writes completed. The keys are unlocked even when
// next panics (net/http recovers the panic and serves on), and before the reply is
// sent.
func (n *notifier) write(r *http.Request, req request, keys []string, objects []gofakes3.ObjectID) *responseBuffer {
	defer n.locks.lock(req.bucket, keys)()
	buf := newResponseBuffer()
	n.next.ServeHTTP(buf, r)
	if buf.statusCode()/100 == 2 {
		// The write happened; notify even if the client has gone.
		ctx := context.WithoutCancel(r.Context())
		for _, e := range n.events(req, buf, objects) {
			n.deliver(ctx, e)
		}
	}
	return buf
}

// readDeleteRequest reads a DeleteObjects body and puts it back for gofakes3.
func readDeleteRequest(r *http.Request) ([]gofakes3.ObjectID, bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxDeleteBody+1))
	r.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), r.Body))
	if err != nil || len(body) > maxDeleteBody {
		return nil, false
	}
	var in gofakes3.DeleteRequest
	if err := xml.Unmarshal(body, &in); err != nil {
		return nil, false
	}
	return in.Objects, true
}

// events returns the notifications for a write that succeeded, sequencers assigned.
func (n *notifier) events(req request, resp *responseBuffer, objects []gofakes3.ObjectID) []s3event.Event {
	removed := func(key string) s3event.Event {
		return s3event.Event{Kind: s3event.KindRemoved, Name: nameDelete, Bucket: req.bucket, Key: key, Size: -1}
	}
	var events []s3event.Event
	switch req.kind {
	case opPut, opCopy, opComplete:
		e, err := n.created(req)
		if err != nil {
			n.log.Error("no notification for a write: object unreadable after it", zap.String("bucket", req.bucket), zap.String("key", req.key), zap.Stringer("operation", req.kind), zap.Error(err))
			return nil
		}
		events = append(events, e)
	case opDelete:
		e := removed(req.key)
		if resp.sentHeader().Get("X-Amz-Delete-Marker") == "true" {
			e.Name = nameDeleteMarker
			e.VersionID = resp.sentHeader().Get("X-Amz-Version-Id")
		}
		events = append(events, e)
	case opDeleteVersion:
		e := removed(req.key)
		e.VersionID = req.versionID
		events = append(events, e)
	case opDeleteObjects:
		failed := failedKeys(resp.body.Bytes())
		versioned := n.versioned(req.bucket)
		seen := make(map[gofakes3.ObjectID]bool, len(objects))
		for _, o := range objects {
			if failed[o.Key] || seen[o] || o.Key == "" {
				continue
			}
			seen[o] = true
			e := removed(o.Key)
			switch {
			case o.VersionID != "" && o.VersionID != "null":
				e.VersionID = o.VersionID
			case versioned:
				if id, ok := n.latestDeleteMarker(req.bucket, o.Key); ok {
					e.Name, e.VersionID = nameDeleteMarker, id
				}
			}
			events = append(events, e)
		}
	}
	for i := range events {
		events[i].Time = time.Now()
		events[i].Sequencer = nextSequencer(events[i].Time)
	}
	return events
}

// created describes the object a successful put, copy or multipart upload left.
func (n *notifier) created(req request) (s3event.Event, error) {
	obj, err := n.store.HeadObject(req.bucket, req.key)
	if err != nil {
		return s3event.Event{}, err
	}
	if obj.Contents != nil {
		obj.Contents.Close()
	}
	e := s3event.Event{
		Kind:   s3event.KindCreated,
		Name:   eventNames[req.kind],
		Bucket: req.bucket,
		Key:    req.key,
		Size:   obj.Size,
		ETag:   hex.EncodeToString(obj.Hash),
	}
	if n.versioned(req.bucket) {
		e.VersionID = string(obj.VersionID)
	}
	return e, nil
}

func (n *notifier) versioned(bucket string) bool {
	v, err := n.store.VersioningConfiguration(bucket)
	return err == nil && v.Enabled()
}

// latestDeleteMarker returns the version ID of key's delete marker when it is the
// current version.
func (n *notifier) latestDeleteMarker(bucket, key string) (string, bool) {
	list, err := n.store.ListBucketVersions(bucket, &gofakes3.Prefix{HasPrefix: true, Prefix: key}, &gofakes3.ListBucketVersionsPage{})
	if err != nil {
		return "", false
	}
	for _, v := range list.Versions {
		if m, ok := v.(*gofakes3.DeleteMarker); ok && m.Key == key && m.IsLatest {
			return string(m.VersionID), true
		}
	}
	return "", false
}

// failedKeys returns the keys listed as errors in a DeleteObjects reply.
func failedKeys(body []byte) map[string]bool {
	var out gofakes3.MultiDeleteResult
	if err := xml.Unmarshal(body, &out); err != nil {
		return nil
	}
	failed := make(map[string]bool, len(out.Error))
	for _, e := range out.Error {
		failed[e.Key] = true
	}
	return failed
}

// deliver sends one event as its own message, as S3 does.
func (n *notifier) deliver(ctx context.Context, e s3event.Event) {
	log := n.log.With(zap.String("event", e.Name), zap.String("bucket", e.Bucket), zap.String("key", e.Key), zap.String("sequencer", e.Sequencer))
	body, err := s3event.Marshal(region, e)
	if err == nil {
		ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err = n.send(ctx, body)
		cancel()
	}
	if err != nil {
		log.Error("send event notification failed", zap.Error(err))
		return
	}
	log.Debug("event notification sent")
}

// keyLocks serializes writes per key: a key maps to one of lockStripes mutexes.
type keyLocks [lockStripes]sync.Mutex

const lockStripes = 64

// lock locks the stripes of the keys, in ascending order so that two multi-key locks
// cannot deadlock, and returns the function that unlocks them.
func (l *keyLocks) lock(bucket string, keys []string) (unlock func()) {
	var held [lockStripes]bool
	for _, k := range keys {
		h := fnv.New32a()
		h.Write([]byte(bucket))
		h.Write([]byte{0})
		h.Write([]byte(k))
		held[h.Sum32()%lockStripes] = true
	}
	for i := range held {
		if held[i] {
			l[i].Lock()
		}
	}
	return func() {
		for i := range held {
			if held[i] {
				l[i].Unlock()
			}
		}
	}
}

// sequencerClock hands out the sandbox's sequencers: nanoseconds since 1970 that never
// repeat or go back within the process.
var sequencerClock struct {
	mu   sync.Mutex
	last uint64
}

// nextSequencer returns the next sequencer at time now: 18 upper-case hex digits (like
// S3's, e.g. 0055AED6DCD90281E5), greater than every sequencer returned before. Being
// of equal length, they compare as s3event.CompareSequencers expects; being clock
// based, they also exceed those of earlier runs.
func nextSequencer(now time.Time) string {
	sequencerClock.mu.Lock()
	defer sequencerClock.mu.Unlock()
	n := uint64(now.UnixNano())
	if n <= sequencerClock.last {
		n = sequencerClock.last + 1
	}
	sequencerClock.last = n
	return fmt.Sprintf("%018X", n)
}

// responseBuffer holds gofakes3's reply until the notifications are sent.
type responseBuffer struct {
	header http.Header
	sent   http.Header // the header as of WriteHeader, as a real ResponseWriter would send it
	status int
	body   bytes.Buffer
}

func newResponseBuffer() *responseBuffer {
	return &responseBuffer{header: make(http.Header)}
}

func (b *responseBuffer) Header() http.Header { return b.header }

func (b *responseBuffer) WriteHeader(status int) {
	if b.status == 0 {
		b.status = status
		b.sent = b.header.Clone()
	}
}

func (b *responseBuffer) Write(p []byte) (int, error) {
	b.WriteHeader(http.StatusOK)
	return b.body.Write(p)
}

func (b *responseBuffer) statusCode() int {
	if b.status == 0 {
		return http.StatusOK
	}
	return b.status
}

func (b *responseBuffer) sentHeader() http.Header {
	if b.sent == nil {
		return b.header
	}
	return b.sent
}

// copyTo writes the buffered reply to w.
func (b *responseBuffer) copyTo(w http.ResponseWriter) {
	maps.Copy(w.Header(), b.sentHeader())
	w.WriteHeader(b.statusCode())
	_, _ = w.Write(b.body.Bytes())
}
