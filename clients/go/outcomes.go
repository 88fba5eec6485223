package switchyard

// outcomes.go: typed outcome events (docs/outcome-events.md) and a durable
// consumer of them on the engine's stream (SY, covering "<prefix>.>"). At
// least once: a message is acked only after the handler returned nil and
// naked (redelivered after a delay) when it returns an error; every event
// carries its deterministic event_id for the consumer's own dedupe.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// Outcome event types.
const (
	WorkflowStarted         = "switchyard.workflow.started"
	WorkflowSignaled        = "switchyard.workflow.signaled"
	WorkflowCancelRequested = "switchyard.workflow.cancel_requested"
	WorkflowCompleted       = "switchyard.workflow.completed"
	WorkflowFailed          = "switchyard.workflow.failed"
	WorkflowCanceled        = "switchyard.workflow.canceled"
	WorkflowTerminated      = "switchyard.workflow.terminated"
	TaskCreated             = "switchyard.task.created"
	TaskStarted             = "switchyard.task.started"
	TaskCompleted           = "switchyard.task.completed"
	TaskFailed              = "switchyard.task.failed"
	TaskTimedOut            = "switchyard.task.timed_out"
	TaskCanceled            = "switchyard.task.canceled"
	DeadletterCreated       = "switchyard.deadletter.created"
)

// OutcomeEvent is one event from the outcome stream, in the envelope.
// Payload holds the payload as sent; OutcomePayload decodes the fields
// every outcome carries, and Decode any struct of yours.
type OutcomeEvent struct {
	// EventID is <run_id>:<history seq>: the same on every re-publish; dedupe on it.
	EventID       string          `json:"event_id"`
	Type          string          `json:"type"`
	Source        string          `json:"source"`
	OccurredAt    string          `json:"occurred_at"`
	Subject       string          `json:"subject,omitempty"`
	TraceID       string          `json:"trace_id"`
	SchemaVersion int64           `json:"schema_version"`
	Payload       json.RawMessage `json:"payload"`
}

// OutcomePayload has the fields of every outcome payload and those of each
// type (zero when the type has no such field).
type OutcomePayload struct {
	WorkflowID   string  `json:"workflow_id"`
	RunID        string  `json:"run_id"`
	WorkflowType string  `json:"workflow_type"`
	CausationID  *string `json:"causation_id"`
	// task events
	TaskID  string `json:"task_id,omitempty"`
	Task    string `json:"task,omitempty"`
	Queue   string `json:"queue,omitempty"`
	Step    string `json:"step,omitempty"`
	Attempt int64  `json:"attempt,omitempty"`
	// workflow.started, task.created
	Input json.RawMessage `json:"input,omitempty"`
	// workflow.completed, task.completed
	Result json.RawMessage `json:"result,omitempty"`
	// workflow.failed, task.failed, task.timed_out
	Error *OutcomeError `json:"error,omitempty"`
	// task.failed, task.timed_out: no new attempt follows
	Final   bool  `json:"final,omitempty"`
	RetryAt int64 `json:"retry_at,omitempty"`
	// task.created
	Timeouts *TaskTimeouts `json:"timeouts,omitempty"`
	Human    bool          `json:"human,omitempty"`
	// workflow.signaled
	Signal        string          `json:"signal,omitempty"`
	SignalPayload json.RawMessage `json:"payload,omitempty"`
	// workflow.cancel_requested, canceled, terminated
	Reason *string `json:"reason,omitempty"`
	// deadletter.created
	Code      string `json:"code,omitempty"`
	Message   string `json:"message,omitempty"`
	StreamSeq int64  `json:"stream_seq,omitempty"`
}

// OutcomeError is the error of a failed workflow or task.
type OutcomeError struct {
	Type      string `json:"type"`
	Message   string `json:"message"`
	Retryable *bool  `json:"retryable,omitempty"`
	// Kind of a timeout: schedule_to_start, start_to_close, heartbeat,
	// schedule_to_close or deadline.
	Kind string `json:"kind,omitempty"`
}

// Outcome decodes the payload's common and per-type fields.
func (e *OutcomeEvent) Outcome() (*OutcomePayload, error) {
	var p OutcomePayload
	if err := json.Unmarshal(e.Payload, &p); err != nil {
		return nil, err
	}
	return &p, nil
}

// Decode unmarshals the payload into v.
func (e *OutcomeEvent) Decode(v interface{}) error { return json.Unmarshal(e.Payload, v) }

// OutcomeInfo is where an event came from.
type OutcomeInfo struct {
	Subject    string
	StreamSeq  uint64
	Deliveries uint64
}

// OutcomeConsumerOptions configure ConsumeOutcomes.
type OutcomeConsumerOptions struct {
	// Durable is your service's consumer, kept across restarts (required).
	Durable string
	// Prefix is the subject prefix (default "sy").
	Prefix string
	// Subject is the NATS filter (default "<prefix>.workflow.>").
	Subject string
	// Types: only these reach the handler (others are acked and skipped).
	Types []string
	// Stream (default: the one holding Subject).
	Stream string
	// DeliverNew: a new durable starts at new messages, not the first one.
	DeliverNew bool
	// AckWait of a consumer created here (default 30 s).
	AckWait time.Duration
	// RetryDelay after the handler failed (default 1 s).
	RetryDelay time.Duration
	// Batch of messages fetched at once (default 64).
	Batch int
	// Ready (may be nil) is closed once consuming.
	Ready chan<- struct{}
}

// ConsumeOutcomes runs handler for every outcome event, one at a time, until
// ctx ends (then it returns nil).
func ConsumeOutcomes(ctx context.Context, nc *nats.Conn, o OutcomeConsumerOptions, handler func(context.Context, *OutcomeEvent, OutcomeInfo) error) error {
	if o.Durable == "" {
		return errors.New("switchyard: an outcome consumer needs a durable name")
	}
	if o.Prefix == "" {
		o.Prefix = "sy"
	}
	if o.Subject == "" {
		o.Subject = o.Prefix + ".workflow.>"
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.RetryDelay <= 0 {
		o.RetryDelay = time.Second
	}
	if o.Batch <= 0 {
		o.Batch = 64
	}
	js, err := nc.JetStream()
	if err != nil {
		return err
	}
	stream := o.Stream
	if stream == "" {
		if stream, err = findStream(js, o.Subject); err != nil {
			return err
		}
		if stream == "" {
			return fmt.Errorf("switchyard: no JetStream stream holds %s", o.Subject)
		}
	}
	policy := nats.DeliverAllPolicy
	if o.DeliverNew {
		policy = nats.DeliverNewPolicy
	}
	if _, err := ensureConsumer(js, stream, o.Durable, &nats.ConsumerConfig{
		FilterSubject: o.Subject, DeliverPolicy: policy, AckWait: o.AckWait}); err != nil {
		return err
	}
	sub, err := js.PullSubscribe(o.Subject, o.Durable, nats.Bind(stream, o.Durable))
	if err != nil {
		return err
	}
	defer func() { _ = sub.Unsubscribe() }()
	if o.Ready != nil {
		close(o.Ready)
	}
	types := map[string]bool{}
	for _, t := range o.Types {
		types[t] = true
	}
	for ctx.Err() == nil {
		fctx, cancel := context.WithTimeout(ctx, time.Second)
		msgs, err := sub.Fetch(o.Batch, nats.Context(fctx))
		cancel()
		if err != nil && ctx.Err() == nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, nats.ErrTimeout) {
			time.Sleep(200 * time.Millisecond) // a passing fault; fetch again
		}
		for _, m := range msgs {
			var ev OutcomeEvent
			if json.Unmarshal(m.Data, &ev) != nil || ev.Type == "" || ev.EventID == "" {
				_ = m.Ack() // not an outcome event (a report, say): nothing to do
				continue
			}
			if len(types) > 0 && !types[ev.Type] {
				_ = m.Ack()
				continue
			}
			info := OutcomeInfo{Subject: m.Subject}
			if md, err := m.Metadata(); err == nil {
				info.StreamSeq, info.Deliveries = md.Sequence.Stream, md.NumDelivered
			}
			if err := handler(ctx, &ev, info); err != nil {
				_ = m.NakWithDelay(o.RetryDelay)
			} else {
				_ = m.Ack()
			}
		}
	}
	return nil
}
