/**
 * The status page's script: the secret (from the URL fragment or
 * `sessionStorage`, never from the server), the `GET /status` poll every 2 s,
 * number formats, and the totals, banners and state summary. The charts and
 * the shards view are sections of their own (`charts_script.ts`,
 * `shards_script.ts`) that run in the same scope.
 * @module
 */

/**
 * The page's whole script, one strict-mode function scope: this core, then `sections`
 * (which may use the core's helpers and must define `renderChart` and `renderShards`),
 * then the start, which reads the secret and begins polling.
 */
export function pageScript(...sections: string[]): string {
  return '(function () {\n  "use strict";\n' + CORE + sections.join("") + START + "})();\n";
}

// String.raw keeps the backslashes of the inline JS. The JS must not contain backticks or
// dollar-brace sequences.
const CORE = String.raw`  var STORAGE_KEY = "gateway-proxy.api-secret";
  var POLL_MS = 2000;
  var FETCH_TIMEOUT_MS = 5000;
  var WORKERS_LISTED = 8;
  var STATE_ORDER = ["connected", "resuming", "identifying", "connecting", "disconnected", "offline", "unidentified"];

  var secret = null;
  var generation = 0;
  var timer = 0;
  var inflight = null;
  var lastGeneratedAt = 0;
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
          renderTimed(snap);
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

  // The first render builds an element per shard, the page's heaviest moment: its time,
  // layout included, goes on the page (data-render-ms) so a test can hold the page to
  // "1,000 shards within a second" without timing the network.
  function renderTimed(snap) {
    var t0 = performance.now();
    render(snap);
    var dash = $("dash");
    if (dash.hasAttribute("data-render-ms")) return;
    void document.body.offsetHeight;
    dash.setAttribute("data-render-ms", (performance.now() - t0).toFixed(1));
  }

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
    if (ws.length > 0) text("workers", workersLine(ws));

    renderSummary(shards);
    renderShards(shards, snap);

    var hist = Array.isArray(snap.history) ? snap.history : [];
    renderChart("eps", hist, "eventsPerSecond", snap.generatedAt, rate);
    renderChart("qd", hist, "queueDepth", snap.generatedAt, big);
  }

  function workerLine(w) {
    return "#" + w.index + " shards " + w.firstShardId + "-" + w.lastShardId + " " + w.state +
      ", " + big(w.events) + " events, heap " + Math.round(w.heapUsed / 1048576) + " MiB" +
      (w.restarts ? ", " + w.restarts + " restarts" : "");
  }

  // A few workers one by one; many in one sum, naming only those not running.
  function workersLine(ws) {
    if (ws.length <= WORKERS_LISTED) return "Workers: " + ws.map(workerLine).join(" · ");
    var events = 0;
    var heap = 0;
    ws.forEach(function (w) { events += w.events || 0; heap += w.heapUsed || 0; });
    var odd = ws.filter(function (w) { return w.state !== "running"; });
    return "Workers: " + ws.length + ", " + (ws.length - odd.length) + " running, " + big(events) +
      " events, heap " + Math.round(heap / 1048576) + " MiB in all" +
      (odd.length ? " · " + odd.map(workerLine).join(" · ") : "");
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

`;

const START = String
  .raw`  // ---- start ---------------------------------------------------------------

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
`;
