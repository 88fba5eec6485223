// Command go-worker is a worker for the gap-drain queue of
// examples/rules.yaml with the switchyard Go client (clients/go), the Go
// twin of `switchyard worker --queue gap-drain -- examples/drain.sh`.
//
//	NATS_URL=nats://127.0.0.1:4222 go-worker
//
// SIGTERM or SIGINT: no new tasks, running ones finish (30 s), then exit.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	sy "github.com/switchyard/switchyard/clients/go"
)

type drainInput struct {
	GapID string `json:"gap_id"`
}

func drain(ctx context.Context, t *sy.Task) (interface{}, error) {
	var in drainInput
	if err := t.DecodeInput(&in); err != nil || in.GapID == "" {
		return nil, sy.NonRetryable("bad_input", "no gap_id") // the step's non_retryable
	}
	for page := 1; page <= 3; page++ {
		select {
		case <-ctx.Done(): // canceled, timed out or handed back: t.AbortReason() says which
			return nil, t.AbortReason()
		case <-time.After(100 * time.Millisecond): // a page of real work
		}
		// progress, for the UI and the heartbeat timeout
		if err := t.Heartbeat(ctx, map[string]int{"page": page, "of": 3}); err != nil {
			return nil, err
		}
	}
	return map[string]interface{}{"drained": true, "gap_id": in.GapID, "attempt": t.Attempt}, nil
}

func main() {
	url := os.Getenv("NATS_URL")
	if url == "" {
		url = nats.DefaultURL
	}
	nc, err := nats.Connect(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-worker:", err)
		os.Exit(69)
	}
	defer nc.Close()
	w, err := sy.NewWorker(nc, sy.WorkerOptions{Queue: "gap-drain", Concurrency: 8, Handler: drain})
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-worker:", err)
		os.Exit(78)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := w.Run(ctx, nil); err != nil {
		fmt.Fprintln(os.Stderr, "go-worker:", err)
		os.Exit(1)
	}
	fmt.Fprintf(os.Stderr, "worker stopped %+v\n", w.Stats())
}
