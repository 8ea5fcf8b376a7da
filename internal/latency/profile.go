package latency

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Profile is the latency of each service the daemon talks to, as seen from the daemon.
type Profile struct {
	Name string
	// S3Get is the time to first byte of a GetObject; other S3 requests are not delayed,
	// since the daemon only reads objects.
	S3Get Dist
	// SQSCall is added to every SQS action alike (ReceiveMessage, DeleteMessageBatch,
	// ChangeMessageVisibility, GetQueueAttributes, SendMessage…): the service's time to
	// answer is much the same for each, and a long poll's wait comes on top of it.
	SQSCall Dist
	// RedisRTT is the network round trip to Redis, without the server's own work.
	RedisRTT Dist
}

// None forwards everything without delay: the proxies stay in place so that a run with
// and a run without latency differ in nothing else.
var None = Profile{Name: "none"}

// AWS models a daemon on EC2 with its bucket, queue and ElastiCache cluster in the same
// region.
var AWS = Profile{
	Name: "aws",
	// A small S3 GET in-region takes 10–20 ms to first byte. The chart of AWS's own
	// sample for this architecture shows an average of 14 ms between 10 and 60 ms: the
	// 2% tail between 40 and 60 ms reproduces that maximum while keeping the mean near
	// it.
	S3Get: Dist{
		Min: 10 * time.Millisecond, Max: 20 * time.Millisecond,
		TailFraction: 0.02,
		TailMin:      40 * time.Millisecond, TailMax: 60 * time.Millisecond,
	},
	// SQS API calls from the same region answer in a few milliseconds.
	SQSCall: Fixed(6 * time.Millisecond),
	// ElastiCache answers in about 0.3 ms round trip from an instance in the same
	// availability zone.
	RedisRTT: Fixed(300 * time.Microsecond),
}

// Profiles returns the profiles ProfileByName knows, for flag help.
func Profiles() []Profile { return []Profile{None, AWS} }

// ProfileByName returns the profile called name.
func ProfileByName(name string) (Profile, error) {
	var names []string
	for _, p := range Profiles() {
		if p.Name == name {
			return p, nil
		}
		names = append(names, p.Name)
	}
	return Profile{}, fmt.Errorf("unknown latency profile %q (valid: %s)", name, strings.Join(names, ", "))
}

// String describes the profile in one line, for a benchmark's report.
func (p Profile) String() string {
	return fmt.Sprintf("%s: S3 GET %s; SQS %s per call; Redis %s round trip", p.Name, p.S3Get, p.SQSCall, p.RedisRTT)
}

// S3Delay is the delay func for an HTTPProxy in front of the S3 server: GetObject
// requests get S3Get and everything else passes at once, since the daemon only reads
// objects and a benchmark's own setup (uploads, listings) should not be slowed.
func (p Profile) S3Delay(r *http.Request) Dist {
	if S3GetObject(r) {
		return p.S3Get
	}
	return Dist{}
}

// SQSDelay is the delay func for an HTTPProxy in front of the SQS server: every action
// gets SQSCall.
func (p Profile) SQSDelay(*http.Request) Dist { return p.SQSCall }
