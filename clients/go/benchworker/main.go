// Command benchworker is the Go worker that clients/bench.sh measures in
// `switchyard bench roundtrip --worker-cmd`: a no-op handler on the queue
// $SY_QUEUE at $SY_NATS_URL (set by the bench), concurrency
// $SY_CONCURRENCY (default 64), the whole protocol (task.started with the
// claim check, task.completed, each waiting for its PubAck; the ack after).
// Stops on SIGTERM, printing its stats and CPU per task to stderr.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	sy "github.com/switchyard/switchyard/clients/go"
)

func env(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func maxInt(a, b int) int {
	if a > b {
		return a
	}
	return b
}

func main() {
	nc, err := nats.Connect(env("SY_NATS_URL", nats.DefaultURL))
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchworker:", err)
		os.Exit(1)
	}
	defer nc.Close()
	conc, _ := strconv.Atoi(env("SY_CONCURRENCY", "64"))
	w, err := sy.NewWorker(nc, sy.WorkerOptions{Queue: env("SY_QUEUE", "rtq"), Prefix: env("SY_PREFIX", "sy"),
		Concurrency: conc, NoClaim: os.Getenv("SY_NO_CLAIM") == "1",
		Handler: func(ctx context.Context, t *sy.Task) (interface{}, error) {
			return map[string]bool{"ok": true}, nil
		}})
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchworker:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := w.Run(ctx, nil); err != nil {
		fmt.Fprintln(os.Stderr, "benchworker:", err)
		os.Exit(1)
	}
	var ru syscall.Rusage // the client's CPU per task, for clients/bench.sh's log
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	st := w.Stats()
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	fmt.Fprintf(os.Stderr, "go worker stats %+v cpu_us_per_task=%d\n", st, cpu.Microseconds()/int64(maxInt(st.Completed, 1)))
}
