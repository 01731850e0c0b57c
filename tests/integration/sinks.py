"""sinks.py -- scriptable subscriber servers for the integration tests (stdlib only).

A Sink is a threaded HTTP/1.1 keep-alive server on a free loopback port. It records every
request it reads (time, path, headers, body, the status it was answered) and answers
according to a script: a plain status, "fail the first N attempts of each event",
Retry-After, redirects, hanging past the client's timeout, or resetting the connection.
stop() and start() take it down and back up on the same port (an outage); StatusSink
answers a status that tests change as they go. closed_port() gives a port where nothing
listens (connection refused).
"""
import collections
import http.server
import socket
import struct
import sys
import threading
import time


class Request:
    """One request as the sink read it."""

    def __init__(self, at, method, path, headers, body):
        self.at = at  # time.time() when the request was read
        self.method = method
        self.path = path
        self.header_list = headers  # [(name, value)] in wire order
        self.headers = {k.lower(): v for k, v in headers}
        self.body = body  # bytes
        self.status = None  # the status answered (None for a reset)

    @property
    def webhook_id(self):
        return self.headers.get("webhook-id")

    def __repr__(self):
        return "<%s %s %s %r>" % (self.method, self.path, self.webhook_id, self.body[:80])


# What the sink does with a request: answer (status, headers, body), hang, or reset.
class Answer:
    def __init__(self, status=200, headers=None, body=b"", hang=None, reset=False):
        self.status = status
        self.headers = dict(headers or {})
        self.body = body
        self.hang = hang  # seconds to wait before answering (None: answer at once)
        self.reset = reset  # close the connection with a TCP RST instead of answering


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # the default backlog of 5 drops SYNs under a burst (1 s stalls)

    def handle_error(self, request, client_address):
        # A client that gave up (timeout, kill -9, shutdown) is part of the tests, not an error.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class Sink:
    """A subscriber. script(request, n) -> Answer, where n counts this event's attempts
    (1 for the first request carrying its webhook-id); the default answers 200. With
    listening=False it only reserves its port until start()."""

    def __init__(self, script=None, name="sink", listening=True):
        self.name = name
        self.script = script or (lambda req, n: Answer(200))
        self.requests = []
        self.attempts = collections.Counter()  # webhook-id -> requests seen
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.release = threading.Event()  # ends every hang at close
        self.connections = set()  # open client sockets, dropped by stop()
        sink = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def setup(self):
                super().setup()
                with sink.lock:
                    sink.connections.add(self.connection)

            def finish(self):
                with sink.lock:
                    sink.connections.discard(self.connection)
                super().finish()

            def do_POST(self):
                sink._handle(self)

            do_GET = do_PUT = do_DELETE = do_POST

        self.handler = Handler
        self.server = None
        self.port = None
        if listening:
            self.start()
        else:
            self.port = closed_port()
        self.url = "http://127.0.0.1:%d/hook/%s" % (self.port, name)

    def start(self):
        """Listens (again) on the sink's port; returns the sink."""
        if self.server is None:
            self.server = _Server(("127.0.0.1", self.port or 0), self.handler)
            self.port = self.server.server_address[1]
            self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
            self.thread.start()
        return self

    def stop(self):
        """An outage: stops listening and drops open connections, so connecting is refused
        until start(). What arrived stays recorded."""
        if self.server is None:
            return
        self.server.shutdown()
        self.server.server_close()
        self.server = None
        with self.lock:
            connections = list(self.connections)
        for c in connections:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _handle(self, h):
        length = int(h.headers.get("Content-Length") or 0)
        body = h.rfile.read(length) if length else b""
        req = Request(time.time(), h.command, h.path, list(h.headers.items()), body)
        with self.cond:
            self.requests.append(req)
            key = req.webhook_id
            self.attempts[key] += 1
            n = self.attempts[key]
            self.cond.notify_all()
        answer = self.script(req, n)
        # Recorded before the answer goes out: once the client has it, it is visible here.
        req.status = None if answer.reset else answer.status
        if answer.hang:
            self.release.wait(answer.hang)
        if answer.reset:
            # SO_LINGER with a zero timeout turns close() into a RST.
            h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            h.close_connection = True
            h.connection.close()
            return
        h.send_response(answer.status)
        for k, v in answer.headers.items():
            h.send_header(k, v)
        h.send_header("Content-Length", str(len(answer.body)))
        h.end_headers()
        h.wfile.write(answer.body)

    # ---- reading what arrived ----

    def snapshot(self):
        with self.lock:
            return list(self.requests)

    def count(self):
        with self.lock:
            return len(self.requests)

    def ids(self):
        """The set of webhook-ids received."""
        with self.lock:
            return {r.webhook_id for r in self.requests}

    def delivered(self):
        """The webhook-ids answered with a 2xx, in arrival order (repeats included)."""
        with self.lock:
            return [r.webhook_id for r in self.requests if r.status and 200 <= r.status < 300]

    def by_id(self, event_id):
        with self.lock:
            return [r for r in self.requests if r.webhook_id == event_id]

    def wait(self, predicate, timeout=10):
        """Waits until predicate(requests) is true; returns it (or the last false value)."""
        deadline = time.time() + timeout
        with self.cond:
            while True:
                value = predicate(self.requests)
                left = deadline - time.time()
                if value or left <= 0:
                    return value
                self.cond.wait(min(left, 0.5))

    def wait_count(self, n, timeout=10):
        return self.wait(lambda reqs: len(reqs) >= n, timeout)

    def wait_ids(self, ids, timeout=10):
        ids = set(ids)
        return self.wait(lambda reqs: ids <= {r.webhook_id for r in reqs}, timeout)

    def close(self):
        self.release.set()
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class StatusSink(Sink):
    """A subscriber that answers every request with self.status (tests change it as they
    go) after self.delay seconds. It does not listen until start(): before that, and after
    stop(), connecting is refused, as in an outage."""

    def __init__(self, status=200, delay=0.0, name="sink"):
        self.status = status
        self.delay = delay
        super().__init__(lambda req, n: Answer(self.status, hang=self.delay or None), name,
                         listening=False)


# ---- ready-made scripts ----

def always(status, headers=None):
    return lambda req, n: Answer(status, headers)


def fail_first(times, status=500, headers=None):
    """Each event's first `times` attempts get `status` (with headers), then 200."""
    return lambda req, n: Answer(status, headers) if n <= times else Answer(200)


def hang(seconds):
    return lambda req, n: Answer(200, hang=seconds)


def reset():
    return lambda req, n: Answer(reset=True)


def closed_port():
    """A loopback port with nothing listening on it: connecting is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
