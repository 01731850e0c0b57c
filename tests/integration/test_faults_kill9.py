"""Fault test: kill -9 at random moments, again and again, on the same data_dir.

Each cycle starts the gateway on the same store with three real subscribers (sinks.py),
posts events (singles and batches, plus re-posts of ids acknowledged earlier, which must
answer 200 duplicate) from a few client threads while deliveries flow, and kills it with
SIGKILL at a random moment. After the last cycle a final start drains everything: every
id ever acknowledged (202, or 200 duplicate) must reach every sink.
"""
import http.client
import json
import random
import threading
import time
import unittest

import sinks
from faultkit import FaultGateway, Load, envelope, mdb_stat, say, timing_scale

CYCLES = 12
RETRY = {"initial_delay_ms": 100, "max_delay_ms": 1000, "max_attempts": 100000, "jitter": 0.2}


class Kill9LoopTest(unittest.TestCase):
    def setUp(self):
        self.sinks = [sinks.Sink(name="s%d" % i) for i in range(3)]
        subs = [{"name": s.name, "url": s.url, "events": ["*"], "retry": RETRY}
                for s in self.sinks]
        self.gw = FaultGateway(subs, shim=False, shutdown_grace_ms=1000)

    def tearDown(self):
        self.gw.remove()
        for s in self.sinks:
            s.close()

    def repost(self, ids):
        """Posts already acknowledged ids again; returns (answered 200 duplicate, other)."""
        dup = other = 0
        conn = http.client.HTTPConnection("127.0.0.1", self.gw.port, timeout=10)
        try:
            for eid in ids:
                try:
                    conn.request("POST", "/events", json.dumps(envelope("message_created", eid)),
                                 {"Content-Type": "application/json"})
                    r = conn.getresponse()
                    body = r.read()
                except (OSError, http.client.HTTPException):
                    break  # killed under us
                if r.status == 200 and json.loads(body).get("duplicate") is True:
                    dup += 1
                else:
                    other += 1
                    self.bad_reposts.append((eid, r.status, body[:200]))
        finally:
            conn.close()
        return dup, other

    def test_kill9_loop_loses_nothing_acknowledged(self):
        rnd = random.Random()
        scale = timing_scale()
        acked, unknown, requests, dup_posts = set(), 0, 0, 0
        self.bad_reposts = []
        t_start = time.time()
        kills = []
        early = 0
        for cycle in range(CYCLES):
            if cycle % 4 == 3:
                # Also die during start-up (store open, recovery), before serving anything.
                self.gw.start(wait=False)
                time.sleep(rnd.uniform(0, 0.1) * scale)
                self.gw.kill9()
                early += 1
            self.gw.start()
            load = Load(self.gw.port, "k9c%d" % cycle, threads=3, batch_sizes=(1, 1, 1, 5, 20),
                        max_requests=60, max_seconds=5 * scale, pace_s=0.005).start()
            reposter = None
            if acked:
                sample = rnd.sample(sorted(acked), min(20, len(acked)))
                result = {}
                reposter = threading.Thread(target=lambda: result.update(r=self.repost(sample)))
                reposter.start()
            alive = rnd.uniform(0.2, 1.5) * scale
            time.sleep(alive)
            self.gw.kill9()
            kills.append(alive)
            load.stop()
            if reposter:
                reposter.join(30)
                dup_posts += result.get("r", (0, 0))[0]
            ids, statuses, _ = load.snapshot()
            acked.update(ids)
            unknown += load.unknown
            requests += load.requests
        self.assertEqual(self.bad_reposts, [], "re-posting an acknowledged id must answer 200 duplicate")
        self.assertGreater(len(acked), 200, "too little was acknowledged to prove anything")

        # Final start: everything drains.
        self.gw.start()
        t_drain = time.time()
        missing = {}
        for s in self.sinks:
            if not s.wait_ids(acked, timeout=90 * scale):
                missing[s.name] = sorted(acked - s.ids())
        drain = time.time() - t_drain
        self.assertEqual(self.gw.stop(), 0)
        ok, out = mdb_stat(self.gw.config["data_dir"])
        received = sum(s.count() for s in self.sinks)
        redelivered = sum(sum(n - 1 for n in s.attempts.values() if n > 1) for s in self.sinks)
        say("kill -9 loop: %d cycles under load (alive %.2f-%.2f s each) + %d kills during "
            "start-up, %d POSTs (%d without an answer), "
            "%d ids acknowledged, %d re-posts answered 200 duplicate; drained in %.1f s: "
            "%d deliveries received by 3 sinks, %d of them redeliveries; total %.1f s",
            CYCLES, min(kills), max(kills), early, requests, unknown, len(acked), dup_posts, drain,
            received, redelivered, time.time() - t_start)
        self.assertEqual({k: (len(v), v[:5]) for k, v in missing.items()}, {},
                         "acknowledged ids never delivered")
        self.assertTrue(ok, out)


if __name__ == "__main__":
    unittest.main()
