#!/usr/bin/env node
// Runs the compiled bot (dist/). In a clone, where src/ is present, it first builds when dist/ is
// missing or was built from another src/, so `npm install && npm start` needs no build step; the
// container image ships dist/ without src/ and starts straight away. Development: bin/forgebot-dev.js.
import { existsSync } from "node:fs";

if (existsSync(new URL("../src", import.meta.url))) {
  const { ensureBuilt } = await import("../scripts/build.mjs");
  try {
    ensureBuilt();
  } catch (err) {
    process.stderr.write(`forgebot: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  }
}
await import("../dist/main.js");
