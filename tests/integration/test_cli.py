"""hookgate-admin against a live gateway: tables, --json, filters, paging, changes, the URL
and token from flags or the environment, and its exit statuses."""
import collections
import json
import os
import shutil
import socket
import subprocess
import time
import unittest

from harness import FAST_RETRY, Gateway, binary, envelope, free_port
from sinks import Sink, StatusSink, always

TOKEN = "cli-admin-token"
AUTH = {"Authorization": "Bearer " + TOKEN}


def cli_path():
    return os.path.join(os.path.dirname(binary()), "hookgate-admin")


class CliCase(unittest.TestCase):
    def cli(self, *args, env=None, url=True, token=True):
        """Runs hookgate-admin; by default with --url and --token of self.gw."""
        base = {k: v for k, v in os.environ.items() if not k.startswith("HOOKGATE_")}
        base.update(env or {})
        argv = [cli_path()]
        if url:
            argv += ["--url", "http://127.0.0.1:%d" % self.gw.port]
        if token:
            argv += ["--token", TOKEN]
        return subprocess.run(argv + list(args), capture_output=True, text=True, timeout=60,
                              env=base)

    def ok(self, *args, **kw):
        p = self.cli(*args, **kw)
        self.assertEqual(p.returncode, 0, "%r: %s%s" % (args, p.stdout, p.stderr))
        return p.stdout

    def api(self, method, path):
        r = self.gw.request(method, path, headers=AUTH)
        self.assertLess(r.status, 300, r)
        return r.json()

    def rows(self, out):
        """The table's rows (header and the paging hint excluded), split on whitespace."""
        lines = [l for l in out.splitlines() if l.strip()]
        return [l.split() for l in lines[1:] if not l.startswith("(")]


class ReadCliTest(CliCase):
    @classmethod
    def setUpClass(cls):
        cls.sink = StatusSink(status=500).start()
        cls.gw = Gateway([{"name": "crm", "url": cls.sink.url, "events": ["*"]},
                          {"name": "ops", "url": cls.sink.url, "events": ["order.created"]}],
                         retry=FAST_RETRY, admin_token=TOKEN).start()
        cls.gw.post([envelope("order.created" if i % 2 else "user.updated", "c_%d" % i)
                     for i in range(8)], headers=AUTH)

        def sub(name):
            r = cls.gw.request("GET", "/admin/subscribers", headers=AUTH).json()
            return next(s for s in r["subscribers"] if s["name"] == name)
        deadline = time.time() + 20
        while time.time() < deadline and (sub("crm")["dead"], sub("ops")["dead"]) != (8, 4):
            time.sleep(0.05)

    @classmethod
    def tearDownClass(cls):
        cls.gw.close()
        shutil.rmtree(cls.gw.dir, ignore_errors=True)
        cls.sink.stop()

    def test_list_table(self):
        out = self.ok("dlq", "list")
        header = out.splitlines()[0].split()
        self.assertEqual(header[:3], ["ID", "SUBSCRIBER", "EVENT"])
        self.assertIn("ERROR", header)
        api = self.api("GET", "/admin/dead-letters")["items"]
        rows = self.rows(out)
        self.assertEqual(len(api), 12)
        self.assertEqual([r[0] for r in rows], [d["id"] for d in api])
        self.assertEqual([r[1] for r in rows], [d["subscriber"] for d in api])
        for r in rows:
            self.assertEqual(r[-2:], ["HTTP", "500"])  # last error

    def test_list_json_is_the_api_answer(self):
        got = json.loads(self.ok("dlq", "list", "--json"))
        self.assertEqual(got, self.api("GET", "/admin/dead-letters"))

    def test_list_filters_and_paging(self):
        out = self.ok("dlq", "list", "--subscriber", "ops", "--limit", "3")
        rows = self.rows(out)
        self.assertEqual(len(rows), 3)
        self.assertTrue(all(r[1] == "ops" for r in rows))
        more = [l for l in out.splitlines() if "--cursor" in l]
        self.assertEqual(len(more), 1, out)
        cursor = more[0].split("--cursor ")[1].rstrip(")")
        out2 = self.ok("dlq", "list", "--subscriber", "ops", "--limit", "3", "--cursor", cursor)
        rows2 = self.rows(out2)
        self.assertEqual(len(rows2), 1)
        self.assertNotIn("--cursor", out2)
        want = [d["id"] for d in self.api("GET", "/admin/dead-letters?subscriber=ops")["items"]]
        self.assertEqual([r[0] for r in rows + rows2], want)
        out = self.ok("dlq", "list", "--type", "user.updated", "--json")
        self.assertEqual(len(json.loads(out)["items"]), 4)

    def test_times_rfc3339_and_relative(self):
        self.assertEqual(len(self.rows(self.ok("dlq", "list", "--since", "1h"))), 12)
        self.assertEqual(self.ok("dlq", "list", "--until", "1h").strip(), "no dead letters")
        first = self.api("GET", "/admin/dead-letters")["items"][0]["dead_at"]
        got = json.loads(self.ok("dlq", "list", "--until", first, "--json"))["items"]
        self.assertGreaterEqual(len(got), 1)
        self.assertTrue(all(d["dead_at"] == first for d in got))
        got = json.loads(self.ok("dlq", "list", "--since", "2026-01-01T00:00:00+02:00",
                                 "--json"))["items"]
        self.assertEqual(len(got), 12)  # the + survives the query string

    def test_show(self):
        dl = self.api("GET", "/admin/dead-letters?subscriber=ops")["items"][0]
        out = self.ok("dlq", "show", dl["id"])
        self.assertRegex(out, r"(?m)^id:\s+%s$" % dl["id"])
        self.assertRegex(out, r"(?m)^subscriber:\s+ops$")
        self.assertRegex(out, r"(?m)^attempts:\s+2$")
        self.assertRegex(out, r"(?m)^last status:\s+500$")
        self.assertIn("history:", out)
        self.assertEqual(out.count("HTTP 500"), 3)  # last error + two attempts
        event = json.loads(out.split("event:\n", 1)[1])
        self.assertEqual(event["id"], dl["event_id"])
        raw = json.loads(self.ok("dlq", "show", dl["id"], "--json"))
        self.assertEqual(raw, self.api("GET", "/admin/dead-letters/" + dl["id"]))

    def test_subscribers(self):
        out = self.ok("subscribers")
        self.assertTrue(out.startswith("NAME"))
        rows = {r[0]: r for r in self.rows(out)}
        self.assertEqual(set(rows), {"crm", "ops"})
        # NAME PENDING IN-FLIGHT DELIVERED FAILED DEAD ...
        self.assertEqual(rows["crm"][1:6], ["0", "0", "0", "16", "8"])
        self.assertEqual(rows["ops"][1:6], ["0", "0", "0", "8", "4"])
        self.assertIn(self.sink.url, out)
        self.assertEqual(json.loads(self.ok("subscribers", "--json")),
                         self.api("GET", "/admin/subscribers"))

    def test_event(self):
        out = self.ok("event", "c_1")
        self.assertEqual(json.loads(out.split("event:\n", 1)[1].split("\n\n")[0])["id"], "c_1")
        rows = {r[0]: r for r in self.rows(out.split("\n\n", 1)[1])}
        self.assertEqual(set(rows), {"crm", "ops"})
        self.assertEqual(rows["crm"][1:3], ["dead", "2"])
        self.assertEqual(json.loads(self.ok("event", "c_1", "--json")),
                         self.api("GET", "/admin/events/c_1"))

    def test_url_and_token_from_the_environment(self):
        env = {"HOOKGATE_URL": "http://127.0.0.1:%d/" % self.gw.port,
               "HOOKGATE_ADMIN_TOKEN": TOKEN}
        out = self.ok("subscribers", "--json", env=env, url=False, token=False)
        self.assertEqual(json.loads(out), self.api("GET", "/admin/subscribers"))
        # a flag wins over the environment
        env["HOOKGATE_ADMIN_TOKEN"] = "wrong"
        self.ok("subscribers", env=env, url=False)

    def test_server_errors_exit_1_with_the_detail(self):
        p = self.cli("subscribers", token=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("401 unauthorized: a valid Authorization: Bearer token is required",
                      p.stderr)
        self.assertEqual(p.stdout, "")
        p = self.cli("dlq", "show", "987654")
        self.assertEqual(p.returncode, 1)
        self.assertIn("404 not_found: no dead letter with this id", p.stderr)
        p = self.cli("event", "no_such_event")
        self.assertEqual(p.returncode, 1)
        self.assertIn("no event with this id", p.stderr)
        p = self.cli("dlq", "list", "--since", "last tuesday")
        self.assertEqual(p.returncode, 1)
        self.assertIn("400 invalid_parameter: since: expected an RFC 3339", p.stderr)
        p = self.cli("dlq", "list", "--limit", "5000")
        self.assertEqual(p.returncode, 1)
        self.assertIn("limit", p.stderr)

    def test_unreachable_gateway_exits_1(self):
        p = self.cli("subscribers", env={"HOOKGATE_URL": "http://127.0.0.1:%d" % free_port()},
                     url=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn("/admin/subscribers", p.stderr)

    def test_default_url(self):
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", 8080))
            except OSError:
                self.skipTest("port 8080 is in use here")
            p = self.cli("subscribers", url=False)  # bound but not listening: refused
        self.assertEqual(p.returncode, 1)
        self.assertIn("http://127.0.0.1:8080/admin/subscribers", p.stderr)

    def test_usage_errors_exit_2(self):
        for args in (["dlq"], ["dlq", "purge"], ["dlq", "retry"], ["dlq", "show"],
                     ["frobnicate"], ["dlq", "list", "--bogus"], ["dlq", "show", "1", "2"],
                     ["subscribers", "--subscriber", "x"], ["dlq", "retry", "1", "--type", "a"]):
            p = self.cli(*args)
            self.assertEqual(p.returncode, 2, args)
            self.assertNotEqual(p.stderr, "", args)
        self.assertEqual(len(self.api("GET", "/admin/dead-letters")["items"]), 12)  # untouched
        p = self.cli("--help", url=False, token=False)
        self.assertEqual(p.returncode, 0)
        self.assertIn("dlq retry --all", p.stdout)


class ChangeCliTest(CliCase):
    def setUp(self):
        self.sink = StatusSink(status=500).start()
        self.addCleanup(self.sink.stop)
        self.gw = Gateway([{"name": "crm", "url": self.sink.url, "events": ["*"]},
                           {"name": "ops", "url": self.sink.url, "events": ["order.created"]}],
                          retry=FAST_RETRY, admin_token=TOKEN).start()
        self.addCleanup(shutil.rmtree, self.gw.dir, True)
        self.addCleanup(self.gw.close)
        self.gw.post([envelope("order.created" if i % 2 else "user.updated", "c_%d" % i)
                      for i in range(8)], headers=AUTH)
        self.wait("crm", "dead", 8)
        self.wait("ops", "dead", 4)

    def wait(self, name, key, value):
        deadline = time.time() + 20
        while time.time() < deadline:
            s = self.sub(name)
            if s[key] == value:
                return s
            time.sleep(0.05)
        self.fail("%s.%s never reached %r: %r" % (name, key, value, self.sub(name)))

    def sub(self, name):
        return next(s for s in self.api("GET", "/admin/subscribers")["subscribers"]
                    if s["name"] == name)

    def dead(self, query=""):
        return self.api("GET", "/admin/dead-letters?limit=1000" + query)["items"]

    def test_retry_one_and_bulk(self):
        self.sink.status = 200
        dl = self.dead("&subscriber=crm")[0]
        self.assertEqual(self.ok("dlq", "retry", dl["id"]), "requeued 1 dead letter\n")
        self.wait("crm", "delivered", 1)
        p = self.cli("dlq", "retry", dl["id"])
        self.assertEqual(p.returncode, 1)
        self.assertIn("no dead letter with this id", p.stderr)
        self.assertEqual(self.ok("dlq", "retry", "--all", "--subscriber", "ops"),
                         "requeued 4 dead letters\n")
        self.wait("ops", "delivered", 4)
        self.assertEqual(self.sub("crm")["dead"], 7)
        out = self.ok("dlq", "retry", "--all", "--json")
        self.assertEqual(json.loads(out), {"requeued": 7})
        s = self.wait("crm", "delivered", 8)
        self.assertEqual((s["dead"], s["pending"]), (0, 0))

    def test_delete_and_purge(self):
        dl = self.dead()[0]
        self.assertEqual(self.ok("dlq", "delete", dl["id"]), "deleted 1 dead letter\n")
        self.assertEqual(len(self.dead()), 11)
        p = self.cli("dlq", "purge")
        self.assertEqual(p.returncode, 2)  # the whole queue only with --all
        self.assertEqual(len(self.dead()), 11)
        n = len(self.dead("&type=order.created"))
        self.assertEqual(self.ok("dlq", "purge", "--type", "order.created"),
                         "deleted %d dead letters\n" % n)
        self.assertEqual({d["event_type"] for d in self.dead()}, {"user.updated"})
        self.assertEqual(self.ok("dlq", "purge", "--all"), "deleted %d dead letters\n" %
                         (11 - n))
        self.assertEqual(self.dead(), [])
        self.assertEqual(self.ok("dlq", "list").strip(), "no dead letters")

    def test_pause_resume_replay(self):
        self.assertEqual(self.ok("subscribers", "pause", "crm"), "crm paused\n")
        self.assertTrue(self.sub("crm")["paused"])
        rows = {r[0]: r for r in self.rows(self.ok("subscribers"))}
        self.assertEqual(rows["crm"][6:8], ["yes", "closed"])  # PAUSED CIRCUIT
        self.assertEqual(rows["ops"][6], "no")
        self.assertEqual(json.loads(self.ok("subscribers", "resume", "crm", "--json")),
                         {"name": "crm", "paused": False})
        self.assertFalse(self.sub("crm")["paused"])
        self.sink.status = 200
        self.assertEqual(self.ok("subscribers", "replay", "ops"), "requeued 4 deliveries\n")
        self.wait("ops", "delivered", 4)
        self.assertEqual(self.ok("subscribers", "replay", "crm", "--type", "user.updated",
                                 "--since", "1h"), "requeued 4 deliveries\n")
        self.wait("crm", "delivered", 4)
        self.assertEqual(self.ok("subscribers", "replay", "crm", "--until", "1h"),
                         "requeued 0 deliveries\n")
        p = self.cli("subscribers", "pause", "nobody")
        self.assertEqual(p.returncode, 1)
        self.assertIn("404", p.stderr)


def start_nodes(n=3):
    """n gateways sharing one config: crm gets every event (answered 200), doomed gets the
    "doomed" events and answers 410, so each of those is dead-lettered at once."""
    ok = StatusSink(status=200).start()
    gone = Sink(always(410), name="gone")
    subs = [{"name": "crm", "url": ok.url, "events": ["*"]},
            {"name": "doomed", "url": gone.url, "events": ["doomed"]}]
    nodes = [Gateway(subs, retry=FAST_RETRY, admin_token=TOKEN).start() for _ in range(n)]
    return nodes, [ok, gone]


def stop_nodes(nodes, sinks):
    for gw in nodes:
        gw.remove()
    for s in sinks:
        s.close()


class ClusterCliCase(CliCase):
    def cli(self, *args, urls=None, **kw):
        """hookgate-admin with --url listing every node (or urls)."""
        urls = urls or ["http://127.0.0.1:%d" % gw.port for gw in self.nodes]
        return super().cli("--url", ",".join(urls), *args, url=False, **kw)

    def node_api(self, i, method, path):
        r = self.nodes[i].request(method, path, headers=AUTH)
        self.assertLess(r.status, 300, r)
        return r.json()

    def all_dead(self):
        """Every node's dead letters as (node 1-based, item), oldest first per node."""
        return [(i + 1, d) for i in range(len(self.nodes))
                for d in self.node_api(i, "GET", "/admin/dead-letters?limit=1000")["items"]]

    @staticmethod
    def post_spread(nodes, plan):
        """Posts plan [(node index, event id, type)] one by one, in order, so that the nodes'
        dead letters interleave in time."""
        for i, eid, type_ in plan:
            r = nodes[i].post(envelope(type_, eid), headers=AUTH)
            assert r.status == 202, r
            time.sleep(0.002)

    def wait_dead(self, want):
        deadline = time.time() + 20
        while time.time() < deadline and len(self.all_dead()) != want:
            time.sleep(0.05)
        self.assertEqual(len(self.all_dead()), want)


# node i gets doomed events d<i>_<k> interleaved with the others' and crm-only events.
PLAN = ([(k % 3, "d%d_%d" % (k % 3 + 1, k), "doomed") for k in range(17)] +
        [(k % 3, "o%d_%d" % (k % 3 + 1, k), "order.created") for k in range(9)])


class ClusterReadCliTest(ClusterCliCase):
    @classmethod
    def setUpClass(cls):
        cls.nodes, cls.sinks = start_nodes()
        cls.post_spread(cls.nodes, PLAN)

    @classmethod
    def tearDownClass(cls):
        stop_nodes(cls.nodes, cls.sinks)

    def setUp(self):
        self.wait_dead(17)
        deadline = time.time() + 20
        while time.time() < deadline and sum(
                self.sub(i)["crm"]["delivered"] for i in range(3)) != 26:
            time.sleep(0.05)

    def sub(self, i):
        return {s["name"]: s for s in self.node_api(i, "GET", "/admin/subscribers")["subscribers"]}

    def test_subscribers_are_summed(self):
        out = self.ok("subscribers")
        rows = {r[0]: r for r in self.rows(out)}
        self.assertEqual(set(rows), {"crm", "doomed"})
        per = [self.sub(i) for i in range(3)]
        for name in ("crm", "doomed"):
            want = [str(sum(p[name][k] for p in per)) for k in
                    ("pending", "in_flight", "delivered", "failed_attempts", "dead")]
            self.assertEqual(rows[name][1:6], want)
        self.assertEqual(rows["crm"][3], "26")
        self.assertEqual(rows["doomed"][5], "17")
        # the doomed subscriber's last error names the node it comes from
        self.assertRegex(out, r"doomed .* [123]: HTTP 410")

    def test_subscribers_per_node(self):
        out = self.ok("subscribers", "--per-node")
        self.assertTrue(out.startswith("NODE"))
        rows = self.rows(out)
        self.assertEqual([(r[0], r[1]) for r in rows],
                         [("1", "crm"), ("2", "crm"), ("3", "crm"),
                          ("1", "doomed"), ("2", "doomed"), ("3", "doomed")])
        for r in rows:
            self.assertEqual(int(r[6]), self.sub(int(r[0]) - 1)[r[1]]["dead"])
        got = json.loads(self.ok("subscribers", "--json"))
        self.assertEqual([n["node"] for n in got["nodes"]], [1, 2, 3])
        self.assertEqual([n["answer"] for n in got["nodes"]],
                         [self.node_api(i, "GET", "/admin/subscribers") for i in range(3)])

    def test_dlq_list_merges_the_nodes_oldest_first(self):
        want = sorted(self.all_dead(), key=lambda nd: nd[1]["dead_at"])
        # one page
        rows = self.rows(self.ok("dlq", "list"))
        self.assertEqual(sorted(r[0] for r in rows),
                         sorted("%d:%s" % (n, d["id"]) for n, d in want))
        self.assertEqual([r[6] for r in rows], [d["dead_at"] for _, d in want])
        for r in rows:  # the event ids say which node holds them
            self.assertEqual(r[3][1], r[0][0])
        # pages of 4 through the composite cursor: each once, in dead_at order
        seen, cursor, pages = [], None, 0
        while True:
            args = ["dlq", "list", "--limit", "4"] + (["--cursor", cursor] if cursor else [])
            out = self.ok(*args)
            seen += self.rows(out)
            pages += 1
            more = [l for l in out.splitlines() if "--cursor" in l]
            if not more:
                break
            cursor = more[0].split("--cursor ")[1].rstrip(")")
            self.assertLess(pages, 20)
        self.assertEqual([r[0] for r in seen], [r[0] for r in rows])
        # the same with --json: the API's shape, ids qualified, a "node" member
        items, cursor = [], None
        while True:
            args = ["dlq", "list", "--limit", "5", "--json"] + (["--cursor", cursor]
                                                                  if cursor else [])
            page = json.loads(self.ok(*args))
            items += page["items"]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        self.assertEqual([i["id"] for i in items], [r[0] for r in rows])
        self.assertEqual(items[0]["node"], int(items[0]["id"].split(":")[0]))
        self.assertEqual(set(items[0]), set(want[0][1]) | {"node"})
        # filters go to every node
        rows = self.rows(self.ok("dlq", "list", "--type", "order.created"))
        self.assertEqual(rows, [])

    def test_show_takes_a_qualified_id(self):
        n, d = self.all_dead()[-1]
        out = self.ok("dlq", "show", "%d:%s" % (n, d["id"]))
        self.assertRegex(out, r"(?m)^node:\s+%d \(http://127.0.0.1:%d\)$" %
                         (n, self.nodes[n - 1].port))
        self.assertRegex(out, r"(?m)^id:\s+%d:%s$" % (n, d["id"]))
        self.assertRegex(out, r"(?m)^event id:\s+%s$" % d["event_id"])
        for bad in (d["id"], "4:1", "0:1", "x:1", "2:"):
            p = self.cli("dlq", "show", bad)
            self.assertEqual(p.returncode, 2, bad)
            self.assertIn("dead letter", p.stderr)

    def test_event_asks_every_node(self):
        out = self.ok("event", "o2_4")
        self.assertIn("node 2 (http://127.0.0.1:%d):" % self.nodes[1].port, out)
        self.assertNotIn("node 1", out)
        self.assertEqual(self.rows(out.split("\n\n", 1)[1])[0][:2], ["crm", "delivered"])
        p = self.cli("event", "no_such_event")
        self.assertEqual(p.returncode, 1)
        self.assertIn("no event no_such_event on any node", p.stderr)
        got = json.loads(self.ok("event", "o2_4", "--json"))
        self.assertEqual([n["status"] for n in got["nodes"]], [404, 200, 404])

    def test_a_node_that_does_not_answer(self):
        urls = ["http://127.0.0.1:%d" % gw.port for gw in self.nodes]
        dead = "http://127.0.0.1:%d" % free_port()
        urls.insert(1, dead)
        p = self.cli("subscribers", urls=urls)
        self.assertEqual(p.returncode, 1)
        self.assertIn("node 2 (%s): GET %s/admin/subscribers:" % (dead, dead), p.stderr)
        self.assertEqual(self.rows(p.stdout)[0][3], "26")  # the others, still summed
        p = self.cli("dlq", "list", urls=urls)
        self.assertEqual(p.returncode, 1)
        self.assertIn("node 2 (%s)" % dead, p.stderr)
        self.assertEqual(len(self.rows(p.stdout)), 17)
        self.assertTrue(all(not r[0].startswith("2:") for r in self.rows(p.stdout)))
        p = self.cli("event", "o2_4", urls=urls)
        self.assertEqual(p.returncode, 1)
        self.assertIn("node 3 (", p.stdout)  # o2_4 is on the second real node, now 3rd
        self.assertIn("node 2 (%s)" % dead, p.stderr)
        p = self.cli("dlq", "retry", "--all", "--type", "nothing", urls=urls)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "requeued 0 dead letters (node 1: 0, node 3: 0, node 4: 0)\n")

    def test_nodes_whose_configs_differ_are_pointed_out(self):
        odd = Gateway([{"name": "crm", "url": "http://127.0.0.1:9/elsewhere", "events": ["*"]}],
                      admin_token=TOKEN).start()
        self.addCleanup(odd.remove)
        urls = ["http://127.0.0.1:%d" % gw.port for gw in self.nodes + [odd]]
        out = self.ok("subscribers", urls=urls)
        self.assertIn("(doomed is configured on 3 of the 4 nodes that answered)", out)
        self.assertIn("(crm has a different URL on some nodes; --per-node shows each)", out)
        rows = self.rows(self.ok("subscribers", "--per-node", urls=urls))
        self.assertIn(["4", "crm", "0", "0", "0", "0", "0", "no", "closed", "-",
                       "http://127.0.0.1:9/elsewhere", "-"], rows)

    def test_a_node_that_hangs_is_given_up_after_the_timeout(self):
        with socket.socket() as silent:  # accepts connections (backlog), never answers
            silent.bind(("127.0.0.1", 0))
            silent.listen(8)
            hung = "http://127.0.0.1:%d" % silent.getsockname()[1]
            urls = ["http://127.0.0.1:%d" % gw.port for gw in self.nodes] + [hung]
            started = time.time()
            p = self.cli("--timeout", "1", "subscribers", urls=urls)
            self.assertLess(time.time() - started, 10)
        self.assertEqual(p.returncode, 1)
        self.assertIn("node 4 (%s)" % hung, p.stderr)
        self.assertIn("timed out", p.stderr)
        self.assertEqual(self.rows(p.stdout)[0][3], "26")
        self.assertEqual(self.cli("--timeout", "0", "subscribers").returncode, 2)

    def test_usage(self):
        for args in (["subscribers", "--per-node", "pause", "crm"], ["subscribers", "pause"],
                     ["subscribers", "frobnicate", "crm"], ["dlq", "list", "--limit", "0"],
                     ["dlq", "list", "--cursor", "a~b"], ["event", "x", "--per-node"],
                     ["subscribers", "replay", "crm", "--subscriber", "crm"]):
            p = self.cli(*args)
            self.assertEqual(p.returncode, 2, args)
        p = self.cli("subscribers", urls=["http://127.0.0.1:%d" % self.nodes[0].port, ""])
        self.assertEqual(p.returncode, 2)
        p = CliCase.cli(self, "--version", url=False, token=False)
        self.assertEqual((p.returncode, p.stdout.split()[0]), (0, "hookgate-admin"))
        self.assertRegex(p.stdout, r"^hookgate-admin \d+\.\d+\.\d+\n$")
        help_text = CliCase.cli(self, "--help", url=False, token=False).stdout
        for s in ("--per-node", "subscribers pause NAME", "subscribers replay NAME", "2:25"):
            self.assertIn(s, help_text)


class ClusterChangeCliTest(ClusterCliCase):
    def setUp(self):
        self.nodes, sinks = start_nodes()
        self.addCleanup(stop_nodes, self.nodes, sinks)
        self.post_spread(self.nodes, PLAN)
        self.wait_dead(17)

    def test_retry_delete_and_purge(self):
        n, d = [nd for nd in self.all_dead() if nd[0] == 3][0]
        self.assertEqual(self.ok("dlq", "retry", "3:" + d["id"]),
                         "requeued 1 dead letter (node 3: 1)\n")
        self.wait_dead(17)  # 410 again: a new dead letter
        n, d = [nd for nd in self.all_dead() if nd[0] == 2][0]
        self.assertEqual(self.ok("dlq", "delete", "2:" + d["id"]),
                         "deleted 1 dead letter (node 2: 1)\n")
        self.assertEqual(len(self.all_dead()), 16)
        per = collections.Counter(n for n, _ in self.all_dead())
        self.assertEqual(self.ok("dlq", "retry", "--all", "--subscriber", "doomed"),
                         "requeued 16 dead letters (node 1: %d, node 2: %d, node 3: %d)\n" %
                         (per[1], per[2], per[3]))
        self.wait_dead(16)
        out = json.loads(self.ok("dlq", "purge", "--all", "--json"))
        self.assertEqual([x["answer"]["deleted"] for x in out["nodes"]],
                         [per[1], per[2], per[3]])
        self.assertEqual(self.all_dead(), [])
        self.assertEqual(self.ok("dlq", "list").strip(), "no dead letters")

    def subs(self, i):
        return {s["name"]: s for s in self.node_api(i, "GET", "/admin/subscribers")["subscribers"]}

    def test_pause_resume_and_replay_on_every_node(self):
        self.assertEqual(self.ok("subscribers", "pause", "crm"), "crm paused on 3 of 3 nodes\n")
        self.assertEqual([self.subs(i)["crm"]["paused"] for i in range(3)], [True] * 3)
        self.node_api(1, "POST", "/admin/subscribers/crm/resume")
        rows = {r[0]: r for r in self.rows(self.ok("subscribers"))}
        self.assertEqual(rows["crm"][6:8], ["2/3", "closed"])
        rows = self.rows(self.ok("subscribers", "--per-node"))
        self.assertEqual([r[7] for r in rows if r[1] == "crm"], ["yes", "no", "yes"])
        self.assertEqual(self.ok("subscribers", "resume", "crm"), "crm resumed on 3 of 3 nodes\n")
        self.assertEqual([self.subs(i)["crm"]["paused"] for i in range(3)], [False] * 3)
        # each node replays its own stored events: 3 order.created events on each
        self.assertEqual(self.ok("subscribers", "replay", "crm", "--type", "order.created"),
                         "requeued 9 deliveries (node 1: 3, node 2: 3, node 3: 3)\n")
        deadline = time.time() + 20
        while time.time() < deadline and sum(self.subs(i)["crm"]["delivered"]
                                             for i in range(3)) != 26 + 9:
            time.sleep(0.05)
        self.assertEqual(sum(self.subs(i)["crm"]["delivered"] for i in range(3)), 35)
        # a node that does not answer: reported, the others still paused, exit status 1
        urls = ["http://127.0.0.1:%d" % gw.port for gw in self.nodes] + [
            "http://127.0.0.1:%d" % free_port()]
        p = self.cli("subscribers", "pause", "crm", urls=urls)
        self.assertEqual(p.returncode, 1)
        self.assertEqual(p.stdout, "crm paused on 3 of 4 nodes\n")
        self.assertIn("node 4 (", p.stderr)


if __name__ == "__main__":
    unittest.main()
