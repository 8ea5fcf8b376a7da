package latency

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"time"
)

// SQS answers a long poll as soon as a message is available; goaws looks at the queue
// when the poll arrives and then only every 100 ms, so a message that arrives while
// every poll waits waits for goaws's next look. A proxy started by StartSQS answers long
// polls as SQS does: it turns each into short polls of the server, sent while the wait
// lasts, and replies with the first that brings messages (or the last, empty, when the
// wait is over). The short polls come 1 ms apart at first and further apart the longer
// nothing arrives, up to maxRepoll, so that a queue that is busy is watched closely and
// an idle one costs the server a few dozen calls a second per waiting poll, not a
// thousand.
const (
	minRepoll = time.Millisecond
	maxRepoll = 16 * time.Millisecond
)

// receiveTarget is the X-Amz-Target of ReceiveMessage in SQS's JSON protocol, the one
// the AWS SDKs use. Polls in the older query protocol pass through as they are.
const receiveTarget = "AmazonSQS.ReceiveMessage"

// StartSQS starts an HTTPProxy in front of an SQS server, as StartHTTP does, that also
// answers long polls promptly (see minRepoll).
func StartSQS(upstream string, delay func(*http.Request) Dist) (*HTTPProxy, error) {
	return newHTTPProxy(upstream, delay, true)
}

// longPoll reports how long a ReceiveMessage request with this body asks to wait, and
// the same request as a short poll; ok is false for any other request, or a poll that
// does not wait.
func longPoll(r *http.Request, body []byte) (wait time.Duration, short []byte, ok bool) {
	if r.Method != http.MethodPost || r.Header.Get("X-Amz-Target") != receiveTarget {
		return 0, nil, false
	}
	var in map[string]json.RawMessage
	if json.Unmarshal(body, &in) != nil {
		return 0, nil, false
	}
	var seconds int
	if json.Unmarshal(in["WaitTimeSeconds"], &seconds) != nil || seconds <= 0 {
		return 0, nil, false
	}
	in["WaitTimeSeconds"] = json.RawMessage("0")
	short, err := json.Marshal(in)
	if err != nil {
		return 0, nil, false
	}
	return time.Duration(seconds) * time.Second, short, true
}

// pollPromptly answers the long poll r, which waits for wait, with short polls of the
// server (short is r's body rewritten to wait for nothing). The request's signature no
// longer matches its body; the local servers do not check it.
func (p *HTTPProxy) pollPromptly(w http.ResponseWriter, r *http.Request, short []byte, wait time.Duration) {
	ctx := r.Context()
	deadline := time.Now().Add(wait)
	pause := minRepoll
	for {
		out, err := http.NewRequestWithContext(ctx, http.MethodPost, p.target.JoinPath(r.URL.Path).String(), bytes.NewReader(short))
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		out.Header = r.Header.Clone()
		out.Header.Del("Content-Length")
		out.Host = r.Host
		resp, err := p.transport.RoundTrip(out)
		if err != nil {
			if ctx.Err() == nil {
				w.WriteHeader(http.StatusBadGateway)
			}
			return
		}
		reply, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		if resp.StatusCode != http.StatusOK || hasMessages(reply) || !time.Now().Add(pause).Before(deadline) {
			for k, vs := range resp.Header {
				if !hopByHop[k] {
					w.Header()[k] = vs
				}
			}
			w.WriteHeader(resp.StatusCode)
			w.Write(reply)
			return
		}
		if !waitUntil(time.Now().Add(pause), ctx.Done()) {
			return
		}
		pause = min(2*pause, maxRepoll)
	}
}

// hopByHop are the reply headers that belong to the connection to the server, not to
// the reply.
var hopByHop = map[string]bool{"Connection": true, "Keep-Alive": true, "Transfer-Encoding": true}

// hasMessages reports whether a ReceiveMessage reply in the JSON protocol carries a
// message.
func hasMessages(reply []byte) bool {
	var out struct{ Messages []json.RawMessage }
	return json.Unmarshal(reply, &out) == nil && len(out.Messages) > 0
}
