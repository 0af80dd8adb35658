package secrets

import (
	"context"
	"hash/crc32"
	"net"
	"sync"
	"testing"

	secretmanager "cloud.google.com/go/secretmanager/apiv1"
	"cloud.google.com/go/secretmanager/apiv1/secretmanagerpb"
	"google.golang.org/api/option"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
)

// fakeVersion is one secret version the fake serves.
type fakeVersion struct {
	data string
	// answer is the version name the response carries; empty: the name asked for.
	answer string
	// crc says what checksum goes with the payload.
	crc crcMode
}

type crcMode int

const (
	crcGood crcMode = iota
	crcWrong
	crcMissing
)

// fakeSecretManager is a Secret Manager that serves versions from a map,
// keyed by the name asked for, and counts the calls for each name.
type fakeSecretManager struct {
	secretmanagerpb.UnimplementedSecretManagerServiceServer

	versions map[string]fakeVersion // read-only once serving

	mu    sync.Mutex
	calls map[string]int
}

func (f *fakeSecretManager) AccessSecretVersion(_ context.Context, req *secretmanagerpb.AccessSecretVersionRequest) (*secretmanagerpb.AccessSecretVersionResponse, error) {
	f.mu.Lock()
	f.calls[req.GetName()]++
	f.mu.Unlock()
	v, ok := f.versions[req.GetName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "Secret Version [%s] not found or has no versions.", req.GetName())
	}
	payload := &secretmanagerpb.SecretPayload{Data: []byte(v.data)}
	sum := int64(crc32.Checksum(payload.Data, crc32.MakeTable(crc32.Castagnoli)))
	switch v.crc {
	case crcGood:
		payload.DataCrc32C = &sum
	case crcWrong:
		sum ^= 1
		payload.DataCrc32C = &sum
	}
	name := v.answer
	if name == "" {
		name = req.GetName()
	}
	return &secretmanagerpb.AccessSecretVersionResponse{Name: name, Payload: payload}, nil
}

func (f *fakeSecretManager) callCount(name string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[name]
}

func (f *fakeSecretManager) totalCalls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

// startFake serves versions over gRPC on a loopback port and returns the
// fake and a real Secret Manager client connected to it, both closed when
// the test ends.
func startFake(t *testing.T, versions map[string]fakeVersion) (*fakeSecretManager, *secretmanager.Client) {
	t.Helper()
	f := &fakeSecretManager{versions: versions, calls: map[string]int{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listening: %v", err)
	}
	srv := grpc.NewServer()
	secretmanagerpb.RegisterSecretManagerServiceServer(srv, f)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(lis) // returns when Stop is called
	}()
	t.Cleanup(func() {
		srv.Stop()
		<-done
	})
	client, err := secretmanager.NewClient(t.Context(),
		option.WithEndpoint(lis.Addr().String()),
		option.WithoutAuthentication(),
		option.WithGRPCDialOption(grpc.WithTransportCredentials(insecure.NewCredentials())))
	if err != nil {
		t.Fatalf("creating Secret Manager client: %v", err)
	}
	t.Cleanup(func() { _ = client.Close() })
	return f, client
}
