"""Log lines: an RFC 3339 UTC timestamp and a level on every line, "log_format": "json" with
one object per line (also after a reload switches it), audit lines for redrive and delete
(one and bulk) with the client's address and the selection, and no secrets in the log."""
import json
import re
import signal
import unittest
import urllib.parse

from harness import FAST_RETRY, GatewayCase, envelope, list_dead_letters, wait_counter, wait_for
from sinks import StatusSink

TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
TEXT_LINE = re.compile(r"^(" + TS + r") (debug|info|warn|error) hookgate: (.*)$")
LEVELS = {"debug", "info", "warn", "error"}


def log_lines(gw):
    return gw.logs().splitlines()


def json_lines(case, gw):
    """Every line of gw's log parsed as a JSON object with ts, level and msg."""
    out = []
    for line in log_lines(gw):
        obj = json.loads(line)
        case.assertRegex(obj["ts"], "^" + TS + "$", line)
        case.assertIn(obj["level"], LEVELS, line)
        case.assertIsInstance(obj["msg"], str, line)
        out.append(obj)
    return out


class LogCase(GatewayCase):
    gateway_defaults = {"retry": FAST_RETRY}

    def dead_letters(self, gw, n):
        """Posts n events to a subscriber "dead" that always fails; waits until all are dead."""
        for i in range(n):
            self.assertEqual(gw.post(envelope("order.created" if i % 2 else "user.updated",
                                              "ev_%d" % i)).status, 202)
        wait_counter(gw, "dead", "dead", n)
        return list_dead_letters(gw)

    def failing_gateway(self, **config):
        sink = self.sink(StatusSink(status=500).start())
        return self.gateway([{"name": "dead", "url": sink.url, "events": ["*"]}], **config)


class TextFormatTest(LogCase):
    def test_every_line_has_timestamp_and_level(self):
        gw = self.failing_gateway()
        self.dead_letters(gw, 2)
        gw.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "config reloaded" in gw.logs()))
        self.assertEqual(gw.stop(), 0)
        lines = log_lines(gw)
        self.assertGreaterEqual(len(lines), 4, lines)
        for line in lines:
            self.assertRegex(line, TEXT_LINE, line)
        self.assertRegex(lines[0], r" info hookgate: listening on 127\.0\.0\.1:%d " % gw.port)
        self.assertTrue(any(re.search(r" info hookgate: config reloaded \(1 subscribers\)$", l)
                            for l in lines), lines)
        self.assertRegex(lines[-1], r" info hookgate: stopped$")

    def test_reload_switches_to_json(self):
        gw = self.gateway()
        gw.write_config(dict(gw.config, log_format="json"))
        gw.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: '"msg":"config reloaded' in gw.logs()), gw.logs())
        self.assertEqual(gw.stop(), 0)
        lines = log_lines(gw)
        self.assertRegex(lines[0], TEXT_LINE)
        after = [json.loads(l) for l in lines[1:]]
        self.assertEqual(after[0]["msg"], "config reloaded (0 subscribers)")
        self.assertEqual(after[-1]["msg"], "stopped")

    def test_invalid_log_format(self):
        gw = self.gateway()
        gw.write_config(dict(gw.config, log_format="xml"))
        gw.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: 'log_format: expected "text" or "json"' in gw.logs()))
        self.assertRegex(gw.logs(), r" error hookgate: config: log_format: expected ")


class JsonFormatTest(LogCase):
    def test_lines_parse_and_audit_fields(self):
        gw = self.failing_gateway(log_format="json")
        dead = self.dead_letters(gw, 3)
        r = gw.request("POST", "/admin/dead-letters/%s/retry" % dead[0]["id"])
        self.assertEqual(r.status, 202, r)
        self.assertEqual(gw.stop(), 0)
        objs = json_lines(self, gw)
        self.assertEqual(objs[0]["level"], "info")
        self.assertTrue(objs[0]["msg"].startswith("listening on "), objs[0])
        audits = [o for o in objs if o.get("audit")]
        self.assertEqual(len(audits), 1, objs)
        a = audits[0]
        self.assertEqual((a["client"], a["action"], a["level"]), ("127.0.0.1", "redrive", "info"))
        self.assertEqual(a["msg"], "id=%s requeued" % dead[0]["id"])
        # Ordinary lines carry no audit members.
        self.assertFalse(any(k in objs[0] for k in ("audit", "client", "action")), objs[0])


class AuditTest(LogCase):
    def audit_lines(self, gw):
        return [m.group(3) for m in map(TEXT_LINE.match, log_lines(gw))
                if m and m.group(3).startswith("audit ")]

    def test_redrive_and_delete_one_and_bulk(self):
        gw = self.failing_gateway()
        dead = self.dead_letters(gw, 6)
        first, second = dead[0]["id"], dead[1]["id"]
        self.assertEqual(gw.request("POST", "/admin/dead-letters/%s/retry" % first).status, 202)
        self.assertEqual(gw.request("DELETE", "/admin/dead-letters/%s" % second).status, 200)
        self.assertEqual(gw.request("DELETE", "/admin/dead-letters/999999").status, 404)
        wait_counter(gw, "dead", "dead", 5)  # the redriven one failed again
        q = urllib.parse.urlencode({"subscriber": "dead", "type": "order.created",
                                    "since": "2000-01-01T00:00:00Z"})
        r = gw.request("POST", "/admin/dead-letters/retry?" + q)
        self.assertEqual(r.status, 202, r)
        requeued = r.json()["requeued"]
        self.assertGreater(requeued, 0)
        wait_counter(gw, "dead", "dead", 5)
        r = gw.request("DELETE", "/admin/dead-letters?type=user.updated")
        self.assertEqual(r.status, 200, r)
        deleted = r.json()["deleted"]
        self.assertGreater(deleted, 0)

        lines = self.audit_lines(gw)
        self.assertEqual(lines, [
            "audit client=127.0.0.1 action=redrive id=%s requeued" % first,
            "audit client=127.0.0.1 action=delete id=%s deleted" % second,
            "audit client=127.0.0.1 action=delete id=999999 not found (no dead letter with "
            "this id)",
            "audit client=127.0.0.1 action=redrive subscriber=dead type=order.created "
            "since=2000-01-01T00:00:00.000Z until=- requeued=%d" % requeued,
            "audit client=127.0.0.1 action=purge subscriber=* type=user.updated since=- "
            "until=- deleted=%d" % deleted,
        ])

    def test_reads_and_refusals_are_not_audited(self):
        gw = self.failing_gateway(admin_token="admin-T0KEN-not-for-logs")
        self.dead_letters_with_token(gw)
        self.assertEqual(gw.request("DELETE", "/admin/dead-letters").status, 401)
        self.assertEqual(self.audit_lines(gw), [])

    def dead_letters_with_token(self, gw):
        self.assertEqual(gw.post(envelope("order.created", "ev_t")).status, 202)
        auth = {"Authorization": "Bearer admin-T0KEN-not-for-logs"}
        self.assertTrue(wait_for(lambda: gw.request("GET", "/admin/dead-letters",
                                                    headers=auth).json()["items"]))


class SecretsTest(LogCase):
    def test_tokens_and_signing_secrets_never_logged(self):
        secret = "whsec_" + "c2VjcmV0LXNpZ25pbmcta2V5LTEyMzQ1Njc4OTA="
        sink = self.sink(StatusSink(status=500).start())
        gw = self.gateway([{"name": "dead", "url": sink.url, "events": ["*"],
                            "secret": secret}],
                          admin_token="admin-T0KEN-xyz", ingest_token="ingest-T0KEN-xyz")
        hdr = {"Authorization": "Bearer ingest-T0KEN-xyz"}
        self.assertEqual(gw.post(envelope("a.b", "ev_s"), headers=hdr).status, 202)
        self.assertEqual(gw.post(envelope("a.b"), headers={"Authorization": "Bearer wrong"})
                         .status, 401)
        adm = {"Authorization": "Bearer admin-T0KEN-xyz"}
        self.assertTrue(wait_for(lambda: gw.request("GET", "/admin/dead-letters",
                                                    headers=adm).json()["items"]))
        self.assertEqual(gw.request("DELETE", "/admin/dead-letters", headers=adm).status, 200)
        gw.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "config reloaded" in gw.logs()))
        self.assertEqual(gw.stop(), 0)
        logs = gw.logs()
        self.assertIn("action=purge", logs)
        for s in ("T0KEN", "c2VjcmV0", "wrong"):
            self.assertNotIn(s, logs)


if __name__ == "__main__":
    unittest.main()
