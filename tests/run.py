"""run.py -- runs the unit (meson/TAP) and integration (unittest) suites for each build dir
given, then (with --fuzz BUILD:SECONDS) every fuzz target for SECONDS, and prints one
closing line "N passed, N failed"."""
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


def run_fuzz(spec):
    """tests/fuzz/run.sh over a -Dfuzz=true build; one result per target."""
    build, seconds = spec.rsplit(":", 1)
    print("=== %s: fuzzing each target for %s s" % (build, seconds), flush=True)
    out = subprocess.run(["bash", os.path.join(ROOT, "tests", "fuzz", "run.sh"), build, seconds],
                         cwd=ROOT, stdout=subprocess.PIPE, text=True)
    print(out.stdout, end="", flush=True)
    lines = [l for l in out.stdout.splitlines() if l.startswith("fuzz ")]
    passed = sum(1 for l in lines if l.endswith(": ok"))
    failed = len(lines) - passed + (1 if out.returncode != 0 and passed == len(lines) else 0)
    return passed, failed


def main(args):
    fuzz = None
    if args[:1] == ["--fuzz"]:
        fuzz, args = args[1], args[2:]
    builds = args or ["build"]
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
    if fuzz:
        p, f = run_fuzz(fuzz)
        total_pass, total_fail = total_pass + p, total_fail + f
    print("%d passed, %d failed" % (total_pass, total_fail))
    return 1 if total_fail or total_pass == 0 else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
