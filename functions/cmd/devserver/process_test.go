package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/coditect-ai/license-server/shared/testenv"
)

// processToken is the admin token the devserver processes of these tests
// accept.
const processToken = "devserver-process-test-token-0123456789"

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// devProcess is the devserver binary run as its own process on a fixed
// port, so it can be signalled and started again where clients expect it.
type devProcess struct {
	t    *testing.T
	bin  string
	port string
	env  []string
	logs string // every run's output, appended

	mu      sync.Mutex
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the current run has been waited for
	waitErr error
}

func newDevProcess(t *testing.T, bin string, env []string) *devProcess {
	d := &devProcess{t: t, bin: bin, port: freePort(t), env: env, logs: testenv.LogFile(t, "devserver.log")}
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "BOOTSTRAP_ADMIN_TOKEN="); ok {
			testenv.NoteSecret(t, v)
		}
	}
	t.Cleanup(func() {
		d.mu.Lock()
		cmd, exited := d.cmd, d.exited
		d.mu.Unlock()
		if cmd != nil {
			cmd.Process.Kill()
			<-exited
		}
	})
	return d
}

// url is the server's base URL.
func (d *devProcess) url() string { return "http://127.0.0.1:" + d.port }

// start runs the server and returns once it answers /health/.
func (d *devProcess) start() {
	d.t.Helper()
	out, err := os.OpenFile(d.logs, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		d.t.Fatal(err)
	}
	cmd := exec.Command(d.bin)
	cmd.Env = append(os.Environ(), append([]string{"PORT=" + d.port}, d.env...)...)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		out.Close()
		d.t.Fatalf("starting the devserver: %v", err)
	}
	exited := make(chan struct{})
	d.mu.Lock()
	d.cmd, d.exited = cmd, exited
	d.mu.Unlock()
	go func() {
		err := cmd.Wait()
		out.Close()
		d.mu.Lock()
		d.waitErr = err
		d.mu.Unlock()
		close(exited)
	}()
	client := &http.Client{Timeout: time.Second}
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			d.t.Fatalf("the devserver exited while starting: %v\n%s", d.exitErr(), d.output())
		default:
		}
		if resp, err := client.Get(d.url() + "/health/"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		if time.Now().After(deadline) {
			d.t.Fatalf("the devserver did not answer /health/ within 60s\n%s", d.output())
		}
	}
}

// signal sends sig to the running server.
func (d *devProcess) signal(sig syscall.Signal) {
	d.t.Helper()
	d.mu.Lock()
	cmd := d.cmd
	d.mu.Unlock()
	if err := cmd.Process.Signal(sig); err != nil {
		d.t.Fatalf("signalling the devserver: %v", err)
	}
}

// wait waits up to limit for the running server to exit and returns how it
// exited (nil: status 0).
func (d *devProcess) wait(limit time.Duration) error {
	d.t.Helper()
	d.mu.Lock()
	exited := d.exited
	d.mu.Unlock()
	select {
	case <-exited:
	case <-time.After(limit):
		d.t.Fatalf("the devserver did not exit within %v\n%s", limit, d.output())
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	d.cmd = nil
	return d.waitErr
}

func (d *devProcess) exitErr() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.waitErr
}

// output is the end of what the server runs wrote, for failure messages.
func (d *devProcess) output() string {
	b, _ := os.ReadFile(d.logs)
	const tail = 8 << 10
	if len(b) > tail {
		b = b[len(b)-tail:]
	}
	return string(b)
}

// admin makes an admin call the test needs to succeed, from the test
// goroutine.
func (d *devProcess) admin(method, path string, body any, want int) map[string]any {
	d.t.Helper()
	enc, err := json.Marshal(body)
	if err != nil {
		d.t.Fatal(err)
	}
	req, err := http.NewRequest(method, d.url()+path, bytes.NewReader(enc))
	if err != nil {
		d.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+processToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		d.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	var out map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != want {
		d.t.Fatalf("%s %s: %d (want %d) %v %v", method, path, resp.StatusCode, want, out, err)
	}
	return out
}

// license makes a tenant and a license of it, and returns the license's
// id and key.
func (d *devProcess) license(seats, ttlSeconds int) (string, string) {
	d.t.Helper()
	return d.licenseWith(seats, ttlSeconds, nil)
}

// licenseWith is license with further fields of the new license.
func (d *devProcess) licenseWith(seats, ttlSeconds int, fields map[string]any) (string, string) {
	d.t.Helper()
	tenant, _ := d.admin("POST", "/v1/tenants", map[string]any{"name": "Acme", "slug": "acme"}, 201)["id"].(string)
	body := map[string]any{"product": "coditect", "seats": seats, "lease_ttl_seconds": ttlSeconds}
	for k, v := range fields {
		body[k] = v
	}
	l := d.admin("POST", "/v1/tenants/"+tenant+"/licenses", body, 201)
	id, _ := l["id"].(string)
	key, _ := l["key"].(string)
	if id == "" || key == "" {
		d.t.Fatalf("license: %v", l)
	}
	return id, key
}
