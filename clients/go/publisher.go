package switchyard

// publisher.go: publishing domain events in the canonical envelope. Fills
// event_id (UUIDv7), occurred_at and trace_id, validates the body locally
// with the router's rules, optionally signs it, publishes it to JetStream
// with Nats-Msg-Id = event_id and returns only after the PubAck. A publish
// that times out is re-sent with the same bytes and the same Nats-Msg-Id:
// the stream's duplicate window and the router's inbox (keyed by event_id)
// make the retry a no-op if the first try did land.

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// Event is an event to publish; what is left empty is filled in.
type Event struct {
	Type string
	// Source defaults to the publisher's.
	Source string
	// Subject is the entity the event is about (not the NATS subject);
	// empty: none.
	Subject string
	// Payload is marshalled with encoding/json (a json.RawMessage is used
	// as it is); it must be a JSON object.
	Payload interface{}
	// SchemaVersion defaults to 1.
	SchemaVersion int64
	// EventID defaults to a new UUIDv7; give your own to make a re-publish
	// of the same fact a duplicate.
	EventID string
	// OccurredAt defaults to now.
	OccurredAt time.Time
	// TraceID defaults to Traceparent's trace id, else a new one.
	TraceID string
	// Traceparent is a W3C traceparent (e.g. the incoming request's).
	Traceparent string
}

// PublisherOptions configure a Publisher.
type PublisherOptions struct {
	Source string
	// SigningKey signs every event (or KeyFile: a `switchyard keygen` key file).
	SigningKey *SigningKey
	KeyFile    string
	// Timeout for each PubAck (default 5 s).
	Timeout time.Duration
	// Attempts in all, the first included (default 3).
	Attempts int
	// MaxBytes is the local size limit (default 1 MiB, the router's default).
	MaxBytes int
}

// PublishResult says where the event landed.
type PublishResult struct {
	EventID, TraceID, Stream string
	Seq                      uint64
	// Duplicate: the stream already had this event_id (an earlier try landed).
	Duplicate bool
}

// Publisher publishes events; safe for concurrent use.
type Publisher struct {
	js   nats.JetStreamContext
	opts PublisherOptions
}

// NewPublisher makes a publisher on a connection (loading opts.KeyFile).
func NewPublisher(nc *nats.Conn, opts PublisherOptions) (*Publisher, error) {
	if opts.SigningKey == nil && opts.KeyFile != "" {
		k, err := LoadSigningKey(opts.KeyFile)
		if err != nil {
			return nil, err
		}
		opts.SigningKey = k
	}
	js, err := nc.JetStream()
	if err != nil {
		return nil, err
	}
	return &Publisher{js: js, opts: opts}, nil
}

func marshalPayload(v interface{}) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, &EnvelopeError{Problem{"bad_json", "payload", fmt.Sprintf(`"payload" is not JSON: %v`, err)}}
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// Envelope builds the envelope that Publish would send, filled in and
// validated (an *EnvelopeError when invalid).
func (p *Publisher) Envelope(ev Event) (*Envelope, error) {
	payload, err := marshalPayload(ev.Payload)
	if err != nil {
		return nil, err
	}
	trace := ev.TraceID
	if ev.Traceparent != "" {
		tp, err := ParseTraceparent(ev.Traceparent)
		if err != nil {
			return nil, err
		}
		if trace != "" && trace != tp.TraceID {
			return nil, &EnvelopeError{Problem{"bad_trace_id", "trace_id", `"trace_id" differs from the traceparent's trace id`}}
		}
		trace = tp.TraceID
	}
	env := &Envelope{EventID: ev.EventID, Type: ev.Type, Source: ev.Source, TraceID: trace,
		SchemaVersion: ev.SchemaVersion, Payload: payload}
	if env.EventID == "" {
		env.EventID = NewUUIDv7()
	}
	if env.Source == "" {
		env.Source = p.opts.Source
	}
	at := ev.OccurredAt
	if at.IsZero() {
		at = time.Now()
	}
	env.OccurredAt = at.UTC().Format("2006-01-02T15:04:05.000Z")
	if env.TraceID == "" {
		env.TraceID = NewTraceID()
	}
	if env.SchemaVersion == 0 {
		env.SchemaVersion = 1
	}
	if ev.Subject != "" {
		s := ev.Subject
		env.Subject = &s
	}
	for _, f := range []struct{ name, v string }{{"event_id", env.EventID}, {"type", env.Type},
		{"source", env.Source}, {"subject", ev.Subject}, {"trace_id", env.TraceID}} {
		if !utf8Valid(f.v) { // encoding/json would turn the bytes into U+FFFD in silence
			return nil, &EnvelopeError{Problem{"bad_utf8", f.name, fmt.Sprintf("%q is not valid UTF-8", f.name)}}
		}
	}
	if _, err := ParseEnvelope(env.Encode(), p.opts.MaxBytes); err != nil {
		return nil, err
	}
	return env, nil
}

// Publish publishes one event to the NATS subject and waits for its PubAck.
func (p *Publisher) Publish(ctx context.Context, natsSubject string, ev Event) (*PublishResult, error) {
	env, err := p.Envelope(ev)
	if err != nil {
		return nil, err
	}
	body := env.Encode()
	msg := nats.NewMsg(natsSubject)
	msg.Data = body
	msg.Header.Set("Content-Type", "application/json")
	msg.Header.Set(nats.MsgIdHdr, env.EventID)
	if p.opts.SigningKey != nil {
		msg.Header.Set("Sy-Key-Id", p.opts.SigningKey.KeyID)
		msg.Header.Set("Sy-Signature", p.opts.SigningKey.Sign(body))
	}
	pa, err := p.send(ctx, msg)
	if err != nil {
		return nil, err
	}
	return &PublishResult{EventID: env.EventID, TraceID: env.TraceID, Stream: pa.Stream, Seq: pa.Sequence, Duplicate: pa.Duplicate}, nil
}

// PublishError is a publish that failed for good after its retries.
type PublishError struct {
	EventID string
	Err     error
}

func (e *PublishError) Error() string { return e.Err.Error() }
func (e *PublishError) Unwrap() error { return e.Err }

func retryable(err error) bool {
	return errors.Is(err, nats.ErrTimeout) || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrNoResponders)
}

func (p *Publisher) send(ctx context.Context, msg *nats.Msg) (*nats.PubAck, error) {
	attempts, timeout := p.opts.Attempts, p.opts.Timeout
	if attempts < 1 {
		attempts = 3
	}
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	var last error
	for i := 0; i < attempts; i++ {
		actx, cancel := context.WithTimeout(ctx, timeout)
		pa, err := p.js.PublishMsg(msg, nats.Context(actx))
		cancel()
		if err == nil {
			return pa, nil
		}
		if ctx.Err() != nil || !retryable(err) {
			return nil, &PublishError{msg.Header.Get(nats.MsgIdHdr), fmt.Errorf("could not publish to %q: %w", msg.Subject, err)}
		}
		last = err
		if i+1 < attempts {
			select {
			case <-time.After(time.Duration(i+1) * 250 * time.Millisecond):
			case <-ctx.Done():
			}
		}
	}
	return nil, &PublishError{msg.Header.Get(nats.MsgIdHdr),
		fmt.Errorf("could not publish to %q: no PubAck after %d tries: %w", msg.Subject, attempts, last)}
}
