// hookctl dev inbox: the list of deliveries, live (server-sent events, polling when they fail), and one delivery's
// detail. No framework, no build step. Everything a delivery carries is put into the page as text (textContent),
// never as HTML: a webhook's body and headers are whatever its sender wrote.
"use strict";

const API = "/_inbox/api";
const state = { selected: null, bodyView: "pretty", detail: null, polling: null, refreshTimer: null, shownList: "" };

const $ = (id) => document.getElementById(id);

function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes || {})) {
    if (name === "class") node.className = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child !== null && child !== undefined) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

async function getJson(path) {
  const response = await fetch(API + path, { cache: "no-store" });
  if (!response.ok) throw new Error((await response.json().catch(() => ({}))).message || response.statusText);
  return response.json();
}

// POSTs carry X-Inbox: 1 and a JSON body: a page of another site cannot send either without a CORS preflight,
// and the inbox answers none.
async function postJson(path, document) {
  const response = await fetch(API + path, {
    method: "POST",
    headers: { "Content-Type": "application/json", "X-Inbox": "1" },
    body: JSON.stringify(document),
  });
  const answer = await response.json().catch(() => ({}));
  return { ok: response.ok, status: response.status, answer };
}

function statusBadge(status) {
  return el("span", { class: "status " + String(status || "").replace(/\s+/g, "-") }, status || "?");
}

function shortTime(iso) {
  return iso ? iso.replace(/^\d{4}-\d\d-\d\dT/, "").replace(/Z$/, "") : "";
}

// -- the list ------------------------------------------------------------------------------------------------------

function filterQuery() {
  const query = new URLSearchParams();
  const pairs = { provider: "filter-provider", status: "filter-status", type: "filter-type", q: "filter-text" };
  for (const [name, id] of Object.entries(pairs)) {
    const value = $(id).value.trim();
    if (value) query.set(name, value);
  }
  return query.toString();
}

async function refreshList() {
  const page = await getJson("/deliveries?" + filterQuery());
  $("list-note").textContent = page.note || "";
  const shown = JSON.stringify(page.items);
  if (shown === state.shownList) return page.version; // unchanged: keep the rows (and what is hovered)
  state.shownList = shown;
  const body = $("list").tBodies[0];
  const rows = page.items.map((item) => {
    const row = el(
      "tr",
      { "data-key": item.key, "data-status": item.status, "data-provider": item.provider },
      el("td", {}, shortTime(item.at)),
      el("td", {}, item.provider),
      el("td", {}, statusBadge(item.status)),
      el("td", { class: "type", title: item.event_type || "" }, item.event_type || ""),
      el("td", { class: "id", title: item.delivery_id || item.detail }, item.delivery_id || "(" + (item.detail || "no id") + ")"),
    );
    if (item.key === state.selected) row.classList.add("selected");
    row.addEventListener("click", () => select(item.key));
    return row;
  });
  body.replaceChildren(...rows);
  $("list-empty").hidden = rows.length > 0;
  return page.version;
}

// -- one delivery --------------------------------------------------------------------------------------------------

function detailQuery(key) {
  const slash = key.indexOf("/");
  const provider = key.slice(0, slash);
  const id = key.slice(slash + 1);
  if (provider === "request") return "?request=" + encodeURIComponent(id);
  return "?provider=" + encodeURIComponent(provider) + "&id=" + encodeURIComponent(id);
}

async function select(key) {
  state.selected = key;
  for (const row of $("list").tBodies[0].rows) row.classList.toggle("selected", row.dataset.key === key);
  $("action-result").textContent = "";
  await refreshDetail();
}

function pairs(target, entries) {
  const nodes = [];
  for (const [name, value] of entries) {
    if (value === null || value === undefined || value === "") continue;
    nodes.push(el("dt", {}, name), el("dd", {}, value instanceof Node ? value : String(value)));
  }
  target.replaceChildren(...nodes);
}

async function refreshDetail() {
  if (!state.selected) return;
  let detail;
  try {
    detail = await getJson("/delivery" + detailQuery(state.selected));
  } catch (error) {
    $("action-result").textContent = String(error.message || error);
    return;
  }
  state.detail = detail;
  const summary = detail.summary;
  $("detail").hidden = false;
  $("detail-empty").hidden = true;
  $("detail-title").textContent = (summary.provider || "") + " " + (summary.delivery_id || "(rejected request)");
  $("replay-button").disabled = !summary.delivery_id || !detail.archive;
  $("replay-button").title = detail.archive ? "send the archived delivery through the consumer again" : "no archive";
  $("curl-button").disabled = !detail.curl;
  pairs($("detail-summary"), [
    ["status", statusBadge(summary.status)],
    ["detail", summary.detail],
    ["event type", summary.event_type],
    ["ledger", detail.ledger ? detail.ledger.status + (detail.ledger.outcome ? " (" + detail.ledger.outcome + ")" : "") : "no entry"],
    ["attempts", detail.ledger && detail.ledger.attempts],
    ["replays", detail.ledger && detail.ledger.replay_count],
    ["archive", detail.archive ? detail.archive.location + ", " + detail.archive.size + " bytes" : "none"],
    ["note", detail.note],
  ]);
  const verification = detail.verification || {};
  pairs($("detail-verification"), [
    ["result", verification.result ? statusBadge(verification.result) : "not seen by this inbox"],
    ["HTTP status", verification.status],
    ["reason", verification.reason],
    ["detail", verification.detail],
    ["secret version", verification.secret_version],
  ]);
  const events = (detail.timeline || []).map((event) =>
    el(
      "li",
      { "data-what": event.what },
      el("span", { class: "at" }, shortTime(event.at)),
      el("strong", {}, event.what),
      event.detail ? " " + event.detail : "",
      el("span", { class: "src" }, event.source || ""),
    ),
  );
  $("timeline").replaceChildren(...events);
  renderRequest(detail.request);
  $("logs").textContent = (detail.logs || []).map((line) => JSON.stringify(line)).join("\n") || "(none seen)";
  $("curl").textContent = detail.curl || "";
}

function renderRequest(request) {
  if (!request) {
    $("request-source").textContent = "(not seen by this inbox, not archived)";
    $("request-line").textContent = "";
    $("headers").tBodies[0].replaceChildren();
    $("body").textContent = "";
    return;
  }
  $("request-source").textContent = request.source === "archive" ? "(rebuilt from the archive: forwarded headers)" : "(as received)";
  const answer = request.status ? "  ->  " + request.status : "";
  $("request-line").textContent = request.method + " " + request.url + answer;
  $("headers").tBodies[0].replaceChildren(
    ...request.headers.map(([name, value]) => el("tr", {}, el("td", {}, name), el("td", {}, value))),
  );
  let text;
  if (state.bodyView === "pretty") text = request.body_pretty;
  else text = request.body_raw;
  if (text === null || text === undefined) text = request.body_base64 ? "(binary, base64) " + request.body_base64 : "";
  if (request.body_truncated) text += "\n... (" + request.size + " bytes, cut)";
  $("body").textContent = text || "(empty)";
}

// -- actions -------------------------------------------------------------------------------------------------------

async function replay() {
  const summary = state.detail && state.detail.summary;
  if (!summary) return;
  $("replay-button").disabled = true;
  const { ok, answer } = await postJson("/replay", { provider: summary.provider, delivery_id: summary.delivery_id });
  $("action-result").textContent = answer.message || (ok ? "replayed" : "not replayed");
  $("replay-button").disabled = false;
  await refreshDetail();
}

async function copyCurl() {
  const text = state.detail && state.detail.curl;
  if (!text) return;
  try {
    await navigator.clipboard.writeText(text);
    $("action-result").textContent = "curl command copied";
  } catch (error) {
    $("curl").parentElement.open = true; // no clipboard access: show it to copy by hand
    $("action-result").textContent = "select the curl command below to copy it";
  }
}

async function send(event) {
  event.preventDefault();
  const document = { provider: $("send-provider").value, kind: $("send-kind").value, variant: $("send-variant").value };
  $("send-button").disabled = true;
  $("send-result").textContent = "sending...";
  try {
    const { ok, answer } = await postJson("/send", document);
    if (!ok) {
      $("send-result").textContent = answer.message || "not sent";
      return;
    }
    const statuses = answer.sent.map((r) => r.status || r.error).join(", ");
    $("send-result").textContent = answer.provider + " " + answer.kind + " (" + answer.variant + "): HTTP " + statuses;
    await refreshList();
    if (answer.key) await select(answer.key);
  } finally {
    $("send-button").disabled = false;
  }
}

// -- live updates --------------------------------------------------------------------------------------------------

function scheduleRefresh() {
  clearTimeout(state.refreshTimer);
  state.refreshTimer = setTimeout(async () => {
    await refreshList().catch(() => {});
    await refreshDetail().catch(() => {});
  }, 100);
}

function startPolling() {
  if (state.polling) return;
  $("live").textContent = "live (polling)";
  let version = null;
  state.polling = setInterval(async () => {
    try {
      const page = await getJson("/deliveries?" + filterQuery());
      if (page.version !== version) {
        version = page.version;
        scheduleRefresh();
      }
    } catch (error) {
      $("live").textContent = "gateway not answering";
    }
  }, 2000);
}

function startStream() {
  if (!window.EventSource || new URLSearchParams(location.search).has("poll")) {
    startPolling();
    return;
  }
  const source = new EventSource(API + "/stream");
  source.addEventListener("open", () => ($("live").textContent = "live"));
  source.addEventListener("change", scheduleRefresh);
  source.addEventListener("error", () => {
    if (source.readyState === EventSource.CLOSED) {
      startPolling();
    } else {
      $("live").textContent = "reconnecting...";
    }
  });
}

// -- start ---------------------------------------------------------------------------------------------------------

async function loadProviders() {
  const offered = await getJson("/providers");
  const kinds = {};
  $("send-provider").replaceChildren(
    ...offered.providers.map((p) => {
      kinds[p.name] = p.kinds;
      return el("option", { value: p.name }, p.name === p.kind ? p.name : p.name + " (" + p.kind + ")");
    }),
  );
  $("filter-provider").append(...offered.providers.map((p) => el("option", { value: p.name }, p.name)));
  $("filter-status").append(...offered.statuses.map((s) => el("option", { value: s }, s)));
  const showKinds = () =>
    $("send-kind").replaceChildren(...(kinds[$("send-provider").value] || []).map((k) => el("option", { value: k }, k)));
  $("send-provider").addEventListener("change", showKinds);
  if (kinds.github) $("send-provider").value = "github";
  showKinds();
}

document.addEventListener("DOMContentLoaded", async () => {
  $("send-form").addEventListener("submit", send);
  $("filters").addEventListener("input", scheduleRefresh);
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  $("replay-button").addEventListener("click", replay);
  $("curl-button").addEventListener("click", copyCurl);
  for (const view of ["pretty", "raw"]) {
    $("body-" + view + "-tab").addEventListener("click", () => {
      state.bodyView = view;
      $("body-pretty-tab").classList.toggle("active", view === "pretty");
      $("body-raw-tab").classList.toggle("active", view === "raw");
      if (state.detail) renderRequest(state.detail.request);
    });
  }
  await loadProviders();
  await refreshList();
  startStream();
  document.body.dataset.ready = "1";
});
