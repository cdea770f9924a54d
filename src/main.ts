/**
 * Entry point of `deno task start`: the only place that reads the process
 * environment, serves HTTP and listens for signals.
 * @module
 */
import { type Config, ConfigError, loadConfig, secretsOf } from "../configs.ts";
import { controlInputsOf, createControlHandler, createControlSourceFrom } from "./control/mod.ts";
import { type Controller, loadController } from "./controller.ts";
import { createLogger, type Logger } from "./log.ts";
import { RestAuthError } from "./rest/mod.ts";
import { createService, type Service } from "./service.ts";
import { RedisUnreachableError } from "./cluster/redis.ts";
import { DataDirLockedError } from "./data_dir.ts";

/** Exit codes, documented in docs/operations.md. */
export const EXIT = {
  ok: 0,
  fatalGateway: 1,
  config: 2,
  restAuth: 3,
  startup: 4,
  /** Stopped, but undelivered events could not be journaled: only Discord's replay has them. */
  dataAtRisk: 5,
} as const;

async function main(): Promise<number> {
  let config: Config;
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
  for (const warning of config.warnings) logger.warn(warning);
  // A crash-prone upstream must never take the process down: log, keep running.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    logger.error("unhandled rejection (kept running)", { error: event.reason });
  });

  let controller: Controller | undefined;
  if (config.controller) {
    try {
      const specifier = new URL(config.controller, `file://${Deno.cwd()}/`).href;
      controller = await loadController(specifier);
      logger.info("controller loaded", { module: config.controller });
    } catch (error) {
      console.error(
        `Invalid configuration:\n  GATEWAY_CONTROLLER: ${
          (error as Error).message
        }\n    example: GATEWAY_CONTROLLER=./examples/controller.ts`,
      );
      return EXIT.config;
    }
  }

  let service: Service;
  let server: Deno.HttpServer;
  let alive = true;
  try {
    service = await createService({ config, logger, controller });
  } catch (error) {
    if (error instanceof DataDirLockedError) {
      logger.error(error.message);
      return EXIT.config;
    }
    if (error instanceof RedisUnreachableError) {
      return startupFailure(logger, "cannot reach Redis (REDIS_URL)", error);
    }
    return startupFailure(logger, `cannot use DATA_DIR=${config.dataDir}`, error);
  }
  try {
    server = Deno.serve(
      {
        hostname: config.http.host,
        port: config.http.port,
        onListen: ({ hostname, port }) => logger.info("control API listening", { hostname, port }),
      },
      createControlHandler(
        createControlSourceFrom(controlInputsOf(service), { alive: () => alive }),
        {
          authorization: config.http.authorization,
          statusPage: config.http.statusPage,
        },
      ),
    );
  } catch (error) {
    return startupFailure(
      logger,
      `cannot listen on GATEWAY_HOST=${config.http.host} GATEWAY_PORT=${config.http.port}`,
      error,
    );
  }

  let exitCode: number = EXIT.ok;
  let stopping = false;
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
    stopping = true;
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
    if (stopping) return; // a signal interrupted start-up: not a failure
    if (error instanceof RestAuthError) {
      logger.error(error.message, { status: error.status });
      exitCode = EXIT.restAuth;
    } else {
      logger.error("start-up failed", { error });
      exitCode = EXIT.startup;
    }
    done.resolve();
  });

  await done.promise;
  alive = false;
  const report = await service.stop();
  if (report.unjournaled > 0) {
    logger.error(
      `${report.unjournaled} undelivered events could not be written to the journal in DATA_DIR=${config.dataDir}; sessions were saved so that Discord replays what it still holds on the next start, anything it no longer holds is lost`,
    );
    if (exitCode === EXIT.ok) exitCode = EXIT.dataAtRisk;
  }
  await server.shutdown();
  logger.info("stopped", { exitCode });
  return exitCode;
}

function startupFailure(logger: Logger, what: string, error: unknown): number {
  logger.error(`start-up failed: ${what}`, { error });
  return EXIT.startup;
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (error) {
    console.error("gateway proxy crashed:", error);
    Deno.exit(EXIT.startup);
  }
}
