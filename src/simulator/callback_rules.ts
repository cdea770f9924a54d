/**
 * Which interaction callback types Discord accepts for which interaction, and
 * the checks on their `data` that Discord performs before acknowledging.
 */

/** A rejected callback body: HTTP status and Discord's JSON error. */
export interface CallbackRejection {
  status: number;
  body: { message: string; code: number; errors?: unknown };
}

/** Callback type -> interaction types it is valid for (facts sheet table). */
export const VALID_CALLBACKS: Readonly<Record<number, readonly number[]>> = {
  1: [1], // PONG
  4: [2, 3, 5], // CHANNEL_MESSAGE_WITH_SOURCE
  5: [2, 3, 5], // DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
  6: [3, 5], // DEFERRED_UPDATE_MESSAGE
  7: [3, 5], // UPDATE_MESSAGE
  8: [4], // APPLICATION_COMMAND_AUTOCOMPLETE_RESULT
  9: [2, 3], // MODAL
};

/** Message flags an interaction response may set. */
const RESPONSE_FLAGS = 4 | 64 | 4096 | 32768; // SUPPRESS_EMBEDS, EPHEMERAL, SUPPRESS_NOTIFICATIONS, IS_COMPONENTS_V2

function formError(
  path: string[],
  code: string,
  message: string,
): CallbackRejection {
  let errors: Record<string, unknown> = { _errors: [{ code, message }] };
  for (const key of [...path].reverse()) errors = { [key]: errors };
  return {
    status: 400,
    body: { message: "Invalid Form Body", code: 50035, errors },
  };
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function checkMessageData(
  data: Record<string, unknown>,
  requireContent: boolean,
): CallbackRejection | undefined {
  const { content, embeds, components, attachments, flags, poll } = data;
  if (content !== undefined && content !== null) {
    if (typeof content !== "string") {
      return formError(
        ["data", "content"],
        "STRING_TYPE_CONVERT",
        "Could not interpret value as string.",
      );
    }
    if (content.length > 2000) {
      return formError(
        ["data", "content"],
        "BASE_TYPE_MAX_LENGTH",
        "Must be 2000 or fewer in length.",
      );
    }
  }
  if (embeds !== undefined && embeds !== null) {
    if (!Array.isArray(embeds)) {
      return formError(
        ["data", "embeds"],
        "LIST_TYPE_CONVERT",
        "Only iterables may be used in a ListType",
      );
    }
    if (embeds.length > 10) {
      return formError(
        ["data", "embeds"],
        "BASE_TYPE_MAX_LENGTH",
        "Must be 10 or fewer in length.",
      );
    }
  }
  if (components !== undefined && components !== null && !Array.isArray(components)) {
    return formError(
      ["data", "components"],
      "LIST_TYPE_CONVERT",
      "Only iterables may be used in a ListType",
    );
  }
  if (flags !== undefined && flags !== null) {
    if (typeof flags !== "number" || !Number.isInteger(flags) || (flags & ~RESPONSE_FLAGS) !== 0) {
      return formError(["data", "flags"], "MESSAGE_FLAGS_INVALID", "Invalid message flags.");
    }
  }
  if (requireContent) {
    const nonEmpty = (v: unknown) => Array.isArray(v) && v.length > 0;
    const hasBody = (typeof content === "string" && content.length > 0) ||
      nonEmpty(embeds) || nonEmpty(components) || nonEmpty(attachments) ||
      isObject(poll) || nonEmpty(data.sticker_ids);
    if (!hasBody) {
      return { status: 400, body: { message: "Cannot send an empty message", code: 50006 } };
    }
  }
  return undefined;
}

function checkChoices(data: unknown): CallbackRejection | undefined {
  if (!isObject(data) || !Array.isArray(data.choices)) {
    return formError(["data", "choices"], "BASE_TYPE_REQUIRED", "This field is required");
  }
  if (data.choices.length > 25) {
    return formError(["data", "choices"], "BASE_TYPE_MAX_LENGTH", "Must be 25 or fewer in length.");
  }
  for (const [i, choice] of data.choices.entries()) {
    const ok = isObject(choice) && typeof choice.name === "string" &&
      choice.name.length >= 1 && choice.name.length <= 100 &&
      ((typeof choice.value === "string" && choice.value.length <= 100) ||
        typeof choice.value === "number");
    if (!ok) {
      return formError(
        ["data", "choices", String(i)],
        "BASE_TYPE_INVALID",
        "Invalid choice: name 1-100 chars, value string (<= 100) or number.",
      );
    }
  }
  return undefined;
}

function checkModal(data: unknown): CallbackRejection | undefined {
  if (!isObject(data)) {
    return formError(["data"], "BASE_TYPE_REQUIRED", "This field is required");
  }
  const { custom_id: customId, title, components } = data;
  if (typeof customId !== "string" || customId.length < 1 || customId.length > 100) {
    return formError(
      ["data", "custom_id"],
      "BASE_TYPE_BAD_LENGTH",
      "Must be between 1 and 100 in length.",
    );
  }
  if (typeof title !== "string" || title.length < 1 || title.length > 45) {
    return formError(
      ["data", "title"],
      "BASE_TYPE_BAD_LENGTH",
      "Must be between 1 and 45 in length.",
    );
  }
  if (!Array.isArray(components) || components.length < 1 || components.length > 5) {
    return formError(
      ["data", "components"],
      "BASE_TYPE_BAD_LENGTH",
      "Must be between 1 and 5 in length.",
    );
  }
  return undefined;
}

/**
 * Checks a callback body against the interaction it answers. Returns the
 * rejection Discord would send, or undefined when the callback is valid.
 * `hasMessage` matters for modal submits: 6 and 7 need a source message.
 */
export function checkCallback(
  interaction: { type: number; hasMessage: boolean },
  body: unknown,
): CallbackRejection | undefined {
  if (!isObject(body)) {
    return formError(["type"], "BASE_TYPE_REQUIRED", "This field is required");
  }
  const { type, data } = body;
  if (typeof type !== "number" || !Number.isInteger(type)) {
    return formError(["type"], "BASE_TYPE_REQUIRED", "This field is required");
  }
  const validFor = VALID_CALLBACKS[type];
  const fitsModalSource = !((type === 6 || type === 7) && interaction.type === 5 &&
    !interaction.hasMessage);
  if (!validFor || !validFor.includes(interaction.type) || !fitsModalSource) {
    return formError(
      ["type"],
      "INTERACTION_RESPONSE_TYPE_INVALID",
      `Callback type ${type} is not valid for interaction type ${interaction.type}.`,
    );
  }
  if (data !== undefined && data !== null && !isObject(data)) {
    return formError(["data"], "DICT_TYPE_CONVERT", "Only dictionaries may be used in a DictType");
  }
  const fields = isObject(data) ? data : {};
  switch (type) {
    case 4:
      return checkMessageData(fields, true);
    case 5:
      if (
        fields.flags !== undefined && fields.flags !== null && fields.flags !== 0 &&
        fields.flags !== 64
      ) {
        return formError(
          ["data", "flags"],
          "MESSAGE_FLAGS_INVALID",
          "Only EPHEMERAL (64) may be set on a deferred response.",
        );
      }
      return undefined;
    case 7:
      return checkMessageData(fields, false);
    case 8:
      return checkChoices(data);
    case 9:
      return checkModal(data);
    default:
      return undefined;
  }
}
