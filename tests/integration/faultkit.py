"""faultkit.py -- helpers for the fault-injection tests (test_faults_*.py).

- FaultGateway: a harness.Gateway started under the LD_PRELOAD shim tests/faults/fsync_shim.so
  (built next to the binary under test), with fault() to switch injected store I/O faults
  on and off while the process runs, and injected() to count what the shim did.
- Load: client threads posting singles and batches, bounded in count and in time, that
  record every id acknowledged (202, or 200 duplicate) and every status seen.
- HealthPoller, fatal_lines(), store_check_named(), mdb_stat(), missing_events(): checks
  used during and after a fault.
"""
import http.client
import json
import os
import random
import re
import shutil
import subprocess
import sys
import threading
import time

from harness import Gateway, binary, envelope, free_port, request, wait_for  # noqa: F401


def say(fmt, *args):
    """A line for the CI log: what a test proved, with its numbers."""
    sys.stdout.write("\n    [faults] " + (fmt % args if args else fmt) + "\n")
    sys.stdout.flush()


def is_asan_build():
    return asan_runtime() is not None or "asan" in binary()


def timing_scale():
    """How much slower the binary under test runs (ASan builds are ~2-4x slower)."""
    return 2.0 if is_asan_build() else 1.0


# ---- the LD_PRELOAD shim ----

def shim_path():
    """$HOOKGATE_FAULT_SHIM, else tests/faults/fsync_shim.so in the build dir of the binary."""
    p = os.environ.get("HOOKGATE_FAULT_SHIM")
    if p:
        return p
    return os.path.join(os.path.dirname(os.path.abspath(binary())), "tests", "faults",
                        "fsync_shim.so")


_asan_cache = {}


def asan_runtime():
    """The ASan runtime the binary links dynamically (gcc's default), or None. It must come
    first in LD_PRELOAD, before the shim, or the runtime refuses to start."""
    b = binary()
    if b not in _asan_cache:
        path = None
        try:
            out = subprocess.run(["ldd", b], capture_output=True, text=True, timeout=10).stdout
            m = re.search(r"^\s*libasan\.so[^\s]*\s*=>\s*(\S+)", out, re.M)
            if m:
                path = m.group(1)
        except (OSError, subprocess.SubprocessError):
            pass
        _asan_cache[b] = path
    return _asan_cache[b]


def shim_env(control_path, log_path):
    """Environment for a gateway run under the shim."""
    if not os.path.exists(shim_path()):
        raise RuntimeError("fault shim not built: %s (meson compile builds tests/faults)" % shim_path())
    preload = [shim_path()]
    asan = asan_runtime()
    if asan:
        preload.insert(0, asan)
    env = {"LD_PRELOAD": " ".join(preload),
           "HOOKGATE_FAULT_CONTROL": control_path,
           "HOOKGATE_FAULT_LOG": log_path}
    return env


class FaultGateway(Gateway):
    """A Gateway run under the fault shim (shim=True) or plainly (shim=False); the data_dir can
    be shared with an earlier gateway (data_dir=...)."""

    def __init__(self, subscribers=(), shim=True, env=None, **config):
        super().__init__(subscribers, env=env, **config)
        self.control_path = os.path.join(self.dir, "faults.ctl")
        self.fault_log_path = os.path.join(self.dir, "faults.log")
        self.use_shim(shim)

    def start(self, wait=True):
        if self.proc is not None and self.proc.poll() is not None and not self.log.closed:
            self.log.close()  # the previous process exited by itself
        return super().start(wait)

    def use_shim(self, on):
        """Applies to the next start()."""
        for k in ("LD_PRELOAD", "HOOKGATE_FAULT_CONTROL", "HOOKGATE_FAULT_LOG"):
            self.env.pop(k, None)
        if on:
            self.env.update(shim_env(self.control_path, self.fault_log_path))
            self.fault("")

    def fault(self, spec):
        """Sets the faults the shim injects from now on: "" (none), "fsync", "meta",
        "fsync:1" (only the next one), "fsync/3" (one call in three), ... (see
        tests/faults/fsync_shim.c). The shim reads the file on every intercepted call; the
        generation comment makes each call a change (which resets the shim's counters)."""
        self._generation = getattr(self, "_generation", 0) + 1
        tmp = self.control_path + ".tmp"
        with open(tmp, "w") as f:
            f.write("# %d\n%s\n" % (self._generation, spec))
        os.replace(tmp, self.control_path)  # atomic: the shim never reads half a file

    def injected(self, kind=None):
        """How many faults the shim has injected so far (of one kind: "fsync", "meta")."""
        try:
            with open(self.fault_log_path) as f:
                lines = f.readlines()
        except FileNotFoundError:
            return 0
        if kind == "fsync":
            return sum(1 for l in lines if " fsync " in l or " fdatasync " in l)
        if kind == "meta":
            return sum(1 for l in lines if "(meta)" in l)
        return len(lines)

    def log_lines(self, needle):
        return [l for l in self.logs().splitlines() if needle in l]

    def healthz(self, timeout=5):
        return self.request("GET", "/healthz", timeout=timeout)

    def wait_exit(self, timeout):
        """Waits up to timeout s for the process to exit by itself; its returncode or None."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def remove(self):
        self.close()
        shutil.rmtree(self.dir, ignore_errors=True)


# The fail-stop line: names the store and says the process is giving up.
FATAL_RE = re.compile(r"exit|fatal|giving up|panic|abort|stopping|shutting down|terminat", re.I)
COMMIT_FAILED = "commit failed"  # "batch commit failed" before the fail-stop work, "store: commit failed" since


def fatal_lines(lines):
    return [l for l in lines if "store" in l.lower() and FATAL_RE.search(l)]


class HealthPoller:
    """Polls /healthz every 50 ms in a thread until stopped or the process is gone."""

    def __init__(self, gw):
        self.gw = gw
        self.seen = []  # (time, status, body)
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.stopped.is_set() and self.gw.proc.poll() is None:
            try:
                r = self.gw.healthz(timeout=2)
                self.seen.append((time.time(), r.status, r.body))
            except OSError:
                pass
            self.stopped.wait(0.05)

    def stop(self):
        self.stopped.set()
        self.thread.join(5)
        return self.seen


def store_check_named(body):
    """True when body is a JSON object that names the failing store check."""
    try:
        obj = json.loads(body)
    except ValueError:
        return False
    return isinstance(obj, dict) and "store" in json.dumps(obj)


def mdb_stat(data_dir):
    """Runs mdb_stat and mdb_stat -e on the store; returns (ok, output)."""
    out = []
    ok = True
    for args in (["mdb_stat", "-e", data_dir], ["mdb_stat", "-a", data_dir]):
        try:
            r = subprocess.run(args, capture_output=True, text=True, timeout=60)
        except FileNotFoundError:
            return None, "mdb_stat not installed (lmdb-utils)"
        out.append("$ %s\n%s%s" % (" ".join(args), r.stdout[-2000:], r.stderr[-2000:]))
        ok = ok and r.returncode == 0
    return ok, "\n".join(out)


def missing_events(gw, ids):
    """The ids GET /admin/events/<id> does not find (checked on one keep-alive connection)."""
    missing = []
    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
    try:
        for eid in ids:
            for attempt in range(3):
                try:
                    conn.request("GET", "/admin/events/" + eid)
                    r = conn.getresponse()
                    r.read()
                    break
                except (OSError, http.client.HTTPException):
                    conn.close()
                    conn = http.client.HTTPConnection("127.0.0.1", gw.port, timeout=30)
                    if attempt == 2:
                        raise
            if r.status != 200:
                missing.append(eid)
    finally:
        conn.close()
    return missing


class Load:
    """Client threads posting events to a gateway port until stop(), max_requests each, or
    max_seconds. Every request carries fresh ids (prefix_thread_n_j); a batch of k > 1 is an
    array. Records acked ids (202, or 200 duplicate), ids answered 503 with their error
    code, and a Counter of statuses. set_port() lets the same load follow a restart."""

    def __init__(self, port, prefix, threads=4, batch_sizes=(1, 1, 5), max_requests=2000,
                 max_seconds=30, pace_s=0.0, type_="message_created", payload_bytes=0):
        self.port = port
        self.prefix = prefix
        self.nthreads = threads
        self.batch_sizes = batch_sizes
        self.max_requests = max_requests
        self.max_seconds = max_seconds
        self.pace_s = pace_s
        self.type = type_
        self.pad = "x" * payload_bytes
        self.lock = threading.Lock()
        self.acked = []  # ids answered 202 or 200 duplicate
        self.acked_set = set()
        self.rejected = []  # (id list, status, error code)
        self.statuses = {}
        self.errors = {}  # 503 error codes
        self.unknown = 0  # requests without an answer (connection broken: outcome unknown)
        self.requests = 0
        self.stopped = threading.Event()
        self.threads = []
        self.serial = 0
        self.timeline = []  # (time answered, status, error code or None, ids)

    def start(self):
        self.t0 = time.time()
        for t in range(self.nthreads):
            th = threading.Thread(target=self._run, args=(t,), daemon=True)
            th.start()
            self.threads.append(th)
        return self

    def _next_ids(self, tid, k):
        with self.lock:
            self.serial += 1
            n = self.serial
        return ["%s_%d_%d_%d" % (self.prefix, tid, n, j) for j in range(k)]

    def _run(self, tid):
        rnd = random.Random(tid * 7919 + int(self.t0))
        conn = None
        for _ in range(self.max_requests):
            if self.stopped.is_set() or time.time() - self.t0 > self.max_seconds:
                break
            k = rnd.choice(self.batch_sizes)
            ids = self._next_ids(tid, k)
            envs = [envelope(self.type, e, {"n": i, "pad": self.pad}) for i, e in enumerate(ids)]
            body = json.dumps(envs[0] if k == 1 else envs)
            try:
                if conn is None:
                    conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=15)
                conn.request("POST", "/events", body, {"Content-Type": "application/json"})
                r = conn.getresponse()
                data = r.read()
            except (OSError, http.client.HTTPException):
                if conn is not None:
                    conn.close()
                conn = None
                with self.lock:
                    self.unknown += 1
                    self.requests += 1
                time.sleep(0.02)
                continue
            code = None
            if r.status not in (200, 202):
                try:
                    code = json.loads(data).get("error")
                except ValueError:
                    pass
            with self.lock:
                self.timeline.append((time.time(), r.status, code, ids))
                self.requests += 1
                self.statuses[r.status] = self.statuses.get(r.status, 0) + 1
                if r.status in (200, 202):
                    self.acked.extend(ids)
                    self.acked_set.update(ids)
                else:
                    self.errors[code] = self.errors.get(code, 0) + 1
                    self.rejected.append((ids, r.status, code))
            if r.getheader("Connection", "").lower() == "close":
                conn.close()
                conn = None
            if self.pace_s:
                time.sleep(self.pace_s)
        if conn is not None:
            conn.close()

    def set_port(self, port):
        self.port = port

    def stop(self, timeout=30):
        self.stopped.set()
        for th in self.threads:
            th.join(timeout)
        return self

    def join(self, timeout=60):
        for th in self.threads:
            th.join(timeout)
        return self

    def snapshot(self):
        with self.lock:
            return list(self.acked), dict(self.statuses), dict(self.errors)

    def wait_acked(self, n, timeout):
        """Waits until n ids are acknowledged; returns "" or why the load never got going."""
        if wait_for(lambda: len(self.snapshot()[0]) >= n, timeout=timeout):
            return ""
        return "load never got going: %r" % (self.snapshot()[1],)
