package switchyard

// worker.go: a worker for one switchyard task queue, following
// docs/worker-protocol.md as the reference worker (worker/worker*.c) does:
// a durable pull consumer "sy-worker-<queue>" shared by every worker of the
// queue, pulled only for free slots; per task: task.started (PubAck) asking
// the engine whether to run it (the claim check: a task of a closed
// workflow is acked, never run), the handler, heartbeats (+WPI) while it runs, task.completed or task.failed
// (PubAck), and only then the ack. A cancel event for the task's workflow or
// task cancels the handler's context and acks without a report; when Run's
// context ends, no new tasks are taken, running ones get a grace period,
// then their contexts are canceled and they are handed back (nak).

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// TaskTimeouts are the task's timeouts from task.created (0: none).
type TaskTimeouts struct {
	ScheduleToStartMs int64 `json:"schedule_to_start_ms"`
	StartToCloseMs    int64 `json:"start_to_close_ms"`
	ScheduleToCloseMs int64 `json:"schedule_to_close_ms"`
	HeartbeatMs       int64 `json:"heartbeat_ms"`
}

// Task is one attempt of a task, as the handler sees it.
type Task struct {
	TaskID, WorkflowID, RunID, WorkflowType string
	// Name is the task's name in the workflow definition (`task: drain`).
	Name  string
	Queue string
	// Attempt is 1, 2, ...; echoed in every report.
	Attempt  int64
	Input    json.RawMessage
	Timeouts TaskTimeouts
	TraceID  string
	// Traceparent continues the workflow's trace, for your own spans.
	Traceparent string
	// Deliveries is how many times JetStream delivered this message.
	Deliveries int
	// Event is the task.created envelope as received.
	Event json.RawMessage

	w         *Worker
	r         *running
	startedAt string // when the handler began (RFC 3339): the final report's startedHeader
}

// DecodeInput unmarshals the task's input into v.
func (t *Task) DecodeInput(v interface{}) error { return json.Unmarshal(t.Input, v) }

// Heartbeat sends a heartbeat now with optional progress details (nil:
// none) and waits for its PubAck; heartbeats are also sent automatically
// while the handler runs.
func (t *Task) Heartbeat(ctx context.Context, details interface{}) error {
	if details == nil {
		details = json.RawMessage("null")
	}
	return t.w.beat(ctx, t, details)
}

// Errors a task's context ends with (Task.AbortReason).
var (
	ErrTaskCanceled   = errors.New("switchyard: the workflow or task was canceled")
	ErrTaskTimedOut   = errors.New("switchyard: the attempt did not finish in time")
	ErrWorkerStopping = errors.New("switchyard: the worker is stopping: the task is handed back")
)

// AbortReason says why the handler's context was canceled (nil while it
// runs): ErrTaskCanceled, ErrTaskTimedOut or ErrWorkerStopping.
func (t *Task) AbortReason() error {
	t.w.mu.Lock()
	defer t.w.mu.Unlock()
	return t.r.reason
}

// TaskError chooses the reported error type and whether the engine may
// retry (Type is matched against the step's retry.non_retryable). Any other
// error is reported with type "error", retryable.
type TaskError struct {
	Type, Message string
	NonRetryable  bool
	Details       interface{}
}

func (e *TaskError) Error() string { return e.Type + ": " + e.Message }

// NonRetryable returns a TaskError that the engine does not retry.
func NonRetryable(errType, message string) *TaskError {
	return &TaskError{Type: errType, Message: message, NonRetryable: true}
}

// Handler runs one task; its result (any JSON value) is the task's result.
type Handler func(ctx context.Context, t *Task) (interface{}, error)

// WorkerOptions configure a worker.
type WorkerOptions struct {
	Queue   string
	Handler Handler
	// Concurrency is the number of tasks run at once (default 1).
	Concurrency int
	// Prefix is the subject prefix (default "sy", engine.subject_prefix).
	Prefix string
	// Stream holding the queue's subject (default: found by subject).
	Stream string
	// Durable consumer (default "sy-worker-<queue>").
	Durable string
	// Heartbeat period (default 10 s, or a third of the task's heartbeat_ms when smaller).
	Heartbeat time.Duration
	// AckWait of a consumer this worker creates (default 60 s).
	AckWait time.Duration
	// Grace: after Run's context ends, how long running tasks may take (default 30 s).
	Grace time.Duration
	// Timeout per attempt; default the task's start_to_close_ms, else none.
	Timeout time.Duration
	// ClaimWait is how long each task.started of the claim check waits for
	// the engine's verdict (default 10 s, at most half the consumer's ack
	// wait); without an answer it asks again, and after three unanswered
	// asks the task is handed back.
	ClaimWait time.Duration
	// NoClaim runs tasks without asking the engine first (setups without a
	// switchyard engine; tasks of closed workflows may then run).
	NoClaim bool
	// WorkerID is reported as "worker" (default host:pid).
	WorkerID string
	// Logf logs (default: log.Printf for warnings only).
	Logf func(format string, args ...interface{})
}

// WorkerStats counts what a worker did.
type WorkerStats struct {
	Completed, Failed, Canceled, HandedBack, Terminated int
	// NotRun: acked without running, the engine said the task's run is
	// closed, the attempt is not current or the task is unknown.
	NotRun int
}

// claimHeader: the engine answers a task.started carrying it on that inbox
// from a read of its committed state (docs/worker-protocol.md, the claim check).
const claimHeader = "Sy-Reply-To"

// startedHeader: on a final report, when the handler began, so that the
// history gets the task.started that another engine consumer may hold.
const startedHeader = "Sy-Started-At"

var verdicts = map[string]bool{"run": true, "closed": true, "stale": true, "unknown": true, "duplicate": true}

type claim struct {
	taskID  string
	attempt int64
	verdict chan string
}

var queueRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

const pullExpires = 10 * time.Second

var cancelSubjects = []string{"workflow.canceled.>", "workflow.terminated.>", "task.canceled.>"}

type running struct {
	msg        *nats.Msg
	task       *Task
	cancel     context.CancelFunc
	reason     error
	settled    bool          // ack, nak or term sent: later outcomes are dropped
	abandoned  chan struct{} // closed at settle: the slot is freed even if the handler goes on
	heartbeats int
}

// Worker runs tasks of one queue. Create it with NewWorker, then Run.
type Worker struct {
	nc     *nats.Conn
	js     nats.JetStreamContext
	o      WorkerOptions
	report string
	logf   func(string, ...interface{})

	mu          sync.Mutex
	stats       WorkerStats
	running     map[*running]struct{}
	idle        chan struct{} // closed when running becomes empty during a stop
	outstanding int
	requests    map[string]pullRequest
	reqSeq      int
	stopping    bool
	lateTimer   *time.Timer
	stream      string
	durable     string
	inbox       string
	claimInbox  string
	claimSeq    int
	claims      map[string]*claim
	ackWait     time.Duration
	subs        []*nats.Subscription
}

type pullRequest struct {
	n  int
	at time.Time
}

// NewWorker checks the options and makes a worker on a connection.
func NewWorker(nc *nats.Conn, o WorkerOptions) (*Worker, error) {
	if !queueRE.MatchString(o.Queue) {
		return nil, errors.New("switchyard: queue name must be 1-64 characters of [A-Za-z0-9_-]")
	}
	if o.Handler == nil {
		return nil, errors.New("switchyard: a worker needs a handler")
	}
	js, err := nc.JetStream()
	if err != nil {
		return nil, err
	}
	if o.Concurrency < 1 {
		o.Concurrency = 1
	}
	if o.Prefix == "" {
		o.Prefix = "sy"
	}
	if o.Durable == "" {
		o.Durable = "sy-worker-" + o.Queue
	}
	if o.AckWait <= 0 {
		o.AckWait = 60 * time.Second
	}
	if o.Grace <= 0 {
		o.Grace = 30 * time.Second
	}
	if o.Heartbeat <= 0 {
		o.Heartbeat = 10 * time.Second
	}
	if o.WorkerID == "" {
		host, _ := os.Hostname()
		o.WorkerID = fmt.Sprintf("%s:%d", host, os.Getpid())
	}
	logf := o.Logf
	if logf == nil {
		logf = func(f string, a ...interface{}) {
			if strings.HasPrefix(f, "warn") {
				log.Printf(f, a...)
			}
		}
	}
	return &Worker{nc: nc, js: js, o: o, logf: logf, report: o.Prefix + ".report." + o.Queue,
		running: map[*running]struct{}{}, claims: map[string]*claim{}, requests: map[string]pullRequest{}, durable: o.Durable, ackWait: o.AckWait}, nil
}

// Stats returns what the worker did so far.
func (w *Worker) Stats() WorkerStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stats
}

// Run consumes tasks until ctx ends (e.g. signal.NotifyContext for
// SIGTERM), then stops taking tasks, waits up to Grace for the running ones
// and hands back the rest. It waits for the queue's stream when none holds
// the subject yet. ready (may be nil) is closed once it pulls.
func (w *Worker) Run(ctx context.Context, ready chan<- struct{}) error {
	if err := w.setup(ctx); err != nil {
		if ctx.Err() != nil {
			return nil // stopped before any stream appeared
		}
		return err
	}
	if ready != nil {
		close(ready)
	}
	w.logf("info: worker started queue=%s worker=%s", w.o.Queue, w.o.WorkerID)
	w.mu.Lock()
	w.pullLocked(false)
	w.mu.Unlock()
	reconnects := make(chan struct{}, 1)
	stopWatch := w.watchReconnects(reconnects)
	defer stopWatch()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			w.drain()
			return nil
		case <-reconnects: // the server forgot our open pulls
			w.mu.Lock()
			w.requests = map[string]pullRequest{}
			w.outstanding = 0
			w.pullLocked(false)
			w.mu.Unlock()
		case <-tick.C:
			w.mu.Lock()
			w.pullLocked(false)
			w.mu.Unlock()
		}
	}
}

func (w *Worker) watchReconnects(ch chan struct{}) func() {
	prev := w.nc.Opts.ReconnectedCB
	w.nc.SetReconnectHandler(func(nc *nats.Conn) {
		select {
		case ch <- struct{}{}:
		default:
		}
		if prev != nil {
			prev(nc)
		}
	})
	return func() { w.nc.SetReconnectHandler(prev) }
}

func (w *Worker) setup(ctx context.Context) error {
	subject := w.o.Prefix + ".task.created." + w.o.Queue
	stream, err := awaitStream(ctx, w.js, w.o.Stream, subject, w.logf)
	if err != nil {
		return err
	}
	ci, err := ensureConsumer(w.js, stream, w.durable, &nats.ConsumerConfig{
		FilterSubject: subject,
		AckWait:       w.o.AckWait,
		MaxAckPending: maxInt(1000, w.o.Concurrency),
	})
	if err != nil {
		return err
	}
	if ci.Config.AckWait > 0 {
		w.ackWait = ci.Config.AckWait
	}
	w.stream = stream
	if !w.o.NoClaim {
		w.claimInbox = w.nc.NewRespInbox()
		sub, err := w.nc.Subscribe(w.claimInbox+".*", w.onVerdict)
		if err != nil {
			return err
		}
		w.subs = append(w.subs, sub)
	}
	for _, s := range cancelSubjects {
		sub, err := w.nc.Subscribe(w.o.Prefix+"."+s, w.onCancel)
		if err != nil {
			w.unsubscribe()
			return err
		}
		w.subs = append(w.subs, sub)
	}
	w.inbox = w.nc.NewRespInbox()
	sub, err := w.nc.Subscribe(w.inbox+".*", w.onPulled)
	if err != nil {
		w.unsubscribe()
		return err
	}
	w.subs = append(w.subs, sub)
	return w.nc.Flush()
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func (w *Worker) unsubscribe() {
	for _, s := range w.subs {
		_ = s.Unsubscribe()
	}
	w.subs = nil
}

func (w *Worker) drain() {
	w.mu.Lock()
	w.stopping = true
	if w.lateTimer != nil {
		w.lateTimer.Stop()
	}
	idle := make(chan struct{})
	if len(w.running) == 0 {
		close(idle)
	} else {
		w.idle = idle
		w.logf("info: stopping: waiting for %d running tasks", len(w.running))
	}
	w.mu.Unlock()
	select {
	case <-idle:
	case <-time.After(w.o.Grace):
	}
	w.mu.Lock()
	for r := range w.running {
		w.abortLocked(r, ErrWorkerStopping)
		w.settleLocked(r, "-NAK")
		w.stats.HandedBack++
		w.logf("info: task handed back task_id=%s", r.task.TaskID)
	}
	w.mu.Unlock()
	w.unsubscribe()
	_ = w.nc.Flush()
	w.logf("info: worker stopped queue=%s", w.o.Queue)
}

// ---- pulling: only for free slots --------------------------------------------------

// pullLocked asks for the free slots; with only a few free and work in
// hand it waits 10 ms for more to free up, so that many tasks ending at
// once make one request, not one each.
func (w *Worker) pullLocked(late bool) {
	if w.stopping || w.inbox == "" {
		return
	}
	now := time.Now()
	for id, r := range w.requests {
		if now.Sub(r.at) > pullExpires+5*time.Second {
			delete(w.requests, id)
		}
	}
	if len(w.requests) == 0 { // every request we know of is over
		w.outstanding = 0
	}
	free := w.o.Concurrency - len(w.running) - w.outstanding
	if free <= 0 {
		return
	}
	threshold := maxInt(1, w.o.Concurrency/4)
	if !late && free < threshold && w.outstanding+len(w.running) > 0 {
		if w.lateTimer == nil {
			w.lateTimer = time.AfterFunc(10*time.Millisecond, func() {
				w.mu.Lock()
				w.lateTimer = nil
				w.pullLocked(true)
				w.mu.Unlock()
			})
		}
		return
	}
	w.reqSeq++
	id := strconv.Itoa(w.reqSeq)
	w.requests[id] = pullRequest{free, now}
	w.outstanding += free
	req, _ := json.Marshal(map[string]int64{"batch": int64(free), "expires": int64(pullExpires)})
	_ = w.nc.PublishRequest(fmt.Sprintf("$JS.API.CONSUMER.MSG.NEXT.%s.%s", w.stream, w.durable), w.inbox+"."+id, req)
}

// onPulled gets pulled messages (with their stream subject) and the
// requests' statuses (404/408/409, no body, on the request's own reply
// subject, with the messages it did not deliver in Nats-Pending-Messages).
func (w *Worker) onPulled(m *nats.Msg) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if status := m.Header.Get("Status"); status != "" && len(m.Data) == 0 && strings.HasPrefix(m.Subject, w.inbox) {
		if status != "100" {
			id := strings.TrimPrefix(m.Subject, w.inbox+".")
			left := w.requests[id].n
			if h := m.Header.Get("Nats-Pending-Messages"); h != "" {
				left, _ = strconv.Atoi(h)
			}
			if left > w.outstanding {
				left = w.outstanding
			}
			w.outstanding -= left
			delete(w.requests, id)
		}
		w.pullLocked(false)
		return
	}
	if w.outstanding > 0 {
		w.outstanding--
	}
	if m.Reply == "" {
		return
	}
	if w.stopping {
		_ = m.Respond([]byte("-NAK")) // pulled as we stopped: give it back at once
		return
	}
	t, why := parseTask(m)
	if t == nil {
		w.logf("warn: task.created refused, terminated: %s (subject %s)", why, m.Subject)
		_ = m.Respond([]byte("+TERM"))
		w.stats.Terminated++
		return
	}
	r := &running{msg: m, task: t, abandoned: make(chan struct{})}
	t.w, t.r = w, r
	w.running[r] = struct{}{}
	go w.runTask(r)
}

// ---- one task --------------------------------------------------------------------------

func (w *Worker) onCancel(m *nats.Msg) {
	var body struct {
		Payload *struct {
			TaskID     string `json:"task_id"`
			WorkflowID string `json:"workflow_id"`
			RunID      string `json:"run_id"`
		} `json:"payload"`
	}
	if json.Unmarshal(m.Data, &body) != nil || body.Payload == nil {
		return
	}
	p := body.Payload
	w.mu.Lock()
	defer w.mu.Unlock()
	for r := range w.running {
		hit := p.WorkflowID == r.task.WorkflowID && (p.RunID == "" || r.task.RunID == "" || p.RunID == r.task.RunID)
		if p.TaskID != "" {
			hit = p.TaskID == r.task.TaskID
		}
		if !hit || r.settled {
			continue
		}
		w.logf("info: task canceled by the engine task_id=%s workflow_id=%s", r.task.TaskID, r.task.WorkflowID)
		w.abortLocked(r, ErrTaskCanceled)
		w.settleLocked(r, "+ACK") // the engine closed the task: nothing to report
		w.stats.Canceled++
	}
}

func (w *Worker) abortLocked(r *running, reason error) {
	if r.reason == nil {
		r.reason = reason
	}
	if r.cancel != nil {
		r.cancel()
	}
}

func (w *Worker) settleLocked(r *running, verb string) bool {
	if r.settled {
		return false
	}
	r.settled = true
	_ = r.msg.Respond([]byte(verb))
	close(r.abandoned)
	return true
}

func (w *Worker) finish(r *running) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.running, r)
	if len(w.running) == 0 && w.idle != nil {
		close(w.idle)
		w.idle = nil
	}
	w.pullLocked(false)
}

type outcome struct {
	result interface{}
	err    error
}

func (w *Worker) runTask(r *running) {
	defer w.finish(r)
	t := r.task
	if !w.claim(r) {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	w.mu.Lock()
	r.cancel = cancel
	// the final report's startedHeader: the engine consumer holding this
	// task.started may not be the one the final report reaches
	t.startedAt = time.Now().UTC().Format("2006-01-02T15:04:05.000Z07:00")
	if r.reason != nil { // canceled while task.started was on its way
		cancel()
	}
	w.mu.Unlock()

	limit := w.o.Timeout
	if limit <= 0 {
		limit = time.Duration(t.Timeouts.StartToCloseMs) * time.Millisecond
	}
	var timeout <-chan time.Time
	if limit > 0 {
		tm := time.NewTimer(limit)
		defer tm.Stop()
		timeout = tm.C
	}
	period := w.o.Heartbeat
	if hb := time.Duration(t.Timeouts.HeartbeatMs) * time.Millisecond; hb > 0 && hb/3 < period {
		period = hb / 3
		if period < 100*time.Millisecond {
			period = 100 * time.Millisecond
		}
	}
	if w.ackWait/3 < period {
		period = w.ackWait / 3
	}
	beats := time.NewTicker(period)
	defer beats.Stop()

	done := make(chan outcome, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- outcome{err: &TaskError{Type: "panic", Message: fmt.Sprint(p)}}
			}
		}()
		res, err := w.o.Handler(ctx, t)
		done <- outcome{res, err}
	}()
	for {
		select {
		case o := <-done:
			w.reportEnd(r, o)
			return
		case <-beats.C:
			_ = w.beat(context.Background(), t, nil)
		case <-timeout:
			w.mu.Lock()
			w.abortLocked(r, ErrTaskTimedOut)
			w.mu.Unlock()
			w.reportEnd(r, outcome{err: &TaskError{Type: "timeout", Message: fmt.Sprintf("handler did not finish within %v", limit)}})
			return
		case <-r.abandoned: // canceled or handed back meanwhile
			return
		}
	}
}

// claim publishes task.started and, unless NoClaim, waits for the engine's
// verdict: true runs the task. Otherwise the message is settled here: acked
// when the engine says the task must not run, handed back with a delay
// without an answer to any of claimTries asks (or "duplicate": asked again
// on the next delivery).
func (w *Worker) claim(r *running) bool {
	t := r.task
	if w.claimInbox == "" {
		if w.publishReport(t, "task.started", claimKind(t.Deliveries, 0), nil, 3) {
			return true
		}
		w.mu.Lock()
		w.settleLocked(r, `-NAK {"delay": 1000000000}`)
		w.mu.Unlock()
		return false
	}
	// one inbox and one verdict for all the asks: a late answer to an
	// earlier ask is as good as one to the last
	w.mu.Lock()
	w.claimSeq++
	key := strconv.Itoa(w.claimSeq)
	c := &claim{taskID: t.TaskID, attempt: t.Attempt, verdict: make(chan string, 1)}
	w.claims[key] = c
	w.mu.Unlock()
	defer func() {
		w.mu.Lock()
		delete(w.claims, key)
		w.mu.Unlock()
	}()
	v, ok := w.ask(r, c, w.claimInbox+"."+key)
	if !ok { // canceled meanwhile
		return false
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch {
	case r.settled:
		return false
	case v == "run":
		return true
	case v != "" && v != "duplicate":
		w.logf("info: task not run: the engine says it is over task_id=%s workflow_id=%s verdict=%s", t.TaskID, t.WorkflowID, v)
		w.settleLocked(r, "+ACK")
		w.stats.NotRun++
	default:
		w.logf("warn: no answer from the engine to task.started, handed back task_id=%s workflow_id=%s", t.TaskID, t.WorkflowID)
		w.settleLocked(r, `-NAK {"delay": 5000000000}`)
	}
	return false
}

// claimTries is how many times the claim check asks before the task is
// handed back (worker_task.c's CLAIM_TRIES).
const claimTries = 3

// claimKind is the message id kind of task.started for ask `ask` (0 the
// first) of delivery `deliveries`, as worker_task.c's claim_id: "started",
// "started.1", "started.2"; on a redelivery "started:<n>", "started:<n>.1",
// .... Each ask needs an id of its own, or the stream drops it as a
// duplicate of the one before and the engine never answers it.
func claimKind(deliveries, ask int) string {
	kind := "started"
	if deliveries > 1 {
		kind = fmt.Sprintf("started:%d", deliveries)
	}
	if ask > 0 {
		kind += fmt.Sprintf(".%d", ask)
	}
	return kind
}

// ask asks the engine (task.started with claimHeader replyTo) and waits up
// to ClaimWait for its verdict, up to claimTries times, as worker_task.c's
// claim: without an answer (or without a PubAck) it asks again itself, the
// message kept in progress, so that a verdict lost while NATS restarted
// (core NATS, at most once) is asked for again at once: a NAK's redelivery
// was seen never to come back from nats-server 2.9 after its restart. ""
// without an answer to any ask; false when the task was settled meanwhile.
func (w *Worker) ask(r *running, c *claim, replyTo string) (string, bool) {
	wait := w.o.ClaimWait
	if wait <= 0 {
		wait = 10 * time.Second
	}
	if wait > w.ackWait/2 {
		wait = w.ackWait / 2
	}
	t := r.task
	for ask := 0; ask < claimTries; ask++ {
		if ask > 0 && !w.inProgress(r) { // the wait is at most half of ack_wait: restart its clock
			return "", false
		}
		if !w.publishReportTo(context.Background(), t, "task.started", claimKind(t.Deliveries, ask), nil, 3, replyTo) {
			continue
		}
		tm := time.NewTimer(wait)
		select {
		case v := <-c.verdict:
			tm.Stop()
			return v, true
		case <-tm.C:
		case <-r.abandoned:
			tm.Stop()
			return "", false
		}
	}
	return "", true
}

// inProgress tells JetStream the message is still being worked on (+WPI),
// which restarts its ack_wait; false when the message is settled already.
func (w *Worker) inProgress(r *running) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r.settled {
		return false
	}
	_ = r.msg.Respond([]byte("+WPI"))
	return true
}

func (w *Worker) onVerdict(m *nats.Msg) {
	var a struct {
		TaskID  string `json:"task_id"`
		Attempt int64  `json:"attempt"`
		Verdict string `json:"verdict"`
	}
	if json.Unmarshal(m.Data, &a) != nil || !verdicts[a.Verdict] {
		return
	}
	w.mu.Lock()
	c := w.claims[strings.TrimPrefix(m.Subject, w.claimInbox+".")]
	w.mu.Unlock()
	if c != nil && c.taskID == a.TaskID && c.attempt == a.Attempt {
		select {
		case c.verdict <- a.Verdict:
		default:
		}
	}
}

func (w *Worker) beat(ctx context.Context, t *Task, details interface{}) error {
	w.mu.Lock()
	r := t.r
	if r.settled {
		w.mu.Unlock()
		return nil
	}
	r.heartbeats++
	kind := fmt.Sprintf("heartbeat:%d", r.heartbeats)
	w.mu.Unlock()
	var extra map[string]interface{}
	if details != nil {
		extra = map[string]interface{}{"details": details}
	}
	if !w.publishReportCtx(ctx, t, "task.heartbeat", kind, extra, 1) {
		return fmt.Errorf("switchyard: heartbeat %s not published", kind)
	}
	w.mu.Lock()
	if !r.settled {
		_ = r.msg.Respond([]byte("+WPI")) // keeps JetStream from redelivering meanwhile
	}
	w.mu.Unlock()
	return nil
}

// errorReport is the report's error object for what a handler returned.
func errorReport(err error) map[string]interface{} {
	e := map[string]interface{}{"type": "error", "message": err.Error(), "retryable": true}
	var te *TaskError
	if errors.As(err, &te) {
		e["type"], e["message"], e["retryable"] = te.Type, te.Message, !te.NonRetryable
		if te.Details != nil {
			e["details"] = te.Details
		}
	}
	e["type"] = errorType(e["type"].(string))
	if m := e["message"].(string); len(m) > 65536 {
		e["message"] = m[:65536]
	}
	return e
}

var badTypeChars = regexp.MustCompile(`[^A-Za-z0-9_.:-]`)

// errorType cuts an error type to what the engine accepts: 1-64 of [A-Za-z0-9_.:-].
func errorType(t string) string {
	t = badTypeChars.ReplaceAllString(t, "_")
	if len(t) > 64 {
		t = t[:64]
	}
	if t == "" {
		return "error"
	}
	return t
}

func (w *Worker) reportEnd(r *running, o outcome) {
	kind, extra := "completed", map[string]interface{}{"result": o.result}
	if o.err != nil {
		kind, extra = "failed", map[string]interface{}{"error": errorReport(o.err)}
	} else if _, err := json.Marshal(o.result); err != nil {
		// a result JSON cannot carry: no retry can fix it
		kind, extra = "failed", map[string]interface{}{"error": map[string]interface{}{
			"type": "bad_result", "message": "the result is not JSON: " + err.Error(), "retryable": false}}
	}
	w.mu.Lock()
	settled := r.settled
	w.mu.Unlock()
	if settled {
		return
	}
	ok := w.publishReport(r.task, "task."+kind, kind, extra, 5)
	w.mu.Lock()
	defer w.mu.Unlock()
	if !ok {
		w.settleLocked(r, `-NAK {"delay": 1000000000}`)
		return
	}
	if w.settleLocked(r, "+ACK") {
		if kind == "completed" {
			w.stats.Completed++
		} else {
			w.stats.Failed++
		}
	}
}

func (w *Worker) publishReport(t *Task, typ, kind string, extra map[string]interface{}, tries int) bool {
	return w.publishReportCtx(context.Background(), t, typ, kind, extra, tries)
}

// publishReportCtx publishes a report and waits for its PubAck; tries
// `tries` times, 500 ms apart.
func (w *Worker) publishReportCtx(ctx context.Context, t *Task, typ, kind string, extra map[string]interface{}, tries int) bool {
	return w.publishReportTo(ctx, t, typ, kind, extra, tries, "")
}

// publishReportTo: replyTo (may be "") is the claim check's inbox (claimHeader).
func (w *Worker) publishReportTo(ctx context.Context, t *Task, typ, kind string, extra map[string]interface{}, tries int, replyTo string) bool {
	rep := map[string]interface{}{"type": typ, "task_id": t.TaskID, "attempt": t.Attempt,
		"queue": w.o.Queue, "worker": w.o.WorkerID, "occurred_at": time.Now().UTC().Format("2006-01-02T15:04:05.000Z")}
	if t.WorkflowID != "" {
		rep["workflow_id"] = t.WorkflowID
	}
	if t.RunID != "" {
		rep["run_id"] = t.RunID
	}
	for k, v := range extra {
		rep[k] = v
	}
	body, err := json.Marshal(rep)
	if err != nil {
		w.logf("warn: report not JSON task_id=%s: %v", t.TaskID, err)
		return false
	}
	id := fmt.Sprintf("%s:%d:%s", t.TaskID, t.Attempt, kind)
	for i := 0; i < tries; i++ {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		msg := nats.NewMsg(w.report)
		msg.Data = body
		if replyTo != "" {
			msg.Header.Set(claimHeader, replyTo)
		}
		if t.startedAt != "" && (typ == "task.completed" || typ == "task.failed") {
			msg.Header.Set(startedHeader, t.startedAt)
		}
		if t.Traceparent != "" { // the attempt's span: the report's parent (docs/worker-protocol.md)
			msg.Header.Set("traceparent", t.Traceparent)
		}
		_, err = w.js.PublishMsg(msg, nats.MsgId(id), nats.Context(pctx))
		cancel()
		if err == nil {
			return true
		}
		if i+1 < tries {
			time.Sleep(500 * time.Millisecond)
		}
	}
	w.logf("warn: report not published task_id=%s msg_id=%s: %v", t.TaskID, id, err)
	return false
}

// parseTask reads a task.created envelope (or a bare payload), as
// worker_task.c's parse_task; nil and why when it can never be run.
func parseTask(m *nats.Msg) (*Task, string) {
	var body map[string]json.RawMessage
	if err := json.Unmarshal(m.Data, &body); err != nil || body == nil {
		return nil, "body is not a JSON object"
	}
	p := body
	var inner map[string]json.RawMessage
	if raw, ok := body["payload"]; ok && json.Unmarshal(raw, &inner) == nil && inner != nil {
		p = inner
	}
	var t Task
	if json.Unmarshal(p["task_id"], &t.TaskID) != nil || t.TaskID == "" || len(t.TaskID) >= 128 {
		return nil, "payload.task_id must be a non-empty string shorter than 128 bytes"
	}
	var att float64
	if json.Unmarshal(p["attempt"], &att) != nil || att < 1 || att > 1e9 {
		return nil, "payload.attempt must be an integer >= 1"
	}
	t.Attempt = int64(att)
	str := func(k string, dst *string, cap int) bool {
		raw, ok := p[k]
		return !ok || json.Unmarshal(raw, dst) == nil && len(*dst) < cap
	}
	if !str("workflow_id", &t.WorkflowID, 256) || !str("run_id", &t.RunID, 128) {
		return nil, "payload.workflow_id / run_id / trace_id must be strings"
	}
	var human bool
	if json.Unmarshal(p["human"], &human) == nil && human {
		return nil, "a human task: completed by a person, never by a worker"
	}
	_ = json.Unmarshal(p["workflow_type"], &t.WorkflowType)
	_ = json.Unmarshal(p["task"], &t.Name)
	_ = json.Unmarshal(p["queue"], &t.Queue)
	if raw, ok := p["timeouts"]; ok {
		_ = json.Unmarshal(raw, &t.Timeouts)
	} else {
		_ = json.Unmarshal(m.Data, &t.Timeouts)
	}
	t.Input = p["input"]
	if len(t.Input) == 0 {
		t.Input = json.RawMessage("{}")
	}
	var trace string
	if json.Unmarshal(body["trace_id"], &trace) == nil && len(trace) == 32 {
		t.TraceID = trace
		t.Traceparent = FormatTraceparent(trace)
	}
	t.Deliveries = deliveryCount(m.Reply)
	t.Event = json.RawMessage(m.Data)
	return &t, ""
}

// deliveryCount reads the delivery count from a $JS.ACK reply subject.
func deliveryCount(reply string) int {
	t := strings.Split(reply, ".")
	if len(t) < 9 || t[0] != "$JS" || t[1] != "ACK" {
		return 0
	}
	i := 6
	if len(t) == 9 {
		i = 4
	}
	n, _ := strconv.Atoi(t[i])
	return n
}
