"""Black-box tests of delivery: fan-out, headers and signatures, retries and backoff,
Retry-After, dead-lettering, timeouts and connection errors, isolation, crash recovery,
reload and shutdown. Real hookgate, real sink servers on loopback."""
import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import subprocess
import threading
import time
import unittest

import sinks
from harness import Gateway, binary, envelope, wait_for
from sinks import Answer, Sink

HERE = os.path.dirname(os.path.abspath(__file__))
SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
SECRET2 = "whsec_" + base64.b64encode(b"a second key, for rotation!").decode()
# Small, deterministic backoff: 200 ms, 400 ms, 800 ms ... without jitter.
FAST_RETRY = {"initial_delay_ms": 200, "multiplier": 2.0, "max_delay_ms": 5000, "jitter": 0,
              "max_attempts": 5}
SLACK = 0.02  # clock granularity between the sink's time.time() and the gateway's


def expected_signature(secret, msg_id, timestamp, body):
    key = base64.b64decode(secret[len("whsec_"):])
    mac = hmac.new(key, b"%s.%s." % (msg_id.encode(), timestamp.encode()) + body, hashlib.sha256)
    return "v1," + base64.b64encode(mac.digest()).decode()


def version():
    out = subprocess.run([binary(), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.split()[-1]


class DeliveryCase(unittest.TestCase):
    """Starts sinks and a gateway per test and closes them whatever happens."""

    def setUp(self):
        self.cleanups = []

    def tearDown(self):
        for fn in reversed(self.cleanups):
            fn()

    def sink(self, script=None, name="sink"):
        s = Sink(script, name=name)
        self.cleanups.append(s.close)
        return s

    def gateway(self, subscribers, **config):
        gw = Gateway(subscribers, **config)
        self.cleanups.append(gw.close)
        return gw.start()

    def delivery(self, gw, event_id, subscriber):
        r = gw.event(event_id)
        self.assertEqual(r.status, 200, r)
        for d in r.json()["deliveries"]:
            if d["subscriber"] == subscriber:
                return d
        self.fail("event %s has no delivery for %s: %r" % (event_id, subscriber, r))

    def wait_state(self, gw, event_id, subscriber, state, timeout=20):
        got = wait_for(lambda: self.delivery(gw, event_id, subscriber)["state"] == state,
                       timeout=timeout, interval=0.05)
        d = self.delivery(gw, event_id, subscriber)
        self.assertTrue(got, "delivery of %s to %s never became %s: %r" %
                        (event_id, subscriber, state, d))
        return d

    def post(self, gw, body, status=202):
        r = gw.post(body)
        self.assertEqual(r.status, status, r)
        return r.json()


class FanOutTest(DeliveryCase):
    def test_fan_out_bodies_and_headers(self):
        everything = self.sink(name="everything")
        shop = self.sink(name="shop")
        other = self.sink(name="other")
        rotated = self.sink(name="rotated")
        gw = self.gateway([
            {"name": "everything", "url": everything.url, "events": ["*"], "secret": SECRET,
             "headers": {"X-Api-Key": "k-123", "X-Tenant": "acme"}},
            {"name": "shop", "url": shop.url, "events": ["message_created"],
             "filter": {"payload.product_id": ["prod_1", "prod_2"]}},
            {"name": "other", "url": other.url, "events": ["never_sent"]},
            {"name": "rotated", "url": rotated.url, "events": ["order_paid"],
             "secret": [SECRET, SECRET2]},
        ])
        # Sent with id and occurred_at, so each must arrive byte for byte as posted.
        raw = {
            "m1": b'{"type":"message_created","id":"m1","occurred_at":"2026-11-27T10:00:00Z",'
                  b' "payload": {"product_id": "prod_1", "text": "h\\u00e9 \xc3\xa9"}, "x": [1, 2.5]}',
            "m2": b'{"type":"message_created","id":"m2","occurred_at":"2026-11-27T10:00:01Z",'
                  b'"payload":{"product_id":"prod_9"}}',
            "o1": b'{"id":"o1","type":"order_paid","occurred_at":"2026-11-27T10:00:02Z",'
                  b'"payload":{"total":12}}',
        }
        for eid, body in raw.items():
            self.post(gw, body)
        self.assertTrue(everything.wait_ids(raw, timeout=20), everything.snapshot())
        self.assertTrue(shop.wait_ids({"m1"}, timeout=20))
        self.assertTrue(rotated.wait_ids({"o1"}, timeout=20))
        time.sleep(0.3)  # would-be duplicates or strays have time to arrive

        self.assertEqual(sorted(r.webhook_id for r in everything.snapshot()), ["m1", "m2", "o1"])
        self.assertEqual([r.webhook_id for r in shop.snapshot()], ["m1"])
        self.assertEqual([r.webhook_id for r in rotated.snapshot()], ["o1"])
        self.assertEqual(other.count(), 0)

        agent = "hookgate/" + version()
        for sink in (everything, shop, rotated):
            for r in sink.snapshot():
                self.assertEqual(r.method, "POST")
                self.assertEqual(r.path, "/hook/" + sink.name)
                self.assertEqual(r.body, raw[r.webhook_id])
                self.assertEqual(r.headers["content-type"], "application/json")
                self.assertEqual(r.headers["user-agent"], agent)
                ts = r.headers["webhook-timestamp"]
                self.assertTrue(ts.isdigit(), ts)
                self.assertLess(abs(int(ts) - r.at), 5)
                self.assertNotIn("expect", r.headers)

        for r in everything.snapshot():
            self.assertEqual(r.headers["x-api-key"], "k-123")
            self.assertEqual(r.headers["x-tenant"], "acme")
            self.assertEqual(r.headers["webhook-signature"],
                             expected_signature(SECRET, r.webhook_id, r.headers["webhook-timestamp"],
                                                r.body))
        for r in shop.snapshot():
            self.assertNotIn("webhook-signature", r.headers)
            self.assertNotIn("x-api-key", r.headers)
        (r,) = rotated.snapshot()
        ts = r.headers["webhook-timestamp"]
        self.assertEqual(r.headers["webhook-signature"].split(" "),
                         [expected_signature(SECRET, "o1", ts, r.body),
                          expected_signature(SECRET2, "o1", ts, r.body)])

        for eid, subs in {"m1": ["everything", "shop"], "m2": ["everything"],
                          "o1": ["everything", "rotated"]}.items():
            d = gw.event(eid).json()["deliveries"]
            self.assertEqual(sorted(x["subscriber"] for x in d), subs)
            for x in d:
                self.wait_state(gw, eid, x["subscriber"], "delivered")
            for x in gw.event(eid).json()["deliveries"]:
                self.assertEqual(x["attempts"], 1)
                self.assertEqual(x["last_status"], 200)

    def test_generated_id_is_the_webhook_id(self):
        s = self.sink()
        gw = self.gateway([{"name": "s", "url": s.url, "events": ["*"]}])
        eid = self.post(gw, {"type": "task_done", "payload": {"n": 1}})["id"]
        self.assertTrue(s.wait_ids({eid}, timeout=20))
        (r,) = s.by_id(eid)
        body = json.loads(r.body)
        self.assertEqual(body["id"], eid)
        self.assertIn("occurred_at", body)
        self.assertEqual(body["payload"], {"n": 1})

    def test_batch_reaches_every_subscriber_once(self):
        a, b = self.sink(name="a"), self.sink(name="b")
        gw = self.gateway([{"name": "a", "url": a.url, "events": ["*"]},
                           {"name": "b", "url": b.url, "events": ["*"]}])
        ids = ["batch_%d" % i for i in range(300)]
        for i in range(0, 300, 100):
            self.post(gw, [envelope(id_=e) for e in ids[i:i + 100]])
        for s in (a, b):
            self.assertTrue(s.wait_ids(ids, timeout=30), "missing %d" % len(set(ids) - s.ids()))
        time.sleep(0.3)
        for s in (a, b):
            self.assertEqual(s.count(), 300)  # no delivery was claimed twice

    def test_new_events_are_delivered_promptly(self):
        # The worker is woken at ingest, not by its once-a-second sweep.
        s = self.sink()
        gw = self.gateway([{"name": "s", "url": s.url, "events": ["*"]}])
        self.post(gw, envelope(id_="warmup"))
        self.assertTrue(s.wait_ids({"warmup"}, timeout=20))
        delays = []
        for i in range(5):
            eid = "prompt_%d" % i
            t0 = time.time()
            self.post(gw, envelope(id_=eid))
            self.assertTrue(s.wait_ids({eid}, timeout=20))
            delays.append(s.by_id(eid)[0].at - t0)
        self.assertLess(max(delays), 0.8, delays)


class RetryTest(DeliveryCase):
    def test_fail_then_succeed_with_backoff(self):
        s = self.sink(sinks.fail_first(3, 500))
        gw = self.gateway([{"name": "s", "url": s.url, "events": ["*"], "retry": FAST_RETRY}])
        self.post(gw, envelope(id_="flaky"))
        self.assertTrue(s.wait_count(4, timeout=30), s.snapshot())
        d = self.wait_state(gw, "flaky", "s", "delivered")
        self.assertEqual(d["attempts"], 4)
        self.assertEqual(d["last_status"], 200)
        at = [r.at for r in s.snapshot()]
        gaps = [b - a for a, b in zip(at, at[1:])]
        for gap, delay in zip(gaps, (0.2, 0.4, 0.8)):
            self.assertGreaterEqual(gap, delay - SLACK, gaps)
            self.assertLess(gap, delay + 3, gaps)
        time.sleep(0.5)
        self.assertEqual(s.count(), 4)  # nothing after the 2xx

    def test_pending_delivery_reports_the_failure(self):
        s = self.sink(sinks.always(500))
        gw = self.gateway([{"name": "s", "url": s.url, "events": ["*"],
                            "retry": {"initial_delay_ms": 60000, "jitter": 0}}])
        self.post(gw, envelope(id_="waiting"))
        self.assertTrue(s.wait_count(1, timeout=20))
        got = wait_for(lambda: self.delivery(gw, "waiting", "s")["attempts"] == 1, timeout=20)
        self.assertTrue(got)
        d = self.delivery(gw, "waiting", "s")
        self.assertEqual(d["state"], "pending")
        self.assertEqual(d["last_status"], 500)
        self.assertEqual(d["last_error"], "HTTP 500")
        self.assertIsNotNone(d["next_attempt_at"])

    def test_retry_after_sets_the_delay(self):
        too_many = self.sink(sinks.fail_first(1, 429, {"Retry-After": "1"}), name="too_many")
        unavailable = self.sink(sinks.fail_first(1, 503, {"Retry-After": "1"}), name="unavailable")
        capped = self.sink(sinks.fail_first(1, 429, {"Retry-After": "3600"}), name="capped")
        ignored = self.sink(sinks.fail_first(1, 500, {"Retry-After": "3600"}), name="ignored")
        quick = {"initial_delay_ms": 50, "jitter": 0, "max_attempts": 3}
        gw = self.gateway([
            {"name": "too_many", "url": too_many.url, "events": ["*"], "retry": quick},
            {"name": "unavailable", "url": unavailable.url, "events": ["*"], "retry": quick},
            {"name": "capped", "url": capped.url, "events": ["*"],
             "retry": dict(quick, max_delay_ms=300)},
            {"name": "ignored", "url": ignored.url, "events": ["*"], "retry": quick},
        ])
        self.post(gw, envelope(id_="ra"))
        for s in (too_many, unavailable, capped, ignored):
            self.assertTrue(s.wait_count(2, timeout=30), s.name)
        gap = {}
        for s in (too_many, unavailable, capped, ignored):
            first, second = s.snapshot()[:2]
            gap[s.name] = second.at - first.at
        self.assertGreaterEqual(gap["too_many"], 1.0 - SLACK, gap)
        self.assertGreaterEqual(gap["unavailable"], 1.0 - SLACK, gap)
        self.assertGreaterEqual(gap["capped"], 0.3 - SLACK, gap)  # min(Retry-After, max_delay)
        self.assertLess(gap["capped"], 2.5, gap)
        self.assertLess(gap["ignored"], 2.5, gap)  # Retry-After only counts on 429/503
        for name in ("too_many", "unavailable", "capped", "ignored"):
            self.assertEqual(self.wait_state(gw, "ra", name, "delivered")["attempts"], 2)

    def test_410_dead_letters_at_once(self):
        s = self.sink(sinks.always(410))
        gw = self.gateway([{"name": "s", "url": s.url, "events": ["*"], "retry": FAST_RETRY}])
        self.post(gw, envelope(id_="gone"))
        d = self.wait_state(gw, "gone", "s", "dead")
        self.assertEqual(d["attempts"], 1)
        self.assertEqual(d["last_status"], 410)
        self.assertEqual(d["last_error"], "HTTP 410")
        time.sleep(0.6)  # longer than the first backoff step
        self.assertEqual(s.count(), 1)

    def test_redirect_is_a_failure_and_not_followed(self):
        target = self.sink(name="target")
        s = self.sink(sinks.always(302, {"Location": target.url}), name="redirecting")
        gw = self.gateway([{"name": "s", "url": s.url, "events": ["*"],
                            "retry": dict(FAST_RETRY, max_attempts=2)}])
        self.post(gw, envelope(id_="moved"))
        d = self.wait_state(gw, "moved", "s", "dead")
        self.assertEqual(d["attempts"], 2)
        self.assertEqual(d["last_status"], 302)
        self.assertEqual(d["last_error"], "HTTP 302")
        self.assertEqual(s.count(), 2)
        self.assertEqual(target.count(), 0)

    def test_max_attempts_dead_letters_with_history(self):
        s = self.sink(sinks.always(500))
        gw = self.gateway([{"name": "s", "url": s.url, "events": ["*"],
                            "retry": dict(FAST_RETRY, max_attempts=3, initial_delay_ms=100)}])
        self.post(gw, envelope(id_="doomed"))
        d = self.wait_state(gw, "doomed", "s", "dead")
        self.assertEqual(d["attempts"], 3)
        self.assertEqual(d["last_status"], 500)
        self.assertEqual(d["last_error"], "HTTP 500")
        self.assertIsNone(d["next_attempt_at"])
        self.assertEqual(s.count(), 3)
        time.sleep(0.5)
        self.assertEqual(s.count(), 3)  # no attempt after the last

        r = gw.request("GET", "/admin/dead-letters?subscriber=s")
        self.assertEqual(r.status, 200, r)
        (dl,) = r.json()["items"]
        self.assertEqual((dl["event_id"], dl["subscriber"], dl["attempts"], dl["last_status"]),
                         ("doomed", "s", 3, 500))
        r = gw.request("GET", "/admin/dead-letters/%s" % dl["id"])
        self.assertEqual(r.status, 200, r)
        history = r.json()["history"]
        self.assertEqual([(h["status"], h["error"]) for h in history], [(500, "HTTP 500")] * 3)
        for h in history:
            self.assertGreaterEqual(h["duration_ms"], 0)
            self.assertLess(h["duration_ms"], 10000)

        metrics = gw.request("GET", "/metrics").body.decode()
        for outcome, n in (("success", 0), ("failure", 2), ("dead", 1)):
            self.assertIn('hookgate_deliveries_total{subscriber="s",outcome="%s"} %d\n'
                          % (outcome, n), metrics)
        self.assertIn('hookgate_delivery_duration_seconds_count{subscriber="s"} 3\n', metrics)


class TransportErrorTest(DeliveryCase):
    def test_timeout_is_a_failed_attempt(self):
        s = self.sink(sinks.hang(30))
        gw = self.gateway([{"name": "s", "url": s.url, "events": ["*"], "timeout_ms": 300,
                            "retry": dict(FAST_RETRY, max_attempts=2, initial_delay_ms=100)}])
        self.post(gw, envelope(id_="slow"))
        d = self.wait_state(gw, "slow", "s", "dead")
        self.assertEqual(d["attempts"], 2)
        self.assertIsNone(d["last_status"])
        self.assertIn("timed out", d["last_error"].lower())
        first, second = s.snapshot()
        self.assertGreaterEqual(second.at - first.at, 0.3 + 0.1 - SLACK)

    def test_connection_refused(self):
        url = "http://127.0.0.1:%d/hook" % sinks.closed_port()
        gw = self.gateway([{"name": "s", "url": url, "events": ["*"],
                            "retry": dict(FAST_RETRY, max_attempts=3, initial_delay_ms=50)}])
        self.post(gw, envelope(id_="refused"))
        d = self.wait_state(gw, "refused", "s", "dead")
        self.assertEqual(d["attempts"], 3)
        self.assertIsNone(d["last_status"])
        self.assertIn("connect", d["last_error"].lower())

    def test_connection_reset(self):
        s = self.sink(sinks.reset())
        gw = self.gateway([{"name": "s", "url": s.url, "events": ["*"],
                            "retry": dict(FAST_RETRY, max_attempts=2, initial_delay_ms=50)}])
        self.post(gw, envelope(id_="reset"))
        d = self.wait_state(gw, "reset", "s", "dead")
        self.assertEqual(d["attempts"], 2)
        self.assertIsNone(d["last_status"])
        self.assertTrue(d["last_error"])
        self.assertEqual(s.count(), 2)

    def test_huge_response_body_is_discarded(self):
        big = b"x" * (8 << 20)
        s = self.sink(lambda req, n: Answer(200, body=big))
        gw = self.gateway([{"name": "s", "url": s.url, "events": ["*"]}])
        self.post(gw, [envelope(id_="big_%d" % i) for i in range(5)])
        for i in range(5):
            self.wait_state(gw, "big_%d" % i, "s", "delivered")


class IsolationTest(DeliveryCase):
    def test_hanging_subscriber_does_not_delay_the_others(self):
        stuck = self.sink(sinks.hang(60), name="stuck")
        healthy = self.sink(name="healthy")
        gw = self.gateway([
            {"name": "stuck", "url": stuck.url, "events": ["*"], "timeout_ms": 60000,
             "max_in_flight": 4},
            {"name": "healthy", "url": healthy.url, "events": ["*"]},
        ])
        ids = ["iso_%d" % i for i in range(1000)]
        t0 = time.time()
        for i in range(0, 1000, 100):
            self.post(gw, [envelope(id_=e) for e in ids[i:i + 100]])
        self.assertTrue(healthy.wait_ids(ids, timeout=60),
                        "healthy got %d of 1000" % len(healthy.ids()))
        elapsed = time.time() - t0
        self.assertLess(elapsed, 60)
        # The stuck subscriber holds exactly its own max_in_flight attempts, no more.
        self.assertEqual(stuck.count(), 4)
        self.assertEqual(healthy.count(), 1000)


class HealthTest(DeliveryCase):
    STALL_S = 10  # HEALTH_WORKER_STALL_MS in gateway/health.h

    def test_worker_with_every_slot_busy_is_not_stalled(self):
        # A full subscriber leaves nothing to claim, yet the worker's rounds go on: /healthz
        # must not mistake waiting for a hung peer for a stalled worker.
        stuck = self.sink(sinks.hang(60), name="stuck")
        gw = self.gateway([{"name": "stuck", "url": stuck.url, "events": ["*"],
                            "timeout_ms": 60000, "max_in_flight": 2}], max_in_flight=2)
        self.post(gw, [envelope(id_="busy_%d" % i) for i in range(6)])
        self.assertTrue(stuck.wait_count(2, timeout=20))
        r = gw.request("GET", "/healthz")
        self.assertEqual((r.status, r.json()), (200, {"status": "ok"}), r)
        time.sleep(self.STALL_S + 1.5)
        r = gw.request("GET", "/healthz")
        self.assertEqual((r.status, r.json()), (200, {"status": "ok"}), r)
        self.assertEqual(stuck.count(), 2)
        self.assertNotIn("cannot", gw.logs())


class CrashTest(DeliveryCase):
    def test_kill9_under_load_then_restart_delivers_every_acknowledged_event(self):
        a, b = self.sink(name="a"), self.sink(name="b")
        gw = self.gateway([{"name": "a", "url": a.url, "events": ["*"]},
                           {"name": "b", "url": b.url, "events": ["message_created"]}])
        acked = {"message_created": [], "order_paid": []}
        lock, stop = threading.Lock(), threading.Event()

        def producer(tid):
            import http.client
            conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=10)
            for i in range(400):
                if stop.is_set():
                    return
                kind = "message_created" if i % 2 else "order_paid"
                batch = [envelope(kind, "k9_%d_%d_%d" % (tid, i, j)) for j in range(5)]
                try:
                    conn.request("POST", "/events", json.dumps(batch),
                                 {"Content-Type": "application/json"})
                    r = conn.getresponse()
                    r.read()
                except OSError:
                    return
                if r.status == 202:
                    with lock:
                        acked[kind].extend(e["id"] for e in batch)

        threads = [threading.Thread(target=producer, args=(t,)) for t in range(4)]
        for t in threads:
            t.start()
        time.sleep(1.5)  # deliveries are flowing when the gateway dies
        gw.kill9()
        stop.set()
        for t in threads:
            t.join()
        every = acked["message_created"] + acked["order_paid"]
        self.assertGreater(len(every), 100)
        self.assertGreater(len(a.ids()), 0)

        gw.start()
        self.assertTrue(a.wait_ids(every, timeout=90), "a misses %d" % len(set(every) - a.ids()))
        self.assertTrue(b.wait_ids(acked["message_created"], timeout=90),
                        "b misses %d" % len(set(acked["message_created"]) - b.ids()))
        self.assertEqual(b.ids() & set(acked["order_paid"]), set())


class ReloadTest(DeliveryCase):
    def test_sighup_removing_a_subscriber_dead_letters_its_deliveries(self):
        keep = self.sink(name="keep")
        removed = self.sink(sinks.always(500), name="removed")
        subs = [{"name": "keep", "url": keep.url, "events": ["*"]},
                {"name": "removed", "url": removed.url, "events": ["*"],
                 "retry": {"initial_delay_ms": 60000, "jitter": 0}}]
        gw = self.gateway(subs)
        ids = ["rm_%d" % i for i in range(5)]
        self.post(gw, [envelope(id_=e) for e in ids])
        self.assertTrue(removed.wait_ids(ids, timeout=20))
        for e in ids:  # attempted once, now waiting a minute for the retry
            self.assertTrue(wait_for(lambda: self.delivery(gw, e, "removed")["attempts"] == 1,
                                     timeout=20))

        gw.config["subscribers"] = subs[:1]
        gw.write_config()
        gw.signal(signal.SIGHUP)
        for e in ids:
            d = self.wait_state(gw, e, "removed", "dead", timeout=20)
            self.assertEqual(d["last_error"], "subscriber removed")
            self.assertEqual(self.delivery(gw, e, "keep")["state"], "delivered")
        self.assertEqual(removed.count(), 5)
        # Events ingested after the reload no longer fan out to it.
        self.assertEqual(self.post(gw, envelope(id_="after_reload"))["deliveries"], 1)
        self.assertTrue(keep.wait_ids({"after_reload"}, timeout=20))

    def test_sighup_applies_new_headers_and_secret(self):
        s = self.sink()
        sub = {"name": "s", "url": s.url, "events": ["*"]}
        gw = self.gateway([sub])
        self.post(gw, envelope(id_="before"))
        self.assertTrue(s.wait_ids({"before"}, timeout=20))
        gw.config["subscribers"] = [dict(sub, secret=SECRET, headers={"X-Version": "2"})]
        gw.write_config()
        gw.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "config reloaded" in gw.logs(), timeout=20))
        self.post(gw, envelope(id_="after"))
        self.assertTrue(s.wait_ids({"after"}, timeout=20))
        (before,), (after,) = s.by_id("before"), s.by_id("after")
        self.assertNotIn("webhook-signature", before.headers)
        self.assertEqual(after.headers["x-version"], "2")
        self.assertEqual(after.headers["webhook-signature"],
                         expected_signature(SECRET, "after", after.headers["webhook-timestamp"],
                                            after.body))


class ShutdownTest(DeliveryCase):
    def test_sigterm_lets_a_running_attempt_finish(self):
        s = self.sink(lambda req, n: Answer(200, hang=0.5))
        gw = self.gateway([{"name": "s", "url": s.url, "events": ["*"]}],
                          shutdown_grace_ms=10000)
        self.post(gw, envelope(id_="finishing"))
        self.assertTrue(s.wait_count(1, timeout=20))
        self.assertEqual(gw.stop(), 0)
        gw.start()
        self.assertEqual(self.delivery(gw, "finishing", "s")["state"], "delivered")
        time.sleep(0.5)
        self.assertEqual(s.count(), 1)

    def test_sigterm_exits_within_grace_and_the_attempt_is_retried_after_restart(self):
        s = self.sink(lambda req, n: Answer(200, hang=30) if n == 1 else Answer(200))
        gw = self.gateway([{"name": "s", "url": s.url, "events": ["*"], "timeout_ms": 60000}],
                          shutdown_grace_ms=1000)
        self.post(gw, envelope(id_="abandoned"))
        self.assertTrue(s.wait_count(1, timeout=20))
        t0 = time.time()
        self.assertEqual(gw.stop(), 0)
        self.assertLess(time.time() - t0, 1.0 + 5)
        self.assertIn("abandoned", gw.logs())
        gw.start()
        d = self.wait_state(gw, "abandoned", "s", "delivered")
        self.assertEqual(d["attempts"], 1)  # the abandoned attempt left no outcome
        self.assertEqual(len(s.by_id("abandoned")), 2)


def node():
    return shutil.which("node") or shutil.which("nodejs")


def ensure_standardwebhooks():
    """Installs the npm package into tests/integration/node_modules when it is missing."""
    if os.path.isdir(os.path.join(HERE, "node_modules", "standardwebhooks")):
        return
    npm = shutil.which("npm")
    if not npm:  # .ci/install-deps installs node and npm: their absence is a failure
        raise AssertionError("npm is not installed")
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=HERE,
                   check=True, timeout=300)


class StandardWebhooksTest(DeliveryCase):
    """Every delivery verifies with the reference library, for one secret and for two."""

    @classmethod
    def setUpClass(cls):
        if not node():
            raise AssertionError("node is not installed (.ci/install-deps installs it)")
        ensure_standardwebhooks()

    def verify_sink(self, *secrets):
        args = [node(), os.path.join(HERE, "verify_sink.js")]
        for s in secrets:
            args += ["--secret", s]
        proc = subprocess.Popen(args, stdout=subprocess.PIPE, text=True)
        self.cleanups.append(lambda: (proc.kill(), proc.wait(), proc.stdout.close()))
        port = json.loads(proc.stdout.readline())["port"]
        return port, "http://127.0.0.1:%d/hook" % port

    def stats(self, port):
        import http.client
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:
            conn.request("GET", "/stats")
            return json.loads(conn.getresponse().read())
        finally:
            conn.close()

    def test_deliveries_verify_with_the_standardwebhooks_package(self):
        one_port, one_url = self.verify_sink(SECRET)
        two_port, two_url = self.verify_sink(SECRET, SECRET2)
        gw = self.gateway([
            {"name": "one", "url": one_url, "events": ["*"], "secret": SECRET},
            {"name": "two", "url": two_url, "events": ["*"], "secret": [SECRET, SECRET2]},
        ])
        events = [envelope(id_="sw_%d" % i, payload={"i": i, "text": "caf\u00e9 \u2603 \"q\""})
                  for i in range(40)]
        events.append({"type": "raw_order", "payload": [1, {"a": None}], "extra": True})
        self.post(gw, events[:20])
        for e in events[20:]:
            self.post(gw, e)
        for port in (one_port, two_port):
            got = wait_for(lambda: self.stats(port)["ok"] + self.stats(port)["failed"] >= 41,
                           timeout=30)
            stats = self.stats(port)
            self.assertTrue(got, stats)
            self.assertEqual(stats["failed"], 0, stats)
            self.assertEqual(stats["ok"], 41, stats)

    def test_wrong_secret_fails_verification(self):
        # The check itself can fail: a sink expecting another key rejects every delivery.
        port, url = self.verify_sink(SECRET2)
        gw = self.gateway([{"name": "s", "url": url, "events": ["*"], "secret": SECRET,
                            "retry": {"max_attempts": 1}}])
        self.post(gw, envelope(id_="wrong_key"))
        self.assertTrue(wait_for(lambda: self.stats(port)["failed"] >= 1, timeout=20))
        self.assertEqual(self.stats(port)["ok"], 0)
        d = self.wait_state(gw, "wrong_key", "s", "dead")
        self.assertEqual(d["last_status"], 401)


if __name__ == "__main__":
    unittest.main()
