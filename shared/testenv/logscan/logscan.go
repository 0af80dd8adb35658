// Package logscan checks what the servers logged during the whole test
// suite for secrets: license keys, API keys, session ids, private keys, and any secret a
// test noted (bootstrap tokens). make test has every test server's logs
// copied into one directory (testenv.CaptureEnv), then runs this package's
// suite test over it.
package logscan

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/coditect-ai/license-server/shared/testenv"
)

// forms are secrets recognisable by their shape. A license key's display
// prefix (lk_<id>_ plus four characters) is public and does not match.
var forms = []struct {
	name string
	re   *regexp.Regexp
}{
	{"license key", regexp.MustCompile(`lk_[0-9a-f]{32}_[A-Za-z0-9_-]{43}`)},
	{"API key", regexp.MustCompile(`ak_[A-Za-z0-9_-]{24,}`)},
	// A session id: the license id in hex, a dot, 22 base64url characters.
	// Its digest (32 hex characters alone) is public and does not match.
	{"session id", regexp.MustCompile(`(^|[^0-9A-Za-z_-])[0-9a-f]{32}\.[A-Za-z0-9_-]{22}($|[^A-Za-z0-9_-])`)},
	{"PEM private key", regexp.MustCompile(`PRIVATE KEY`)},
	{"JWK private member", regexp.MustCompile(`\\?"(d|p|q|dp|dq|qi)\\?"\s*:\s*\\?"[A-Za-z0-9_-]{16,}`)},
}

// Finding is one secret in one log line. It names the kind and where, never
// the secret.
type Finding struct {
	File string
	Line int
	Kind string
}

func (f Finding) String() string { return fmt.Sprintf("%s:%d: %s", f.File, f.Line, f.Kind) }

// Report is what a scan saw.
type Report struct {
	Files    int
	Lines    int            // log records (JSON lines with a severity)
	Requests map[string]int // request records per function
	Secrets  int            // secrets noted by tests
	Findings []Finding
}

// Scan reads every capture file in dir. Only log records count: JSON
// objects with a severity, as the servers write them; other output a test
// captured (make run's banner, which prints the admin token on purpose) is
// not a log.
func Scan(dir string) (Report, error) {
	r := Report{Requests: map[string]int{}}
	secrets, err := noted(dir)
	if err != nil {
		return r, err
	}
	r.Secrets = len(secrets)
	logs, err := filepath.Glob(filepath.Join(dir, "*.log"))
	if err != nil {
		return r, err
	}
	sort.Strings(logs)
	for _, path := range logs {
		r.Files++
		if err := scanFile(path, secrets, &r); err != nil {
			return r, err
		}
	}
	return r, nil
}

func noted(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*"+testenv.SecretsFileSuffix))
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []string
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading noted secrets: %w", err)
		}
		for _, s := range strings.Split(string(b), "\n") {
			if s != "" && !seen[s] {
				seen[s] = true
				out = append(out, s)
			}
		}
	}
	return out, nil
}

func scanFile(path string, secrets []string, r *Report) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 16*1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		var rec struct {
			Severity string `json:"severity"`
			Message  string `json:"message"`
			Function string `json:"function"`
		}
		if !strings.HasPrefix(line, "{") || json.Unmarshal([]byte(line), &rec) != nil || rec.Severity == "" {
			continue
		}
		r.Lines++
		if rec.Message == "request" {
			r.Requests[rec.Function]++
		}
		for _, form := range forms {
			if form.re.MatchString(line) {
				r.Findings = append(r.Findings, Finding{File: filepath.Base(path), Line: n, Kind: form.name})
			}
		}
		for _, s := range secrets {
			if strings.Contains(line, s) {
				r.Findings = append(r.Findings, Finding{File: filepath.Base(path), Line: n, Kind: "noted secret"})
			}
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	return nil
}
