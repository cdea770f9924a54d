/**
 * Renders a page in Debian's headless Chromium (`/usr/bin/chromium`) and
 * returns the DOM after its scripts ran, for tests of the HTML status page.
 *
 * Uses `--virtual-time-budget`: Chromium runs the page on a virtual clock that
 * only advances while no network request is pending, so `fetch` + `setTimeout`
 * polling against a local server completes several rounds and the DOM is
 * dumped once `waitMs` of virtual time has elapsed (usually well under a
 * second of real time). Tests using this need `--allow-run --allow-read
 * --allow-write`; skip them when {@linkcode chromiumAvailable} is false.
 *
 * On that virtual clock `performance.now()` stands still while a script runs,
 * so a page cannot time itself there: {@linkcode openInChromium} loads a page
 * in real time instead and drives it over the DevTools protocol (evaluate an
 * expression, wait until one is true), for tests that read what a page
 * measured or click in it. Those also need `--allow-net` (a local WebSocket).
 * @module
 */

/** Where Debian's `chromium` package puts its launcher. */
export const CHROMIUM_PATH = "/usr/bin/chromium";

/** Real-time limit per Chromium run, on top of the virtual time budget. */
const HARD_TIMEOUT_MS = 60_000;

/** Whether `/usr/bin/chromium` exists. */
export function chromiumAvailable(): boolean {
  try {
    return Deno.statSync(CHROMIUM_PATH).isFile;
  } catch (err) {
    if (err instanceof Deno.errors.NotFound) return false;
    throw err;
  }
}

/** Options for {@linkcode renderWithChromium}. */
export interface RenderOptions {
  /** Virtual time the page gets before the DOM is dumped; default 6000 ms. */
  waitMs?: number;
  /** If set, also write a 1280x800 PNG screenshot here (a second run). */
  screenshotPath?: string;
}

/**
 * Loads `url` in headless Chromium with a fresh profile, lets it run for
 * `waitMs` of virtual time and returns the serialized DOM
 * (`document.documentElement.outerHTML`, as `--dump-dom` prints it).
 * Throws if Chromium is not installed, fails, or prints no DOM.
 */
export async function renderWithChromium(
  url: string,
  options: RenderOptions = {},
): Promise<string> {
  if (!chromiumAvailable()) {
    throw new Error("chromium is not installed: apt-get install -y chromium");
  }
  const waitMs = options.waitMs ?? 6000;
  if (!Number.isFinite(waitMs) || waitMs < 0) throw new Error(`bad waitMs: ${waitMs}`);
  const budget = `--virtual-time-budget=${Math.round(waitMs)}`;

  const dom = await runChromium([budget, "--dump-dom", url]);
  if (!/<html[\s>]/i.test(dom.stdout)) {
    throw new Error(
      `chromium printed no DOM for ${url} (exit ${dom.code})\n${tail(dom.stderr)}`,
    );
  }

  if (options.screenshotPath !== undefined) {
    const path = options.screenshotPath;
    await Deno.remove(path).catch(() => {});
    const shot = await runChromium([
      budget,
      `--screenshot=${path}`,
      "--window-size=1280,800",
      "--hide-scrollbars",
      url,
    ]);
    const written = await Deno.stat(path).then((s) => s.size > 0, () => false);
    if (!written) {
      throw new Error(
        `chromium wrote no screenshot to ${path} (exit ${shot.code})\n${tail(shot.stderr)}`,
      );
    }
  }
  return dom.stdout;
}

interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

async function runChromium(args: string[]): Promise<RunResult> {
  const profile = await Deno.makeTempDir({ prefix: "chromium-profile-" });
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), HARD_TIMEOUT_MS);
  try {
    const out = await new Deno.Command(CHROMIUM_PATH, {
      args: [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        `--user-data-dir=${profile}`,
        ...args,
      ],
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      signal: abort.signal,
    }).output();
    const decoder = new TextDecoder();
    const result = {
      code: out.code,
      stdout: decoder.decode(out.stdout),
      stderr: decoder.decode(out.stderr),
    };
    if (abort.signal.aborted) {
      throw new Error(
        `chromium did not finish within ${HARD_TIMEOUT_MS} ms: ${args.join(" ")}\n${
          tail(result.stderr)
        }`,
      );
    }
    return result;
  } finally {
    clearTimeout(timer);
    await removeDir(profile);
  }
}

/** Chromium's helper processes may still be closing files; retry briefly. */
async function removeDir(path: string): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await Deno.remove(path, { recursive: true });
      return;
    } catch (err) {
      if (err instanceof Deno.errors.NotFound) return;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

function tail(text: string, lines = 20): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

/** A page open in headless Chromium, driven over the DevTools protocol. */
export interface ChromiumPage {
  /** Evaluates `expression` in the page (promises awaited); returns its value as JSON data. */
  evaluate<T = unknown>(expression: string): Promise<T>;
  /** Evaluates `expression` every 50 ms until it is truthy; throws with `what` after `timeoutMs`. */
  waitFor(expression: string, what: string, timeoutMs?: number): Promise<void>;
  /** Closes the browser and removes its profile. */
  close(): Promise<void>;
}

/**
 * Opens `url` in headless Chromium on the real clock (no virtual time) with a fresh
 * profile, a 1280x800 window and the en-US locale. Close the page when done.
 */
export async function openInChromium(url: string): Promise<ChromiumPage> {
  if (!chromiumAvailable()) {
    throw new Error("chromium is not installed: apt-get install -y chromium");
  }
  const profile = await Deno.makeTempDir({ prefix: "chromium-profile-" });
  const child = new Deno.Command(CHROMIUM_PATH, {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--window-size=1280,800",
      // Numbers and dates as the tests expect them, whatever the machine's locale.
      "--lang=en-US",
      "--remote-debugging-port=0",
      `--user-data-dir=${profile}`,
      "about:blank",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  const stderr = keepTail(child.stderr);
  let socket: WebSocket | undefined;
  const close = async () => {
    socket?.close();
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    await stderr.done;
    await removeDir(profile);
  };
  try {
    const endpoint = await withTimeout(stderr.devtools, "chromium's DevTools endpoint", stderr);
    socket = await connect(endpoint);
    const cdp = devtools(socket);
    const { targetId } = await cdp.send<{ targetId: string }>("Target.createTarget", { url });
    const { sessionId } = await cdp.send<{ sessionId: string }>(
      "Target.attachToTarget",
      { targetId, flatten: true },
    );
    const evaluate = async <T>(expression: string): Promise<T> => {
      const answer = await cdp.send<EvaluateAnswer>(
        "Runtime.evaluate",
        { expression, returnByValue: true, awaitPromise: true },
        sessionId,
      );
      if (answer.exceptionDetails) {
        const d = answer.exceptionDetails;
        throw new Error(`${expression}: ${d.exception?.description ?? d.text}`);
      }
      return answer.result.value as T;
    };
    return {
      evaluate,
      async waitFor(expression, what, timeoutMs = 20_000) {
        const deadline = Date.now() + timeoutMs;
        while (!(await evaluate(expression))) {
          if (Date.now() > deadline) {
            throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} in ${url}`);
          }
          await new Promise((r) => setTimeout(r, 50));
        }
      },
      close,
    };
  } catch (error) {
    await close();
    throw error;
  }
}

interface EvaluateAnswer {
  result: { value?: unknown };
  exceptionDetails?: { text: string; exception?: { description?: string } };
}

/** Chromium's stderr: the DevTools URL once printed, and the last lines for error messages. */
function keepTail(stream: ReadableStream<Uint8Array>) {
  const lines: string[] = [];
  const found = Promise.withResolvers<string>();
  const done = (async () => {
    let buffered = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      buffered += chunk;
      const parts = buffered.split("\n");
      buffered = parts.pop()!;
      for (const line of parts) {
        const m = /DevTools listening on (ws:\/\/\S+)/.exec(line);
        if (m) found.resolve(m[1]);
        lines.push(line);
        if (lines.length > 40) lines.shift();
      }
    }
    found.reject(new Error("chromium exited before it listened"));
  })();
  found.promise.catch(() => {});
  return { devtools: found.promise, done, tail: () => lines.slice(-20).join("\n") };
}

async function withTimeout<T>(
  promise: Promise<T>,
  what: string,
  stderr: { tail(): string },
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no ${what} within ${HARD_TIMEOUT_MS} ms\n${stderr.tail()}`)),
          HARD_TIMEOUT_MS,
        );
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

function connect(url: string): Promise<WebSocket> {
  const socket = new WebSocket(url);
  return new Promise((resolve, reject) => {
    socket.onopen = () => resolve(socket);
    socket.onerror = () => reject(new Error(`cannot connect to chromium's DevTools at ${url}`));
  });
}

/** Requests and answers over one DevTools socket, matched by id; each bounded in time. */
function devtools(socket: WebSocket) {
  let nextId = 1;
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  socket.onmessage = (event) => {
    const message = JSON.parse(event.data);
    const call = pending.get(message.id);
    if (!call) return; // an event, not an answer
    pending.delete(message.id);
    if (message.error) call.reject(new Error(`DevTools: ${message.error.message}`));
    else call.resolve(message.result);
  };
  socket.onclose = () => {
    for (const call of pending.values()) call.reject(new Error("the DevTools socket closed"));
    pending.clear();
  };
  return {
    send<T>(method: string, params: Record<string, unknown>, sessionId?: string): Promise<T> {
      const id = nextId++;
      socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id);
          reject(new Error(`DevTools: no answer to ${method} within ${HARD_TIMEOUT_MS} ms`));
        }, HARD_TIMEOUT_MS);
        pending.set(id, {
          resolve: (v) => {
            clearTimeout(timer);
            resolve(v as T);
          },
          reject: (e) => {
            clearTimeout(timer);
            reject(e);
          },
        });
      });
    },
  };
}
