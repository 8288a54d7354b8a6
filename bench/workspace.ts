import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { createLogger } from "../src/logging/logger.js";
import { extractArchive } from "../src/workspace/archive.js";
import { createSandbox } from "../src/workspace/sandbox.js";
import { openWorkspace } from "../src/workspace/workspace.js";
import { MemoryWorkspaceStore } from "../test/helpers/memory-workspace-store.js";
import { percentile, type BenchResult } from "./support.js";

/**
 * Workspace ready from a ~50 MB repository archive (download from memory, bounded extraction,
 * snapshot commit, ownership for the sandbox's user) against plain `tar -xzf` of the same archive
 * in the same run.
 */

const RUNS = 5;

/** A repository-like tree: many small source files and some larger, less compressible ones. */
function makeRepository(dir: string): void {
  const words = "const value = compute(input, options); // keep the cache warm\n";
  for (let d = 0; d < 40; d++) {
    const sub = path.join(dir, "repo", "src", `module${d}`);
    mkdirSync(sub, { recursive: true });
    for (let f = 0; f < 50; f++) writeFileSync(path.join(sub, `file${f}.ts`), words.repeat(80 + ((d * f) % 200)));
  }
  const assets = path.join(dir, "repo", "assets");
  mkdirSync(assets, { recursive: true });
  for (let i = 0; i < 48; i++) writeFileSync(path.join(assets, `blob${i}.bin`), randomBytes(1024 * 1024));
}

export async function benchWorkspace(): Promise<BenchResult> {
  const scratch = mkdtempSync(path.join(tmpdir(), "forgebot-bench-ws-"));
  chmodSync(scratch, 0o711);
  const log = createLogger("silent");
  try {
    makeRepository(scratch);
    const archivePath = path.join(scratch, "repo.tar.gz");
    execFileSync("tar", ["-czf", archivePath, "-C", scratch, "repo"]);
    const archive = await readFile(archivePath);
    const unpacked = Number(execFileSync("du", ["-sb", path.join(scratch, "repo")]).toString().split("\t")[0]);
    const sandbox = await createSandbox({ mode: "bwrap", commandTimeoutMs: 60_000, hidden: [] }, log, { selfTest: false });
    const ours: number[] = [];
    const plain: number[] = [];
    const extractOnly: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const dest = mkdtempSync(path.join(scratch, "tar-"));
      const t0 = performance.now();
      const r = spawnSync("tar", ["-xzf", archivePath, "-C", dest]);
      plain.push(performance.now() - t0);
      if (r.status !== 0) throw new Error(`tar failed: ${r.stderr}`);
      rmSync(dest, { recursive: true, force: true });

      const bounded = mkdtempSync(path.join(scratch, "extract-"));
      const t2 = performance.now();
      await extractArchive(Readable.from([archive]), bounded, { maxBytes: 500 * 1024 * 1024 });
      extractOnly.push(performance.now() - t2);
      rmSync(bounded, { recursive: true, force: true });

      const t1 = performance.now();
      const workspace = await openWorkspace({
        sessionId: 990_000 + i,
        forge: "github",
        settings: { dir: path.join(scratch, "workspaces"), maxBytes: 500 * 1024 * 1024 },
        store: new MemoryWorkspaceStore(),
        source: {
          snapshotRef: async () => ({ ref: "main", sha: "0".repeat(40) }),
          download: async () => Readable.toWeb(Readable.from([archive])) as unknown as ReadableStream<Uint8Array>,
        },
        effects: [],
        sandbox,
        signal: new AbortController().signal,
        log,
      });
      ours.push(performance.now() - t1);
      await workspace.remove();
    }
    const s = (ms: number) => `${(ms / 1000).toFixed(2)} s`;
    const lines = [
      `archive ${(archive.length / 1024 ** 2).toFixed(1)} MB gzipped, ${(unpacked / 1024 ** 2).toFixed(1)} MB unpacked, 2,048 files; ${RUNS} runs each`,
      `workspace ready (bounded streaming extraction + git snapshot commit${process.getuid?.() === 0 ? " + chown to the sandbox user" : ""}): median ${s(percentile(ours, 50))}, max ${s(Math.max(...ours))}`,
      `of which the bounded extraction alone (node-tar, streaming checks): median ${s(percentile(extractOnly, 50))}`,
      `plain \`tar -xzf\` (baseline): median ${s(percentile(plain, 50))}, max ${s(Math.max(...plain))}`,
      `ratio (median): ${(percentile(ours, 50) / percentile(plain, 50)).toFixed(2)}×`,
    ];
    return { title: "Workspace ready from a ~50 MB repository archive", lines, missed: [] };
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}
