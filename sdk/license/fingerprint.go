package license

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"os/exec"
	"os/user"
	"regexp"
	"runtime"
	"strings"
	"time"
)

// fingerprintPrefix marks the fingerprint scheme, so a later one can be told
// apart.
const fingerprintPrefix = "fp1:"

// fingerprintApp keys the hash: the fingerprint is specific to this
// service, unlike a plain hash of the machine id that other software may
// publish too (as systemd's sd_id128_get_machine_app_specific does).
const fingerprintApp = "coditect-license-fingerprint"

// machineIDFiles hold the machine's stable id on Linux and most Unixes.
var machineIDFiles = []string{"/etc/machine-id", "/var/lib/dbus/machine-id"}

// DefaultFingerprint identifies this machine, stably across runs and
// reboots: derived from /etc/machine-id (or /var/lib/dbus/machine-id), on
// macOS from the IOPlatformUUID, elsewhere from the host and user names. It
// never reveals the identifier itself: the result is "fp1:" and the hex
// HMAC-SHA256 of a fixed label keyed with it.
func DefaultFingerprint() (string, error) {
	if id := machineID(); id != "" {
		return fingerprintOf("machine:" + id), nil
	}
	host, _ := os.Hostname()
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	} else {
		name = os.Getenv("USER") + os.Getenv("USERNAME")
	}
	if host == "" && name == "" {
		return "", errors.New("license: no machine id, host name or user name to make a fingerprint of; set Config.Fingerprint")
	}
	return fingerprintOf("host:" + host + "\x00user:" + name), nil
}

func fingerprintOf(id string) string {
	m := hmac.New(sha256.New, []byte(id))
	m.Write([]byte(fingerprintApp))
	return fingerprintPrefix + hex.EncodeToString(m.Sum(nil))
}

// machineID returns the machine's id, "" when there is none to be had.
func machineID() string {
	for _, f := range machineIDFiles {
		if b, err := os.ReadFile(f); err == nil {
			if id := strings.TrimSpace(string(b)); usableID(id) {
				return id
			}
		}
	}
	if runtime.GOOS == "darwin" {
		return darwinPlatformUUID()
	}
	return ""
}

// usableID rejects empty and all-zero ids (an uninitialised machine-id).
func usableID(id string) bool {
	return strings.Trim(id, "0-") != "" && len(id) >= 8
}

var ioregUUID = regexp.MustCompile(`"IOPlatformUUID"\s*=\s*"([0-9A-Fa-f-]+)"`)

// darwinPlatformUUID asks ioreg for the hardware UUID (a few milliseconds).
func darwinPlatformUUID() string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "/usr/sbin/ioreg", "-rd1", "-c", "IOPlatformExpertDevice").Output()
	if err != nil {
		return ""
	}
	if m := ioregUUID.FindSubmatch(out); m != nil && usableID(string(m[1])) {
		return string(bytes.ToLower(m[1]))
	}
	return ""
}
