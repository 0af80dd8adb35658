package acquire

import (
	"testing"

	"github.com/coditect-ai/license-server/shared/httpjson/httpjsontest"
)

func TestResponseEncodesAsMarshal(t *testing.T) {
	t.Parallel()
	httpjsontest.EncodesAsMarshal(t, response{})
	httpjsontest.EncodesAsMarshal(t, response{SessionID: "lic_1.s_2", ExpiresAt: "2026-11-26T04:00:00.000Z",
		HeartbeatIntervalSeconds: 100, SeatsUsed: 3, SeatsTotal: 10, Resumed: true, Lease: "eyJh.eyJp.c2ln-_"})
	// Not what the service sends, but the encoding must not depend on it.
	httpjsontest.EncodesAsMarshal(t, response{SessionID: "<\"\\\n\xff>", SeatsUsed: -1, Lease: "é&", SeatClass: "overage"})
}
