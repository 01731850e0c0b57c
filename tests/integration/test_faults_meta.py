"""Fault test: LMDB's meta-page write fails (EIO on the pwrite64 to the O_DSYNC descriptor),
injected by the LD_PRELOAD shim tests/faults/fsync_shim.so under load.

LMDB then marks the environment fatal (MDB_PANIC): every later transaction fails. The
gateway must stop promptly -- within a few seconds, long before store_failure_exit_ms --
with one clear log line rather than a flood, and exit non-zero. A restart without the shim
recovers: mdb_stat reads the store, nothing acknowledged is lost, and ingest works.
"""
import time
import unittest

import sinks
from faultkit import (FaultGateway, Load, envelope, fatal_lines, mdb_stat, missing_events, say,
                      timing_scale)


class MetaWriteFailureTest(unittest.TestCase):
    def setUp(self):
        self.gw = None
        self.sink = sinks.Sink(name="meta")

    def tearDown(self):
        if self.gw:
            self.gw.remove()
        self.sink.close()

    def test_meta_page_write_failure_stops_promptly_and_recovers(self):
        scale = timing_scale()
        bound = 3.0 * scale  # "promptly"; store_failure_exit_ms is far longer on purpose
        subs = [{"name": "meta", "url": self.sink.url, "events": ["*"],
                 "retry": {"initial_delay_ms": 100, "max_delay_ms": 1000, "max_attempts": 1000}}]
        gw = self.gw = FaultGateway(subs, store_failure_exit_ms=60000)
        gw.start()
        load = Load(gw.port, "mp", threads=4, batch_sizes=(1, 1, 5), max_requests=20000,
                    max_seconds=15 * scale, pace_s=0.002).start()
        try:
            self.assertEqual(load.wait_acked(200, timeout=10 * scale), "")
            self.assertTrue(self.sink.wait_count(1, timeout=10), "deliveries are not flowing")
            log_before = len(gw.logs().splitlines())
            t_on = time.time()
            gw.fault("meta")
            rc = gw.wait_exit(bound)
            t_exit = time.time()
        finally:
            load.stop()
        acked, statuses, errors = load.snapshot()
        injected = gw.injected("meta")
        # A flood would keep growing after the panic: give it a moment if the process lives on.
        if rc is None:
            time.sleep(1)
        new_lines = gw.logs().splitlines()[log_before:]
        say("meta-page write failure: %d ids acknowledged, %d meta writes failed by the shim, "
            "exit status %s after %.2f s (bound %.1f s), %d log lines after the fault; "
            "fail-stop line(s): %r", len(acked), injected, rc, t_exit - t_on, bound,
            len(new_lines), fatal_lines(new_lines))

        problems = []

        def check(cond, msg):
            if not cond:
                problems.append(msg)

        check(injected > 0, "the shim injected nothing: is it loaded?")
        check(rc is not None, "still running %.1f s after LMDB panicked" % (t_exit - t_on))
        if rc is not None:
            check(rc > 0, "must exit with a non-zero status, not die of a signal: %s" % rc)
        check(len(fatal_lines(new_lines)) in (1, 2),
              "expected one clear line naming the store, got %r (last lines %r)" % (
                  fatal_lines(new_lines)[:3], new_lines[-3:]))
        check(len(new_lines) <= 10, "log flood after the panic: %d lines, e.g. %r" % (
            len(new_lines), new_lines[-3:]))

        if gw.proc.poll() is None:
            gw.kill9()
        gw.use_shim(False)
        t0 = time.time()
        gw.start()
        missing = missing_events(gw, acked)
        check(missing == [], "%d acknowledged ids lost, e.g. %r" % (len(missing), missing[:5]))
        r = gw.post(envelope(id_="mp_after_restart"))
        check(r.status == 202, "POST after the restart: %r" % r)
        check(self.sink.wait_ids(["mp_after_restart"], timeout=10 * scale), "no delivery after the restart")
        rc2 = gw.stop()
        check(rc2 == 0, "SIGTERM after the restart: exit %s" % rc2)
        ok, out = mdb_stat(gw.config["data_dir"])
        check(ok, out)
        say("meta-page write failure: restart without the shim in %.2f s: %d of %d acknowledged "
            "ids found; mdb_stat %s", time.time() - t0, len(acked) - len(missing), len(acked),
            "ok" if ok else "FAILED")
        if problems:
            self.fail("\n".join(problems))


if __name__ == "__main__":
    unittest.main()
