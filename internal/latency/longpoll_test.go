package latency

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeQueue is an SQS server in the JSON protocol that answers ReceiveMessage with a
// message once ready is closed and with none before, and records the WaitTimeSeconds of
// every receive it got; any other action is answered with its body echoed.
type fakeQueue struct {
	srv   *httptest.Server
	ready chan struct{}

	mu    sync.Mutex
	waits []int
}

func newFakeQueue(t *testing.T) *fakeQueue {
	t.Helper()
	q := &fakeQueue{ready: make(chan struct{})}
	q.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Amz-Target") != receiveTarget {
			w.Write(body)
			return
		}
		var in struct{ WaitTimeSeconds int }
		if err := json.Unmarshal(body, &in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		q.mu.Lock()
		q.waits = append(q.waits, in.WaitTimeSeconds)
		q.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.0")
		select {
		case <-q.ready:
			io.WriteString(w, `{"Messages":[{"MessageId":"m1","Body":"hello"}]}`)
		default:
			io.WriteString(w, `{}`)
		}
	}))
	t.Cleanup(q.srv.Close)
	return q
}

// receives returns the WaitTimeSeconds of each receive so far.
func (q *fakeQueue) receives() []int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return append([]int(nil), q.waits...)
}

func startSQS(t *testing.T, upstream string) *HTTPProxy {
	t.Helper()
	p, err := StartSQS(upstream, None.SQSDelay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// receive sends a ReceiveMessage that waits wait seconds through p and returns the
// reply's status and body.
func receive(ctx context.Context, t *testing.T, p *HTTPProxy, wait int) (int, string, error) {
	t.Helper()
	body := `{"QueueUrl":"http://q/1/q","MaxNumberOfMessages":10,"WaitTimeSeconds":` + strconv.Itoa(wait) + `}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.Endpoint()+"/", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", receiveTarget)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(reply), err
}

// A long poll through the proxy is answered with the first short poll that finds a
// message: it does not wait for the server's own long poll, nor for its wait to end.
func TestSQSProxyAnswersLongPollWhenAMessageArrives(t *testing.T) {
	q := newFakeQueue(t)
	p := startSQS(t, q.srv.URL)
	go func() {
		// Let a few short polls find nothing first.
		for len(q.receives()) < 3 {
			time.Sleep(time.Millisecond)
		}
		close(q.ready)
	}()
	// Far shorter than the 20 s wait asked for: a proxy that waited it out fails here.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	status, reply, err := receive(ctx, t, p, 20)
	if err != nil {
		t.Fatalf("receive: %v (the proxy did not answer when the message arrived)", err)
	}
	if status != http.StatusOK || !strings.Contains(reply, `"m1"`) {
		t.Fatalf("reply %d %s, want 200 with message m1", status, reply)
	}
	waits := q.receives()
	if len(waits) < 3 {
		t.Errorf("the server saw %d receives, want the proxy to have polled at least 3 times", len(waits))
	}
	for i, w := range waits {
		if w != 0 {
			t.Errorf("receive %d reached the server with WaitTimeSeconds %d, want 0 (a short poll)", i, w)
		}
	}
}

// When nothing arrives the poll ends when its wait does, with the server's empty reply.
func TestSQSProxyEndsLongPollAtItsWait(t *testing.T) {
	q := newFakeQueue(t)
	p := startSQS(t, q.srv.URL)
	start := time.Now()
	status, reply, err := receive(context.Background(), t, p, 1)
	if err != nil {
		t.Fatal(err)
	}
	if status != http.StatusOK || strings.TrimSpace(reply) != "{}" {
		t.Errorf("reply %d %q, want the server's empty reply", status, reply)
	}
	if d := time.Since(start); d < time.Second-maxRepoll {
		t.Errorf("the 1 s poll ended after %v, before its wait was (nearly) over", d)
	}
	// 1 ms doubling to maxRepoll: an idle wait costs the server a few dozen calls a
	// second, not one a millisecond.
	if n := len(q.receives()); n < 2 || n > int(time.Second/maxRepoll)+10 {
		t.Errorf("the server saw %d short polls in 1 s, want between 2 and %d", n, int(time.Second/maxRepoll)+10)
	}
}

// A client that gives up stops the short polls: none would be answered, and a message
// one of them received would stay invisible to every other poll until it timed out.
func TestSQSProxyStopsPollingForAClientThatLeft(t *testing.T) {
	q := newFakeQueue(t)
	p := startSQS(t, q.srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := receive(ctx, t, p, 20); err == nil {
		t.Fatal("receive: got a reply, want the client's deadline")
	}
	var n int
	for deadline := time.Now().Add(5 * time.Second); ; {
		n = len(q.receives())
		time.Sleep(4 * maxRepoll) // longer than any pause between short polls
		if len(q.receives()) == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the proxy still polls 5 s after its client left (%d polls)", len(q.receives()))
		}
	}
}

// Other actions, and receives that do not wait, pass through unchanged.
func TestSQSProxyPassesOtherCallsThrough(t *testing.T) {
	q := newFakeQueue(t)
	p := startSQS(t, q.srv.URL)
	req, err := http.NewRequest(http.MethodPost, p.Endpoint()+"/", strings.NewReader(`{"WaitTimeSeconds":20,"QueueUrl":"x"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "AmazonSQS.SendMessage")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	reply, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(reply) != `{"WaitTimeSeconds":20,"QueueUrl":"x"}` {
		t.Errorf("SendMessage reached the server as %s, want its body unchanged", reply)
	}
	if _, _, err := receive(context.Background(), t, p, 0); err != nil {
		t.Fatal(err)
	}
	if got := q.receives(); len(got) != 1 || got[0] != 0 {
		t.Errorf("a short poll reached the server as %v, want one receive", got)
	}
}
