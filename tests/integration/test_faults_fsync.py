"""Fault tests: fdatasync fails (EIO), injected by the LD_PRELOAD shim tests/faults/fsync_shim.so.

- Under load, fsync starts failing and keeps failing: no POST is answered 202 for a commit
  that failed (every id answered 202 is in the store after a restart without the shim),
  POSTs get 503 store_error, /healthz answers 503 naming the store check, and once commits
  have failed for store_failure_exit_ms the process logs one clear line and exits non-zero.
  A restart without the shim recovers everything and mdb_stat reads the store.
- The same while idle: a commit that wrote nothing (LMDB then skips the flush) must not
  count as a success, so /healthz stays 503 and the process still stops.
- Intermittent failures (one fsync in three) under load: batches break and are retried;
  every id answered 202 is durable, and the process stays up.
- A single transient failure (fault on for one request, then off) does not stop the
  process, and /healthz is 200 again after the next successful commit.
"""
import time
import unittest

from faultkit import (COMMIT_FAILED, FaultGateway, HealthPoller, Load, envelope, fatal_lines,
                      free_port, mdb_stat, missing_events, say, store_check_named, timing_scale,
                      wait_for)

DEAD_URL = "http://127.0.0.1:%d/hook" % free_port()
SLOW_RETRY = {"initial_delay_ms": 3600000, "max_delay_ms": 3600000, "max_attempts": 5}
SUBSCRIBERS = [{"name": "all", "url": DEAD_URL, "events": ["*"], "retry": SLOW_RETRY}]

class FsyncFailureTest(unittest.TestCase):
    def setUp(self):
        self.gw = None

    def tearDown(self):
        if self.gw:
            self.gw.remove()

    def test_persistent_fsync_failure_under_load_fails_stop_and_loses_nothing(self):
        scale = timing_scale()
        exit_ms = 1500
        gw = self.gw = FaultGateway(SUBSCRIBERS, store_failure_exit_ms=exit_ms)
        gw.start()
        load = Load(gw.port, "fs", threads=4, batch_sizes=(1, 1, 5), max_requests=20000,
                    max_seconds=25 * scale, pace_s=0.002).start()
        try:
            self.assertEqual(load.wait_acked(200, timeout=10 * scale), "")
            log_before = len(gw.logs().splitlines())
            t_on = time.time()
            gw.fault("fsync")
            health = HealthPoller(gw)
            rc = gw.wait_exit(exit_ms / 1000.0 + 6 * scale)
            t_exit = time.time()
            seen = health.stop()
        finally:
            load.stop()
        acked, statuses, errors = load.snapshot()
        new_lines = gw.logs().splitlines()[log_before:]
        injected = gw.injected("fsync")
        grace = 0.25 * scale  # answers already on their way when the fault was switched on
        late_acks = [(round(t - t_on, 3), s, ids[:3]) for t, s, c, ids in load.timeline
                     if t > t_on + grace and s in (200, 202)]
        during = [(s, c) for t, s, c, ids in load.timeline if t > t_on + grace]
        unhealthy = [(t, s, b) for t, s, b in seen if s == 503]
        say("fsync failure under load: %d ids acknowledged before the fault, %d fsyncs failed "
            "by the shim, %d POSTs answered while it was on (%s), /healthz polled %d times "
            "(%d x 503, first after %s s), exit status %s after %.2f s (store_failure_exit_ms "
            "%d), %d log lines meanwhile (%d '%s')", len(acked), injected, len(during),
            sorted(set(during)), len(seen), len(unhealthy),
            "%.2f" % (unhealthy[0][0] - t_on) if unhealthy else "-", rc, t_exit - t_on,
            exit_ms, len(new_lines), sum(COMMIT_FAILED in l for l in new_lines), COMMIT_FAILED)
        say("fsync failure: fail-stop line(s): %r", fatal_lines(new_lines))

        # Every problem is collected, so a run before the fail-stop fix also shows whether
        # anything acknowledged was lost.
        problems = []

        def check(cond, msg):
            if not cond:
                problems.append(msg)

        check(injected > 0, "the shim injected nothing: is it loaded?")
        check(late_acks == [], "POSTs answered 2xx while every fsync failed: %r" % late_acks[:5])
        check((503, "store_error") in during, "no POST got 503 store_error while fsync failed")
        check(unhealthy, "/healthz never answered 503 while commits failed: %r" % seen[-2:])
        bad_bodies = [b for t, s, b in unhealthy if not store_check_named(b)]
        check(not bad_bodies, "/healthz 503 body must be JSON naming the store check: %r" % bad_bodies[:2])
        check(rc is not None, "still running %.1f s after commits started failing "
              "(store_failure_exit_ms %d)" % (t_exit - t_on, exit_ms))
        if rc is not None:
            check(rc > 0, "must exit with a non-zero status, not die of a signal: %s" % rc)
            check(t_exit - t_on >= exit_ms / 1000.0 * 0.8, "exited %.2f s after the fault, before "
                  "store_failure_exit_ms" % (t_exit - t_on))
            # Every fsync fails, so nothing may count as a successful commit: a late exit
            # means something reset the timer (e.g. a commit that wrote nothing, which LMDB
            # reports as a success without flushing).
            check(t_exit - t_on <= exit_ms / 1000.0 + 2.0 * scale,
                  "exited %.2f s after the fault, more than 2 s after store_failure_exit_ms %d: "
                  "did a commit that never reached the disk reset the timer? log: %r" % (
                      t_exit - t_on, exit_ms, [l for l in new_lines if "again" in l][:3]))
        if unhealthy:
            flaps = [(round(t - t_on, 2), s) for t, s, b in seen if t > unhealthy[0][0] and s != 503]
            check(not flaps, "/healthz went back to 200 while every fsync still failed: %r" % flaps[:5])
        check(len(fatal_lines(new_lines)) in (1, 2),
              "expected one clear line naming the store, got %r (last lines %r)" % (
                  fatal_lines(new_lines)[:3], new_lines[-3:]))
        failed_lines = sum(COMMIT_FAILED in l for l in new_lines)
        check(failed_lines <= 3 + 3 * (t_exit - t_on),
              "log flood: %d '%s' lines in %.1f s" % (failed_lines, COMMIT_FAILED, t_exit - t_on))

        # A restart without the shim recovers every acknowledged id; the store is readable.
        if gw.proc.poll() is None:
            gw.kill9()
        gw.use_shim(False)
        gw.start()
        missing = missing_events(gw, acked)
        check(missing == [], "%d acknowledged ids lost, e.g. %r" % (len(missing), missing[:5]))
        r = gw.post(envelope(id_="fs_after_restart"))
        check(r.status == 202, "POST after the restart: %r" % r)
        rc2 = gw.stop()
        check(rc2 == 0, "SIGTERM after the restart: exit %s" % rc2)
        ok, out = mdb_stat(gw.config["data_dir"])
        check(ok, out)
        say("fsync failure: restart without the shim: %d of %d acknowledged ids found; mdb_stat %s",
            len(acked) - len(missing), len(acked), "ok" if ok else "FAILED")
        if problems:
            self.fail("\n".join(problems))

    def test_fsync_failure_while_idle_still_fails_stop(self):
        """One POST fails while fsync is broken, then nothing else arrives: background work
        that writes nothing (a retention step with nothing to prune) commits "successfully"
        because LMDB skips the flush when no page is dirty. That proves nothing about the disk:
        /healthz must stay 503 and the process must still stop after store_failure_exit_ms."""
        scale = timing_scale()
        exit_ms = 1500
        gw = self.gw = FaultGateway(SUBSCRIBERS, store_failure_exit_ms=exit_ms)
        gw.start()
        self.assertEqual(gw.post(envelope(id_="idle_before")).status, 202)
        gw.fault("fsync")
        t_on = time.time()
        r = gw.post(envelope(id_="idle_failed"))
        self.assertEqual(r.status, 503, r)
        health = HealthPoller(gw)
        rc = gw.wait_exit(exit_ms / 1000.0 + 2.0 * scale)
        t_exit = time.time()
        seen = health.stop()
        statuses = [s for t, s, b in seen]
        flips = [(round(t - t_on, 2), s) for t, s, b in seen if s != 503]
        lines = gw.logs().splitlines()
        say("fsync failure while idle: %d fsyncs failed, /healthz %d x 503 and %d x other "
            "(first other after %s s), exit status %s after %.2f s (store_failure_exit_ms %d); "
            "log: %r", gw.injected("fsync"), statuses.count(503), len(flips),
            flips[0][0] if flips else "-", rc, t_exit - t_on, exit_ms,
            [l for l in lines if "store" in l][-3:])
        problems = []
        if flips:
            problems.append("/healthz answered %r while every fsync failed (a commit that wrote "
                            "nothing is not a successful one)" % flips[:3])
        if rc is None:
            problems.append("still running %.1f s after fsync started failing (store_failure_exit_ms "
                            "%d), while idle" % (t_exit - t_on, exit_ms))
        elif rc <= 0:
            problems.append("must exit with a non-zero status, not die of a signal: %s" % rc)
        if gw.proc.poll() is None:
            gw.kill9()
        gw.use_shim(False)
        gw.start()
        if missing_events(gw, ["idle_before"]):
            problems.append("idle_before (acknowledged) lost")
        self.assertEqual(gw.stop(), 0)
        if problems:
            self.fail("\n".join(problems))

    def test_intermittent_fsync_failures_never_acknowledge_a_failed_commit(self):
        """One fdatasync in three fails for a while under load: batches break and are retried
        (one by one), successes and failures interleave. Every id answered 202 must be in the
        store after a restart without the shim; the successes keep the process up."""
        scale = timing_scale()
        exit_ms = 1500
        gw = self.gw = FaultGateway(SUBSCRIBERS, store_failure_exit_ms=exit_ms)
        gw.start()
        load = Load(gw.port, "fi", threads=6, batch_sizes=(1, 1, 1, 5, 20), max_requests=20000,
                    max_seconds=25 * scale, pace_s=0.001).start()
        try:
            self.assertEqual(load.wait_acked(100, timeout=10 * scale), "")
            t_on = time.time()
            gw.fault("fsync/3")
            time.sleep(exit_ms / 1000.0 + 1.5)
            gw.fault("")
            t_off = time.time()
            time.sleep(0.3)
        finally:
            load.stop()
        alive = gw.proc.poll() is None
        acked, statuses, errors = load.snapshot()
        during = {}
        for t, s, c, ids in load.timeline:
            if t_on < t < t_off:
                during[(s, c)] = during.get((s, c), 0) + 1
        injected = gw.injected("fsync")
        h = gw.healthz() if alive else None
        say("intermittent fsync failures (1 in 3) for %.1f s under load: %d fsyncs failed, "
            "answers meanwhile %s, %d ids acknowledged in all, process %s, /healthz after: %s",
            t_off - t_on, injected, sorted(during.items(), key=str), len(acked),
            "alive" if alive else "exited %s" % gw.proc.returncode, h)
        self.assertGreater(injected, 0, "the shim injected nothing: is it loaded?")
        self.assertTrue(alive, "intermittent failures (with successes between) stopped the process:\n"
                        + "\n".join(gw.logs().splitlines()[-5:]))
        if gw.proc.poll() is None:
            gw.kill9()  # what the page cache holds stays; only committed (meta-synced) data counts
        gw.use_shim(False)
        gw.start()
        missing = missing_events(gw, acked)
        self.assertEqual(missing[:10], [], "%d acknowledged ids lost" % len(missing))
        self.assertEqual(gw.stop(), 0)
        ok, out = mdb_stat(gw.config["data_dir"])
        self.assertTrue(ok, out)
        say("intermittent fsync failures: all %d acknowledged ids found after a restart; mdb_stat ok",
            len(acked))

    def test_transient_fsync_failure_does_not_stop_the_process(self):
        scale = timing_scale()
        exit_ms = 1500
        gw = self.gw = FaultGateway(SUBSCRIBERS, store_failure_exit_ms=exit_ms)
        gw.start()
        self.assertEqual(gw.post(envelope(id_="tr_before")).status, 202)
        self.assertEqual(gw.healthz().status, 200)

        gw.fault("fsync")
        r = gw.post(envelope(id_="tr_failed"))
        h_on = gw.healthz()
        gw.fault("")
        t_off = time.time()
        self.assertGreater(gw.injected("fsync"), 0, "the shim injected nothing: is it loaded?")
        self.assertEqual(r.status, 503, r)
        self.assertEqual(r.json()["error"], "store_error", r)
        self.assertEqual(h_on.status, 503, "/healthz right after a failed commit: %r" % h_on)
        self.assertTrue(store_check_named(h_on.body), h_on)

        r = gw.post(envelope(id_="tr_after"))
        self.assertEqual(r.status, 202, r)
        healthy = wait_for(lambda: gw.healthz().status == 200, timeout=2 * scale)
        t_healthy = time.time() - t_off
        self.assertTrue(healthy, "/healthz still %r after a successful commit" % gw.healthz())
        # Past store_failure_exit_ms: still running, still healthy.
        time.sleep(exit_ms / 1000.0 + 1.0)
        self.assertIsNone(gw.proc.poll(), "a single failed commit stopped the process:\n" + gw.logs())
        self.assertEqual(gw.healthz().status, 200)
        self.assertEqual(fatal_lines(gw.logs().splitlines()), [])
        self.assertEqual(gw.stop(), 0)
        gw.use_shim(False)
        gw.start()
        self.assertEqual(missing_events(gw, ["tr_before", "tr_after"]), [])
        say("transient fsync failure: %d fsync(s) failed, POST 503 store_error, /healthz 503 "
            "naming the store, then 202 and /healthz 200 again %.2f s after the fault cleared; "
            "alive %.1f s later", gw.injected("fsync"), t_healthy, exit_ms / 1000.0 + 1.0)


if __name__ == "__main__":
    unittest.main()
