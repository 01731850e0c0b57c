"""netns_probe.py -- runs inside a private network namespace (started with `unshare -n`):
brings up lo with one extra, non-loopback address, starts hookgate listening on 0.0.0.0,
and prints (JSON) the status and error code of each request made from 127.0.0.1 or from
that address. Nothing can leave the namespace: it has no other interface.

usage: unshare -n python3 netns_probe.py HOOKGATE CONFIG PORT REQUESTS_JSON
REQUESTS_JSON: [[source, method, path, headers], ...], source "loopback" or "other"."""
import http.client
import json
import subprocess
import sys
import time

OTHER = "198.18.0.1"  # RFC 2544 benchmarking range, assigned only inside this namespace


def request(host, port, method, path, headers):
    conn = http.client.HTTPConnection(host, port, timeout=10)
    try:
        conn.request(method, path, headers=headers)
        r = conn.getresponse()
        body = r.read()
        try:
            code = json.loads(body).get("error")
        except ValueError:
            code = None
        return [r.status, code]
    finally:
        conn.close()


def main(binary, config, port, requests):
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    subprocess.run(["ip", "addr", "add", OTHER + "/32", "dev", "lo"], check=True)
    proc = subprocess.Popen([binary, "--config", config], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    try:
        deadline = time.time() + 15
        while True:
            try:
                if request("127.0.0.1", port, "GET", "/healthz", {})[0] == 200:
                    break
            except OSError:
                pass
            if time.time() > deadline or proc.poll() is not None:
                sys.exit("hookgate did not start in the namespace")
            time.sleep(0.05)
        hosts = {"loopback": "127.0.0.1", "other": OTHER}
        print(json.dumps([request(hosts[src], port, m, p, h) for src, m, p, h in requests]))
    finally:
        proc.terminate()
        proc.wait(30)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4]))
