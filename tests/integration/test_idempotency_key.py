"""The Idempotency-Key header on POST /events: it becomes a single envelope's id, must equal
an id the envelope already has, only routes a batch, and catches a producer's retry as a
duplicate. Real gateway, real sink."""
import json
import socket
import time
import unittest

from harness import Gateway
from sinks import Sink


def post(gw, body, key=None, headers=None):
    h = dict(headers or {})
    if key is not None:
        h["Idempotency-Key"] = key
    return gw.post(body, h)


class IdempotencyKeyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sink = Sink(name="all")
        cls.gw = Gateway([{"name": "all", "url": cls.sink.url, "events": ["*"]}]).start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.close()
        cls.sink.close()

    def assert_error(self, r, status, code):
        self.assertEqual(r.status, status, r)
        body = r.json()
        self.assertEqual(body["error"], code, r)
        return body["detail"]

    def assert_not_stored(self, event_id):
        self.assertEqual(self.gw.event(event_id).status, 404)

    def test_key_becomes_the_id_and_a_retry_is_a_duplicate(self):
        r = post(self.gw, {"type": "order", "payload": {"n": 1}}, key="order-1:try_a")
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json(), {"id": "order-1:try_a", "deliveries": 1})
        # stored and delivered with the key as its id, inserted into the body
        stored = self.gw.event("order-1:try_a")
        self.assertEqual(stored.status, 200, stored)
        self.assertEqual(stored.json()["event"]["id"], "order-1:try_a")
        self.assertTrue(self.sink.wait_ids({"order-1:try_a"}, timeout=20))
        got = self.sink.by_id("order-1:try_a")
        self.assertEqual(json.loads(got[0].body)["id"], "order-1:try_a")
        self.assertEqual(json.loads(got[0].body)["payload"], {"n": 1})

        # the producer retries the same request: a duplicate, nothing new delivered
        r = post(self.gw, {"type": "order", "payload": {"n": 1}}, key="order-1:try_a")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"id": "order-1:try_a", "deliveries": 1, "duplicate": True})
        # also when the retry carries the id in the body as well
        r = post(self.gw, {"type": "order", "id": "order-1:try_a", "payload": {}},
                 key="order-1:try_a")
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.json()["duplicate"])
        time.sleep(0.3)
        self.assertEqual(len(self.sink.by_id("order-1:try_a")), 1)

    def test_key_catches_an_event_first_posted_with_its_id_in_the_body(self):
        r = post(self.gw, {"type": "order", "id": "body-first", "payload": 1})
        self.assertEqual(r.status, 202, r)
        r = post(self.gw, {"type": "order", "payload": 1}, key="body-first")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"id": "body-first", "deliveries": 1, "duplicate": True})

    def test_key_equal_to_the_id_is_accepted_and_the_body_kept(self):
        raw = b'{"type":"order","id":"same-1","occurred_at":"2026-11-27T10:00:00Z","payload":[1]}'
        r = post(self.gw, raw, key="same-1")
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json()["id"], "same-1")
        self.assertIn(b'"event":' + raw + b",", self.gw.event("same-1").body)

    def test_key_different_from_the_id_is_refused_naming_both(self):
        r = post(self.gw, {"type": "order", "id": "id-a", "payload": 1}, key="key-b")
        detail = self.assert_error(r, 400, "idempotency_key_mismatch")
        self.assertIn("Idempotency-Key", detail)
        self.assertIn('"key-b"', detail)
        self.assertIn('"id-a"', detail)
        self.assert_not_stored("id-a")
        self.assert_not_stored("key-b")
        # ids compare exactly: case and length count
        r = post(self.gw, {"type": "order", "id": "Key-B", "payload": 1}, key="key-b")
        self.assert_error(r, 400, "idempotency_key_mismatch")
        r = post(self.gw, {"type": "order", "id": "key-b2", "payload": 1}, key="key-b")
        self.assert_error(r, 400, "idempotency_key_mismatch")

    def test_batch_key_only_routes(self):
        batch = [{"type": "order", "payload": 1}, {"type": "order", "id": "batch-2", "payload": 2}]
        r = post(self.gw, batch, key="batch-key")
        self.assertEqual(r.status, 202, r)
        ids = [x["id"] for x in r.json()["results"]]
        self.assertEqual(ids[1], "batch-2")
        self.assertNotEqual(ids[0], "batch-key")  # generated, as without a key
        self.assertEqual(len(ids[0]), 36)
        self.assert_not_stored("batch-key")
        # a one-element batch too: its own id is kept whatever the key says
        r = post(self.gw, [{"type": "order", "id": "batch-3", "payload": 3}], key="other-key")
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json()["results"][0]["id"], "batch-3")
        self.assertTrue(self.sink.wait_ids({ids[0], "batch-2", "batch-3"}, timeout=20))
        # but it is still validated
        r = post(self.gw, batch, key="bad key")
        self.assert_error(r, 400, "invalid_header")

    def test_malformed_keys_are_refused_naming_the_header(self):
        for key in ("a.b", "a b", "x" * 201, "caf\u00e9".encode("utf-8").decode("latin-1"),
                    "a/b", "k\t"):
            r = post(self.gw, {"type": "order", "payload": 1}, key=key)
            detail = self.assert_error(r, 400, "invalid_header")
            self.assertIn("Idempotency-Key", detail, key)
        # the longest key is fine
        r = post(self.gw, {"type": "order", "payload": 1}, key="k" * 200)
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json()["id"], "k" * 200)
        # checked before the body is read as JSON
        r = post(self.gw, b"{not json", key="a.b")
        self.assert_error(r, 400, "invalid_header")

    def raw_post(self, header_lines, body=b'{"type":"order","payload":1}'):
        """POST /events with header_lines written as given; returns (status, body)."""
        req = (b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n" +
               b"".join(h + b"\r\n" for h in header_lines) +
               b"Content-Length: %d\r\nConnection: close\r\n\r\n" % len(body) + body)
        with socket.create_connection(("127.0.0.1", self.gw.port), timeout=10) as s:
            s.sendall(req)
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        head, _, payload = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), payload

    def test_header_name_is_case_insensitive_and_may_not_repeat(self):
        status, body = self.raw_post([b"IDEMPOTENCY-KEY: upper-1"])
        self.assertEqual(status, 202, body)
        self.assertEqual(json.loads(body)["id"], "upper-1")
        status, body = self.raw_post([b"Idempotency-Key: rep-1", b"Idempotency-Key: rep-1"])
        self.assertEqual(status, 400, body)
        self.assertEqual(json.loads(body)["error"], "invalid_header")
        self.assertIn("Idempotency-Key", json.loads(body)["detail"])
        self.assert_not_stored("rep-1")
        status, body = self.raw_post([b"Idempotency-Key:"])
        self.assertEqual(status, 400, body)
        self.assertEqual(json.loads(body)["error"], "invalid_header")


if __name__ == "__main__":
    unittest.main()
