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

// maxSequencer bounds the length of a sequencer: S3 sends 16 to 18 hex digits. A longer
// one, or one that is not hex, is not S3's, and anyone allowed to send to the queue
// could write one that no real event exceeds ("~", "FFFF…"), freezing an entry.
const maxSequencer = 32

// sequencer returns a record's sequencer upper-cased (EventBridge sends lower case,
// notifications upper case); "" for one that is not S3's (not hex, too long) or is a
// placeholder, which are then applied in arrival order; and Ceph RGW's turned into one
// that sorts by time (see cephSequencer).
func sequencer(s string, ceph bool) string {
	s = strings.ToUpper(s)
	if len(s) > maxSequencer || !isHex(s) || placeholderSequencers[s] {
		return ""
	}
	if ceph {
		return cephSequencer(s)
	}
	return s
}

func isHex(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
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
