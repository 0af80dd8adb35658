package heartbeat

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/sdk/leasejws"
	"github.com/coditect-ai/license-server/shared/httpjson/httpjsontest"
)

// FuzzDecodeBorrow feeds any body to the borrow decoder. It never panics;
// a refusal is a 4xx *httpjson.Error; an accepted request names a session
// of at most 128 bytes, exactly one of seconds (1 to 90 days) and a future
// until, and a device key that is the canonical JWK of an Ed25519 public
// key (so the scripts compare one spelling of each key).
func FuzzDecodeBorrow(f *testing.F) {
	_, dev, err := leasejws.NewDeviceKey()
	if err != nil {
		f.Fatal(err)
	}
	dk, _ := json.Marshal(dev)
	key := string(dk)
	for _, s := range []string{
		`{"session_id":"s","seconds":600,"device_key":` + key + `}`,
		`{"session_id":"s","until":"2999-01-01T00:00:00Z","device_key":` + key + `}`,
		`{"session_id":"s","until":"2000-01-01T00:00:00Z","device_key":` + key + `}`,
		`{"session_id":"s","seconds":600,"until":"2999-01-01T00:00:00Z","device_key":` + key + `}`,
		`{"session_id":"s","seconds":0,"device_key":` + key + `}`,
		`{"session_id":"s","seconds":7776001,"device_key":` + key + `}`,
		`{"session_id":"s","seconds":1e3,"device_key":` + key + `}`,
		`{"session_id":"s","seconds":600}`,
		`{"session_id":"s","seconds":600,"device_key":{"kty":"OKP","crv":"Ed25519","x":"` + dev.X + `","kid":"k"}}`,
		`{"session_id":"s","seconds":600,"device_key":{"kty":"OKP","crv":"Ed25519","x":"` + dev.X + `=="}}`,
		`{"session_id":"s","seconds":600,"device_key":{"kty":"OKP","crv":"X25519","x":"` + dev.X + `"}}`,
		`{"session_id":"s","seconds":600,"device_key":{"kty":"OKP","crv":"Ed25519","x":"` + dev.X + `","d":"x"}}`,
		`{"session_id":"` + strings.Repeat("s", 129) + `","seconds":600,"device_key":` + key + `}`,
		`{}`, `[]`, `"s"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httpjsontest.Request(http.MethodPost, BorrowPath, body)
		now := time.Now()
		req, err := decodeBorrow(httptest.NewRecorder(), r, now)
		if httpjsontest.Refused(t, "decodeBorrow", body, err) {
			return
		}
		if req.SessionID == "" || len(req.SessionID) > 128 {
			t.Fatalf("decodeBorrow(%.80q) accepted session %q", body, req.SessionID)
		}
		if (req.Seconds == 0) == req.Until.IsZero() || req.Seconds < 0 || req.Seconds > maxBorrowSeconds ||
			(!req.Until.IsZero() && !req.Until.After(now)) {
			t.Fatalf("decodeBorrow(%.80q) accepted seconds %d, until %v", body, req.Seconds, req.Until)
		}
		var k leasejws.OKPKey
		if err := json.Unmarshal([]byte(req.DeviceKey), &k); err != nil {
			t.Fatalf("decodeBorrow(%.80q) stored key %q: %v", body, req.DeviceKey, err)
		}
		pub, err := k.Ed25519()
		if canon, _ := json.Marshal(leasejws.DeviceJWK(pub)); err != nil || string(canon) != req.DeviceKey {
			t.Fatalf("decodeBorrow(%.80q) stored key %q, not canonical (%v)", body, req.DeviceKey, err)
		}
	})
}
