/**
 * What the comparison benchmark records about the machine it ran on, and the
 * other benchmark processes it finds running (they would skew every figure).
 * @module
 */

/** Other benchmark processes running now (they would share the cores and skew every figure). */
export function otherBenchmarks(): string[] {
  const found: string[] = [];
  try {
    for (const entry of Deno.readDirSync("/proc")) {
      // Not this process, nor `bench/main.ts` when it started this one.
      if (!/^\d+$/.test(entry.name) || [Deno.pid, Deno.ppid].includes(Number(entry.name))) continue;
      try {
        const cmd = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).replaceAll("\0", " ");
        if (/bench\/(compare|main|queue_bench|restart_bench)\.ts/.test(cmd)) {
          found.push(`${entry.name}: ${cmd.trim().slice(0, 120)}`);
        }
      } catch { /* gone */ }
    }
  } catch { /* no /proc */ }
  return found;
}

/** `Max open files` (soft) of this process, which the sink inherits. */
export function openFileLimit(): number | undefined {
  try {
    const limits = Deno.readTextFileSync("/proc/self/limits");
    const m = /Max open files\s+(\d+)/.exec(limits);
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

export function machine() {
  const cpuinfo = (() => {
    try {
      return Deno.readTextFileSync("/proc/cpuinfo");
    } catch {
      return "";
    }
  })();
  const load = (() => {
    try {
      return Deno.readTextFileSync("/proc/loadavg").split(" ").slice(0, 3).join(" ");
    } catch {
      return "";
    }
  })();
  return {
    cores: navigator.hardwareConcurrency,
    cpu: /model name\s*:\s*(.+)/.exec(cpuinfo)?.[1] ?? "unknown",
    os: `${Deno.build.os} ${Deno.build.arch}`,
    deno: Deno.version.deno,
    v8: Deno.version.v8,
    loadAverageAtStart: load,
    openFileLimit: openFileLimit() ?? null,
  };
}
