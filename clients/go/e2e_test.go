package switchyard_test

// e2e_test.go: the client against a real `switchyard serve`, nats-server
// -js and Postgres (switchyard testenv): events published by the client
// start workflows, the client's worker runs their tasks (retries, a
// non-retryable error, cancellation, tasks of closed workflows never
// started, a claim nobody answers asked three times then handed back, a
// graceful stop, a stopped and a
// killed worker process), signed events are accepted and tampered ones
// dead-lettered, and the outcome consumer receives workflow.completed.

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	sy "github.com/switchyard/switchyard/clients/go"
)

const rules = `version: 1
routes:
  - name: order
    match: { type: order.created }
    start:
      workflow: order
      id: "order-{{ payload.order_id }}"
      input: { order_id: "{{ payload.order_id }}", mode: "{{ payload.mode }}" }
  - name: hold
    match: { type: order.hold }
    start:
      workflow: holdable
      id: "hold-{{ payload.order_id }}"
      input: { order_id: "{{ payload.order_id }}" }
  - name: later
    match: { type: order.later }
    start:
      workflow: later
      id: "later-{{ payload.order_id }}"
      input: { order_id: "{{ payload.order_id }}" }
workflows:
  later:
    task_queue: later
    steps:
      - task: ship
        input: { order_id: "{{ input.order_id }}" }
  order:
    task_queue: orders
    steps:
      - task: charge
        input: { order_id: "{{ input.order_id }}", mode: "{{ input.mode }}" }
        retry: { initial_interval: 100ms, backoff: 1.0, maximum_interval: 100ms, maximum_attempts: 3, non_retryable: [bad_input] }
        timeouts: { start_to_close: 1m, heartbeat: 2s }
  holdable:
    task_queue: hold
    steps:
      - task: charge
        input: { order_id: "{{ input.order_id }}", mode: hold }
        retry: { initial_interval: 100ms, backoff: 1.0, maximum_interval: 100ms, maximum_attempts: 3 }
        timeouts: { start_to_close: 1m, heartbeat: 1500ms }
`

var (
	svc       *service
	pub       *sy.Publisher
	keyPrefix string
	handled   sync.Map // order_id -> chan error (the abort reason), for the cancel test
)

type orderInput struct {
	OrderID string `json:"order_id"`
	Mode    string `json:"mode"`
}

func handler(ctx context.Context, t *sy.Task) (interface{}, error) {
	var in orderInput
	if err := t.DecodeInput(&in); err != nil {
		return nil, sy.NonRetryable("bad_input", err.Error())
	}
	switch in.Mode {
	case "flaky":
		if t.Attempt < 2 {
			return nil, errors.New("the payment service is down")
		}
	case "bad":
		return nil, sy.NonRetryable("bad_input", "order "+in.OrderID+" has no items")
	case "wait":
		ch, _ := handled.LoadOrStore(in.OrderID, make(chan error, 1))
		<-ctx.Done()
		ch.(chan error) <- t.AbortReason()
		return "ignored: canceled", nil
	case "progress":
		if err := t.Heartbeat(ctx, map[string]int{"done": 1, "of": 2}); err != nil {
			return nil, err
		}
	}
	return map[string]interface{}{"charged": in.OrderID, "attempt": t.Attempt}, nil
}

// TestMain: one service for the whole file; a worker helper process when
// run as one (the kill and stop tests start this binary again).
func TestMain(m *testing.M) {
	if os.Getenv("SY_GO_WORKER_PROC") != "" {
		workerProc()
		return
	}
	os.Exit(func() int {
		t := panicker{}
		dir, err := os.MkdirTemp("", "sy-cgo-key-")
		if err != nil {
			panic(err)
		}
		keyPrefix = filepath.Join(dir, "go-key")
		if out, err := exec.Command(switchyardBin(), "keygen", "--id", "go-client", "--out", keyPrefix).CombinedOutput(); err != nil {
			panic(fmt.Sprintf("keygen: %v: %s", err, out))
		}
		pubLine, _ := os.ReadFile(keyPrefix + ".pub")
		if os.Getenv("SY_TEST_NATS_URL") == "" {
			fmt.Println("the end-to-end tests need `switchyard testenv`")
			return 1
		}
		svc = startService(t, "cgo", rules, string(pubLine)+"require-signature signed-*\n")
		defer svc.stop()
		if pub, err = sy.NewPublisher(svc.nc, sy.PublisherOptions{Source: "shop"}); err != nil {
			panic(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		w, err := sy.NewWorker(svc.nc, sy.WorkerOptions{Queue: "orders", Prefix: svc.prefix, Concurrency: 8, Handler: handler})
		if err != nil {
			panic(err)
		}
		ready, done := make(chan struct{}), make(chan error, 1)
		go func() { done <- w.Run(ctx, ready) }()
		<-ready
		rc := m.Run()
		cancel()
		<-done
		return rc
	}())
}

// workerProc is a worker process for the tests that stop or kill one: it
// prints "holding" when a hold task starts on attempt 1, and holds it. One
// slot: once it holds its task it has no pull open, so a stopped process
// cannot swallow the next attempt (a pull request stays open in the server
// while the process is frozen, and what it delivers waits out ack_wait).
func workerProc() {
	nc, err := nats.Connect(os.Getenv("SY_TEST_NATS_URL"))
	if err != nil {
		panic(err)
	}
	w, err := sy.NewWorker(nc, sy.WorkerOptions{Queue: "hold", Prefix: os.Getenv("SY_GO_WORKER_PROC"), Concurrency: 1,
		AckWait: 3 * time.Second, Grace: 500 * time.Millisecond,
		Handler: func(ctx context.Context, t *sy.Task) (interface{}, error) {
			if t.Attempt == 1 {
				fmt.Printf("holding %s\n", t.TaskID)
				<-ctx.Done()
			}
			return map[string]interface{}{"by": "worker-proc", "attempt": t.Attempt}, nil
		}})
	if err != nil {
		panic(err)
	}
	ready := make(chan struct{})
	go func() { <-ready; fmt.Println("ready") }()
	_ = w.Run(context.Background(), ready)
}

func order(t *testing.T, id, mode string, mod func(*sy.Event)) *sy.PublishResult {
	t.Helper()
	ev := sy.Event{Type: "order.created", Subject: "order-" + id, Payload: orderInput{id, mode}}
	if mod != nil {
		mod(&ev)
	}
	r, err := pub.Publish(context.Background(), svc.events, ev)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func check(t *testing.T, what string, got, want interface{}) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("%s: got %v, want %v", what, got, want)
	}
}

func TestPublishedEventIsRunByTheWorkerAndTheOutcomeConsumerGetsWorkflowCompleted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var mu sync.Mutex
	got := map[string]*sy.OutcomeEvent{}
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() {
		done <- sy.ConsumeOutcomes(ctx, svc.nc, sy.OutcomeConsumerOptions{Durable: "cgo-test-outcomes", Prefix: svc.prefix, Ready: ready,
			Types: []string{sy.WorkflowStarted, sy.WorkflowCompleted}},
			func(_ context.Context, ev *sy.OutcomeEvent, _ sy.OutcomeInfo) error {
				mu.Lock()
				got[ev.Type+" "+ev.Subject] = ev
				mu.Unlock()
				return nil
			})
	}()
	defer func() { cancel(); <-done }()
	<-ready
	r := order(t, "1", "ok", func(e *sy.Event) { e.Traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01" })
	check(t, "trace", r.TraceID, "0af7651916cd43dd8448eb211c80319c")
	check(t, "status", svc.waitClosed(t, "order-1", 30*time.Second), "completed")
	check(t, "result", svc.result(t, "order-1"), map[string]interface{}{"charged": "1", "attempt": 1.0})
	var completed, started *sy.OutcomeEvent
	waitFor(t, "workflow.completed", 20*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		completed, started = got[sy.WorkflowCompleted+" order-1"], got[sy.WorkflowStarted+" order-1"]
		return completed != nil && started != nil
	})
	p, err := completed.Outcome()
	if err != nil {
		t.Fatal(err)
	}
	check(t, "workflow_id", p.WorkflowID, "order-1")
	check(t, "result", string(p.Result), `{"attempt":1,"charged":"1"}`)
	check(t, "trace_id", completed.TraceID, "0af7651916cd43dd8448eb211c80319c")
	sp, _ := started.Outcome()
	check(t, "causation_id", *sp.CausationID, r.EventID)
}

func TestTheSameEventIDAgainIsADuplicate(t *testing.T) {
	id := func(e *sy.Event) { e.EventID = "0190a7b2-0000-7000-8000-0000000000a1" }
	a, b := order(t, "dup", "ok", id), order(t, "dup", "ok", id)
	check(t, "duplicates", []bool{a.Duplicate, b.Duplicate}, []bool{false, true})
	check(t, "seq", a.Seq, b.Seq)
	check(t, "status", svc.waitClosed(t, "order-dup", 30*time.Second), "completed")
}

func TestAFailingHandlerIsRetriedPerThePolicy(t *testing.T) {
	order(t, "flaky", "flaky", nil)
	check(t, "status", svc.waitClosed(t, "order-flaky", 30*time.Second), "completed")
	check(t, "result", svc.result(t, "order-flaky")["attempt"], 2.0)
	check(t, "failures", svc.history(t, "order-flaky", "task.failed"), "1")
}

func TestANonRetryableErrorFailsTheRun(t *testing.T) {
	order(t, "bad", "bad", nil)
	check(t, "status", svc.waitClosed(t, "order-bad", 30*time.Second), "failed")
	check(t, "failures", svc.history(t, "order-bad", "task.failed"), "1")
}

func TestHeartbeatWithDetails(t *testing.T) {
	order(t, "progress", "progress", nil)
	check(t, "status", svc.waitClosed(t, "order-progress", 30*time.Second), "completed")
}

func TestCancelCancelsTheHandlersContext(t *testing.T) {
	ch, _ := handled.LoadOrStore("cancel", make(chan error, 1))
	order(t, "cancel", "wait", nil)
	waitFor(t, "the task to start", 20*time.Second, func() bool { return svc.history(t, "order-cancel", "task.started") == "1" })
	cli(t, "workflow", "cancel", "order-cancel", "--db", svc.db, "--subject-prefix", svc.prefix)
	select {
	case reason := <-ch.(chan error):
		if !errors.Is(reason, sy.ErrTaskCanceled) {
			t.Errorf("abort reason %v", reason)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the handler's context was not canceled")
	}
	check(t, "status", svc.waitClosed(t, "order-cancel", 30*time.Second), "canceled")
	time.Sleep(300 * time.Millisecond)
	check(t, "completions", svc.history(t, "order-cancel", "task.completed"), "0")
}

func TestAGracefulStopFinishesTheRunningTask(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	w, err := sy.NewWorker(svc.nc, sy.WorkerOptions{Queue: "hold", Prefix: svc.prefix,
		Handler: func(ctx context.Context, t *sy.Task) (interface{}, error) {
			started <- struct{}{}
			<-release
			return map[string]interface{}{"by": "graceful", "attempt": t.Attempt}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- w.Run(ctx, ready) }()
	<-ready
	if _, err := pub.Publish(context.Background(), svc.events, sy.Event{Type: "order.hold", Payload: map[string]string{"order_id": "g1"}}); err != nil {
		t.Fatal(err)
	}
	<-started
	stop() // as SIGTERM through signal.NotifyContext
	time.Sleep(200 * time.Millisecond)
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	check(t, "status", svc.waitClosed(t, "hold-g1", 30*time.Second), "completed")
	check(t, "result", svc.result(t, "hold-g1")["by"], "graceful")
	check(t, "stats", w.Stats().Completed, 1)
}

// startWorkerProc starts this test binary as a worker process and waits
// until it pulls.
func startWorkerProc(t *testing.T) (*exec.Cmd, *bufio.Scanner) {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SY_GO_WORKER_PROC="+svc.prefix)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	waitLine(t, sc, "ready")
	return cmd, sc
}

func waitLine(t *testing.T, sc *bufio.Scanner, prefix string) {
	t.Helper()
	found := make(chan bool, 1)
	go func() {
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), prefix) {
				found <- true
				return
			}
		}
		found <- false
	}()
	select {
	case ok := <-found:
		if !ok {
			t.Fatalf("the worker process ended before %q", prefix)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("the worker process did not print %q", prefix)
	}
}

// finishHold runs a worker in this process until the hold workflow closes.
func finishHold(t *testing.T, id string) {
	ctx, stop := context.WithCancel(context.Background())
	w, _ := sy.NewWorker(svc.nc, sy.WorkerOptions{Queue: "hold", Prefix: svc.prefix,
		Handler: func(ctx context.Context, t *sy.Task) (interface{}, error) {
			return map[string]interface{}{"by": "w2", "attempt": t.Attempt}, nil
		}})
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx, nil) }()
	defer func() { stop(); <-done }()
	check(t, "status", svc.waitClosed(t, id, 40*time.Second), "completed")
}

func TestAStoppedWorkerMissesItsHeartbeatsAndTheNextAttemptCompletes(t *testing.T) {
	cmd, sc := startWorkerProc(t)
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	if _, err := pub.Publish(context.Background(), svc.events, sy.Event{Type: "order.hold", Payload: map[string]string{"order_id": "s1"}}); err != nil {
		t.Fatal(err)
	}
	waitLine(t, sc, "holding")
	_ = cmd.Process.Signal(syscall.SIGSTOP) // alive, holding the task, sending nothing
	finishHold(t, "hold-s1")
	_ = cmd.Process.Signal(syscall.SIGCONT)
	check(t, "timeouts", svc.history(t, "hold-s1", "task.timed_out"), "1")
	check(t, "result", svc.result(t, "hold-s1")["attempt"], 2.0)
}

func TestKill9MidTaskLosesNothingAndTheTaskCompletesOnce(t *testing.T) {
	cmd, sc := startWorkerProc(t)
	if _, err := pub.Publish(context.Background(), svc.events, sy.Event{Type: "order.hold", Payload: map[string]string{"order_id": "k1"}}); err != nil {
		t.Fatal(err)
	}
	waitLine(t, sc, "holding")
	_ = cmd.Process.Kill()
	_ = cmd.Wait()
	// the next attempt (the heartbeat timeout fired) and the redelivered
	// first one (its report ignored) both go to the worker in this process
	finishHold(t, "hold-k1")
	check(t, "completions", svc.history(t, "hold-k1", "task.completed"), "1")
	check(t, "timeouts", svc.history(t, "hold-k1", "task.timed_out"), "1")
	check(t, "by", svc.result(t, "hold-k1")["by"], "w2")
}

// A task queued while no worker runs, whose workflow is canceled or
// terminated meanwhile, is never started (the claim check): the engine
// answers its task.started "closed" and the worker acks it unrun.
func TestTasksOfWorkflowsClosedWhileQueuedAreNeverStarted(t *testing.T) {
	later := func(id string) {
		if _, err := pub.Publish(context.Background(), svc.events, sy.Event{Type: "order.later", Payload: map[string]string{"order_id": id}}); err != nil {
			t.Fatal(err)
		}
	}
	later("canceled")
	later("terminated")
	waitFor(t, "both runs", 20*time.Second, func() bool {
		return svc.status(t, "later-canceled") != "" && svc.status(t, "later-terminated") != ""
	})
	// their task.created are in the stream before the runs close
	waitFor(t, "the outbox to drain", 20*time.Second, func() bool { return psql(t, svc.db, "SELECT count(*) FROM switchyard.outbox") == "0" })
	cli(t, "workflow", "cancel", "later-canceled", "--db", svc.db, "--subject-prefix", svc.prefix)
	cli(t, "workflow", "terminate", "later-terminated", "--db", svc.db, "--subject-prefix", svc.prefix)
	check(t, "canceled", svc.waitClosed(t, "later-canceled", 30*time.Second), "canceled")
	check(t, "terminated", svc.waitClosed(t, "later-terminated", 30*time.Second), "terminated")
	var mu sync.Mutex
	var ran []string
	w, err := sy.NewWorker(svc.nc, sy.WorkerOptions{Queue: "later", Prefix: svc.prefix, Concurrency: 4,
		Handler: func(ctx context.Context, t *sy.Task) (interface{}, error) {
			mu.Lock()
			ran = append(ran, t.WorkflowID)
			mu.Unlock()
			return nil, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- w.Run(ctx, ready) }()
	defer func() { stop(); <-done }()
	<-ready
	later("open")
	check(t, "open", svc.waitClosed(t, "later-open", 30*time.Second), "completed")
	waitFor(t, "both closed tasks acked unrun", 20*time.Second, func() bool { return w.Stats().NotRun == 2 })
	mu.Lock()
	check(t, "ran", ran, []string{"later-open"})
	mu.Unlock()
}

// TestWithoutAVerdictTheClaimIsAskedThreeTimesThenHandedBack: a queue on a
// stream of its own that no switchyard serve reads, so nobody answers
// task.started. The worker asks three times (each ask with a message id of
// its own), never runs the task and hands it back; the redelivery asks
// again with the delivery count in its id.
func TestWithoutAVerdictTheClaimIsAskedThreeTimesThenHandedBack(t *testing.T) {
	const prefix, queue = "claimgo", "unanswered"
	js, err := svc.nc.JetStream()
	if err != nil {
		t.Fatal(err)
	}
	_ = js.DeleteStream("CLAIMGO")
	if _, err := js.AddStream(&nats.StreamConfig{Name: "CLAIMGO", Subjects: []string{prefix + ".>"}, Storage: nats.MemoryStorage}); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = js.DeleteStream("CLAIMGO") }()

	type ask struct {
		id, replyTo string
		at          time.Time
	}
	var mu sync.Mutex
	var asks []ask
	sub, err := svc.nc.Subscribe(prefix+".report."+queue, func(m *nats.Msg) {
		if strings.Contains(string(m.Data), `"type":"task.started"`) {
			mu.Lock()
			asks = append(asks, ask{m.Header.Get("Nats-Msg-Id"), m.Header.Get("Sy-Reply-To"), time.Now()})
			mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()

	var ran sync.Map
	w, err := sy.NewWorker(svc.nc, sy.WorkerOptions{Queue: queue, Prefix: prefix, ClaimWait: 300 * time.Millisecond,
		Handler: func(ctx context.Context, t *sy.Task) (interface{}, error) {
			ran.Store(t.TaskID, true)
			return nil, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- w.Run(ctx, ready) }()
	defer func() { stop(); <-done }()
	<-ready

	taskID := fmt.Sprintf("claim-%d:0", time.Now().UnixNano())
	body := fmt.Sprintf(`{"type":"task.created","payload":{"task_id":%q,"attempt":1,"workflow_id":"claim-wf","run_id":"claim-run","queue":%q,"task":"ship","input":{}}}`,
		taskID, queue)
	if _, err := js.Publish(prefix+".task.created."+queue, []byte(body)); err != nil {
		t.Fatal(err)
	}
	redelivered := taskID + ":1:started:2"
	waitFor(t, "the redelivery's task.started", 30*time.Second, func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, a := range asks {
			if a.id == redelivered {
				return true
			}
		}
		return false
	})
	mu.Lock()
	defer mu.Unlock()
	var ids []string
	for _, a := range asks {
		ids = append(ids, a.id)
	}
	want := []string{taskID + ":1:started", taskID + ":1:started.1", taskID + ":1:started.2", redelivered}
	if len(ids) < len(want) || fmt.Sprint(ids[:len(want)]) != fmt.Sprint(want) {
		t.Fatalf("task.started ids: got %v, want %v first", ids, want)
	}
	for i, a := range asks[:len(want)] {
		if !strings.HasPrefix(a.replyTo, "_INBOX.") {
			t.Errorf("ask %s: Sy-Reply-To %q", a.id, a.replyTo)
		}
		if i > 0 && i < 3 && a.at.Sub(asks[i-1].at) < 250*time.Millisecond {
			t.Errorf("ask %s came %v after the one before: it did not wait for the verdict", a.id, a.at.Sub(asks[i-1].at))
		}
	}
	// handed back with its 5 s delay after the third ask, not before it
	if gap := asks[3].at.Sub(asks[2].at); gap < 4*time.Second {
		t.Errorf("redelivered %v after the third ask, want the hand-back's 5 s delay", gap)
	}
	if _, ok := ran.Load(taskID); ok {
		t.Errorf("the handler ran a task the engine never said to run")
	}
}

func TestASignedEventIsAcceptedAndATamperedOneDeadLettered(t *testing.T) {
	signed, err := sy.NewPublisher(svc.nc, sy.PublisherOptions{Source: "signed-shop", KeyFile: keyPrefix + ".key"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := signed.Publish(context.Background(), svc.events, sy.Event{Type: "order.created", Payload: orderInput{"signed", "ok"}}); err != nil {
		t.Fatal(err)
	}
	check(t, "status", svc.waitClosed(t, "order-signed", 30*time.Second), "completed")

	// a valid signature of other bytes than those sent
	key, err := sy.LoadSigningKey(keyPrefix + ".key")
	if err != nil {
		t.Fatal(err)
	}
	env, err := signed.Envelope(sy.Event{Type: "order.created", Payload: orderInput{"tampered", "ok"}})
	if err != nil {
		t.Fatal(err)
	}
	msg := nats.NewMsg(svc.events)
	msg.Data = env.Encode()
	msg.Header.Set("Sy-Key-Id", key.KeyID)
	msg.Header.Set("Sy-Signature", key.Sign(append(env.Encode(), ' ')))
	js, _ := svc.nc.JetStream()
	if _, err := js.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the dead letter", 20*time.Second, func() bool { return svc.deadLetter(t, env.EventID) != "" })
	check(t, "code", svc.deadLetter(t, env.EventID), "bad_signature")
	check(t, "run", svc.status(t, "order-tampered"), "")

	u, err := pub.Publish(context.Background(), svc.events, sy.Event{Type: "order.created", Source: "signed-shop", Payload: orderInput{"unsigned", "ok"}})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the dead letter", 20*time.Second, func() bool { return svc.deadLetter(t, u.EventID) != "" })
	check(t, "code", svc.deadLetter(t, u.EventID), "unsigned")
}

func TestTheKeyFileMustBePrivate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "k")
	cli(t, "keygen", "--id", "k", "--out", p)
	if err := os.Chmod(p+".key", 0o640); err != nil {
		t.Fatal(err)
	}
	var ke *sy.KeyFileError
	if _, err := sy.LoadSigningKey(p + ".key"); !errors.As(err, &ke) || !strings.Contains(ke.Message, "chmod 600") {
		t.Fatalf("got %v", err)
	}
}
