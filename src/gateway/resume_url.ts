/**
 * Checks a stored `resume_gateway_url` before a shard sends its token there. The URL comes
 * from the sessions file in `DATA_DIR`; anyone who can write that file could otherwise point
 * the shard at a host of their choosing and collect the bot token from the resume (op 6).
 * @module
 */

/** Options of {@linkcode checkResumeGatewayUrl}. */
export interface ResumeUrlCheckOptions {
  /** The gateway URL this process connects to (`GET /gateway/bot`'s `url`), e.g. `wss://gateway.discord.gg`. */
  gatewayUrl: string;
  /**
   * Hosts accepted besides the gateway's own domain, as `hostname` (any port) or
   * `hostname:port`, e.g. the simulator's `127.0.0.1:8900` in tests. Matched case-insensitively.
   * @default {[]}
   */
  allowHosts?: readonly string[];
}

/** What {@linkcode checkResumeGatewayUrl} decided; `reason` says why a URL is refused. */
export type ResumeUrlVerdict = { ok: true } | { ok: false; reason: string };

/**
 * Accepts `resumeUrl` when:
 * - its scheme is `wss:`, or `ws:` while the gateway itself is `ws:` (no downgrade to plain
 *   text) or the host is in `allowHosts`;
 * - it carries no user name or password;
 * - its host is the gateway's host, or a subdomain of the gateway's registrable domain, or is
 *   listed in `allowHosts`.
 *
 * The registrable domain is taken as the host's last two labels (`gateway.discord.gg` ->
 * `discord.gg`, so `gateway-us-east1-b.discord.gg` passes). That simple rule is right for
 * Discord and wrong under a two-part public suffix (`example.co.uk` would admit any
 * `*.co.uk`); a gateway there should rely on `allowHosts`. An IP address or a single-label
 * host (`localhost`) has no domain: only the exact host passes.
 *
 * Pure: no I/O, never throws for a bad `resumeUrl`.
 *
 * @throws {TypeError} when `options.gatewayUrl` is not a URL.
 */
export function checkResumeGatewayUrl(
  resumeUrl: string,
  options: ResumeUrlCheckOptions,
): ResumeUrlVerdict {
  const { gatewayUrl, allowHosts = [] } = options;
  let gateway: URL;
  try {
    gateway = new URL(gatewayUrl);
  } catch {
    throw new TypeError(`gatewayUrl must be a URL, got ${JSON.stringify(gatewayUrl)}`);
  }
  const refuse = (why: string): ResumeUrlVerdict => ({
    ok: false,
    reason: `resume URL ${JSON.stringify(resumeUrl.slice(0, 200))} ${why}`,
  });
  if (resumeUrl.trim() === "") return refuse("is empty");
  let url: URL;
  try {
    url = new URL(resumeUrl);
  } catch {
    return refuse("is not a URL");
  }
  const host = hostnameOf(url);
  const allowed = allowHosts.some((entry) => {
    const e = entry.toLowerCase().replace(/\.$/, "");
    return e === host || e === `${host}:${url.port}` || e === url.host.toLowerCase();
  });
  if (url.protocol !== "wss:" && url.protocol !== "ws:") {
    return refuse(`must use wss: (or ws:), not ${url.protocol}`);
  }
  if (url.protocol === "ws:" && gateway.protocol !== "ws:" && !allowed) {
    return refuse(`uses plain ws: while the gateway ${gateway.host} uses ${gateway.protocol}`);
  }
  if (url.username !== "" || url.password !== "") {
    return refuse("carries a user name or password");
  }
  if (allowed) return { ok: true };
  const gatewayHost = hostnameOf(gateway);
  if (host === gatewayHost) return { ok: true };
  const domain = registrableDomain(gatewayHost);
  if (domain === undefined) {
    return refuse(`is not on the gateway's host ${gatewayHost} (nor in the allowed hosts)`);
  }
  if (!isIp(host) && host.endsWith(`.${domain}`)) return { ok: true };
  return refuse(`is not on the gateway's domain ${domain} (nor in the allowed hosts)`);
}

/** Lower-case host name without a trailing dot; IPv6 keeps its brackets. */
function hostnameOf(url: URL): string {
  return url.hostname.toLowerCase().replace(/\.$/, "");
}

function isIp(host: string): boolean {
  return host.startsWith("[") || /^\d+\.\d+\.\d+\.\d+$/.test(host);
}

/** The last two labels of a DNS name; `undefined` for an IP or a single label. */
function registrableDomain(host: string): string | undefined {
  if (isIp(host)) return undefined;
  const labels = host.split(".");
  return labels.length < 2 ? undefined : labels.slice(-2).join(".");
}
