package mail_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// The SMTP tests talk to a real SMTP server, mailpit (a Go module), built
// from source once and kept in the user's cache directory:
//
//	$XDG_CACHE_HOME (or ~/.cache)/license-server-tools/mailpit-v1.33.1/mailpit
//
// `go install github.com/axllent/mailpit@v1.33.1` builds it outside our
// module (its go.mod has no replace directives, so no tools module is
// needed, and none of its dependencies enter ours). The first build takes a
// few minutes; every later run finds the binary and starts at once. Delete
// the directory to rebuild. A build or a start that fails fails the test:
// it never skips.
const (
	mailpitModule  = "github.com/axllent/mailpit"
	mailpitVersion = "v1.33.1"
)

// mailpitBinary builds mailpit at most once per test binary. took is
// how long the build took, 0 when the cached binary was found.
var mailpitBinary = sync.OnceValues(buildMailpit)

type mailpitBuild struct {
	bin  string
	took time.Duration
}

func buildMailpit() (mailpitBuild, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return mailpitBuild{}, fmt.Errorf("no cache directory to keep mailpit in (set HOME or XDG_CACHE_HOME): %w", err)
	}
	tools := filepath.Join(cache, "license-server-tools")
	dir := filepath.Join(tools, "mailpit-"+mailpitVersion)
	bin := filepath.Join(dir, "mailpit")
	if fi, err := os.Stat(bin); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
		return mailpitBuild{bin: bin}, nil
	}
	if err := os.MkdirAll(tools, 0o755); err != nil {
		return mailpitBuild{}, fmt.Errorf("creating %s: %w", tools, err)
	}
	// Built into a directory of its own, then renamed into place: another
	// test process building at the same time, or a build killed half way,
	// never leaves a partial binary where the next run would take it.
	tmp, err := os.MkdirTemp(tools, "mailpit-build-")
	if err != nil {
		return mailpitBuild{}, fmt.Errorf("creating a build directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	start := time.Now()
	cmd := exec.CommandContext(ctx, "go", "install", mailpitModule+"@"+mailpitVersion)
	cmd.Dir = tmp // outside our module: `go install pkg@version` ignores it anyway
	cmd.Env = append(os.Environ(), "GOBIN="+tmp)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return mailpitBuild{}, fmt.Errorf("go install %s@%s failed after %v (is the module proxy reachable?): %w\n%s",
			mailpitModule, mailpitVersion, time.Since(start).Round(time.Second), err, out)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return mailpitBuild{}, fmt.Errorf("creating %s: %w", dir, err)
	}
	if err := os.Rename(filepath.Join(tmp, "mailpit"), bin); err != nil {
		return mailpitBuild{}, fmt.Errorf("moving the built mailpit into %s: %w", dir, err)
	}
	return mailpitBuild{bin: bin, took: time.Since(start)}, nil
}

// mailpit is a running mailpit with an empty mailbox of its own.
type mailpit struct {
	smtp string // host:port of its SMTP server
	api  string // base URL of its HTTP API
	out  *syncBuffer
}

// startMailpit starts mailpit on free loopback ports with a database in
// the test's temporary directory and extra flags, and returns once its
// HTTP API answers ready and its SMTP port accepts connections. It is
// stopped when the test ends.
func startMailpit(t *testing.T, flags ...string) *mailpit {
	t.Helper()
	build, err := mailpitBinary()
	if err != nil {
		t.Fatalf("mailpit is needed for the SMTP tests and could not be built: %v", err)
	}
	bin := build.bin
	if build.took > 0 {
		t.Logf("built mailpit %s into %s in %v (reused by later runs)", mailpitVersion, bin, build.took.Round(time.Second))
	}
	smtpAddr, apiAddr := freeAddr(t), freeAddr(t)
	args := append([]string{
		"--smtp", smtpAddr,
		"--listen", apiAddr,
		"--database", filepath.Join(t.TempDir(), "mailpit.db"),
		"--disable-version-check", // no network here
		"--smtp-disable-rdns",
	}, flags...)
	out := &syncBuffer{}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = out, out
	// Mailpit reads MP_* variables as flags: none from the environment.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MP_") {
			cmd.Env = append(cmd.Env, kv)
		}
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting mailpit (%s): %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	m := &mailpit{smtp: smtpAddr, api: "http://" + apiAddr, out: out}
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("mailpit exited while starting (%v); its output:\n%s", err, out)
		default:
		}
		if m.ready() {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit did not become ready in 30 s (SMTP %s, HTTP %s); its output:\n%s", smtpAddr, apiAddr, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (m *mailpit) ready() bool {
	resp, err := http.Get(m.api + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	conn, err := net.DialTimeout("tcp", m.smtp, time.Second)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// The parts of mailpit's API answers the tests read.
type (
	mpAddress struct {
		Name    string
		Address string
	}
	mpSummary struct {
		ID        string
		MessageID string
		From      mpAddress
		To        []mpAddress
		Subject   string
		Username  string
	}
	mpMessage struct {
		ID              string
		MessageID       string
		From            mpAddress
		To              []mpAddress
		Cc              []mpAddress
		Bcc             []mpAddress
		Subject         string
		Text            string
		HTML            string
		ListUnsubscribe struct {
			Header     string
			Links      []string
			Errors     string
			HeaderPost string
		}
	}
)

// messages lists the mailbox (GET /api/v1/messages), newest first.
func (m *mailpit) messages(t *testing.T) []mpSummary {
	t.Helper()
	var list struct {
		Total    int
		Messages []mpSummary
	}
	m.get(t, "/api/v1/messages", &list)
	return list.Messages
}

// waitMessages waits until the mailbox holds n messages and returns them.
func (m *mailpit) waitMessages(t *testing.T, n int) []mpSummary {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		list := m.messages(t)
		if len(list) >= n {
			return list
		}
		if time.Now().After(deadline) {
			t.Fatalf("mailpit holds %d messages after 10 s, want %d; its output:\n%s", len(list), n, m.out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// message reads one message (GET /api/v1/message/{ID}).
func (m *mailpit) message(t *testing.T, id string) mpMessage {
	t.Helper()
	var msg mpMessage
	m.get(t, "/api/v1/message/"+id, &msg)
	return msg
}

// headers reads one message's headers (GET /api/v1/message/{ID}/headers).
func (m *mailpit) headers(t *testing.T, id string) map[string][]string {
	t.Helper()
	var h map[string][]string
	m.get(t, "/api/v1/message/"+id+"/headers", &h)
	return h
}

// raw reads one message as received (GET /api/v1/message/{ID}/raw).
func (m *mailpit) raw(t *testing.T, id string) string {
	t.Helper()
	resp, err := http.Get(m.api + "/api/v1/message/" + id + "/raw")
	if err != nil {
		t.Fatalf("mailpit API: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("mailpit API raw: %d %v", resp.StatusCode, err)
	}
	return string(b)
}

func (m *mailpit) get(t *testing.T, path string, into any) {
	t.Helper()
	resp, err := http.Get(m.api + path)
	if err != nil {
		t.Fatalf("mailpit API %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("mailpit API %s: %v", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("mailpit API %s: %s\n%s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, into); err != nil {
		t.Fatalf("mailpit API %s: %v\n%s", path, err, body)
	}
}

// freeAddr returns a loopback address with a port free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// syncBuffer collects a process's output while the test may read it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
