package metrics

import (
	"context"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"google.golang.org/grpc"
)

// kmsKey is one label combination of the KMS instruments (function empty
// for the latency histogram).
type kmsKey struct{ function, method, status string }

func (k kmsKey) attributes() []attribute.KeyValue {
	attrs := []attribute.KeyValue{attribute.String("method", k.method), attribute.String("status", k.status)}
	if k.function != "" {
		attrs = append(attrs, attribute.String("function", k.function))
	}
	return attrs
}

// KMSInterceptor returns a gRPC unary client interceptor counting and
// timing Cloud KMS calls, labelled with the RPC method (AsymmetricSign,
// GetPublicKey) and the function whose request made the call ("background"
// for the delegation made at start and renewed later). Pass it to the KMS
// client with option.WithGRPCDialOption(grpc.WithChainUnaryInterceptor(...)).
// A nil Metrics returns an interceptor that only calls on.
func (m *Metrics) KMSInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		if m == nil {
			return invoker(ctx, method, req, reply, cc, opts...)
		}
		start := time.Now()
		err := invoker(ctx, method, req, reply, cc, opts...)
		// "/google.cloud.kms.v1.KeyManagementService/AsymmetricSign": the
		// service is always the same, the method is the label.
		name := method[strings.LastIndexByte(method, '/')+1:]
		st := status(err)
		m.kmsCalls.Add(ctx, 1, m.kmsAttrs.get(kmsKey{function: functionOf(ctx), method: name, status: st}, kmsKey.attributes))
		m.kmsDuration.Record(ctx, time.Since(start).Seconds(), m.kmsAttrs.get(kmsKey{method: name, status: st}, kmsKey.attributes))
		return err
	}
}
