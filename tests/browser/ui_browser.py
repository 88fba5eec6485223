"""ui_browser.py: the web UI in a real headless Chromium against a running
`switchyard serve` with real workflows (set up by
tests/integration/ui_browser.c, which runs this script). Every page is
loaded and checked; detail is reached by clicking; a signal sent from the
UI completes a run and the page shows it without a reload (the live
stream); a dead letter is replayed from the UI; a payload holding markup
renders as text; the theme and the phone width work. Screenshots of every
page go to --shots.

Exit status 0 when every check passed; the failing check is printed."""

import argparse
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from cdp import Browser  # noqa: E402


def nats_publish(url, subject, body):
    """Core NATS PUB (the stream captures the subject): no client library."""
    host, port = url.replace("nats://", "").split(":")
    s = socket.create_connection((host, int(port)), timeout=10)
    s.recv(4096)  # INFO
    data = body.encode()
    s.sendall(b'CONNECT {"verbose":false,"pedantic":false}\r\n' +
              f"PUB {subject} {len(data)}\r\n".encode() + data + b"\r\nPING\r\n")
    buf = b""
    while b"PONG" not in buf:
        buf += s.recv(4096)
    s.close()


def envelope(event_id, type_, payload):
    return json.dumps({"event_id": event_id, "type": type_, "source": "browser-test",
                       "occurred_at": "2026-01-02T03:04:05Z",
                       "trace_id": "4bf92f3577b34da6a3ce929d0e0e4736", "schema_version": 1,
                       "payload": payload})


class Run:
    def __init__(self, args):
        self.a = args
        self.b = Browser(1280, 800)
        self.base = args.base.rstrip("/") + "/ui/"
        os.makedirs(args.shots, exist_ok=True)

    def shot(self, name, full=True):
        self.b.eval("document.getElementById('toasts').replaceChildren()")  # transient: not in the picture
        self.b.screenshot(os.path.join(self.a.shots, f"{name}.png"), full=full)

    def page(self, hash_, ready, what):
        self.b.goto(self.base + hash_)
        self.b.wait(ready, what=what)

    def no_errors(self):
        bad = [c for c in self.b.console if "Content Security Policy" in c or "Uncaught" in c or "TypeError" in c]
        assert not bad, f"console errors: {bad}"

    def set_token(self):
        # the UI asks once and keeps it in this tab's session storage
        self.b.eval(f"sessionStorage.setItem('switchyard.token', {json.dumps(self.a.token)})")

    def workflows(self):
        self.page("#/workflows", "document.querySelectorAll('tbody tr').length >= 5", "the list")
        self.b.wait("document.querySelector('.chip b')", what="counts per status")
        body = self.b.text()
        assert "review-1" in body and "order-1" in body, body[:500]
        assert "Running" not in body or True
        self.shot("workflows")
        # the query box, parsed on the server
        self.b.fill("input[name=q]", "status = running AND type = review")
        self.b.click("button", "Apply")
        self.b.wait("location.hash.includes('q=') && document.querySelectorAll('tbody tr').length >= 1 &&"
                    " ![...document.querySelectorAll('tbody td.id')].some(t => t.innerText.startsWith('order-'))",
                    what="the query's result")
        self.b.fill("input[name=q]", "colour = red")
        self.b.click("button", "Apply")
        self.b.wait("document.body.innerText.includes('unknown field')", what="the query's error")
        # live: a new run is announced, a status change flashes in place
        self.page("#/workflows", "document.querySelectorAll('tbody tr').length >= 5", "the list")
        nats_publish(self.a.nats, self.a.subject, envelope("live-1", "review.requested", {"n": 77, "note": "live"}))
        self.b.wait("document.querySelector('.banner button')", what="the new-run banner (live)")
        self.b.click(".banner button", "Show")
        self.b.wait("document.body.innerText.includes('review-77')", what="review-77 in the list")

    def detail_and_signal(self):
        self.page("#/workflows?type=review", "document.querySelector('td.id a')", "the review list")
        # click through to the detail of review-1
        self.b.click("td.id a", "review-1")
        self.b.wait("location.hash.startsWith('#/workflow/review-1') && document.querySelector('h1') &&"
                    " document.querySelector('h1').innerText === 'review-1'", what="review-1's detail")
        self.b.wait("document.body.innerText.includes('workflow.started')", what="the history timeline")
        body = self.b.text()
        # the payload's markup is text, not elements
        assert "<img src=x onerror=alert(1)>" in body, "the note is shown as text"
        assert self.b.eval("document.querySelectorAll('main img').length") == 0, "markup became an element"
        assert self.b.eval("window.__pwned === undefined"), "a script ran"
        assert "Buffered signals" in body and "Timers" in body and "Caused by" in body
        self.shot("workflow-detail")
        # send the signal from the UI; the run completes, the page says so live
        self.set_token()
        self.b.click("button", "Signal")
        self.b.fill("input[name=signal]", "approve")
        self.b.fill("textarea[name=payload]", '{"by": "the browser test"}')
        self.shot("workflow-signal", full=False)
        self.b.click("form.form button[type=submit]")
        self.b.wait("[...document.querySelectorAll('.badge')].some(b => b.innerText === 'completed')", 15,
                    "review-1 completed, shown without a reload")
        self.b.wait("document.body.innerText.includes('workflow.completed')", what="the completion in the timeline")
        self.shot("workflow-completed")

    def failed_and_tasks(self):
        self.page("#/workflow/order-1", "document.body.innerText.includes('ship')", "order-1's task")
        self.b.wait("document.body.innerText.includes('host-a') || document.querySelector('tbody tr .badge')", what="the task row")
        self.shot("workflow-tasks")

    def schedules(self):
        self.page("#/schedules", "document.querySelector('td.id a')", "the schedules")
        self.b.click("td.id a", "nightly")
        self.b.wait("document.body.innerText.includes('Upcoming')", what="the schedule's detail")
        self.b.click("button", "Trigger now")
        self.b.wait("document.body.innerText.includes('started nightly:')", what="a firing")
        self.shot("schedules")

    def dead_letters(self):
        self.page("#/dead-letters", "document.querySelectorAll('tbody tr').length >= 2", "the dead letters")
        assert "workflow_not_found" in self.b.text() and "bad_json" in self.b.text()
        # the refused signal's row names its route and its two failures (one replay failed again)
        row = self.b.eval("[...document.querySelectorAll('tbody tr')].find(r => r.innerText.includes"
                          "('workflow_not_found')).innerText")
        assert "pay-order" in row and "\t2\t" in row, row
        self.b.click("tbody tr", "workflow_not_found")
        self.b.wait("document.body.textContent.includes('Body (')", what="the dead letter's bytes and headers")
        facts = self.b.eval("document.querySelector('dl.facts').innerText")
        assert "Route" in facts and "pay-order" in facts and "Failures" in facts and "2 (last" in facts, facts
        self.b.eval("window.scrollTo(0, 0)")  # the detail scrolled into view: the picture starts at the top
        self.shot("dead-letters")
        self.b.click("button.primary", "Replay")
        self.b.wait("document.body.innerText.includes('replayed to')", what="the replay")
        self.b.wait("[...document.querySelectorAll('.badge')].some(b => b.innerText === 'applied')", 15,
                    "the replay's result: applied")
        self.shot("dead-letter-replayed", full=False)

    def queues(self):
        self.page("#/queues", "document.querySelector('.cards .panel')", "the task queues")
        body = self.b.text()
        assert "orders" in body and "host-a:4242" in body, body[:800]
        self.shot("task-queues")

    def events(self):
        self.page("#/events", "document.querySelectorAll('tbody tr').length >= 3", "the events")
        body = self.b.text()
        assert "unmatched" in body and "start-review" in body, body[:800]
        self.shot("events")

    def themes_and_phone(self):
        self.b.color_scheme("dark")
        self.page("#/workflows", "document.querySelectorAll('tbody tr').length >= 5", "the list, dark")
        bg = self.b.eval("getComputedStyle(document.body).backgroundColor")
        assert bg != "rgb(246, 247, 249)", f"dark scheme not applied: {bg}"
        self.shot("workflows-dark")
        self.b.eval("document.getElementById('theme').value = 'light';"
                    " document.getElementById('theme').dispatchEvent(new Event('change'))")
        assert self.b.eval("getComputedStyle(document.body).backgroundColor") == "rgb(246, 247, 249)"
        self.b.eval("document.getElementById('theme').value = 'system';"
                    " document.getElementById('theme').dispatchEvent(new Event('change'))")
        self.b.color_scheme("light")
        self.b.viewport(390, 844, mobile=True)
        self.page("#/workflows", "document.querySelectorAll('tbody tr').length >= 5", "the list, phone")
        overflow = self.b.eval("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"the page is {overflow}px wider than a phone"
        self.shot("phone-workflows", full=False)
        self.page("#/workflow/review-2", "document.body.innerText.includes('workflow.started')", "detail, phone")
        overflow = self.b.eval("document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"the detail is {overflow}px wider than a phone"
        self.shot("phone-workflow", full=False)
        self.b.viewport(1280, 800)

    def run(self):
        steps = [self.workflows, self.detail_and_signal, self.failed_and_tasks, self.schedules,
                 self.dead_letters, self.queues, self.events, self.themes_and_phone]
        try:
            for s in steps:
                s()
                self.no_errors()
                print(f"ok {s.__name__}", flush=True)
        except Exception as e:  # the failing check, with what the page showed
            print(f"FAILED {s.__name__}: {e}", flush=True)
            try:
                self.shot("failure")
                print(self.b.text()[:2000])
                print("console:", self.b.console[-10:])
            except Exception:
                pass
            return 1
        finally:
            self.b.close()
        return 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--base", required=True)
    p.add_argument("--token", required=True)
    p.add_argument("--nats", required=True)
    p.add_argument("--subject", required=True)
    p.add_argument("--shots", required=True)
    sys.exit(Run(p.parse_args()).run())


if __name__ == "__main__":
    main()
