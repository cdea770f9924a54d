/**
 * The REST deferrer on its own, with `fetch` injected: what it sends, and how much of an
 * answer it reads.
 */
import { assert, assertEquals, assertStringIncludes } from "./helpers/assert.ts";
import { createRestDeferrer } from "../src/delivery/deferral.ts";
import type { InteractionInfo } from "../src/delivery/types.ts";
import { pulledBody } from "./helpers/pulled_body.ts";

const command: InteractionInfo = { id: "111", token: "tok/en", type: 2, hasMessage: false };

/** A deferrer whose REST proxy answers `status` with `body`; records the requests. */
function deferrerAnswering(status: number, body: ReadableStream<Uint8Array> | string | null) {
  const requests: { url: string; init: RequestInit }[] = [];
  const deferrer = createRestDeferrer({
    url: "http://rest.invalid",
    authorization: "rest-secret",
    fetch: (input, init) => {
      requests.push({ url: String(input), init: init ?? {} });
      return Promise.resolve(new Response(body, { status }));
    },
  });
  return { deferrer, requests };
}

const MB = 1024 * 1024;

Deno.test("createRestDeferrer() posts the deferred callback to the REST proxy", async () => {
  const { deferrer, requests } = deferrerAnswering(204, null);
  assertEquals(await deferrer.defer(command), { kind: "deferred", callbackType: 5 });
  assertEquals(requests.length, 1);
  assertEquals(requests[0].url, "http://rest.invalid/v10/interactions/111/tok%2Fen/callback");
  assertEquals(requests[0].init.method, "POST");
  assertEquals(JSON.parse(String(requests[0].init.body)), { type: 5 });
});

Deno.test("createRestDeferrer() reads only the start of a large error answer", async () => {
  const { stream, state } = pulledBody('{"message":"500: Internal Server Error"', 16 * MB, 0x20);
  const { deferrer } = deferrerAnswering(500, stream);
  const outcome = await deferrer.defer(command);
  assert(outcome.kind === "failed", JSON.stringify(outcome));
  assertEquals(outcome.status, 500);
  assertStringIncludes(outcome.reason, 'HTTP 500 {"message":"500: Internal Server Error"');
  assert(outcome.reason.length < 300, `a reason of ${outcome.reason.length} characters`);
  assert(state.pulled <= 66 * 1024, `read ${state.pulled} bytes of the body`);
  assert(state.cancelled, "the rest of the body was cancelled");
});

Deno.test("createRestDeferrer() finds Discord's already-acknowledged code at the start of a large 400 answer", async () => {
  const { stream, state } = pulledBody(
    '{"message": "Interaction has already been acknowledged.", "code": 40060',
    16 * MB,
    0x20,
  );
  const { deferrer } = deferrerAnswering(400, stream);
  assertEquals(await deferrer.defer(command), { kind: "already-acknowledged" });
  assert(state.pulled <= 66 * 1024, `read ${state.pulled} bytes of the body`);
  assert(state.cancelled, "the rest of the body was cancelled");
});

Deno.test("createRestDeferrer() does not read all of a large answer to a deferral that worked", async () => {
  const { stream, state } = pulledBody('{"interaction":{}', 16 * MB, 0x20);
  const { deferrer } = deferrerAnswering(200, stream);
  assertEquals(await deferrer.defer(command), { kind: "deferred", callbackType: 5 });
  assert(state.pulled <= 66 * 1024, `read ${state.pulled} bytes of the body`);
});
