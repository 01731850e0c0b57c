"""Status lines carry the reason phrase of their status ("HTTP/1.1 405 Method Not Allowed"),
for the gateway's own answers and for the refusals h2o makes before a handler runs."""
import json
import socket
import unittest

from harness import GatewayCase, envelope


def status_line(port, raw):
    """Sends raw bytes on a fresh connection; returns the first line of the answer."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(raw)
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n", 1)[0].decode()


def req(method, path, body=b"", headers=""):
    return ("%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n%s\r\n"
            % (method, path, len(body), headers)).encode() + body


class StatusLineTest(GatewayCase):
    def test_reason_phrases(self):
        gw = self.gateway(max_body_bytes=1000, ingest_token="tok")
        auth = "Authorization: Bearer tok\r\n"
        ok_event = json.dumps(envelope("a.b", "ev_1")).encode()
        cases = [
            (req("GET", "/healthz"), "200 OK"),
            (req("POST", "/events", ok_event, auth + "Content-Type: application/json\r\n"),
             "202 Accepted"),
            (req("POST", "/events", b"{", auth + "Content-Type: application/json\r\n"),
             "400 Bad Request"),
            (req("POST", "/events", ok_event, "Content-Type: application/json\r\n"),
             "401 Unauthorized"),
            (req("GET", "/nowhere"), "404 Not Found"),
            (req("PUT", "/events"), "405 Method Not Allowed"),
            (req("POST", "/healthz"), "405 Method Not Allowed"),
            (req("HEAD", "/healthz"), "200 OK"),
            (req("POST", "/events", b"x" * 2000, auth + "Content-Type: application/json\r\n"),
             "413 Request Entity Too Large"),
        ]
        for raw, want in cases:
            self.assertEqual(status_line(gw.port, raw), "HTTP/1.1 " + want, raw[:60])
        r = gw.request("DELETE", "/healthz")
        self.assertEqual((r.status, r.json()["error"]), (405, "method_not_allowed"))
        self.assertEqual(r.headers.get("allow"), "GET, HEAD")


if __name__ == "__main__":
    unittest.main()
