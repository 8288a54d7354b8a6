#!/usr/bin/env node
// `npm run build`: compiles src/ to dist/ with tsc (tsconfig.build.json) and copies every file of
// src/ that is not TypeScript (SQL migrations, views, static files, prompts) to the same place
// under dist/, so paths taken relative to `import.meta.url` resolve alike from src/ and dist/.
// Nothing here names a source file: the tree is compiled whole and assets are copied by extension.
// bin/forgebot.js calls ensureBuilt() so a clone needs no separate build step (docs/adr/0010).
import { spawnSync } from "node:child_process";
import { closeSync, copyFileSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
export const SRC = path.join(ROOT, "src");
export const DIST = path.join(ROOT, "dist");
/** Written last into a finished build: the fingerprint of the src/ it was compiled from. */
const STAMP = ".build-stamp.json";
const LOCK = path.join(ROOT, ".dist-build.lock");
const CONFIGS = ["tsconfig.json", "tsconfig.build.json"].map((f) => path.join(ROOT, f));
const TYPESCRIPT_SOURCE = /\.[cm]?tsx?$/;
/** A lock older than this belongs to a build that died: take it over. */
const STALE_LOCK_MS = 5 * 60_000;

function walk(dir, visit) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name);
    visit(full, entry);
    if (entry.isDirectory()) walk(full, visit);
  }
}

/**
 * What a build depends on, cheaply: how many entries src/ has and the newest modification time
 * among them (directories too, so a deleted or renamed file counts) and the tsconfig files.
 */
export function sourceFingerprint() {
  let entries = 0;
  let newest = 0;
  const see = (full) => {
    entries++;
    newest = Math.max(newest, statSync(full).mtimeMs);
  };
  see(SRC);
  walk(SRC, see);
  for (const file of CONFIGS) see(file);
  return `${entries}:${newest}`;
}

function readStamp() {
  try {
    return JSON.parse(readFileSync(path.join(DIST, STAMP), "utf8"));
  } catch {
    return null;
  }
}

/** True when dist/ holds a finished build of src/ as it is now. */
export function isBuildCurrent() {
  return readStamp()?.sources === sourceFingerprint();
}

function sleepMs(ms) {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function withLock(fn) {
  for (;;) {
    try {
      closeSync(openSync(LOCK, "wx"));
      break;
    } catch (err) {
      if (err?.code !== "EEXIST") throw err;
      let age = 0;
      try {
        age = Date.now() - statSync(LOCK).mtimeMs;
      } catch {
        continue;
      }
      if (age > STALE_LOCK_MS) rmSync(LOCK, { force: true });
      else sleepMs(200);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(LOCK, { force: true });
  }
}

function copyAssets(from, to) {
  let copied = 0;
  walk(from, (full, entry) => {
    if (!entry.isFile() || TYPESCRIPT_SOURCE.test(entry.name)) return;
    const target = path.join(to, path.relative(from, full));
    mkdirSync(path.dirname(target), { recursive: true });
    copyFileSync(full, target);
    copied++;
  });
  return copied;
}

/**
 * Compiles into a fresh directory and swaps it in only once complete, so dist/ is never a
 * half-written or stale-file-carrying tree (a file removed from src/ disappears from dist/).
 */
export function build({ quiet = false, onlyIfStale = false } = {}) {
  return withLock(() => {
    // Another process may have finished the same build while this one waited for the lock.
    if (onlyIfStale && isBuildCurrent()) return null;
    const started = performance.now();
    const sources = sourceFingerprint();
    const tmp = `${DIST}.build-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    let tsc;
    try {
      tsc = createRequire(import.meta.url).resolve("typescript/bin/tsc");
    } catch {
      throw new Error("cannot build dist/: the typescript package is not installed (run npm install, which installs dev dependencies)");
    }
    const compiled = spawnSync(process.execPath, [tsc, "-p", path.join(ROOT, "tsconfig.build.json"), "--outDir", tmp], {
      cwd: ROOT,
      // tsc reports on stdout; keep it off a CLI command's own output (`forgebot feature list`).
      stdio: ["ignore", 2, 2],
    });
    if (compiled.status !== 0) {
      rmSync(tmp, { recursive: true, force: true });
      throw new Error(`tsc failed (exit ${compiled.status ?? compiled.signal})`);
    }
    const assets = copyAssets(SRC, tmp);
    writeFileSync(path.join(tmp, STAMP), `${JSON.stringify({ sources, node: process.version, builtAt: new Date().toISOString() })}\n`);
    rmSync(DIST, { recursive: true, force: true });
    renameSync(tmp, DIST);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    if (!quiet) process.stderr.write(`build: dist/ compiled from src/ in ${seconds} s (${assets} assets copied)\n`);
    return { seconds: Number(seconds), assets };
  });
}

/** Builds when dist/ is missing or was built from another src/; a no-op otherwise. */
export function ensureBuilt() {
  if (isBuildCurrent()) return false;
  process.stderr.write(existsSync(DIST) ? "forgebot: src/ changed since dist/ was built: building\n" : "forgebot: dist/ is missing: building\n");
  build({ onlyIfStale: true });
  return true;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    build();
  } catch (err) {
    process.stderr.write(`build: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
