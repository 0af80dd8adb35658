package repositories

import "testing"

func TestNormalize(t *testing.T) {
	t.Parallel()
	same := []string{
		"git@github.com:Acme/Widget.git",
		"git@github.com:Acme/Widget",
		"https://github.com/Acme/Widget.git",
		"https://user:secret@GitHub.com/Acme/Widget/",
		"ssh://git@github.com/Acme/Widget.git",
		"ssh://git@github.com:22/Acme/Widget",
		"http://github.com:80/Acme/Widget",
		"  https://github.com/Acme/Widget  ",
	}
	for _, in := range same {
		got, err := Normalize(in)
		if err != nil || got != "github.com/Acme/Widget" {
			t.Errorf("Normalize(%q) = %q, %v", in, got, err)
		}
	}
	others := map[string]string{
		"https://gitlab.example.com:8443/group/sub/repo.git": "gitlab.example.com:8443/group/sub/repo",
		"git@bitbucket.org:team/repo.git":                    "bitbucket.org/team/repo",
	}
	for in, want := range others {
		if got, err := Normalize(in); err != nil || got != want {
			t.Errorf("Normalize(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "not a url", "ftp://host/x", "https://", "https://host", "host:", ":path",
		"https://host/../etc", "file:///etc/passwd", "git@host:a b", "x\x00y",
		// Escapes that decode to what may not be stored.
		"https://github.com/a/b%00", "https://github.com/a/b%0a", "https://github.com/a%ff/b", "ssh://host/a%e2%80%a8b"} {
		if got, err := Normalize(bad); err == nil {
			t.Errorf("Normalize(%q) = %q, want an error", bad, got)
		}
	}
}
