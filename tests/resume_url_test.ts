import { assertEquals, assertStringIncludes, assertThrows } from "./helpers/assert.ts";
import { checkResumeGatewayUrl } from "../src/gateway/resume_url.ts";

const DISCORD = "wss://gateway.discord.gg";
const SIM = "ws://127.0.0.1:8900";

/** [resume URL, gateway URL, allowed hosts, undefined when accepted or a part of the reason]. */
const CASES: [string, string, string[], string | undefined][] = [
  // Discord's own hosts.
  ["wss://gateway.discord.gg", DISCORD, [], undefined],
  ["wss://gateway-us-east1-b.discord.gg", DISCORD, [], undefined],
  ["wss://gateway-us-east1-b.discord.gg/?v=10&encoding=json", DISCORD, [], undefined],
  ["wss://GATEWAY-US-EAST1-C.Discord.GG.", DISCORD, [], undefined],
  ["wss://gateway.discord.gg:443", DISCORD, [], undefined],
  ["wss://a.b.discord.gg", DISCORD, [], undefined],
  // Another domain, or one that only looks alike.
  ["wss://evil.example", DISCORD, [], "not on the gateway's domain discord.gg"],
  ["wss://evildiscord.gg", DISCORD, [], "not on the gateway's domain discord.gg"],
  ["wss://discord.gg.evil.example", DISCORD, [], "not on the gateway's domain discord.gg"],
  ["wss://gateway.discord.com", DISCORD, [], "not on the gateway's domain discord.gg"],
  ["wss://gateway.discord.gg@evil.example", DISCORD, [], "user name or password"],
  ["wss://user:pw@gateway.discord.gg", DISCORD, [], "user name or password"],
  ["wss://162.159.135.232", DISCORD, [], "not on the gateway's domain"],
  // Scheme.
  ["https://gateway.discord.gg", DISCORD, [], "must use wss: (or ws:), not https:"],
  ["javascript:alert(1)", DISCORD, [], "must use wss: (or ws:)"],
  [
    "ws://gateway.discord.gg",
    DISCORD,
    [],
    "plain ws: while the gateway gateway.discord.gg uses wss:",
  ],
  // Not a URL at all.
  ["", DISCORD, [], "is empty"],
  ["gateway.discord.gg", DISCORD, [], "is not a URL"],
  ["wss://", DISCORD, [], "is not a URL"],
  // A simulator on loopback: an IP has no domain, only the exact host (any port) or the list.
  ["ws://127.0.0.1:8900", SIM, [], undefined],
  ["ws://127.0.0.1:9999", SIM, [], undefined],
  ["ws://127.0.0.2:8900", SIM, [], "not on the gateway's host 127.0.0.1"],
  ["ws://127.0.0.2:8900", SIM, ["127.0.0.2"], undefined],
  ["ws://127.0.0.2:8900", SIM, ["127.0.0.2:8900"], undefined],
  ["ws://127.0.0.2:8901", SIM, ["127.0.0.2:8900"], "not on the gateway's host"],
  ["ws://localhost:8900", "ws://localhost:1", [], undefined],
  ["ws://other:8900", "ws://localhost:1", [], "not on the gateway's host localhost"],
  ["ws://[::1]:8900", "ws://[::1]:1", [], undefined],
  // The allow list admits plain ws: to a listed host next to a wss: gateway (a simulator).
  ["ws://127.0.0.1:8900", DISCORD, ["127.0.0.1"], undefined],
  ["ws://127.0.0.1:8900", DISCORD, [], "plain ws:"],
  ["wss://resume.example", DISCORD, ["RESUME.example"], undefined],
];

for (const [resumeUrl, gatewayUrl, allowHosts, problem] of CASES) {
  Deno.test(
    `checkResumeGatewayUrl() ${problem ? "refuses" : "accepts"} ${
      resumeUrl || '""'
    } for ${gatewayUrl}${allowHosts.length ? ` allowing ${allowHosts}` : ""}`,
    () => {
      const verdict = checkResumeGatewayUrl(resumeUrl, { gatewayUrl, allowHosts });
      if (problem === undefined) {
        assertEquals(verdict, { ok: true });
      } else {
        assertEquals(verdict.ok, false);
        if (!verdict.ok) {
          assertStringIncludes(verdict.reason, problem);
          assertStringIncludes(verdict.reason, `resume URL ${JSON.stringify(resumeUrl)}`);
        }
      }
    },
  );
}

Deno.test("checkResumeGatewayUrl() throws a TypeError for a gateway URL that is not one", () => {
  const error = assertThrows(
    () => checkResumeGatewayUrl("wss://gateway.discord.gg", { gatewayUrl: "nope" }),
    TypeError,
  );
  assertEquals(error.message, 'gatewayUrl must be a URL, got "nope"');
});
