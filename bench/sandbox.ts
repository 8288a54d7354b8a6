import { spawn } from "node:child_process";
import { chownSync, chmodSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createLogger } from "../src/logging/logger.js";
import { createSandbox, sandboxUserFor } from "../src/workspace/sandbox.js";
import { ms, percentile, type BenchResult } from "./support.js";

/** Overhead of `run true` in the sandbox (prlimit + bubblewrap + namespaces) against a bare spawn of `true`. */

const RUNS = 200;

function bareSpawn(): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn("/bin/true", [], { stdio: ["ignore", "pipe", "pipe"] });
    child.on("error", reject);
    child.on("close", () => resolve(performance.now() - t0));
  });
}

export async function benchSandbox(): Promise<BenchResult> {
  const scratch = mkdtempSync(path.join(tmpdir(), "forgebot-bench-sandbox-"));
  chmodSync(scratch, 0o711);
  const tree = mkdtempSync(path.join(scratch, "tree-"));
  const user = sandboxUserFor(1);
  if (user) chownSync(tree, user.uid, user.gid);
  try {
    const sandbox = await createSandbox({ mode: "bwrap", commandTimeoutMs: 10_000, hidden: [] }, createLogger("silent"));
    if (!sandbox.status.available) return { title: "Sandbox overhead of `run true`", lines: [], missed: [`the sandbox is not available here: ${sandbox.status.reason}`] };
    const bare: number[] = [];
    const boxed: number[] = [];
    for (let i = 0; i < 10; i++) {
      await bareSpawn();
      await sandbox.run({ tree, command: "true", user });
    }
    for (let i = 0; i < RUNS; i++) {
      bare.push(await bareSpawn());
      const t0 = performance.now();
      const r = await sandbox.run({ tree, command: "true", user });
      boxed.push(performance.now() - t0);
      if (r.outcome !== "exit_zero") throw new Error(`run true failed: ${r.output}`);
    }
    const over = boxed.map((b, i) => b - bare[i]!);
    return {
      title: `Sandbox overhead of \`run true\` (${RUNS} runs, one after another)`,
      lines: [
        `sandboxed (prlimit + bwrap, new user/pid/ipc/uts/net namespaces): p50 ${ms(percentile(boxed, 50))}, p99 ${ms(percentile(boxed, 99))}`,
        `bare spawn of /bin/true (baseline): p50 ${ms(percentile(bare, 50))}, p99 ${ms(percentile(bare, 99))}`,
        `overhead per command: p50 ${ms(percentile(over, 50))}, p99 ${ms(percentile(over, 99))}`,
      ],
      missed: [],
    };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
