/**
 * Runs the service's real entry point (`src/main.ts`) as a child process, the
 * way `deno task start` does, for signal and crash tests.
 * @module
 */

/** A running proxy process. */
export interface ProxyProcess {
  /** Everything it printed so far. */
  readonly output: string;
  kill(signal: Deno.Signal): void;
  /** Exit code. */
  readonly exited: Promise<number>;
}

/** Starts `src/main.ts` with exactly `env`. */
export function startProxyProcess(env: Record<string, string>): ProxyProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", "--allow-env", "--allow-read", "--allow-write", "src/main.ts"],
    env: { GATEWAY_PORT: "0", LOG_LEVEL: "info", ...env },
    clearEnv: true,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let output = "";
  const pump = async (stream: ReadableStream<Uint8Array>) => {
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) output += chunk;
  };
  const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
  const exited = child.status.then(async (s) => {
    await pumps;
    return s.code;
  });
  return {
    get output() {
      return output;
    },
    kill(signal) {
      try {
        child.kill(signal);
      } catch { /* already gone */ }
    },
    exited,
  };
}

/** Runs `src/main.ts` to its exit (killed after `timeoutMs`); its code and everything it printed. */
export async function runProxyProcess(
  env: Record<string, string>,
  timeoutMs = 60_000,
): Promise<{ code: number; text: string }> {
  const proxy = startProxyProcess(env);
  const timer = setTimeout(() => proxy.kill("SIGKILL"), timeoutMs);
  const code = await proxy.exited;
  clearTimeout(timer);
  return { code, text: proxy.output };
}
