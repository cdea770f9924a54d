/**
 * The status page's two history charts (events per second, queue depth): an
 * inline SVG line over the last 10 minutes of `/status` history points.
 * @module
 */

/** A section of the page's script (see `pageScript`): defines `renderChart`. */
export const CHARTS_SCRIPT = String
  .raw`  // ---- charts --------------------------------------------------------------

  var SVG_NS = "http://www.w3.org/2000/svg";

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

`;
