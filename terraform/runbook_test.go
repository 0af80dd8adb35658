package terraform

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// shellBlock is a fenced sh block, indented or not (a list item's).
var shellBlock = regexp.MustCompile("(?ms)^([ \t]*)```sh\n(.*?)^[ \t]*```")

// alertRunbook finds the runbook names in monitoring.tf: an alert's
// runbook attribute, or a name written into a documentation string.
var alertRunbook = regexp.MustCompile(`runbook\s*=\s*"([^"]+)"|"Runbooks" > "([^"$]+)"`)

// TestRunbookCommandsParse: every shell block of the README's Runbooks
// section is valid bash (bash -n), and the runbooks the on-call engineer
// needs are there. None of their commands can run here: they act on Google
// Cloud.
func TestRunbookCommandsParse(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(raw)
	start := strings.Index(readme, "\n## Runbooks\n")
	if start < 0 {
		t.Fatal("README.md has no Runbooks section")
	}
	section := readme[start+1:]
	if end := strings.Index(section[3:], "\n## "); end >= 0 {
		section = section[:end+3]
	}
	for _, h := range []string{"### Signing key rotation", "### Restore the database", "### Redis lost, or a Memorystore failover", "### Alerts", "### Troubleshooting"} {
		if !strings.Contains(section, "\n"+h+"\n") {
			t.Errorf("the Runbooks section has no %q", h)
		}
	}
	// Every runbook an alert's documentation names is there.
	mon, err := os.ReadFile("monitoring.tf")
	if err != nil {
		t.Fatal(err)
	}
	named := alertRunbook.FindAllStringSubmatch(string(mon), -1)
	if len(named) < 10 {
		t.Fatalf("found %d runbook names in monitoring.tf", len(named))
	}
	for _, m := range named {
		name := m[1] + m[2]
		if !strings.Contains(section, "- **"+name+".**") {
			t.Errorf("monitoring.tf names the runbook %q, which the Runbooks section does not have", name)
		}
	}
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Fatal("bash is needed to check the runbooks' commands:", err)
	}
	blocks := shellBlock.FindAllStringSubmatch(section, -1)
	if len(blocks) < 6 {
		t.Fatalf("found %d shell blocks in the Runbooks section; expected every step's commands", len(blocks))
	}
	for _, b := range blocks {
		var lines []string
		for _, l := range strings.Split(b[2], "\n") {
			lines = append(lines, strings.TrimPrefix(l, b[1]))
		}
		script := strings.Join(lines, "\n")
		cmd := exec.Command(bash, "-n")
		cmd.Stdin = strings.NewReader(script)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("bash -n: %v\n%s\nin:\n%s", err, out, script)
		}
	}
}
