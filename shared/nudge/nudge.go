// Package nudge tells the Notify function that outbox events wait, right
// after the commit that appended them: in production by publishing a
// Pub/Sub message on the notify topic (an Eventarc trigger delivers it to
// Notify as a CloudEvent), for make run by waking a local loop.
//
// A nudge is a hint, not the delivery: the events are in PostgreSQL
// already, and the scheduled sweep delivers whatever no nudge announced.
// So a nudge never fails a request and never waits for Pub/Sub: it is
// published in the background and a failure is logged.
package nudge

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"cloud.google.com/go/pubsub/v2"
)

// PubSub publishes nudges on a topic.
type PubSub struct {
	pub    *pubsub.Publisher
	logger *slog.Logger
	source string
}

// NewPubSub publishes on topic (projects/P/topics/T) through client;
// source names the publishing function in the message's attributes.
func NewPubSub(client *pubsub.Client, topic, source string, logger *slog.Logger) (*PubSub, error) {
	if client == nil || topic == "" || logger == nil {
		return nil, errors.New("nudge: missing dependency")
	}
	pub := client.Publisher(topic)
	// A nudge says "now": batching would only delay it.
	pub.PublishSettings.DelayThreshold = time.Millisecond
	pub.PublishSettings.CountThreshold = 1
	return &PubSub{pub: pub, logger: logger, source: source}, nil
}

// Nudge publishes one message and returns at once; the outcome is logged
// when it is known.
func (p *PubSub) Nudge(ctx context.Context) {
	res := p.pub.Publish(context.WithoutCancel(ctx), &pubsub.Message{Data: []byte(`{"nudge":true}`),
		Attributes: map[string]string{"source": p.source}})
	go func() {
		wait, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := res.Get(wait); err != nil {
			p.logger.Warn("publishing a notify nudge failed; the sweep will deliver", "error", err.Error())
		}
	}()
}

// Stop flushes what is being published and stops the publisher.
func (p *PubSub) Stop() { p.pub.Stop() }

// Local wakes a loop in this process: nudges that come while the loop is
// busy are one nudge (the run after them sees every event they announced).
type Local struct{ c chan struct{} }

// NewLocal returns a local nudger; C is what the loop waits on.
func NewLocal() *Local { return &Local{c: make(chan struct{}, 1)} }

// Nudge wakes the loop, or leaves it woken.
func (l *Local) Nudge(context.Context) {
	select {
	case l.c <- struct{}{}:
	default:
	}
}

// C receives once per batch of nudges.
func (l *Local) C() <-chan struct{} { return l.c }
