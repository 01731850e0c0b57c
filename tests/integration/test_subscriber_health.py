"""Subscriber health against the real binary and real sinks: the circuit breaker (no attempt
starts while it is open, nothing is dead-lettered by a long outage), pause and resume
(stored across restarts and reloads), and the errors of the new admin endpoints."""
import re
import signal
import threading
import time
import unittest

from harness import GatewayCase, envelope, list_dead_letters, subscriber, wait_for
from sinks import Answer, Sink

RFC3339 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


def metric(gw, name, sub):
    r = gw.request("GET", "/metrics")
    assert r.status == 200, r
    m = re.search(r'^%s\{subscriber="%s"\} (\S+)$' % (name, sub), r.body.decode(), re.M)
    assert m, r.body
    return float(m.group(1))


class CircuitBreakerTest(GatewayCase):
    def test_opens_waits_probes_and_closes_without_dead_letters(self):
        # The subscriber fails its first 15 requests, whatever the event, then recovers.
        lock = threading.Lock()
        seen = [0]

        def script(req, n):
            with lock:
                seen[0] += 1
                return Answer(500) if seen[0] <= 15 else Answer(200)

        s = self.sink(Sink(script))
        breaker = {"failure_threshold": 5, "open_ms": 200, "max_open_ms": 400}
        gw = self.gateway([{"name": "cb", "url": s.url, "events": ["*"], "max_in_flight": 1,
                            "circuit_breaker": breaker}],
                          retry={"max_attempts": 3, "initial_delay_ms": 20, "max_delay_ms": 50,
                                 "jitter": 0})
        self.assertEqual(subscriber(gw, "cb")["circuit"], "closed")
        ids = ["cb_%d" % i for i in range(10)]
        self.assertEqual(gw.post([envelope(id_=e) for e in ids]).status, 202)

        # While it is open (or half-open between probes) the API and the metrics say so.
        self.assertTrue(s.wait_count(7, timeout=20))
        sub = subscriber(gw, "cb")
        self.assertIn(sub["circuit"], ("open", "half_open"))
        if sub["circuit"] == "open":
            self.assertRegex(sub["circuit_open_until"], RFC3339)
        self.assertEqual(metric(gw, "hookgate_subscriber_circuit_open", "cb"), 1)

        self.assertTrue(s.wait(lambda reqs: set(ids) <= {r.webhook_id for r in reqs
                                                        if r.status == 200}, timeout=20))
        reqs = s.snapshot()
        at = [r.at for r in reqs]
        # The 5th consecutive failure opens it for 200 ms; each failed probe reopens it for
        # twice as long, up to 400 ms. No attempt starts inside those periods: each of
        # requests 6..16 comes at least that long after the one before (less 20 ms for the
        # sink's own timestamps, taken by a Python thread on a busy machine).
        for k in range(5, 16):  # reqs[k] is request k+1
            period = min(0.2 * 2 ** (k - 5), 0.4)
            self.assertGreaterEqual(at[k] - at[k - 1], period - 0.02,
                                    "request %d came %.3f s after the one before" %
                                    (k + 1, at[k] - at[k - 1]))
        self.assertEqual([r.status for r in reqs[:15]], [500] * 15)
        self.assertEqual(reqs[15].status, 200)
        self.assertEqual(list_dead_letters(gw), [])
        sub = wait_for(lambda: (lambda x: x if x["pending"] == 0 else None)(
            subscriber(gw, "cb")), timeout=20)
        self.assertTrue(sub, subscriber(gw, "cb"))
        self.assertEqual(sub["circuit"], "closed")
        self.assertIsNone(sub["circuit_open_until"])
        self.assertEqual(sub["dead"], 0)
        self.assertEqual(sub["delivered"], 10)
        self.assertEqual(metric(gw, "hookgate_subscriber_circuit_open", "cb"), 0)
        logs = gw.logs()
        self.assertIn("subscriber cb: circuit opened for 200 ms", logs)
        self.assertIn("subscriber cb: circuit opened for 400 ms", logs)
        self.assertEqual(logs.count("subscriber cb: circuit closed"), 1)
        self.assertIn("subscriber cb: recovered", logs)

    def test_410_does_not_count(self):
        s = self.sink(Sink(lambda req, n: Answer(410)))
        gw = self.gateway([{"name": "gone", "url": s.url, "events": ["*"],
                            "circuit_breaker": {"failure_threshold": 2, "open_ms": 60000}}])
        ids = ["g_%d" % i for i in range(5)]
        self.assertEqual(gw.post([envelope(id_=e) for e in ids]).status, 202)
        self.assertTrue(s.wait_ids(ids, timeout=20))
        self.assertTrue(wait_for(lambda: subscriber(gw, "gone")["dead"] == 5, timeout=20))
        self.assertEqual(subscriber(gw, "gone")["circuit"], "closed")


class PauseTest(GatewayCase):
    def pause(self, gw, name, action="pause"):
        r = gw.request("POST", "/admin/subscribers/%s/%s" % (name, action))
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"name": name, "paused": action == "pause"})

    def test_paused_survives_restart_and_reload_then_resume_delivers(self):
        s = self.sink(Sink())
        other = self.sink(Sink())
        gw = self.gateway([{"name": "p", "url": s.url, "events": ["*"]},
                           {"name": "q", "url": other.url, "events": ["*"]}])
        self.pause(gw, "p")
        self.assertIs(subscriber(gw, "p")["paused"], True)
        self.assertIs(subscriber(gw, "q")["paused"], False)
        self.assertEqual(metric(gw, "hookgate_subscriber_paused", "p"), 1)
        ids = ["p_%d" % i for i in range(50)]
        self.assertEqual(gw.post([envelope(id_=e) for e in ids]).status, 202)
        self.assertTrue(other.wait_ids(ids, timeout=20))  # the other subscriber is served
        time.sleep(0.5)
        self.assertEqual(s.count(), 0)
        self.assertEqual(subscriber(gw, "p")["pending"], 50)

        self.assertEqual(gw.stop(), 0)
        gw.start()
        self.assertIs(subscriber(gw, "p")["paused"], True)
        gw.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "config reloaded" in gw.logs(), timeout=20))
        self.assertIs(subscriber(gw, "p")["paused"], True)
        time.sleep(0.5)
        self.assertEqual(s.count(), 0)
        self.assertIn("audit client=127.0.0.1 action=pause subscriber=p", gw.logs())

        self.pause(gw, "p", "resume")
        self.assertTrue(s.wait_ids(ids, timeout=20))
        self.assertTrue(wait_for(lambda: subscriber(gw, "p")["delivered"] == 50, timeout=20))
        self.assertEqual(s.count(), 50)  # each once: nothing was attempted while paused
        self.assertIs(subscriber(gw, "p")["paused"], False)
        self.assertEqual(metric(gw, "hookgate_subscriber_paused", "p"), 0)
        self.assertIn("audit client=127.0.0.1 action=resume subscriber=p", gw.logs())
        # Pausing twice, resuming twice: the same answers.
        self.pause(gw, "p")
        self.pause(gw, "p")
        self.pause(gw, "p", "resume")
        self.pause(gw, "p", "resume")

    def test_paused_retries_keep_their_attempt_count(self):
        s = self.sink(Sink(lambda req, n: Answer(500)))
        gw = self.gateway([{"name": "r", "url": s.url, "events": ["*"],
                            "retry": {"initial_delay_ms": 300, "jitter": 0}}])
        self.assertEqual(gw.post(envelope(id_="kept")).status, 202)
        self.assertTrue(s.wait_count(1, timeout=20))
        self.pause(gw, "r")
        time.sleep(0.8)  # well past the retry's due time
        ev = gw.event("kept").json()["deliveries"][0]
        self.assertEqual((ev["state"], ev["attempts"]), ("pending", 1))
        self.assertEqual(s.count(), 1)


class ErrorsTest(GatewayCase):
    def test_errors(self):
        gw = self.gateway([{"name": "e", "url": "http://127.0.0.1:9/x", "events": ["*"]}])
        for action in ("pause", "resume", "replay"):
            self.assert_error(gw.request("POST", "/admin/subscribers/nope/%s" % action), 404,
                              "not_found")
            r = gw.request("GET", "/admin/subscribers/e/%s" % action)
            self.assert_error(r, 405, "method_not_allowed")
            self.assertEqual(r.headers["allow"], "POST")
            self.assert_error(gw.request("DELETE", "/admin/subscribers/e/%s" % action), 405)
        self.assert_error(gw.request("POST", "/admin/subscribers/e/other"), 404, "not_found")
        self.assert_error(gw.request("POST", "/admin/subscribers/e/pause?x=1"), 400,
                          "invalid_parameter")
        for q in ("since=yesterday", "until=1", "type=a%20b", "subscriber=e", "limit=5", "x=1",
                  "since=2026-01-02T00:00:00Z&until=2026-01-01T00:00:00Z", "type=",
                  "type=a&type=b"):
            self.assert_error(gw.request("POST", "/admin/subscribers/e/replay?" + q), 400,
                              "invalid_parameter")


if __name__ == "__main__":
    unittest.main()
