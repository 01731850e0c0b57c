"""Black-box tests of the admin API: dead letters (list, paging, show, retry, delete, bulk),
events, subscribers and their durable counters, access rules, and retention."""
import json
import os
import subprocess
import sys
import threading
import time
import unittest
import urllib.parse

from harness import (FAST_RETRY, Gateway, GatewayCase, binary, envelope, free_port,
                     list_dead_letters as list_all, post_batch, subscriber, wait_counter,
                     wait_for)
from sinks import StatusSink

HERE = os.path.dirname(os.path.abspath(__file__))

DL_KEYS = {"id", "event_id", "event_type", "subscriber", "attempts", "last_status", "last_error",
           "first_attempt_at", "dead_at"}
RFC3339 = r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$"


class AdminCase(GatewayCase):
    gateway_defaults = {"retry": FAST_RETRY}

    def status_sink(self, **kw):
        """A StatusSink closed after the test (not listening until start())."""
        return self.sink(StatusSink(**kw))


class ReadTest(AdminCase):
    """One gateway whose two subscribers always answer 500: a fixed dead-letter queue."""

    @classmethod
    def setUpClass(cls):
        cls.sink_ = StatusSink(status=500).start()
        subs = [{"name": "alpha", "url": cls.sink_.url, "events": ["*"]},
                {"name": "beta", "url": cls.sink_.url, "events": ["order.created"]}]
        cls.gw = Gateway(subs, retry=FAST_RETRY).start()
        envs = [envelope("order.created" if i % 3 == 0 else "user.updated", "ev_%02d" % i,
                         {"i": i}) for i in range(30)]
        for e in envs:  # one by one, so dead_at values spread over time
            assert cls.gw.post(e).status == 202
        cls.nalpha, cls.nbeta = 30, 10
        assert wait_for(lambda: subscriber(cls.gw, "alpha")["dead"] == cls.nalpha and
                        subscriber(cls.gw, "beta")["dead"] == cls.nbeta, timeout=20)
        cls.all = list_all(cls.gw)

    @classmethod
    def tearDownClass(cls):
        cls.gw.remove()
        cls.sink_.close()

    def get(self, path):
        return self.gw.request("GET", path)

    def test_list_shape_and_order(self):
        self.assertEqual(len(self.all), self.nalpha + self.nbeta)
        for dl in self.all:
            self.assertEqual(set(dl), DL_KEYS)
            self.assertRegex(dl["id"], r"^[1-9][0-9]*$")
            self.assertEqual(dl["attempts"], 2)
            self.assertEqual(dl["last_status"], 500)
            self.assertEqual(dl["last_error"], "HTTP 500")
            self.assertRegex(dl["dead_at"], RFC3339)
            self.assertRegex(dl["first_attempt_at"], RFC3339)
            self.assertLessEqual(dl["first_attempt_at"], dl["dead_at"])
        keys = [(dl["dead_at"], int(dl["id"])) for dl in self.all]
        self.assertEqual(keys, sorted(keys), "oldest first")
        self.assertEqual(len({dl["id"] for dl in self.all}), len(self.all))

    def test_default_limit_is_100_and_max_1000(self):
        r = self.get("/admin/dead-letters")
        self.assertEqual(r.status, 200)
        self.assertEqual(len(r.json()["items"]), len(self.all))  # 40 < 100
        self.assertIsNone(r.json()["next_cursor"])
        self.assertEqual(self.get("/admin/dead-letters?limit=1000").status, 200)

    def test_filters(self):
        beta = list_all(self.gw, subscriber="beta")
        self.assertEqual(len(beta), self.nbeta)
        self.assertTrue(all(d["subscriber"] == "beta" for d in beta))
        orders = list_all(self.gw, type="order.created")
        self.assertEqual(len(orders), 20)
        self.assertTrue(all(d["event_type"] == "order.created" for d in orders))
        both = list_all(self.gw, type="user.updated", subscriber="alpha")
        self.assertEqual(len(both), 20)
        self.assertEqual(list_all(self.gw, subscriber="nobody"), [])
        # since/until are inclusive bounds on dead_at
        mid = self.all[len(self.all) // 2]["dead_at"]
        since = list_all(self.gw, since=mid)
        until = list_all(self.gw, until=mid)
        self.assertTrue(since and until)
        self.assertTrue(all(d["dead_at"] >= mid for d in since))
        self.assertTrue(all(d["dead_at"] <= mid for d in until))
        at_mid = sum(1 for d in self.all if d["dead_at"] == mid)
        self.assertEqual(len(since) + len(until), len(self.all) + at_mid)
        window = list_all(self.gw, since=mid, until=mid)
        self.assertEqual(len(window), at_mid)
        # the same instant written with an offset selects the same letters
        t = mid[:-1]  # strip Z
        hh = int(t[11:13])
        shifted = "%s%02d%s+01:00" % (t[:11], (hh + 1) % 24, t[13:]) if hh < 23 else None
        if shifted:
            self.assertEqual(list_all(self.gw, since=shifted), since)
        self.assertEqual(list_all(self.gw, until="1970-01-01T00:00:00Z"), [])
        self.assertEqual(len(list_all(self.gw, since="1970-01-01T00:00:00Z")), len(self.all))
        # an empty value is an error, never "no filter" (leave the parameter out for that)
        for name in ("subscriber", "type", "since", "until", "limit", "cursor"):
            body = self.assert_error(self.get("/admin/dead-letters?%s=" % name), 400,
                                     "invalid_parameter")
            self.assertEqual(body["detail"],
                             "%s: must not be empty; leave the parameter out instead" % name)

    def test_paging_visits_everything_once_in_order(self):
        for limit in (1, 3, 7, 40):
            pages, cursor = [], None
            while True:
                path = "/admin/dead-letters?limit=%d" % limit + ("&cursor=" + cursor if cursor else "")
                body = self.get(path).json()
                self.assertLessEqual(len(body["items"]), limit)
                pages += body["items"]
                cursor = body["next_cursor"]
                if cursor is None:
                    break
                self.assertIsInstance(cursor, str)
            self.assertEqual(pages, self.all, "limit %d" % limit)
        # paging combines with filters
        self.assertEqual(list_all(self.gw, limit=2, subscriber="beta"),
                         list_all(self.gw, subscriber="beta"))

    def test_bad_parameters_are_400(self):
        for q in ("limit=0", "limit=1001", "limit=abc", "limit=-1", "limit=", "cursor=zz",
                  "cursor=" + "0" * 31, "since=yesterday", "until=2026-13-01T00:00:00Z",
                  "since=2026-11-27T10:00:00", "bogus=1", "limit=5&limit=6",
                  "subscriber=a%20b", "type=no/slash", "since=%zz",
                  "since=2026-11-28T00:00:00Z&until=2026-11-27T00:00:00Z"):
            self.assert_error(self.get("/admin/dead-letters?" + q), 400, "invalid_parameter")
        self.assert_error(self.gw.request("DELETE", "/admin/dead-letters?limit=5"), 400)
        self.assert_error(self.gw.request("POST", "/admin/dead-letters/retry?cursor=00"), 400)
        self.assert_error(self.get("/admin/subscribers?x=1"), 400)

    def test_show_has_event_and_history(self):
        dl = next(d for d in self.all if d["subscriber"] == "beta")
        r = self.get("/admin/dead-letters/" + dl["id"])
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual(set(body), DL_KEYS | {"event", "history"})
        self.assertEqual({k: body[k] for k in DL_KEYS}, dl)
        self.assertEqual(body["event"]["id"], dl["event_id"])
        self.assertEqual(body["event"]["type"], "order.created")
        self.assertIn("payload", body["event"])
        self.assertEqual(len(body["history"]), 2)
        for h in body["history"]:
            self.assertEqual(set(h), {"at", "status", "error", "duration_ms"})
            self.assertEqual(h["status"], 500)
            self.assertEqual(h["error"], "HTTP 500")
            self.assertIsInstance(h["duration_ms"], int)
            self.assertRegex(h["at"], RFC3339)
        self.assertEqual(body["history"][0]["at"], dl["first_attempt_at"])
        self.assertLessEqual(body["history"][0]["at"], body["history"][1]["at"])

    def test_unknown_ids_are_404(self):
        biggest = max(int(d["id"]) for d in self.all)
        for dl_id in (str(biggest + 1000), "0", "abc", "18446744073709551616", "-1"):
            self.assert_error(self.get("/admin/dead-letters/" + dl_id), 404, "not_found")
            self.assert_error(self.gw.request("POST", "/admin/dead-letters/%s/retry" % dl_id), 404)
            self.assert_error(self.gw.request("DELETE", "/admin/dead-letters/" + dl_id), 404)
        self.assert_error(self.get("/admin/events/no_such_event"), 404, "not_found")
        self.assert_error(self.get("/admin/nothing"), 404, "not_found")

    def test_wrong_methods_are_405(self):
        dl = self.all[0]["id"]
        for method, path in (("POST", "/admin/dead-letters"), ("PUT", "/admin/dead-letters"),
                             ("GET", "/admin/dead-letters/retry"),
                             ("DELETE", "/admin/dead-letters/retry"),
                             ("POST", "/admin/dead-letters/" + dl),
                             ("GET", "/admin/dead-letters/%s/retry" % dl),
                             ("POST", "/admin/subscribers"), ("DELETE", "/admin/events/ev_01"),
                             ("POST", "/metrics")):
            r = self.gw.request(method, path)
            self.assert_error(r, 405, "method_not_allowed")
            self.assertIn("allow", r.headers)
        self.assertEqual(len(list_all(self.gw)), len(self.all))  # nothing changed

    def test_event_shows_every_delivery(self):
        r = self.get("/admin/events/ev_03")
        self.assertEqual(r.status, 200, r)
        body = r.json()
        self.assertEqual(body["event"]["id"], "ev_03")
        self.assertEqual(body["event"]["payload"], {"i": 3})
        self.assertEqual(sorted(d["subscriber"] for d in body["deliveries"]), ["alpha", "beta"])
        for d in body["deliveries"]:
            self.assertEqual(set(d), {"subscriber", "state", "attempts", "next_attempt_at",
                                      "last_status", "last_error"})
            self.assertEqual(d["state"], "dead")
            self.assertEqual(d["attempts"], 2)
            self.assertIsNone(d["next_attempt_at"])
            self.assertEqual(d["last_status"], 500)
            self.assertEqual(d["last_error"], "HTTP 500")

    def test_subscribers_counters(self):
        r = self.get("/admin/subscribers")
        self.assertEqual(r.status, 200)
        subs = r.json()["subscribers"]
        self.assertEqual([s["name"] for s in subs], ["alpha", "beta"])
        for s, n in zip(subs, (self.nalpha, self.nbeta)):
            self.assertEqual(set(s), {"name", "url", "events", "pending", "in_flight", "delivered",
                                      "failed_attempts", "dead", "last_success_at", "last_error",
                                      "paused", "circuit", "circuit_open_until"})
            self.assertEqual((s["paused"], s["circuit"], s["circuit_open_until"]),
                             (False, "closed", None))
            self.assertEqual(s["url"], self.sink_.url)
            self.assertEqual((s["pending"], s["in_flight"], s["delivered"]), (0, 0, 0))
            self.assertEqual(s["dead"], n)
            self.assertEqual(s["failed_attempts"], 2 * n)
            self.assertIsNone(s["last_success_at"])
            self.assertEqual(s["last_error"], "HTTP 500")
        self.assertEqual(subs[1]["events"], ["order.created"])
        self.assertEqual(subs[0]["events"], ["*"])


class ChangeTest(AdminCase):
    """Retry and delete, one at a time and in bulk."""

    def setUp(self):
        super().setUp()
        self.sink_ = self.status_sink(status=500).start()
        self.gw = self.gateway([{"name": "s", "url": self.sink_.url, "events": ["*"]},
                                {"name": "t", "url": self.sink_.url, "events": ["b"]}])

    def fill(self, n, type_="a"):
        post_batch(self.gw, [envelope(type_, "%s_%d" % (type_, i)) for i in range(n)])

    def test_retry_one_gives_a_fresh_attempt_count(self):
        self.fill(3)
        wait_counter(self.gw, "s", "dead", 3)
        dl = list_all(self.gw)[0]
        r = self.gw.request("POST", "/admin/dead-letters/%s/retry" % dl["id"])
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json(), {"requeued": 1})
        # it left the queue at once; the others stayed
        self.assertNotIn(dl["id"], [d["id"] for d in list_all(self.gw)])
        # the sink still fails: two new attempts, then dead again, history kept
        s = wait_counter(self.gw, "s", "failed_attempts", 8)
        self.assertEqual(s["dead"], 3)
        again = self.gw.request("GET", "/admin/dead-letters/" + dl["id"]).json()
        self.assertEqual(again["attempts"], 2)
        self.assertEqual(len(again["history"]), 4)
        self.assertGreater(again["dead_at"], dl["dead_at"])
        # a second retry of a letter no longer dead is a 404 only while it is not dead
        self.assert_error(self.gw.request("POST", "/admin/dead-letters/%s/retry" % (
            int(dl["id"]) + 1000)), 404)

    def test_retry_one_delivers_when_the_sink_is_back(self):
        self.fill(2)
        wait_counter(self.gw, "s", "dead", 2)
        self.sink_.status = 200
        dl = list_all(self.gw)[0]
        self.assertEqual(self.gw.request("POST", "/admin/dead-letters/%s/retry" % dl["id"]).status,
                         202)
        s = wait_counter(self.gw, "s", "delivered", 1)
        self.assertEqual((s["dead"], s["pending"]), (1, 0))
        self.assertEqual(self.sink_.delivered(), [dl["event_id"]])
        ev = self.gw.event(dl["event_id"]).json()
        self.assertEqual(ev["deliveries"][0]["state"], "delivered")
        self.assertEqual(ev["deliveries"][0]["attempts"], 1)
        self.assert_error(self.gw.request("GET", "/admin/dead-letters/" + dl["id"]), 404)

    def test_delete_one(self):
        self.fill(3)
        wait_counter(self.gw, "s", "dead", 3)
        dl = list_all(self.gw)[1]
        r = self.gw.request("DELETE", "/admin/dead-letters/" + dl["id"])
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"deleted": 1})
        self.assert_error(self.gw.request("DELETE", "/admin/dead-letters/" + dl["id"]), 404)
        self.assert_error(self.gw.request("GET", "/admin/dead-letters/" + dl["id"]), 404)
        self.assertEqual(len(list_all(self.gw)), 2)
        self.assertEqual(subscriber(self.gw, "s")["dead"], 2)
        # the event itself stays (until retention), without the deleted delivery
        ev = self.gw.event(dl["event_id"])
        self.assertEqual(ev.status, 200)
        self.assertEqual(ev.json()["deliveries"], [])

    def test_bulk_retry_and_delete_with_filters(self):
        self.fill(4, "a")
        self.fill(3, "b")  # each b goes to s and t
        wait_counter(self.gw, "s", "dead", 7)
        wait_counter(self.gw, "t", "dead", 3)
        self.sink_.status = 200
        r = self.gw.request("POST", "/admin/dead-letters/retry?subscriber=t")
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json(), {"requeued": 3})
        wait_counter(self.gw, "t", "delivered", 3)
        self.assertEqual(subscriber(self.gw, "s")["dead"], 7)
        r = self.gw.request("POST", "/admin/dead-letters/retry?type=b&subscriber=s")
        self.assertEqual(r.json(), {"requeued": 3})
        wait_counter(self.gw, "s", "delivered", 3)
        r = self.gw.request("DELETE", "/admin/dead-letters?type=a")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"deleted": 4})
        self.assertEqual(list_all(self.gw), [])
        self.assertEqual(subscriber(self.gw, "s")["dead"], 0)
        # nothing left to select: zero, not an error
        self.assertEqual(self.gw.request("DELETE", "/admin/dead-letters").json(), {"deleted": 0})
        self.assertEqual(self.gw.request("POST", "/admin/dead-letters/retry").json(),
                         {"requeued": 0})

    def test_empty_filter_values_change_nothing(self):
        """Defect 13: "subscriber=" was read as "no filter" and deleted every dead letter."""
        self.fill(3, "a")
        self.fill(2, "b")
        wait_counter(self.gw, "s", "dead", 5)
        wait_counter(self.gw, "t", "dead", 2)
        before = list_all(self.gw)
        self.sink_.status = 200
        for name in ("subscriber", "type", "since", "until"):
            for method, path in (("DELETE", "/admin/dead-letters"),
                                 ("POST", "/admin/dead-letters/retry")):
                for query in ("?%s=" % name, "?%s" % name, "?type=a&%s=" % name):
                    if query.startswith("?type=a&type"):
                        continue  # a repeated parameter, tested elsewhere
                    body = self.assert_error(self.gw.request(method, path + query), 400,
                                             "invalid_parameter")
                    self.assertTrue(body["detail"].startswith(name + ": must not be empty"),
                                    body)
        time.sleep(0.3)  # a requeued letter would be delivered by now
        self.assertEqual(list_all(self.gw), before)
        self.assertEqual(self.sink_.delivered(), [])
        self.assertEqual((subscriber(self.gw, "s")["dead"], subscriber(self.gw, "t")["dead"]),
                         (5, 2))

    def test_bulk_by_time_window(self):
        self.fill(3, "a")
        wait_counter(self.gw, "s", "dead", 3)
        cut = list_all(self.gw)[-1]["dead_at"]
        time.sleep(0.05)
        self.fill(2, "c")
        wait_counter(self.gw, "s", "dead", 5)
        r = self.gw.request("DELETE", "/admin/dead-letters?" + urllib.parse.urlencode(
            {"until": cut}))
        self.assertEqual(r.json(), {"deleted": 3})
        left = list_all(self.gw)
        self.assertEqual(sorted(d["event_type"] for d in left), ["c", "c"])
        r = self.gw.request("POST", "/admin/dead-letters/retry?" + urllib.parse.urlencode(
            {"since": left[0]["dead_at"]}))
        self.assertEqual(r.json(), {"requeued": 2})


class InFlightTest(AdminCase):
    def test_an_attempt_in_progress_is_in_flight(self):
        slow = self.status_sink(delay=1.5).start()
        gw = self.gateway([{"name": "slow", "url": slow.url, "events": ["*"]}])
        self.assertEqual(gw.post(envelope("a", "slow_1")).status, 202)
        s = wait_counter(gw, "slow", "in_flight", 1, timeout=5)
        self.assertEqual(s["pending"], 1)  # pending counts the in-flight one too
        d = gw.event("slow_1").json()["deliveries"][0]
        self.assertEqual((d["state"], d["attempts"]), ("in_flight", 0))
        m = gw.request("GET", "/metrics").body.decode()
        self.assertIn('hookgate_in_flight_deliveries{subscriber="slow"} 1\n', m)
        s = wait_counter(gw, "slow", "delivered", 1, timeout=10)
        self.assertEqual((s["pending"], s["in_flight"]), (0, 0))
        d = gw.event("slow_1").json()["deliveries"][0]
        self.assertEqual((d["state"], d["attempts"]), ("delivered", 1))


class OutageTest(AdminCase):
    """The subscriber is down (connection refused), dead letters pile up; it comes back and
    one bulk retry delivers everything exactly as the counters say."""

    N = 1800  # several bulk chunks (500 per transaction)

    def test_bulk_redrive_after_outage(self):
        sink = self.status_sink()  # not started: the port refuses connections
        ok = self.status_sink().start()
        gw = self.gateway([{"name": "crm", "url": sink.url, "events": ["order.created"]},
                           {"name": "ok", "url": ok.url, "events": ["other"]}])
        before = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 1))
        ids = ["outage_%d" % i for i in range(self.N)]
        post_batch(gw, [envelope("order.created", i) for i in ids])
        s = wait_counter(gw, "crm", "dead", self.N, timeout=60)
        self.assertEqual((s["delivered"], s["pending"], s["failed_attempts"]), (0, 0, 2 * self.N))
        self.assertIn("onnect", s["last_error"])
        sink.start()  # the outage ends

        # ingest keeps flowing during the bulk retry, to another subscriber
        lat, stop = [], threading.Event()

        def produce():
            n = 0
            while not stop.is_set() and n < 2000:
                t0 = time.monotonic()
                r = gw.post(envelope("other", "during_%d" % n))
                lat.append(time.monotonic() - t0)
                assert r.status == 202, r
                n += 1

        producer = threading.Thread(target=produce)
        producer.start()
        try:
            r = gw.request("POST", "/admin/dead-letters/retry?" + urllib.parse.urlencode(
                {"since": before, "subscriber": "crm"}), timeout=60)
        finally:
            stop.set()
            producer.join()
        self.assertEqual(r.status, 202, r)
        self.assertEqual(r.json(), {"requeued": self.N})
        s = wait_counter(gw, "crm", "delivered", self.N, timeout=60)
        self.assertEqual((s["dead"], s["pending"], s["failed_attempts"]), (0, 0, 2 * self.N))
        self.assertIsNotNone(s["last_success_at"])
        got = sink.delivered()
        self.assertEqual(sorted(got), sorted(ids), "each event delivered exactly once")
        self.assertEqual(list_all(gw), [])
        wait_counter(gw, "ok", "delivered", len(lat))
        self.assertGreater(len(lat), 0)
        # A bulk op holding the writer for long would show here as one slow ingest request.
        self.assertLess(max(lat), 2.0, "slowest ingest during bulk retry: %.3fs" % max(lat))


class PagingUnderWritesTest(AdminCase):
    def test_cursor_sees_each_letter_once_while_new_ones_arrive(self):
        gw = self.gateway([{"name": "s", "url": "http://127.0.0.1:%d/" % free_port(),
                            "events": ["*"]}])
        post_batch(gw, [envelope("a", "pre_%d" % i) for i in range(300)])
        wait_counter(gw, "s", "dead", 300)
        before = {d["id"] for d in list_all(gw)}
        stop = threading.Event()

        def produce():
            n = 0
            while not stop.is_set() and n < 200:
                gw.post([envelope("b", "new_%d_%d" % (n, k)) for k in range(5)])
                n += 1
                time.sleep(0.005)

        producer = threading.Thread(target=produce)
        producer.start()
        seen, cursor, pages = [], None, 0
        try:
            while True:
                path = "/admin/dead-letters?limit=7" + ("&cursor=" + cursor if cursor else "")
                body = gw.request("GET", path).json()
                seen += body["items"]
                pages += 1
                cursor = body["next_cursor"]
                if cursor is None:
                    break
                time.sleep(0.002)
        finally:
            stop.set()
            producer.join()
        ids = [d["id"] for d in seen]
        self.assertEqual(len(ids), len(set(ids)), "a letter was listed twice")
        self.assertLessEqual(before, set(ids), "a letter that existed all along was skipped")
        keys = [(d["dead_at"], int(d["id"])) for d in seen]
        self.assertEqual(keys, sorted(keys))
        self.assertGreater(len(ids), len(before), "no new letter was seen while paging")


class AccessTest(AdminCase):
    def test_admin_token(self):
        gw = self.gateway([], admin_token="adm-secret", ingest_token="ing-secret")
        admin_paths = ("/admin/subscribers", "/admin/dead-letters", "/admin/events/x",
                       "/admin/dead-letters/1")
        for path in admin_paths:
            self.assert_error(gw.request("GET", path), 401, "unauthorized")
            for auth in ("Bearer ing-secret", "Bearer adm-secre", "Bearer adm-secretX",
                         "adm-secret", "Basic adm-secret"):
                self.assert_error(gw.request("GET", path, headers={"Authorization": auth}), 401)
        ok = {"Authorization": "Bearer adm-secret"}
        self.assertEqual(gw.request("GET", "/admin/subscribers", headers=ok).status, 200)
        self.assertEqual(gw.request("GET", "/admin/subscribers",
                                    headers={"Authorization": "bearer adm-secret"}).status, 200)
        self.assert_error(gw.request("POST", "/admin/dead-letters/retry"), 401)
        self.assert_error(gw.request("DELETE", "/admin/dead-letters"), 401)
        # the admin token does not open ingest, the ingest token opens it
        self.assert_error(gw.post(envelope(), headers=ok), 401)
        self.assertEqual(gw.post(envelope(), headers={"Authorization": "Bearer ing-secret"}).status,
                         202)
        # /metrics is an operations endpoint like /healthz
        self.assertEqual(gw.request("GET", "/metrics").status, 200)

    def probe(self, requests, **config):
        """Runs hookgate (listening on 0.0.0.0) and requests in a private network namespace,
        where a second address on lo stands for a remote client; returns [status, code]s."""
        gw = Gateway([], **config)
        self.addCleanup(gw.remove)
        gw.config["listen"] = "0.0.0.0:%d" % gw.port
        gw.write_config()
        out = subprocess.run(["unshare", "-n", sys.executable, os.path.join(HERE, "netns_probe.py"),
                              binary(), gw.config_path, str(gw.port), json.dumps(requests)],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)

    def test_without_token_only_loopback(self):
        paths = (("GET", "/admin/subscribers"), ("GET", "/admin/dead-letters"),
                 ("DELETE", "/admin/dead-letters"), ("POST", "/admin/dead-letters/retry"))
        reqs = [["loopback", "GET", "/admin/subscribers", {}]]
        reqs += [["other", m, p, {}] for m, p in paths]
        reqs += [["other", "GET", "/healthz", {}]]
        got = self.probe(reqs)
        self.assertEqual(got[0], [200, None])
        self.assertEqual(got[1:-1], [[403, "forbidden"]] * len(paths))
        self.assertEqual(got[-1], [200, None])

    def test_token_mode_serves_remote_clients(self):
        got = self.probe([["other", "GET", "/admin/subscribers", {}],
                          ["other", "GET", "/admin/subscribers", {"Authorization": "Bearer t0k"}]],
                         admin_token="t0k")
        self.assertEqual(got, [[401, "unauthorized"], [200, None]])


class RestartTest(AdminCase):
    def test_counters_survive_restart(self):
        ok = self.status_sink().start()
        gw = self.gateway([{"name": "good", "url": ok.url, "events": ["*"]},
                           {"name": "bad", "url": "http://127.0.0.1:%d/" % free_port(),
                            "events": ["*"]}])
        post_batch(gw, [envelope("a", "r_%d" % i) for i in range(20)])
        wait_counter(gw, "good", "delivered", 20)
        wait_counter(gw, "bad", "dead", 20)
        before = gw.request("GET", "/admin/subscribers").json()
        dead_before = list_all(gw)
        self.assertEqual(gw.stop(), 0)
        gw.start()
        after = gw.request("GET", "/admin/subscribers").json()
        self.assertEqual(after, before)
        good = after["subscribers"][0]
        self.assertEqual((good["delivered"], good["failed_attempts"], good["dead"]), (20, 0, 0))
        self.assertIsNotNone(good["last_success_at"])
        bad = after["subscribers"][1]
        self.assertEqual((bad["delivered"], bad["failed_attempts"], bad["dead"]), (0, 40, 20))
        self.assertIsNotNone(bad["last_error"])
        self.assertEqual(list_all(gw), dead_before)
        # and a kill -9 keeps them too
        gw.kill9()
        gw.start()
        self.assertEqual(gw.request("GET", "/admin/subscribers").json(), before)


class RetentionTest(AdminCase):
    def metric(self, gw, name):
        for line in gw.request("GET", "/metrics").body.decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
        raise AssertionError("no metric " + name)

    def test_delivered_events_are_pruned_dead_letters_kept(self):
        ok = self.status_sink().start()
        gw = self.gateway([{"name": "good", "url": ok.url, "events": ["ok"]},
                           {"name": "bad", "url": "http://127.0.0.1:%d/" % free_port(),
                            "events": ["bad"]}], retention_hours=0)
        post_batch(gw, [envelope("ok", "keep_not_%d" % i) for i in range(50)] +
                   [envelope("bad", "dead_%d" % i) for i in range(3)])
        wait_counter(gw, "good", "delivered", 50)
        wait_counter(gw, "bad", "dead", 3)
        # delivered events go (idempotency entry included): the same id is new again
        self.assertTrue(wait_for(lambda: gw.event("keep_not_49").status == 404, timeout=10),
                        "a delivered event was not pruned")
        self.assertTrue(wait_for(lambda: all(gw.event("keep_not_%d" % i).status == 404
                                             for i in range(50)), timeout=5))
        self.assertEqual(self.metric(gw, "hookgate_retention_pruned_events_total"), 50)
        # the counters are running totals: pruning does not lower them
        self.assertEqual(subscriber(gw, "good")["delivered"], 50)
        r = gw.post(envelope("ok", "keep_not_0"))
        self.assertEqual(r.status, 202, r)
        self.assertNotIn("duplicate", r.json())
        # events with a dead letter stay, passes later
        time.sleep(2.5)
        for i in range(3):
            self.assertEqual(gw.event("dead_%d" % i).status, 200)
        self.assertEqual(len(list_all(gw)), 3)
        # once its dead letter is deleted, the event goes too
        dl = list_all(gw, limit=1)[0]
        self.assertEqual(gw.request("DELETE", "/admin/dead-letters/" + dl["id"]).status, 200)
        self.assertTrue(wait_for(lambda: gw.event(dl["event_id"]).status == 404, timeout=10),
                        "the event of a deleted dead letter was not pruned")
        self.assertEqual(len(list_all(gw)), 2)

    def test_events_within_the_window_stay(self):
        ok = self.status_sink().start()
        gw = self.gateway([{"name": "good", "url": ok.url, "events": ["*"]}], retention_hours=1)
        post_batch(gw, [envelope("ok", "young_%d" % i) for i in range(10)])
        wait_counter(gw, "good", "delivered", 10)
        time.sleep(2.5)  # two retention ticks
        self.assertEqual(gw.event("young_0").status, 200)
        self.assertEqual(gw.post(envelope("ok", "young_0")).json().get("duplicate"), True)
        self.assertEqual(self.metric(gw, "hookgate_retention_pruned_events_total"), 0)


if __name__ == "__main__":
    unittest.main()
