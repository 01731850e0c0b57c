"""TLS on the listener: a self-signed certificate made with the openssl CLI, events posted
over HTTPS with curl --cacert and delivered, plain HTTP refused, and config errors that name
the file (at --check and at start)."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

from harness import Gateway, binary, envelope, wait_for
from sinks import StatusSink


def make_cert(directory, name):
    """A self-signed EC certificate for 127.0.0.1 and its key; returns (cert, key) paths."""
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec",
                    "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                    "-subj", "/CN=hookgate test", "-addext",
                    "subjectAltName=IP:127.0.0.1,DNS:localhost",
                    "-keyout", key, "-out", cert],
                   check=True, capture_output=True, timeout=30)
    return cert, key


def curl(*args):
    return subprocess.run(["curl", "-sS", "--max-time", "10", *args], capture_output=True,
                          timeout=30)


class TlsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="hookgate-tls-")
        cls.cert, cls.key = make_cert(cls.dir, "server")
        cls.other_cert, cls.other_key = make_cert(cls.dir, "other")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def start_tls(self, subscribers=()):
        gw = Gateway(subscribers, tls={"cert_file": self.cert, "key_file": self.key})
        self.addCleanup(gw.remove)
        gw.start(wait=False)
        base = "https://127.0.0.1:%d" % gw.port
        deadline = time.time() + 15
        while time.time() < deadline:
            self.assertIsNone(gw.proc.poll(), gw.logs())
            if curl("--cacert", self.cert, "-o", "/dev/null", base + "/healthz").returncode == 0:
                return gw, base
            time.sleep(0.1)
        self.fail("no HTTPS answer:\n" + gw.logs())

    def test_post_over_https_is_delivered(self):
        sink = StatusSink(status=200).start()
        self.addCleanup(sink.close)
        gw, base = self.start_tls([{"name": "s", "url": sink.url, "events": ["*"]}])
        body = json.dumps(envelope("order.created", "ev_tls_1", {"n": 1}))
        r = curl("--cacert", self.cert, "-i", "-X", "POST", "-H", "Content-Type: application/json",
                 "--data-binary", body, base + "/events")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(r.stdout.startswith(b"HTTP/1.1 202 Accepted\r\n"), r.stdout)
        self.assertTrue(sink.wait_ids(["ev_tls_1"]), sink.ids())
        # The admin API is served over the same TLS listener.
        r = curl("--cacert", self.cert, base + "/admin/events/ev_tls_1")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout)["event"]["id"], "ev_tls_1")
        self.assertIn("listening on 127.0.0.1:%d (https)" % gw.port, gw.logs())
        self.assertEqual(gw.stop(), 0, gw.logs())

    def test_plain_http_and_unknown_certificate_fail(self):
        gw, base = self.start_tls()
        plain = curl("-o", "/dev/null", "http://127.0.0.1:%d/healthz" % gw.port)
        self.assertNotEqual(plain.returncode, 0, "plain HTTP was answered")
        # A client that trusts another certificate refuses this one (curl: 60).
        wrong = curl("--cacert", self.other_cert, "-o", "/dev/null", base + "/healthz")
        self.assertEqual(wrong.returncode, 60, wrong.stderr)
        # The gateway is unharmed by either.
        ok = curl("--cacert", self.cert, "-o", "/dev/null", "-w", "%{http_code}", base + "/healthz")
        self.assertEqual(ok.stdout, b"200")
        self.assertEqual(gw.stop(), 0, gw.logs())

    def run_gateway(self, tls, *args):
        """Runs hookgate with a config holding tls and args; returns the finished process."""
        gw = Gateway(tls=tls)
        self.addCleanup(gw.remove)
        return subprocess.run([binary(), "--config", gw.config_path, *args],
                              capture_output=True, timeout=30)

    def test_reload_takes_up_a_renewed_certificate(self):
        gw, base = self.start_tls()
        # A reload whose key does not fit is refused whole: the old certificate stays.
        gw.write_config(dict(gw.config, tls={"cert_file": self.cert, "key_file": self.other_key}))
        gw.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "does not match the certificate" in gw.logs()))
        self.assertEqual(curl("--cacert", self.cert, "-o", "/dev/null", base + "/healthz")
                         .returncode, 0)
        # The renewed pair: new connections get it (a client trusting only it succeeds).
        gw.write_config(dict(gw.config, tls={"cert_file": self.other_cert,
                                             "key_file": self.other_key}))
        gw.signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: gw.logs().count("config reloaded") == 1))
        self.assertEqual(curl("--cacert", self.other_cert, "-o", "/dev/null", base + "/healthz")
                         .returncode, 0, gw.logs())
        self.assertEqual(curl("--cacert", self.cert, "-o", "/dev/null", base + "/healthz")
                         .returncode, 60)
        self.assertNotIn("take effect at the next restart", gw.logs())
        self.assertEqual(gw.stop(), 0, gw.logs())

    def check(self, tls):
        return self.run_gateway(tls, "--check")

    def assert_refused(self, tls, message):
        """Both --check and a start fail with message, the start as an error log line."""
        checked, started = self.check(tls), self.run_gateway(tls)
        self.assertEqual(checked.returncode, 1, checked)
        self.assertIn(message, checked.stderr.decode())
        self.assertEqual(started.returncode, 1, started)
        self.assertIn(message, started.stderr.decode())
        self.assertRegex(started.stderr.decode(), r"^\S+Z error hookgate: config: ")

    def test_missing_file_is_named(self):
        missing = os.path.join(self.dir, "nope.crt")
        self.assert_refused({"cert_file": missing, "key_file": self.key},
                            "tls.cert_file: %s: cannot read: No such file or directory" % missing)
        self.assert_refused({"cert_file": self.cert, "key_file": missing},
                            "tls.key_file: %s: cannot read: No such file or directory" % missing)

    def test_bad_pem_and_mismatched_key(self):
        garbage = os.path.join(self.dir, "garbage.pem")
        with open(garbage, "w") as f:
            f.write("not a certificate\n")
        self.assert_refused({"cert_file": garbage, "key_file": self.key},
                            "tls.cert_file: %s: not a usable PEM certificate" % garbage)
        self.assert_refused({"cert_file": self.cert, "key_file": garbage},
                            "tls.key_file: %s: not a usable PEM private key" % garbage)
        self.assert_refused({"cert_file": self.cert, "key_file": self.other_key},
                            "tls.key_file: %s: does not match the certificate in %s"
                            % (self.other_key, self.cert))

    def test_config_shape_errors(self):
        checked = self.check({"cert_file": self.cert})
        self.assertEqual(checked.returncode, 1)
        self.assertIn("config: tls.key_file: required", checked.stderr.decode())
        checked = self.check({"cert_file": "", "key_file": self.key, "ca": 1})
        err = checked.stderr.decode()
        self.assertIn("tls.cert_file: expected a non-empty path", err)
        self.assertIn("tls.ca: unknown key", err)
        checked = self.check("yes")
        self.assertIn("config: tls: expected an object", checked.stderr.decode())
        checked = self.check({"cert_file": self.cert, "key_file": self.key})
        self.assertEqual((checked.returncode, checked.stdout), (0, b"ok\n"), checked)


if __name__ == "__main__":
    unittest.main()
