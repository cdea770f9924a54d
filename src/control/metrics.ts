/**
 * `GET /metrics` in Prometheus's text exposition format (version 0.0.4),
 * written by hand: a few dozen lines beat a dependency.
 * @module
 */
import type { ControlSource } from "./source.ts";

type Labels = Record<string, string | number>;
type Sample = [Labels, number];

/** One sample per entry, the key under `label`. */
const by = (label: string, entries: Iterable<[string | number, number]>): Sample[] =>
  Array.from(entries, ([key, value]): Sample => [{ [label]: key }, value]);

/** Renders every metric of the service. */
export function renderMetrics(source: ControlSource): string {
  const out: string[] = [];
  const metric = (
    name: string,
    type: "counter" | "gauge",
    help: string,
    samples: Sample[],
  ) => {
    out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
    for (const [labels, value] of samples) out.push(`${name}${fmtLabels(labels)} ${value}`);
  };
  const c = source.counters();
  const stats = source.stats();
  const shards = source.shards();

  metric(
    "gateway_events_received_total",
    "counter",
    "Dispatches taken by the delivery queue, by type.",
    by("type", c.receivedByType),
  );
  metric(
    "gateway_shard_events_received_total",
    "counter",
    "Dispatches taken by the delivery queue, by shard.",
    by("shard", c.receivedByShard),
  );
  metric(
    "gateway_events_forwarded_total",
    "counter",
    "Events the handler answered 2xx, by shard.",
    by("shard", c.deliveredByShard),
  );
  metric("gateway_events_dropped_total", "counter", "Events not forwarded, by reason.", [
    [{ reason: "budget_exhausted" }, c.dropped],
    [{ reason: "dead_letter" }, c.deadLettered],
    [{ reason: "already_acknowledged" }, c.alreadyAcknowledged],
    [{ reason: "replay_duplicate" }, c.replayDuplicates],
    ...by("reason", c.droppedByRule),
  ]);
  metric(
    "gateway_delivery_retries_total",
    "counter",
    "Failed delivery attempts that were retried.",
    [[{}, c.retried]],
  );
  metric(
    "gateway_delivery_batches_total",
    "counter",
    "Requests that delivered several events (EVENT_HANDLER_BATCH_MAX), and failed batches split to find the event at fault.",
    [[{ outcome: "delivered" }, c.batches], [{ outcome: "split" }, c.batchSplits]],
  );
  metric("gateway_events_spilled_total", "counter", "Events written to the disk journal.", [[
    {},
    c.spilled,
  ]]);
  metric(
    "gateway_dead_letter_rotations_total",
    "counter",
    "Dead-letter file rotations (DEAD_LETTERS_MAX_BYTES).",
    [[{}, c.deadLetterRotations]],
  );
  metric(
    "gateway_interaction_deferrals_total",
    "counter",
    "Interactions acknowledged by the proxy, by outcome.",
    [
      [{ outcome: "deferred" }, c.deferred],
      [{ outcome: "failed" }, c.deferFailed],
      [{ outcome: "already_acknowledged" }, c.alreadyAcknowledged],
    ],
  );
  metric("gateway_queue_depth", "gauge", "Events waiting for delivery.", [
    [{ where: "memory" }, c.queuedMemory],
    [{ where: "disk" }, c.queuedDisk],
  ]);
  metric("gateway_queue_bytes", "gauge", "Payload bytes waiting for delivery.", [
    [{ where: "memory" }, c.queuedMemoryBytes],
    [{ where: "disk" }, c.queuedDiskBytes],
  ]);
  metric("gateway_backlog_age_seconds", "gauge", "Age of the oldest undelivered event.", [
    [{}, source.backlogAgeMs() / 1000],
  ]);

  const h = c.latency;
  out.push(
    "# HELP gateway_delivery_latency_seconds From receipt from Discord to the handler's 2xx.",
    "# TYPE gateway_delivery_latency_seconds histogram",
  );
  h.bounds.forEach((b, i) =>
    out.push(`gateway_delivery_latency_seconds_bucket{le="${b / 1000}"} ${h.counts[i]}`)
  );
  out.push(
    `gateway_delivery_latency_seconds_bucket{le="+Inf"} ${h.count}`,
    `gateway_delivery_latency_seconds_sum ${h.sum / 1000}`,
    `gateway_delivery_latency_seconds_count ${h.count}`,
  );

  metric("gateway_identifies_total", "counter", "Identify payloads sent.", [[
    {},
    stats.identifies,
  ]]);
  metric("gateway_resumes_total", "counter", "Resume payloads sent.", [[{}, stats.resumes]]);
  metric(
    "gateway_disconnects_total",
    "counter",
    "Shard disconnects, by close code.",
    by("code", stats.closesByCode),
  );
  metric(
    "gateway_shard_latency_seconds",
    "gauge",
    "Heartbeat round trip, by shard.",
    by("shard", shards.flatMap((s) => s.latencyMs === null ? [] : [[s.id, s.latencyMs / 1000]])),
  );
  metric(
    "gateway_shard_up",
    "gauge",
    "1 when the shard is connected.",
    by("shard", shards.map((s) => [s.id, s.state === "connected" ? 1 : 0])),
  );
  metric(
    "gateway_shard_guilds",
    "gauge",
    "Guilds per shard, by availability.",
    shards.flatMap((s): Sample[] => [
      [{ shard: s.id, status: "available" }, s.guilds],
      [{ shard: s.id, status: "unavailable" }, s.unavailable],
      [{ shard: s.id, status: "loading" }, s.loading],
    ]),
  );
  if (stats.info) {
    metric(
      "gateway_session_starts_remaining",
      "gauge",
      "Identifies left today at start (GET /gateway/bot).",
      [
        [{}, stats.info.sessionStartLimit.remaining],
      ],
    );
  }
  const reshard = source.reshardStatus?.();
  if (reshard) {
    const states = ["idle", "preparing", "switching", "done", "failed"] as const;
    metric(
      "gateway_reshard_state",
      "gauge",
      "1 for the state resharding is in (idle, preparing, switching, done, failed).",
      states.map((state): Sample => [{ state }, reshard.state === state ? 1 : 0]),
    );
    metric("gateway_reshards_total", "counter", "Reshards completed.", [[{}, reshard.completed]]);
    metric(
      "gateway_reshard_deduped_total",
      "counter",
      "Copies of a dispatch held back during reshard overlaps (delivered once through the other set).",
      [[{}, reshard.deduped]],
    );
    metric(
      "gateway_reshard_new_shards_ready",
      "gauge",
      "New shards READY with their guilds loaded, while a reshard prepares.",
      [[{}, reshard.state === "preparing" ? reshard.ready ?? 0 : 0]],
    );
  }
  const workers = source.workers?.() ?? [];
  if (workers.length > 0) {
    const w = (f: (x: (typeof workers)[number]) => number): Sample[] =>
      workers.map((
        x,
      ): Sample => [{ worker: x.index, shards: `${x.firstShardId}-${x.lastShardId}` }, f(x)]);
    metric(
      "gateway_worker_up",
      "gauge",
      "1 while the worker thread runs.",
      w((x) => x.state === "running" ? 1 : 0),
    );
    metric(
      "gateway_worker_restarts_total",
      "counter",
      "Worker restarts after a crash or hang.",
      w((x) => x.restarts),
    );
    metric(
      "gateway_worker_events_total",
      "counter",
      "Events a worker sent to the main thread.",
      w((x) => x.events),
    );
    metric(
      "gateway_worker_heap_used_bytes",
      "gauge",
      "V8 heap used by a worker.",
      w((x) => x.heapUsed),
    );
  }
  const streams = source.streams?.();
  if (streams) {
    metric(
      "gateway_stream_appended_total",
      "counter",
      "Events appended to the shards' Redis streams (TRANSPORT=redis-streams).",
      [[{}, streams.appended]],
    );
    metric(
      "gateway_stream_trimmed_unacked_total",
      "counter",
      "Stream entries REDIS_STREAM_MAXLEN trimming removed before the consumer group acknowledged them, by whether a consumer had read them.",
      [[{ read: "no" }, streams.trimmedUnread], [{ read: "yes" }, streams.trimmedPending]],
    );
  }
  metric("gateway_shard_count", "gauge", "Shard count of the live shard set.", [
    [{}, stats.range?.total ?? 0],
  ]);
  const cache = source.cacheSizes();
  metric("gateway_cache_entries", "gauge", "Entries in the gateway-side cache.", [
    [{ cache: "guilds" }, cache.guilds],
    [{ cache: "edited_messages" }, cache.editedMessages],
  ]);
  const mem = Deno.memoryUsage();
  metric("process_resident_memory_bytes", "gauge", "Resident memory.", [[{}, mem.rss]]);
  metric("process_heap_used_bytes", "gauge", "V8 heap in use.", [[{}, mem.heapUsed]]);
  return out.join("\n") + "\n";
}

function fmtLabels(labels: Labels): string {
  const parts = Object.entries(labels).map(([k, v]) =>
    `${k}="${String(v).replaceAll("\\", "\\\\").replaceAll('"', '\\"').replaceAll("\n", "\\n")}"`
  );
  return parts.length ? `{${parts.join(",")}}` : "";
}
