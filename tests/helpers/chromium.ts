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
