/**
 * The status page's document: head, header, sign-in form, totals, charts and
 * the shards section (cards for a few shards, a grid of cells with filters for
 * many). Element ids here are what the page's script reads and fills.
 * @module
 */

/** The whole HTML document around the stylesheet and the script (both inlined). */
export function pageDocument(style: string, script: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<meta name="referrer" content="no-referrer">
<title>Gateway proxy status</title>
<style>
${style}</style>
</head>
<body>
${BODY}<script>
${script}</script>
</body>
</html>
`;
}

const BODY = `<div class="wrap">
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
      <div class="tools" id="tools" hidden>
        <label>State <select id="f-state"></select></label>
        <label id="f-worker-box" hidden>Worker <select id="f-worker"></select></label>
        <label id="f-member-box" hidden>Host <select id="f-member"></select></label>
        <span id="shown" class="muted"></span>
      </div>
      <div class="panel facts" id="facts" hidden>
        <div class="hd"><strong id="facts-title"></strong><button id="facts-close" type="button">Close</button></div>
        <dl id="facts-list"></dl>
      </div>
      <div class="grid" id="shards"></div>
      <div class="cells" id="cells" role="list" aria-label="Shards, worst first" hidden></div>
    </section>
    <div class="foot">Refreshes every 2 s from <code>/status</code>.</div>
  </main>
</div>

`;
