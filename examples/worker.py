#!/usr/bin/env python3
"""A switchyard worker in plain Python 3: the standard library and a raw socket
speaking the NATS protocol (docs/worker-protocol.md). It pulls task.created
messages from the durable JetStream consumer of one queue, runs handle() and
publishes task.started / task.heartbeat / task.completed / task.failed to
<prefix>.report.<queue>, waiting for each PubAck, and acks the task message
only after the final report was acknowledged.

  python3 examples/worker.py --nats nats://127.0.0.1:4222 --queue gap-drain

Before it runs a task it makes the claim check: its task.started carries
Sy-Reply-To, and it runs the task only on the engine's verdict "run"; a task
whose workflow or attempt is over ("closed", "stale", "unknown") is acked
without running, and one without an answer in --claim-wait is handed back.
--no-claim skips that, for setups without a switchyard engine.

handle() is the part to replace. This one echoes its input; an input with
{"fail": "<type>"} fails with that error type, not retryable.
"""
import argparse, json, os, socket, sys, time, uuid
from urllib.parse import urlparse


class Nats:
    """Just enough of the NATS client protocol: CONNECT, SUB, PUB, HPUB, MSG, HMSG."""

    def __init__(self, url):
        u = urlparse(url)
        self.sock = socket.create_connection((u.hostname or "127.0.0.1", u.port or 4222), 10)
        self.buf = b""
        self.inbox = "_INBOX." + uuid.uuid4().hex
        self.seq = 0
        self.kept = {}  # subject -> messages that arrived while waiting for another
        self._line()  # INFO {...}
        opts = {"verbose": False, "pedantic": False, "headers": True, "no_responders": True,
                "name": "worker.py", "lang": "python", "version": "0.1"}
        self._send(b"CONNECT " + json.dumps(opts).encode() + b"\r\nPING\r\n")
        while self._line() != b"PONG":
            pass
        self._send(("SUB %s.* 1\r\n" % self.inbox).encode())

    def _send(self, data):
        self.sock.sendall(data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise ConnectionError("NATS closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _bytes(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def next_msg(self, timeout):
        """(subject, reply, headers, data) of the next message, or None on timeout."""
        self.sock.settimeout(timeout)
        try:
            while True:
                line = self._line()
                op = line.split(b" ", 1)[0].upper()
                if op == b"PING":
                    self._send(b"PONG\r\n")
                elif op == b"-ERR":
                    raise ConnectionError(line.decode())
                elif op in (b"MSG", b"HMSG"):
                    return self._msg(op, line.decode().split(" ")[1:])
        except socket.timeout:
            return None
        finally:
            self.sock.settimeout(None)

    def _msg(self, op, args):
        subject, reply = args[0], (args[2] if len(args) == (5 if op == b"HMSG" else 4) else "")
        hlen = int(args[-2]) if op == b"HMSG" else 0
        data = self._bytes(int(args[-1]))
        headers = {}
        if hlen:
            lines = data[:hlen].decode().split("\r\n")
            headers["status"] = lines[0][9:12].strip()  # "NATS/1.0 404 No Messages"
            for h in lines[1:]:
                if ":" in h:
                    k, v = h.split(":", 1)
                    headers[k.strip()] = v.strip()
        return subject, reply, headers, data[hlen:]

    def publish(self, subject, data, reply="", headers=None):
        if headers:
            hdr = "NATS/1.0\r\n" + "".join("%s: %s\r\n" % kv for kv in headers.items()) + "\r\n"
            hb = hdr.encode()
            self._send(("HPUB %s %s %d %d\r\n" % (subject, reply, len(hb), len(hb) + len(data))).encode()
                       + hb + data + b"\r\n")
        else:
            self._send(("PUB %s %s %d\r\n" % (subject, reply, len(data))).encode() + data + b"\r\n")

    def new_inbox(self, kind):
        """A subject of this connection's inbox (its SUB covers it)."""
        self.seq += 1
        return "%s.%s%d" % (self.inbox, kind, self.seq)

    def wait_for(self, subject, timeout):
        """(headers, data) of the next message on subject, or None on timeout.
        Messages on the claim inboxes that come meanwhile are kept for their
        own wait; anything else is a late reply to an earlier request: dropped."""
        deadline = time.monotonic() + timeout
        while True:
            if self.kept.get(subject):
                msg = self.kept[subject].pop(0)
                return msg[2], msg[3]
            left = deadline - time.monotonic()
            msg = self.next_msg(left) if left > 0 else None
            if msg is None:
                return None
            if msg[0] == subject:
                return msg[2], msg[3]
            if msg[0].startswith(self.inbox + ".c"):
                self.kept.setdefault(msg[0], []).append(msg)

    def forget(self, subject):
        self.kept.pop(subject, None)

    def request(self, subject, data, headers=None, timeout=5.0):
        """Publishes with a reply subject and returns the reply's (headers, data)."""
        reply = self.new_inbox("r")
        self.publish(subject, data, reply, headers)
        msg = self.wait_for(reply, timeout)
        if msg is None:
            raise TimeoutError("no reply on " + subject)
        return msg


def js_api(nc, what, body):
    _, data = nc.request("$JS.API." + what, json.dumps(body).encode())
    resp = json.loads(data)
    if "error" in resp:
        raise RuntimeError("%s: %s" % (what, resp["error"].get("description")))
    return resp


def setup_consumer(nc, args):
    subject = "%s.task.created.%s" % (args.prefix, args.queue)
    streams = js_api(nc, "STREAM.NAMES", {"subject": subject}).get("streams") or []
    if not streams:
        raise RuntimeError("no JetStream stream holds " + subject)
    durable = "sy-worker-" + args.queue
    cfg = {"durable_name": durable, "ack_policy": "explicit", "deliver_policy": "all",
           "filter_subject": subject, "ack_wait": int(args.ack_wait * 1e9), "max_ack_pending": 1000}
    js_api(nc, "CONSUMER.CREATE.%s.%s" % (streams[0], durable), {"stream_name": streams[0], "config": cfg})
    return streams[0], durable


def handle(task, heartbeat):
    """The work. Returns the result, or raises TaskError."""
    data = task.get("input") or {}
    heartbeat({"progress": 0.5})
    if isinstance(data, dict) and "fail" in data:
        raise TaskError(str(data["fail"]), "asked to fail", retryable=False)
    return {"echo": data, "task_id": task["task_id"], "attempt": task["attempt"], "by": "worker.py"}


class TaskError(Exception):
    def __init__(self, type_, message, retryable=True):
        super().__init__(message)
        self.type, self.message, self.retryable = type_, message, retryable


def report(nc, args, task, kind, msg_id=None, reply_to=None, started_at=None, **extra):
    body = {"type": "task." + kind, "task_id": task["task_id"], "attempt": task["attempt"],
            "queue": args.queue, "worker": "worker.py:%d" % os.getpid(),
            "occurred_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    for k in ("workflow_id", "run_id"):
        if isinstance(task.get(k), str):
            body[k] = task[k]
    body.update(extra)
    if msg_id is None:
        msg_id = "%s:%d:%s" % (task["task_id"], task["attempt"], kind)
    if kind == "heartbeat":
        msg_id += ":%d" % time.monotonic_ns()
    headers = {"Nats-Msg-Id": msg_id}
    if reply_to:
        headers["Sy-Reply-To"] = reply_to  # the claim check: the engine answers there
    if started_at:
        headers["Sy-Started-At"] = started_at  # a final report: when the work began
    _, data = nc.request("%s.report.%s" % (args.prefix, args.queue), json.dumps(body).encode(),
                         headers=headers)
    ack = json.loads(data or b"{}")
    if "error" in ack or "seq" not in ack:  # no PubAck: the report does not count
        raise RuntimeError("report not acknowledged: %r" % ack)


def delivered(reply):
    """The delivery count in a $JS.ACK reply subject (both of its forms)."""
    t = reply.split(".")
    try:
        return int(t[4] if len(t) == 9 else t[6])
    except (IndexError, ValueError):
        return 1


def claim(nc, args, task, reply):
    """The claim check (docs/worker-protocol.md): task.started asks the engine,
    which answers on our inbox once it committed. True: run the task. Otherwise
    the message is settled here: acked when the task must not run, handed back
    with a delay when there is no answer in time (or a duplicate report)."""
    msg_id = "%s:%d:started" % (task["task_id"], task["attempt"])
    n = delivered(reply)
    if n > 1:  # else the stream drops it as the first delivery's duplicate
        msg_id += ":%d" % n
    if args.no_claim:
        report(nc, args, task, "started", msg_id=msg_id)
        return True
    inbox = nc.new_inbox("c")
    report(nc, args, task, "started", msg_id=msg_id, reply_to=inbox)
    verdict, deadline = None, time.monotonic() + args.claim_wait
    while verdict is None and time.monotonic() < deadline:
        msg = nc.wait_for(inbox, deadline - time.monotonic())
        if msg is None:
            break
        try:
            a = json.loads(msg[1])
        except ValueError:
            continue
        if a.get("task_id") == task["task_id"] and a.get("attempt") == task["attempt"]:
            verdict = a.get("verdict")
    nc.forget(inbox)
    if verdict == "run":
        return True
    if verdict in ("closed", "stale", "unknown"):
        print("worker.py: task %s not run: the engine says %s" % (task["task_id"], verdict),
              file=sys.stderr)
        nc.publish(reply, b"+ACK")
        return False
    print("worker.py: task %s handed back: %s" % (task["task_id"], verdict or "no answer"),
          file=sys.stderr)
    nc.publish(reply, b'-NAK {"delay": 5000000000}')
    return False


def run_task(nc, args, reply, data):
    try:
        env = json.loads(data)
        task = env["payload"] if isinstance(env.get("payload"), dict) else env
        if not isinstance(task.get("task_id"), str) or not isinstance(task.get("attempt"), int):
            raise ValueError("task_id or attempt missing")
    except (ValueError, AttributeError) as e:
        print("worker.py: not a task, terminated: %s" % e, file=sys.stderr)
        nc.publish(reply, b"+TERM")
        return
    if not claim(nc, args, task, reply):
        return
    # the final report says when the work started: the engine may hold the
    # task.started a moment and record it with this report
    started_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    try:
        result = handle(task, lambda details: report(nc, args, task, "heartbeat", details=details))
        report(nc, args, task, "completed", result=result, started_at=started_at)
    except TaskError as e:
        report(nc, args, task, "failed", started_at=started_at,
               error={"type": e.type, "message": e.message, "retryable": e.retryable})
    except Exception as e:  # a bug in handle(): retryable
        report(nc, args, task, "failed", started_at=started_at,
               error={"type": type(e).__name__, "message": str(e), "retryable": True})
    nc.publish(reply, b"+ACK")  # only now: the final report got its PubAck


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--nats", default=os.environ.get("SWITCHYARD_NATS_URL", "nats://127.0.0.1:4222"))
    ap.add_argument("--queue", required=True)
    ap.add_argument("--prefix", default="sy")
    ap.add_argument("--ack-wait", type=float, default=60.0, help="seconds")
    ap.add_argument("--max-tasks", type=int, default=0, help="exit after this many tasks (0: never)")
    ap.add_argument("--claim-wait", type=float, default=10.0,
                    help="seconds to wait for the engine's verdict on task.started")
    ap.add_argument("--no-claim", action="store_true",
                    help="do not ask the engine before running a task (no switchyard engine)")
    args = ap.parse_args()
    args.claim_wait = min(args.claim_wait, args.ack_wait / 2)  # no redelivery meanwhile
    nc = Nats(args.nats)
    stream, durable = setup_consumer(nc, args)
    pull = "$JS.API.CONSUMER.MSG.NEXT.%s.%s" % (stream, durable)
    done = 0
    while args.max_tasks == 0 or done < args.max_tasks:
        inbox = nc.new_inbox("p")
        nc.publish(pull, json.dumps({"batch": 1, "expires": 5 * 10**9}).encode(), inbox)
        while True:  # a task keeps its own subject; its reply subject is $JS.ACK...
            msg = nc.next_msg(10)
            if msg is None or msg[0] == inbox or msg[1].startswith("$JS.ACK."):
                break
        if msg is None or not msg[1].startswith("$JS.ACK."):
            continue  # a 404/408 status: no task within 5 s, pull again
        run_task(nc, args, msg[1], msg[3])
        done += 1


if __name__ == "__main__":
    main()
