/**
 * The `editedMessages` cache: remembers each recent message's `edited_timestamp`
 * so a MESSAGE_UPDATE that changes nothing the bot cares about (a link unfurl, a
 * system update) is not shipped across the network.
 * @module
 */

/** Why a MESSAGE_UPDATE was dropped, or `undefined` to forward it. */
export type UpdateVerdict = "partial" | "unchanged" | undefined;

/** A user rule: return `true`/`false` to forward/drop, `undefined` for the default rule. */
export type MessageUpdateRule = (
  message: Record<string, unknown>,
  previousEditedTimestamp: string | null | undefined,
) => boolean | undefined;

/** Options of {@linkcode createEditedMessages}. */
export interface EditedMessagesOptions {
  /** Messages remembered at most. @default 250000 */
  maxSize?: number;
  /** A message is forgotten after this long without a create or an edit, ms. @default 3600000 */
  ttlMs?: number;
  /** Replaces the default decision. */
  rule?: MessageUpdateRule;
  /** @default Date.now */
  now?: () => number;
}

/** The cache and the MESSAGE_UPDATE rule. */
export interface EditedMessages {
  /** Seeds or refreshes from MESSAGE_CREATE, forgets on MESSAGE_DELETE(_BULK). */
  observe(t: string, d: Record<string, unknown>): void;
  /** Decides a MESSAGE_UPDATE (and records it when forwarded). */
  judge(d: Record<string, unknown>): UpdateVerdict;
  /** Messages remembered now. */
  readonly size: number;
}

/**
 * Creates the cache. Two generations of maps rotate every `ttlMs / 2` (or when
 * the young one holds half of `maxSize`): O(1) per event, no per-entry timers,
 * never more than `maxSize` entries, and an entry lives between ttl/2 and ttl.
 */
export function createEditedMessages(options: EditedMessagesOptions = {}): EditedMessages {
  const { maxSize = 250_000, ttlMs = 3_600_000, rule, now = Date.now } = options;
  if (!(maxSize >= 2)) throw new RangeError(`maxSize must be >= 2, got ${maxSize}`);
  if (!(ttlMs > 0)) throw new RangeError(`ttlMs must be > 0, got ${ttlMs}`);
  const half = Math.floor(maxSize / 2);
  // Value: edited_timestamp, or "" for never edited (strings are cheaper than objects).
  let young = new Map<string, string>();
  let old = new Map<string, string>();
  let rotatedAt = now();

  const rotate = () => {
    if (young.size >= half || now() - rotatedAt >= ttlMs / 2) {
      old = young;
      young = new Map();
      rotatedAt = now();
    }
  };
  const get = (id: string): string | null | undefined => {
    const v = young.get(id) ?? old.get(id);
    return v === undefined ? undefined : v === "" ? null : v;
  };
  const set = (id: string, edited: string | null) => {
    rotate();
    old.delete(id);
    young.delete(id);
    young.set(id, edited ?? "");
  };

  return {
    get size() {
      return young.size + old.size;
    },
    observe(t, d) {
      if (t === "MESSAGE_CREATE" && typeof d.id === "string") {
        set(d.id, typeof d.edited_timestamp === "string" ? d.edited_timestamp : null);
      } else if (t === "MESSAGE_DELETE" && typeof d.id === "string") {
        young.delete(d.id);
        old.delete(d.id);
      } else if (t === "MESSAGE_DELETE_BULK" && Array.isArray(d.ids)) {
        for (const id of d.ids) {
          young.delete(String(id));
          old.delete(String(id));
        }
      }
    },
    judge(d) {
      const id = typeof d.id === "string" ? d.id : undefined;
      const previous = id === undefined ? undefined : get(id);
      const custom = rule?.(d, previous);
      const edited = typeof d.edited_timestamp === "string" ? d.edited_timestamp : null;
      if (custom !== undefined) {
        if (custom && id !== undefined) set(id, edited);
        return custom ? undefined : "unchanged";
      }
      // Older partial updates carry only embeds: nothing the bot acts on.
      if (!("content" in d)) return "partial";
      // A real edit sets or advances edited_timestamp; unfurls and system updates keep it.
      if (edited === (previous ?? null)) return "unchanged";
      if (id !== undefined) set(id, edited);
      return undefined;
    },
  };
}
