package switchyard

// jsutil.go: JetStream setup shared by the worker and the outcome
// consumer: find the stream that holds a subject (waiting for it: a worker
// may start before the engine's stream exists) and get or create a durable
// consumer.

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// findStream returns the stream holding subject, "" when none does.
func findStream(js nats.JetStreamContext, subject string) (string, error) {
	s, err := js.StreamNameBySubject(subject)
	if errors.Is(err, nats.ErrNoMatchingStream) || err != nil && strings.Contains(err.Error(), "no stream matches") {
		return "", nil
	}
	return s, err
}

// awaitStream waits until a stream holds subject (or ctx ends).
func awaitStream(ctx context.Context, js nats.JetStreamContext, given, subject string, logf func(string, ...interface{})) (string, error) {
	if given != "" {
		return given, nil
	}
	for waited := 0; ; waited += 500 {
		s, err := findStream(js, subject)
		if s != "" || err != nil {
			return s, err
		}
		if waited%30000 == 0 {
			logf("warn: waiting for a stream that holds %s", subject)
		}
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// ensureConsumer returns the durable's info, creating it from cfg (explicit
// acks, deliver all unless cfg says, unlimited deliveries) when it does not
// exist; an existing one is used as it is: other workers share it.
func ensureConsumer(js nats.JetStreamContext, stream, durable string, cfg *nats.ConsumerConfig) (*nats.ConsumerInfo, error) {
	ci, err := js.ConsumerInfo(stream, durable)
	if err == nil {
		return ci, nil
	}
	if !errors.Is(err, nats.ErrConsumerNotFound) {
		return nil, err
	}
	c := *cfg
	c.Durable = durable
	c.AckPolicy = nats.AckExplicitPolicy
	if c.MaxDeliver == 0 {
		c.MaxDeliver = -1
	}
	return js.AddConsumer(stream, &c)
}
