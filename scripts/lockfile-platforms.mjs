#!/usr/bin/env node
// The npm registry mirror this project is built against serves only some platform builds of
// packages like @swc/core, so `npm install` leaves the other platforms' optional packages out of
// package-lock.json, and `npm ci` then refuses the lock as out of sync. This adds a lock entry
// for each missing platform package with its os/cpu/libc, so npm ci accepts the lock and skips
// them on this platform exactly as it would with a lock written against the full registry.
//
// The file is written the way npm writes it (see npmStringify), so a later `npm install` finds
// nothing to rewrite: a fresh clone's `npm install` leaves package-lock.json unchanged.
// Run after `npm install` changes dependencies: node scripts/lockfile-platforms.mjs
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const OS = ["darwin", "linux", "win32", "android", "freebsd", "openharmony", "sunos", "openbsd", "netbsd", "aix"];
const CPU = ["arm64", "x64", "ia32", "arm", "ppc64", "s390x", "riscv64", "loong64", "wasm32", "mips64el"];

/**
 * Keys npm puts first, in this order, at every level of the lock (@npmcli/arborist's
 * `swKeyOrder` in lib/shrinkwrap.js).
 */
const NPM_KEY_ORDER = ["name", "version", "lockfileVersion", "resolved", "integrity", "requires", "packages", "dependencies"];

const isObject = (v) => v !== null && typeof v === "object" && !Array.isArray(v);

function compareKeys(a, b) {
  const ia = NPM_KEY_ORDER.indexOf(a);
  const ib = NPM_KEY_ORDER.indexOf(b);
  if (ia !== -1 || ib !== -1) return ia === -1 ? 1 : ib === -1 ? -1 : ia - ib;
  return a.localeCompare(b, "en");
}

/**
 * JSON as npm serializes its lockfile (arborist's `Shrinkwrap#toString`, through
 * json-stringify-nice): in every object the preferred keys first, then scalars and arrays
 * before objects, each group in English locale order; two-space indent and a final newline.
 * Entries written in insertion order are what made `npm install` rewrite the lock.
 */
export function npmStringify(value) {
  const sortKeys = (_key, v) => {
    if (!isObject(v)) return v;
    const entries = Object.entries(v).sort(([ak, av], [bk, bv]) => (isObject(av) === isObject(bv) ? compareKeys(ak, bk) : isObject(av) ? 1 : -1));
    return Object.fromEntries(entries);
  };
  return `${JSON.stringify(value, sortKeys, 2)}\n`;
}

function platformOf(name) {
  const parts = name.split("/").pop().split("-");
  const os = OS.find((o) => parts.includes(o));
  const cpu = CPU.find((c) => parts.includes(c) || parts.includes(`${c}eabihf`) || (c === "arm" && parts.includes("arm")));
  const libc = parts.includes("musl") || parts.includes("musleabihf") ? "musl" : parts.includes("gnu") || parts.includes("gnueabihf") ? "glibc" : undefined;
  if (!os || !cpu) return null;
  return { os: [os], cpu: [cpu], ...(libc ? { libc: [libc] } : {}) };
}

/** Adds the missing platform packages' entries to a parsed lock; returns how many. */
export function addPlatformEntries(lock) {
  const packages = lock.packages;
  let added = 0;
  for (const [path, meta] of Object.entries(packages)) {
    for (const [dep, spec] of Object.entries(meta.optionalDependencies ?? {})) {
      const nested = `${path ? `${path}/` : ""}node_modules/${dep}`;
      if (packages[nested] || packages[`node_modules/${dep}`]) continue;
      const platform = platformOf(dep);
      if (!platform || !/^\d+\.\d+\.\d+/.test(spec)) continue;
      packages[`node_modules/${dep}`] = { version: spec, ...(meta.dev ? { dev: true } : {}), optional: true, ...platform };
      added++;
    }
  }
  return added;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const file = new URL("../package-lock.json", import.meta.url);
  const lock = JSON.parse(readFileSync(file, "utf8"));
  const added = addPlatformEntries(lock);
  writeFileSync(file, npmStringify(lock));
  process.stdout.write(`lockfile-platforms: added ${added} platform package entries\n`);
}
