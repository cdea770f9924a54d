/**
 * How the benchmark's sinks (`bench/sink.ts`, `bench/latency_sink.ts`) find the events of a
 * batch body (`[{"shardId":N,"data":{...}},...]`) without parsing it: each event starts with
 * `{"shardId":`, which cannot occur unescaped inside Discord's payload (a string there would
 * escape its quotes, and no Discord object has a `shardId` key). What a handler should do
 * instead is `parseForwarded` in `src/handler_types.ts`.
 * @module
 */

const EVENT_START = '{"shardId":';

/** Offsets of each event's `{"shardId":` in a batch body, in order. */
export function eventStarts(body: string): number[] {
  const starts: number[] = [];
  for (let at = body.indexOf(EVENT_START); at >= 0; at = body.indexOf(EVENT_START, at + 1)) {
    starts.push(at);
  }
  return starts;
}

/** Events in a batch body. */
export function countEvents(body: string): number {
  let n = 0;
  for (let at = body.indexOf(EVENT_START); at >= 0; at = body.indexOf(EVENT_START, at + 1)) n++;
  return n;
}
