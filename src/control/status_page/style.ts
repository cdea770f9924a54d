/**
 * The status page's stylesheet: light and dark colours, totals, charts,
 * shard cards for a few shards and a grid of cells for many.
 * @module
 */

/** Inlined into the page's `<style>` (the page loads no external resource). */
export const STYLE = `:root {
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
/* Many shards: one cell each, worst first, with filters and a facts panel. */
.tools {
  display: flex; flex-wrap: wrap; align-items: center; gap: 6px 10px; margin: 0 0 10px; font-size: 13px;
}
.tools label { display: inline-flex; align-items: center; gap: 5px; color: var(--muted); }
.tools select {
  font: inherit; padding: 3px 6px; border-radius: 6px; border: 1px solid var(--border);
  background: var(--panel); color: var(--text); max-width: 260px;
}
.cells { display: grid; grid-template-columns: repeat(auto-fill, 14px); gap: 3px; }
.cells .shard {
  display: block; width: 14px; height: 14px; padding: 0; border: 0; border-radius: 3px;
  background: var(--c); cursor: pointer;
}
.cells .shard:hover { outline: 2px solid var(--muted); outline-offset: 1px; }
.cells .shard.picked { outline: 2px solid var(--text); outline-offset: 1px; }
.facts { margin: 0 0 10px; padding: 10px 12px; }
.facts .hd { display: flex; justify-content: space-between; align-items: center; gap: 8px; }
.facts .hd strong { font-size: 15px; }
.facts dl {
  display: grid; grid-template-columns: repeat(auto-fill, minmax(190px, 1fr)); gap: 4px 16px;
  margin: 8px 0 0;
}
.facts dl div { display: flex; justify-content: space-between; gap: 8px; min-width: 0; }
.facts dt { color: var(--muted); }
.facts dd { margin: 0; font-weight: 600; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
#workers { margin: 0 0 12px; }
.foot { margin-top: 18px; font-size: 12px; color: var(--muted); }
@media (max-width: 520px) {
  .wrap { padding: 0 12px 20px; }
  .stat .v { font-size: 19px; }
  .grid { grid-template-columns: repeat(2, minmax(0, 1fr)); }
}
`;
