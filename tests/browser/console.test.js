// console.test.js -- drives Debian's chromium (through playwright-core) against a live
// gateway's web console, as an operator would.
//
// usage: node console.test.js SCENARIO PARAMS_JSON
// tests/integration/test_console.py starts the gateway and its sinks, makes the dead
// letters, runs one scenario per test and checks the sinks afterwards. A scenario prints one
// JSON line with what it did and exits 0, or prints the failed check and exits 1.
// Scenarios: dead-letters, pause-resume, token, hostile-payload.
// Screenshots go to tests/browser/screenshots/ (not committed).
"use strict";

const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const { chromium } = require("playwright-core");

const SHOTS = path.join(__dirname, "screenshots");
const WAIT_MS = 15000;

// ---- the page ----

async function withPage(run) {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--no-sandbox"], // the tests run as root
  });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 820 } });
    // Records what a hostile payload could make happen: CSP violations (markup that the
    // policy blocked) and the flag that its onerror handler would set.
    await context.addInitScript(() => {
      window.__csp = [];
      document.addEventListener("securitypolicyviolation", (e) =>
        window.__csp.push(e.violatedDirective + " " + e.blockedURI));
    });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    const problems = [];
    const consoleLines = [];
    page.on("pageerror", (e) => problems.push("uncaught: " + e.message));
    page.on("console", (m) => consoleLines.push(m.type() + ": " + m.text()));
    page.on("request", (r) => {
      if (!r.url().startsWith(process.env.HOOKGATE_ORIGIN)) problems.push("external request: " + r.url());
    });
    const result = await run(page, consoleLines);
    assert.deepEqual(problems, [], "the page raised errors or left its origin");
    return result;
  } finally {
    await browser.close();
  }
}

async function shot(page, name) {
  fs.mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: path.join(SHOTS, name + ".png"), fullPage: true });
}

// Waits until the console has rendered the route now in the address bar.
async function settled(page) {
  await page.waitForFunction(() => {
    const v = document.getElementById("view");
    return v.getAttribute("aria-busy") === "false" && v.dataset.route === location.hash;
  });
}

// The same, after an action that moves to hash once the gateway has answered.
async function settledAt(page, hash) {
  await page.waitForFunction((h) => {
    const v = document.getElementById("view");
    return v.getAttribute("aria-busy") === "false" && v.dataset.route === h && location.hash === h;
  }, hash);
}

async function open(page, url) {
  await page.goto(url);
  await settled(page);
}

async function flashText(page, pattern) {
  await page.waitForFunction((re) => new RegExp(re).test(document.getElementById("flash").textContent),
    pattern.source);
  return page.textContent("#flash");
}

// The rows of the dead-letter table as the operator sees them.
function deadLetterRows(page) {
  return page.$$eval("#dead-letters tbody tr[data-id]", (trs) => trs.map((tr) => ({
    id: tr.dataset.id, event: tr.cells[1].textContent, type: tr.cells[2].textContent,
    subscriber: tr.cells[3].textContent, status: tr.cells[5].textContent,
  })));
}

async function filterDeadLetters(page, values) {
  for (const name of ["subscriber", "type", "since", "until", "limit"])
    await page.fill("#filter-" + name, values[name] === undefined ? (name === "limit" ? "50" : "") : String(values[name]));
  await page.click("#apply-filters");
  await settled(page);
}

// Answers the confirmation dialog; returns its text.
async function confirm(page, buttonSelector, accept) {
  await page.click(buttonSelector);
  await page.waitForSelector("#confirm-dialog[open]");
  const text = await page.textContent("#confirm-dialog");
  await page.click(accept ? "#confirm-ok" : "#confirm-cancel");
  await page.waitForSelector("#confirm-dialog:not([open])", { state: "attached" });
  return text;
}

async function apiStatus(urlPath) {
  const r = await fetch(new URL(urlPath, process.env.HOOKGATE_ORIGIN));
  return r.status;
}

// ---- scenarios ----

// Filter, page with the cursor, open a letter, redrive it, delete one, then the bulk actions.
async function deadLetters(page, p) {
  await open(page, p.url + "#/dead-letters");
  const everything = await deadLetterRows(page);
  assert.equal(everything.length, p.total, "the unfiltered list shows every dead letter");

  // subscriber + type, p.per_page a page: the cursor pages through each letter once
  await filterDeadLetters(page, { subscriber: p.subscriber, type: p.type, limit: p.per_page });
  assert.match(await page.evaluate(() => location.hash), /subscriber=/);
  const pages = [];
  for (;;) {
    const rows = await deadLetterRows(page);
    assert.ok(rows.length >= 1 && rows.length <= p.per_page, "page size " + rows.length);
    for (const r of rows) {
      assert.equal(r.subscriber, p.subscriber);
      assert.equal(r.type, p.type);
      assert.equal(r.status, "500");
    }
    pages.push(rows);
    if (pages.length === 1) await shot(page, "dead-letters-filtered");
    if (await page.isDisabled("#page-next")) break;
    assert.ok(pages.length < 50, "paging ends");
    await page.click("#page-next");
    await settled(page);
    assert.match(await page.evaluate(() => location.hash), /cursor=/);
  }
  assert.ok(pages.length >= 2, "the filtered letters span pages");
  const seen = pages.flat();
  assert.deepEqual(seen.map((r) => r.event).sort(), [...p.type_event_ids].sort());
  assert.equal(new Set(seen.map((r) => r.id)).size, seen.length, "no letter shown twice");
  await page.click("#page-prev");
  await settled(page);
  assert.deepEqual(await deadLetterRows(page), pages[pages.length - 2], "previous page");

  // since / until on dead_at
  await filterDeadLetters(page, { subscriber: p.subscriber, since: p.since });
  assert.deepEqual((await deadLetterRows(page)).map((r) => r.event).sort(), [...p.since_event_ids].sort());
  await filterDeadLetters(page, { until: "2000-01-01T00:00:00Z" });
  assert.equal((await deadLetterRows(page)).length, 0);
  assert.match(await page.textContent("#dead-letters"), /No dead letters match/);
  await filterDeadLetters(page, { since: "yesterday" });
  assert.match(await page.textContent("#view"), /invalid_parameter: since/);

  // one letter: its attempt history and the event's JSON
  const target = seen[0];
  await open(page, p.url + "#/dead-letters?subscriber=" + p.subscriber + "&type=" + p.type);
  await page.click(`#dead-letters a[href="#/dead-letters/${target.id}"]`);
  await settled(page);
  const history = await page.$$eval("#history tbody tr", (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.equal(history.length, 1, "max_attempts 1: one attempt");
  assert.equal(history[0][2], "500");
  assert.equal(history[0][3], "HTTP 500");
  const shown = JSON.parse(await page.textContent("#event-json"));
  assert.equal(shown.id, target.event);
  assert.equal(shown.type, p.type);
  assert.deepEqual(shown.payload, { order: target.event });
  await shot(page, "dead-letter");

  // redrive: cancelling changes nothing; confirming requeues, and the sink (now answering
  // 200) gets it; the event page follows the delivery until it is delivered
  const asked = await confirm(page, "#redrive", false);
  assert.match(asked, new RegExp("Redrive dead letter " + target.id));
  assert.match(asked, new RegExp(target.event));
  assert.equal(await apiStatus("/admin/dead-letters/" + target.id), 200, "cancel keeps the letter");
  await confirm(page, "#redrive", true);
  await settledAt(page, "#/events/" + target.event);
  await flashText(page, /requeued/);
  await page.waitForFunction((sub) => {
    const cell = document.querySelector(`#deliveries tr[data-subscriber="${sub}"] .delivery-state`);
    return cell && cell.textContent === "delivered";
  }, p.subscriber);
  await shot(page, "event-redriven");
  assert.equal(await apiStatus("/admin/dead-letters/" + target.id), 404);

  // delete one, after its confirmation
  const victim = seen[1];
  await open(page, p.url + "#/dead-letters/" + victim.id);
  const askedDelete = await confirm(page, "#delete", true);
  assert.match(askedDelete, /removed for good/);
  await settledAt(page, "#/dead-letters?subscriber=" + p.subscriber);
  await flashText(page, new RegExp("Dead letter " + victim.id + " deleted"));
  assert.equal(await apiStatus("/admin/dead-letters/" + victim.id), 404);
  assert.ok(!(await deadLetterRows(page)).some((r) => r.id === victim.id));

  // bulk delete of one subscriber's letters; the dialog names the filters
  await open(page, p.url + "#/dead-letters?subscriber=" + p.bulk_delete_subscriber);
  assert.equal((await deadLetterRows(page)).length, p.bulk_delete_count);
  const askedBulk = await confirm(page, "#bulk-delete", true);
  assert.match(askedBulk, new RegExp("subscriber: " + p.bulk_delete_subscriber));
  assert.match(askedBulk, /type: any/);
  await flashText(page, new RegExp("Deleted " + p.bulk_delete_count + " dead letters"));
  await settled(page);
  assert.equal((await deadLetterRows(page)).length, 0);

  // bulk redrive of the other type
  await open(page, p.url + "#/dead-letters?subscriber=" + p.subscriber + "&type=" + p.bulk_redrive_type);
  const redriven = (await deadLetterRows(page)).map((r) => r.event);
  await confirm(page, "#bulk-redrive", true);
  await flashText(page, new RegExp("Requeued " + redriven.length + " dead letters"));
  return { redriven: target.event, deleted: victim.event, bulk_redriven: redriven };
}

async function subscriberRow(page, name) {
  return page.$eval(`#subscribers tr[data-name="${name}"]`, (tr) => ({
    state: tr.querySelector(".state").textContent,
    pending: Number(tr.cells[2].textContent),
    delivered: Number(tr.cells[4].textContent),
    button: tr.querySelector("button").textContent,
  }));
}

// Waits for the page's own refresh (no reload) to show what pred wants.
async function waitRow(page, name, pred) {
  const deadline = Date.now() + WAIT_MS;
  for (;;) {
    const row = await subscriberRow(page, name);
    if (pred(row)) return row;
    assert.ok(Date.now() < deadline, "row " + name + " stayed " + JSON.stringify(row));
    await page.waitForTimeout(200);
  }
}

async function postEvent(p, id) {
  const r = await fetch(new URL("/events", process.env.HOOKGATE_ORIGIN), {
    method: "POST", headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ id, type: p.type, payload: { n: 1 } }),
  });
  assert.equal(r.status, 202);
}

async function pauseResume(page, p) {
  await open(page, p.url);
  const before = await waitRow(page, p.subscriber, (r) => r.delivered === p.delivered);
  assert.match(before.state, /active/);
  assert.equal(before.button, "Pause");
  await page.click(`#subscribers tr[data-name="${p.subscriber}"] button`);
  await flashText(page, /is paused/);
  await settled(page);
  const paused = await subscriberRow(page, p.subscriber);
  assert.match(paused.state, /paused/);
  assert.equal(paused.button, "Resume");
  // a paused subscriber gets nothing: the event waits, and the refresh shows it pending
  await postEvent(p, "while-paused");
  await waitRow(page, p.subscriber, (r) => r.pending === 1);
  await shot(page, "subscribers-paused");
  await page.click(`#subscribers tr[data-name="${p.subscriber}"] button`);
  await flashText(page, /is resumed/);
  await settled(page);
  const resumed = await waitRow(page, p.subscriber, (r) => r.pending === 0 && r.delivered === p.delivered + 1);
  assert.match(resumed.state, /active/);
  assert.equal(resumed.button, "Pause");
  await shot(page, "subscribers");
  return { paused_event: "while-paused" };
}

// admin_token set: the page asks for it, keeps it in sessionStorage, and asks again when refused.
async function token(page, p) {
  await page.goto(p.url);
  await page.waitForSelector("#token-dialog[open]");
  assert.match(await page.textContent("#view"), /admin token is needed/);
  await page.fill("#token-input", "not-the-token");
  await page.click("#token-submit");
  await page.waitForFunction(() => document.getElementById("token-dialog").open &&
    !document.getElementById("token-error").hidden);
  assert.match(await page.textContent("#token-error"), /refused/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem("hookgate.admin_token")), null,
    "a refused token is not kept");
  await shot(page, "token-prompt");
  await page.fill("#token-input", p.token);
  await page.click("#token-submit");
  await settled(page);
  await page.waitForSelector("#subscribers");
  assert.equal(await page.isVisible("#token-dialog"), false);
  assert.equal(await page.evaluate(() => sessionStorage.getItem("hookgate.admin_token")), p.token);
  // the token lasts for the tab: a reload does not ask again
  await page.reload();
  await settled(page);
  await page.waitForSelector("#subscribers");
  assert.equal(await page.isVisible("#token-dialog"), false);
  // a token refused later (changed on the gateway) brings the prompt back at the next refresh
  await page.evaluate(() => sessionStorage.setItem("hookgate.admin_token", "stale"));
  await page.waitForSelector("#token-dialog[open]");
  assert.match(await page.textContent("#token-error"), /refused/);
  await page.fill("#token-input", p.token);
  await page.click("#token-submit");
  await settled(page);
  await page.waitForSelector("#subscribers");
  // forgetting it asks again
  await page.click("#forget-token");
  await page.waitForSelector("#token-dialog[open]");
  assert.equal(await page.evaluate(() => sessionStorage.getItem("hookgate.admin_token")), null);
  return { asked: true };
}

// Event lookup; a payload with markup is shown as text on every page that shows it, and
// nothing runs.
async function hostilePayload(page, p, consoleLines) {
  const check = async (where) => {
    assert.equal(await page.evaluate(() => window.__xss), undefined, where + ": a handler ran");
    assert.deepEqual(await page.evaluate(() => window.__csp), [], where + ": markup reached the DOM");
    assert.equal(await page.locator("#view img, #view script, #view iframe").count(), 0, where);
    const json = await page.textContent("#event-json");
    for (const s of p.literals) assert.ok(json.includes(s), where + " shows " + s + " literally");
    assert.ok(!consoleLines.some((l) => l.includes("XSS-RAN")), where + ": console");
  };
  // event lookup by id, through its form: an unknown id, then the hostile event
  await open(page, p.url + "#/events");
  await page.fill("#event-id", "no-such-event");
  await page.click("#event-form button[type=submit]");
  await settledAt(page, "#/events/no-such-event");
  assert.match(await page.textContent("#not-found"), /No event has this id/);
  await page.fill("#event-id", p.event_id);
  await page.click("#event-form button[type=submit]");
  await settledAt(page, "#/events/" + p.event_id);
  assert.equal(await page.textContent(`#deliveries tr[data-subscriber="${p.subscriber}"] .delivery-state`), "dead");
  await check("event page");
  await open(page, p.url + "#/dead-letters?subscriber=" + p.subscriber);
  const rows = await deadLetterRows(page);
  assert.equal(rows.length, 1);
  await page.click(`#dead-letters a[href="#/dead-letters/${rows[0].id}"]`);
  await settled(page);
  await check("dead letter page");
  await shot(page, "hostile-payload");
  // give a late onerror (the image would 404 first) time to fire
  await page.waitForTimeout(300);
  await check("dead letter page, later");
  return { checked: 2 };
}

const SCENARIOS = { "dead-letters": deadLetters, "pause-resume": pauseResume, token, "hostile-payload": hostilePayload };

async function main() {
  const [name, json] = process.argv.slice(2);
  const scenario = SCENARIOS[name];
  if (!scenario || !json) {
    console.error("usage: node console.test.js " + Object.keys(SCENARIOS).join("|") + " PARAMS_JSON");
    process.exit(2);
  }
  const p = JSON.parse(json);
  process.env.HOOKGATE_ORIGIN = new URL(p.url).origin;
  const result = await withPage((page, consoleLines) => scenario(page, p, consoleLines));
  console.log(JSON.stringify(result));
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
