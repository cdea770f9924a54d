/**
 * The control stage: the service's own HTTP API (`createControlHandler`, a
 * plain `(Request) => Response` handler), what it may see and do
 * (`ControlSource`, built from the other stages' narrow `ControlInputs`), its
 * JSON shapes (`wire.ts`) and the status page. Only the entry point serves it.
 * @module
 */
export * from "./wire.ts";
export * from "./inputs.ts";
export * from "./source.ts";
export * from "./server.ts";
export { HttpError } from "./http.ts";
export { statusPageHtml } from "./status_page/mod.ts";
