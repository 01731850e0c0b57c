"""Black-box tests of POST /events: statuses, storage, fan-out, durability, bad input."""
import json
import os
import random
import signal
import socket
import threading
import time
import unittest

from harness import Gateway, envelope, free_port, request, wait_for

# Subscribers on a port nobody listens on, with a long backoff: their deliveries stay
# pending, so the tests see exactly what ingest stored.
DEAD_URL = "http://127.0.0.1:%d/hook" % free_port()
SLOW_RETRY = {"initial_delay_ms": 3600000, "max_delay_ms": 3600000, "max_attempts": 5}
SUBSCRIBERS = [
    {"name": "all", "url": DEAD_URL, "events": ["*"], "retry": SLOW_RETRY},
    {"name": "messages", "url": DEAD_URL, "events": ["message_created", "message_viewed"],
     "retry": SLOW_RETRY},
    {"name": "shop", "url": DEAD_URL, "events": ["product_purchased"],
     "filter": {"payload.product_id": ["prod_123", "prod_456"]}, "retry": SLOW_RETRY},
]


class IngestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(SUBSCRIBERS, max_body_bytes=65536).start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.close()

    def assert_error(self, r, status, code=None):
        self.assertEqual(r.status, status, r)
        body = r.json()
        self.assertIn("error", body)
        self.assertIn("detail", body)
        if code:
            self.assertEqual(body["error"], code)
        return body

    def test_single_event_accepted_and_stored_byte_identical(self):
        raw = b'{"type":"message_created","id":"evt_single_1","occurred_at":"2026-11-27T10:00:00Z",  "payload":{"text":"hi \\u00e9"},"extra":[1,2]}'
        r = self.gw.post(raw)
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json(), {"id": "evt_single_1", "deliveries": 2})
        got = self.gw.event("evt_single_1")
        self.assertEqual(got.status, 200)
        self.assertIn(b'"event":' + raw + b',', got.body)  # stored exactly as sent
        subs = sorted(d["subscriber"] for d in got.json()["deliveries"])
        self.assertEqual(subs, ["all", "messages"])
        for d in got.json()["deliveries"]:
            self.assertIn(d["state"], ("pending", "in_flight"))

    def test_missing_id_and_occurred_at_are_filled_in(self):
        r = self.gw.post({"type": "task_completed", "payload": {"task": 7}})
        self.assertEqual(r.status, 202, r)
        eid = r.json()["id"]
        self.assertRegex(eid, r"^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        ev = self.gw.event(eid).json()["event"]
        self.assertEqual(ev["id"], eid)
        self.assertRegex(ev["occurred_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")
        self.assertEqual(ev["payload"], {"task": 7})

    def test_missing_occurred_at_only(self):
        r = self.gw.post({"type": "task_completed", "id": "evt_no_time", "payload": 1})
        self.assertEqual(r.status, 202, r)
        ev = self.gw.event("evt_no_time").json()["event"]
        self.assertEqual(ev["id"], "evt_no_time")
        self.assertIn("occurred_at", ev)

    def test_filter_fan_out(self):
        r = self.gw.post(envelope("product_purchased", "evt_prod_match", {"product_id": "prod_456"}))
        self.assertEqual(r.json()["deliveries"], 2)
        r = self.gw.post(envelope("product_purchased", "evt_prod_other", {"product_id": "prod_999"}))
        self.assertEqual(r.json()["deliveries"], 1)
        r = self.gw.post(envelope("product_purchased", "evt_prod_none", {"other": 1}))
        self.assertEqual(r.json()["deliveries"], 1)
        subs = [d["subscriber"] for d in self.gw.event("evt_prod_other").json()["deliveries"]]
        self.assertEqual(subs, ["all"])

    def test_duplicate(self):
        e = envelope("message_viewed", "evt_dup_1")
        self.assertEqual(self.gw.post(e).status, 202)
        r = self.gw.post(e)
        self.assertEqual(r.status, 200)
        self.assertEqual(r.json(), {"id": "evt_dup_1", "deliveries": 2, "duplicate": True})
        self.assertEqual(len(self.gw.event("evt_dup_1").json()["deliveries"]), 2)

    def test_batch(self):
        batch = [envelope("message_created", "evt_b_%d" % i) for i in range(3)]
        batch.append(envelope("form_submission"))
        r = self.gw.post(batch)
        self.assertEqual(r.status, 202, r)
        results = r.json()["results"]
        self.assertEqual([x["id"] for x in results[:3]], ["evt_b_0", "evt_b_1", "evt_b_2"])
        self.assertEqual([x["deliveries"] for x in results], [2, 2, 2, 1])
        for x in results:
            self.assertEqual(self.gw.event(x["id"]).status, 200)

    def test_batch_is_all_or_nothing(self):
        batch = [envelope("message_created", "evt_bad_batch_%d" % i) for i in range(5)]
        batch[3] = {"id": "evt_bad_batch_3", "payload": {}}
        body = self.assert_error(self.gw.post(batch), 400)
        self.assertIn("[3]", body["detail"])
        for i in range(5):
            self.assertEqual(self.gw.event("evt_bad_batch_%d" % i).status, 404)

    def test_batch_limits(self):
        self.assert_error(self.gw.post([]), 400)
        gw = self.gw
        small = [{"type": "t", "payload": 0} for _ in range(1001)]
        self.assert_error(gw.post(small), 400)
        ok = [{"type": "t", "payload": 0} for _ in range(1000)]
        r = gw.post(ok)
        self.assertEqual(r.status, 202, r)
        self.assertEqual(len(r.json()["results"]), 1000)

    def test_envelope_validation(self):
        cases = [
            ({"payload": {}}, "type"),
            ({"type": "", "payload": {}}, "type"),
            ({"type": "has space", "payload": {}}, "type"),
            ({"type": 5, "payload": {}}, "type"),
            ({"type": "a" * 201, "payload": {}}, "type"),
            ({"type": "t", "id": "has.dot", "payload": {}}, "id"),
            ({"type": "t", "id": 12, "payload": {}}, "id"),
            ({"type": "t", "id": "x" * 201, "payload": {}}, "id"),
            ({"type": "t", "occurred_at": "yesterday", "payload": {}}, "occurred_at"),
            ({"type": "t", "occurred_at": "2026-13-01T00:00:00Z", "payload": {}}, "occurred_at"),
            ({"type": "t"}, "payload"),
        ]
        # A repeated top-level key is refused and named (json.dumps cannot write one).
        err = self.assert_error(self.gw.post(b'{"type":"t","id":"A","id":"B","payload":1}'), 400,
                                "invalid_envelope")
        self.assertIn('"id"', err["detail"])
        for body, field in cases:
            with self.subTest(body=body):
                err = self.assert_error(self.gw.post(body), 400)
                self.assertIn(field, err["detail"])
        self.assert_error(self.gw.post('"just a string"'), 400)
        self.assert_error(self.gw.post("[1]"), 400)
        r = self.gw.post({"type": "a.b:c-d_e", "id": "A-z_0:9", "occurred_at": "2026-11-27T10:00:00.5+01:00", "payload": None})
        self.assertEqual(r.status, 202, r)

    def test_malformed_json(self):
        for body in [b"", b"{", b'{"type":"t","payload":{}', b"{'type':'t'}", b'{"type":"t" "payload":1}',
                     b'{"type":"t","payload":tru}', b'{"type":"t","payload":1} x', b"\xff\xfe",
                     # strings must be well-formed UTF-8 with paired surrogate escapes
                     b'{"type":"t","payload":"\xc0\x80"}', b'{"type":"t","payload":"\\ud800"}']:
            with self.subTest(body=body):
                self.assert_error(self.gw.post(body), 400)

    def test_nesting_depth(self):
        def nested(n):
            return '{"type":"t","payload":' + "[" * (n - 1) + "]" * (n - 1) + "}"
        self.assertEqual(self.gw.post(nested(64)).status, 202)
        self.assert_error(self.gw.post(nested(65)), 400)
        self.assert_error(self.gw.post(nested(100)), 400)

    def test_body_too_large(self):
        body = json.dumps(envelope(payload={"x": "y" * 70000}))
        self.assert_error(self.gw.post(body), 413, "payload_too_large")

    def test_content_type(self):
        e = json.dumps(envelope())
        self.assert_error(self.gw.post(e, {"Content-Type": "text/plain"}), 415)
        self.assertEqual(self.gw.post(e, {"Content-Type": "application/json; charset=utf-8"}).status, 202)
        # An empty Content-Type is a type other than application/json, not a missing one.
        self.assert_error(request(self.gw.port, "POST", "/events", e.encode(), {"Content-Type": ""}), 415)
        # No Content-Type header at all is accepted.
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=10)
        conn.putrequest("POST", "/events")
        conn.putheader("Content-Length", str(len(e)))
        conn.endheaders(e.encode())
        self.assertEqual(conn.getresponse().status, 202)
        conn.close()

    def test_other_routes(self):
        self.assertEqual(self.gw.request("GET", "/healthz").json(), {"status": "ok"})
        self.assert_error(self.gw.request("GET", "/events"), 405)
        self.assert_error(self.gw.request("GET", "/nope"), 404)
        self.assert_error(self.gw.event("no_such_event"), 404)


class TokenTest(unittest.TestCase):
    def test_ingest_token(self):
        with Gateway([], ingest_token="${TEST_INGEST_TOKEN}", env={"TEST_INGEST_TOKEN": "s3cret"}) as gw:
            e = envelope()
            self.assertEqual(gw.post(e).status, 401)
            self.assertEqual(gw.post(e, {"Authorization": "Bearer wrong"}).status, 401)
            self.assertEqual(gw.post(e, {"Authorization": "Bearer s3cret"}).status, 202)
            self.assertNotIn("s3cret", gw.logs())


class DurabilityTest(unittest.TestCase):
    def test_duplicate_survives_restart(self):
        gw = Gateway(SUBSCRIBERS).start()
        try:
            self.assertEqual(gw.post(envelope("message_created", "evt_restart")).status, 202)
            self.assertEqual(gw.stop(), 0)
            gw.start()
            r = gw.post(envelope("message_created", "evt_restart"))
            self.assertEqual(r.status, 200)
            self.assertTrue(r.json()["duplicate"])
        finally:
            gw.close()

    def test_kill9_keeps_every_acknowledged_event(self):
        gw = Gateway(SUBSCRIBERS).start()
        acked, lock = [], threading.Lock()
        stop = threading.Event()

        def blast(tid):
            import http.client
            conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
            for i in range(5000):
                if stop.is_set():
                    break
                eid = "evt_k9_%d_%d" % (tid, i)
                try:
                    conn.request("POST", "/events", json.dumps(envelope("message_created", eid)),
                                 {"Content-Type": "application/json"})
                    r = conn.getresponse()
                    r.read()
                except OSError:
                    break
                if r.status == 202:
                    with lock:
                        acked.append(eid)

        try:
            threads = [threading.Thread(target=blast, args=(t,)) for t in range(8)]
            for t in threads:
                t.start()
            time.sleep(1.5)
            gw.kill9()
            stop.set()
            for t in threads:
                t.join()
            self.assertGreater(len(acked), 100)
            gw.start()
            missing = [e for e in acked if gw.event(e).status != 200]
            self.assertEqual(missing, [])
            d = gw.event(acked[-1]).json()["deliveries"]
            self.assertEqual(sorted(x["subscriber"] for x in d), ["all", "messages"])
        finally:
            gw.close()

    def test_store_full_gives_503_and_keeps_serving(self):
        gw = Gateway([{"name": "all", "url": DEAD_URL, "events": ["*"], "retry": SLOW_RETRY}],
                     map_size_mb=1).start()
        try:
            accepted, full = [], None
            for i in range(400):
                eid = "evt_full_%d" % i
                r = gw.post(envelope(id_=eid, payload={"pad": "x" * 8000}))
                if r.status == 503:
                    full = r
                    break
                self.assertEqual(r.status, 202, r)
                accepted.append(eid)
            self.assertIsNotNone(full, "store never filled")
            self.assertIn("retry-after", full.headers)
            self.assertEqual(full.json()["error"], "store_full")
            # The failed commit may show on /healthz (check "store") until the writer's next
            # probe commit, which fits in what is left, succeeds: the gateway keeps serving.
            h = gw.request("GET", "/healthz")
            if h.status != 200:
                self.assertEqual((h.status, h.json()["check"]), (503, "store"), h)
            self.assertTrue(wait_for(lambda: gw.request("GET", "/healthz").status == 200, 10),
                            gw.request("GET", "/healthz"))
            for eid in accepted:
                self.assertEqual(gw.event(eid).status, 200)
            # Small events may still fit; anything acknowledged is stored.
            r = gw.post(envelope(id_="evt_small_after_full", payload=1))
            if r.status == 202:
                self.assertEqual(gw.event("evt_small_after_full").status, 200)
            else:
                self.assertEqual((r.status, r.json()["error"]), (503, "store_full"))
                self.assertEqual(gw.event("evt_small_after_full").status, 404)
            self.assertEqual(gw.stop(), 0)
            # After a restart on the full store, everything acknowledged is still there.
            gw.start()
            for eid in accepted:
                self.assertEqual(gw.event(eid).status, 200)
        finally:
            gw.close()


class LifecycleTest(unittest.TestCase):
    def test_sigterm_exits_zero(self):
        gw = Gateway(SUBSCRIBERS).start()
        try:
            self.assertEqual(gw.post(envelope()).status, 202)
            self.assertEqual(gw.stop(), 0)
            self.assertIn("stopped", gw.logs())
        finally:
            gw.close()

    def test_sigint_exits_zero(self):
        gw = Gateway(SUBSCRIBERS).start()
        try:
            gw.signal(signal.SIGINT)
            self.assertEqual(gw.proc.wait(30), 0)
        finally:
            gw.close()


class GarbageTest(unittest.TestCase):
    def test_garbage_burst_leaves_gateway_serving(self):
        gw = Gateway(SUBSCRIBERS, max_body_bytes=65536).start()
        rnd = random.Random(42)
        try:
            def raw_send(data, read=True):
                s = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
                try:
                    s.sendall(data)
                    if read:
                        try:
                            s.recv(65536)
                        except OSError:
                            pass
                finally:
                    s.close()

            for _ in range(50):  # random bytes as a whole request
                raw_send(bytes(rnd.getrandbits(8) for _ in range(rnd.randint(1, 2000))))
            for _ in range(30):  # random bodies behind a valid request line
                body = bytes(rnd.getrandbits(8) for _ in range(rnd.randint(0, 3000)))
                self.assertEqual(gw.post(body).status, 400)
            good = json.dumps(envelope(payload={"a": [1, 2, {"b": "c"}]}))
            for cut in range(1, len(good), 7):  # truncated JSON
                self.assertEqual(gw.post(good[:cut]).status, 400)
            self.assertEqual(gw.post('{"type":"t","payload":' + "[" * 100 + "]" * 100 + "}").status, 400)
            self.assertEqual(gw.post("[" * 60000).status, 400)
            huge = "x" * 200000  # huge header
            try:
                r = request(gw.port, "POST", "/events", json.dumps(envelope()), {"X-Huge": huge})
                self.assertIn(r.status, (202, 400, 413, 431))
            except OSError:
                pass
            # slow senders: a partial request that never finishes, held open meanwhile
            slow = [socket.create_connection(("127.0.0.1", gw.port)) for _ in range(20)]
            for s in slow:
                s.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"ty")
            # a declared body much larger than allowed
            r = request(gw.port, "POST", "/events", b"{" * 300000)
            self.assertEqual(r.status, 413)
            self.assertEqual(gw.post(envelope(id_="evt_after_garbage")).status, 202)
            for s in slow:
                s.close()
            self.assertEqual(gw.request("GET", "/healthz").status, 200)
            self.assertIsNone(gw.proc.poll())
            self.assertEqual(gw.stop(), 0)
        finally:
            gw.close()


if __name__ == "__main__":
    unittest.main()
