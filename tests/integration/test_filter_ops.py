"""Filter operators end to end: gt, gte, lt, lte, prefix, exists, in and not_in, each on its
own subscriber of one gateway, delivering to its own path of one sink; plus the config
errors that --check reports for bad operator objects."""
import json
import os
import subprocess
import tempfile
import time
import unittest

from harness import Gateway, binary
from sinks import Sink

# name -> filter. Every subscriber takes every type; only its filter decides.
FILTERS = {
    "gt": {"payload.amount": {"gt": 100}},
    "gte": {"payload.amount": {"gte": 100}},
    "lt": {"payload.amount": {"lt": 100}},
    "lte": {"payload.amount": {"lte": 100}},
    "prefix": {"payload.sku": {"prefix": "pro_"}},
    "exists": {"payload.coupon": {"exists": True}},
    "not_exists": {"payload.coupon": {"exists": False}},
    "in": {"payload.region": {"in": ["eu", "us"]}},
    "not_in": {"payload.region": {"not_in": ["eu", "us"]}},
    # operators combine with each other and with plain values: every key must pass
    "combined": {"payload.amount": {"gte": 50}, "payload.sku": {"prefix": "pro_"},
                 "payload.region": "eu"},
}

# Raw bodies (so escapes reach the gateway as written), by id.
EVENTS = {
    "a50": b'{"id":"a50","type":"order","payload":{"amount":50,"sku":"pro_1","region":"eu",'
           b'"coupon":"X"}}',
    "a100": b'{"id":"a100","type":"order","payload":{"amount":1e2,"sku":"basic_1",'
            b'"region":"us"}}',
    # an escaped string compares decoded; a null coupon is still there
    "a150": b'{"id":"a150","type":"order","payload":{"amount":150.5,"sku":"\\u0070ro_2",'
            b'"region":"apac","coupon":null}}',
    # the wrong kinds: a numeric string, a number for a string, a boolean
    "kinds": b'{"id":"kinds","type":"order","payload":{"amount":"100","sku":5,'
             b'"region":true}}',
    # objects, arrays and null are the wrong kind for every operator but exists
    "containers": b'{"id":"containers","type":"order","payload":{"amount":{"v":200},'
                  b'"sku":["pro_1"],"region":null,"coupon":{}}}',
    # every path missing
    "missing": b'{"id":"missing","type":"order","payload":{}}',
    "no_payload_object": b'{"id":"no_payload_object","type":"order","payload":"pro_1"}',
}

EXPECTED = {
    "gt": {"a150"},
    "gte": {"a100", "a150"},
    "lt": {"a50"},
    "lte": {"a50", "a100"},
    "prefix": {"a50", "a150"},
    "exists": {"a50", "a150", "containers"},
    "not_exists": {"a100", "kinds", "missing", "no_payload_object"},
    "in": {"a50", "a100"},
    "not_in": {"a150", "kinds", "missing", "no_payload_object"},
    "combined": {"a50"},
}


class FilterOperatorsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sink = Sink(name="ops")
        base = "http://127.0.0.1:%d/" % cls.sink.port
        subscribers = [{"name": name, "url": base + name, "events": ["*"], "filter": f}
                       for name, f in FILTERS.items()]
        cls.gw = Gateway(subscribers).start()

    @classmethod
    def tearDownClass(cls):
        cls.gw.close()
        cls.sink.close()

    def received(self):
        """subscriber name -> the set of event ids its path received."""
        got = {name: set() for name in FILTERS}
        for r in self.sink.snapshot():
            got.setdefault(r.path.lstrip("/"), set()).add(r.webhook_id)
        return got

    def test_each_operator_delivers_exactly_what_matches(self):
        for eid, body in EVENTS.items():
            r = self.gw.post(body)
            self.assertEqual(r.status, 202, r)
            self.assertEqual(r.json()["deliveries"],
                             sum(eid in ids for ids in EXPECTED.values()), (eid, r))
        total = sum(len(ids) for ids in EXPECTED.values())
        self.assertTrue(self.sink.wait_count(total, timeout=20), self.received())
        time.sleep(0.3)  # strays or repeats would have time to arrive
        self.assertEqual(self.sink.count(), total)
        self.assertEqual(self.received(), EXPECTED)
        # the admin view agrees: each event has a delivery for exactly its subscribers
        for eid in EVENTS:
            r = self.gw.event(eid)
            self.assertEqual(r.status, 200, r)
            subs = {d["subscriber"] for d in r.json()["deliveries"]}
            self.assertEqual(subs, {n for n, ids in EXPECTED.items() if eid in ids}, eid)


class FilterOperatorConfigTest(unittest.TestCase):
    def check(self, filter_):
        """Runs --check on a config whose one subscriber has filter_; returns (status, stderr)."""
        with tempfile.TemporaryDirectory(prefix="hookgate-test-") as d:
            path = os.path.join(d, "config.json")
            with open(path, "w") as f:
                json.dump({"listen": "127.0.0.1:1", "data_dir": os.path.join(d, "data"),
                           "subscribers": [{"name": "s", "url": "http://127.0.0.1:1/",
                                            "events": ["*"], "filter": filter_}]}, f)
            p = subprocess.run([binary(), "--config", path, "--check"], capture_output=True,
                               text=True, timeout=10)
            return p.returncode, p.stdout, p.stderr

    def test_valid_operators_check_ok(self):
        status, out, err = self.check({name: op for f in FILTERS.values()
                                       for name, op in f.items() if isinstance(op, dict)})
        self.assertEqual((status, out.strip()), (0, "ok"), err)

    def test_bad_operator_objects_are_errors_naming_the_path(self):
        status, _, err = self.check({
            "payload.amount": {"gte": "5"},
            "payload.a": {"$gt": 1},
            "payload.b": {"gt": 1, "lt": 2},
            "payload.c": {},
            "payload.d": {"prefix": 1},
            "payload.e": {"exists": "yes"},
            "payload.f": {"in": []},
            "payload.g": {"not_in": [1, None]},
        })
        self.assertEqual(status, 1, err)
        lines = err.strip().splitlines()
        want = [
            'subscribers[0].filter["payload.amount"].gte: expected a number',
            'subscribers[0].filter["payload.a"]["$gt"]: unknown operator',
            'subscribers[0].filter["payload.b"]: expected exactly one operator',
            'subscribers[0].filter["payload.c"]: expected exactly one operator',
            'subscribers[0].filter["payload.d"].prefix: expected a string',
            'subscribers[0].filter["payload.e"].exists: expected true or false',
            'subscribers[0].filter["payload.f"].in: expected a non-empty array',
            'subscribers[0].filter["payload.g"].not_in[1]: expected a string, number or boolean',
        ]
        self.assertEqual(len(lines), len(want), err)
        for line, prefix in zip(lines, want):
            self.assertTrue(line.startswith("config: " + prefix), (line, prefix))


if __name__ == "__main__":
    unittest.main()
