package secrets

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// manager reads secrets from Google Secret Manager.
type manager struct {
	client *secretmanager.Client
}

// NewManager returns an Accessor that reads secret versions through client,
// checking that the answer names the version asked for and that its payload
// matches its CRC32C checksum. The caller closes client.
func NewManager(client *secretmanager.Client) Accessor {
	if client == nil {
		panic("secrets: NewManager needs a Secret Manager client")
	}
	return &manager{client: client}
}

// Access reads the payload of the secret version name
// (projects/P/secrets/S/versions/V). Its errors never hold the payload.
func (m *manager) Access(ctx context.Context, name string) ([]byte, error) {
	resp, err := m.client.AccessSecretVersion(ctx, &secretmanagerpb.AccessSecretVersionRequest{Name: name})
	if err != nil {
		return nil, err
	}
	if !answers(name, resp.GetName()) {
		return nil, fmt.Errorf("the response names version %q instead", resp.GetName())
	}
	p := resp.GetPayload()
	if p == nil || p.DataCrc32C == nil {
		return nil, errors.New("the response carries no CRC32C checksum of the payload")
	}
	if want, sum := *p.DataCrc32C, int64(crc32.Checksum(p.GetData(), castagnoli)); want != sum {
		return nil, fmt.Errorf("payload corrupted: CRC32C %d, want %d", sum, want)
	}
	return p.GetData(), nil
}

// answers reports whether got, the version name in a response, answers a
// request for asked. Secret Manager names the project by number in responses
// even when asked by ID, so a project number answers for a project ID (not
// for another number); a request for "latest" is answered with the numeric
// version it resolved to.
func answers(asked, got string) bool {
	if asked == got {
		return true
	}
	a, g := versionName.FindStringSubmatch(asked), versionName.FindStringSubmatch(got)
	if a == nil || g == nil {
		return false
	}
	project := a[1] == g[1] || (!isNumber(a[1]) && isNumber(g[1]))
	version := a[3] == g[3] || (a[3] == "latest" && isNumber(g[3]))
	return project && a[2] == g[2] && version
}

func isNumber(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
