/**
 * Starts a benchmark helper server (a sink) as its own process and waits for
 * the `listening PORT` line it prints once its socket is bound.
 * @module
 */

/** A helper process that listens on `port`. */
export interface ListeningChild {
  child: Deno.ChildProcess;
  port: number;
}

/** Runs `deno run --allow-net <script> ...args`; resolves once it printed `listening PORT`. */
export async function spawnListening(script: string, args: string[]): Promise<ListeningChild> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-net", script, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (!/listening (\d+)/.test(text)) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`${script} exited before listening`);
    text += value;
  }
  reader.releaseLock();
  return { child, port: Number(/listening (\d+)/.exec(text)![1]) };
}
