"""The web console (/admin/ui/): its files and headers over HTTP, then the console itself in
Debian's chromium (tests/browser/console.test.js, driven by playwright-core) against a live
gateway with real sinks and real dead letters."""
import datetime
import json
import os
import shutil
import subprocess
import sys
import time
import unittest

from harness import Gateway, GatewayCase, binary, envelope, subscriber, wait_counter
from sinks import Sink, StatusSink, always

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BROWSER_DIR = os.path.join(ROOT, "tests", "browser")
UI_DIR = os.path.join(ROOT, "gateway", "ui")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")

HOSTILE = {
    "note": "<img src=x onerror=\"window.__xss=1;console.log('XSS-RAN')\">",
    "script": "<script>window.__xss=2;console.log('XSS-RAN')</script>",
    "attr": "\"><svg onload=window.__xss=3>",
}


def node():
    return shutil.which("node") or shutil.which("nodejs")


def ensure_browser_deps():
    """node, chromium and tests/browser's npm packages (installed when missing)."""
    if not node():
        raise AssertionError("node is not installed (the test dependencies install it)")
    if not os.access(CHROMIUM, os.X_OK):
        raise AssertionError("%s is missing: apt-get install chromium" % CHROMIUM)
    if os.path.isdir(os.path.join(BROWSER_DIR, "node_modules", "playwright-core")):
        return
    npm = shutil.which("npm")
    if not npm:
        raise AssertionError("npm is not installed")
    subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=BROWSER_DIR,
                   check=True, timeout=300)


def run_browser(scenario, params):
    """Runs one scenario of console.test.js; returns its JSON result or fails with its output."""
    p = subprocess.run([node(), os.path.join(BROWSER_DIR, "console.test.js"), scenario,
                        json.dumps(params)], cwd=BROWSER_DIR, capture_output=True, text=True,
                       timeout=90, env=dict(os.environ, CHROMIUM=CHROMIUM))
    if p.returncode != 0:
        raise AssertionError("browser scenario %s failed:\n%s%s" % (scenario, p.stdout, p.stderr))
    return json.loads(p.stdout.strip().splitlines()[-1])


def utc_now_ms():
    now = datetime.datetime.now(datetime.timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (now.microsecond // 1000)


class FilesTest(GatewayCase):
    """What the console's URLs answer, without a browser."""

    def test_files_types_and_security_headers(self):
        gw = self.gateway()
        for name, ctype in (("", "text/html; charset=utf-8"), ("index.html", "text/html; charset=utf-8"),
                            ("console.js", "text/javascript; charset=utf-8"),
                            ("console.css", "text/css; charset=utf-8"),
                            ("favicon.svg", "image/svg+xml")):
            r = gw.request("GET", "/admin/ui/" + name)
            self.assertEqual(r.status, 200, name)
            self.assertEqual(r.headers["content-type"], ctype)
            with open(os.path.join(UI_DIR, name or "index.html"), "rb") as f:
                self.assertEqual(r.body, f.read(), "the embedded copy of " + (name or "index.html"))
            csp = r.headers["content-security-policy"]
            self.assertIn("default-src 'none'", csp)
            self.assertIn("script-src 'self'", csp)
            self.assertNotIn("unsafe-inline", csp)
            self.assertEqual(r.headers["x-content-type-options"], "nosniff")
            self.assertEqual(r.headers["cache-control"], "no-cache")
            self.assertRegex(r.headers["etag"], r'^"[0-9a-f]{16}"$')
            # revalidation: the same ETag is a 304 without a body
            again = gw.request("GET", "/admin/ui/" + name, headers={"If-None-Match": r.headers["etag"]})
            self.assertEqual(again.status, 304)
            self.assertEqual(again.body, b"")
        head = gw.request("HEAD", "/admin/ui/console.js")
        self.assertEqual(head.status, 200)
        self.assertEqual(head.body, b"")

    def test_redirect_unknown_files_and_methods(self):
        gw = self.gateway()
        r = gw.request("GET", "/admin/ui")
        self.assertEqual(r.status, 301)
        self.assertEqual(r.headers["location"], "ui/")
        self.assert_error(gw.request("GET", "/admin/ui/nothing.js"), 404, "not_found")
        self.assert_error(gw.request("GET", "/admin/ui/../config.json"), 404)
        r = gw.request("POST", "/admin/ui/", body=b"{}")
        self.assert_error(r, 405, "method_not_allowed")
        self.assertEqual(r.headers["allow"], "GET, HEAD")
        # the admin API next door is unchanged
        self.assert_error(gw.request("GET", "/admin/uix"), 404, "not_found")
        self.assertEqual(gw.request("GET", "/admin/subscribers").status, 200)

    def test_with_admin_token_the_files_load_but_the_api_needs_it(self):
        gw = self.gateway(admin_token="tok-123")
        self.assertEqual(gw.request("GET", "/admin/ui/").status, 200)
        self.assert_error(gw.request("GET", "/admin/subscribers"), 401, "unauthorized")

    def test_without_token_only_loopback_clients_get_the_page(self):
        # A private network namespace where a second address on lo is a remote client
        # (netns_probe.py), as in test_admin.
        gw = Gateway([])
        self.addCleanup(gw.remove)
        gw.config["listen"] = "0.0.0.0:%d" % gw.port
        gw.write_config()
        reqs = [["loopback", "GET", "/admin/ui/", {}], ["other", "GET", "/admin/ui/", {}],
                ["other", "GET", "/admin/ui/console.js", {}]]
        out = subprocess.run(["unshare", "-n", sys.executable, os.path.join(HERE, "netns_probe.py"),
                              binary(), gw.config_path, str(gw.port), json.dumps(reqs)],
                             capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(json.loads(out.stdout), [[200, None], [403, "forbidden"], [403, "forbidden"]])

    def test_the_script_never_writes_markup(self):
        with open(os.path.join(UI_DIR, "console.js")) as f:
            script = f.read()
        for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                     "new Function", "setAttribute(\"on"):
            self.assertNotIn(sink, script)
        with open(os.path.join(UI_DIR, "index.html")) as f:
            page = f.read()
        self.assertNotRegex(page, r"<script>|<style|\son[a-z]+=|style=|https?://")


class BrowserTest(unittest.TestCase):
    """One gateway with four subscribers and a fixed set of dead letters; each test drives
    chromium through one scenario and touches only its own subscribers."""

    @classmethod
    def setUpClass(cls):
        ensure_browser_deps()
        cls.flaky = StatusSink(status=500, name="flaky").start()
        cls.gone = Sink(always(410), name="gone")
        cls.steady = Sink(name="steady")
        cls.hostile_sink = Sink(always(410), name="hostile")
        one_try = {"max_attempts": 1}
        subs = [
            {"name": "flaky", "url": cls.flaky.url, "events": ["order.created", "order.paid"],
             "retry": one_try},
            {"name": "gone", "url": cls.gone.url, "events": ["order.created"]},
            {"name": "steady", "url": cls.steady.url, "events": ["ping"]},
            {"name": "hostile", "url": cls.hostile_sink.url, "events": ["hostile.test"]},
        ]
        cls.gw = Gateway(subs).start()

        def post(e):
            r = cls.gw.post(e)
            assert r.status == 202, r

        cls.paid_1 = ["p1_%02d" % i for i in range(5)]
        cls.created = ["c_%02d" % i for i in range(3)]
        for i in cls.paid_1:
            post(envelope("order.paid", i, {"order": i}))
        for i in cls.created:
            post(envelope("order.created", i, {"order": i}))
        wait_counter(cls.gw, "flaky", "dead", 8)
        wait_counter(cls.gw, "gone", "dead", 3)
        # every letter so far is dead before this instant, every later one after it
        time.sleep(0.01)
        cls.boundary = utc_now_ms()
        time.sleep(0.01)
        cls.paid_2 = ["p2_%02d" % i for i in range(2)]
        for i in cls.paid_2:
            post(envelope("order.paid", i, {"order": i}))
        post(envelope("hostile.test", "hostile_1", HOSTILE))
        post(envelope("ping", "ping_1"))
        post(envelope("ping", "ping_2"))
        wait_counter(cls.gw, "flaky", "dead", 10)
        wait_counter(cls.gw, "hostile", "dead", 1)
        wait_counter(cls.gw, "steady", "delivered", 2)
        cls.url = "http://127.0.0.1:%d/admin/ui/" % cls.gw.port

    @classmethod
    def tearDownClass(cls):
        cls.gw.remove()
        for s in (cls.flaky, cls.gone, cls.steady, cls.hostile_sink):
            s.close()

    def test_dead_letters_filter_page_open_redrive_delete(self):
        self.flaky.status = 200  # the subscriber is back: a redrive now succeeds
        got = run_browser("dead-letters", {
            "url": self.url, "total": 14, "subscriber": "flaky", "type": "order.paid",
            "per_page": 3, "type_event_ids": self.paid_1 + self.paid_2,
            "since": self.boundary, "since_event_ids": self.paid_2,
            "bulk_delete_subscriber": "gone", "bulk_delete_count": 3,
            "bulk_redrive_type": "order.created"})
        # the letter redriven from its page reached the sink (after its one failed attempt)
        redriven, deleted = got["redriven"], got["deleted"]
        self.assertIn(redriven, self.paid_1 + self.paid_2)
        self.assertTrue(self.flaky.wait(lambda reqs: [r.status for r in reqs
                                                      if r.webhook_id == redriven] == [500, 200]))
        # the bulk redrive: every order.created letter of flaky was delivered
        self.assertEqual(sorted(got["bulk_redriven"]), self.created)
        self.assertTrue(self.flaky.wait(lambda reqs: set(self.created) <= {
            r.webhook_id for r in reqs if r.status == 200}))
        # the deleted letter is gone and was never sent again
        self.assertIn(deleted, self.paid_1 + self.paid_2)
        self.assertNotEqual(deleted, redriven)
        self.assertEqual([r.status for r in self.flaky.by_id(deleted)], [500])
        states = [d["state"] for d in self.gw.event(deleted).json()["deliveries"]]
        self.assertFalse({"pending", "in_flight", "delivered"} & set(states), states)
        # and the gateway's counters agree with what the page did
        self.assertEqual(subscriber(self.gw, "gone")["dead"], 0)
        wait_counter(self.gw, "flaky", "dead", 10 - 1 - 1 - 3)
        self.assertEqual(len(self.gone.snapshot()), 3)  # deleting never delivers

    def test_pause_and_resume(self):
        got = run_browser("pause-resume", {"url": self.url, "subscriber": "steady", "type": "ping",
                                           "delivered": 2})
        self.assertEqual(got["paused_event"], "while-paused")
        self.assertEqual([r.status for r in self.steady.by_id("while-paused")], [200])
        self.assertIs(subscriber(self.gw, "steady")["paused"], False)

    def test_hostile_payload_is_shown_as_text(self):
        literals = [json.dumps(v)[1:-1] for v in HOSTILE.values()]
        got = run_browser("hostile-payload", {"url": self.url, "event_id": "hostile_1",
                                              "subscriber": "hostile", "literals": literals})
        self.assertEqual(got["checked"], 2)

    def test_token_prompt(self):
        gw = Gateway([], admin_token="console-secret-1").start()
        self.addCleanup(gw.remove)
        got = run_browser("token", {"url": "http://127.0.0.1:%d/admin/ui/" % gw.port,
                                    "token": "console-secret-1"})
        self.assertTrue(got["asked"])


if __name__ == "__main__":
    unittest.main()
