"""Hostile ingest bodies and config files: ill-formed UTF-8, unpaired surrogates, repeated keys."""
import json
import os
import subprocess
import unittest

from harness import Gateway, binary, free_port

DEAD_URL = "http://127.0.0.1:%d/hook" % free_port()
SLOW_RETRY = {"initial_delay_ms": 3600000, "max_delay_ms": 3600000, "max_attempts": 5}
SUBSCRIBERS = [{"name": "all", "url": DEAD_URL, "events": ["*"], "retry": SLOW_RETRY}]

# Byte strings that are not well-formed UTF-8 (Unicode table 3-7), by kind.
BAD_UTF8 = [
    ("ff", b"\xff"),
    ("fe", b"\xfe"),
    ("lone_continuation", b"\x80"),
    ("overlong_2", b"\xc0\x80"),
    ("overlong_2_c1", b"\xc1\xbf"),
    ("overlong_3", b"\xe0\x80\x80"),
    ("overlong_3_edge", b"\xe0\x9f\xbf"),
    ("overlong_4", b"\xf0\x80\x80\x80"),
    ("surrogate_first", b"\xed\xa0\x80"),
    ("surrogate_last", b"\xed\xbf\xbf"),
    ("surrogate_pair_as_utf8", b"\xed\xa0\xbd\xed\xb8\x80"),
    ("above_10ffff", b"\xf4\x90\x80\x80"),
    ("f5", b"\xf5\x80\x80\x80"),
    ("truncated_2", b"\xc3"),
    ("truncated_3", b"\xe2\x82"),
    ("truncated_4", b"\xf0\x9f\x98"),
    ("truncated_then_ascii", b"\xe2\x82z"),
]

# Escapes that do not decode to Unicode scalar values.
BAD_ESCAPES = [
    ("high_alone", rb"\ud800"),
    ("high_then_text", rb"\ud83dz"),
    ("high_then_bmp", rb"\ud83d\u0041"),
    ("high_then_high", rb"\ud83d\ud83d"),
    ("low_alone", rb"\udc00"),
    ("low_then_high", rb"\ude00\ud83d"),
    ("pair_then_low", rb"\ud83d\ude00\udfff"),
]


class HostileIngestTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.gw = Gateway(SUBSCRIBERS).start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.close()

    def assert_rejected(self, r, code):
        self.assertEqual(r.status, 400, r)
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"), r.headers)
        body = r.json()  # the error body itself is valid JSON (and UTF-8)
        self.assertEqual(body["error"], code, body)
        self.assertIsInstance(body["detail"], str)
        return body["detail"]

    def assert_not_stored(self, *ids):
        for event_id in ids:
            r = self.gw.event(event_id)
            self.assertEqual(r.status, 404, (event_id, r))

    def test_invalid_utf8_in_payload_is_400_and_not_stored(self):
        for name, bad in BAD_UTF8:
            with self.subTest(kind=name):
                eid = "utf8_payload_" + name
                body = b'{"type":"t","id":"' + eid.encode() + b'","payload":{"s":"a' + bad + b'b"}}'
                detail = self.assert_rejected(self.gw.post(body), "invalid_json")
                self.assertIn("UTF-8", detail)
                self.assert_not_stored(eid)

    def test_invalid_utf8_at_the_end_of_the_body(self):
        # A sequence cut by the end of the input, not by a quote.
        for bad in (b"\xc3", b"\xe2\x82", b"\xf0\x9f\x98"):
            with self.subTest(bad=bad):
                body = b'{"type":"t","id":"utf8_end","payload":"' + bad
                self.assert_rejected(self.gw.post(body), "invalid_json")
        self.assert_not_stored("utf8_end")

    def test_invalid_utf8_in_keys_and_other_fields(self):
        cases = [
            ("key", b'{"type":"t","id":"utf8_key","payload":{"k\xff":1}}'),
            ("top_key", b'{"type":"t","id":"utf8_top_key","x\xc0\x80":1,"payload":1}'),
            ("extra", b'{"type":"t","id":"utf8_extra","note":"\xed\xa0\x80","payload":1}'),
            ("nested", b'{"type":"t","id":"utf8_nested","payload":[1,{"a":["\xf4\x90\x80\x80"]}]}'),
        ]
        for name, body in cases:
            with self.subTest(where=name):
                self.assert_rejected(self.gw.post(body), "invalid_json")
        self.assert_not_stored("utf8_key", "utf8_top_key", "utf8_extra", "utf8_nested")

    def test_invalid_utf8_in_a_batch_rejects_the_whole_batch(self):
        body = (b'[{"type":"t","id":"utf8_batch_0","payload":1},'
                b'{"type":"t","id":"utf8_batch_1","payload":"\xe0\x80\x80"}]')
        self.assert_rejected(self.gw.post(body), "invalid_json")
        self.assert_not_stored("utf8_batch_0", "utf8_batch_1")

    def test_unpaired_surrogate_escapes_are_400_and_not_stored(self):
        for name, esc in BAD_ESCAPES:
            with self.subTest(kind=name):
                eid = "surrogate_" + name
                body = b'{"type":"t","id":"' + eid.encode() + b'","payload":{"s":"a' + esc + b'"}}'
                detail = self.assert_rejected(self.gw.post(body), "invalid_json")
                self.assertIn("surrogate", detail)
                self.assert_not_stored(eid)
        # In a key as well.
        body = b'{"type":"t","id":"surrogate_key","payload":{"\\udfff":1}}'
        self.assert_rejected(self.gw.post(body), "invalid_json")
        self.assert_not_stored("surrogate_key")

    def test_valid_unicode_is_accepted_and_stored_byte_identical(self):
        raw = ('{"type":"t","id":"unicode_ok","occurred_at":"2026-11-27T10:00:00Z",'
               '"payload":{"two":"\u00e9\u07ff","three":"\u20ac\ud7ff\ue000\uffff",'
               '"four":"\U0001F600\U0010FFFF","pair":"\\ud83d\\ude00\\udbff\\udfff",'
               '"caf\u00e9":"\u00fc"}}').encode("utf-8")
        r = self.gw.post(raw)
        self.assertEqual(r.status, 202, r)
        got = self.gw.event("unicode_ok")
        self.assertEqual(got.status, 200, got)
        self.assertIn(b'"event":' + raw + b",", got.body)
        self.assertEqual(got.json()["event"]["payload"]["pair"], "\U0001F600\U0010FFFF")

    def test_repeated_top_level_key_is_400_naming_it(self):
        r = self.gw.post(b'{"type":"t","id":"dupA","id":"dupB","payload":1}')
        detail = self.assert_rejected(r, "invalid_envelope")
        self.assertIn('"id"', detail)
        self.assertIn("duplicate", detail)
        self.assert_not_stored("dupA", "dupB")
        cases = [
            ("type", b'{"type":"t","type":"u","id":"dup_type","payload":1}'),
            ("payload", b'{"type":"t","id":"dup_payload","payload":1,"payload":2}'),
            ("occurred_at", b'{"type":"t","id":"dup_occ","occurred_at":"2026-11-27T10:00:00Z",'
                            b'"occurred_at":"2026-11-28T10:00:00Z","payload":1}'),
            ("extra", b'{"type":"t","id":"dup_extra","extra":1,"payload":1,"extra":2}'),
            # An escaped spelling is the same key once decoded.
            ("x", b'{"type":"t","id":"dup_escaped","x":1,"payload":1,"\\u0078":2}'),
        ]
        for key, body in cases:
            with self.subTest(key=key):
                detail = self.assert_rejected(self.gw.post(body), "invalid_envelope")
                self.assertIn("duplicate key", detail)
                if key != "x":
                    self.assertIn('"%s"' % key, detail)
        self.assert_not_stored("dup_type", "dup_payload", "dup_occ", "dup_extra", "dup_escaped")

    def test_repeated_key_in_a_batch_names_the_index(self):
        items = [b'{"type":"t","id":"dup_batch_%d","payload":%d}' % (i, i) for i in range(5)]
        items[3] = b'{"type":"t","id":"dup_batch_3","payload":1,"id":"dup_batch_x"}'
        detail = self.assert_rejected(self.gw.post(b"[" + b",".join(items) + b"]"),
                                      "invalid_envelope")
        self.assertTrue(detail.startswith("[3]"), detail)
        self.assertIn('"id"', detail)
        self.assert_not_stored(*["dup_batch_%d" % i for i in range(5)], "dup_batch_x")

    def test_repeated_keys_below_the_top_level_are_kept(self):
        raw = b'{"type":"t","id":"dup_nested_ok","payload":{"a":1,"a":2},"meta":{"id":1,"id":2}}'
        r = self.gw.post(raw)
        self.assertEqual(r.status, 202, r)
        got = self.gw.event("dup_nested_ok")
        self.assertEqual(got.status, 200)
        self.assertIn(raw[1:], got.body)  # after the inserted occurred_at

    def test_gateway_still_serves_after_hostile_input(self):
        r = self.gw.post(json.dumps({"type": "t", "id": "after_hostile", "payload": "\u00e9"}))
        self.assertEqual(r.status, 202, r)
        self.assertEqual(self.gw.event("after_hostile").status, 200)


class HostileConfigTest(unittest.TestCase):
    """Config files go through the same JSON reader and secret decoder."""

    def check(self, text):
        gw = Gateway()
        try:
            with open(gw.config_path, "wb") as f:
                f.write(text)
            p = subprocess.run([binary(), "--config", gw.config_path, "--check"],
                               capture_output=True, timeout=30)
            return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")
        finally:
            gw.close()

    def config(self, **extra):
        c = {"listen": "127.0.0.1:%d" % free_port(), "data_dir": "d", "subscribers": []}
        c.update(extra)
        return json.dumps(c).encode()

    def test_invalid_utf8_in_config_is_an_error(self):
        rc, out = self.check(self.config(data_dir="PLACEHOLDER").replace(b"PLACEHOLDER", b"d\xff"))
        self.assertEqual(rc, 1, out)
        self.assertIn("UTF-8", out)
        rc, out = self.check(self.config(data_dir="PLACEHOLDER").replace(b"PLACEHOLDER", b"\\udc00"))
        self.assertEqual(rc, 1, out)
        self.assertIn("surrogate", out)
        rc, out = self.check(self.config(data_dir="d\u00e9\U0001F600"))
        self.assertEqual(rc, 0, out)

    def test_bad_secret_is_an_error_naming_its_path(self):
        sub = {"name": "s", "url": "http://127.0.0.1:1/", "events": ["*"],
               "secret": ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_AAECAw"]}
        rc, out = self.check(self.config(subscribers=[sub]))
        self.assertEqual(rc, 1, out)
        self.assertIn("subscribers[0].secret[1]", out)
        self.assertNotIn("AAECAw", out)  # secret values are never echoed
        sub["secret"] = "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"  # base64 without the prefix
        rc, out = self.check(self.config(subscribers=[sub]))
        self.assertEqual(rc, 1, out)
        self.assertIn("subscribers[0].secret", out)

    def test_new_limits(self):
        rc, out = self.check(self.config(max_connections=8, max_buffered_body_bytes=2097152,
                                         max_body_bytes=2097152, store_failure_exit_ms=0))
        self.assertEqual(rc, 0, out)
        rc, out = self.check(self.config(max_body_bytes=4096, max_buffered_body_bytes=4095,
                                         max_connections=0))
        self.assertEqual(rc, 1, out)
        self.assertIn("max_buffered_body_bytes", out)
        self.assertIn("max_connections", out)


if __name__ == "__main__":
    unittest.main()
