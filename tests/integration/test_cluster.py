"""Three shared-nothing nodes behind real HAProxy, configured by deploy/haproxy.cfg:
keyed events are delivered exactly once and their retries caught as duplicates, a node
killed with kill -9 costs the producer no errors once HAProxy has marked it down and loses
nothing it acknowledged, and hookgate-admin's cluster view is the sum of the nodes."""
import collections
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import ROOT, Gateway, binary, free_port, wait_for
from sinks import Sink, StatusSink

# Retries that keep a delivery pending through a short outage without a storm of attempts.
PATIENT_RETRY = {"max_attempts": 1000, "initial_delay_ms": 100, "multiplier": 2.0,
                 "max_delay_ms": 1000, "jitter": 0}


def haproxy_config(ports):
    """deploy/haproxy.cfg with its node block replaced by one server line per port."""
    with open(os.path.join(ROOT, "deploy", "haproxy.cfg")) as f:
        text = f.read()
    servers = "".join("    server node%d 127.0.0.1:%d\n" % (i + 1, p)
                      for i, p in enumerate(ports))
    new, n = re.subn(r"(# nodes: begin\n).*?(\s*# nodes: end)", lambda m: m.group(1) +
                     servers.rstrip("\n") + m.group(2), text, flags=re.S)
    assert n == 1, "deploy/haproxy.cfg has no '# nodes: begin' ... '# nodes: end' block"
    return new


class HAProxy:
    """haproxy -db on a free loopback port with fast health checks, run from a temp dir."""

    def __init__(self, ports):
        self.dir = tempfile.mkdtemp(prefix="hookgate-haproxy-")
        self.port = free_port()
        self.stats = os.path.join(self.dir, "stats.sock")
        self.cfg = os.path.join(self.dir, "haproxy.cfg")
        with open(self.cfg, "w") as f:
            f.write(haproxy_config(ports))
        self.env = dict(os.environ, HOOKGATE_LB_BIND="127.0.0.1:%d" % self.port,
                        HOOKGATE_LB_STATS=self.stats, HOOKGATE_LB_INTER="200ms",
                        HOOKGATE_LB_FALL="2", HOOKGATE_LB_RISE="1")
        exe = shutil.which("haproxy") or "/usr/sbin/haproxy"
        if not os.path.exists(exe):
            raise RuntimeError("haproxy is not installed (apt-get install haproxy)")
        check = subprocess.run([exe, "-c", "-q", "-f", self.cfg], env=self.env,
                               capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError("haproxy rejects the config: " + check.stderr)
        self.log = open(os.path.join(self.dir, "haproxy.log"), "wb")
        self.proc = subprocess.Popen([exe, "-db", "-f", self.cfg], env=self.env,
                                     stdout=self.log, stderr=self.log)
        if not wait_for(lambda: self.all_up(len(ports)), timeout=10):
            raise RuntimeError("haproxy did not see every node up: %r" % self.servers())

    def command(self, cmd):
        with socket.socket(socket.AF_UNIX) as s:
            s.connect(self.stats)
            s.sendall(cmd.encode() + b"\n")
            out = b""
            while True:
                chunk = s.recv(65536)
                if not chunk:
                    return out.decode()
                out += chunk

    def servers(self):
        """{server name: its `show stat` row} for the nodes' backend."""
        try:
            lines = self.command("show stat").splitlines()
        except OSError:
            return {}
        head = lines[0].lstrip("# ").split(",")
        rows = [dict(zip(head, l.split(","))) for l in lines[1:] if l]
        return {r["svname"]: r for r in rows
                if r["pxname"] == "hookgate_nodes" and r["svname"].startswith("node")}

    def status(self, name):
        return self.servers().get(name, {}).get("status", "")

    def all_up(self, n):
        s = self.servers()
        return len(s) == n and all(r["status"].startswith("UP") for r in s.values())

    def close(self):
        self.proc.terminate()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class Producer:
    """A keep-alive client of the balancer that posts one keyed event per request."""

    def __init__(self, port):
        self.port = port
        self.conn = None

    def post(self, key, type_="order.created"):
        """Posts an envelope without id and with Idempotency-Key: key, which becomes its id;
        returns the status, or None when the connection failed."""
        body = json.dumps({"type": type_, "payload": {"k": key}})
        try:
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            self.conn.request("POST", "/events", body, {"Content-Type": "application/json",
                                                       "Idempotency-Key": key})
            r = self.conn.getresponse()
            r.read()
            if r.getheader("Connection", "").lower() == "close":
                self.close()
            return r.status
        except (OSError, http.client.HTTPException):
            self.close()
            return None

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None


def post_all(port, keys, threads=8):
    """Posts every key from several producers at once; returns {key: status}."""
    out = {}
    chunks = [keys[i::threads] for i in range(threads)]

    def work(chunk):
        p = Producer(port)
        for k in chunk:
            out[k] = p.post(k)
        p.close()
    ts = [threading.Thread(target=work, args=(c,)) for c in chunks]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def metric(gw, name):
    r = gw.request("GET", "/metrics")
    m = re.search(r"^%s (\S+)$" % re.escape(name), r.body.decode(), re.M)
    return int(float(m.group(1))) if m else 0


def admin_subscribers(gw):
    r = gw.request("GET", "/admin/subscribers")
    assert r.status == 200, r
    return {s["name"]: s for s in r.json()["subscribers"]}


class ClusterCase(unittest.TestCase):
    def start_cluster(self, sinks):
        """Three nodes, node i delivering every event to sinks[i], and HAProxy in front."""
        self.nodes = []
        for sink in sinks:
            gw = Gateway([{"name": "sink", "url": sink.url, "events": ["*"]}],
                         retry=PATIENT_RETRY)
            self.addCleanup(gw.remove)
            self.nodes.append(gw.start())
        self.lb = HAProxy([gw.port for gw in self.nodes])
        self.addCleanup(self.lb.close)

    def delivered(self, sinks):
        return collections.Counter(i for s in sinks for i in s.delivered())


class ExactlyOnceTest(ClusterCase):
    def test_keyed_events_are_delivered_once_and_retries_are_duplicates(self):
        sink = Sink()
        self.addCleanup(sink.close)
        self.start_cluster([sink] * 3)
        keys = ["evt_%04d" % i for i in range(3000)]
        got = post_all(self.lb.port, keys)
        self.assertEqual(collections.Counter(got.values()), {202: 3000})
        self.assertTrue(sink.wait(lambda reqs: len({r.webhook_id for r in reqs}) >= 3000,
                                  timeout=30), sink.count())

        # A producer retrying every event reaches the node that stored it: all duplicates.
        again = post_all(self.lb.port, keys)
        self.assertEqual(collections.Counter(again.values()), {200: 3000})
        time.sleep(0.5)  # nothing new may arrive
        counts = self.delivered([sink])
        self.assertEqual(set(counts), set(keys))
        self.assertEqual(collections.Counter(counts.values()), {1: 3000})

        # Each event is on exactly one node, and the keys spread over all three.
        received = [metric(gw, "hookgate_events_received_total") for gw in self.nodes]
        delivered = [admin_subscribers(gw)["sink"]["delivered"] for gw in self.nodes]
        self.assertEqual(sum(delivered), 3000)
        for n in delivered:
            self.assertGreater(n, 450, delivered)  # a third would be 1000
        # Duplicates count as received, on the node that holds the event.
        self.assertEqual(received, [2 * n for n in delivered])

    def test_admin_and_unknown_paths_are_not_forwarded(self):
        sink = Sink()
        self.addCleanup(sink.close)
        self.start_cluster([sink] * 3)
        p = Producer(self.lb.port)
        self.addCleanup(p.close)
        for method, path, status in (("GET", "/admin/subscribers", 403),
                                     ("POST", "/admin/dead-letters/retry", 403),
                                     ("GET", "/metrics", 404), ("GET", "/healthz", 200)):
            p.conn = http.client.HTTPConnection("127.0.0.1", self.lb.port, timeout=10)
            p.conn.request(method, path)
            r = p.conn.getresponse()
            body = r.read()
            self.assertEqual(r.status, status, (path, body))
            if status != 200:
                self.assertEqual(set(json.loads(body)), {"error", "detail"})
            p.close()
        # Without a key, events are spread round robin.
        before = [metric(gw, "hookgate_events_received_total") for gw in self.nodes]
        conn = http.client.HTTPConnection("127.0.0.1", self.lb.port, timeout=10)
        for i in range(30):
            conn.request("POST", "/events", json.dumps({"type": "t", "payload": i}),
                         {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            self.assertEqual(r.status, 202)
        conn.close()
        after = [metric(gw, "hookgate_events_received_total") for gw in self.nodes]
        spread = [a - b for a, b in zip(after, before)]
        self.assertEqual(sum(spread), 30)
        self.assertGreaterEqual(min(spread), 5, spread)


class NodeLossTest(ClusterCase):
    def test_kill9_under_load(self):
        up = Sink(name="up")
        down = StatusSink(name="down")  # node 2's subscriber: refusing until node 2 is back
        self.addCleanup(up.close)
        self.addCleanup(down.close)
        self.start_cluster([up, down, up])
        node2 = self.nodes[1]

        results = []  # (started at, ended at, key, status)
        stop = threading.Event()

        def produce(tag):
            p = Producer(self.lb.port)
            i = 0
            while not stop.is_set() and i < 20000:
                key = "k%s_%05d" % (tag, i)
                t = time.time()
                status = p.post(key)
                results.append((t, time.time(), key, status))
                i += 1
            p.close()
        producers = [threading.Thread(target=produce, args=(t,)) for t in "abcd"]
        for t in producers:
            t.start()
        try:
            self.assertTrue(wait_for(lambda: admin_subscribers(node2)["sink"]["pending"] > 50,
                                     timeout=10), "node 2 built no backlog")
            killed_at = time.time()
            node2.kill9()
            self.assertTrue(wait_for(lambda: self.lb.status("node2").startswith("DOWN"),
                                     timeout=10), self.lb.servers().get("node2"))
            down_at = time.time()
            time.sleep(1.5)  # the producers keep going on two nodes
            node2.start()
            self.assertTrue(wait_for(lambda: self.lb.status("node2").startswith("UP"),
                                     timeout=10), self.lb.servers().get("node2"))
            back_at = time.time()
            down.start()
            received = metric(node2, "hookgate_events_received_total")
            time.sleep(1.0)
        finally:
            stop.set()
            for t in producers:
                t.join(30)

        after_down = [r for r in results if down_at <= r[0]]
        self.assertGreater(len(after_down), 100)
        self.assertEqual([r for r in after_down if r[3] != 202], [],
                         "errors after HAProxy marked the node down")
        self.assertEqual([r for r in results if r[1] < killed_at and r[3] != 202], [])
        # The restart brought HAProxy back to node 2: keys land there again.
        self.assertGreater(len([r for r in results if r[0] > back_at]), 30)
        self.assertGreater(metric(node2, "hookgate_events_received_total"), received)

        # Events whose answer was lost are posted again with their keys: each is either a
        # duplicate on the node that stored it or accepted now.
        errored = [r[2] for r in results if r[3] != 202]
        retried = post_all(self.lb.port, errored, threads=2) if errored else {}
        self.assertTrue(set(retried.values()) <= {200, 202}, retried)

        # Every acknowledged event is delivered, node 2's backlog included.
        acked = {r[2] for r in results if r[3] == 202} | set(errored)
        self.assertTrue(wait_for(lambda: acked <= set(self.delivered([up, down])),
                                 timeout=30),
                        "%d acknowledged events never delivered" %
                        len(acked - set(self.delivered([up, down]))))
        self.assertTrue(wait_for(lambda: admin_subscribers(node2)["sink"]["pending"] == 0,
                                 timeout=10))
        self.assertEqual(len(set(down.delivered())),
                         admin_subscribers(node2)["sink"]["delivered"])


class AdminViewTest(ClusterCase):
    def cli(self, *args):
        exe = os.path.join(os.path.dirname(binary()), "hookgate-admin")
        urls = ",".join("http://127.0.0.1:%d" % gw.port for gw in self.nodes)
        env = {k: v for k, v in os.environ.items() if not k.startswith("HOOKGATE_")}
        return subprocess.run([exe, "--url", urls] + list(args), capture_output=True,
                              text=True, timeout=60, env=env)

    def test_cluster_view_is_the_sum_of_the_nodes(self):
        sink = StatusSink(status=200)
        self.addCleanup(sink.close)
        sink.start()
        self.start_cluster([sink] * 3)
        keys = ["v_%03d" % i for i in range(300)]
        self.assertEqual(set(post_all(self.lb.port, keys).values()), {202})
        self.assertTrue(sink.wait(lambda reqs: len(reqs) >= 300, timeout=20))
        sink.status = 500  # 30 more that stay pending
        self.assertEqual(set(post_all(self.lb.port, ["w_%d" % i for i in range(30)]).values()),
                         {202})
        wait_for(lambda: sum(admin_subscribers(gw)["sink"]["failed_attempts"]
                             for gw in self.nodes) >= 30, timeout=10)

        def wait_stable():
            """Reads the nodes, then the CLI, until the two agree (attempts keep going)."""
            for _ in range(50):
                per = [admin_subscribers(gw)["sink"] for gw in self.nodes]
                p = self.cli("subscribers")
                again = [admin_subscribers(gw)["sink"] for gw in self.nodes]
                if per == again:
                    return per, p
            self.fail("the counters never held still")
        per, p = wait_stable()
        self.assertEqual(p.returncode, 0, p.stderr)
        row = [l.split() for l in p.stdout.splitlines() if l.startswith("sink ")][0]
        want = [sum(s[k] for s in per) for k in ("pending", "in_flight", "delivered",
                                                 "failed_attempts", "dead")]
        self.assertEqual([int(x) for x in row[1:6]], want)
        self.assertEqual(sum(s["delivered"] for s in per), 300)
        self.assertEqual(sum(s["pending"] for s in per), 30)

        # --per-node: one row per node, each that node's own counters.
        sink.status = 200
        self.assertTrue(wait_for(lambda: sum(admin_subscribers(gw)["sink"]["delivered"]
                                             for gw in self.nodes) == 330, timeout=15))
        p = self.cli("subscribers", "--per-node")
        self.assertEqual(p.returncode, 0, p.stderr)
        rows = [l.split() for l in p.stdout.splitlines()[1:]]
        self.assertEqual([r[0] for r in rows], ["1", "2", "3"])
        self.assertEqual([int(r[4]) for r in rows],
                         [admin_subscribers(gw)["sink"]["delivered"] for gw in self.nodes])

        # A stopped node: exit status 1, the node named, the others still summed.
        self.nodes[2].stop()
        p = self.cli("subscribers")
        self.assertEqual(p.returncode, 1)
        self.assertIn("node 3 (http://127.0.0.1:%d)" % self.nodes[2].port, p.stderr)
        row = [l.split() for l in p.stdout.splitlines() if l.startswith("sink ")][0]
        self.assertEqual(int(row[3]), sum(admin_subscribers(gw)["sink"]["delivered"]
                                          for gw in self.nodes[:2]))
        # An event is found on its node; the stopped one is reported.
        key = next(k for k in keys
                   if self.nodes[0].request("GET", "/admin/events/" + k).status == 200)
        p = self.cli("event", key)
        self.assertEqual(p.returncode, 1)
        self.assertIn("node 1 (http://127.0.0.1:%d):" % self.nodes[0].port, p.stdout)
        self.assertIn("node 3", p.stderr)


if __name__ == "__main__":
    unittest.main()
