/**
 * Entry point of `deno task start`: the only place that reads the process
 * environment, serves HTTP and listens for signals.
 * @module
 */
import { ConfigError, loadConfig, secretsOf } from "../configs.ts";
import { createControlHandler } from "./control/server.ts";
import { createLogger } from "./log.ts";
import { RestAuthError } from "./rest/mod.ts";
import { createService } from "./service.ts";

/** Exit codes, documented in the README. */
export const EXIT = { ok: 0, fatalGateway: 1, config: 2, restAuth: 3 } as const;

async function main(): Promise<number> {
  let config;
  try {
    config = loadConfig(Deno.env.toObject());
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      return EXIT.config;
    }
    throw error;
  }
  const logger = createLogger({
    level: config.log.level,
    format: config.log.format,
    secrets: secretsOf(config),
  });
  // A crash-prone upstream must never take the process down: log, keep running.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    logger.error("unhandled rejection (kept running)", { error: event.reason });
  });

  const service = await createService({ config, logger });
  let alive = true;
  const server = Deno.serve({
    hostname: config.http.host,
    port: config.http.port,
    onListen: ({ hostname, port }) => logger.info("control API listening", { hostname, port }),
  }, createControlHandler({ alive: () => alive }));

  let exitCode: number = EXIT.ok;
  const done = Promise.withResolvers<void>();
  let signals = 0;
  const onSignal = (name: string) => {
    signals++;
    if (signals > 1) {
      logger.warn("second signal: saving sessions and exiting now", { signal: name });
      service.saveSessions().catch(() => {}).finally(() => Deno.exit(exitCode));
      return;
    }
    logger.info("stopping", { signal: name });
    done.resolve();
  };
  Deno.addSignalListener("SIGINT", () => onSignal("SIGINT"));
  Deno.addSignalListener("SIGTERM", () => onSignal("SIGTERM"));

  service.fatal.then((error) => {
    logger.error(error.message);
    exitCode = EXIT.fatalGateway;
    done.resolve();
  });
  service.start().catch((error) => {
    if (error instanceof RestAuthError) {
      logger.error(error.message, { status: error.status });
      exitCode = EXIT.restAuth;
    } else {
      logger.error("start-up failed", { error });
      exitCode = EXIT.fatalGateway;
    }
    done.resolve();
  });

  await done.promise;
  alive = false;
  await service.stop();
  await server.shutdown();
  logger.info("stopped", { exitCode });
  return exitCode;
}

if (import.meta.main) Deno.exit(await main());
