"""hookgate-admin against a live gateway: tables, --json, filters, paging, changes, the URL
and token from flags or the environment, and its exit statuses."""
import json
import os
import shutil
import socket
import subprocess
import time
import unittest

from harness import FAST_RETRY, Gateway, binary, envelope, free_port
from sinks import StatusSink

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


if __name__ == "__main__":
    unittest.main()
