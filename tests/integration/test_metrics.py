"""GET /metrics after real traffic: promtool-clean Prometheus text whose values agree with
what was sent and with the admin API's durable counters; and threads named for per-thread
tools."""
import os
import re
import shutil
import subprocess
import unittest

from harness import FAST_RETRY, Gateway, envelope, free_port, subscriber, wait_counter, wait_for
from sinks import StatusSink

PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"
SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?')


def parse(text):
    """{(name, ((label, value), ...)): float} of every sample line; label values unescaped."""
    out = {}
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = SAMPLE.match(line)
        assert m, "not a sample line: %r" % line
        labels = []
        if m.group(2):
            pos = 0
            while pos < len(m.group(2)):
                lm = LABEL.match(m.group(2), pos)
                assert lm, "bad labels in %r" % line
                value = re.sub(r'\\(.)', lambda e: {"n": "\n"}.get(e.group(1), e.group(1)),
                               lm.group(2))
                labels.append((lm.group(1), value))
                pos = lm.end()
        out[(m.group(1), tuple(sorted(labels)))] = float(m.group(3))
    return out


def get(samples, name, **labels):
    return samples[(name, tuple(sorted(labels.items())))]


class MetricsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.sink = StatusSink().start()
        cls.down = "http://127.0.0.1:%d/" % free_port()
        cls.gw = Gateway([{"name": "good", "url": cls.sink.url, "events": ["*"]},
                          {"name": "bad", "url": cls.down, "events": ["order.created"]},
                          {"name": "later", "url": cls.down, "events": ["never"],
                           "retry": {"initial_delay_ms": 3600000, "max_delay_ms": 3600000}}],
                         retry=FAST_RETRY).start()
        gw = cls.gw
        cls.requests = 0
        for i in range(20):
            assert gw.post(envelope("order.created" if i < 5 else "user.updated", "m_%d" % i)
                           ).status == 202
            cls.requests += 1
        assert gw.post(envelope("user.updated", "m_0")).status == 200  # a duplicate
        assert gw.post([envelope("user.updated", "b_%d" % i) for i in range(30)]).status == 202
        cls.requests += 2
        cls.received, cls.dups = 20 + 1 + 30, 1
        wait_counter(gw, "good", "delivered", 50)
        wait_counter(gw, "bad", "dead", 5)
        r = gw.request("GET", "/metrics")
        assert r.status == 200, r
        cls.response = r
        cls.text = r.body.decode()
        cls.samples = parse(cls.text)

    @classmethod
    def tearDownClass(cls):
        cls.gw.remove()
        cls.sink.close()

    def test_threads_are_named(self):
        """Per-thread tools (top -H, perf --sort comm) tell the threads apart by name."""
        task = "/proc/%d/task" % self.gw.proc.pid
        names = []
        for tid in os.listdir(task):
            with open(os.path.join(task, tid, "comm")) as f:
                names.append(f.read().strip())
        for name in ("hookgate", "hookgate-wr", "hookgate-dlv", "hookgate-ret", "hookgate-sig"):
            self.assertEqual(names.count(name), 1, "%s in %s" % (name, names))

    def test_promtool_check_passes(self):
        p = subprocess.run([PROMTOOL, "check", "metrics"], input=self.response.body,
                           capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stdout + p.stderr)
        self.assertEqual(p.stdout + p.stderr, b"", "promtool lint findings")
        self.assertTrue(self.response.headers["content-type"].startswith("text/plain; version=0.0.4"))

    def test_declared_families(self):
        for name, kind in (("hookgate_events_received_total", "counter"),
                           ("hookgate_deliveries_total", "counter"),
                           ("hookgate_pending_deliveries", "gauge"),
                           ("hookgate_dead_letters", "gauge"),
                           ("hookgate_ingest_duration_seconds", "histogram"),
                           ("hookgate_delivery_duration_seconds", "histogram"),
                           ("hookgate_store_commit_duration_seconds", "histogram"),
                           ("hookgate_store_committed_operations_total", "counter"),
                           ("hookgate_store_sync_duration_seconds", "histogram")):
            self.assertIn("# TYPE %s %s\n" % (name, kind), self.text)
            self.assertIn("# HELP %s " % name, self.text)

    def test_ingest_counters(self):
        self.assertEqual(get(self.samples, "hookgate_events_received_total"), self.received)
        self.assertEqual(get(self.samples, "hookgate_events_duplicate_total"), self.dups)
        self.assertEqual(get(self.samples, "hookgate_ingest_duration_seconds_count"), self.requests)
        self.assert_histogram("hookgate_ingest_duration_seconds", {})
        self.assertGreater(get(self.samples, "hookgate_ingest_duration_seconds_sum"), 0)

    def test_store_commits(self):
        """The writer's figures: every stored request and delivery outcome went through a
        commit; requests sent one at a time were each answered after a sync."""
        commits = get(self.samples, "hookgate_store_commit_duration_seconds_count")
        ops = get(self.samples, "hookgate_store_committed_operations_total")
        # 21 new-event requests (the duplicate may be answered without a write) and the 50
        # successful deliveries' outcomes, at least.
        self.assertGreaterEqual(ops, self.requests - 1 + 50)
        self.assertGreaterEqual(commits, 1)
        self.assertLessEqual(commits, ops)
        self.assert_histogram("hookgate_store_commit_duration_seconds", {})
        self.assertGreater(get(self.samples, "hookgate_store_commit_duration_seconds_sum"), 0)
        self.assertGreaterEqual(get(self.samples, "hookgate_store_sync_duration_seconds_count"), 1)
        self.assert_histogram("hookgate_store_sync_duration_seconds", {})

    def assert_histogram(self, name, labels):
        buckets = sorted(((float(dict(k[1])["le"]), v) for k, v in self.samples.items()
                          if k[0] == name + "_bucket" and
                          {a: b for a, b in k[1] if a != "le"} == labels))
        self.assertGreaterEqual(len(buckets), 8, "too few buckets")
        self.assertEqual(buckets[-1][0], float("inf"))
        counts = [v for _, v in buckets]
        self.assertEqual(counts, sorted(counts), "buckets must be cumulative")
        self.assertEqual(counts[-1], get(self.samples, name + "_count", **labels))
        return buckets

    def test_gauges_match_the_admin_api(self):
        for name in ("good", "bad", "later"):
            s = subscriber(self.gw, name)
            self.assertEqual(get(self.samples, "hookgate_pending_deliveries", subscriber=name),
                             s["pending"], name)
            self.assertEqual(get(self.samples, "hookgate_dead_letters", subscriber=name),
                             s["dead"], name)
        self.assertEqual(get(self.samples, "hookgate_dead_letters", subscriber="bad"), 5)
        self.assertEqual(get(self.samples, "hookgate_pending_deliveries", subscriber="later"), 0)
        self.assertGreater(get(self.samples, "hookgate_store_used_bytes"), 0)

    def test_every_subscriber_has_every_outcome_series(self):
        for name in ("good", "bad", "later"):
            for outcome in ("success", "failure", "dead"):
                get(self.samples, "hookgate_deliveries_total", subscriber=name, outcome=outcome)

    def test_delivery_outcomes_match_the_counters(self):
        # Needs the delivery worker's metrics_delivery calls.
        good, bad = subscriber(self.gw, "good"), subscriber(self.gw, "bad")
        outcome = lambda n, o: get(self.samples, "hookgate_deliveries_total", subscriber=n,
                                   outcome=o)
        self.assertEqual(outcome("good", "success"), good["delivered"])
        self.assertEqual(outcome("good", "failure") + outcome("good", "dead"), 0)
        self.assertEqual(outcome("bad", "dead"), 5)
        self.assertEqual(outcome("bad", "failure") + outcome("bad", "dead"),
                         bad["failed_attempts"])
        self.assertEqual(outcome("bad", "success"), 0)
        for name in ("good", "bad"):
            attempts = sum(outcome(name, o) for o in ("success", "failure", "dead"))
            self.assertEqual(get(self.samples, "hookgate_delivery_duration_seconds_count",
                                 subscriber=name), attempts)
            self.assert_histogram("hookgate_delivery_duration_seconds", {"subscriber": name})

    def test_pending_gauge_moves(self):
        gw = self.gw
        assert gw.post(envelope("never", "m_later")).status == 202
        s = parse(gw.request("GET", "/metrics").body.decode())
        self.assertEqual(get(s, "hookgate_pending_deliveries", subscriber="later"), 1)
        self.assertEqual(get(s, "hookgate_events_received_total"), self.received + 1)
        # the first attempt fails at once and the next is an hour away: still pending
        self.assertTrue(wait_for(lambda: subscriber(gw, "later")["failed_attempts"] == 1))
        s = parse(gw.request("GET", "/metrics").body.decode())
        self.assertEqual(get(s, "hookgate_pending_deliveries", subscriber="later"), 1)
        self.assertEqual(get(s, "hookgate_dead_letters", subscriber="later"), 0)


if __name__ == "__main__":
    unittest.main()
