/**
 * The status page's shards view. Up to 48 shards: a card each, in id order,
 * as it always was. More (a big bot has 1,000): a small cell each, coloured by
 * state, worst first, with filters by state, worker and host (cluster member),
 * the facts on hover, and in a panel on click. Cards and cells both carry
 * class `shard`, `data-shard-id` and `data-state`, so tests count them alike.
 * Filters and the picked shard live in the query string
 * (`?state=problem&worker=2&member=host-a&shard=17`; `member=-`: none holds it).
 * Everything comes from the one `/status` poll: no request per shard.
 * @module
 */

/** A section of the page's script (see `pageScript`): defines `renderShards`. */
export const SHARDS_SCRIPT = String
  .raw`  // ---- shards: a card each for a few, a cell each for many -----------------

  // Up to this many shards get a card each; more get a small cell each, worst first.
  var CARDS_MAX = 48;
  // Worst first: down, then on the way up, then connected; a state not listed comes first.
  var STATE_RANK = { offline: 0, disconnected: 1, unidentified: 2, identifying: 3, connecting: 4,
    resuming: 5, connected: 6 };
  var FILTERS = ["state", "worker", "member"];

  var tiles = new Map();
  var cells = new Map();
  var cellOrder = "";
  var picked = null;
  // The last snapshot's shards by id, with their worker: what hover and click show.
  var latest = new Map();
  var latestNow = 0;
  var clustered = false;
  var optionKeys = { state: "", worker: "", member: "" };
  // Filters and the shard shown in full live in the query string, so a view can be shared.
  var view = readView();

  function readView() {
    var q = new URLSearchParams(location.search);
    return { state: q.get("state") || "", worker: q.get("worker") || "",
      member: q.get("member") || "", shard: q.get("shard") || "" };
  }

  function writeView() {
    var q = new URLSearchParams(location.search);
    FILTERS.concat(["shard"]).forEach(function (k) {
      if (view[k]) q.set(k, view[k]); else q.delete(k);
    });
    var search = q.toString();
    try {
      history.replaceState(history.state, "", location.pathname + (search ? "?" + search : ""));
    } catch (_) { /* the view still applies, only the address does not show it */ }
  }

  function renderShards(shards, snap) {
    var many = shards.length > CARDS_MAX;
    $("shards").hidden = many;
    $("cells").hidden = !many;
    $("tools").hidden = !many;
    if (many) {
      tiles.forEach(function (entry) { entry.tile.remove(); });
      tiles.clear();
      renderCells(shards, Array.isArray(snap.workers) ? snap.workers : [], snap.generatedAt);
    } else {
      cells.forEach(function (cell) { cell.remove(); });
      cells.clear();
      cellOrder = "";
      latest = new Map();
      renderFacts();
      renderCards(shards, snap.generatedAt);
    }
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

  function renderCards(shards, now) {
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


  function rank(state) {
    return Object.prototype.hasOwnProperty.call(STATE_RANK, state) ? STATE_RANK[state] : -1;
  }
  function worstFirst(a, b) { return rank(a.state) - rank(b.state) || a.id - b.id; }

  function workerOf(id, workers) {
    for (var i = 0; i < workers.length; i++) {
      if (id >= workers[i].firstShardId && id <= workers[i].lastShardId) return workers[i];
    }
    return null;
  }

  function renderCells(shards, workers, now) {
    latestNow = now;
    clustered = shards.some(function (s) { return s.member !== undefined; });
    latest = new Map();
    var sorted = shards.slice().sort(worstFirst);
    var byState = {};
    var byMember = {};
    sorted.forEach(function (s) {
      latest.set(String(s.id), { s: s, w: workerOf(s.id, workers) });
      byState[s.state] = (byState[s.state] || 0) + 1;
      var m = s.member || "-";
      byMember[m] = (byMember[m] || 0) + 1;
    });
    setOptions("state", stateOptions(byState, shards.length));
    setOptions("worker", workers.length ? workerOptions(workers) : null);
    setOptions("member", clustered ? memberOptions(byMember) : null);

    var order = [];
    var shown = 0;
    sorted.forEach(function (s) {
      var key = String(s.id);
      var cell = cells.get(key);
      if (!cell) {
        cell = el("span", "shard");
        cell.setAttribute("data-shard-id", key);
        cell.setAttribute("role", "listitem");
        cells.set(key, cell);
      }
      var state = String(s.state);
      if (cell.getAttribute("data-state") !== state) {
        cell.setAttribute("data-state", state);
        cell.setAttribute("aria-label", "shard " + key + ", " + state);
      }
      var show = matches(latest.get(key));
      if (cell.hidden === show) cell.hidden = !show;
      if (show) shown++;
      order.push(key);
    });
    cells.forEach(function (cell, key) {
      if (!latest.has(key)) { cell.remove(); cells.delete(key); }
    });
    // Moving 1,000 nodes costs a layout: only when the order changed.
    var joined = order.join(",");
    if (joined !== cellOrder) {
      var frag = document.createDocumentFragment();
      order.forEach(function (key) { frag.appendChild(cells.get(key)); });
      $("cells").appendChild(frag);
      cellOrder = joined;
    }
    showCount(shown, shards.length);
    renderFacts();
  }

  function showCount(shown, total) {
    text("shown", shown === total ? plural(total, "shard") + ", worst first"
      : num(shown) + " of " + plural(total, "shard") + " shown, worst first");
  }

  function matches(entry) {
    var s = entry.s;
    if (view.state === "problem" ? s.state === "connected" : view.state && s.state !== view.state) {
      return false;
    }
    if (view.worker && !(entry.w && String(entry.w.index) === view.worker)) return false;
    if (view.member && (view.member === "-" ? Boolean(s.member) : s.member !== view.member)) {
      return false;
    }
    return true;
  }

  function refilter() {
    var shown = 0;
    cells.forEach(function (cell, key) {
      var show = matches(latest.get(key));
      cell.hidden = !show;
      if (show) shown++;
    });
    showCount(shown, cells.size);
  }

  function stateOptions(byState, total) {
    var options = [["", "all (" + num(total) + ")"]];
    var down = total - (byState.connected || 0);
    options.push(["problem", "not connected (" + num(down) + ")"]);
    Object.keys(byState).sort(function (a, b) { return rank(a) - rank(b); }).forEach(function (st) {
      options.push([st, st + " (" + num(byState[st]) + ")"]);
    });
    return options;
  }

  function workerOptions(workers) {
    return [["", "all"]].concat(workers.map(function (w) {
      return [String(w.index), "#" + w.index + " · shards " + w.firstShardId + "–" + w.lastShardId +
        (w.state === "running" ? "" : " · " + w.state)];
    }));
  }

  function memberOptions(byMember) {
    var options = [["", "all"]];
    Object.keys(byMember).sort().forEach(function (m) {
      options.push([m, (m === "-" ? "none holds it" : m) + " (" + num(byMember[m]) + ")"]);
    });
    return options;
  }

  // Rebuilt only when the choices change, so an open drop-down is not closed by every poll.
  function setOptions(name, options) {
    var box = $("f-" + name + "-box");
    if (box) box.hidden = !options;
    if (!options) {
      if (view[name]) { view[name] = ""; writeView(); }
      return;
    }
    var known = options.some(function (o) { return o[0] === view[name]; });
    if (view[name] && !known) options.push([view[name], view[name] + " (none now)"]);
    var key = options.map(function (o) { return o[0] + "=" + o[1]; }).join("|");
    var select = $("f-" + name);
    if (key !== optionKeys[name]) {
      optionKeys[name] = key;
      select.textContent = "";
      options.forEach(function (o) {
        var opt = el("option");
        opt.value = o[0];
        opt.textContent = o[1];
        select.appendChild(opt);
      });
    }
    select.value = view[name];
  }

  function factList(entry, now) {
    var s = entry.s;
    var w = entry.w;
    var q = s.queue || { memory: 0, disk: 0 };
    var guilds = plural(s.guilds, "guild");
    if (s.unavailable > 0) guilds += ", " + num(s.unavailable) + " unavailable";
    var facts = [
      ["state", String(s.state)],
      ["latency", s.latencyMs == null ? "–" : num(Math.round(s.latencyMs)) + " ms"],
      ["guilds", guilds],
      ["loading", num(s.loading)],
      ["queue", "mem " + num(q.memory) + " · disk " + num(q.disk)],
      ["events/s", rate(s.eventsPerSecond)],
      ["last event", s.lastEventAt == null ? "never" : dur(now - s.lastEventAt) + " ago"],
      ["session", s.sessionId == null ? "none" : s.sessionId],
    ];
    if (w) facts.push(["worker", "#" + w.index + " (shards " + w.firstShardId + "–" + w.lastShardId + ")"]);
    if (clustered) {
      facts.push(["host", s.member || "none holds it"]);
      facts.push(["lease age", s.leaseAgeMs == null ? "–" : dur(s.leaseAgeMs)]);
    }
    return facts;
  }

  function renderFacts() {
    var entry = view.shard ? latest.get(view.shard) : undefined;
    var cell = (view.shard && cells.get(view.shard)) || null;
    if (picked && picked !== cell) picked.classList.remove("picked");
    picked = cell;
    if (picked) picked.classList.add("picked");
    $("facts").hidden = !entry;
    if (!entry) return;
    text("facts-title", "Shard #" + entry.s.id);
    var list = $("facts-list");
    list.textContent = "";
    factList(entry, latestNow).forEach(function (f) {
      var row = el("div");
      var dt = el("dt");
      var dd = el("dd");
      dt.textContent = f[0];
      dd.textContent = f[1];
      dd.title = f[1];
      row.setAttribute("data-fact", f[0]);
      row.appendChild(dt);
      row.appendChild(dd);
      list.appendChild(row);
    });
  }

  function cellOf(ev) {
    var target = ev.target;
    return target && target.closest ? target.closest("[data-shard-id]") : null;
  }

  // Hover: the facts as a tooltip, written when the pointer arrives (not for every cell each poll).
  $("cells").addEventListener("mouseover", function (ev) {
    var cell = cellOf(ev);
    var entry = cell && latest.get(cell.getAttribute("data-shard-id"));
    if (!entry) return;
    cell.setAttribute("title", "Shard #" + entry.s.id + "\n" + factList(entry, latestNow).map(function (f) {
      return f[0] + ": " + f[1];
    }).join("\n"));
  });

  // Click: the facts in a panel that follows the polls, until closed or another cell is clicked.
  $("cells").addEventListener("click", function (ev) {
    var cell = cellOf(ev);
    if (!cell) return;
    var key = cell.getAttribute("data-shard-id");
    view.shard = view.shard === key ? "" : key;
    writeView();
    renderFacts();
  });

  $("facts-close").addEventListener("click", function () {
    view.shard = "";
    writeView();
    renderFacts();
  });

  FILTERS.forEach(function (name) {
    $("f-" + name).addEventListener("change", function (ev) {
      view[name] = ev.target.value;
      writeView();
      refilter();
    });
  });

`;
