"""Replay against the real binary and real sinks: backfilling a subscriber added by SIGHUP
with every stored event, or exactly those matching type, since/until (on occurred_at) and
its filter; replaying twice delivers twice."""
import signal
import unittest
import urllib.parse

from harness import GatewayCase, envelope, subscriber, wait_for
from sinks import Sink


def occurred(i):
    return "2026-03-01T10:00:%02d.000Z" % i


class ReplayTest(GatewayCase):
    def add_subscribers(self, gw, subs):
        gw.config["subscribers"] = gw.config["subscribers"] + subs
        gw.write_config()
        gw.signal(signal.SIGHUP)
        names = {s["name"] for s in subs}
        self.assertTrue(wait_for(lambda: names <= {
            s["name"] for s in gw.request("GET", "/admin/subscribers").json()["subscribers"]},
            timeout=20))

    def replay(self, gw, name, **q):
        path = "/admin/subscribers/%s/replay" % name
        if q:
            path += "?" + urllib.parse.urlencode(q)
        r = gw.request("POST", path)
        self.assertEqual(r.status, 202, r)
        self.assertEqual(set(r.json()), {"requeued"})
        return r.json()["requeued"]

    def test_backfill_and_selection(self):
        first = self.sink(Sink())
        gw = self.gateway([{"name": "first", "url": first.url, "events": ["*"]}])
        # 30 events: types a/b alternate, payload.color cycles red/green/blue, occurred_at
        # one second apart.
        colors = ["red", "green", "blue"]
        envs = [envelope("a" if i % 2 == 0 else "b", "ev_%02d" % i, {"color": colors[i % 3]},
                         occurred_at=occurred(i)) for i in range(30)]
        self.assertEqual(gw.post(envs[:20]).status, 202)
        for e in envs[20:]:
            self.assertEqual(gw.post(e).status, 202)
        ids = [e["id"] for e in envs]
        self.assertTrue(first.wait_ids(ids, timeout=20))

        everything, picky = self.sink(Sink()), self.sink(Sink())
        self.add_subscribers(gw, [
            {"name": "late", "url": everything.url, "events": ["*"]},
            {"name": "picky", "url": picky.url, "events": ["a", "b"],
             "filter": {"payload.color": ["red", "blue"]}}])
        self.assertEqual(self.replay(gw, "late"), 30)
        self.assertTrue(everything.wait_ids(ids, timeout=20))
        self.assertEqual(sorted(everything.delivered()), sorted(ids))
        # The bodies are the stored envelopes, as the first subscriber got them.
        self.assertEqual({r.webhook_id: r.body for r in everything.snapshot()},
                         {r.webhook_id: r.body for r in first.snapshot()})

        # type a, occurred_at in [5 s, 20 s], color red or blue: i even, 6..20, i % 3 != 1.
        want = ["ev_%02d" % i for i in range(6, 21, 2) if i % 3 != 1]
        n = self.replay(gw, "picky", type="a", since=occurred(5), until=occurred(20))
        self.assertEqual(n, len(want))
        self.assertTrue(picky.wait_ids(want, timeout=20))
        self.assertTrue(wait_for(lambda: subscriber(gw, "picky")["pending"] == 0, timeout=20))
        self.assertEqual(sorted(picky.delivered()), want)

        # Replaying the same range again delivers again; the first subscriber saw each once.
        self.assertEqual(self.replay(gw, "picky", type="a", since=occurred(5),
                                     until=occurred(20)), len(want))
        self.assertTrue(picky.wait(lambda reqs: len(reqs) == 2 * len(want), timeout=20))
        self.assertEqual(sorted(picky.delivered()), sorted(want * 2))
        self.assertEqual(len(first.delivered()), 30)
        self.assertTrue(wait_for(lambda: subscriber(gw, "picky")["pending"] == 0, timeout=20))
        # Each replayed delivery shows up in its event, attempted once.
        deliveries = gw.event("ev_06").json()["deliveries"]
        self.assertEqual(sorted(d["subscriber"] for d in deliveries),
                         ["first", "late", "picky", "picky"])
        self.assertTrue(all(d["state"] == "delivered" and d["attempts"] == 1
                            for d in deliveries))
        self.assertEqual(self.replay(gw, "picky", since=occurred(59)), 0)
        self.assertIn("action=replay", gw.logs())

    def test_ordered_subscriber_gets_replay_in_accept_order(self):
        gw = self.gateway([])
        ids = ["o_%02d" % i for i in range(12)]
        for e in ids:
            self.assertEqual(gw.post(envelope(id_=e)).status, 202)
        s = self.sink(Sink())
        self.add_subscribers(gw, [{"name": "fifo", "url": s.url, "events": ["*"],
                                   "ordered": True}])
        self.assertEqual(self.replay(gw, "fifo"), 12)
        self.assertTrue(s.wait_ids(ids, timeout=20))
        self.assertEqual([r.webhook_id for r in s.snapshot()], ids)


if __name__ == "__main__":
    unittest.main()
