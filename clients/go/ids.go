package switchyard

// ids.go: UUIDv7 event ids (RFC 9562), W3C trace ids and traceparent.

import (
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"
)

var uuidMu sync.Mutex
var uuidLastMs int64
var uuidSeq uint16

// NewUUIDv7 returns a UUIDv7: 48 bits of Unix milliseconds, then random
// bits; ids made in the same millisecond by this process still sort in
// creation order (a 12-bit counter in rand_a, RFC 9562 section 6.2).
func NewUUIDv7() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("switchyard: no randomness: " + err.Error())
	}
	uuidMu.Lock()
	now := time.Now().UnixMilli()
	if now <= uuidLastMs {
		uuidSeq++
		if uuidSeq > 0xFFF {
			uuidLastMs++ // counter exhausted: borrow the next millisecond
			uuidSeq = 0
		}
		now = uuidLastMs
	} else {
		uuidLastMs = now
		uuidSeq = binary.BigEndian.Uint16(b[6:8]) & 0x7FF // random start, room to count
	}
	seq := uuidSeq
	uuidMu.Unlock()
	var ts [8]byte
	binary.BigEndian.PutUint64(ts[:], uint64(now))
	copy(b[0:6], ts[2:8])
	b[6] = 0x70 | byte(seq>>8)
	b[7] = byte(seq)
	b[8] = b[8]&0x3F | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func randomHex(n int) string {
	b := make([]byte, n)
	for {
		if _, err := rand.Read(b); err != nil {
			panic("switchyard: no randomness: " + err.Error())
		}
		for _, c := range b {
			if c != 0 {
				return hex.EncodeToString(b) // W3C: never all zeros
			}
		}
	}
}

// NewTraceID returns a W3C trace id: 32 lowercase hex digits, not all zero.
func NewTraceID() string { return randomHex(16) }

// NewSpanID returns a W3C span (parent) id: 16 lowercase hex digits, not all zero.
func NewSpanID() string { return randomHex(8) }

// TraceParent is a parsed W3C traceparent header.
type TraceParent struct {
	Version, TraceID, ParentID, Flags string
}

var traceparentRE = regexp.MustCompile(`^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$`)

// ParseTraceparent parses a W3C traceparent (version 00, or a later
// version's first four fields); an invalid one is an *EnvelopeError with
// code bad_trace_id and path "traceparent".
func ParseTraceparent(tp string) (TraceParent, error) {
	m := traceparentRE.FindStringSubmatch(strings.TrimSpace(tp))
	bad := func(why string) (TraceParent, error) {
		return TraceParent{}, &EnvelopeError{Problem{"bad_trace_id", "traceparent", `"traceparent" ` + why}}
	}
	switch {
	case m == nil:
		return bad("must be 00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>")
	case m[1] == "ff":
		return bad("has the invalid version ff")
	case m[1] == "00" && m[5] != "":
		return bad("of version 00 has extra fields")
	case strings.Trim(m[2], "0") == "":
		return bad("has an all-zero trace id")
	case strings.Trim(m[3], "0") == "":
		return bad("has an all-zero parent id")
	}
	return TraceParent{m[1], m[2], m[3], m[4]}, nil
}

// FormatTraceparent returns a traceparent for a new child span of traceID (sampled).
func FormatTraceparent(traceID string) string {
	return fmt.Sprintf("00-%s-%s-01", traceID, NewSpanID())
}
