package s3event

// CompareSequencers compares two S3 sequencers the way the S3 documentation
// says: right-pad the shorter with '0's, then compare as strings. Letters
// are compared upper-cased, so hex in either case orders the same. It
// returns -1 if a is older than b, 0 if they are the same event, +1 if a is
// newer. An empty sequencer is the oldest (it pads to all zeros).
func CompareSequencers(a, b string) int {
	n := max(len(a), len(b))
	for i := 0; i < n; i++ {
		ca, cb := byte('0'), byte('0')
		if i < len(a) {
			ca = upper(a[i])
		}
		if i < len(b) {
			cb = upper(b[i])
		}
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
	}
	return 0
}

func upper(c byte) byte {
	if 'a' <= c && c <= 'z' {
		return c - ('a' - 'A')
	}
	return c
}
