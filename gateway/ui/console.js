/* console.js -- the hookgate web console: a small single-page app over the admin API.
 *
 * Every value that comes from the gateway (event payloads, subscriber names, errors) is
 * inserted as text nodes, never as markup: payloads are written by whoever can post events.
 * Routes live in the URL's hash: #/subscribers, #/dead-letters?filters, #/dead-letters/ID,
 * #/events/ID. */
"use strict";

(() => {
  const TOKEN_KEY = "hookgate.admin_token";
  const REFRESH_MS = 3000;
  const DEFAULT_LIMIT = 50;
  const FILTERS = ["subscriber", "type", "since", "until"];
  const API = new URL("../", document.baseURI); // the page is /admin/ui/, the API /admin/

  const $ = (id) => document.getElementById(id);
  let refreshTimer = null;
  let renderSeq = 0; // a render that a newer route superseded drops its result
  let pendingFlash = null;
  // Cursors of the pages before the current one, for "Previous page", per filter set.
  let pages = { key: "", cursors: [] };

  class ApiError extends Error {
    constructor(status, body, quiet) {
      const code = body && body.error ? body.error : "http_" + status;
      super(body && body.detail ? code + ": " + body.detail : code);
      this.status = status;
      this.body = body;
      this.quiet = quiet; // already shown (the token prompt)
    }
  }

  // ---- building the DOM: children are nodes or text, never markup ----

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props || {})) {
      if (key === "class") node.className = value;
      else if (key === "on") for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
      else if (key === "dataset") Object.assign(node.dataset, value);
      else node[key] = value;
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined || child === false) continue;
      node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const text = (v) => (v === null || v === undefined || v === "" ? "—" : String(v));
  const td = (v, cls) => el("td", cls ? { class: cls } : {}, v instanceof Node ? v : text(v));
  const num = (v) => td(v, "num");
  const badge = (label, tone) => el("span", { class: "badge " + tone }, label);

  function table(id, headings, rows, emptyText) {
    const head = el("tr", {}, headings.map((h) => el("th", h.endsWith("#") ? { class: "num" } : {}, h.replace(/#$/, ""))));
    const body = el("tbody", {}, rows.length ? rows : el("tr", { class: "empty" }, el("td", { colSpan: headings.length }, emptyText)));
    return el("table", { id }, el("thead", {}, head), body);
  }

  function hashFor(parts, params) {
    const path = "#/" + parts.map(encodeURIComponent).join("/");
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== "") q.set(k, v);
    const qs = q.toString();
    return qs ? path + "?" + qs : path;
  }

  const link = (label, parts, params) => el("a", { href: hashFor(parts, params) }, label);

  function button(label, onClick, cls, id) {
    const b = el("button", { type: "button", class: cls || "" }, label);
    if (id) b.id = id;
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await onClick();
      } catch (e) {
        showError(e);
      } finally {
        b.disabled = false;
      }
    });
    return b;
  }

  // ---- messages, token prompt, confirmation ----

  function flash(message, isError) {
    const f = $("flash");
    f.textContent = message || "";
    f.className = isError ? "error" : "";
    f.hidden = !message;
  }

  function showError(e) {
    if (e instanceof ApiError && e.quiet) {
      flash("The admin token is needed.", true);
      return;
    }
    flash(e instanceof ApiError ? e.message : "Error: " + e.message, true);
  }

  function updateTokenButton() {
    $("forget-token").hidden = !sessionStorage.getItem(TOKEN_KEY);
  }

  function askToken(refused) {
    const d = $("token-dialog");
    $("token-error").textContent = refused ? "That token was refused." : "";
    $("token-error").hidden = !refused;
    if (!d.open) {
      $("token-input").value = "";
      d.showModal();
    }
  }

  function confirmAction(title, lines, okLabel) {
    return new Promise((resolve) => {
      const d = $("confirm-dialog");
      $("confirm-title").textContent = title;
      $("confirm-lines").replaceChildren(...lines.map((line) => el("li", {}, line)));
      $("confirm-ok").textContent = okLabel;
      const finish = (answer) => {
        d.oncancel = null;
        if (d.open) d.close();
        resolve(answer);
      };
      $("confirm-ok").onclick = () => finish(true);
      $("confirm-cancel").onclick = () => finish(false);
      d.oncancel = () => finish(false); // Escape
      d.showModal();
    });
  }

  // ---- the admin API ----

  async function api(method, path, params) {
    const url = new URL(path, API);
    for (const [k, v] of Object.entries(params || {})) if (v !== undefined && v !== null && v !== "") url.searchParams.set(k, v);
    const headers = { Accept: "application/json" };
    const token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = "Bearer " + token;
    let r;
    try {
      r = await fetch(url, { method, headers, cache: "no-store", credentials: "omit" });
    } catch (e) {
      throw new ApiError(0, { error: "unreachable", detail: "the gateway did not answer (" + e.message + ")" });
    }
    let body = null;
    try {
      body = await r.json();
    } catch (e) {
      body = null;
    }
    if (r.status === 401) {
      if (token) sessionStorage.removeItem(TOKEN_KEY); // refused: ask again rather than resend it
      updateTokenButton();
      askToken(Boolean(token));
      throw new ApiError(401, body, true);
    }
    if (!r.ok) throw new ApiError(r.status, body);
    return body;
  }

  // ---- routing ----

  function parseHash() {
    const h = location.hash.replace(/^#/, "");
    const q = h.indexOf("?");
    const path = q < 0 ? h : h.slice(0, q);
    const params = new URLSearchParams(q < 0 ? "" : h.slice(q + 1));
    let parts;
    try {
      parts = path.split("/").filter(Boolean).map(decodeURIComponent);
    } catch (e) {
      parts = [];
    }
    return { parts, params };
  }

  // Shows message after the next render (an action that moves to another page).
  function go(hash, message) {
    pendingFlash = message;
    if (location.hash === hash) route();
    else location.hash = hash;
  }

  async function route() {
    if (refreshTimer) clearInterval(refreshTimer);
    refreshTimer = null;
    const seq = ++renderSeq;
    flash(pendingFlash);
    pendingFlash = null;
    updateTokenButton();
    const { parts, params } = parseHash();
    const section = parts[0] || "subscribers";
    for (const a of document.querySelectorAll("header nav a"))
      a.classList.toggle("active", a.dataset.nav === section);
    const view = $("view");
    view.setAttribute("aria-busy", "true");
    view.replaceChildren(el("p", { class: "muted" }, "Loading…"));
    const show = (...nodes) => {
      if (seq === renderSeq) view.replaceChildren(...nodes);
      return seq === renderSeq;
    };
    try {
      if (section === "subscribers") await showSubscribers(seq, show);
      else if (section === "dead-letters" && parts[1]) await showDeadLetter(parts[1], show);
      else if (section === "dead-letters") await showDeadLetters(params, show);
      else if (section === "events") await showEvent(seq, parts[1] || "", show);
      else show(el("p", {}, "No such page."));
    } catch (e) {
      show(el("p", { class: "error" }, e instanceof ApiError && e.quiet ? "The admin token is needed." : e.message));
    }
    if (seq !== renderSeq) return;
    // Settled: the page shows the route in data-route (what the browser tests wait for).
    view.dataset.route = location.hash;
    view.setAttribute("aria-busy", "false");
  }

  function every(seq, fn, ms) {
    refreshTimer = setInterval(() => {
      if (seq !== renderSeq) return;
      fn().catch((e) => {
        // Refused: stop until the token prompt is answered (which renders the page anew).
        if (e instanceof ApiError && e.quiet && refreshTimer) {
          clearInterval(refreshTimer);
          refreshTimer = null;
        }
        showError(e);
      });
    }, ms || REFRESH_MS);
  }

  // ---- subscribers ----

  function stateCell(s) {
    const cell = el("td", { class: "state" });
    if (s.paused !== undefined) cell.append(s.paused ? badge("paused", "warn") : badge("active", "ok"));
    if (s.circuit) cell.append(badge("circuit " + s.circuit.replace("_", "-"), s.circuit === "closed" ? "ok" : "bad"));
    if (s.circuit_open_until) cell.append(el("div", { class: "muted" }, "until " + s.circuit_open_until));
    return cell;
  }

  async function setPaused(name, paused) {
    await api("POST", "subscribers/" + encodeURIComponent(name) + (paused ? "/pause" : "/resume"));
    go("#/subscribers", name + (paused ? " is paused: its deliveries wait." : " is resumed."));
  }

  function subscriberRow(s) {
    const toggle = s.paused
      ? button("Resume", () => setPaused(s.name, false), "primary")
      : button("Pause", () => setPaused(s.name, true));
    return el("tr", { dataset: { name: s.name } },
      el("td", {}, el("strong", {}, s.name), el("div", { class: "muted wrap" }, s.url)),
      stateCell(s),
      num(s.pending), num(s.in_flight), num(s.delivered), num(s.failed_attempts),
      el("td", { class: "num" }, s.dead ? link(String(s.dead), ["dead-letters"], { subscriber: s.name }) : String(s.dead)),
      td(s.last_success_at || "never", "time"),
      td(s.last_error, "error"),
      el("td", {}, toggle));
  }

  async function showSubscribers(seq, show) {
    const stamp = el("span", { class: "muted", id: "refreshed" });
    const holder = el("div");
    let last = null;
    const refresh = async () => {
      const data = await api("GET", "subscribers");
      if (seq !== renderSeq) return;
      const json = JSON.stringify(data.subscribers);
      if (json !== last) {
        last = json;
        holder.replaceChildren(table("subscribers",
          ["Subscriber", "State", "Pending#", "In flight#", "Delivered#", "Failed attempts#", "Dead#", "Last success", "Last error", ""],
          data.subscribers.map(subscriberRow), "No subscribers are configured."));
      }
      stamp.textContent = "Updated " + new Date().toLocaleTimeString() + " · refreshes every " + REFRESH_MS / 1000 + " s";
    };
    await refresh();
    show(el("h2", {}, "Subscribers"), el("div", { class: "toolbar" }, stamp), holder);
    every(seq, refresh);
  }

  // ---- the dead-letter queue ----

  function describeFilters(filters) {
    const lines = [];
    for (const f of FILTERS) {
      const label = f === "since" ? "dead since" : f === "until" ? "dead until" : f;
      lines.push(label + ": " + (filters[f] || "any"));
    }
    if (!FILTERS.some((f) => filters[f])) lines.push("No filter is set: this is every dead letter in the queue.");
    return lines;
  }

  async function showDeadLetters(params, show) {
    const filters = {};
    for (const f of FILTERS) filters[f] = params.get(f) || "";
    const limit = params.get("limit") || String(DEFAULT_LIMIT);
    const cursor = params.get("cursor") || "";
    const key = JSON.stringify([filters, limit]);
    if (pages.key !== key || !cursor) pages = { key, cursors: [] };

    const data = await api("GET", "dead-letters", { ...filters, limit, cursor });

    const input = (name, label, placeholder) =>
      el("label", {}, label, el("input", { name, id: "filter-" + name, value: filters[name] || "", placeholder }));
    const form = el("form", { class: "filters", id: "dl-filters" },
      input("subscriber", "Subscriber", "any"),
      input("type", "Event type", "any"),
      input("since", "Dead since (RFC 3339)", "2026-01-01T00:00:00Z"),
      input("until", "Dead until (RFC 3339)", "2026-12-31T23:59:59Z"),
      el("label", {}, "Per page", el("input", { name: "limit", id: "filter-limit", type: "number", min: 1, max: 1000, value: limit })),
      el("button", { type: "submit", class: "primary", id: "apply-filters" }, "Apply"),
      button("Clear", () => go("#/dead-letters")));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      const values = {};
      for (const name of [...FILTERS, "limit"]) values[name] = form.elements[name].value.trim();
      if (values.limit === String(DEFAULT_LIMIT)) values.limit = "";
      go(hashFor(["dead-letters"], values));
    });

    const rows = data.items.map((d) => el("tr", { dataset: { id: d.id } },
      el("td", {}, link(d.id, ["dead-letters", d.id])),
      el("td", { class: "wrap" }, link(d.event_id, ["events", d.event_id])),
      td(d.event_type), td(d.subscriber), num(d.attempts), num(d.last_status),
      td(d.last_error, "error"), td(d.dead_at, "time")));

    const here = { ...filters, limit: limit === String(DEFAULT_LIMIT) ? "" : limit };
    const first = button("First page", () => go(hashFor(["dead-letters"], here)), "", "page-first");
    first.disabled = !cursor;
    const prev = button("Previous page", () => {
      const back = pages.cursors.pop();
      go(hashFor(["dead-letters"], { ...here, cursor: back }));
    }, "", "page-prev");
    prev.disabled = pages.cursors.length === 0;
    const next = button("Next page", () => {
      pages.cursors.push(cursor);
      go(hashFor(["dead-letters"], { ...here, cursor: data.next_cursor }));
    }, "", "page-next");
    next.disabled = !data.next_cursor;

    const page = pages.cursors.length + 1;
    const summary = el("span", { class: "muted", id: "page-summary" },
      data.items.length + (data.items.length === 1 ? " dead letter" : " dead letters") +
      (cursor ? " on page " + page : " on the first page") + (data.next_cursor ? "; more follow" : ""));

    const bulkRedrive = button("Redrive all matching…", async () => {
      if (!(await confirmAction("Redrive every dead letter that matches?", [...describeFilters(filters),
        "Each one leaves the queue and is attempted again with a fresh attempt count."], "Redrive"))) return;
      const r = await api("POST", "dead-letters/retry", filters);
      go(hashFor(["dead-letters"], here), "Requeued " + r.requeued + (r.requeued === 1 ? " dead letter." : " dead letters."));
    }, "", "bulk-redrive");
    const bulkDelete = button("Delete all matching…", async () => {
      if (!(await confirmAction("Delete every dead letter that matches?", [...describeFilters(filters),
        "They are removed for good."], "Delete"))) return;
      const r = await api("DELETE", "dead-letters", filters);
      go(hashFor(["dead-letters"], here), "Deleted " + r.deleted + (r.deleted === 1 ? " dead letter." : " dead letters."));
    }, "danger", "bulk-delete");

    show(el("h2", {}, "Dead letters"), form,
      el("div", { class: "toolbar" }, summary, el("span", { class: "spacer" }), first, prev, next),
      table("dead-letters", ["Id", "Event", "Type", "Subscriber", "Attempts#", "Last status#", "Last error", "Dead at"],
        rows, "No dead letters match."),
      el("div", { class: "toolbar" }, el("span", { class: "spacer" }), bulkRedrive, bulkDelete));
  }

  async function showDeadLetter(id, show) {
    let d;
    try {
      d = await api("GET", "dead-letters/" + encodeURIComponent(id));
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 404) throw e;
      show(el("h2", {}, "Dead letter " + id),
        el("p", { id: "not-found" }, "No dead letter has this id: it may have been redriven or deleted."),
        el("p", {}, link("Back to the dead letters", ["dead-letters"])));
      return;
    }
    const redrive = button("Redrive…", async () => {
      if (!(await confirmAction("Redrive dead letter " + d.id + "?", ["event: " + d.event_id, "subscriber: " + d.subscriber,
        "It leaves the queue and is attempted again with a fresh attempt count."], "Redrive"))) return;
      await api("POST", "dead-letters/" + encodeURIComponent(d.id) + "/retry");
      go(hashFor(["events", d.event_id]), "Dead letter " + d.id + " requeued: it is attempted again.");
    }, "primary", "redrive");
    const remove = button("Delete…", async () => {
      if (!(await confirmAction("Delete dead letter " + d.id + "?", ["event: " + d.event_id, "subscriber: " + d.subscriber,
        "It is removed for good."], "Delete"))) return;
      await api("DELETE", "dead-letters/" + encodeURIComponent(d.id));
      go(hashFor(["dead-letters"], { subscriber: d.subscriber }), "Dead letter " + d.id + " deleted.");
    }, "danger", "delete");

    const field = (label, value) => [el("dt", {}, label), el("dd", {}, value instanceof Node ? value : text(value))];
    const history = (d.history || []).map((h, i) => el("tr", {},
      num(i + 1), td(h.at, "time"), num(h.status), td(h.error, "error"), num(h.duration_ms)));
    show(el("h2", {}, "Dead letter " + d.id),
      el("div", { class: "toolbar" }, redrive, remove, el("span", { class: "spacer" }),
        link("All dead letters of " + d.subscriber, ["dead-letters"], { subscriber: d.subscriber })),
      el("dl", { class: "fields", id: "dl-fields" },
        field("Event", link(d.event_id, ["events", d.event_id])), field("Type", d.event_type),
        field("Subscriber", d.subscriber), field("Attempts", d.attempts), field("Last status", d.last_status),
        field("Last error", d.last_error), field("First attempt at", d.first_attempt_at), field("Dead at", d.dead_at)),
      el("h3", {}, "Attempt history"),
      table("history", ["##", "At", "Status#", "Error", "Duration (ms)#"], history, "No attempts are recorded."),
      el("h3", {}, "Event"),
      el("pre", { class: "json", id: "event-json" }, JSON.stringify(d.event, null, 2)));
  }

  // ---- event lookup ----

  async function showEvent(seq, id, show) {
    const form = el("form", { class: "filters", id: "event-form" },
      el("label", {}, "Event id", el("input", { name: "id", id: "event-id", value: id, size: 40, required: true })),
      el("button", { type: "submit", class: "primary" }, "Look up"));
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      go(hashFor(["events", form.elements.id.value.trim()]));
    });
    if (!id) {
      show(el("h2", {}, "Event lookup"), form);
      return;
    }
    const holder = el("div");
    const refresh = async () => {
      let data;
      try {
        data = await api("GET", "events/" + encodeURIComponent(id));
      } catch (e) {
        if (!(e instanceof ApiError) || e.status !== 404) throw e;
        holder.replaceChildren(el("p", { id: "not-found" }, "No event has this id (or it is past retention)."));
        return false;
      }
      if (seq !== renderSeq) return false;
      const rows = data.deliveries.map((d) => el("tr", { dataset: { subscriber: d.subscriber } },
        td(d.subscriber),
        el("td", { class: "delivery-state" }, badge(d.state, d.state === "delivered" ? "ok" : d.state === "dead" ? "bad" : "warn")),
        num(d.attempts), td(d.next_attempt_at, "time"), num(d.last_status), td(d.last_error, "error")));
      holder.replaceChildren(
        el("h3", {}, "Deliveries"),
        table("deliveries", ["Subscriber", "State", "Attempts#", "Next attempt at", "Last status#", "Last error"], rows,
          "No subscriber matched this event."),
        el("h3", {}, "Event"),
        el("pre", { class: "json", id: "event-json" }, JSON.stringify(data.event, null, 2)));
      return data.deliveries.some((d) => d.state === "pending" || d.state === "in_flight");
    };
    const busy = await refresh();
    show(el("h2", {}, "Event " + id), form, holder);
    // While deliveries are under way the page follows them, closely: they are usually quick.
    if (busy) every(seq, async () => {
      if (!(await refresh()) && refreshTimer) {
        clearInterval(refreshTimer);
        refreshTimer = null;
      }
    }, 1000);
  }

  // ---- start ----

  function start() {
    $("token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const token = $("token-input").value;
      if (!token) return;
      sessionStorage.setItem(TOKEN_KEY, token);
      $("token-dialog").close();
      route();
    });
    $("forget-token").addEventListener("click", () => {
      sessionStorage.removeItem(TOKEN_KEY);
      route();
    });
    window.addEventListener("hashchange", route);
    route();
  }

  start();
})();
