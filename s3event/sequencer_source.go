package s3event

import (
	"encoding/hex"
	"strings"
)

// cephSource is the eventSource of Ceph RGW's records.
const cephSource = "ceph:s3"

// placeholderSequencers are the sequencers of the AWS documentation's examples, which
// LocalStack (notifications and EventBridge) and moto (EventBridge) send with every
// event. They order nothing, so an event that carries one is treated as carrying none,
// and is applied in arrival order.
var placeholderSequencers = map[string]bool{
	"0055AED6DCD90281E5": true, // S3 notification examples; LocalStack
	"0062E99A88DC407460": true, // LocalStack's EventBridge events
	"617F08299329D189":   true, // S3 EventBridge examples; moto's EventBridge events
}

// sequencer returns a record's sequencer upper-cased (EventBridge sends lower case,
// notifications upper case), "" for a placeholder, and Ceph RGW's turned into one that
// sorts by time (see cephSequencer).
func sequencer(s string, ceph bool) string {
	s = strings.ToUpper(s)
	if placeholderSequencers[s] {
		return ""
	}
	if ceph {
		return cephSequencer(s)
	}
	return s
}

// cephSequencer reorders a Ceph RGW sequencer. RGW hex-encodes the 8 bytes of a
// {u32 seconds, u32 nanoseconds} time as they lie in memory, little-endian, so that
// "5C1C2F6049974614" is second 0x602F1C5C and nanosecond 0x14469749: compared as it is,
// it orders nothing. Written most significant byte first, "602F1C5C14469749", it sorts
// by the time RGW sent the notification. Anything else Ceph might send is no order at
// all: "".
func cephSequencer(s string) string {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 8 {
		return ""
	}
	return strings.ToUpper(hex.EncodeToString([]byte{b[3], b[2], b[1], b[0], b[7], b[6], b[5], b[4]}))
}
