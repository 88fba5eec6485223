package switchyard_test

// helpers_test.go: what the integration tests share: the servers of
// `switchyard testenv` (SY_TEST_NATS_URL, SY_TEST_PG_CONNINFO), the built
// binary, a fresh database, a real `switchyard serve` with its own subject
// prefix and streams, and small waits. Nothing here is a mock.

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

func sourceDir() string {
	if d := os.Getenv("SY_SOURCE_DIR"); d != "" {
		return d
	}
	wd, _ := os.Getwd()
	return filepath.Join(wd, "../..")
}

func switchyardBin() string {
	if b := os.Getenv("SWITCHYARD_BIN"); b != "" {
		return b
	}
	return filepath.Join(sourceDir(), "build/switchyard")
}

// fataler is what the helpers need of a test; TestMain has no *testing.T
// and passes panicker.
type fataler interface {
	Helper()
	Fatalf(format string, args ...interface{})
}

type panicker struct{}

func (panicker) Helper()                                   {}
func (panicker) Fatalf(format string, args ...interface{}) { panic(fmt.Sprintf(format, args...)) }

func mustEnv(t fataler, k string) string {
	v := os.Getenv(k)
	if v == "" {
		t.Fatalf("%s is not set: run under `switchyard testenv`", k)
	}
	return v
}

func psql(t fataler, conninfo, query string) string {
	out, err := exec.Command("psql", conninfo, "-qAt", "-v", "ON_ERROR_STOP=1", "-c", query).CombinedOutput()
	if err != nil {
		t.Fatalf("psql %q: %v: %s", query, err, out)
	}
	return strings.TrimSpace(string(out))
}

func cli(t fataler, args ...string) string {
	out, err := exec.Command(switchyardBin(), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("switchyard %v: %v: %s", args, err, out)
	}
	return string(out)
}

// waitFor polls fn until it returns true or timeout passes.
func waitFor(t fataler, what string, timeout time.Duration, fn func() bool) {
	t.Helper()
	end := time.Now().Add(timeout)
	for !fn() {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

type service struct {
	prefix, events, db, dir string
	nc                      *nats.Conn
	cmd                     *exec.Cmd
	logs                    *lockedBuffer
	exited                  chan struct{} // closed when serve exited
	exitErr                 error         // set before exited is closed
}

// lockedBuffer collects serve's output: exec's copying goroutines write it
// while a failing test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startService starts `switchyard serve` on a fresh database with rules,
// its own subject prefix (outcomes and reports under "<name>.>", events
// under "<name>ev.>") and keyring, and waits for /readyz.
func startService(t fataler, name, rules, keyring string) *service {
	admin := mustEnv(t, "SY_TEST_PG_CONNINFO")
	natsURL := mustEnv(t, "SY_TEST_NATS_URL")
	psql(t, admin, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	psql(t, admin, "CREATE DATABASE "+name)
	db := regexp.MustCompile(`dbname=\S+`).ReplaceAllString(admin, "dbname="+name)
	dir, err := os.MkdirTemp("", "sy-"+name+"-")
	if err != nil {
		t.Fatalf("%v", err)
	}
	write := func(f, text string) string {
		p := filepath.Join(dir, f)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatalf("%v", err)
		}
		return p
	}
	rulesPath := write("rules.yaml", rules)
	// A port the kernel just handed out can still be taken by someone else
	// before serve binds it (tests run in parallel): then serve exits with
	// "could not listen" and we try again on another port.
	up := strings.ToUpper(name)
	var s *service
	for attempt := 1; ; attempt++ {
		port := freePort(t)
		cfg := fmt.Sprintf("nats: { urls: [%q] }\npostgres: { conninfo: %q, migrate: true }\n"+
			"stream: { name: %s_EV, subjects: [\"%sev.>\"], storage: memory, outcomes_name: %s_SY, outcomes_subjects: [\"%s.>\"] }\n"+
			"consumer: { batch_size: 64, fetch_wait: 20ms }\nengine: { subject_prefix: %s }\n"+
			"envelope: { keyring: %q }\nrules: { path: %q }\nadmin: { listen: \"127.0.0.1:%d\" }\nlog: { level: warn }\n",
			natsURL, db, up, name, up, name, name, write("keyring", keyring), rulesPath, port)
		s = &service{prefix: name, events: name + "ev.test", db: db, dir: dir, logs: &lockedBuffer{}, exited: make(chan struct{})}
		if s.spawn(t, write("serve.yaml", cfg), port) {
			break
		}
		if attempt >= 5 || !strings.Contains(s.logs.String(), "could not listen") {
			t.Fatalf("switchyard serve exited before it was ready (%v); serve log:\n%s", s.exitErr, s.logs.String())
		}
	}
	if s.nc, err = nats.Connect(natsURL); err != nil {
		t.Fatalf("%v", err)
	}
	return s
}

// freePort is a loopback TCP port that was free a moment ago.
func freePort(t fataler) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("%v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// spawn starts serve with config and waits for /readyz on port; false when
// serve exited first (its output in s.logs).
func (s *service) spawn(t fataler, config string, port int) bool {
	s.cmd = exec.Command(switchyardBin(), "serve", "--config", config)
	s.cmd.Stdout, s.cmd.Stderr = s.logs, s.logs
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("%v", err)
	}
	go func() { s.exitErr = s.cmd.Wait(); close(s.exited) }()
	// 90 s: serve migrates a fresh database first, slow on a loaded box.
	waitFor(t, "switchyard serve to be ready", 90*time.Second, func() bool {
		select {
		case <-s.exited:
			return true
		default:
		}
		r, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port))
		if err != nil {
			return false
		}
		r.Body.Close()
		return r.StatusCode == 200
	})
	select {
	case <-s.exited:
		return false
	default:
		return true
	}
}

func (s *service) stop() {
	s.nc.Close()
	_ = s.cmd.Process.Signal(os.Interrupt)
	<-s.exited
}

func (s *service) status(t fataler, workflowID string) string {
	return psql(t, s.db, "SELECT status FROM switchyard.workflow_ids WHERE workflow_id = '"+workflowID+"'")
}

// waitClosed waits until the workflow's latest run is closed; its status.
func (s *service) waitClosed(t fataler, workflowID string, timeout time.Duration) string {
	t.Helper()
	end := time.Now().Add(timeout)
	for {
		st := s.status(t, workflowID)
		if st != "" && st != "running" {
			return st
		}
		if time.Now().After(end) {
			dl := psql(t, s.db, "SELECT string_agg(code || ': ' || message, '; ') FROM switchyard.dead_letters")
			t.Fatalf("workflow %s did not close (status %q; dead letters: %s); serve log:\n%s", workflowID, st, dl, s.logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *service) result(t fataler, workflowID string) map[string]interface{} {
	var v map[string]interface{}
	r := psql(t, s.db, "SELECT result FROM switchyard.runs WHERE workflow_id = '"+workflowID+"' ORDER BY started_at DESC LIMIT 1")
	if err := json.Unmarshal([]byte(r), &v); err != nil {
		t.Fatalf("result of %s: %q: %v", workflowID, r, err)
	}
	return v
}

func (s *service) history(t fataler, workflowID, typ string) string {
	return psql(t, s.db, "SELECT count(*) FROM switchyard.history_events h JOIN switchyard.runs r USING (run_id) "+
		"WHERE r.workflow_id = '"+workflowID+"' AND h.type = '"+typ+"'")
}

// deadLetter is the code of the dead letter whose body holds eventID.
func (s *service) deadLetter(t fataler, eventID string) string {
	return psql(t, s.db, "SELECT code FROM switchyard.dead_letters WHERE convert_from(body, 'UTF8') LIKE '%"+eventID+"%'")
}

type corpusCase struct {
	Name   string  `json:"name"`
	Body   *string `json:"body"`
	Hex    *string `json:"hex"`
	Repeat *struct {
		Prefix, Fill, Suffix string
		Count                int
	} `json:"repeat"`
}

func (c corpusCase) bytes() []byte {
	switch {
	case c.Hex != nil:
		b, _ := hex.DecodeString(*c.Hex)
		return b
	case c.Repeat != nil:
		return []byte(c.Repeat.Prefix + strings.Repeat(c.Repeat.Fill, c.Repeat.Count) + c.Repeat.Suffix)
	}
	return []byte(*c.Body)
}

func corpus(t fataler) []corpusCase {
	raw, err := os.ReadFile(filepath.Join(sourceDir(), "clients/testdata/envelopes.json"))
	if err != nil {
		t.Fatalf("%v", err)
	}
	var d struct{ Cases []corpusCase }
	if err := json.Unmarshal(raw, &d); err != nil {
		t.Fatalf("%v", err)
	}
	return d.Cases
}
