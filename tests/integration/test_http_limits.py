"""Black-box tests of the HTTP server's own defences: ambiguous framing (request
smuggling), bodies over max_body_bytes, max_connections, and the cap on request-body bytes
held in memory (max_buffered_body_bytes)."""
import json
import os
import re
import socket
import threading
import time
import unittest

from harness import Gateway, envelope, request, wait_for


def raw_exchange(port, data, timeout=5):
    """Sends data on one connection and reads until the server closes it (or timeout)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    try:
        s.sendall(data)
        chunks, closed = [], False
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                b = s.recv(65536)
            except socket.timeout:
                break
            if not b:
                closed = True
                break
            chunks.append(b)
        return b"".join(chunks), closed
    finally:
        s.close()


def responses(raw):
    """The status codes of the HTTP/1.1 responses in raw, in order."""
    return [int(code) for code in re.findall(rb"HTTP/1\.1 (\d{3}) ", raw)]


def body_of(raw):
    return json.loads(raw.split(b"\r\n\r\n", 1)[1].decode())


def head(path, *headers):
    lines = ["POST %s HTTP/1.1" % path, "Host: x", "Content-Type: application/json"] + list(headers)
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def rss_anon_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("RssAnon:"):
                return int(line.split()[1])
    return 0


class FramingTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway().start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.close()

    def test_content_length_with_transfer_encoding_is_refused_and_closes(self):
        hidden = json.dumps(envelope(id_="smuggled-1")).encode()
        smuggle = (b"0\r\n\r\n" + head("/events", "Content-Length: %d" % len(hidden)) + hidden)
        data = head("/events", "Content-Length: %d" % len(smuggle), "Transfer-Encoding: chunked") + smuggle
        raw, closed = raw_exchange(self.gw.port, data)
        self.assertEqual(responses(raw), [400], raw)
        self.assertTrue(closed, "the connection must be closed after an ambiguous request")
        self.assertEqual(body_of(raw)["error"], "bad_request")
        self.assertIn("Transfer-Encoding", body_of(raw)["detail"])
        # The request hidden behind the chunked body was never served.
        self.assertEqual(self.gw.event("smuggled-1").status, 404)

    def test_transfer_encoding_before_content_length_too(self):
        hidden = json.dumps(envelope(id_="smuggled-2")).encode()
        data = (head("/events", "Transfer-Encoding: chunked", "Content-Length: 4") + b"0\r\n\r\n" +
                head("/events", "Content-Length: %d" % len(hidden)) + hidden)
        raw, closed = raw_exchange(self.gw.port, data)
        self.assertEqual(responses(raw), [400], raw)
        self.assertTrue(closed)
        self.assertEqual(self.gw.event("smuggled-2").status, 404)

    def test_different_content_lengths_are_refused(self):
        body = json.dumps(envelope(id_="two-lengths")).encode()
        data = head("/events", "Content-Length: %d" % len(body), "Content-Length: %d" % (len(body) - 1)) + body
        raw, closed = raw_exchange(self.gw.port, data)
        self.assertEqual(responses(raw), [400], raw)
        self.assertTrue(closed)
        self.assertEqual(self.gw.event("two-lengths").status, 404)

    def test_ambiguous_framing_is_refused_on_every_route(self):
        data = head("/healthz", "Content-Length: 5", "Transfer-Encoding: chunked") + b"0\r\n\r\n"
        raw, closed = raw_exchange(self.gw.port, data)
        self.assertEqual(responses(raw), [400], raw)
        self.assertTrue(closed)

    def test_identical_content_lengths_are_accepted(self):
        body = json.dumps(envelope(id_="same-lengths")).encode()
        data = head("/events", "Connection: close", "Content-Length: %d" % len(body),
                    "Content-Length: %d" % len(body)) + body
        raw, _ = raw_exchange(self.gw.port, data)
        self.assertEqual(responses(raw), [202], raw)

    def test_plain_pipelining_still_works(self):
        one = json.dumps(envelope(id_="pipe-1")).encode()
        two = json.dumps(envelope(id_="pipe-2")).encode()
        data = (head("/events", "Content-Length: %d" % len(one)) + one +
                head("/events", "Connection: close", "Content-Length: %d" % len(two)) + two)
        raw, _ = raw_exchange(self.gw.port, data)
        self.assertEqual(responses(raw), [202, 202], raw)


class BodyLimitTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(max_body_bytes=10000).start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.close()

    def test_declared_length_over_the_limit_is_refused_before_the_body(self):
        # Only the head is sent: the answer must come without the body.
        raw, closed = raw_exchange(self.gw.port, head("/events", "Content-Length: 50000000"))
        self.assertEqual(responses(raw), [413], raw)
        self.assertIn(b"application/json", raw)
        self.assertEqual(body_of(raw)["error"], "payload_too_large")
        self.assertTrue(closed)

    def test_chunked_body_over_the_limit_gets_a_json_413(self):
        chunk = b"x" * 6000
        data = head("/events", "Transfer-Encoding: chunked") + (b"%x\r\n%s\r\n" % (len(chunk), chunk)) * 3
        raw, _ = raw_exchange(self.gw.port, data)
        self.assertEqual(responses(raw), [413], raw)
        self.assertEqual(body_of(raw)["error"], "payload_too_large")

    def test_a_body_just_under_the_limit_is_accepted(self):
        e = envelope(id_="fits", payload="y" * 9000)
        self.assertEqual(self.gw.post(e).status, 202)


class ConnectionLimitTest(unittest.TestCase):
    def test_max_connections_holds_new_clients_until_one_closes(self):
        with Gateway(max_connections=3) as gw:
            idle = [socket.create_connection(("127.0.0.1", gw.port)) for _ in range(3)]
            time.sleep(0.3)  # the server has accepted them
            extra = socket.create_connection(("127.0.0.1", gw.port), timeout=1.5)
            extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            with self.assertRaises(socket.timeout):
                extra.recv(100)  # waits in the backlog: not answered
            idle[0].close()
            extra.settimeout(10)
            self.assertTrue(extra.recv(100).startswith(b"HTTP/1.1 200"))
            extra.close()
            for s in idle[1:]:
                s.close()
            self.assertIn("max_connections (3) reached", gw.logs())


class BufferedBodyCapTest(unittest.TestCase):
    def test_many_large_bodies_arriving_at_once_stay_under_the_cap(self):
        """32 clients send 4 MiB bodies at once. Without the cap h2o buffers them all
        (over 128 MiB); with a 16 MiB cap the bodies beyond it are held back by TCP flow
        control, memory stays bounded, and every request is still answered."""
        size = 4 << 20
        cap = 16 << 20
        env = {"ASAN_OPTIONS": (os.environ.get("ASAN_OPTIONS", "") + ":quarantine_size_mb=0").lstrip(":")}
        with Gateway(env=env, max_body_bytes=size, max_buffered_body_bytes=cap) as gw:
            time.sleep(0.2)
            before = rss_anon_kib(gw.proc.pid)
            bodies, socks = [], []
            for i in range(32):
                e = json.dumps(envelope(id_="big-%d" % i, payload="z")).encode()
                body = e[:-1] + b', "pad": "' + b"p" * (size - len(e) - 12) + b'"}'
                bodies.append(body)
                s = socket.create_connection(("127.0.0.1", gw.port), timeout=60)
                s.sendall(head("/events", "Connection: close", "Content-Length: %d" % len(body)))
                socks.append(s)
            peak = [0]

            def send(i):
                try:
                    socks[i].sendall(bodies[i])
                except OSError:
                    pass  # answered (503) and closed before the whole body was sent

            threads = [threading.Thread(target=send, args=(i,)) for i in range(32)]
            for t in threads:
                t.start()
            # While the bodies arrive, sample the gateway's own memory.
            deadline = time.time() + 20
            while time.time() < deadline and any(t.is_alive() for t in threads):
                peak[0] = max(peak[0], rss_anon_kib(gw.proc.pid))
                time.sleep(0.01)
            statuses = []
            for s in socks:
                raw = b""
                while True:
                    try:
                        b = s.recv(65536)
                    except ConnectionResetError:
                        b = b""
                    if not b:
                        break
                    raw += b
                statuses.extend(responses(raw))
                s.close()
            for t in threads:
                t.join(5)
            growth_mib = (peak[0] - before) / 1024
            print("\n  32 x 4 MiB bodies, cap 16 MiB: RssAnon growth %.1f MiB, answers %s" %
                  (growth_mib, {c: statuses.count(c) for c in set(statuses)}))
            self.assertEqual(len(statuses), 32)
            self.assertTrue(set(statuses) <= {202, 503}, statuses)
            self.assertGreater(statuses.count(202), 0)
            # README's bound: 3 x cap + 2 x max_body_bytes + connections x 256 KiB, plus 8 MiB
            # for the allocator and LMDB's own state. Without the cap this was 128 MiB.
            self.assertLess(growth_mib, 3 * 16 + 2 * 4 + 32 * 0.25 + 8)

    def test_bodies_being_handled_past_the_cap_get_503_with_retry_after(self):
        with Gateway(max_body_bytes=100000, max_buffered_body_bytes=150000) as gw:
            seen_503, accepted = None, []
            for round_ in range(5):
                results = [None] * 24

                def post(i):
                    e = envelope(id_="held-%d-%d" % (round_, i), payload="q" * 90000)
                    results[i] = gw.post(e)

                threads = [threading.Thread(target=post, args=(i,)) for i in range(24)]
                for t in threads:
                    t.start()
                for t in threads:
                    t.join(30)
                for i, r in enumerate(results):
                    if r.status == 202:
                        accepted.append("held-%d-%d" % (round_, i))
                    elif r.status == 503:
                        seen_503 = r
                    else:
                        self.fail("unexpected %r" % r)
                if seen_503:
                    break
            self.assertIsNotNone(seen_503, "24 concurrent 90 kB bodies never passed a 150 kB cap")
            self.assertEqual(seen_503.json()["error"], "overloaded")
            self.assertEqual(seen_503.headers.get("retry-after"), "1")
            for event_id in accepted:
                self.assertEqual(gw.event(event_id).status, 200, event_id)


if __name__ == "__main__":
    unittest.main()
