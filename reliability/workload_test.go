package reliability

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3cache/s3cache/internal/testenv"
	"github.com/s3cache/s3cache/s3event"
)

// object is what S3 holds under a key, as the workload put it there.
type object struct {
	body []byte
	etag string
}

// sentEvent is the newest event of a key that reached the queue, and when.
type sentEvent struct {
	seq string
	at  time.Time
}

// workload drives keys through puts, overwrites and deletes on the S3 server, as
// applications would, and makes the event S3 would send for each. Only the workload
// changes the bucket, so it knows S3's current state; the checker compares that with
// S3 itself too.
type workload struct {
	st   *stack
	rng  *rand.Rand // the workload's own: operations, keys, bodies
	keys []string
	// size, when set, is the size of every body; else sizes vary (see body).
	size int
	// fresh are keys not touched yet, taken first so that every key gets events.
	fresh []string

	mu       sync.Mutex
	objects  map[string]object    // S3's current objects
	versions map[string]int       // puts per key
	lastSeq  map[string]string    // sequencer of each key's last event
	sent     map[string]sentEvent // per key, the newest event on the queue
	events   int
}

// newWorkload prepares nkeys keys, some with characters that S3 notifications encode
// (spaces, '+', '%', unicode, '?', '#', '&').
func newWorkload(st *stack, seed uint64, nkeys int) *workload {
	styles := []string{"obj/%05d.txt", "dir with space/%05d", "a+b=c/%05d.bin", "ünï cødé/日本-%05d", "100%%/%05d", "q?x&y#z/%05d", "deep/er/and/deeper/%05d", "%05d"}
	var keys []string
	for i := range nkeys {
		keys = append(keys, fmt.Sprintf(styles[i%len(styles)], i))
	}
	return newWorkloadOf(st, seed, keys)
}

// newWorkloadOf is newWorkload on the given keys.
func newWorkloadOf(st *stack, seed uint64, keys []string) *workload {
	w := &workload{
		st:       st,
		rng:      rand.New(rand.NewPCG(seed, 1)),
		objects:  map[string]object{},
		versions: map[string]int{},
		lastSeq:  map[string]string{},
		sent:     map[string]sentEvent{},
		keys:     keys,
	}
	w.fresh = append([]string(nil), w.keys...)
	w.rng.Shuffle(len(w.fresh), func(i, j int) { w.fresh[i], w.fresh[j] = w.fresh[j], w.fresh[i] })
	return w
}

// step performs one random operation on S3 and returns its event.
func (w *workload) step(ctx context.Context) (s3event.Event, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	var key string
	if n := len(w.fresh); n > 0 {
		key, w.fresh = w.fresh[n-1], w.fresh[:n-1]
	} else {
		key = w.keys[w.rng.IntN(len(w.keys))]
	}
	_, exists := w.objects[key]
	w.events++
	seq := fmt.Sprintf("%016X", 0x0055AED6DCD90000+w.events)
	// Sequencers of one key may differ in length: S3 compares them right-padded.
	seq += strings.Repeat("0", w.rng.IntN(3)) + fmt.Sprintf("%X", w.rng.IntN(16))[:w.rng.IntN(2)]
	w.lastSeq[key] = seq
	if r := w.rng.Float64(); (exists && r < 0.3) || (!exists && r < 0.08) {
		// S3 sends ObjectRemoved:Delete even for a key that holds no object.
		if _, err := w.st.s3.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
			return s3event.Event{}, fmt.Errorf("delete s3://%s/%s: %w", bucket, key, err)
		}
		delete(w.objects, key)
		return s3event.Event{Kind: s3event.KindRemoved, Name: "ObjectRemoved:Delete", Bucket: bucket, Key: key, Size: -1, Sequencer: seq, Time: time.Now()}, nil
	}
	w.versions[key]++
	body := w.body(key, w.versions[key])
	out, err := w.st.s3.Client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String(key), Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body))),
	})
	if err != nil {
		return s3event.Event{}, fmt.Errorf("put s3://%s/%s: %w", bucket, key, err)
	}
	etag := strings.Trim(aws.ToString(out.ETag), `"`)
	w.objects[key] = object{body: body, etag: etag}
	name := "ObjectCreated:Put"
	if w.rng.IntN(10) == 0 {
		name = "ObjectCreated:CompleteMultipartUpload"
	}
	return s3event.Event{Kind: s3event.KindCreated, Name: name, Bucket: bucket, Key: key, Size: int64(len(body)), ETag: etag, Sequencer: seq, Time: time.Now()}, nil
}

// body returns a new body for version v of key: unique, of a random size. A few are
// empty and a few are larger than the daemons' limit.
func (w *workload) body(key string, v int) []byte {
	var size int
	switch r := w.rng.Float64(); {
	case w.size > 0:
		size = w.size
	case r < 0.03:
		return []byte{}
	case r < 0.06:
		size = maxObjectBytes + 1 + w.rng.IntN(4096)
	case r < 0.2:
		size = 4096 + w.rng.IntN(maxObjectBytes-4096)
	default:
		size = 1 + w.rng.IntN(4096)
	}
	// The header makes every version's body unique.
	b := fmt.Appendf(make([]byte, 0, size), "%s v%d\n", key, v)
	for len(b) < size {
		b = append(b, byte('a'+w.rng.IntN(26)))
	}
	return b
}

// made returns how many events the workload has made.
func (w *workload) made() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.events
}

// markSent records that events reached the queue at time at.
func (w *workload) markSent(events []s3event.Event, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range events {
		if s, ok := w.sent[e.Key]; !ok || s3event.CompareSequencers(e.Sequencer, s.seq) >= 0 {
			w.sent[e.Key] = sentEvent{seq: e.Sequencer, at: at}
		}
	}
}

// run performs opsPerSecond operations per second for d, in rounds of 100ms, and hands
// each round's events to del. It stops early when ctx is done, or once the workload has
// made maxOps events (when maxOps > 0).
func (w *workload) run(ctx context.Context, del *deliverer, opsPerSecond float64, d time.Duration, maxOps int) error {
	const round = 100 * time.Millisecond
	start := time.Now()
	tick := time.NewTicker(round)
	defer tick.Stop()
	due := 0.0
	for time.Since(start) < d && (maxOps <= 0 || w.made() < maxOps) {
		due += opsPerSecond * round.Seconds()
		var events []s3event.Event
		for ; due >= 1 && (maxOps <= 0 || w.made() < maxOps); due-- {
			e, err := w.step(ctx)
			if err != nil {
				return err
			}
			events = append(events, e)
		}
		del.round(events)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// deliveryOptions say how a deliverer mangles delivery.
type deliveryOptions struct {
	Hold    float64 // chance that an event is held back for a later round (reordering)
	Dup     float64 // chance that a message is sent twice
	Delay   float64 // chance that a message is sent with DelaySeconds 1 to 3
	Batch   float64 // chance that a message carries 2 to 5 records
	Senders int     // concurrent senders
}

// message is one SQS message to send.
type message struct {
	body   string
	delay  int32
	events []s3event.Event
}

// deliverer puts events on the queue shuffled, duplicated, batched and delayed, with
// several senders at once, straight to the SQS server.
type deliverer struct {
	st   *stack
	w    *workload
	o    deliveryOptions
	out  chan message
	wg   sync.WaitGroup
	mu   sync.Mutex
	rng  *rand.Rand // the delivery's own
	held []s3event.Event
	errs []error
	sent int
}

func newDeliverer(st *stack, w *workload, seed uint64, o deliveryOptions) *deliverer {
	d := &deliverer{st: st, w: w, o: o, out: make(chan message, 1000), rng: rand.New(rand.NewPCG(seed, 2))}
	for range max(1, o.Senders) {
		d.wg.Go(d.sender)
	}
	return d
}

func (d *deliverer) sender() {
	ctx := context.Background()
	for m := range d.out {
		ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		err := d.st.send(ctx, m.body, m.delay)
		cancel()
		d.mu.Lock()
		if err != nil {
			d.errs = append(d.errs, err)
		} else {
			d.sent++
		}
		d.mu.Unlock()
		if err == nil && d.w != nil {
			d.w.markSent(m.events, time.Now())
		}
	}
}

// round delivers events together with some held back before, in random order, and
// holds back some of them for a later round.
func (d *deliverer) round(events []s3event.Event) {
	d.mu.Lock()
	pool := append(d.held, events...)
	d.held = nil
	d.rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	var now []s3event.Event
	for _, e := range pool {
		if d.rng.Float64() < d.o.Hold {
			d.held = append(d.held, e)
		} else {
			now = append(now, e)
		}
	}
	msgs := d.pack(now)
	d.mu.Unlock()
	for _, m := range msgs {
		d.out <- m
	}
}

// pack groups events into messages; the caller holds d.mu.
func (d *deliverer) pack(events []s3event.Event) []message {
	var msgs []message
	for len(events) > 0 {
		n := 1
		if d.rng.Float64() < d.o.Batch {
			n = 2 + d.rng.IntN(4)
		}
		n = min(n, len(events))
		body, err := s3event.Marshal(testenv.Region, events[:n]...)
		if err != nil {
			panic(err) // the workload makes only events that marshal
		}
		m := message{body: string(body), events: events[:n:n]}
		if d.rng.Float64() < d.o.Delay {
			m.delay = 1 + d.rng.Int32N(3)
		}
		msgs = append(msgs, m)
		if d.rng.Float64() < d.o.Dup {
			dup := m
			dup.delay = d.rng.Int32N(3)
			msgs = append(msgs, dup)
		}
		events = events[n:]
	}
	return msgs
}

// close delivers every event still held back, waits until everything is on the queue,
// and returns the send errors, if any.
func (d *deliverer) close() error {
	d.mu.Lock()
	msgs := d.pack(d.held)
	d.held = nil
	d.mu.Unlock()
	for _, m := range msgs {
		d.out <- m
	}
	close(d.out)
	d.wg.Wait()
	return errors.Join(d.errs...)
}
