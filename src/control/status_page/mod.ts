/**
 * The human status page served at `GET /`: one self-contained HTML document
 * (inline CSS and JS, no external resources) that polls `GET /status` every
 * 2 s and draws totals, the shards (a card each for a few, a grid of cells
 * with filters for many) and two small history charts.
 *
 * The API secret is never part of the HTML. The page reads it from the URL
 * fragment (`#key=SECRET`, which browsers do not send to the server), else
 * from `sessionStorage`, else asks for it; it keeps it in `sessionStorage`
 * only, strips it from the address bar, and sends it as the raw
 * `Authorization` header on every fetch.
 * @module
 */
import { CHARTS_SCRIPT } from "./charts_script.ts";
import { pageDocument } from "./markup.ts";
import { pageScript } from "./script.ts";
import { SHARDS_SCRIPT } from "./shards_script.ts";
import { STYLE } from "./style.ts";

const PAGE = pageDocument(STYLE, pageScript(CHARTS_SCRIPT, SHARDS_SCRIPT));

/**
 * The status page. A constant: it holds no data and no secret, so it can be
 * served to anyone; everything it shows comes from the authenticated
 * `GET /status`. Serve it as `text/html; charset=utf-8`.
 */
export function statusPageHtml(): string {
  return PAGE;
}
