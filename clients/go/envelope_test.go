package switchyard_test

// envelope_test.go: local validation answers what `switchyard validate`
// answers, for every body of the shared corpus (the expectations come from
// running the real binary), and the envelope's encoding and ids.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"testing"

	sy "github.com/switchyard/switchyard/clients/go"
)

func TestValidateMatchesSwitchyardValidateOnTheCorpus(t *testing.T) {
	cases := corpus(t)
	dir := t.TempDir()
	args := []string{"validate"}
	for i, c := range cases {
		p := filepath.Join(dir, strconv.Itoa(i)+".json")
		if err := os.WriteFile(p, c.bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		args = append(args, p)
	}
	out, _ := exec.Command(switchyardBin(), args...).Output() // exit 65: some are invalid
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	invalid := 0
	for i := 0; sc.Scan(); i++ {
		var want struct {
			Valid bool
			Error *sy.Problem
		}
		if err := json.Unmarshal(sc.Bytes(), &want); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		got := sy.Validate(cases[i].bytes())
		switch {
		case want.Valid && got != nil:
			t.Errorf("%s: switchyard says valid, the client %+v", cases[i].Name, *got)
		case !want.Valid && got == nil:
			t.Errorf("%s: switchyard says %+v, the client valid", cases[i].Name, *want.Error)
		case !want.Valid && *got != *want.Error:
			t.Errorf("%s:\n got  %+v\n want %+v", cases[i].Name, *got, *want.Error)
		}
		if !want.Valid {
			invalid++
		}
		if i == len(cases)-1 && invalid < 80 {
			t.Errorf("only %d invalid cases", invalid)
		}
	}
}

func TestEncodeWritesTheCanonicalOrderAndRoundTrips(t *testing.T) {
	subj := "s"
	env := &sy.Envelope{EventID: "e1", Type: "a.b", Source: "shop", OccurredAt: "2026-01-01T00:00:00Z",
		Subject: &subj, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736", SchemaVersion: 2, Payload: json.RawMessage(`{"a":[1,"ü"]}`)}
	want := `{"event_id":"e1","type":"a.b","source":"shop","occurred_at":"2026-01-01T00:00:00Z","subject":"s",` +
		`"trace_id":"4bf92f3577b34da6a3ce929d0e0e4736","schema_version":2,"payload":{"a":[1,"ü"]}}`
	if got := string(env.Encode()); got != want {
		t.Fatalf("got %s", got)
	}
	back, err := sy.ParseEnvelope(env.Encode(), 0)
	if err != nil || back.EventID != "e1" || *back.Subject != "s" || string(back.Payload) != `{"a":[1,"ü"]}` {
		t.Fatalf("%+v %v", back, err)
	}
}

func TestEnvelopeFillsAndChecks(t *testing.T) {
	p := sy.NewTestPublisher(sy.PublisherOptions{Source: "shop"})
	bad := func(ev sy.Event, code, path string) {
		t.Helper()
		_, err := p.Envelope(ev)
		var ee *sy.EnvelopeError
		if !errors.As(err, &ee) || ee.Code != code || ee.Path != path {
			t.Errorf("%+v: got %v, want %s at %s", ev, err, code, path)
		}
	}
	bad(sy.Event{Type: "a", Payload: map[string]interface{}{"x": math.NaN()}}, "bad_json", "payload")
	bad(sy.Event{Type: "a b", Payload: map[string]int{}}, "bad_type", "type")
	bad(sy.Event{Type: "a", Payload: []int{1}}, "bad_field", "payload")
	bad(sy.Event{Type: "a", Payload: nil}, "bad_field", "payload")
	bad(sy.Event{Type: "a", Source: "\xff", Payload: map[string]int{}}, "bad_utf8", "source")
	bad(sy.Event{Type: "a", Payload: map[string]string{"s": "\x00"}}, "bad_json", "payload.s")
	bad(sy.Event{Type: "a", Payload: json.RawMessage(`{"a":1,"a":2}`)}, "duplicate_key", "payload.a")
	bad(sy.Event{Type: "a", Payload: map[string]int{}, Traceparent: "00-zz-00f067aa0ba902b7-01"}, "bad_trace_id", "traceparent")
	env, err := p.Envelope(sy.Event{Type: "a", Payload: map[string]string{"h": "<&>"},
		Traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"})
	if err != nil {
		t.Fatal(err)
	}
	if env.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" || env.Source != "shop" || env.SchemaVersion != 1 ||
		string(env.Payload) != `{"h":"<&>"}` {
		t.Errorf("%+v %s", env, env.Payload)
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(env.OccurredAt) {
		t.Errorf("occurred_at %s", env.OccurredAt)
	}
}

func TestUUIDv7LayoutAndOrder(t *testing.T) {
	re := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
	ids := make([]string, 5000)
	seen := map[string]bool{}
	for i := range ids {
		ids[i] = sy.NewUUIDv7()
		if !re.MatchString(ids[i]) || seen[ids[i]] {
			t.Fatalf("bad or repeated id %s", ids[i])
		}
		seen[ids[i]] = true
	}
	if !sort.StringsAreSorted(ids) {
		t.Fatal("ids are not in creation order")
	}
}

func TestTraceparent(t *testing.T) {
	tp, err := sy.ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	if err != nil || tp.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatal(tp, err)
	}
	for _, b := range []string{"", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"} {
		if _, err := sy.ParseTraceparent(b); err == nil {
			t.Errorf("%q accepted", b)
		}
	}
}
