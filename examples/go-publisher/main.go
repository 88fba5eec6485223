// Command go-publisher publishes a domain event from a Go service with the
// switchyard Go client (clients/go). The event is the one of
// examples/gap-ready.json: with examples/rules.yaml it starts workflow
// gap-drain-42, whose drain task examples/go-worker runs.
//
//	NATS_URL=nats://127.0.0.1:4222 go-publisher
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/nats-io/nats.go"
	sy "github.com/switchyard/switchyard/clients/go"
)

func main() {
	url := os.Getenv("NATS_URL")
	if url == "" {
		url = nats.DefaultURL
	}
	nc, err := nats.Connect(url)
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-publisher:", err)
		os.Exit(69)
	}
	defer nc.Close()
	// KeyFile: a key of `switchyard keygen` signs every event (PREFIX.pub
	// in the router's keyring)
	pub, err := sy.NewPublisher(nc, sy.PublisherOptions{Source: "monolith", KeyFile: os.Getenv("SY_KEY_FILE")})
	if err != nil {
		fmt.Fprintln(os.Stderr, "go-publisher:", err)
		os.Exit(78)
	}
	r, err := pub.Publish(context.Background(), "events.kg", sy.Event{
		Type:    "kg.gap.ready",
		Subject: "gap-42",
		Payload: map[string]interface{}{"gap_id": 42, "priority": 3, "kind": "kg", "title": "Hello"},
	})
	if err != nil { // an *sy.EnvelopeError says which field; else not stored: publish again
		fmt.Fprintln(os.Stderr, "go-publisher:", err)
		os.Exit(1)
	}
	// returned after the PubAck: the event is stored; Duplicate: it was already
	out, _ := json.Marshal(map[string]interface{}{"event_id": r.EventID, "trace_id": r.TraceID, "seq": r.Seq, "duplicate": r.Duplicate})
	fmt.Println(string(out))
}
