"""Fault test: the disk fills up (a real ENOSPC on a small tmpfs, not the LMDB map).

The store lives on a 24 MiB tmpfs with map_size_mb larger than the tmpfs, and a filler file
takes most of the space. Posting until the disk is full must give 503 store_full (or
store_error); the process stays up (also past store_failure_exit_ms: a full disk is not a
broken one), /healthz stays honest (200, or 503 naming the store), and the log does not
flood; the subscriber (answering 503, so every outcome is a reschedule the full store may
fail to record) is not hammered with re-attempts. Deleting the filler makes POSTs succeed again without a restart, and nothing
acknowledged is lost (checked after a restart). Needs root (mount); skipped otherwise.
"""
import json
import os
import subprocess
import tempfile
import time
import unittest

import sinks

from faultkit import (COMMIT_FAILED, FaultGateway, envelope, fatal_lines, free_port, mdb_stat,
                      missing_events, say, store_check_named, timing_scale)

DEAD_URL = "http://127.0.0.1:%d/hook" % free_port()
SLOW_RETRY = {"initial_delay_ms": 3600000, "max_delay_ms": 3600000, "max_attempts": 5}
TMPFS_MB = 24
LEAVE_FREE = 3 << 20  # what the filler leaves for the store


def honest_health(status, body):
    """200 {"status":"ok"}, or 503 with a JSON body naming the store check."""
    if status == 200:
        try:
            return json.loads(body).get("status") == "ok"
        except ValueError:
            return False
    return status == 503 and store_check_named(body)


class DiskFullTest(unittest.TestCase):
    def setUp(self):
        self.gw = None
        # Answers 503: each delivery is attempted once, then rescheduled an hour later --
        # unless its outcome cannot be recorded.
        self.sink = sinks.Sink(sinks.always(503), name="df")
        self.addCleanup(self.sink.close)
        self.mnt = tempfile.mkdtemp(prefix="hookgate-tmpfs-")
        r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%dm" % TMPFS_MB, "tmpfs", self.mnt],
                           capture_output=True, text=True)
        if r.returncode != 0:
            os.rmdir(self.mnt)
            self.mnt = None
            self.skipTest("SKIPPED: cannot mount a tmpfs for a real disk-full test (needs root): %s"
                          % (r.stderr.strip() or r.returncode))

    def tearDown(self):
        if self.gw:
            self.gw.remove()
        if self.mnt:
            subprocess.run(["umount", self.mnt], capture_output=True)
            if subprocess.run(["mountpoint", "-q", self.mnt]).returncode == 0:
                subprocess.run(["umount", "-l", self.mnt], capture_output=True)
            os.rmdir(self.mnt)

    def post(self, body):
        """POST /events; if the gateway is gone, fails the test with its exit status and log."""
        try:
            return self.gw.post(body)
        except OSError as e:
            rc = self.gw.wait_exit(5)
            self.fail("POST failed (%s); the gateway %s; last log lines:\n%s" % (
                e, "is still running" if rc is None else "exited with status %s" % rc,
                "\n".join(self.gw.logs().splitlines()[-8:])))

    def top_up(self, path):
        """Appends to the filler until the tmpfs is full; returns the bytes added."""
        added = 0
        chunk = b"\x5a" * 4096
        with open(path, "ab", buffering=0) as f:
            while added < (64 << 20):
                try:
                    n = f.write(chunk)
                except OSError:
                    break
                if not n:
                    break
                added += n
        return added

    def fill(self, path, leave):
        st = os.statvfs(self.mnt)
        size = st.f_bavail * st.f_frsize - leave
        chunk = b"\xa5" * (1 << 20)
        with open(path, "wb") as f:
            while size > 0:
                n = min(size, len(chunk))
                f.write(chunk[:n])
                size -= n
        return os.path.getsize(path)

    def test_disk_full_gives_503_stays_up_and_recovers_without_restart(self):
        scale = timing_scale()
        exit_ms = 3000
        gw = self.gw = FaultGateway([{"name": "all", "url": self.sink.url, "events": ["*"],
                                      "retry": SLOW_RETRY}],
                                    shim=False, data_dir=os.path.join(self.mnt, "data"),
                                    map_size_mb=64, store_failure_exit_ms=exit_ms)
        gw.start()
        acked = []
        for i in range(5):
            self.assertEqual(self.post(envelope(id_="df_pre_%d" % i)).status, 202)
            acked.append("df_pre_%d" % i)
        filler = os.path.join(self.mnt, "filler")
        filled = self.fill(filler, LEAVE_FREE)

        # Post batches of 10 x 2 KiB events until the disk is full (3 refusals in a row).
        log_before = len(gw.logs().splitlines())
        codes, refused_in_row, n = {}, 0, 0
        t0 = time.time()
        while refused_in_row < 3 and n < 2000 and time.time() - t0 < 20 * scale:
            ids = ["df_%d_%d" % (n, j) for j in range(10)]
            r = self.post([envelope(id_=e, payload={"pad": "p" * 2048}) for e in ids])
            n += 1
            if r.status == 202:
                acked.extend(ids)
                refused_in_row = 0
                continue
            self.assertEqual(r.status, 503, r)
            code = r.json()["error"]
            codes[code] = codes.get(code, 0) + 1
            refused_in_row += 1
        # Then take the last free bytes too: not even a tiny transaction fits any more.
        topped = self.top_up(filler)
        t_full = time.time()
        sink_before = self.sink.count()
        self.assertEqual(refused_in_row, 3, "the disk never filled (%d requests, %d acked)" % (n, len(acked)))
        self.assertLessEqual(set(codes), {"store_full", "store_error"}, codes)

        # Stay full past store_failure_exit_ms, posting a large batch (which needs new pages:
        # refused) and a small event (which may fit in pages LMDB freed) every 100 ms.
        health, small, large = [], {}, {}
        hold = float(os.environ.get("HOOKGATE_DISKFULL_HOLD_S", exit_ms / 1000.0 + 1.0))
        while time.time() - t_full < hold and gw.proc.poll() is None:
            k = len(health)
            ids = ["df_large_%d_%d" % (k, j) for j in range(10)]
            r = self.post([envelope(id_=e, payload={"pad": "p" * 2048}) for e in ids])
            large[r.status] = large.get(r.status, 0) + 1
            if r.status == 202:
                acked.extend(ids)
            eid = "df_small_%d" % k
            r = self.post(envelope(id_=eid))
            small[r.status] = small.get(r.status, 0) + 1
            if r.status == 202:
                acked.append(eid)
            h = gw.healthz()
            health.append((h.status, h.body))
            time.sleep(0.1)
        full_for = time.time() - t_full
        during = [r for r in self.sink.snapshot()[sink_before:] if r.at >= t_full]
        per_id = {}
        for r in during:
            per_id[r.webhook_id] = per_id.get(r.webhook_id, 0) + 1
        busiest = max(per_id.values()) if per_id else 0
        alive = gw.proc.poll() is None
        lines = gw.logs().splitlines()[log_before:]
        commit_failed = sum(COMMIT_FAILED in l for l in lines)
        elapsed = time.time() - t0
        say("disk full: %d MiB tmpfs, filler %.1f MiB, store full after %d POSTs (%d ids acked), "
            "503 codes %s; filler topped up by %d KiB to 0 bytes free; full for %.1f s (store_failure_exit_ms %d): large POSTs %s, small POSTs %s, /healthz %s, "
            "process %s, %d log lines (%d '%s', %.1f/s)", TMPFS_MB, filled / 1048576.0, n, len(acked),
            codes, topped // 1024, full_for, exit_ms, large, small, sorted({s for s, b in health}),
            "alive" if alive else "exited %s" % gw.proc.returncode, len(lines), commit_failed,
            COMMIT_FAILED, commit_failed / max(elapsed, 0.1))
        say("disk full: the subscriber got %d requests for %d ids while the disk was full "
            "(at most %d for one id in %.1f s)", len(during), len(per_id), busiest, full_for)
        say("disk full: log while full:\n      %s", "\n      ".join(lines[-12:]))
        # Problems that leave the process serving are collected; the recovery is checked too.
        problems = []
        self.assertTrue(alive, "the process stopped on a full disk:\n" + "\n".join(lines[-5:]))
        self.assertGreater(large.get(503, 0), large.get(202, 0), "the disk did not stay full: %r" % large)
        if fatal_lines(lines):
            problems.append("a fail-stop line on a full disk: %r" % fatal_lines(lines)[:2])
        dishonest = [(s, b) for s, b in health if not honest_health(s, b)]
        if dishonest:
            problems.append("/healthz while the disk is full: %r" % dishonest[:3])
        # A delivery whose outcome cannot be recorded stays pending and is claimed again by
        # the once-a-second sweep (delivery.c): the subscriber must not be hammered.
        if busiest > full_for + 3:
            problems.append("the subscriber got one delivery %d times in %.1f s while the store "
                            "could not record outcomes (%d requests for %d ids): expected at most "
                            "about one a second" % (busiest, full_for, len(during), len(per_id)))
        if commit_failed > 3 + 3 * elapsed:
            problems.append("log flood: %d '%s' lines in %.1f s" % (commit_failed, COMMIT_FAILED, elapsed))

        # Free the space: ingest works again without a restart.
        os.unlink(filler)
        t_freed = time.time()
        recovered = None
        while time.time() - t_freed < 10 * scale:
            eid = "df_after_%d" % int((time.time() - t_freed) * 1000)
            r = self.post(envelope(id_=eid, payload={"pad": "p" * 2048}))
            if r.status == 202:
                acked.append(eid)
                recovered = time.time() - t_freed
                break
            time.sleep(0.1)
        self.assertIsNotNone(recovered, "POSTs still refused 10 s after the disk was freed")
        more = [envelope(id_="df_more_%d" % i, payload={"pad": "p" * 2048}) for i in range(50)]
        self.assertEqual(self.post(more).status, 202)
        acked.extend(e["id"] for e in more)
        h = gw.healthz()
        deadline = time.time() + 3 * scale
        while h.status != 200 and time.time() < deadline:
            time.sleep(0.1)
            h = gw.healthz()
        self.assertEqual(h.status, 200, h)

        # Nothing acknowledged is lost, after a restart too; the store is consistent.
        self.assertEqual(gw.stop(), 0)
        ok, out = mdb_stat(gw.config["data_dir"])
        self.assertTrue(ok, out)
        gw.start()
        missing = missing_events(gw, acked)
        self.assertEqual(missing[:10], [], "%d acknowledged ids lost" % len(missing))
        self.assertEqual(gw.stop(), 0)
        say("disk full: POSTs accepted again %.2f s after the filler was deleted (no restart); "
            "all %d acknowledged ids found after a restart; mdb_stat ok; %.1f s in all",
            recovered, len(acked), time.time() - t0)
        if problems:
            self.fail("\n".join(problems))


if __name__ == "__main__":
    unittest.main()
