package tokens

import (
	"errors"
	"strings"
	"testing"
)

// hostileTokens are seeds shared by the token targets: near misses of real
// forms, traversal, metacharacters, NUL, invalid UTF-8 and uppercase hex.
var hostileTokens = []string{"", "lk_", "lk_../../etc/passwd", "00000000000000000000000000000000.", "%2e%2e%2f",
	"'; DROP TABLE tenants;--", `"]])redis.call('FLUSHALL')--`, "\x00", "\xff\xfe", "ak_" + strings.Repeat("A", 43),
	"00000000-0000-4000-8000-00000000000G", "00000000-0000-4000-8000-00000000000A", "00000000_0000_4000_8000_000000000000"}

// FuzzParseLicenseKey: a key is refused with ErrMalformed, or it names a
// canonical license id, rebuilds byte for byte from that id and its secret
// (so no other spelling of a key names the same license), and hashes to
// Hash(key).
func FuzzParseLicenseKey(f *testing.F) {
	key, _, err := NewLicenseKey("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(key)
	f.Add(strings.ToUpper(key))
	f.Add(key[:len(key)-1] + "=")
	f.Add(key + "\x00")
	for _, s := range hostileTokens {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		id, hash, err := ParseLicenseKey(key)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || id != "" || hash != "" {
				t.Fatalf("ParseLicenseKey(%q) = %q, %q, %v", key, id, hash, err)
			}
			return
		}
		secret := key[len(key)-b64.EncodedLen(keySecretBytes):]
		if !ValidUUID(id) || hash != Hash(key) || licenseKeyPrefix+strings.ReplaceAll(id, "-", "")+"_"+secret != key {
			t.Fatalf("ParseLicenseKey(%q) = %q, %q", key, id, hash)
		}
	})
}

// FuzzParseSessionID: an id is refused with ErrMalformed, or it splits into
// a canonical license id and a token of SessionTokenLen base64url
// characters that SessionID joins back into the same bytes.
func FuzzParseSessionID(f *testing.F) {
	id, _, err := NewSessionID("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(id)
	f.Add(strings.Replace(id, ".", "/", 1))
	f.Add(id[:len(id)-1] + "+")
	for _, s := range hostileTokens {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		licenseID, token, err := ParseSessionID(id)
		if err != nil {
			if !errors.Is(err, ErrMalformed) || licenseID != "" || token != "" {
				t.Fatalf("ParseSessionID(%q) = %q, %q, %v", id, licenseID, token, err)
			}
			return
		}
		if !ValidUUID(licenseID) || len(token) != SessionTokenLen || !isB64(token) || SessionID(licenseID, token) != id {
			t.Fatalf("ParseSessionID(%q) = %q, %q", id, licenseID, token)
		}
	})
}

// FuzzValidUUID: only the canonical lowercase 8-4-4-4-12 hex form is a
// UUID (the only form a path id may take before it reaches SQL).
func FuzzValidUUID(f *testing.F) {
	f.Add("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9")
	f.Add("0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F9")
	f.Add("{0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9}")
	f.Add("0f1e2d3c4b5a49788695a4b3c2d1e0f9")
	for _, s := range hostileTokens {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want := len(s) == 36
		for i := 0; want && i < len(s); i++ {
			c := s[i]
			switch i {
			case 8, 13, 18, 23:
				want = c == '-'
			default:
				want = '0' <= c && c <= '9' || 'a' <= c && c <= 'f'
			}
		}
		if ValidUUID(s) != want {
			t.Fatalf("ValidUUID(%q) = %v, want %v", s, !want, want)
		}
	})
}
