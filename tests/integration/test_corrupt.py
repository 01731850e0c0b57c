"""Corrupt records: a pending delivery whose record (or whose event) cannot be decoded is
dead-lettered as "corrupt record" instead of being retried forever, and the gateway goes on
delivering. The store is damaged between two runs with lmdb-utils (mdb_dump, mdb_load)."""
import subprocess
import unittest

import sinks
from harness import GatewayCase, envelope, list_dead_letters, subscriber, wait_for
from sinks import Sink

# Retries soon and for long, so a failing delivery is still pending, and due again within
# a second, when the gateway restarts.
RETRY = {"max_attempts": 1000, "initial_delay_ms": 200, "max_delay_ms": 500, "jitter": 0}
GARBAGE = b"\xff not a record"


def dump(data_dir, table):
    """mdb_dump's header lines and the (key, value) pairs of table."""
    out = subprocess.run(["mdb_dump", "-s", table, data_dir], capture_output=True, text=True,
                         check=True, timeout=30).stdout
    lines = out.splitlines()
    end = lines.index("HEADER=END")
    data = [line.strip() for line in lines[end + 1:] if line.startswith(" ")]
    pairs = [(bytes.fromhex(data[i]), bytes.fromhex(data[i + 1]))
             for i in range(0, len(data), 2)]
    return lines[:end + 1], pairs


def overwrite(data_dir, table, header, key, value):
    """Replaces key's value in table (mdb_load overwrites existing keys)."""
    text = "\n".join(header + [" " + key.hex(), " " + value.hex(), "DATA=END"]) + "\n"
    out = subprocess.run(["mdb_load", "-s", table, data_dir], input=text, text=True,
                         capture_output=True, timeout=30)
    assert out.returncode == 0, out.stderr


class CorruptRecordTest(GatewayCase):
    def start(self):
        """A gateway whose subscriber "flaky" fails every attempt and "good" accepts all;
        two events pending for flaky, "victim" and "bystander", each attempted once."""
        self.flaky = self.sink(Sink(sinks.always(500), name="flaky"))
        self.good = self.sink(Sink(name="good"))
        gw = self.gateway([
            {"name": "flaky", "url": self.flaky.url, "events": ["v"], "retry": RETRY},
            {"name": "good", "url": self.good.url, "events": ["o"]},
        ])
        for eid in ("victim", "bystander"):
            self.assertEqual(gw.post(envelope("v", id_=eid)).status, 202)
        self.assertTrue(self.flaky.wait_ids({"victim", "bystander"}, timeout=10))
        self.assertEqual(gw.stop(), 0)
        return gw

    def victim_delivery(self, gw):
        """The deliveries table's header and the key of victim's delivery."""
        header, pairs = dump(gw.config["data_dir"], "deliveries")
        keys = [k for k, v in pairs if b"victim" in v]
        self.assertEqual(len(keys), 1, pairs)
        return header, keys[0]

    def restart_and_check(self, gw, delivery_id, event_id):
        gw.start()
        got = wait_for(lambda: [d for d in list_dead_letters(gw, subscriber="flaky")
                                if d["last_error"] == "corrupt record"], timeout=10)
        self.assertTrue(got, "no corrupt dead letter:\n" + gw.logs())
        self.assertEqual(len(got), 1, got)
        dead = got[0]
        self.assertEqual(dead["id"], str(delivery_id))
        self.assertEqual(dead["subscriber"], "flaky")
        self.assertEqual(dead["event_id"], event_id)
        counters = subscriber(gw, "flaky")
        self.assertEqual((counters["pending"], counters["dead"]), (1, 1), counters)

        # The gateway goes on: the bystander is retried, new events are delivered.
        seen = self.flaky.attempts["bystander"]
        self.assertTrue(self.flaky.wait(lambda reqs: self.flaky.attempts["bystander"] > seen,
                                        timeout=10))
        self.assertEqual(gw.post(envelope("o", id_="after")).status, 202)
        self.assertTrue(self.good.wait_ids({"after"}, timeout=10))
        self.assertEqual(gw.post(envelope("v", id_="later")).status, 202)
        self.assertTrue(self.flaky.wait_ids({"later"}, timeout=10))

        # The dead letter can be shown and deleted like any other.
        self.assertEqual(gw.request("GET", "/admin/dead-letters/%d" % delivery_id).status, 200)
        r = gw.request("DELETE", "/admin/dead-letters/%d" % delivery_id)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json(), {"deleted": 1})
        self.assertEqual(list_dead_letters(gw, subscriber="flaky"), [])
        self.assertEqual(subscriber(gw, "flaky")["dead"], 0)

    def test_corrupt_delivery_record_is_dead_lettered(self):
        gw = self.start()
        header, key = self.victim_delivery(gw)
        overwrite(gw.config["data_dir"], "deliveries", header, key, GARBAGE)
        # The event is unknown once its delivery record is gone.
        self.restart_and_check(gw, int.from_bytes(key, "big"), "")

    def test_corrupt_event_record_is_dead_lettered(self):
        gw = self.start()
        _, key = self.victim_delivery(gw)
        # The record is in received, under the event's sequence number, and holds its id.
        header, pairs = dump(gw.config["data_dir"], "received")
        seqs = [k for k, v in pairs if b"\x06\x00\x00\x00victim" in v]
        self.assertEqual(len(seqs), 1, pairs)
        overwrite(gw.config["data_dir"], "received", header, seqs[0], GARBAGE)
        self.restart_and_check(gw, int.from_bytes(key, "big"), "victim")

    def test_corrupt_event_index_entry_is_dead_lettered(self):
        gw = self.start()
        _, key = self.victim_delivery(gw)
        header, _ = dump(gw.config["data_dir"], "events")
        overwrite(gw.config["data_dir"], "events", header, b"victim", GARBAGE)
        self.restart_and_check(gw, int.from_bytes(key, "big"), "victim")


if __name__ == "__main__":
    unittest.main()
