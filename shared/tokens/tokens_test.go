package tokens

import (
	"strings"
	"testing"

	"github.com/coditect-ai/license-server/sdk/leasejws"
)

const licenseID = "0b6f7c3e-2d4a-4f7e-9a51-3c2b1d0e9f88"

func TestLicenseKeyRoundTrip(t *testing.T) {
	t.Parallel()
	key, hash, err := NewLicenseKey(licenseID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(key, "lk_0b6f7c3e2d4a4f7e9a513c2b1d0e9f88_") {
		t.Fatalf("key %q does not carry the license id", key)
	}
	gotID, gotHash, err := ParseLicenseKey(key)
	if err != nil {
		t.Fatalf("ParseLicenseKey(%q): %v", key, err)
	}
	if gotID != licenseID || gotHash != hash {
		t.Fatalf("ParseLicenseKey = %q, %q; want %q, %q", gotID, gotHash, licenseID, hash)
	}
	other, _, _ := NewLicenseKey(licenseID)
	if other == key {
		t.Fatal("two keys for one license are equal")
	}
	if len(key[DisplayPrefixLen:]) < 32 {
		t.Fatalf("display prefix %d leaves too little of %q secret", DisplayPrefixLen, key)
	}
}

func TestSessionIDRoundTrip(t *testing.T) {
	t.Parallel()
	id, token, err := NewSessionID(licenseID)
	if err != nil {
		t.Fatal(err)
	}
	if len(token) != SessionTokenLen {
		t.Fatalf("token length %d, want %d", len(token), SessionTokenLen)
	}
	gotID, gotToken, err := ParseSessionID(id)
	if err != nil || gotID != licenseID || gotToken != token {
		t.Fatalf("ParseSessionID(%q) = %q, %q, %v", id, gotID, gotToken, err)
	}
	if SessionID(licenseID, token) != id {
		t.Fatal("SessionID does not rebuild the id")
	}
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	key, _, _ := NewLicenseKey(licenseID)
	sid, _, _ := NewSessionID(licenseID)
	badKeys := []string{
		"", "lk_", key[:len(key)-1], key + "x", "xx" + key[2:],
		strings.Replace(key, "0b6f", "0B6F", 1), // uppercase hex
		key[:35] + "-" + key[36:],               // wrong separator
		key[:len(key)-1] + "=",                  // not base64url
		key[:len(key)-1] + "\x00",
		"lk_../../../etc/passwd_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
	}
	for _, k := range badKeys {
		if _, _, err := ParseLicenseKey(k); err == nil {
			t.Errorf("ParseLicenseKey(%q) accepted a malformed key", k)
		}
	}
	badSessions := []string{
		"", sid[:len(sid)-1], sid + "A", strings.Replace(sid, ".", "_", 1),
		sid[:len(sid)-1] + "'", "00000000000000000000000000000000.' OR 1=1 --AAAAAA",
	}
	for _, s := range badSessions {
		if _, _, err := ParseSessionID(s); err == nil {
			t.Errorf("ParseSessionID(%q) accepted a malformed id", s)
		}
	}
	for _, id := range []string{"", "not-a-uuid", "0B6F7C3E-2D4A-4F7E-9A51-3C2B1D0E9F88", licenseID + "0"} {
		if ValidUUID(id) {
			t.Errorf("ValidUUID(%q) = true", id)
		}
		if _, _, err := NewLicenseKey(id); err == nil {
			t.Errorf("NewLicenseKey(%q) accepted a bad id", id)
		}
	}
}

func TestEqual(t *testing.T) {
	t.Parallel()
	if !Equal("secret", "secret") || Equal("secret", "secreT") || Equal("secret", "secret2") {
		t.Fatal("Equal is wrong")
	}
	if Hash("a") == Hash("b") || len(Hash("a")) != 64 {
		t.Fatal("Hash is wrong")
	}
}

// TestSessionDerivation: a session's id derives from its nonce under the
// license key alone, so a resume hands back the same id; another key or
// nonce gives another id; the digest is the lease format's.
func TestSessionDerivation(t *testing.T) {
	t.Parallel()
	key, _, _ := NewLicenseKey(licenseID)
	s, err := NewSession(licenseID, key)
	if err != nil {
		t.Fatal(err)
	}
	gotID, token, err := ParseSessionID(s.ID)
	if err != nil || gotID != licenseID || token == s.Nonce {
		t.Fatalf("session %+v: ParseSessionID = %q, %q, %v", s, gotID, token, err)
	}
	if s.Digest != leasejws.SessionDigest(s.ID) || !IsSessionDigest(s.Digest) || strings.Contains(s.ID, s.Digest) {
		t.Fatalf("digest %q of %q", s.Digest, s.ID)
	}
	again, err := DeriveSession(licenseID, key, s.Nonce)
	if err != nil || again != s {
		t.Fatalf("derived again = %+v, %v; want %+v", again, err, s)
	}
	otherKey, _, _ := NewLicenseKey(licenseID)
	if o, _ := DeriveSession(licenseID, otherKey, s.Nonce); o.ID == s.ID || o.Digest == s.Digest {
		t.Fatal("another license key derives the same session")
	}
	if o, _ := NewSession(licenseID, key); o.ID == s.ID || o.Nonce == s.Nonce {
		t.Fatal("two sessions are equal")
	}
	for _, bad := range []string{"", "short", s.Nonce + "x", strings.Repeat("!", SessionTokenLen)} {
		if _, err := DeriveSession(licenseID, key, bad); err != ErrMalformed {
			t.Errorf("DeriveSession with nonce %q: %v", bad, err)
		}
	}
	if _, err := DeriveSession("not-a-uuid", key, s.Nonce); err != ErrMalformed {
		t.Errorf("DeriveSession of a bad license id: %v", err)
	}
	for s, want := range map[string]bool{strings.Repeat("a0", 16): true, strings.Repeat("A0", 16): false,
		strings.Repeat("a", 31): false, strings.Repeat("g", 32): false} {
		if IsSessionDigest(s) != want {
			t.Errorf("IsSessionDigest(%q) = %v", s, !want)
		}
	}
}

// BenchmarkSessionDigest is what a heartbeat and a release add: the digest
// of the id presented.
func BenchmarkSessionDigest(b *testing.B) {
	key, _, _ := NewLicenseKey(licenseID)
	s, _ := NewSession(licenseID, key)
	b.ReportAllocs()
	for b.Loop() {
		SessionDigest(s.ID)
	}
}

// BenchmarkNewSession is what an acquire adds: a nonce, the HMAC that
// derives the id, and its digest.
func BenchmarkNewSession(b *testing.B) {
	key, _, _ := NewLicenseKey(licenseID)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NewSession(licenseID, key); err != nil {
			b.Fatal(err)
		}
	}
}
