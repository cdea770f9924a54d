/** An interaction the simulator sent, waiting for (or done with) its callback. */
export interface InteractionEntry {
  id: string;
  token: string;
  type: number;
  hasMessage: boolean;
  /** `Date.now()` when it was dispatched; the callback deadline counts from here. */
  createdAt: number;
  acknowledged: boolean;
}

/** Interactions by id; entries older than the 15-minute token lifetime are dropped. */
export interface InteractionRegistry {
  add(entry: InteractionEntry): void;
  get(id: string): InteractionEntry | undefined;
}

/** After this, Discord forgets an interaction token entirely. */
const TOKEN_LIFETIME_MS = 15 * 60_000;

/** Creates an empty registry. */
export function createInteractionRegistry(): InteractionRegistry {
  const entries = new Map<string, InteractionEntry>();
  return {
    add(entry) {
      // Map iteration is insertion order, so the oldest come first.
      for (const [id, old] of entries) {
        if (entry.createdAt - old.createdAt < TOKEN_LIFETIME_MS) break;
        entries.delete(id);
      }
      entries.set(entry.id, entry);
    },
    get: (id) => entries.get(id),
  };
}
