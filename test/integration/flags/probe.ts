/**
 * A second forgebot-like process for the cross-process tests, run with `node --import tsx`:
 *   probe.ts actors DATABASE_URL FLAG   prints the JSON list of ACTORS the flag is on for
 *   probe.ts watch DATABASE_URL FLAG ACTOR
 *       prints {"enabled":…,"at":…} at start and at every change it sees; exits when stdin closes
 */
import { createFeatureFlags } from "../../../src/flags/flags.js";
import { createLogger } from "../../../src/logging/logger.js";
import { createPool } from "../../../src/storage/pool.js";
import { ACTORS, FIXTURE_DEFINITIONS, FIXTURE_GROUPS } from "./support.js";

const [mode, databaseUrl, flag, actor] = process.argv.slice(2);
if (!mode || !databaseUrl || !flag) throw new Error("usage: probe.ts actors|watch DATABASE_URL FLAG [ACTOR]");

const db = createPool(databaseUrl, { max: 2, log: createLogger("silent") });
const flags = await createFeatureFlags({
  db,
  databaseUrl,
  log: createLogger("silent"),
  definitionsDir: FIXTURE_DEFINITIONS,
  groupsFile: FIXTURE_GROUPS,
  strict: true,
});

if (mode === "actors") {
  const enabled: string[] = [];
  for (const a of ACTORS) if (await flags.isEnabled(flag, a)) enabled.push(a);
  process.stdout.write(`${JSON.stringify(enabled)}\n`);
} else {
  let open = true;
  process.stdin.on("end", () => (open = false));
  process.stdin.resume();
  let last: boolean | null = null;
  while (open) {
    const enabled = await flags.isEnabled(flag, actor);
    if (enabled !== last) {
      last = enabled;
      process.stdout.write(`${JSON.stringify({ enabled, at: Date.now() })}\n`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}
await flags.close();
await db.end();
