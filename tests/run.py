"""run.py -- runs the unit (meson/TAP) and integration (unittest) suites for each build dir
given, and prints one closing line "N passed, N failed"."""
import json
import os
import subprocess
import sys
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_unit(build):
    subprocess.run(["meson", "test", "-C", build, "--suite", "unit", "--print-errorlogs"],
                   cwd=ROOT)
    passed = failed = 0
    with open(os.path.join(ROOT, build, "meson-logs", "testlog.json")) as f:
        for line in f:
            result = json.loads(line)["result"]
            if result == "OK":
                passed += 1
            else:
                failed += 1
    return passed, failed


def run_integration(build):
    os.environ["HOOKGATE_BIN"] = os.path.join(ROOT, build, "hookgate")
    sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))
    suite = unittest.defaultTestLoader.discover(os.path.join(ROOT, "tests", "integration"),
                                                pattern="test_*.py")
    result = unittest.TextTestRunner(verbosity=2, stream=sys.stdout).run(suite)
    failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    return result.testsRun - failed - len(result.skipped), failed


def main(builds):
    total_pass = total_fail = 0
    for build in builds:
        started = time.time()
        print("=== %s: unit tests" % build, flush=True)
        p, f = run_unit(build)
        total_pass, total_fail = total_pass + p, total_fail + f
        print("=== %s: integration tests" % build, flush=True)
        p2, f2 = run_integration(build)
        total_pass, total_fail = total_pass + p2, total_fail + f2
        print("=== %s: %d passed, %d failed in %.0fs" % (build, p + p2, f + f2, time.time() - started),
              flush=True)
    print("%d passed, %d failed" % (total_pass, total_fail))
    return 1 if total_fail or total_pass == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["build"]))
