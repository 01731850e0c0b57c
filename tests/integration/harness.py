"""harness.py -- start the real hookgate binary on a free loopback port with a temp data_dir."""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def binary():
    """The gateway under test: $HOOKGATE_BIN, else build/hookgate."""
    return os.environ.get("HOOKGATE_BIN", os.path.join(ROOT, "build", "hookgate"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return "<%d %r>" % (self.status, self.body[:300])


def request(port, method, path, body=None, headers=None, timeout=30):
    """One HTTP request on a fresh connection; body may be bytes, str or a JSON-able object."""
    if body is not None and not isinstance(body, (bytes, str)):
        body = json.dumps(body)
    if isinstance(body, str):
        body = body.encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        hdrs = dict(headers or {})
        if body is not None and "Content-Type" not in hdrs:
            hdrs["Content-Type"] = "application/json"
        conn.request(method, path, body=body, headers=hdrs)
        r = conn.getresponse()
        return Response(r.status, r.getheaders(), r.read())
    finally:
        conn.close()


class Gateway:
    """A hookgate process. config: dict merged over the defaults below."""

    def __init__(self, subscribers=(), env=None, **config):
        self.dir = tempfile.mkdtemp(prefix="hookgate-test-")
        self.port = free_port()
        self.config = {
            "listen": "127.0.0.1:%d" % self.port,
            "data_dir": os.path.join(self.dir, "data"),
            "subscribers": list(subscribers),
        }
        self.config.update(config)
        self.config_path = os.path.join(self.dir, "config.json")
        self.log_path = os.path.join(self.dir, "hookgate.log")
        self.env = dict(os.environ, **(env or {}))
        self.proc = None
        self.write_config()

    def write_config(self, config=None):
        with open(self.config_path, "w") as f:
            json.dump(config if config is not None else self.config, f, indent=2)

    def start(self, wait=True):
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([binary(), "--config", self.config_path], stdout=self.log,
                                     stderr=self.log, env=self.env)
        if wait:
            self.wait_ready()
        return self

    def wait_ready(self, timeout=15):
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("hookgate exited %s:\n%s" % (self.proc.returncode, self.logs()))
            try:
                if request(self.port, "GET", "/healthz", timeout=2).status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.05)
        raise RuntimeError("hookgate not ready:\n" + self.logs())

    def logs(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def request(self, method, path, body=None, headers=None, timeout=30):
        return request(self.port, method, path, body, headers, timeout)

    def post(self, body, headers=None):
        return self.request("POST", "/events", body, headers)

    def event(self, event_id):
        return self.request("GET", "/admin/events/" + event_id)

    def signal(self, sig):
        self.proc.send_signal(sig)

    def stop(self, timeout=30):
        """SIGTERM and wait; returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout)
        finally:
            self.log.close()

    def kill9(self):
        self.proc.kill()
        self.proc.wait()
        self.log.close()

    def close(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.proc is not None and not self.log.closed:
            self.log.close()

    def remove(self):
        """close(), then deletes the temp dir (data, config and log)."""
        self.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.close()


def wait_for(predicate, timeout=10, interval=0.05):
    """Polls predicate until it returns a true value (returned) or the timeout passes (None)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    return None


def envelope(type_="message_created", id_=None, payload=None, **extra):
    e = {"type": type_, "payload": payload if payload is not None else {"n": 1}}
    if id_ is not None:
        e["id"] = id_
    e.update(extra)
    return e


# ---- the admin API ----

# Retries small enough that deliveries to a failing subscriber are dead within ~100 ms.
FAST_RETRY = {"max_attempts": 2, "initial_delay_ms": 50, "max_delay_ms": 100, "jitter": 0}


def post_batch(gw, envelopes):
    """Posts envelopes in batches of at most 1000, each answered 202."""
    for i in range(0, len(envelopes), 1000):
        r = gw.post(envelopes[i:i + 1000])
        assert r.status == 202, r


def subscriber(gw, name):
    """Subscriber name's entry in GET /admin/subscribers."""
    r = gw.request("GET", "/admin/subscribers")
    assert r.status == 200, r
    for s in r.json()["subscribers"]:
        if s["name"] == name:
            return s
    raise AssertionError("no subscriber %s in %r" % (name, r.body))


def wait_counter(gw, name, key, value, timeout=20):
    """Waits until subscriber name's counter key equals value; returns the subscriber."""
    got = wait_for(lambda: (lambda s: s if s[key] == value else None)(subscriber(gw, name)),
                   timeout=timeout)
    if not got:
        raise AssertionError("%s.%s never reached %r: %r" % (name, key, value,
                                                             subscriber(gw, name)))
    return got


def list_dead_letters(gw, limit=1000, **filters):
    """Every dead letter matching filters, following next_cursor."""
    items, cursor = [], None
    while True:
        q = dict(filters, limit=limit)
        if cursor:
            q["cursor"] = cursor
        r = gw.request("GET", "/admin/dead-letters?" + urllib.parse.urlencode(q))
        assert r.status == 200, r
        body = r.json()
        items += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return items


class GatewayCase(unittest.TestCase):
    """A test case whose gateways (and their temp dirs) and sinks go away after each test."""

    gateway_defaults = {}  # config every gateway() of the class starts with

    def gateway(self, subscribers=(), **config):
        """A started gateway."""
        gw = Gateway(subscribers, **dict(self.gateway_defaults, **config))
        self.addCleanup(gw.remove)
        return gw.start()

    def sink(self, sink):
        """Closes sink after the test; returns it."""
        self.addCleanup(sink.close)
        return sink

    def assert_error(self, r, status, code=None):
        """r has status and exactly the error body {"error": code, "detail": ...}."""
        self.assertEqual(r.status, status, r)
        body = r.json()
        self.assertEqual(set(body), {"error", "detail"}, body)
        if code:
            self.assertEqual(body["error"], code, body)
        return body
