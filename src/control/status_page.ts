/**
 * The human status page served at `GET /`: one self-contained HTML document
 * (inline CSS and JS, no external resources) that polls `GET /status` every
 * 2 s and draws totals, shard tiles and two small history charts.
 *
 * The API secret is never part of the HTML. The page reads it from the URL
 * fragment (`#key=SECRET`, which browsers do not send to the server), else
 * from `sessionStorage`, else asks for it; it keeps it in `sessionStorage`
 * only, strips it from the address bar, and sends it as the raw
 * `Authorization` header on every fetch.
 * @module
 */

import type { ReshardStatus } from "../reshard/resharder.ts";
import type { WorkerInfo } from "../workers/worker_set.ts";
import type { ShardStateName } from "../gateway/group.ts";

/** Connection state of one shard, as reported by `GET /status` (the shard group's names). */
export type ShardState = ShardStateName;

/** One shard in a {@linkcode StatusSnapshot}. */
export interface ShardStatus {
  id: number;
  /** Shard count of the set this shard belongs to (it changes with a reshard). */
  totalShards: number;
  state: ShardState;
  /** Last heartbeat round trip; `null` before the first ACK. */
  latencyMs: number | null;
  guilds: number;
  /** Guilds Discord reports as unavailable (outage). */
  unavailable: number;
  /** Guilds announced in READY whose GUILD_CREATE has not arrived yet. */
  loading: number;
  sessionId: string | null;
  /** Epoch ms of the last dispatch received; `null` if none yet. */
  lastEventAt: number | null;
  eventsPerSecond: number;
  /** Events waiting for delivery, held in memory and spilled to disk. */
  queue: { memory: number; disk: number };
  /** In a cluster on Redis: the process holding the shard (absent: none holds it now). */
  member?: string;
  /** In a cluster: ms since the holder last confirmed the shard's lease. */
  leaseAgeMs?: number;
}

/** One point of the status history (one every 5 s, last 10 minutes). */
export interface StatusHistoryPoint {
  /** Epoch ms. */
  at: number;
  eventsPerSecond: number;
  queueDepth: number;
}

/** The JSON body of `GET /status`. */
export interface StatusSnapshot {
  /** Epoch ms when the snapshot was taken. */
  generatedAt: number;
  /** The shard ids this process runs (`first..last`) out of `total`. */
  range: { first: number; last: number; total: number };
  shards: ShardStatus[];
  totals: {
    received: number;
    delivered: number;
    dropped: number;
    deferred: number;
    deadLettered: number;
    queuedMemory: number;
    queuedDisk: number;
    /** Age of the oldest undelivered event; 0 when nothing is queued. */
    backlogAgeMs: number;
  };
  /** Oldest first. */
  history: StatusHistoryPoint[];
  /** Why the event handler is not taking events, while it is not. */
  handler?: HandlerStatus;
  /** Where resharding stands (see `GET /reshard`). */
  reshard?: ReshardStatus;
  /** The worker threads holding the shards (`TOTAL_WORKERS`); absent or empty without them. */
  workers?: WorkerInfo[];
}

/** The event handler's trouble, as `GET /status` reports it. */
export interface HandlerStatus {
  /** `unavailable`: a setting is wrong (3xx, 401, 403, 404, 405); `failing`: errors, 5xx, down. */
  kind: "unavailable" | "failing";
  status?: number;
  /** What to check. */
  hint: string;
  /** Epoch ms of the first failure in this stretch. */
  since: number;
}

/**
 * The status page. A constant: it holds no data and no secret, so it can be
 * served to anyone; everything it shows comes from the authenticated
 * `GET /status`. Serve it as `text/html; charset=utf-8`.
 */
export function statusPageHtml(): string {
  return PAGE;
}

// String.raw keeps backslashes in the inline JS literal. The JS below must not
// contain backticks or dollar-brace sequences.
const PAGE = String.raw`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<meta name="referrer" content="no-referrer">
<title>Gateway proxy status</title>
<style>
:root {
  --bg: #f4f6f9; --panel: #ffffff; --text: #18202b; --muted: #5d6877; --border: #dce1e8;
  --ok: #17924c; --ok-bg: #e6f5ec; --warn: #b86e00; --warn-bg: #fff3d9;
  --bad: #cf2f3a; --bad-bg: #fde9ea; --idle: #7b8594; --idle-bg: #eceff3;
  --line: #3567d6; --fill: rgba(53, 103, 214, .12); --grid: #e6e9ee;
}
@media (prefers-color-scheme: dark) {
  :root {
    --bg: #11151b; --panel: #1a2029; --text: #e6eaf0; --muted: #97a2b2; --border: #2b3340;
    --ok: #3ccf7c; --ok-bg: #16301f; --warn: #f0ac3c; --warn-bg: #372a12;
    --bad: #ff6b73; --bad-bg: #3a1a1d; --idle: #8e98a7; --idle-bg: #242b35;
    --line: #6f9bff; --fill: rgba(111, 155, 255, .15); --grid: #262d38;
  }
}
* { box-sizing: border-box; }
[hidden] { display: none !important; }
html, body { margin: 0; }
body {
  background: var(--bg); color: var(--text);
  font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  font-variant-numeric: tabular-nums;
}
.wrap { max-width: 1240px; margin: 0 auto; padding: 0 20px 24px; }
.top {
  display: flex; flex-wrap: wrap; align-items: center; justify-content: space-between;
  gap: 8px 16px; padding: 16px 0 12px;
}
.top h1 { font-size: 20px; margin: 0; font-weight: 650; letter-spacing: -.01em; }
.title { display: flex; align-items: baseline; flex-wrap: wrap; gap: 4px 12px; }
.muted { color: var(--muted); }
.meta { display: flex; align-items: center; flex-wrap: wrap; gap: 8px 12px; font-size: 13px; }
.pill {
  display: inline-flex; align-items: center; gap: 6px; padding: 2px 10px; border-radius: 999px;
  font-weight: 600; font-size: 12px; background: var(--idle-bg); color: var(--idle);
}
.pill::before { content: ""; width: 8px; height: 8px; border-radius: 50%; background: currentColor; }
.pill.ok { background: var(--ok-bg); color: var(--ok); }
.pill.bad { background: var(--bad-bg); color: var(--bad); }
button {
  font: inherit; cursor: pointer; border-radius: 6px; border: 1px solid var(--border);
  background: var(--panel); color: var(--text); padding: 4px 10px;
}
button:hover { border-color: var(--muted); }
.banner {
  margin: 0 0 14px; padding: 10px 14px; border-radius: 8px; font-weight: 600;
  background: var(--bad-bg); color: var(--bad); border: 1px solid var(--bad);
}
.panel { background: var(--panel); border: 1px solid var(--border); border-radius: 10px; }
#auth-panel { max-width: 420px; margin: 48px auto; padding: 20px 22px; }
#auth-panel h2 { margin: 0 0 6px; font-size: 17px; }
#auth-panel p { margin: 0 0 12px; }
#auth-panel .error { color: var(--bad); font-weight: 600; }
#auth-panel .row { display: flex; gap: 8px; }
#auth-panel input {
  flex: 1; min-width: 0; font: inherit; padding: 7px 10px; border-radius: 6px;
  border: 1px solid var(--border); background: var(--bg); color: var(--text);
}
#auth-panel button { background: var(--line); border-color: var(--line); color: #fff; padding: 7px 14px; }
#dash.stale { opacity: .55; }
.totals {
  display: grid; grid-template-columns: repeat(auto-fit, minmax(132px, 1fr)); gap: 10px; margin: 0 0 14px;
}
.stat { padding: 10px 12px; }
.stat .k { font-size: 12px; color: var(--muted); text-transform: uppercase; letter-spacing: .04em; }
.stat .v { font-size: 21px; font-weight: 650; margin-top: 2px; white-space: nowrap; }
.stat .sub { font-size: 12px; color: var(--muted); min-height: 17px; }
.stat.bad .v { color: var(--bad); }
.stat.warn .v { color: var(--warn); }
.charts {
  display: grid; grid-template-columns: repeat(auto-fit, minmax(300px, 1fr)); gap: 10px; margin: 0 0 18px;
}
.chart { margin: 0; padding: 10px 12px 8px; }
.chart figcaption { display: flex; justify-content: space-between; gap: 8px; font-weight: 600; }
.chart figcaption .now { color: var(--line); }
.plot { position: relative; height: 110px; margin-top: 6px; }
.plot svg { display: block; width: 100%; height: 100%; overflow: visible; }
.plot .gridline { stroke: var(--grid); stroke-width: 1; vector-effect: non-scaling-stroke; }
.plot .area { fill: var(--fill); stroke: none; }
.plot .line {
  fill: none; stroke: var(--line); stroke-width: 2; vector-effect: non-scaling-stroke;
  stroke-linejoin: round; stroke-linecap: round;
}
.plot .ymax { position: absolute; top: -2px; left: 2px; font-size: 11px; color: var(--muted); }
.plot .empty {
  position: absolute; inset: 0; display: flex; align-items: center; justify-content: center;
  color: var(--muted); font-size: 13px;
}
.xaxis { display: flex; justify-content: space-between; font-size: 11px; color: var(--muted); margin-top: 3px; }
.section-head { display: flex; flex-wrap: wrap; align-items: baseline; gap: 4px 14px; margin: 0 0 8px; }
.section-head h2 { font-size: 15px; margin: 0; }
.summary { display: flex; flex-wrap: wrap; gap: 4px 12px; font-size: 13px; color: var(--muted); }
.summary span::before {
  content: ""; display: inline-block; width: 8px; height: 8px; border-radius: 50%;
  margin-right: 5px; background: var(--c, var(--idle));
}
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(150px, 1fr)); gap: 8px; }
.shard {
  --c: var(--idle); --cb: var(--idle-bg);
  background: var(--panel); border: 1px solid var(--border); border-left: 4px solid var(--c);
  border-radius: 8px; padding: 8px 10px; min-width: 0;
}
.shard[data-state="connected"], .summary [data-state="connected"] { --c: var(--ok); --cb: var(--ok-bg); }
.shard[data-state="connecting"], .shard[data-state="identifying"], .shard[data-state="resuming"],
.summary [data-state="connecting"], .summary [data-state="identifying"],
.summary [data-state="resuming"] { --c: var(--warn); --cb: var(--warn-bg); }
.shard[data-state="disconnected"], .shard[data-state="offline"],
.summary [data-state="disconnected"], .summary [data-state="offline"] { --c: var(--bad); --cb: var(--bad-bg); }
.shard .hd { display: flex; justify-content: space-between; align-items: center; gap: 6px; }
.shard .id { font-weight: 700; font-size: 15px; }
.shard .st {
  font-size: 11px; font-weight: 650; padding: 1px 7px; border-radius: 999px;
  background: var(--cb); color: var(--c); white-space: nowrap; overflow: hidden; text-overflow: ellipsis;
}
.shard .lat { font-size: 13px; margin-top: 4px; }
.shard .gu { font-size: 13px; }
.shard .gx { font-size: 12px; color: var(--warn); min-height: 17px; }
.shard .ft {
  display: flex; justify-content: space-between; gap: 6px; font-size: 12px; color: var(--muted);
  border-top: 1px solid var(--border); margin-top: 6px; padding-top: 5px;
}
.shard .ft .q.nonzero { color: var(--text); font-weight: 600; }
.shard .ft .q.disk { color: var(--warn); }
.foot { margin-top: 18px; font-size: 12px; color: var(--muted); }
@media (max-width: 520px) {
  .wrap { padding: 0 12px 20px; }
  .stat .v { font-size: 19px; }
  .grid { grid-template-columns: repeat(2, minmax(0, 1fr)); }
}
</style>
</head>
<body>
<div class="wrap">
  <header class="top">
    <div class="title">
      <h1>Gateway proxy</h1>
      <span id="range" class="muted"></span>
    </div>
    <div class="meta">
      <span id="conn" class="pill">starting</span>
      <span id="updated" class="muted"></span>
      <button id="forget" type="button" hidden>Forget secret</button>
    </div>
  </header>

  <div id="banner" class="banner" role="alert" hidden></div>
  <div id="handler" class="banner" role="status" hidden></div>
  <div id="reshard" class="banner" role="status" hidden></div>
  <div id="workers" class="muted" hidden></div>

  <section id="auth-panel" class="panel" hidden>
    <form id="auth" autocomplete="off">
      <h2>API secret</h2>
      <p id="auth-msg" class="muted">Enter the proxy's API secret to see its status. It is kept in this tab only.</p>
      <div class="row">
        <input id="secret" type="password" name="secret" placeholder="secret" aria-label="API secret" required>
        <button type="submit">Connect</button>
      </div>
    </form>
  </section>

  <main id="dash" hidden>
    <section class="totals" aria-label="Totals">
      <div class="panel stat"><div class="k">Events/s</div><div class="v" id="t-eps">–</div><div class="sub" id="t-eps-sub"></div></div>
      <div class="panel stat"><div class="k">Received</div><div class="v" id="t-received">–</div><div class="sub"></div></div>
      <div class="panel stat"><div class="k">Delivered</div><div class="v" id="t-delivered">–</div><div class="sub"></div></div>
      <div class="panel stat" id="c-dropped"><div class="k">Dropped</div><div class="v" id="t-dropped">–</div><div class="sub"></div></div>
      <div class="panel stat" id="c-deferred"><div class="k">Deferred</div><div class="v" id="t-deferred">–</div><div class="sub"></div></div>
      <div class="panel stat" id="c-dead"><div class="k">Dead-lettered</div><div class="v" id="t-dead">–</div><div class="sub"></div></div>
      <div class="panel stat" id="c-queued"><div class="k">Queued</div><div class="v" id="t-queued">–</div><div class="sub" id="t-queued-sub"></div></div>
      <div class="panel stat" id="c-backlog"><div class="k">Backlog age</div><div class="v" id="t-backlog">–</div><div class="sub"></div></div>
    </section>

    <section class="charts">
      <figure class="panel chart">
        <figcaption><span>Events per second</span><span class="now" id="eps-now"></span></figcaption>
        <div class="plot" id="eps-plot"></div>
        <div class="xaxis"><span id="eps-from"></span><span>now</span></div>
      </figure>
      <figure class="panel chart">
        <figcaption><span>Queue depth</span><span class="now" id="qd-now"></span></figcaption>
        <div class="plot" id="qd-plot"></div>
        <div class="xaxis"><span id="qd-from"></span><span>now</span></div>
      </figure>
    </section>

    <section>
      <div class="section-head">
        <h2>Shards</h2>
        <div class="summary" id="summary"></div>
      </div>
      <div class="grid" id="shards"></div>
    </section>
    <div class="foot">Refreshes every 2 s from <code>/status</code>.</div>
  </main>
</div>

<script>
(function () {
  "use strict";
  var STORAGE_KEY = "gateway-proxy.api-secret";
  var POLL_MS = 2000;
  var FETCH_TIMEOUT_MS = 5000;
  var SVG_NS = "http://www.w3.org/2000/svg";
  var STATE_ORDER = ["connected", "resuming", "identifying", "connecting", "disconnected", "offline", "unidentified"];

  var secret = null;
  var generation = 0;
  var timer = 0;
  var inflight = null;
  var lastGeneratedAt = 0;
  var tiles = new Map();
  var nf = new Intl.NumberFormat();
  var compact = new Intl.NumberFormat(undefined, { notation: "compact", maximumFractionDigits: 1 });

  function $(id) { return document.getElementById(id); }
  function text(id, value) { $(id).textContent = value; }

  // ---- secret handling -----------------------------------------------------

  function storageGet() {
    try { return sessionStorage.getItem(STORAGE_KEY); } catch (_) { return null; }
  }
  function storageSet(v) {
    try { sessionStorage.setItem(STORAGE_KEY, v); } catch (_) { /* private mode: keep in memory */ }
  }
  function storageClear() {
    try { sessionStorage.removeItem(STORAGE_KEY); } catch (_) { /* ignore */ }
  }

  function secretFromFragment() {
    var hash = location.hash.replace(/^#/, "");
    if (!hash) return null;
    var m = /(?:^|&)key=([^&]*)/.exec(hash);
    if (!m) return null;
    var raw = m[1];
    try { raw = decodeURIComponent(raw); } catch (_) { /* keep raw */ }
    return raw;
  }

  function stripFragment() {
    try {
      history.replaceState(history.state, "", location.pathname + location.search);
    } catch (_) {
      location.hash = "";
    }
  }

  function usableAsHeader(v) {
    if (!v) return false;
    try { new Headers({ Authorization: v }); return true; } catch (_) { return false; }
  }

  function showAuth(message, isError) {
    stopPolling();
    secret = null;
    $("dash").hidden = true;
    $("banner").hidden = true;
    $("forget").hidden = true;
    setConn("", "signed out");
    text("updated", "");
    var msg = $("auth-msg");
    msg.textContent = message;
    msg.className = isError ? "error" : "muted";
    $("auth-panel").hidden = false;
    var input = $("secret");
    input.value = "";
    input.focus();
  }

  function useSecret(v) {
    secret = v;
    storageSet(v);
    $("auth-panel").hidden = true;
    $("forget").hidden = false;
    startPolling();
  }

  $("auth").addEventListener("submit", function (ev) {
    ev.preventDefault();
    var v = $("secret").value.trim();
    if (!usableAsHeader(v)) {
      showAuth("That secret contains characters that cannot be sent in an HTTP header.", true);
      return;
    }
    useSecret(v);
  });

  $("forget").addEventListener("click", function () {
    storageClear();
    showAuth("Secret forgotten. Enter it again to reconnect.", false);
  });

  // ---- polling -------------------------------------------------------------

  function stopPolling() {
    generation++;
    clearTimeout(timer);
    if (inflight) inflight.abort();
    inflight = null;
  }

  function startPolling() {
    stopPolling();
    setConn("", "connecting…");
    poll(generation);
  }

  function schedule(gen) {
    if (gen === generation) timer = setTimeout(function () { poll(gen); }, POLL_MS);
  }

  function poll(gen) {
    var ctrl = new AbortController();
    inflight = ctrl;
    var killer = setTimeout(function () { ctrl.abort(); }, FETCH_TIMEOUT_MS);
    fetch("/status", {
      headers: { Authorization: secret },
      cache: "no-store",
      credentials: "omit",
      signal: ctrl.signal,
    }).then(function (res) {
      if (gen !== generation) return null;
      if (res.status === 401) {
        storageClear();
        showAuth("Wrong secret: the proxy answered 401 Unauthorized. Enter it again.", true);
        return null;
      }
      if (!res.ok) throw new Error("the proxy answered HTTP " + res.status);
      return res.json().then(function (snap) {
        if (gen !== generation) return;
        try {
          render(snap);
        } catch (e) {
          throw new Error("unexpected /status response (" + (e && e.message || e) + ")");
        }
        lastGeneratedAt = snap.generatedAt;
        setOnline();
        schedule(gen);
      });
    }).catch(function (err) {
      if (gen !== generation) return;
      var reason = err && err.name === "AbortError" ? "request timed out"
        : err instanceof TypeError ? "cannot reach the proxy"
        : (err && err.message) || String(err);
      setOffline(reason);
      schedule(gen);
    }).finally(function () {
      clearTimeout(killer);
      if (inflight === ctrl) inflight = null;
    });
  }

  function setConn(cls, label) {
    var el = $("conn");
    el.className = "pill" + (cls ? " " + cls : "");
    el.textContent = label;
  }

  function setOnline() {
    setConn("ok", "live");
    $("banner").hidden = true;
    $("dash").classList.remove("stale");
  }

  function setOffline(reason) {
    setConn("bad", "disconnected");
    var b = $("banner");
    var since = lastGeneratedAt ? " Last update " + new Date(lastGeneratedAt).toLocaleTimeString() + "." : "";
    b.textContent = "Disconnected: " + reason + ". Retrying every " + POLL_MS / 1000 + " s." + since;
    b.hidden = false;
    $("dash").classList.add("stale");
  }

  // ---- formatting ----------------------------------------------------------

  function num(v) { return typeof v === "number" && isFinite(v) ? nf.format(v) : "–"; }
  // Big counters: exact up to 10 million, then "12.3M" (exact value in the tooltip).
  function big(v) {
    if (typeof v !== "number" || !isFinite(v)) return "–";
    return Math.abs(v) < 1e7 ? nf.format(v) : compact.format(v);
  }
  function counter(id, v) {
    text(id, big(v));
    $(id).setAttribute("title", num(v));
  }
  function rate(v) {
    if (typeof v !== "number" || !isFinite(v)) return "–";
    return v >= 100 ? nf.format(Math.round(v)) : (Math.round(v * 10) / 10).toLocaleString(undefined, { minimumFractionDigits: v === 0 ? 0 : 1 });
  }
  function dur(ms) {
    if (typeof ms !== "number" || !isFinite(ms)) return "–";
    if (ms < 1000) return Math.max(0, Math.round(ms)) + " ms";
    var s = ms / 1000;
    if (s < 60) return (s < 10 ? s.toFixed(1) : String(Math.floor(s))) + " s";
    var m = Math.floor(s / 60);
    if (m < 60) return m + " min " + Math.floor(s % 60) + " s";
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  }
  function plural(n, word) { return num(n) + " " + word + (n === 1 ? "" : "s"); }

  // ---- rendering -----------------------------------------------------------

  function render(snap) {
    if (!snap || !Array.isArray(snap.shards) || !snap.totals) throw new Error("missing shards/totals");
    var t = snap.totals;
    var shards = snap.shards.slice().sort(function (a, b) { return a.id - b.id; });
    var r = snap.range || {};

    text("range", "shards " + num(r.first) + "–" + num(r.last) + " of " + num(r.total));
    text("updated", "updated " + new Date(snap.generatedAt).toLocaleTimeString());
    $("dash").hidden = false;

    var eps = 0;
    shards.forEach(function (s) { eps += Number(s.eventsPerSecond) || 0; });
    text("t-eps", rate(eps));
    text("t-eps-sub", plural(shards.length, "shard"));
    counter("t-received", t.received);
    counter("t-delivered", t.delivered);
    counter("t-dropped", t.dropped);
    counter("t-deferred", t.deferred);
    counter("t-dead", t.deadLettered);
    counter("t-queued", (t.queuedMemory || 0) + (t.queuedDisk || 0));
    text("t-queued-sub", "mem " + big(t.queuedMemory) + " · disk " + big(t.queuedDisk));
    text("t-backlog", t.backlogAgeMs > 0 ? dur(t.backlogAgeMs) : "none");
    $("c-dropped").classList.toggle("bad", t.dropped > 0);
    $("c-dead").classList.toggle("bad", t.deadLettered > 0);
    $("c-deferred").classList.toggle("warn", t.deferred > 0);
    $("c-queued").classList.toggle("warn", (t.queuedDisk || 0) > 0);
    $("c-backlog").classList.toggle("warn", t.backlogAgeMs >= 10000);

    var h = snap.handler;
    $("handler").hidden = !h;
    if (h) {
      text("handler", "Event handler " + (h.kind === "unavailable" ? "unavailable" : "failing") +
        (h.status ? " (HTTP " + h.status + ")" : "") + " for " + dur(snap.generatedAt - h.since) +
        ": " + h.hint + ". Events are held, not dropped.");
    }

    var rs = snap.reshard;
    var showReshard = rs && (rs.state === "preparing" || rs.state === "switching" ||
      ((rs.state === "done" || rs.state === "failed") && snap.generatedAt - rs.finishedAt < 600000));
    $("reshard").hidden = !showReshard;
    if (showReshard) {
      text("reshard", "Reshard " + rs.from + " -> " + rs.to + " (" + rs.reason + "): " +
        (rs.state === "preparing" ? "preparing, " + rs.ready + "/" + rs.to + " new shards ready"
          : rs.state === "switching" ? "switching, both sets deliver, each event once"
          : rs.state === "done" ? "done " + dur(snap.generatedAt - rs.finishedAt) + " ago"
          : "failed: " + rs.error));
    }

    var ws = Array.isArray(snap.workers) ? snap.workers : [];
    $("workers").hidden = ws.length === 0;
    if (ws.length > 0) {
      text("workers", "Workers: " + ws.map(function (w) {
        return "#" + w.index + " shards " + w.firstShardId + "-" + w.lastShardId + " " + w.state +
          ", " + big(w.events) + " events, heap " + Math.round(w.heapUsed / 1048576) + " MiB" +
          (w.restarts ? ", " + w.restarts + " restarts" : "");
      }).join(" · "));
    }

    renderSummary(shards);
    renderShards(shards, snap.generatedAt);

    var hist = Array.isArray(snap.history) ? snap.history : [];
    renderChart("eps", hist, "eventsPerSecond", snap.generatedAt, rate);
    renderChart("qd", hist, "queueDepth", snap.generatedAt, big);
  }

  function renderSummary(shards) {
    var counts = {};
    shards.forEach(function (s) { counts[s.state] = (counts[s.state] || 0) + 1; });
    var box = $("summary");
    box.textContent = "";
    var states = STATE_ORDER.slice();
    Object.keys(counts).forEach(function (k) { if (states.indexOf(k) < 0) states.push(k); });
    states.forEach(function (state) {
      if (!counts[state]) return;
      var span = document.createElement("span");
      span.setAttribute("data-state", state);
      span.textContent = counts[state] + " " + state;
      box.appendChild(span);
    });
    var up = counts.connected || 0;
    document.title = (up === shards.length ? "" : "⚠ ") + up + "/" + shards.length + " connected · Gateway proxy";
  }

  function el(tag, cls) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    return e;
  }

  function makeTile() {
    var tile = el("div", "shard");
    var hd = el("div", "hd");
    var parts = { id: el("span", "id"), st: el("span", "st"), lat: el("div", "lat"), gu: el("div", "gu"),
      gx: el("div", "gx"), eps: el("span", "eps"), q: el("span", "q") };
    hd.appendChild(parts.id);
    hd.appendChild(parts.st);
    var ft = el("div", "ft");
    ft.appendChild(parts.eps);
    ft.appendChild(parts.q);
    tile.appendChild(hd);
    tile.appendChild(parts.lat);
    tile.appendChild(parts.gu);
    tile.appendChild(parts.gx);
    tile.appendChild(ft);
    return { tile: tile, parts: parts };
  }

  function renderShards(shards, now) {
    var grid = $("shards");
    var seen = new Set();
    shards.forEach(function (s) {
      var key = String(s.id);
      seen.add(key);
      var entry = tiles.get(key);
      if (!entry) { entry = makeTile(); tiles.set(key, entry); }
      var p = entry.parts;
      var tile = entry.tile;
      tile.setAttribute("data-shard-id", key);
      tile.setAttribute("data-state", String(s.state));
      p.id.textContent = "#" + key;
      p.st.textContent = String(s.state);
      p.lat.textContent = s.latencyMs == null ? "latency –" : "latency " + num(Math.round(s.latencyMs)) + " ms";
      p.gu.textContent = plural(s.guilds, "guild");
      var extra = [];
      if (s.unavailable > 0) extra.push(num(s.unavailable) + " unavailable");
      if (s.loading > 0) extra.push(num(s.loading) + " loading");
      p.gx.textContent = extra.join(" · ");
      p.eps.textContent = rate(s.eventsPerSecond) + " ev/s";
      var q = s.queue || { memory: 0, disk: 0 };
      var depth = (q.memory || 0) + (q.disk || 0);
      p.q.textContent = "queue " + num(depth);
      p.q.classList.toggle("nonzero", depth > 0);
      p.q.classList.toggle("disk", (q.disk || 0) > 0);
      var tip = "Shard " + key + ": " + s.state;
      tip += "\nsession " + (s.sessionId == null ? "none" : s.sessionId);
      tip += "\nlast event " + (s.lastEventAt == null ? "never" : dur(now - s.lastEventAt) + " ago");
      tip += "\nqueue " + num(q.memory) + " in memory, " + num(q.disk) + " on disk";
      tile.setAttribute("title", tip);
      grid.appendChild(tile); // (re)appending keeps the id order
    });
    tiles.forEach(function (entry, key) {
      if (!seen.has(key)) { entry.tile.remove(); tiles.delete(key); }
    });
  }

  function niceMax(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log10(v)));
    var steps = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < steps.length; i++) if (steps[i] * p >= v) return steps[i] * p;
    return 10 * p;
  }

  function svgEl(tag, attrs) {
    var e = document.createElementNS(SVG_NS, tag);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    return e;
  }

  function renderChart(prefix, hist, field, now, fmt) {
    var W = 600, H = 100;
    var plot = $(prefix + "-plot");
    plot.textContent = "";
    var pts = hist.filter(function (h) {
      return h && typeof h.at === "number" && typeof h[field] === "number" && isFinite(h[field]);
    });
    text(prefix + "-now", pts.length ? fmt(pts[pts.length - 1][field]) : "");
    var svg = svgEl("svg", { viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", "aria-hidden": "true" });
    [0, H / 2, H].forEach(function (y) {
      svg.appendChild(svgEl("line", { x1: 0, x2: W, y1: y, y2: y, class: "gridline" }));
    });
    plot.appendChild(svg);
    if (pts.length === 0) {
      var empty = el("div", "empty");
      empty.textContent = "no history yet";
      plot.appendChild(empty);
      text(prefix + "-from", "");
      return;
    }
    var t0 = pts[0].at;
    var t1 = Math.max(pts[pts.length - 1].at, t0 + 1);
    var max = 0;
    pts.forEach(function (h) { if (h[field] > max) max = h[field]; });
    max = niceMax(max);
    function x(at) { return pts.length === 1 ? 0 : ((at - t0) / (t1 - t0)) * W; }
    function y(v) { return H - (Math.max(0, v) / max) * H; }
    var coords = pts.map(function (h) { return x(h.at).toFixed(1) + "," + y(h[field]).toFixed(1); });
    if (pts.length === 1) coords.push(W + "," + y(pts[0][field]).toFixed(1));
    var first = coords[0].split(",")[0];
    var last = coords[coords.length - 1].split(",")[0];
    svg.appendChild(svgEl("polygon", { class: "area", points: first + "," + H + " " + coords.join(" ") + " " + last + "," + H }));
    svg.appendChild(svgEl("polyline", { class: "line", points: coords.join(" ") }));
    var ymax = el("span", "ymax");
    ymax.textContent = big(max);
    plot.appendChild(ymax);
    var span = Math.max(0, (typeof now === "number" ? now : t1) - t0);
    text(prefix + "-from", span > 0 ? dur(span) + " ago" : "");
  }

  // ---- start ---------------------------------------------------------------

  var fromFragment = secretFromFragment();
  if (fromFragment !== null) stripFragment();
  var initial = fromFragment !== null ? fromFragment : storageGet();
  if (initial && usableAsHeader(initial)) {
    useSecret(initial);
  } else {
    if (initial) storageClear();
    showAuth(
      initial ? "That secret contains characters that cannot be sent in an HTTP header." :
        "Enter the proxy's API secret to see its status. It is kept in this tab only.",
      Boolean(initial),
    );
  }
})();
</script>
</body>
</html>
`;
