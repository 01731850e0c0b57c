// verify_sink.js -- a subscriber that checks every delivery with the Standard Webhooks
// reference library (npm "standardwebhooks") and counts the results.
//
// usage: node verify_sink.js --secret whsec_... [--secret whsec_...]
// Listens on a free loopback port and prints {"port": N} as its first stdout line.
// A delivery is ok when it verifies with every given secret (with key rotation each key
// signs) and its body's "id" equals its webhook-id: answered 204; otherwise 401.
// GET /stats -> {"ok": n, "failed": n, "errors": [first few reasons]}.
"use strict";

const http = require("http");
const { Webhook } = require("standardwebhooks");

const secrets = [];
for (let i = 2; i < process.argv.length; i++) {
  if (process.argv[i] === "--secret" && i + 1 < process.argv.length) {
    secrets.push(process.argv[++i]);
  } else {
    console.error("usage: node verify_sink.js --secret whsec_... [--secret ...]");
    process.exit(2);
  }
}
if (secrets.length === 0) {
  console.error("verify_sink: at least one --secret is needed");
  process.exit(2);
}
const verifiers = secrets.map((s) => new Webhook(s));
const stats = { ok: 0, failed: 0, errors: [] };

function check(headers, body) {
  let parsed;
  for (const wh of verifiers) parsed = wh.verify(body, headers); // throws when it fails
  if (!parsed || parsed.id !== headers["webhook-id"]) {
    throw new Error("body id does not match webhook-id");
  }
}

const server = http.createServer((req, res) => {
  if (req.method === "GET" && req.url === "/stats") {
    res.writeHead(200, { "Content-Type": "application/json" });
    res.end(JSON.stringify(stats));
    return;
  }
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    try {
      check(req.headers, Buffer.concat(chunks));
      stats.ok++;
      res.writeHead(204);
    } catch (e) {
      stats.failed++;
      if (stats.errors.length < 10) stats.errors.push(String(e && e.message ? e.message : e));
      res.writeHead(401);
    }
    res.end();
  });
});

server.listen(0, "127.0.0.1", () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
