"""The benchmark scripts' shared helpers (bench/lib.sh) that the published figures rest on:
the CSV every benchmark appends to (header, time stamp, quoting, a changed header going to a
new file), the /metrics sums, and the polls that start no process (the sink's count over
bash's /dev/tcp, and nap)."""
import http.server
import os
import subprocess
import tempfile
import threading
import unittest

LIB = os.path.join(os.path.dirname(__file__), "..", "..", "bench", "lib.sh")


def bash(script, env=None):
    """Runs script with bench/lib.sh sourced; returns (exit status, stdout)."""
    r = subprocess.run(["bash", "-c", 'source "$LIB"\n' + script], capture_output=True, text=True,
                       timeout=30, env={**os.environ, "LIB": LIB, **(env or {})})
    return r.returncode, r.stdout


class CsvTest(unittest.TestCase):
    def test_rows_are_stamped_and_quoted(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "x.csv")
            rc, _ = bash("""csv_open x "a,b,c" && csv_row 1 'x,y' 'say "hi"' && csv_row 2 '' 3""",
                         {"OUT": out})
            self.assertEqual(rc, 0)
            with open(out) as f:
                lines = f.read().splitlines()
            self.assertEqual(lines[0], "time,a,b,c")
            stamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ"
            self.assertRegex(lines[1], "^" + stamp + r',1,"x,y","say ""hi"""$')
            self.assertRegex(lines[2], "^" + stamp + ",2,,3$")
            self.assertEqual(len(lines), 3)

    def test_stamp_is_utc_whatever_the_local_zone(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "x.csv")
            rc, now = bash('csv_open x a && csv_row 1 && date -u +%Y-%m-%dT%H', {"OUT": out, "TZ": "JST-9"})
            self.assertEqual(rc, 0)
            with open(out) as f:
                row = f.read().splitlines()[1]
            self.assertEqual(row[:13], now.strip())

    def test_rows_append_and_another_header_gets_its_own_file(self):
        with tempfile.TemporaryDirectory() as d:
            out = os.path.join(d, "x.csv")
            self.assertEqual(bash("csv_open x a && csv_row 1", {"OUT": out})[0], 0)
            self.assertEqual(bash("csv_open x a && csv_row 2", {"OUT": out})[0], 0)
            rc, other = bash('csv_open x "a,b" && csv_row 3 4 && echo "$CSV_FILE"', {"OUT": out})
            self.assertEqual(rc, 0)
            other = other.strip()
            self.assertRegex(other, r"/x-\d{6}\.csv$")
            with open(out) as f:
                self.assertEqual([l.split(",", 1)[1] for l in f.read().splitlines()], ["a", "1", "2"])
            with open(other) as f:
                self.assertEqual([l.split(",", 1)[1] for l in f.read().splitlines()], ["a,b", "3,4"])


METRICS = """# HELP hookgate_pending_deliveries Pending.
# TYPE hookgate_pending_deliveries gauge
hookgate_pending_deliveries{subscriber="a"} 3
hookgate_pending_deliveries{subscriber="b"} 4
hookgate_pending_deliveries_other 100
hookgate_deliveries_total{subscriber="a",outcome="success"} 7
hookgate_deliveries_total{subscriber="a",outcome="failure"} 2
hookgate_store_file_bytes 94208
hookgate_store_commit_duration_seconds_sum 0.25
"""


class MetricSumTest(unittest.TestCase):
    def metric(self, name, label=""):
        rc, out = bash('metric_sum "$M" "$NAME" "$LABEL"; echo "$METRIC"',
                       {"M": METRICS, "NAME": name, "LABEL": label})
        self.assertEqual(rc, 0)
        return out.strip()

    def test_sums_label_sets_and_filters(self):
        self.assertEqual(self.metric("hookgate_pending_deliveries"), "7")  # not the _other metric
        self.assertEqual(self.metric("hookgate_deliveries_total"), "9")
        self.assertEqual(self.metric("hookgate_deliveries_total", 'outcome="success"'), "7")
        self.assertEqual(self.metric("hookgate_store_file_bytes"), "94208")

    def test_missing_or_fractional_is_nan(self):
        self.assertEqual(self.metric("hookgate_nothing"), "nan")
        self.assertEqual(self.metric("hookgate_store_commit_duration_seconds_sum"), "nan")


class PollTest(unittest.TestCase):
    count_body = b"42"

    @classmethod
    def setUpClass(cls):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = {"/count": PollTest.count_body, "/metrics": METRICS.encode()}.get(self.path)
                self.send_response(200 if body else 404)
                self.send_header("Content-Length", str(len(body or b"")))
                self.end_headers()
                self.wfile.write(body or b"")

            def log_message(self, *args):
                pass

        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        cls.port = cls.server.server_address[1]
        threading.Thread(target=cls.server.serve_forever, daemon=True).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()

    def test_http_get_returns_the_whole_body(self):
        rc, out = bash('http_get %d /metrics && printf "%%s" "$HTTP_BODY"' % self.port)
        self.assertEqual(rc, 0)
        self.assertEqual(out, METRICS.rstrip("\n"))

    def test_sink_count(self):
        rc, out = bash('sink_count %d && echo "$SINK_COUNT"' % self.port)
        self.assertEqual((rc, out.strip()), (0, "42"))

    def test_sink_count_fails_on_no_number_or_no_server(self):
        PollTest.count_body = b"starting"
        try:
            _, out = bash('sink_count %d; echo "rc=$? [$SINK_COUNT]"' % self.port)
        finally:
            PollTest.count_body = b"42"
        self.assertEqual(out.strip(), "rc=1 []")
        with socket_closed_port() as port:
            _, out = bash('sink_count %d; echo "rc=$? [$SINK_COUNT]"' % port)
        self.assertEqual(out.strip(), "rc=1 []")

    def test_nap_sleeps(self):
        rc, out = bash('t=$EPOCHREALTIME; nap 0.3; nap 0.2; echo "$t $EPOCHREALTIME"')
        self.assertEqual(rc, 0)
        t0, t1 = map(float, out.split())
        self.assertGreaterEqual(t1 - t0, 0.45)
        self.assertLess(t1 - t0, 5)


class socket_closed_port:
    """A loopback port that nothing listens on, for the duration of a with block."""

    def __enter__(self):
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        self.port = s.getsockname()[1]
        s.close()
        return self.port

    def __exit__(self, *exc):
        return False


if __name__ == "__main__":
    unittest.main()
